//! ByteTrack-class multi-object tracker for one camera.
//!
//! Per update (detections of one frame, and its capture time):
//! 1. Invalid detections (NaN, infinite, zero or negative size) are dropped and counted.
//! 2. Every live track is predicted to the frame's time.
//! 3. High-score detections are matched to confirmed and lost tracks (IoU fused with score).
//! 4. Low-score detections are matched to the confirmed tracks still unmatched; this is
//!    ByteTrack's idea: an occluded vehicle's weak box keeps its track alive.
//! 5. Remaining high-score detections are matched to tentative tracks; a tentative track
//!    matched its required number of times in a row is confirmed, an unmatched one is removed.
//! 6. Unmatched confirmed tracks become lost; lost tracks older than `max_lost` are removed.
//! 7. Remaining detections at or above `new_track_score` start tracks confirmed after
//!    `confirm_hits` matches (1: at once); those from `tentative_track_score` up to
//!    `new_track_score` start tracks confirmed after `tentative_confirm_hits`.
//!
//! It reports the confirmed tracks matched in the frame, each with the box of the detection it
//! matched (the filter only predicts where to look), except a track whose box lies inside a
//! larger track's box of its class: a wheel, a window or a half of that vehicle, detected on
//! its own (see [`PART_INSIDE_SHARE`]). Such a track lives on unreported, so its detections
//! start no new tracks, and is reported again once nothing holds it.
//!
//! It must be stepped on every analysed frame, empty ones included, so lost tracks expire.

use crate::assignment::assign_edges;
use crate::kalman::BoxFilter;
use roadsight_core::geometry::{corners, iou_corners};
use roadsight_core::{Detection, Timestamp, TrackId, TrackState, TrackedVehicle, VehicleClass};
use std::time::Duration;

/// A track is taken as part of another vehicle when at least this share of its box lies inside
/// the box of another reported track of the same class ...
pub const PART_INSIDE_SHARE: f32 = 0.8;
/// ... whose box is at least this many times larger. A nearer vehicle stands lower in the
/// picture than a farther one, so two vehicles of one class seldom nest; a detector's box
/// around a wheel, a window or a half of a vehicle does. A motorbike in front of a bus is of
/// another class and is reported.
pub const PART_AREA_RATIO: f32 = 2.0;

/// Thresholds and timings of the tracker.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackerSettings {
    /// Detections at or above this score take part in the first association.
    pub high_score: f32,
    /// Detections between this and `high_score` take part in the second association only.
    pub low_score: f32,
    /// A detection left unmatched starts a track at or above this score, confirmed after
    /// `confirm_hits` matches.
    pub new_track_score: f32,
    /// A detection left unmatched from this score up to `new_track_score` starts a track
    /// confirmed after `tentative_confirm_hits` matches in a row.
    pub tentative_track_score: f32,
    /// Minimum IoU for the first association (high-score boxes).
    pub first_match_iou: f32,
    /// Minimum IoU for the second association (low-score boxes).
    pub second_match_iou: f32,
    /// Minimum IoU to match a tentative track.
    pub tentative_match_iou: f32,
    /// Matches in a row that confirm a new track (1 confirms at once).
    pub confirm_hits: u32,
    /// Matches in a row that confirm a track started below `new_track_score`.
    pub tentative_confirm_hits: u32,
    /// A lost track is removed this long after it was last matched.
    pub max_lost: Duration,
    /// The frame interval the motion noise is tuned for (ByteTrack's 30 fps).
    pub nominal_interval: Duration,
}

