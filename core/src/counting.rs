//! What per-camera analytics emit: line crossings, movement completions, interval counts and
//! zone states.

use crate::ids::CameraId;
use crate::time::Timestamp;
use crate::vehicle::{TrackId, VehicleClass};
use serde::{Deserialize, Serialize};

/// Which way a directed line was crossed: forward is from the left of `from -> to` to its right.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CrossingDirection {
    Forward,
    Backward,
}

/// A tracked vehicle crossed a counting line.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Crossing {
    pub camera: CameraId,
    pub line: String,
    pub lane: Option<String>,
    pub track: TrackId,
    pub class: VehicleClass,
    pub at: Timestamp,
    pub direction: CrossingDirection,
    /// Road speed in km/h, when the camera has a `road_from_image` homography.
    pub speed_kmh: Option<f64>,
}

/// A tracked vehicle completed a turning movement (entry line, then exit line).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovementDone {
    pub camera: CameraId,
    pub movement: String,
    pub track: TrackId,
    pub class: VehicleClass,
    pub at: Timestamp,
}

/// What a count counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CounterKind {
    Line,
    Movement,
}

/// Vehicles of one class over one counter in one interval.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FlowCount {
    pub camera: CameraId,
    pub kind: CounterKind,
    /// The line or movement id.
    pub counter: String,
    pub lane: Option<String>,
    /// For lines: the direction counted.
    pub direction: Option<CrossingDirection>,
    pub class: VehicleClass,
    pub interval_start: Timestamp,
    pub interval_s: u64,
    pub count: u64,
    /// Passenger-car units: `count x` the class weight.
    pub pcu: f64,
}

/// A zone's occupancy and queue in one frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ZoneState {
    pub camera: CameraId,
    pub zone: String,
    pub at: Timestamp,
    /// Tracked vehicles whose ground point is inside.
    pub occupancy: u32,
    /// Those of them slower than the zone's queue speed.
    pub queue: u32,
}
