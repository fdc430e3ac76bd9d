//! Per-camera analytics on tracks: directed counting lines, turning movements, interval counts
//! by class with PCU, zone occupancy and queues, and road speed through a homography.
//!
//! Pure: each [`CameraAnalytics::step`] takes one [`TrackUpdate`] (tracks and capture time) and
//! returns what happened. A vehicle's position is the bottom-centre of its box (where it touches
//! the road). A line is crossed when that point moves from at least `hysteresis_px` on one side
//! to at least `hysteresis_px` on the other, within the segment, so jitter around the line never
//! counts twice. Counts are kept per interval (15 minutes by default) and emitted when time moves
//! past the interval's end, or by [`CameraAnalytics::flush`].

use crate::track_stage::TrackUpdate;
use roadsight_core::config::{CountDirection, ResolvedCamera};
use roadsight_core::counting::{
    CounterKind, Crossing, CrossingDirection, FlowCount, MovementDone, ZoneState,
};
use roadsight_core::{CameraId, PcuWeights, Timestamp, TrackId, VehicleClass};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// Tracks unseen for this long are forgotten.
const FORGET_AFTER: Duration = Duration::from_secs(30);
/// Weight of a new speed sample in the running estimate.
const SPEED_SMOOTHING: f64 = 0.3;

#[derive(Debug, Clone)]
struct Line {
    id: String,
    lane: Option<String>,
    from: (f64, f64),
    direction: (f64, f64),
    length: f64,
    count: CountDirection,
    hysteresis: f64,
}

impl Line {
    /// Signed distance (right of `from -> to` positive, image y down) and position along the
    /// segment (0 at `from`, 1 at `to`).
    fn locate(&self, point: (f64, f64)) -> (f64, f64) {
        let (vx, vy) = (point.0 - self.from.0, point.1 - self.from.1);
        let (dx, dy) = self.direction;
        let side = (dx * vy - dy * vx) / self.length;
        let along = (dx * vx + dy * vy) / (self.length * self.length);
        (side, along)
    }
}

#[derive(Debug, Clone)]
struct Zone {
    id: String,
    polygon: Vec<(f64, f64)>,
    queued_below: f64,
}

fn inside(polygon: &[(f64, f64)], point: (f64, f64)) -> bool {
    let mut result = false;
    let mut j = polygon.len().wrapping_sub(1);
    for i in 0..polygon.len() {
        let (xi, yi) = polygon[i];
        let (xj, yj) = polygon[j % polygon.len()];
        if (yi > point.1) != (yj > point.1) && point.0 < (xj - xi) * (point.1 - yi) / (yj - yi) + xi
        {
            result = !result;
        }
        j = i;
    }
    result
}

#[derive(Debug, Clone, Default)]
struct TrackMemo {
    /// Per line: -1 left, +1 right, 0 not yet decided.
    sides: Vec<i8>,
    /// The entry line crossed last, for movements.
    entered: Option<usize>,
    last_seen: Option<Timestamp>,
    last_road: Option<((f64, f64), Timestamp)>,
    speed_mps: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct CountKey {
    kind: CounterKind,
    counter: usize,
    direction: Option<CrossingDirection>,
    class: VehicleClass,
}

/// Everything one step produced.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AnalyticsEvents {
    pub crossings: Vec<Crossing>,
    pub movements: Vec<MovementDone>,
    /// Counts of intervals that closed in this step.
    pub counts: Vec<FlowCount>,
    pub zones: Vec<ZoneState>,
}

/// The analytics of one camera.
#[derive(Debug, Clone)]
pub struct CameraAnalytics {
    camera: CameraId,
    lines: Vec<Line>,
    /// `(id, entry line, exit line)`.
    movements: Vec<(String, usize, usize)>,
    zones: Vec<Zone>,
    road_from_image: Option<[[f64; 3]; 3]>,
    interval: Duration,
    pcu: PcuWeights,
    tracks: HashMap<TrackId, TrackMemo>,
    current_interval: Option<i64>,
    counts: BTreeMap<CountKey, u64>,
}