impl Default for TrackerSettings {
    /// ByteTrack's values, except:
    /// - the score thresholds: ByteTrack's 0.5 / 0.6 suit YOLOX-x; YOLOX-nano scores visible
    ///   vehicles from about 0.3, so 0.3 / 0.4 here (on generated footage: MOTA 0.42 -> 0.49
    ///   with false positives 4 -> 7 of 655 boxes);
    /// - the association IoU: from 0.1 (first) and 0.3 (second) instead of 0.2 and 0.5. At
    ///   10 analysed frames per second a vehicle moves further between frames than at
    ///   ByteTrack's 30, so a track's prediction overlaps its next box less. Chosen on
    ///   `eval tracking` footage of seed 5 (MOTA 0.682 -> 0.694, IDF1 0.771 -> 0.791, ID
    ///   switches 54 -> 31) and checked on seed 1 (MOTA 0.695 -> 0.706, IDF1 0.779 -> 0.803,
    ///   ID switches 49 -> 26);
    /// - confirmation on the first detection (`confirm_hits` 1, ByteTrack waits for 2): a
    ///   vehicle seen briefly at 10 analysed fps is otherwise never counted (count error 0.102
    ///   -> 0.041 and MOTA 0.694 -> 0.711 on seed 5; 0.057 -> 0.023 and 0.706 -> 0.724 on
    ///   seed 1);
    /// - `tentative_track_score` is off (equal to `new_track_score`, so unmatched detections
    ///   under 0.4 are dropped, as in ByteTrack). At 0.3, tracks confirmed on their second match
    ///   in a row, MOTA rises 0.792 -> 0.801 on seed 5 and 0.800 -> 0.808 on seed 7 (YOLOX-nano
    ///   scores many far or half-hidden vehicles 0.3-0.4 for their whole way), but the corridor
    ///   reads one route fewer on seeds 2, 3 and 4 of 5.
    fn default() -> Self {
        Self {
            high_score: 0.3,
            low_score: 0.1,
            new_track_score: 0.4,
            tentative_track_score: 0.4,
            first_match_iou: 0.1,
            second_match_iou: 0.3,
            tentative_match_iou: 0.3,
            confirm_hits: 1,
            tentative_confirm_hits: 2,
            max_lost: Duration::from_secs(1),
            nominal_interval: Duration::from_nanos(33_333_333),
        }
    }
}

impl From<&roadsight_core::TrackerConfig> for TrackerSettings {
    fn from(config: &roadsight_core::TrackerConfig) -> Self {
        Self {
            high_score: config.high_score,
            low_score: config.low_score,
            new_track_score: config.new_track_score,
            tentative_track_score: config.tentative_track_score,
            confirm_hits: config.confirm_hits,
            tentative_confirm_hits: config.tentative_confirm_hits,
            max_lost: Duration::from_secs_f64(config.max_lost_s),
            ..Self::default()
        }
    }
}

/// Counters since the tracker started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct TrackerCounters {
    pub updates: u64,
    pub detections_in: u64,
    /// Detections with NaN, infinite, zero or negative geometry or score; never tracked.
    pub detections_invalid: u64,
    pub tracks_started: u64,
    pub tracks_confirmed: u64,
    pub tracks_removed: u64,
    /// Updates whose time was earlier than the previous update's (treated as no time passing).
    pub time_went_back: u64,
}

#[derive(Debug, Clone)]
struct Track {
    id: TrackId,
    filter: BoxFilter,
    state: TrackState,
    hits: u32,
    last_matched: Timestamp,
    score: f32,
    class_votes: [f32; 5],
    /// Matches in a row that confirm this track while it is tentative.
    hits_to_confirm: u32,
    /// The box of the detection last matched: what the track reports.
    detected_box: [f32; 4],
}

impl Track {
    fn class(&self) -> VehicleClass {
        let (index, _) = self
            .class_votes
            .iter()
            .enumerate()
            .fold(
                (1, f32::MIN),
                |best, (i, v)| if *v > best.1 { (i, *v) } else { best },
            );
        VehicleClass::ALL[index]
    }

    fn vote(&mut self, detection: &Detection) {
        if let Some(index) = VehicleClass::ALL.iter().position(|c| *c == detection.class) {
            self.class_votes[index] += detection.score;
        }
    }

    fn matched(&mut self, detection: &Detection, at: Timestamp) {
        self.filter.update(detection.bbox_image);
        self.hits += 1;
        self.last_matched = at;
        self.score = detection.score;
        self.detected_box = detection.bbox_image;
        self.vote(detection);
    }
}

/// The tracker of one camera.
#[derive(Debug, Clone)]
pub struct Tracker {
    settings: TrackerSettings,
    tracks: Vec<Track>,
    next_id: u64,
    last_update: Option<Timestamp>,
    counters: TrackerCounters,
    /// Tracks the last update removed that had been confirmed (and so reported).
    ended: Vec<TrackId>,
}

