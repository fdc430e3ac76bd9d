//! # roadsight-pipeline
//!
//! From camera streams to analysed frames.
//!
//! - [`ingest`]: one supervised GStreamer pipeline per camera ([`Ingest::start`]), with
//!   per-camera analytics rate, capture time, watchdog, reconnect with backoff, and typed health.
//! - [`convert`]: decoded I420/NV12 straight into the detector's letterboxed planar RGB/BGR
//!   picture in one pass ([`convert::letterbox_yuv`]); frames not analysed are never converted.
//! - [`queue`]: the bounded per-camera hand-off ([`FrameMux`]): live lanes drop their oldest frame,
//!   recorded lanes block; the consumer takes frames round-robin.
//! - [`buffer_pool`]: per-camera recycled tensor buffers; a frame's buffer goes back on drop.
//! - [`frame`]: the [`Frame`] record and the tensor geometry ([`TensorSpec`], [`Letterbox`]).
//! - [`reference`]: the decode-only pipeline that ingest benchmarks compare against.
//!
//! The seam to later stages is [`FrameMux::pop`]: whoever analyses frames pulls them from there.

pub mod buffer_pool;
pub mod convert;
pub mod frame;
pub mod ingest;
pub mod queue;
pub mod reference;

pub use frame::{ChannelOrder, Frame, Letterbox, LetterboxPlacement, TensorImage, TensorSpec};
pub use ingest::{
    AnalyticsRate, CameraSpec, CameraStats, FailureKind, Ingest, IngestError, IngestSettings,
    LiveSettings, SourceFailure,
};
pub use queue::{FrameMux, LaneStats, Popped, Pushed, QueuePolicy};
