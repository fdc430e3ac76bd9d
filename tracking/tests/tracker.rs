#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! The tracker's behaviour on scripted detections: identities, empty frames, expiry by time,
//! ByteTrack's low-score rescue, confirmation (weakly scored vehicles too), the reported box,
//! parts of vehicles, and invalid input.

use roadsight_core::{Detection, Timestamp, TrackId, VehicleClass};
use roadsight_tracking::{Tracker, TrackerSettings};
use std::time::Duration;

const FRAME: Duration = Duration::from_millis(100); // 10 analysed frames per second

fn at(frame: u32) -> Timestamp {
    Timestamp::from_nanos(1_700_000_000_000_000_000).plus(FRAME * frame)
}

fn car(x: f32, y: f32, score: f32) -> Detection {
    Detection {
        class: VehicleClass::Car,
        score,
        bbox_image: [x, y, 60.0, 40.0],
    }
}

fn ids(tracks: &[roadsight_core::TrackedVehicle]) -> Vec<u64> {
    let mut ids: Vec<u64> = tracks.iter().map(|t| t.id.0).collect();
    ids.sort_unstable();
    ids
}

#[test]
fn two_vehicles_in_opposite_directions_keep_their_ids_and_velocities() {
    let mut tracker = Tracker::new(TrackerSettings::default());
    let mut last = Vec::new();
    for frame in 0..30 {
        let f = frame as f32;
        last = tracker.update(
            &[
                car(100.0 + 8.0 * f, 100.0, 0.9),
                car(600.0 - 8.0 * f, 300.0, 0.85),
            ],
            at(frame),
        );
        if frame >= 1 {
            assert_eq!(last.len(), 2, "frame {frame}");
            assert_eq!(ids(&last), vec![1, 2], "frame {frame}");
        }
    }
    let eastbound = last.iter().find(|t| t.id == TrackId(1)).unwrap();
    // 8 px per 100 ms = 80 px/s.
    assert!(
        (eastbound.velocity_px_per_s[0] - 80.0).abs() < 8.0,
        "{eastbound:?}"
    );
    let westbound = last.iter().find(|t| t.id == TrackId(2)).unwrap();
    assert!(
        (westbound.velocity_px_per_s[0] + 80.0).abs() < 8.0,
        "{westbound:?}"
    );
}

#[test]
fn a_track_survives_a_short_gap_and_expires_after_max_lost_by_time() {
    let settings = TrackerSettings {
        max_lost: Duration::from_millis(500),
        ..TrackerSettings::default()
    };
    let mut tracker = Tracker::new(settings);
    for frame in 0..5 {
        tracker.update(&[car(100.0 + 5.0 * frame as f32, 100.0, 0.9)], at(frame));
    }
    // Three empty frames (300 ms): lost, not removed (nor ended); then it is found again with
    // the same id.
    for frame in 5..8 {
        assert!(tracker.update(&[], at(frame)).is_empty());
        assert!(tracker.ended().is_empty(), "frame {frame}");
    }
    assert_eq!(tracker.live_tracks(), 1);
    let back = tracker.update(&[car(140.0, 100.0, 0.9)], at(8));
    assert_eq!(ids(&back), vec![1]);
    // Now silent for longer than max_lost: removed, and ended by exactly one update.
    let mut ended = Vec::new();
    for frame in 9..16 {
        tracker.update(&[], at(frame));
        ended.extend(tracker.ended().iter().map(|id| (frame, id.0)));
    }
    // Last matched at frame 8; more than 500 ms later is frame 14.
    assert_eq!(ended, vec![(14, 1)]);
    assert_eq!(tracker.live_tracks(), 0);
    assert_eq!(tracker.counters().tracks_removed, 1);
    tracker.update(&[car(140.0, 100.0, 0.9)], at(16));
    let new = tracker.update(&[car(145.0, 100.0, 0.9)], at(17));
    assert_eq!(ids(&new), vec![2]);
}

#[test]
fn expiry_follows_time_not_frame_count() {
    // The same 3 empty frames: 0.3 s at 10 fps keeps the track, 3 s at 1 fps does not.
    for (gap, survives) in [
        (Duration::from_millis(100), true),
        (Duration::from_secs(1), false),
    ] {
        let mut tracker = Tracker::new(TrackerSettings::default());
        let mut now = at(0);
        for _ in 0..3 {
            tracker.update(&[car(100.0, 100.0, 0.9)], now);
            now = now.plus(gap);
        }
        for _ in 0..3 {
            tracker.update(&[], now);
            now = now.plus(gap);
        }
        assert_eq!(tracker.live_tracks() == 1, survives, "gap {gap:?}");
    }
}

