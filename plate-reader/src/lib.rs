//! # roadsight-plate-reader
//!
//! Reads licence plates, Vietnamese first: locate, rectify, recognise, interpret, vote.
//!
//! - [`locate`]: the HyperLPR3 plate detector's output decoded into plates with four corners and
//!   a one-row / two-row class (pure).
//! - [`geometry`] and [`line`]: a perspective warp from the four corners into the recogniser's
//!   text line; two-row plates are cut into rows laid side by side (pure).
//! - [`ctc`]: CTC decoding (prefix beam search) restricted to the plate alphabet, with per-character
//!   confidence (pure).
//! - [`grammar`]: the Vietnamese civil plate grammar with position-guided, confusion-aware
//!   correction, and a generic fallback that never forces a foreign plate into the
//!   Vietnamese form (pure).
//! - [`fuse`]: a tracked plate's pictures from several frames rectified to one size, aligned
//!   and averaged into one sharper picture, read as [`Region::Rectified`] (pure).
//! - [`vote`]: per-track voting over many reads, with the best evidence kept (pure; time is
//!   passed in).
//! - [`split`]: which development images are held out from the recogniser's training.
//! - [`reader`]: [`PlateReader`], the detector and recogniser sessions (ONNX Runtime, checked
//!   against the model manifest and warmed up when opened) around the stages above. A read
//!   the first recogniser is unsure of (not a confident, grammar-valid Vietnamese plate of a
//!   shape that allows it, [`grammar::vietnamese_in_shape`]) is
//!   read again by a second, general recogniser (PP-OCRv6 small by default), the better read is
//!   kept, and its characters the other does not confirm lose confidence
//!   ([`reader::is_sure`], [`reader::prefers_second`], [`reader::discount_unconfirmed`]). A
//!   scene (a photo) whose first look leaves a plate unsure is read again at other scales,
//!   and each plate keeps the text its views agree on ([`reader::agree_across_views`]).
//!
//! ```text
//! image ─ PlateDetector ─ corners, rows ─ compose_line ─ Recogniser ─ CTC ─ interpret ─ PlateText
//!                                   unsure? └ compose_line ─ second Recogniser ─ CTC ─ interpret ┘
//!                                                                  PlateText ─ PlateVoter (per track)
//! ```

pub mod ctc;
pub mod fuse;
pub mod geometry;
pub mod grammar;
pub mod line;
pub mod locate;
pub mod reader;
pub mod split;
pub mod vote;

pub use geometry::{Quad, RgbView};
pub use grammar::{interpret, normalise, Grammar, PlateText};
pub use reader::{
    PlateDetector, PlateError, PlateRead, PlateReader, ReaderOptions, ReaderTimes, Recogniser,
    Region, DEFAULT_CLOSE_PLATE_DETECTOR, DEFAULT_PLATE_DETECTOR, DEFAULT_RECOGNISER,
    DEFAULT_SECOND_RECOGNISER,
};
pub use vote::{consensus, PlateVoter, TrackRead, VoteConfig, VotedPlate};