impl CameraAnalytics {
    /// From a validated camera; `interval` is the counting interval.
    pub fn new(camera: &ResolvedCamera, interval: Duration, pcu: PcuWeights) -> Self {
        let lines: Vec<Line> = camera
            .lines
            .iter()
            .map(|l| {
                let direction = (l.to[0] - l.from[0], l.to[1] - l.from[1]);
                Line {
                    id: l.id.clone(),
                    lane: l.lane.clone(),
                    from: (l.from[0], l.from[1]),
                    direction,
                    length: direction.0.hypot(direction.1).max(1e-9),
                    count: l.count,
                    hysteresis: l.hysteresis_px,
                }
            })
            .collect();
        let index_of = |id: &str| lines.iter().position(|l| l.id == id);
        let movements = camera
            .movements
            .iter()
            .filter_map(|m| Some((m.id.clone(), index_of(&m.entry)?, index_of(&m.exit)?)))
            .collect();
        Self {
            camera: camera.id.clone(),
            movements,
            zones: camera
                .zones
                .iter()
                .map(|z| Zone {
                    id: z.id.clone(),
                    polygon: z.polygon.iter().map(|p| (p[0], p[1])).collect(),
                    queued_below: z.queued_below_px_s,
                })
                .collect(),
            lines,
            road_from_image: camera.road_from_image,
            interval: interval.max(Duration::from_secs(1)),
            pcu,
            tracks: HashMap::new(),
            current_interval: None,
            counts: BTreeMap::new(),
        }
    }

    fn interval_index(&self, at: Timestamp) -> i64 {
        at.as_nanos()
            .div_euclid(i64::try_from(self.interval.as_nanos()).unwrap_or(i64::MAX))
    }

    fn road_point(&self, point: (f64, f64)) -> Option<(f64, f64)> {
        let h = self.road_from_image?;
        let w = h[2][0] * point.0 + h[2][1] * point.1 + h[2][2];
        if w.abs() < 1e-12 {
            return None;
        }
        Some((
            (h[0][0] * point.0 + h[0][1] * point.1 + h[0][2]) / w,
            (h[1][0] * point.0 + h[1][1] * point.1 + h[1][2]) / w,
        ))
    }

    /// Processes the tracks of one frame.
    pub fn step(&mut self, update: &TrackUpdate) -> AnalyticsEvents {
        let at = update.captured_at;
        let mut events = AnalyticsEvents::default();
        let interval = self.interval_index(at);
        match self.current_interval {
            Some(current) if interval > current => {
                events.counts = self.close_interval(current);
                self.current_interval = Some(interval);
            }
            None => self.current_interval = Some(interval),
            _ => {}
        }
        let line_count = self.lines.len();
        let mut zone_states: Vec<(u32, u32)> = vec![(0, 0); self.zones.len()];
        for track in &update.tracks {
            let [x, y, w, h] = track.bbox_image.map(f64::from);
            let ground = (x + w / 2.0, y + h);
            let road = self.road_point(ground);
            let memo = self.tracks.entry(track.id).or_insert_with(|| TrackMemo {
                sides: vec![0; line_count],
                ..TrackMemo::default()
            });
            memo.last_seen = Some(at);
            if let Some(road) = road {
                if let Some((previous, then)) = memo.last_road {
                    let dt = at.duration_since(then).as_secs_f64();
                    if dt > 0.0 {
                        let sample = (road.0 - previous.0).hypot(road.1 - previous.1) / dt;
                        memo.speed_mps = Some(match memo.speed_mps {
                            Some(speed) => speed + SPEED_SMOOTHING * (sample - speed),
                            None => sample,
                        });
                    }
                }
                memo.last_road = Some((road, at));
            }
            for (index, line) in self.lines.iter().enumerate() {
                let (side, along) = line.locate(ground);
                let now = if side >= line.hysteresis {
                    1
                } else if side <= -line.hysteresis {
                    -1
                } else {
                    0
                };
                let before = memo.sides[index];
                if now == 0 {
                    continue;
                }
                memo.sides[index] = now;
                if before == 0 || before == now || !(0.0..=1.0).contains(&along) {
                    continue;
                }
                let direction = if before < 0 {
                    CrossingDirection::Forward
                } else {
                    CrossingDirection::Backward
                };
                let counted = match line.count {
                    CountDirection::Both => true,
                    CountDirection::Forward => direction == CrossingDirection::Forward,
                    CountDirection::Backward => direction == CrossingDirection::Backward,
                };
                if !counted {
                    continue;
                }
                events.crossings.push(Crossing {
                    camera: self.camera.clone(),
                    line: line.id.clone(),
                    lane: line.lane.clone(),
                    track: track.id,
                    class: track.class,
                    at,
                    direction,
                    speed_kmh: memo.speed_mps.map(|v| v * 3.6),
                });
                *self
                    .counts
                    .entry(CountKey {
                        kind: CounterKind::Line,
                        counter: index,
                        direction: Some(direction),
                        class: track.class,
                    })
                    .or_default() += 1;
                // Movements: this line may complete one (as exit) and start one (as entry).
                for (m, (id, entry, exit)) in self.movements.iter().enumerate() {
                    if *exit == index && memo.entered == Some(*entry) {
                        events.movements.push(MovementDone {
                            camera: self.camera.clone(),
                            movement: id.clone(),
                            track: track.id,
                            class: track.class,
                            at,
                        });
                        *self
                            .counts
                            .entry(CountKey {
                                kind: CounterKind::Movement,
                                counter: m,
                                direction: None,
                                class: track.class,
                            })
                            .or_default() += 1;
                        memo.entered = None;
                    }
                }
                if self.movements.iter().any(|(_, entry, _)| *entry == index) {
                    memo.entered = Some(index);
                }
            }
            let speed_px_s =
                f64::from(track.velocity_px_per_s[0]).hypot(f64::from(track.velocity_px_per_s[1]));
            for (zone, state) in self.zones.iter().zip(zone_states.iter_mut()) {
                if inside(&zone.polygon, ground) {
                    state.0 += 1;
                    if speed_px_s < zone.queued_below {
                        state.1 += 1;
                    }
                }
            }
        }
        events.zones = self
            .zones
            .iter()
            .zip(zone_states)
            .map(|(zone, (occupancy, queue))| ZoneState {
                camera: self.camera.clone(),
                zone: zone.id.clone(),
                at,
                occupancy,
                queue,
            })
            .collect();
        self.tracks.retain(|_, memo| {
            memo.last_seen
                .is_some_and(|seen| at.duration_since(seen) <= FORGET_AFTER)
        });
        events
    }