/// Feasible `(track, detection, cost)` pairs with `cost = 1 - IoU (x score)` below `limit`,
/// found by sweeping detections sorted by left edge, so only overlapping pairs are tested.
fn overlap_edges(
    tracks: &[[f32; 4]],
    detections: &[([f32; 4], f32)],
    fuse_score: bool,
    limit: f32,
) -> Vec<(usize, usize, f64)> {
    let mut order: Vec<usize> = (0..detections.len()).collect();
    order.sort_by(|&a, &b| detections[a].0[0].total_cmp(&detections[b].0[0]));
    let widest = detections
        .iter()
        .map(|(c, _)| c[2] - c[0])
        .fold(0.0f32, f32::max);
    let mut edges = Vec::new();
    for (row, track) in tracks.iter().enumerate() {
        let start = order.partition_point(|&d| detections[d].0[0] < track[0] - widest);
        for &column in &order[start..] {
            let (detection, score) = detections[column];
            if detection[0] >= track[2] {
                break;
            }
            let overlap = iou_corners(*track, detection);
            if overlap <= 0.0 {
                continue;
            }
            let cost = 1.0 - if fuse_score { overlap * score } else { overlap };
            if cost < limit {
                edges.push((row, column, f64::from(cost)));
            }
        }
    }
    edges
}

fn valid(detection: &Detection) -> bool {
    let [x, y, w, h] = detection.bbox_image;
    [x, y, w, h, detection.score].iter().all(|v| v.is_finite()) && w > 0.0 && h > 0.0
}

impl Tracker {
    pub fn new(settings: TrackerSettings) -> Self {
        Self {
            settings,
            tracks: Vec::new(),
            next_id: 1,
            last_update: None,
            counters: TrackerCounters::default(),
            ended: Vec::new(),
        }
    }

    pub fn counters(&self) -> TrackerCounters {
        self.counters
    }

    /// Live tracks of every state (for inspection and tests).
    pub fn live_tracks(&self) -> usize {
        self.tracks.len()
    }

    /// The confirmed tracks the last [`Tracker::update`] removed: lost for longer than
    /// `max_lost`, so they will never be reported again. A confirmed track missing from one
    /// update's output is only lost for now; consumers that keep state per track (plate votes)
    /// end it when it appears here.
    pub fn ended(&self) -> &[TrackId] {
        &self.ended
    }

    /// Steps the tracker with one frame's detections captured at `at`; returns the confirmed
    /// tracks matched in this frame.
    pub fn update(&mut self, detections: &[Detection], at: Timestamp) -> Vec<TrackedVehicle> {
        let s = self.settings;
        self.ended.clear();
        self.counters.updates += 1;
        self.counters.detections_in += detections.len() as u64;
        let all = detections.len();
        let detections: Vec<&Detection> = detections.iter().filter(|d| valid(d)).collect();
        self.counters.detections_invalid += (all - detections.len()) as u64;
        let elapsed = match self.last_update {
            Some(previous) if at < previous => {
                self.counters.time_went_back += 1;
                Duration::ZERO
            }
            Some(previous) => at.duration_since(previous),
            None => Duration::ZERO,
        };
        self.last_update = Some(at.max(self.last_update.unwrap_or(at)));
        let steps = elapsed.as_secs_f64() / s.nominal_interval.as_secs_f64().max(1e-9);
        for track in &mut self.tracks {
            track.filter.predict(steps);
        }
        // Predicted corners, once per track: each stage below only looks at tracks no earlier
        // stage matched, so these stay valid throughout.
        let predicted: Vec<[f32; 4]> = self
            .tracks
            .iter()
            .map(|t| corners(t.filter.bbox()))
            .collect();
        let boxes_of_tracks = |indices: &[usize]| -> Vec<[f32; 4]> {
            indices.iter().map(|&t| predicted[t]).collect()
        };

        let high: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score >= s.high_score)
            .collect();
        let low: Vec<usize> = (0..detections.len())
            .filter(|&i| detections[i].score >= s.low_score && detections[i].score < s.high_score)
            .collect();
        let boxes_of = |indices: &[usize]| -> Vec<([f32; 4], f32)> {
            indices
                .iter()
                .map(|&i| (corners(detections[i].bbox_image), detections[i].score))
                .collect()
        };
        let mut matched_track = vec![false; self.tracks.len()];

        // 1. High-score detections with confirmed and lost tracks.
        let pool: Vec<usize> = (0..self.tracks.len())
            .filter(|&t| self.tracks[t].state != TrackState::Tentative)
            .collect();
        let mut high_used = vec![false; high.len()];
        {
            let track_boxes = boxes_of_tracks(&pool);
            let limit = 1.0 - s.first_match_iou;
            let edges = overlap_edges(&track_boxes, &boxes_of(&high), true, limit);
            for (row, column) in assign_edges(pool.len(), high.len(), &edges, f64::from(limit)) {
                let track = &mut self.tracks[pool[row]];
                track.matched(detections[high[column]], at);
                track.state = TrackState::Confirmed;
                matched_track[pool[row]] = true;
                high_used[column] = true;
            }
        }

