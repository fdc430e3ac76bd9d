//! Vehicles as the detector reports them.

use serde::{Deserialize, Serialize};

/// The vehicle types roadsight counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum VehicleClass {
    Bicycle,
    Car,
    Motorcycle,
    Bus,
    Truck,
}

impl VehicleClass {
    pub const ALL: [VehicleClass; 5] = [
        VehicleClass::Bicycle,
        VehicleClass::Car,
        VehicleClass::Motorcycle,
        VehicleClass::Bus,
        VehicleClass::Truck,
    ];

    /// The vehicle type of a COCO class index, if it is one.
    pub fn from_coco(index: usize) -> Option<Self> {
        match index {
            1 => Some(Self::Bicycle),
            2 => Some(Self::Car),
            3 => Some(Self::Motorcycle),
            5 => Some(Self::Bus),
            7 => Some(Self::Truck),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Self::Bicycle => "bicycle",
            Self::Car => "car",
            Self::Motorcycle => "motorcycle",
            Self::Bus => "bus",
            Self::Truck => "truck",
        }
    }
}

/// One detected vehicle, in image pixels: `bbox = [x, y, w, h]`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    pub class: VehicleClass,
    pub score: f32,
    #[serde(rename = "bbox")]
    pub bbox_image: [f32; 4],
}

/// A track's id, unique per camera for the life of the tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TrackId(pub u64);

/// Where a track is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackState {
    /// Seen, not yet confirmed by enough consecutive matches.
    Tentative,
    /// Matched in this frame.
    Confirmed,
    /// Not matched recently; kept (predicted) until it expires by time.
    Lost,
}

/// One tracked vehicle in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrackedVehicle {
    pub id: TrackId,
    /// The box `[x, y, w, h]` in image pixels of the detection matched in this frame.
    #[serde(rename = "bbox")]
    pub bbox_image: [f32; 4],
    /// The tracker's filtered box `[x, y, w, h]`: its estimate from all the track's matches,
    /// steadier from frame to frame than `bbox_image` and slow to narrow when the detection
    /// suddenly does. The plate stage crops it (see `roadsight_pipeline::plate_stage`).
    pub bbox_filtered: [f32; 4],
    /// Score-weighted majority of the classes it was detected as.
    pub class: VehicleClass,
    /// The score of the detection matched in this frame.
    pub score: f32,
    /// Velocity of the box centre, image pixels per second.
    pub velocity_px_per_s: [f32; 2],
    pub state: TrackState,
}