    fn close_interval(&mut self, interval: i64) -> Vec<FlowCount> {
        let interval_ns = i64::try_from(self.interval.as_nanos()).unwrap_or(i64::MAX);
        let start = Timestamp::from_nanos(interval.saturating_mul(interval_ns));
        std::mem::take(&mut self.counts)
            .into_iter()
            .map(|(key, count)| {
                let (counter, lane) = match key.kind {
                    CounterKind::Line => (
                        self.lines[key.counter].id.clone(),
                        self.lines[key.counter].lane.clone(),
                    ),
                    CounterKind::Movement => (self.movements[key.counter].0.clone(), None),
                };
                FlowCount {
                    camera: self.camera.clone(),
                    kind: key.kind,
                    counter,
                    lane,
                    direction: key.direction,
                    class: key.class,
                    interval_start: start,
                    interval_s: self.interval.as_secs(),
                    count,
                    pcu: count as f64 * self.pcu.of(key.class),
                }
            })
            .collect()
    }

    /// Emits the counts of the interval in progress (at the end of a run).
    pub fn flush(&mut self) -> Vec<FlowCount> {
        match self.current_interval.take() {
            Some(current) => self.close_interval(current),
            None => Vec::new(),
        }
    }
}

/// The header line of the counts CSV.
pub const COUNTS_CSV_HEADER: &str =
    "camera,kind,counter,lane,direction,class,interval_start,interval_s,count,pcu\n";

/// CSV rows (no header) of line and turning-movement counts, one per counter, class and interval.
pub fn counts_csv_rows(counts: &[FlowCount]) -> String {
    let mut csv = String::new();
    for c in counts {
        let kind = match c.kind {
            CounterKind::Line => "line",
            CounterKind::Movement => "movement",
        };
        let direction = match c.direction {
            Some(CrossingDirection::Forward) => "forward",
            Some(CrossingDirection::Backward) => "backward",
            None => "",
        };
        csv.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{:.2}\n",
            c.camera,
            kind,
            c.counter,
            c.lane.as_deref().unwrap_or(""),
            direction,
            c.class.name(),
            c.interval_start,
            c.interval_s,
            c.count,
            c.pcu
        ));
    }
    csv
}

