//! # roadsight-models
//!
//! Everything about the neural models, apart from cameras and tracking.
//!
//! - [`manifest`]: `models/manifest.toml`, the one list of models with file, sha256, input spec,
//!   decoder, licence and upstream source; [`Manifest::verified_file`] refuses a missing or
//!   altered file with the expected and actual digest.

pub mod manifest;

pub use manifest::{
    Colour, DecoderKind, Fetch, InputSpec, Layout, LetterboxKind, Manifest, ManifestError,
    ModelEntry,
};