#[test]
fn a_low_score_detection_keeps_an_occluded_vehicle_on_its_track() {
    let mut tracker = Tracker::new(TrackerSettings::default());
    for frame in 0..5 {
        tracker.update(&[car(100.0 + 5.0 * frame as f32, 100.0, 0.9)], at(frame));
    }
    // Partly hidden: the detector is unsure (0.2, under high_score), the box is where the track
    // predicts it.
    for frame in 5..8 {
        let tracks = tracker.update(&[car(100.0 + 5.0 * frame as f32, 100.0, 0.2)], at(frame));
        assert_eq!(ids(&tracks), vec![1], "frame {frame}");
    }
    // A low-score box (under high_score) alone never starts a track.
    let mut fresh = Tracker::new(TrackerSettings::default());
    for frame in 0..5 {
        assert!(fresh
            .update(&[car(300.0, 300.0, 0.25)], at(frame))
            .is_empty());
    }
    assert_eq!(fresh.counters().tracks_started, 0);
}

#[test]
fn a_single_spurious_detection_never_becomes_a_confirmed_track() {
    // Confirmation after two matches, as ByteTrack does (the default confirms at once).
    let mut tracker = Tracker::new(TrackerSettings {
        confirm_hits: 2,
        ..TrackerSettings::default()
    });
    assert!(tracker.update(&[car(100.0, 100.0, 0.9)], at(0)).is_empty());
    assert!(tracker.update(&[], at(1)).is_empty());
    assert_eq!(
        tracker.live_tracks(),
        0,
        "an unconfirmed track is dropped at once"
    );
    assert_eq!(tracker.counters().tracks_confirmed, 0);
}

#[test]
fn with_the_default_one_hit_a_new_track_is_confirmed_on_its_first_detection() {
    let mut tracker = Tracker::new(TrackerSettings::default());
    assert_eq!(TrackerSettings::default().confirm_hits, 1);
    assert_eq!(
        ids(&tracker.update(&[car(100.0, 100.0, 0.9)], at(0))),
        vec![1]
    );
    assert_eq!(tracker.counters().tracks_confirmed, 1);
    // A low-score box (under `high_score`) starts nothing.
    assert!(tracker.update(&[car(400.0, 400.0, 0.25)], at(1)).is_empty());
    assert_eq!(tracker.counters().tracks_started, 1);
}

#[test]
fn a_weakly_scored_vehicle_is_confirmed_on_its_second_detection_in_a_row() {
    let settings = TrackerSettings {
        tentative_track_score: 0.3,
        ..TrackerSettings::default()
    };
    // By default such a vehicle starts no track at all.
    let mut off = Tracker::new(TrackerSettings::default());
    for frame in 0..3 {
        assert!(off
            .update(&[car(100.0 + 4.0 * frame as f32, 100.0, 0.35)], at(frame))
            .is_empty());
    }
    assert_eq!(off.counters().tracks_started, 0);
    let mut tracker = Tracker::new(settings);
    // 0.35 lies between `tentative_track_score` (0.3) and `new_track_score` (0.4).
    assert!(tracker.update(&[car(100.0, 100.0, 0.35)], at(0)).is_empty());
    assert_eq!(tracker.counters().tracks_started, 1);
    assert_eq!(tracker.counters().tracks_confirmed, 0);
    let second = tracker.update(&[car(104.0, 100.0, 0.35)], at(1));
    assert_eq!(ids(&second), vec![1]);
    // Reported from then on, also through a confident box.
    assert_eq!(
        ids(&tracker.update(&[car(108.0, 100.0, 0.8)], at(2))),
        vec![1]
    );
    // A weak box seen once is dropped when the next frame misses it, unreported.
    assert!(tracker.update(&[car(500.0, 400.0, 0.35)], at(3)).is_empty());
    tracker.update(&[car(112.0, 100.0, 0.8)], at(4));
    assert_eq!(tracker.counters().tracks_started, 2);
    assert_eq!(tracker.counters().tracks_confirmed, 1);
    assert_eq!(tracker.live_tracks(), 1);
}

#[test]
fn a_track_reports_the_box_of_the_detection_it_matched() {
    let mut tracker = Tracker::new(TrackerSettings::default());
    // A car that accelerates and grows as it nears the camera: the filter lags behind such a
    // box, the report does not.
    for frame in 0..12u32 {
        let f = frame as f32;
        let detection = Detection {
            class: VehicleClass::Car,
            score: 0.9,
            bbox_image: [
                100.0 + 2.0 * f * f,
                200.0 + 3.0 * f,
                60.0 + 4.0 * f,
                40.0 + 3.0 * f,
            ],
        };
        let tracks = tracker.update(std::slice::from_ref(&detection), at(frame));
        assert_eq!(tracks.len(), 1, "frame {frame}");
        assert_eq!(tracks[0].id, TrackId(1));
        assert_eq!(tracks[0].bbox_image, detection.bbox_image, "frame {frame}");
    }
}