/// The counts CSV, header included.
pub fn counts_csv(counts: &[FlowCount]) -> String {
    format!("{COUNTS_CSV_HEADER}{}", counts_csv_rows(counts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use roadsight_core::config::{LineConfig, MovementConfig, SourceLocation, ZoneConfig};
    use roadsight_core::{SourceMode, TrackState, TrackedVehicle};

    fn camera() -> ResolvedCamera {
        ResolvedCamera {
            id: CameraId::new("cam"),
            source: SourceLocation::File("/dev/null".into()),
            mode: SourceMode::Recorded,
            analytics_fps: 10.0,
            start_time: None,
            intersection: None,
            approach: None,
            lines: vec![
                LineConfig {
                    id: "stop".into(),
                    from: [0.0, 400.0],
                    to: [640.0, 400.0],
                    count: CountDirection::Both,
                    hysteresis_px: 4.0,
                    lane: Some("1".into()),
                },
                // Drawn downwards, so its right side (y down) is the image's left: leaving to the
                // west (moving to smaller x) is a forward crossing.
                LineConfig {
                    id: "west-exit".into(),
                    from: [100.0, 0.0],
                    to: [100.0, 300.0],
                    count: CountDirection::Forward,
                    hysteresis_px: 4.0,
                    lane: None,
                },
            ],
            movements: vec![MovementConfig {
                id: "south-to-west".into(),
                entry: "stop".into(),
                exit: "west-exit".into(),
            }],
            zones: vec![ZoneConfig {
                id: "queue".into(),
                polygon: vec![[0.0, 300.0], [640.0, 300.0], [640.0, 480.0], [0.0, 480.0]],
                queued_below_px_s: 8.0,
            }],
            road_from_image: Some([[0.05, 0.0, 0.0], [0.0, 0.05, 0.0], [0.0, 0.0, 1.0]]),
        }
    }

    fn at_ms(ms: u64) -> Timestamp {
        Timestamp::from_nanos(0).plus(Duration::from_millis(ms))
    }

    /// One tracked car whose ground point is (gx, gy).
    fn update(ms: u64, tracks: &[(u64, f64, f64, f32)]) -> TrackUpdate {
        TrackUpdate {
            camera: CameraId::new("cam"),
            seq: ms,
            captured_at: at_ms(ms),
            tracks: tracks
                .iter()
                .map(|&(id, gx, gy, speed)| TrackedVehicle {
                    id: TrackId(id),
                    bbox_image: [gx as f32 - 20.0, gy as f32 - 30.0, 40.0, 30.0],
                    bbox_filtered: [gx as f32 - 20.0, gy as f32 - 30.0, 40.0, 30.0],
                    class: VehicleClass::Car,
                    score: 0.9,
                    velocity_px_per_s: [0.0, speed],
                    state: TrackState::Confirmed,
                })
                .collect(),
            ended: Vec::new(),
        }
    }

    fn analytics(interval_s: u64) -> CameraAnalytics {
        CameraAnalytics::new(
            &camera(),
            Duration::from_secs(interval_s),
            PcuWeights::default(),
        )
    }

    #[test]
    fn jitter_around_a_line_never_double_counts() {
        let mut a = analytics(900);
        let mut crossings = 0;
        // Up the road (decreasing y) through the stop line at y=400, wobbling by +-3 px there.
        let ys = [
            450.0, 420.0, 403.0, 398.0, 402.0, 397.0, 401.0, 390.0, 370.0,
        ];
        for (i, y) in ys.iter().enumerate() {
            crossings += a
                .step(&update(i as u64 * 100, &[(1, 320.0, *y, -50.0)]))
                .crossings
                .len();
        }
        assert_eq!(crossings, 1);
    }

    #[test]
    fn direction_is_reported_and_filtered() {
        let mut a = analytics(900);
        // Moving up across the stop line: from the right side (below, y down) to the left.
        a.step(&update(0, &[(1, 320.0, 420.0, -50.0)]));
        let up = a.step(&update(100, &[(1, 320.0, 380.0, -50.0)]));
        assert_eq!(up.crossings[0].direction, CrossingDirection::Backward);
        // The west exit counts forward only: moving east (backward) across it is ignored ...
        a.step(&update(200, &[(2, 90.0, 200.0, 0.0)]));
        let east = a.step(&update(300, &[(2, 110.0, 200.0, 0.0)]));
        assert!(east.crossings.is_empty());
        // ... and moving west is counted, forward.
        let west = a.step(&update(400, &[(2, 90.0, 200.0, 0.0)]));
        assert_eq!(west.crossings[0].direction, CrossingDirection::Forward);
    }

    #[test]
    fn passing_beside_the_segment_is_not_a_crossing() {
        let mut a = analytics(900);
        // The west exit runs from y=0 to y=300; crossing x=100 at y=350 is beside it.
        a.step(&update(0, &[(1, 110.0, 350.0, 0.0)]));
        let beside = a.step(&update(100, &[(1, 90.0, 350.0, 0.0)]));
        assert!(beside.crossings.is_empty());
    }

    #[test]
    fn a_movement_needs_its_entry_then_its_exit() {
        let mut a = analytics(900);
        // Track 1: through the stop line northbound, then out to the west.
        a.step(&update(
            0,
            &[(1, 320.0, 420.0, -50.0), (2, 110.0, 200.0, 0.0)],
        ));
        a.step(&update(
            100,
            &[(1, 320.0, 380.0, -50.0), (2, 90.0, 200.0, 0.0)],
        ));
        a.step(&update(200, &[(1, 110.0, 200.0, 0.0)]));
        let done = a.step(&update(300, &[(1, 90.0, 200.0, 0.0)]));
        assert_eq!(done.movements.len(), 1);
        assert_eq!(done.movements[0].movement, "south-to-west");
        assert_eq!(done.movements[0].track, TrackId(1));
        let counts = a.flush();
        let movement: u64 = counts
            .iter()
            .filter(|c| c.kind == CounterKind::Movement)
            .map(|c| c.count)
            .sum();
        assert_eq!(movement, 1);
    }

    #[test]
    fn counts_close_per_interval_with_pcu() {
        let mut a = analytics(60);
        let mut closed = Vec::new();
        // A car and a bus cross in the first minute, a car in the second.
        for (start, id, class) in [
            (1_000u64, 1u64, VehicleClass::Car),
            (5_000, 2, VehicleClass::Bus),
            (61_000, 3, VehicleClass::Car),
        ] {
            for (offset, y) in [(0u64, 420.0), (100, 380.0)] {
                let mut frame = update(start + offset, &[(id, 320.0, y, -50.0)]);
                frame.tracks[0].class = class;
                let events = a.step(&frame);
                if !events.counts.is_empty() {
                    assert_eq!(
                        start + offset,
                        61_000,
                        "the first minute closes on the first later frame"
                    );
                }
                closed.extend(events.counts);
            }
        }
        assert_eq!(closed.len(), 2, "{closed:?}");
        let bus = closed
            .iter()
            .find(|c| c.class == VehicleClass::Bus)
            .unwrap();
        assert_eq!((bus.count, bus.pcu), (1, 3.0));
        assert_eq!(bus.interval_start, at_ms(0));
        assert_eq!(bus.interval_s, 60);
        let last = a.flush();
        assert_eq!(last.len(), 1);
        assert_eq!((last[0].interval_start, last[0].count), (at_ms(60_000), 1));
        let csv = counts_csv(&last);
        assert!(csv
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("cam,line,stop,1,backward,car,"));
    }

    #[test]
    fn zones_count_occupancy_and_queues() {
        let mut a = analytics(900);
        let events = a.step(&update(
            0,
            &[
                (1, 100.0, 350.0, 2.0),
                (2, 200.0, 400.0, 30.0),
                (3, 200.0, 100.0, 0.0),
            ],
        ));
        assert_eq!((events.zones[0].occupancy, events.zones[0].queue), (2, 1));
    }

    #[test]
    fn speed_comes_from_the_homography() {
        let mut a = analytics(900);
        // 0.05 m per pixel; 20 px per 100 ms = 1 m per 0.1 s = 10 m/s = 36 km/h.
        let mut y = 460.0;
        let mut crossing = None;
        for step in 0..6u64 {
            let events = a.step(&update(step * 100, &[(1, 320.0, y, -200.0)]));
            crossing = crossing.or(events.crossings.into_iter().next());
            y -= 20.0;
        }
        let speed = crossing.unwrap().speed_kmh.unwrap();
        assert!((speed - 36.0).abs() < 0.5, "{speed}");
    }
}