        // 2. Low-score detections with confirmed tracks still unmatched.
        {
            let remaining: Vec<usize> = pool
                .iter()
                .copied()
                .filter(|&t| !matched_track[t] && self.tracks[t].state == TrackState::Confirmed)
                .collect();
            let track_boxes = boxes_of_tracks(&remaining);
            let limit = 1.0 - s.second_match_iou;
            let edges = overlap_edges(&track_boxes, &boxes_of(&low), false, limit);
            for (row, column) in assign_edges(remaining.len(), low.len(), &edges, f64::from(limit))
            {
                self.tracks[remaining[row]].matched(detections[low[column]], at);
                matched_track[remaining[row]] = true;
            }
        }

        // 3. Remaining high-score detections with tentative tracks.
        let free_high: Vec<usize> = (0..high.len()).filter(|&i| !high_used[i]).collect();
        {
            let tentative: Vec<usize> = (0..self.tracks.len())
                .filter(|&t| self.tracks[t].state == TrackState::Tentative)
                .collect();
            let track_boxes = boxes_of_tracks(&tentative);
            let candidates: Vec<usize> = free_high.iter().map(|&i| high[i]).collect();
            let limit = 1.0 - s.tentative_match_iou;
            let edges = overlap_edges(&track_boxes, &boxes_of(&candidates), true, limit);
            for (row, column) in
                assign_edges(tentative.len(), candidates.len(), &edges, f64::from(limit))
            {
                let track = &mut self.tracks[tentative[row]];
                track.matched(detections[candidates[column]], at);
                if track.hits >= track.hits_to_confirm {
                    track.state = TrackState::Confirmed;
                    self.counters.tracks_confirmed += 1;
                }
                matched_track[tentative[row]] = true;
                high_used[free_high[column]] = true;
            }
        }

        // 4. Unmatched tracks: tentative ones go, confirmed ones are lost, old lost ones go.
        let max_lost = s.max_lost;
        let mut kept = Vec::with_capacity(self.tracks.len());
        for (index, mut track) in std::mem::take(&mut self.tracks).into_iter().enumerate() {
            if !matched_track[index] {
                match track.state {
                    TrackState::Tentative => {
                        self.counters.tracks_removed += 1;
                        continue;
                    }
                    TrackState::Confirmed => track.state = TrackState::Lost,
                    TrackState::Lost => {}
                }
                if at.duration_since(track.last_matched) > max_lost {
                    self.counters.tracks_removed += 1;
                    self.ended.push(track.id);
                    continue;
                }
            }
            kept.push(track);
        }
        self.tracks = kept;

        // 5. New tracks from unmatched confident detections.
        for (i, &d) in high.iter().enumerate() {
            let detection = detections[d];
            if high_used[i] || detection.score < s.tentative_track_score {
                continue;
            }
            let hits_to_confirm = if detection.score >= s.new_track_score {
                s.confirm_hits
            } else {
                s.tentative_confirm_hits.max(s.confirm_hits)
            };
            let mut track = Track {
                id: TrackId(self.next_id),
                filter: BoxFilter::new(detection.bbox_image),
                state: TrackState::Tentative,
                hits: 1,
                last_matched: at,
                score: detection.score,
                class_votes: [0.0; 5],
                hits_to_confirm,
                detected_box: detection.bbox_image,
            };
            track.vote(detection);
            self.next_id += 1;
            self.counters.tracks_started += 1;
            if hits_to_confirm <= 1 {
                track.state = TrackState::Confirmed;
                self.counters.tracks_confirmed += 1;
            }
            self.tracks.push(track);
        }

        let per_second = 1.0 / s.nominal_interval.as_secs_f32().max(1e-9);
        let matched: Vec<TrackedVehicle> = self
            .tracks
            .iter()
            .filter(|t| t.state == TrackState::Confirmed && t.last_matched == at)
            .map(|t| {
                let [vx, vy] = t.filter.velocity_per_interval();
                TrackedVehicle {
                    id: t.id,
                    bbox_image: t.detected_box,
                    bbox_filtered: t.filter.bbox(),
                    class: t.class(),
                    score: t.score,
                    velocity_px_per_s: [vx * per_second, vy * per_second],
                    state: TrackState::Confirmed,
                }
            })
            .collect();
        without_parts_of_larger_vehicles(matched)
    }
}

fn area(bbox: [f32; 4]) -> f32 {
    bbox[2].max(0.0) * bbox[3].max(0.0)
}

