//! # roadsight-models
//!
//! Everything about the neural models, apart from cameras and tracking.
//!
//! - [`manifest`]: `models/manifest.toml`, the one list of models with file, sha256, input spec,
//!   decoder, licence and upstream source; [`Manifest::verified_file`] refuses a missing or
//!   altered file with the expected and actual digest.
//! - [`runtime`]: the process's ONNX Runtime environment (loaded from the shared library that
//!   set-up fetched) and sessions with explicit thread settings; one session per worker, since
//!   `Session::run` takes `&mut self`.
//! - [`detect`]: detector pre- and post-processing as pure functions: letterbox, input fill,
//!   YOLOX / YOLOv8 / YOLOv5 decoders, class-agnostic NMS, COCO classes to vehicle types.
//! - [`detector`]: [`Detector`], a session plus its manifest entry, checked and warmed up when
//!   it opens; `detect` takes a batch of tensor pictures and returns vehicles in image pixels.

pub mod detect;
pub mod detector;
pub mod manifest;
pub mod runtime;

pub use detect::{Detection, Thresholds, VehicleClass};
pub use detector::{Detector, DetectorError, DetectorOptions, StageTimes};
pub use manifest::{
    ClassNames, Colour, DecoderKind, Fetch, HeadLayout, InputSpec, Layout, LetterboxKind, Manifest,
    ManifestError, ModelEntry,
};
pub use runtime::{RuntimeError, SessionOptions};
