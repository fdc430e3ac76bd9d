//! # roadsight-core
//!
//! The vocabulary every roadsight stage shares, and nothing else: no I/O, no GStreamer, no ONNX
//! Runtime.
//!
//! - [`time`]: [`Timestamp`] (capture time, nanoseconds since the Unix epoch, UTC) and the
//!   [`Clock`] trait. Stages never read the wall clock; whoever builds them passes a clock in.
//! - [`ids`]: typed identifiers ([`CameraId`]).
//! - [`health`]: the camera-health record ([`CameraHealth`]) that ingest emits.
//! - [`config`]: the city configuration (one TOML file), parsed with unknown fields denied and
//!   validated all at once, so that every problem is reported with its path
//!   (`cameras[2].uri: ...`).

pub mod config;
pub mod health;
pub mod ids;
pub mod time;

pub use config::{CameraConfig, CityConfig, ConfigError, ConfigProblem, SourceMode};
pub use health::{CameraHealth, HealthState};
pub use ids::CameraId;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