#[test]
fn a_part_of_a_vehicle_detected_on_its_own_is_not_reported() {
    let detection = |bbox: [f32; 4], class: VehicleClass| Detection {
        class,
        score: 0.8,
        bbox_image: bbox,
    };
    // A car 200x120; a car-classed box around its right-hand third (a part the detector
    // found); a motorbike in front of it, inside its box (another class: a vehicle).
    let whole = |dx: f32| detection([200.0 + dx, 260.0, 200.0, 120.0], VehicleClass::Car);
    let part = |dx: f32| detection([330.0 + dx, 270.0, 60.0, 100.0], VehicleClass::Car);
    let motorbike = |dx: f32| detection([210.0 + dx, 318.0, 40.0, 60.0], VehicleClass::Motorcycle);
    let mut tracker = Tracker::new(TrackerSettings::default());
    for frame in 0..5u32 {
        let dx = 5.0 * frame as f32;
        let tracks = tracker.update(&[whole(dx), part(dx), motorbike(dx)], at(frame));
        assert_eq!(ids(&tracks), vec![1, 3], "frame {frame}");
    }
    // The part's track lives on unreported: when the whole vehicle's box is missing, the part
    // is all there is of it, and it is reported under its own identity.
    let alone = tracker.update(&[part(25.0)], at(5));
    assert_eq!(ids(&alone), vec![2]);
    assert_eq!(tracker.counters().tracks_started, 3);
    // Two cars side by side, one just partly over the other's box: both are reported.
    let mut tracker = Tracker::new(TrackerSettings::default());
    let beside = detection([350.0, 300.0, 100.0, 80.0], VehicleClass::Car);
    assert_eq!(
        ids(&tracker.update(&[whole(0.0), beside], at(0))),
        vec![1, 2]
    );
}

#[test]
fn crossing_vehicles_keep_their_identities_through_the_overlap() {
    let mut tracker = Tracker::new(TrackerSettings::default());
    let mut history: Vec<(u32, u64, f32)> = Vec::new();
    for frame in 0..40 {
        let f = frame as f32;
        // A moves right, B moves left on a slightly lower line; they overlap around frame 20.
        let a = car(100.0 + 10.0 * f, 200.0, 0.9);
        let b = car(500.0 - 10.0 * f, 215.0, 0.8);
        for track in tracker.update(&[a, b], at(frame)) {
            history.push((frame, track.id.0, track.bbox_image[0]));
        }
    }
    // Track 1 always moves right, track 2 always moves left.
    for id in [1u64, 2] {
        let xs: Vec<f32> = history
            .iter()
            .filter(|(_, i, _)| *i == id)
            .map(|(_, _, x)| *x)
            .collect();
        assert!(xs.len() >= 35, "track {id} seen {} times", xs.len());
        let rising = xs.windows(2).all(|w| w[1] > w[0]);
        let falling = xs.windows(2).all(|w| w[1] < w[0]);
        assert!(if id == 1 { rising } else { falling }, "track {id}: {xs:?}");
    }
    assert_eq!(tracker.counters().tracks_started, 2, "no identity was lost");
}

#[test]
fn invalid_detections_are_dropped_and_counted() {
    let mut tracker = Tracker::new(TrackerSettings::default());
    let bad = [
        Detection {
            class: VehicleClass::Car,
            score: 0.9,
            bbox_image: [f32::NAN, 0.0, 10.0, 10.0],
        },
        Detection {
            class: VehicleClass::Bus,
            score: 0.9,
            bbox_image: [0.0, 0.0, -5.0, 10.0],
        },
        Detection {
            class: VehicleClass::Truck,
            score: f32::INFINITY,
            bbox_image: [0.0, 0.0, 5.0, 10.0],
        },
        car(50.0, 50.0, 0.9),
    ];
    tracker.update(&bad, at(0));
    let counters = tracker.counters();
    assert_eq!(counters.detections_in, 4);
    assert_eq!(counters.detections_invalid, 3);
    assert_eq!(counters.tracks_started, 1);
}

#[test]
fn the_track_class_is_the_score_weighted_majority() {
    let mut tracker = Tracker::new(TrackerSettings::default());
    let mut last = Vec::new();
    for frame in 0..6 {
        let mut detection = car(100.0, 100.0, 0.9);
        if frame == 2 {
            detection.class = VehicleClass::Truck;
        }
        last = tracker.update(&[detection], at(frame));
    }
    assert_eq!(last[0].class, VehicleClass::Car);
}

#[test]
fn time_going_backwards_is_counted_and_does_not_break_tracking() {
    let mut tracker = Tracker::new(TrackerSettings::default());
    tracker.update(&[car(100.0, 100.0, 0.9)], at(5));
    tracker.update(&[car(102.0, 100.0, 0.9)], at(6));
    let tracks = tracker.update(&[car(104.0, 100.0, 0.9)], at(4));
    assert_eq!(tracker.counters().time_went_back, 1);
    assert_eq!(ids(&tracks), vec![1]);
}

#[test]
fn the_config_defaults_are_the_tracker_defaults() {
    assert_eq!(
        TrackerSettings::from(&roadsight_core::TrackerConfig::default()),
        TrackerSettings::default()
    );
}
