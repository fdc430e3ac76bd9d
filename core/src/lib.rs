//! # roadsight-core
//!
//! The vocabulary every roadsight stage shares, and nothing else: no I/O, no GStreamer, no ONNX
//! Runtime.
//!
//! - [`time`]: [`Timestamp`] (capture time, nanoseconds since the Unix epoch, UTC) and the
//!   [`Clock`] trait. Stages never read the wall clock; whoever builds them passes a clock in.
//! - [`ids`]: typed identifiers ([`CameraId`]).
//! - [`health`]: the camera-health record ([`CameraHealth`]) that ingest emits.
//! - [`frame`]: the analysed [`Frame`] and its tensor picture ([`TensorImage`]): detector input
//!   geometry ([`TensorSpec`], [`Letterbox`]) and pixels in a recycled [`PlaneBuffer`]
//!   ([`buffer_pool`]).
//! - [`geometry`]: box arithmetic (corners, intersection over union).
//! - [`vehicle`]: [`VehicleClass`], the detector's [`Detection`] and the tracker's
//!   [`TrackedVehicle`] (image pixels).
//! - [`counting`]: analytics records: [`counting::Crossing`], [`counting::FlowCount`],
//!   [`counting::ZoneState`].
//! - [`intersection`]: the intersection model (movements, phases, timing limits) and its
//!   validation; [`signal`]: timing plans and the basis they were made on.
//! - [`event`]: the event stream: [`Event`], one tagged enum over the records above plus a
//!   vehicle's voted plate ([`TrackPlate`]), a vehicle passing with no plate voted
//!   ([`VehiclePass`]) and timing plans, versioned on the wire
//!   ([`EventEnvelope`]), with stable ids for de-duplication.
//! - [`appearance`]: a vehicle's look ([`Appearance`], a colour histogram), by which route
//!   tracing joins a pass no read found the plate of to its vehicle's route.
//! - [`config`]: the city configuration (one TOML file), parsed with unknown fields denied and
//!   validated all at once, so that every problem is reported with its path
//!   (`cameras[2].uri: ...`).

pub mod appearance;
pub mod buffer_pool;
pub mod config;
pub mod counting;
pub mod event;
pub mod frame;
pub mod geometry;
pub mod health;
pub mod ids;
pub mod intersection;
pub mod plate_match;
pub mod signal;
pub mod time;
pub mod vehicle;

pub use appearance::{Appearance, AppearanceSum};
pub use buffer_pool::{BufferPool, PlaneBuffer};
pub use config::{
    ApiConfig, ApiUserConfig, BrokerConfig, CameraConfig, CameraLinkConfig, CityConfig,
    ConfigError, ConfigProblem, CorridorConfig, CountDirection, DemandSourceConfig, DetectorConfig,
    IntersectionConfig, LineConfig, MovementConfig, NtcipControllerConfig, PcuWeights,
    PlatesConfig, RetentionConfig, Role, RoutesConfig, SignalsConfig, SourceMode, StoreConfig,
    TrackerConfig, ZoneConfig,
};
pub use event::{
    content_address, Event, EventEnvelope, TrackPlate, VehiclePass, EVENT_SCHEMA_VERSION,
};
pub use frame::{
    ChannelOrder, Frame, Letterbox, LetterboxPlacement, SourcePicture, TensorImage, TensorSpec,
};
pub use health::{CameraHealth, HealthState};
pub use ids::CameraId;
pub use time::{Clock, ManualClock, SystemClock, Timestamp};
pub use vehicle::{Detection, TrackId, TrackState, TrackedVehicle, VehicleClass};
