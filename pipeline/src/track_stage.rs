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

#[cfg(test)]
mod tests {
    use super::*;
    use roadsight_core::{Detection, VehicleClass};
    use roadsight_tracking::TrackerSettings;
    use std::time::Duration;

    fn frame(camera: &str, seq: u64, boxes: &[[f32; 4]]) -> DetectedFrame {
        DetectedFrame {
            camera: CameraId::new(camera),
            seq,
            captured_at: Timestamp::from_nanos(0).plus(Duration::from_millis(100 * seq)),
            detections: boxes
                .iter()
                .map(|&bbox_image| Detection {
                    class: VehicleClass::Car,
                    score: 0.9,
                    bbox_image,
                })
                .collect(),
            source: None,
            latency: Duration::ZERO,
            error: None,
        }
    }

    /// A track missing from a few frames is not ended; one gone for longer than `max_lost` is
    /// ended once, in its own camera's update only.
    #[test]
    fn a_track_is_ended_once_when_the_tracker_removes_it() {
        let mut trackers = CameraTrackers::new(TrackerSettings {
            max_lost: Duration::from_millis(500),
            ..TrackerSettings::default()
        });
        let car = [100.0, 100.0, 60.0, 40.0];
        let mut ended = Vec::new();
        for seq in 0..20 {
            // Seen in frames 0-4 and 7, missing in 5-6, then gone.
            let boxes: &[[f32; 4]] = if seq < 5 || seq == 7 { &[car] } else { &[] };
            let update = trackers.step(&frame("a", seq, boxes));
            let other = trackers.step(&frame("b", seq, &[car]));
            assert!(other.ended.is_empty(), "camera b, frame {seq}");
            ended.extend(update.ended.iter().map(|id| (seq, id.0)));
        }
        // Last seen at frame 7 (700 ms); more than 500 ms later is frame 13.
        assert_eq!(ended, vec![(13, 1)]);
    }
}
