//! Per-camera tracking: one [`Tracker`] per camera, stepped with every detected frame of that
//! camera in capture order (the detection stage guarantees the order), empty frames included.

use crate::detect_stage::DetectedFrame;
use roadsight_core::{CameraId, Timestamp, TrackId, TrackedVehicle};
use roadsight_tracking::{Tracker, TrackerCounters, TrackerSettings};
use std::collections::HashMap;

/// The tracks of one camera in one frame.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct TrackUpdate {
    pub camera: CameraId,
    pub seq: u64,
    pub captured_at: Timestamp,
    pub tracks: Vec<TrackedVehicle>,
    /// Confirmed tracks that ended with this frame (lost for longer than the tracker's
    /// `max_lost`): a track missing from `tracks` for a few frames is not among them.
    pub ended: Vec<TrackId>,
}

/// Trackers of all cameras.
#[derive(Debug)]
pub struct CameraTrackers {
    settings: TrackerSettings,
    trackers: HashMap<CameraId, Tracker>,
}

impl CameraTrackers {
    pub fn new(settings: TrackerSettings) -> Self {
        Self {
            settings,
            trackers: HashMap::new(),
        }
    }

    /// Steps the frame's camera tracker with the frame's detections.
    pub fn step(&mut self, frame: &DetectedFrame) -> TrackUpdate {
        let tracker = self
            .trackers
            .entry(frame.camera.clone())
            .or_insert_with(|| Tracker::new(self.settings));
        let tracks = tracker.update(&frame.detections, frame.captured_at);
        TrackUpdate {
            camera: frame.camera.clone(),
            seq: frame.seq,
            captured_at: frame.captured_at,
            tracks,
            ended: tracker.ended().to_vec(),
        }
    }

    /// Counters of one camera's tracker.
    pub fn counters(&self, camera: &CameraId) -> Option<TrackerCounters> {
        self.trackers.get(camera).map(Tracker::counters)
    }
}
