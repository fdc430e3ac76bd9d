//! # roadsight-pipeline
//!
//! From camera streams to analysed frames.
//!
//! - [`ingest`]: one supervised GStreamer pipeline per camera ([`Ingest::start`]), with
//!   per-camera analytics rate, capture time, watchdog, reconnect with backoff, and typed health.
//! - [`convert`]: decoded I420/NV12 straight into the detector's letterboxed planar RGB/BGR
//!   picture in one pass ([`convert::letterbox_yuv`]); frames not analysed are never converted.
//! - [`detect_stage`]: frames of many cameras batched into shared inference runs on N workers
//!   ([`DetectStage`]), results split back per camera in order, with stage metrics.
//! - [`track_stage`]: one tracker per camera, stepped on every detected frame ([`CameraTrackers`]).
//! - [`plate_stage`]: plates read on confirmed tracks from the full-resolution picture (only the
//!   vehicle crop is converted) and voted per track ([`PlateStage`]).
//! - [`analytics`]: per-camera counting lines (with hysteresis), turning movements, interval
//!   counts by class with PCU, zone occupancy and queues, speed through a homography.
//! - [`queue`]: the bounded per-camera hand-off ([`FrameMux`]): live lanes drop their oldest frame,
//!   recorded lanes block; the consumer takes frames round-robin.
//! - Frames are `roadsight_core::Frame`s (re-exported here): letterboxed tensor pictures with
//!   camera, sequence number and capture time.
//! - [`reference`]: the decode-only pipeline that ingest benchmarks compare against.
//!
//! The seams: [`FrameMux::pop`] / [`FrameMux::pop_batch`] for frames, [`DetectStage::next`] for
//! detected frames.

pub mod analytics;
pub mod convert;
pub mod detect_stage;
pub mod ingest;
pub mod plate_stage;
pub mod queue;
pub mod reference;
pub mod track_stage;

pub use analytics::{
    counts_csv, counts_csv_rows, AnalyticsEvents, CameraAnalytics, COUNTS_CSV_HEADER,
};
pub use detect_stage::{DetectStage, DetectStageMetrics, DetectStageSettings, DetectedFrame, Next};
pub use ingest::{
    AnalyticsRate, CameraSpec, CameraStats, FailureKind, Ingest, IngestError, IngestSettings,
    LiveSettings, SourceFailure,
};
pub use plate_stage::{
    PlateEvent, PlateStage, PlateStageCounters, PlateStageSettings, VehiclePassEvent,
    VotedTrackPlate,
};
pub use queue::{FrameMux, LaneStats, Popped, PoppedBatch, Pushed, QueuePolicy};
pub use roadsight_core::{
    ChannelOrder, Frame, Letterbox, LetterboxPlacement, TensorImage, TensorSpec,
};
pub use track_stage::{CameraTrackers, TrackUpdate};