/// `tracks` without those whose box lies inside a larger box of their class (see
/// [`PART_INSIDE_SHARE`]). Sweeps the tracks sorted by left edge: a box that holds
/// `PART_INSIDE_SHARE` of a part starts left of the part's left edge plus the rest of its
/// width, and no further left than the widest box allows, so only those are compared.
fn without_parts_of_larger_vehicles(mut tracks: Vec<TrackedVehicle>) -> Vec<TrackedVehicle> {
    let largest = tracks
        .iter()
        .map(|t| area(t.bbox_image))
        .fold(0.0f32, f32::max);
    // Most frames hold no box twice another's size: nothing to sort or compare.
    if !tracks
        .iter()
        .any(|t| PART_AREA_RATIO * area(t.bbox_image) <= largest)
    {
        return tracks;
    }
    let boxes: Vec<[f32; 4]> = tracks.iter().map(|t| corners(t.bbox_image)).collect();
    let mut order: Vec<usize> = (0..tracks.len()).collect();
    order.sort_by(|&a, &b| boxes[a][0].total_cmp(&boxes[b][0]));
    let widest = boxes.iter().map(|b| b[2] - b[0]).fold(0.0f32, f32::max);
    let is_part = |part: usize| {
        let [px0, py0, px1, py1] = boxes[part];
        let part_area = area(tracks[part].bbox_image);
        // No box is large enough to hold this one as a part.
        if part_area <= 0.0 || PART_AREA_RATIO * part_area > largest {
            return false;
        }
        let last_left = px0 + (1.0 - PART_INSIDE_SHARE) * (px1 - px0);
        let start = order.partition_point(|&w| boxes[w][0] < px0 - widest);
        order[start..]
            .iter()
            .take_while(|&&w| boxes[w][0] <= last_left)
            .any(|&whole| {
                if whole == part
                    || tracks[whole].class != tracks[part].class
                    || area(tracks[whole].bbox_image) < PART_AREA_RATIO * part_area
                {
                    return false;
                }
                let [wx0, wy0, wx1, wy1] = boxes[whole];
                let overlap_x = (px1.min(wx1) - px0.max(wx0)).max(0.0);
                let overlap_y = (py1.min(wy1) - py0.max(wy0)).max(0.0);
                overlap_x * overlap_y >= PART_INSIDE_SHARE * part_area
            })
    };
    let parts: Vec<bool> = (0..tracks.len()).map(is_part).collect();
    let mut part = parts.iter();
    tracks.retain(|_| !part.next().copied().unwrap_or(false));
    tracks
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sweep drops exactly the tracks a comparison of every pair would drop.
    #[test]
    fn the_part_sweep_agrees_with_comparing_every_pair() {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut random = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 11) as f32 / (1u64 << 53) as f32
        };
        let mut parts_seen = 0;
        for _ in 0..200 {
            let tracks: Vec<TrackedVehicle> = (0..1 + (random() * 30.0) as u64)
                .map(|id| {
                    let (w, h) = (10.0 + random() * 150.0, 10.0 + random() * 100.0);
                    let bbox = [random() * 300.0, random() * 200.0, w, h];
                    TrackedVehicle {
                        id: TrackId(id),
                        bbox_image: bbox,
                        bbox_filtered: bbox,
                        class: if random() < 0.8 {
                            VehicleClass::Car
                        } else {
                            VehicleClass::Truck
                        },
                        score: 0.9,
                        velocity_px_per_s: [0.0; 2],
                        state: TrackState::Confirmed,
                    }
                })
                .collect();
            let inside = |part: &TrackedVehicle, whole: &TrackedVehicle| {
                let [px, py, pw, ph] = part.bbox_image;
                let [wx, wy, ww, wh] = whole.bbox_image;
                let overlap_x = ((px + pw).min(wx + ww) - px.max(wx)).max(0.0);
                let overlap_y = ((py + ph).min(wy + wh) - py.max(wy)).max(0.0);
                part.id != whole.id
                    && part.class == whole.class
                    && ww * wh >= PART_AREA_RATIO * pw * ph
                    && overlap_x * overlap_y >= PART_INSIDE_SHARE * pw * ph
            };
            let expected: Vec<TrackId> = tracks
                .iter()
                .filter(|p| !tracks.iter().any(|w| inside(p, w)))
                .map(|t| t.id)
                .collect();
            parts_seen += tracks.len() - expected.len();
            let kept: Vec<TrackId> = without_parts_of_larger_vehicles(tracks)
                .iter()
                .map(|t| t.id)
                .collect();
            assert_eq!(kept, expected);
        }
        assert!(
            parts_seen > 20,
            "only {parts_seen} parts in the random scenes"
        );
    }
}
