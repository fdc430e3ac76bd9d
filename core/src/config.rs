//! The city configuration: one TOML file.
//!
//! ```toml
//! name = "demo-city"
//!
//! [runtime]
//! analytics_fps = 5.0          # frames analysed per second per camera (default 5)
//! queue_depth = 4              # frames buffered per camera between ingest and analysis
//! open_timeout_s = 60          # a recorded file with no first frame this long after opening fails
//! start_time = "2026-11-23T08:00:00Z"   # capture time of a recorded file's first frame
//!
//! [runtime.live]
//! watchdog_s = 10              # a live camera silent this long is torn down and reconnected
//! backoff_initial_s = 0.5      # first reconnect delay; doubles per attempt ...
//! backoff_max_s = 30           # ... up to this
//! backoff_jitter = 0.2         # +-20 % random spread so cameras do not reconnect in lock-step
//!
//! [paths]                      # optional; default to the repository's .deps/
//! onnxruntime = "/opt/onnxruntime/libonnxruntime.so.1.31.1"
//! models_dir = "/opt/roadsight/models"
//!
//! [[cameras]]
//! id = "north-gate"
//! uri = "rtsp://10.0.0.5/stream1"   # or file:///..., http(s)://..., or a path
//! analytics_fps = 10
//! intersection = "le-loi-x-nguyen-hue"
//! approach = "north"
//! ```
//!
//! Parsing denies unknown fields and collects every problem before returning, each with its path
//! (`cameras[2].analytics_fps: ...`). Relative paths resolve against the config file's folder.

use crate::time::Timestamp;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// One problem in a config file, with the path of the offending value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ConfigProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.path, self.message)
        }
    }
}

/// Why a config could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {file}: {source}")]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: {count} problem(s):\n{list}", count = problems.len(), list = render_problems(problems))]
    Invalid {
        file: PathBuf,
        problems: Vec<ConfigProblem>,
    },
}

impl ConfigError {
    /// Every problem found (empty for read errors).
    pub fn problems(&self) -> &[ConfigProblem] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid { problems, .. } => problems,
        }
    }
}

fn render_problems(problems: &[ConfigProblem]) -> String {
    problems
        .iter()
        .map(|p| format!("  - {p}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The whole city.
#[derive(Debug, Clone, PartialEq)]
pub struct CityConfig {
    pub name: String,
    pub runtime: RuntimeConfig,
    pub detector: DetectorConfig,
    pub tracker: TrackerConfig,
    pub plates: PlatesConfig,
    pub paths: PathsConfig,
    pub cameras: Vec<CameraConfig>,
    pub store: StoreConfig,
    /// `None` when the file has no `[api]` section.
    pub api: Option<ApiConfig>,
    pub broker: BrokerConfig,
    pub routes: RoutesConfig,
    pub signals: SignalsConfig,
    pub intersections: Vec<IntersectionConfig>,
    pub corridors: Vec<CorridorConfig>,
    /// The folder of the config file; relative paths in it resolve here.
    pub base_dir: PathBuf,
}

/// How the pipeline runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RuntimeConfig {
    /// Frames analysed per second per camera, unless a camera sets its own.
    pub analytics_fps: f64,
    /// Frames buffered per camera between ingest and analysis.
    pub queue_depth: usize,
    /// Decoder threads per stream (1 uses the cores best with many streams; 0 = automatic).
    pub decoder_threads: u32,
    /// Seconds a recorded file may take from opening to its first frame before it is failed
    /// (never less than `live.watchdog_s`). Opening loads the demuxer and decoder plugins,
    /// which on a busy machine or a cold disk can take far longer than the gap between two
    /// frames (`live.watchdog_s`).
    pub open_timeout_s: f64,
    /// Capture time of the first frame of recorded files; the run's start time when absent.
    pub start_time: Option<String>,
    /// Length of a counting interval in seconds (traffic engineering's 15 minutes by default).
    pub count_interval_s: u64,
    /// Passenger-car units per vehicle class.
    pub pcu: PcuWeights,
    pub live: LiveConfig,
}

/// Passenger-car-unit weights per class (defaults for mixed traffic with many motorcycles).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PcuWeights {
    pub car: f64,
    pub motorcycle: f64,
    pub bus: f64,
    pub truck: f64,
    pub bicycle: f64,
}

impl Default for PcuWeights {
    fn default() -> Self {
        Self {
            car: 1.0,
            motorcycle: 0.3,
            bus: 3.0,
            truck: 2.5,
            bicycle: 0.2,
        }
    }
}

impl PcuWeights {
    pub fn of(&self, class: crate::VehicleClass) -> f64 {
        match class {
            crate::VehicleClass::Car => self.car,
            crate::VehicleClass::Motorcycle => self.motorcycle,
            crate::VehicleClass::Bus => self.bus,
            crate::VehicleClass::Truck => self.truck,
            crate::VehicleClass::Bicycle => self.bicycle,
        }
    }
}

impl RuntimeConfig {
    /// `open_timeout_s` as a duration.
    pub fn open_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs_f64(self.open_timeout_s)
    }
}

impl Default for RuntimeConfig {
    fn default() -> Self {
        Self {
            analytics_fps: 5.0,
            queue_depth: 4,
            decoder_threads: 1,
            open_timeout_s: 60.0,
            start_time: None,
            count_interval_s: 900,
            pcu: PcuWeights::default(),
            live: LiveConfig::default(),
        }
    }
}

/// Reconnection and watchdog settings for live sources.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LiveConfig {
    pub watchdog_s: f64,
    pub backoff_initial_s: f64,
    pub backoff_max_s: f64,
    pub backoff_jitter: f64,
    /// Give up (health `failed`) after this many failed attempts in a row; never when absent.
    pub max_attempts: Option<u32>,
    pub rtsp_latency_ms: u32,
    pub rtsp_transport: RtspTransport,
}

impl Default for LiveConfig {
    fn default() -> Self {
        Self {
            watchdog_s: 10.0,
            backoff_initial_s: 0.5,
            backoff_max_s: 30.0,
            backoff_jitter: 0.2,
            max_attempts: None,
            rtsp_latency_ms: 200,
            rtsp_transport: RtspTransport::Tcp,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RtspTransport {
    Tcp,
    Udp,
    /// UDP first, then TCP (rtspsrc's own default).
    Auto,
}

/// The vehicle detector and how its inference is shared between cameras.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DetectorConfig {
    /// A model name from `models/manifest.toml`.
    pub model: String,
    /// Inference workers, each with its own session.
    pub workers: usize,
    /// ONNX Runtime intra-op threads per worker.
    pub intra_threads: usize,
    /// Frames (of any cameras) per inference batch.
    pub batch_size: usize,
    /// A batch goes this long after its first frame even when not full.
    pub batch_timeout_ms: u64,
    /// Minimum detection score (low-score boxes feed the tracker's second association).
    pub score: f32,
    /// IoU above which overlapping boxes are merged (class-agnostic).
    pub nms_iou: f32,
}

/// The default vehicle detector (a name in `models/manifest.toml`): a 544x320 picture, which a
/// 16:9 camera fills to 4 % padding, in the pixels of the 416x416 square (44 % padding there).
/// Vehicles come 1.31x as wide for the same inference cost (README, tracking accuracy). A 4:3
/// camera fills 427x320 of it, about the square's 416x312; `yolox-nano-focus-416x320` fits it.
pub const DEFAULT_DETECTOR: &str = "yolox-nano-focus-544x320";

impl Default for DetectorConfig {
    fn default() -> Self {
        Self {
            model: DEFAULT_DETECTOR.into(),
            workers: 1,
            intra_threads: 1,
            batch_size: 4,
            batch_timeout_ms: 25,
            score: 0.1,
            nms_iou: 0.45,
        }
    }
}

/// The per-camera tracker's thresholds and timings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackerConfig {
    /// Detections at or above this score join the first association.
    pub high_score: f32,
    /// Detections from this score up to `high_score` only rescue existing tracks.
    pub low_score: f32,
    /// An unmatched detection starts a track at or above this score.
    pub new_track_score: f32,
    /// An unmatched detection from this score (at least `high_score`) up to `new_track_score`
    /// starts a tentative track, confirmed after `tentative_confirm_hits` matches in a row: a
    /// vehicle the detector never scores at `new_track_score` is still tracked. Off by default
    /// (equal to `new_track_score`): 0.3 tracks better but reads fewer routes' plates (README,
    /// "What the tracker reports").
    pub tentative_track_score: f32,
    /// Matches in a row that confirm a track started below `new_track_score`.
    pub tentative_confirm_hits: u32,
    /// Matches in a row that confirm a new track. 1 by default (ByteTrack waits for 2): at 10
    /// analysed frames per second a vehicle seen briefly is otherwise never counted.
    pub confirm_hits: u32,
    /// A lost track is dropped this long after its last match.
    pub max_lost_s: f64,
}

impl Default for TrackerConfig {
    fn default() -> Self {
        Self {
            high_score: 0.3,
            low_score: 0.1,
            new_track_score: 0.4,
            tentative_track_score: 0.4,
            tentative_confirm_hits: 2,
            confirm_hits: 1,
            max_lost_s: 1.0,
        }
    }
}

/// Plate reading on tracked vehicles.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PlatesConfig {
    pub enabled: bool,
    /// Plate detectors and recogniser, by name in `models/manifest.toml`. Each vehicle crop
    /// goes to the detector whose picture is nearest its size: `close_detector` (320x320) up
    /// to about 450 px, `detector` (640x640) above. A vehicle 150-300 px wide is enlarged less
    /// by the smaller picture, and HyperLPR3 finds small plates better so (README, route
    /// tracing); a crop `close_detector` finds no plate in is searched again with `detector`.
    /// An empty `close_detector`: `detector` for every crop.
    pub detector: String,
    pub close_detector: String,
    pub recogniser: String,
    /// A second recogniser, asked about every read the first is unsure of (not a grammar-valid
    /// Vietnamese plate at `second_opinion_below` confidence); the better read is kept. Empty:
    /// one recogniser only.
    pub second_recogniser: String,
    pub second_opinion_below: f32,
    /// Vehicles narrower than this (source pixels) are not read: their plates are too small.
    pub min_vehicle_width_px: f32,
    /// A track is read at most once per this many of its analysed frames.
    pub read_every_frames: u32,
    /// Reads per analysed frame at most, over all its tracks (bounds the cost of busy scenes).
    pub max_reads_per_frame: usize,
    /// A track's plate pictures of its last this-many reads are rectified to one size, aligned
    /// and averaged, and the fused picture is read in place of the frame's own (sharper than any
    /// one frame of a plate a few pixels high). 0 or 1 (the default): every frame is read on
    /// its own. 3 reads more of the corridor's true sightings but no more of its routes, at
    /// about a quarter more CPU (README, route tracing).
    pub fuse_frames: usize,
    /// A track's plate is emitted when the track ends, if its voted confidence (0-1) reaches
    /// `emit_confidence`; or earlier, while the vehicle is still in view, once it has
    /// `min_reads` reads and its voted confidence reaches `early_emit_confidence`. Reads
    /// improve as a vehicle approaches, so an early plate must be surer than a final one.
    pub min_reads: usize,
    pub emit_confidence: f32,
    pub early_emit_confidence: f32,
    /// A track that ends with a voted confidence from this up to `emit_confidence` is emitted
    /// as a candidate (`candidate: true`): too unsure to stand alone, but route tracing lets it
    /// fill the pass a sure route missed (`[routes] anchor_confidence`), and makes a route of
    /// candidates that agree at two cameras or more (`[routes] candidate_routes`). Equal to
    /// `emit_confidence`: no candidates.
    pub candidate_confidence: f32,
    /// The highest voted confidence of a plate read in one frame only (one read with text over
    /// the track's life). One read alone has no second opinion: on the corridor (seeds 1-5) 3
    /// of the 9 sure plates that came from one read were wrong, against 9 of 247 from several.
    /// Under `emit_confidence` (the default, 0.4, is) such a plate is at most a candidate; 1:
    /// no cap.
    pub single_read_confidence: f32,
    /// The voted confidence from which a plate that fits no format the reader knows (no grammar
    /// checks its characters: a US plate, say) is sure; under it, such a plate is at most
    /// `single_read_confidence` sure, a candidate. `emit_confidence` (0.45) is set for
    /// Vietnamese two-row plates a few pixels high, which the general recogniser cannot confirm
    /// and the grammar checks instead; with nothing to check a plate, the bar stays at the 0.6
    /// every plate had before. On the plate checkpoint and the corridor (seeds 1-3) 2 of the 9
    /// plates of no known format voted 0.45-0.6 were wrong; of all the corridor's sure plates
    /// (seeds 1-5), 9 of 247. A plate of digits only (a two-row plate's bottom row read
    /// alone) is capped whatever its confidence.
    pub formatless_emit_confidence: f32,
    /// A track's plate is voted from its this-many most confident reads. Fewer lets a vehicle's
    /// few good reads near the camera decide over its many poor ones from far away (more plates
    /// emitted), but also lets an error both recognisers make with confidence through.
    pub vote_reads: usize,
    /// ONNX Runtime intra-op threads of the reader's sessions.
    pub intra_threads: usize,
}

impl Default for PlatesConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            detector: "hyperlpr3-plate-640".to_string(),
            close_detector: "hyperlpr3-plate-320".to_string(),
            recogniser: "roadsight-plate-rec".to_string(),
            second_recogniser: "ppocrv6-small-rec".to_string(),
            second_opinion_below: 0.9,
            min_vehicle_width_px: 120.0,
            read_every_frames: 1,
            max_reads_per_frame: 8,
            fuse_frames: 0,
            min_reads: 3,
            emit_confidence: 0.45,
            early_emit_confidence: 0.9,
            candidate_confidence: 0.2,
            single_read_confidence: 0.4,
            formatless_emit_confidence: 0.6,
            vote_reads: 5,
            intra_threads: 1,
        }
    }
}

/// Signal control: how often plans are made from the counts, and when counts are too old.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SignalsConfig {
    /// Plans are made and issued this often (capture time), seconds.
    pub plan_interval_s: f64,
    /// Time constant of the short-horizon smoothed flow, seconds.
    pub smoothing_s: f64,
    /// An intersection whose counts are older than this, or whose camera is down, falls back
    /// to its last valid plan (or fixed time when it has none), seconds.
    pub stale_after_s: f64,
    /// Retry of a plan a controller refused or did not answer: first wait and longest wait, s.
    pub retry_initial_s: f64,
    pub retry_max_s: f64,
}

impl Default for SignalsConfig {
    fn default() -> Self {
        Self {
            plan_interval_s: 900.0,
            smoothing_s: 300.0,
            stale_after_s: 1800.0,
            retry_initial_s: 2.0,
            retry_max_s: 120.0,
        }
    }
}

/// Where an intersection movement's demand is counted: a camera's counting line (in a
/// direction) or turning movement, and optionally a zone whose queue it has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DemandSourceConfig {
    /// The intersection movement this counts.
    pub movement: String,
    pub camera: String,
    /// A line or a turning movement of that camera.
    pub counter: String,
    /// For a line: only crossings this way count (default: both).
    #[serde(default)]
    pub direction: Option<crate::counting::CrossingDirection>,
    /// A zone of that camera whose queue stands at this movement's stop line.
    #[serde(default)]
    pub zone: Option<String>,
}

/// A controller that receives timing plans over NTCIP 1202 (SNMP v2c).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NtcipControllerConfig {
    /// `host:port` of the controller's SNMP agent.
    pub address: String,
    #[serde(default = "default_community")]
    pub community: String,
    /// The coordination pattern roadsight writes and selects (1-253).
    #[serde(default = "default_pattern")]
    pub pattern: u8,
    /// NTCIP phase number of each of the intersection's phases, in order.
    pub phase_numbers: Vec<u8>,
    #[serde(default = "default_snmp_timeout_ms")]
    pub timeout_ms: u64,
}

fn default_community() -> String {
    "private".to_string()
}

fn default_pattern() -> u8 {
    1
}

fn default_snmp_timeout_ms() -> u64 {
    1000
}

/// One signalised intersection: its model, where its demand is counted, its controller.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IntersectionConfig {
    pub id: String,
    pub movements: Vec<crate::intersection::Movement>,
    /// In the order they run.
    pub phases: Vec<crate::intersection::Phase>,
    #[serde(default = "default_min_cycle")]
    pub min_cycle_s: f64,
    #[serde(default = "default_max_cycle")]
    pub max_cycle_s: f64,
    #[serde(default)]
    pub demand: Vec<DemandSourceConfig>,
    #[serde(default)]
    pub ntcip: Option<NtcipControllerConfig>,
}

fn default_min_cycle() -> f64 {
    40.0
}

fn default_max_cycle() -> f64 {
    150.0
}

impl IntersectionConfig {
    /// The intersection model planners work on.
    pub fn model(&self) -> crate::intersection::Intersection {
        crate::intersection::Intersection {
            id: self.id.clone(),
            movements: self.movements.clone(),
            phases: self.phases.clone(),
            min_cycle_s: self.min_cycle_s,
            max_cycle_s: self.max_cycle_s,
        }
    }
}

/// A green wave: intersections in driving order, with a common cycle and offsets from the
/// travel time between them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorridorConfig {
    pub id: String,
    pub intersections: Vec<String>,
    /// Distance from each intersection to the next, metres (one fewer than intersections).
    pub distances_m: Vec<f64>,
    /// The progression speed, km/h.
    pub speed_kmh: f64,
}

/// The event store: where events, sightings, counts, evidence and the audit log go.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StoreConfig {
    /// `sqlite:PATH` (relative to the config file's folder) or `postgres://user@host:port/db`.
    pub url: String,
    /// Events waiting for the store, at most; a full queue blocks the pipeline (events are
    /// never dropped).
    pub queue_depth: usize,
    /// Events written per transaction, at most.
    pub batch_size: usize,
    pub retention: RetentionConfig,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            url: "sqlite:roadsight.db".to_string(),
            queue_depth: 20_000,
            // Measured: 10,000 per transaction stores 2.3 times as many sightings per second
            // into SQLite as 1,000 (`roadsight bench store --batch`).
            batch_size: 10_000,
            retention: RetentionConfig::default(),
        }
    }
}

impl StoreConfig {
    /// The URL with a relative SQLite path resolved against `base_dir`.
    pub fn resolved_url(&self, base_dir: &Path) -> String {
        match self.url.strip_prefix("sqlite:") {
            Some(path) if Path::new(path).is_relative() => {
                format!("sqlite:{}", base_dir.join(path).display())
            }
            _ => self.url.clone(),
        }
    }
}

/// How long each kind of record is kept, in days.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub events_days: f64,
    pub sightings_days: f64,
    pub counts_days: f64,
    pub evidence_days: f64,
    pub audit_days: f64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig {
            events_days: 90.0,
            sightings_days: 90.0,
            counts_days: 730.0,
            evidence_days: 90.0,
            audit_days: 1825.0,
        }
    }
}

/// The road between two cameras: both ways, or with `one_way` from `from` to `to` only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraLinkConfig {
    pub from: String,
    pub to: String,
    pub distance_m: f64,
    #[serde(default = "default_min_speed")]
    pub min_speed_kmh: f64,
    #[serde(default = "default_max_speed")]
    pub max_speed_kmh: f64,
    /// The link vouches only for trips from `from` to `to`: a one-way road, or cameras that
    /// watch one direction's lanes. A trip the other way is as between unlinked cameras.
    #[serde(default)]
    pub one_way: bool,
}

fn default_min_speed() -> f64 {
    5.0
}

fn default_max_speed() -> f64 {
    120.0
}

impl CameraLinkConfig {
    /// Whether the link vouches for a trip from camera `from` to camera `to` (either way,
    /// unless `one_way`).
    pub fn leads(&self, from: &str, to: &str) -> bool {
        (self.from == from && self.to == to)
            || (!self.one_way && self.from == to && self.to == from)
    }

    /// The plausible travel times, seconds.
    pub fn travel_window_s(&self) -> (f64, f64) {
        (
            self.distance_m / (self.max_speed_kmh / 3.6),
            self.distance_m / (self.min_speed_kmh.max(0.1) / 3.6),
        )
    }

    /// When a vehicle seen at one end at `at` can be at the other end: its travel window after
    /// `at` (`later`) or before it, both ends included, each at most a day from `at`.
    pub fn reach_from(&self, at: Timestamp, later: bool) -> (Timestamp, Timestamp) {
        let (shortest, longest) = self.travel_window_s();
        // A NaN (no link validation lets one through) is no time, not a panic.
        let span = |s: f64| {
            std::time::Duration::try_from_secs_f64(s.clamp(0.0, 86_400.0)).unwrap_or_default()
        };
        if later {
            (at.plus(span(shortest)), at.plus(span(longest)))
        } else {
            (at.minus(span(longest)), at.minus(span(shortest)))
        }
    }
}

/// How plate sightings become routes across cameras (`[routes]`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RoutesConfig {
    /// Without a link, a sighting this long after the last one starts a new route.
    pub max_gap_s: f64,
    /// Sightings at one camera this close together are one pass.
    pub same_camera_s: f64,
    /// Join plates one edit apart over fitting links.
    pub fuzzy: bool,
    /// Sightings less confident than this are candidates: they never decide a sure route's
    /// plate, and join one only where a link on each side fits (`[plates]
    /// emit_confidence`, below which the plate stage's plates are candidates, is the natural
    /// value).
    pub anchor_confidence: f32,
    /// Candidates that join no sure route still make a route of their own where two or more
    /// of them, at different cameras, agree on the plate (within one edit when `fuzzy`)
    /// over configured links with fitting travel times: each vouches for the other. Every
    /// sighting of such a route stays marked a candidate. Off: a candidate only fills a pass
    /// a sure route missed.
    pub candidate_routes: bool,
    /// A pass no plate was voted for (a `vehicle_pass`), or a candidate no route took, joins a
    /// route whose sightings carry a look (`crate::appearance`) within this distance of its
    /// own, where a configured link with a fitting travel time leads to it, nearest first, one
    /// pass per route and camera. 0: never.
    pub appearance_max_distance: f32,
    pub links: Vec<CameraLinkConfig>,
}

impl RoutesConfig {
    /// Whether a read this confident is a candidate (under `anchor_confidence`): the one rule
    /// for route tracing and for plate search.
    pub fn is_candidate(&self, confidence: f32) -> bool {
        confidence < self.anchor_confidence
    }
}

impl Default for RoutesConfig {
    fn default() -> Self {
        RoutesConfig {
            max_gap_s: 1800.0,
            same_camera_s: 120.0,
            fuzzy: true,
            anchor_confidence: 0.45,
            candidate_routes: true,
            appearance_max_distance: 0.02,
            links: Vec::new(),
        }
    }
}

/// What an API user may do. Each role has everything of the ones before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// The live feed (without plates), cameras, counts, origin-destination, timing plans.
    Operator,
    /// Also plates: traces, search, evidence, plate events. Every such question is audited.
    Officer,
    /// Also the audit log.
    Admin,
}

impl Role {
    pub fn name(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::Officer => "officer",
            Role::Admin => "admin",
        }
    }
}

/// One API user: a bearer token and its role.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiUserConfig {
    pub name: String,
    /// The bearer token (at least 16 characters).
    pub token: String,
    pub role: Role,
}

/// The HTTP API (`[api]`; without the section, `run` starts no API).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApiConfig {
    /// Address to listen on; port 0 picks a free one.
    pub bind: String,
    pub users: Vec<ApiUserConfig>,
    /// Events buffered for the live feed; a client further behind is told how many it missed.
    pub live_buffer: usize,
}

impl Default for ApiConfig {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8080".to_string(),
            users: Vec::new(),
            live_buffer: 4096,
        }
    }
}

/// The event bus between ingest workers and central (`[broker]`; only `roadsight worker` and
/// `roadsight central` use it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BrokerConfig {
    /// The NATS server, `nats://host:port`.
    pub url: String,
    /// The JetStream stream holding every event and evidence image.
    pub stream: String,
    /// Events go to `<prefix>.<camera>`.
    pub subject_prefix: String,
    /// Central's durable consumer.
    pub durable: String,
    /// How long the stream keeps messages, days (central normally takes them within seconds).
    pub max_age_days: f64,
}

impl Default for BrokerConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".to_string(),
            stream: "ROADSIGHT".to_string(),
            subject_prefix: "roadsight.events".to_string(),
            durable: "central".to_string(),
            max_age_days: 7.0,
        }
    }
}

/// Where the runtime libraries and models live, when not in the repository's `.deps/`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PathsConfig {
    pub onnxruntime: Option<PathBuf>,
    pub models_dir: Option<PathBuf>,
}

/// Whether a source is consumed live (keep up, drop stale frames) or recorded (every frame).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceMode {
    Live,
    Recorded,
}

/// One camera as written in the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CameraConfig {
    pub id: String,
    /// `file://`, `rtsp://`, `rtsps://`, `http://`, `https://`, or a file path.
    pub uri: String,
    pub analytics_fps: Option<f64>,
    /// Defaults to `recorded` for files and `live` for network sources.
    pub mode: Option<SourceMode>,
    /// Capture time of this file's first frame (overrides `runtime.start_time`).
    pub start_time: Option<String>,
    pub intersection: Option<String>,
    pub approach: Option<String>,
    pub description: Option<String>,
    /// Frame size `[width, height]` in pixels; required when lines or zones are given, so they
    /// can be checked against the frame.
    pub resolution: Option<[u32; 2]>,
    #[serde(default)]
    pub lines: Vec<LineConfig>,
    #[serde(default)]
    pub movements: Vec<MovementConfig>,
    #[serde(default)]
    pub zones: Vec<ZoneConfig>,
    /// Row-major 3x3 homography from image pixels to road metres (for speeds).
    pub road_from_image: Option<[[f64; 3]; 3]>,
}

/// Which crossings of a line count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum CountDirection {
    /// From the left of `from -> to` to its right (image coordinates, y down).
    Forward,
    Backward,
    #[default]
    Both,
}

/// A directed counting line in image pixels.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    pub id: String,
    pub from: [f64; 2],
    pub to: [f64; 2],
    #[serde(default)]
    pub count: CountDirection,
    /// A point must be this far past the line (pixels) before a crossing counts, so jitter
    /// around the line never double-counts.
    #[serde(default = "default_hysteresis")]
    pub hysteresis_px: f64,
    /// The lane, for per-lane counts.
    #[serde(default)]
    pub lane: Option<String>,
}

fn default_hysteresis() -> f64 {
    4.0
}

/// A turning movement: a track that crosses `entry`, then `exit`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MovementConfig {
    pub id: String,
    pub entry: String,
    pub exit: String,
}

/// A zone (polygon in image pixels) for occupancy and queue length.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    pub id: String,
    pub polygon: Vec<[f64; 2]>,
    /// A vehicle slower than this (pixels per second) counts as queued.
    #[serde(default = "default_queue_speed")]
    pub queued_below_px_s: f64,
}

fn default_queue_speed() -> f64 {
    8.0
}

/// A camera's source, resolved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceLocation {
    /// A local file (absolute path).
    File(PathBuf),
    /// A network URI (`rtsp`, `rtsps`, `http`, `https`).
    Network { scheme: String, uri: String },
}

impl SourceLocation {
    /// Resolves `uri` as written in the config against `base_dir`.
    pub fn parse(uri: &str, base_dir: &Path) -> Result<Self, String> {
        let uri = uri.trim();
        if uri.is_empty() {
            return Err("is empty".into());
        }
        match uri.split_once("://") {
            Some((scheme, rest)) => {
                let scheme = scheme.to_ascii_lowercase();
                match scheme.as_str() {
                    "file" => {
                        if !rest.starts_with('/') {
                            return Err(format!(
                                "`{uri}`: a file:// URI needs an absolute path; write a plain path for one relative to the config"
                            ));
                        }
                        Ok(SourceLocation::File(PathBuf::from(percent_decode(rest))))
                    }
                    "rtsp" | "rtsps" | "http" | "https" => {
                        if rest.is_empty() || rest.starts_with('/') {
                            return Err(format!("`{uri}` has no host"));
                        }
                        Ok(SourceLocation::Network {
                            scheme,
                            uri: uri.to_string(),
                        })
                    }
                    other => Err(format!(
                        "unsupported scheme `{other}` (expected file, rtsp, rtsps, http, https, or a file path)"
                    )),
                }
            }
            None => {
                let path = Path::new(uri);
                Ok(SourceLocation::File(if path.is_absolute() {
                    path.to_path_buf()
                } else {
                    base_dir.join(path)
                }))
            }
        }
    }

    pub fn default_mode(&self) -> SourceMode {
        match self {
            SourceLocation::File(_) => SourceMode::Recorded,
            SourceLocation::Network { .. } => SourceMode::Live,
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(value) = text
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A camera after validation: everything the pipeline needs, with defaults applied.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedCamera {
    pub id: crate::ids::CameraId,
    pub source: SourceLocation,
    pub mode: SourceMode,
    pub analytics_fps: f64,
    /// Capture time of the first frame for recorded sources, when configured.
    pub start_time: Option<Timestamp>,
    pub intersection: Option<String>,
    pub approach: Option<String>,
    pub lines: Vec<LineConfig>,
    pub movements: Vec<MovementConfig>,
    pub zones: Vec<ZoneConfig>,
    pub road_from_image: Option<[[f64; 3]; 3]>,
}

impl CityConfig {
    /// Reads and validates a config file.
    pub fn load(file: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(file).map_err(|source| ConfigError::Read {
            file: file.to_path_buf(),
            source,
        })?;
        let base_dir = file
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from("."));
        let base_dir = if base_dir.as_os_str().is_empty() {
            PathBuf::from(".")
        } else {
            base_dir
        };
        Self::parse(&text, &base_dir).map_err(|problems| ConfigError::Invalid {
            file: file.to_path_buf(),
            problems,
        })
    }

    /// Parses and validates config text; returns every problem found.
    pub fn parse(text: &str, base_dir: &Path) -> Result<Self, Vec<ConfigProblem>> {
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            vec![ConfigProblem {
                path: String::new(),
                message: format!("TOML syntax: {}", e.to_string().trim()),
            }]
        })?;
        let mut problems = Vec::new();
        let mut name = "city".to_string();
        let mut runtime = RuntimeConfig::default();
        let mut paths = PathsConfig::default();
        let mut detector = DetectorConfig::default();
        let mut tracker = TrackerConfig::default();
        let mut plates = PlatesConfig::default();
        let mut cameras = Vec::new();
        let mut signals = SignalsConfig::default();
        let mut store = StoreConfig::default();
        let mut routes = RoutesConfig::default();
        let mut api = None;
        let mut broker = BrokerConfig::default();
        let mut intersections = Vec::new();
        let mut corridors = Vec::new();

        for (key, value) in table {
            match key.as_str() {
                "name" => match value {
                    toml::Value::String(text) => name = text,
                    other => problems.push(problem(
                        "name",
                        format!("expected a string, found {}", other.type_str()),
                    )),
                },
                "runtime" => {
                    if let Some(parsed) = section::<RuntimeConfig>("runtime", value, &mut problems)
                    {
                        runtime = parsed;
                    }
                }
                "detector" => {
                    if let Some(parsed) =
                        section::<DetectorConfig>("detector", value, &mut problems)
                    {
                        detector = parsed;
                    }
                }
                "tracker" => {
                    if let Some(parsed) = section::<TrackerConfig>("tracker", value, &mut problems)
                    {
                        tracker = parsed;
                    }
                }
                "plates" => {
                    if let Some(parsed) = section::<PlatesConfig>("plates", value, &mut problems) {
                        plates = parsed;
                    }
                }
                "paths" => {
                    if let Some(parsed) = section::<PathsConfig>("paths", value, &mut problems) {
                        paths = parsed;
                    }
                }
                "cameras" => match value {
                    toml::Value::Array(items) => {
                        for (index, item) in items.into_iter().enumerate() {
                            let path = format!("cameras[{index}]");
                            if let Some(camera) =
                                section::<CameraConfig>(&path, item, &mut problems)
                            {
                                cameras.push((index, camera));
                            }
                        }
                    }
                    other => problems.push(problem(
                        "cameras",
                        format!(
                            "expected an array of tables ([[cameras]]), found {}",
                            other.type_str()
                        ),
                    )),
                },
                "store" => {
                    if let Some(parsed) = section::<StoreConfig>("store", value, &mut problems) {
                        store = parsed;
                    }
                }
                "api" => {
                    if let Some(parsed) = section::<ApiConfig>("api", value, &mut problems) {
                        api = Some(parsed);
                    }
                }
                "broker" => {
                    if let Some(parsed) = section::<BrokerConfig>("broker", value, &mut problems) {
                        broker = parsed;
                    }
                }
                "routes" => {
                    if let Some(parsed) = section::<RoutesConfig>("routes", value, &mut problems) {
                        routes = parsed;
                    }
                }
                "signals" => {
                    if let Some(parsed) = section::<SignalsConfig>("signals", value, &mut problems)
                    {
                        signals = parsed;
                    }
                }
                "intersections" => {
                    intersections = array_section::<IntersectionConfig>(
                        "intersections",
                        value,
                        &mut problems,
                    )
                }
                "corridors" => {
                    corridors =
                        array_section::<CorridorConfig>("corridors", value, &mut problems)
                }
                other => problems.push(problem(
                    other,
                    "unknown section (expected name, runtime, detector, tracker, plates, paths, cameras, store, api, broker, routes, signals, intersections, corridors)",
                )),
            }
        }

        validate_runtime(&runtime, &mut problems);
        validate_detector(&detector, &mut problems);
        validate_tracker(&tracker, &mut problems);
        validate_plates(&plates, &mut problems);
        if cameras.is_empty() && !problems.iter().any(|p| p.path.starts_with("cameras")) {
            problems.push(problem("cameras", "at least one camera is required"));
        }
        let mut seen_ids = HashSet::new();
        for (index, camera) in &cameras {
            validate_camera(*index, camera, base_dir, &mut seen_ids, &mut problems);
        }
        validate_store(&store, &mut problems);
        if let Some(api) = &api {
            validate_api(api, &mut problems);
        }
        validate_broker(&broker, &mut problems);
        validate_routes(&routes, &camera_list_ids(&cameras), &mut problems);
        // Candidates must not anchor routes: that would let an unsure read start a trip.
        if plates.candidate_confidence < plates.emit_confidence
            && (0.0..=1.0).contains(&routes.anchor_confidence)
            && routes.anchor_confidence <= plates.candidate_confidence
        {
            problems.push(problem(
                "routes.anchor_confidence",
                format!(
                    "must be above plates.candidate_confidence ({}), found {}",
                    plates.candidate_confidence, routes.anchor_confidence
                ),
            ));
        }
        validate_signals(&signals, &mut problems);
        let camera_list: Vec<&CameraConfig> = cameras.iter().map(|(_, camera)| camera).collect();
        validate_intersections(&intersections, &camera_list, &mut problems);
        validate_corridors(&corridors, &intersections, &mut problems);
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(CityConfig {
            name,
            runtime,
            detector,
            tracker,
            plates,
            paths: PathsConfig {
                onnxruntime: paths.onnxruntime.map(|p| base_dir.join(p)),
                models_dir: paths.models_dir.map(|p| base_dir.join(p)),
            },
            cameras: cameras.into_iter().map(|(_, camera)| camera).collect(),
            store,
            api,
            broker,
            routes,
            signals,
            intersections: intersections.into_iter().map(|(_, item)| item).collect(),
            corridors: corridors.into_iter().map(|(_, item)| item).collect(),
            base_dir: base_dir.to_path_buf(),
        })
    }

    /// The cameras with defaults applied. Valid by construction after [`CityConfig::parse`].
    pub fn resolved_cameras(&self) -> Vec<ResolvedCamera> {
        let default_start = self
            .runtime
            .start_time
            .as_deref()
            .and_then(|t| Timestamp::parse_rfc3339(t).ok());
        self.cameras
            .iter()
            .filter_map(|camera| {
                let source = SourceLocation::parse(&camera.uri, &self.base_dir).ok()?;
                Some(ResolvedCamera {
                    id: crate::ids::CameraId::new(&camera.id),
                    mode: camera.mode.unwrap_or_else(|| source.default_mode()),
                    source,
                    analytics_fps: camera.analytics_fps.unwrap_or(self.runtime.analytics_fps),
                    start_time: camera
                        .start_time
                        .as_deref()
                        .and_then(|t| Timestamp::parse_rfc3339(t).ok())
                        .or(default_start),
                    intersection: camera.intersection.clone(),
                    approach: camera.approach.clone(),
                    lines: camera.lines.clone(),
                    movements: camera.movements.clone(),
                    zones: camera.zones.clone(),
                    road_from_image: camera.road_from_image,
                })
            })
            .collect()
    }
}

fn problem(path: &str, message: impl Into<String>) -> ConfigProblem {
    ConfigProblem {
        path: path.to_string(),
        message: message.into(),
    }
}

/// Deserializes one section, recording its error (with the path inside it) on failure.
fn section<T: DeserializeOwned>(
    path: &str,
    value: toml::Value,
    problems: &mut Vec<ConfigProblem>,
) -> Option<T> {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(parsed) => Some(parsed),
        Err(error) => {
            let inner = error.path().to_string();
            let full = if inner == "." || inner.is_empty() {
                path.to_string()
            } else {
                format!("{path}.{inner}")
            };
            let message = error.into_inner().to_string();
            let first_line = message.lines().next().unwrap_or("invalid value").trim();
            problems.push(problem(&full, first_line));
            None
        }
    }
}

/// Deserializes an array of tables (`[[name]]`), each item with its own path.
fn array_section<T: DeserializeOwned>(
    name: &str,
    value: toml::Value,
    problems: &mut Vec<ConfigProblem>,
) -> Vec<(usize, T)> {
    match value {
        toml::Value::Array(items) => items
            .into_iter()
            .enumerate()
            .filter_map(|(index, item)| {
                section::<T>(&format!("{name}[{index}]"), item, problems)
                    .map(|parsed| (index, parsed))
            })
            .collect(),
        other => {
            problems.push(problem(
                name,
                format!(
                    "expected an array of tables ([[{name}]]), found {}",
                    other.type_str()
                ),
            ));
            Vec::new()
        }
    }
}

fn camera_list_ids(cameras: &[(usize, CameraConfig)]) -> Vec<String> {
    cameras
        .iter()
        .map(|(_, camera)| camera.id.clone())
        .collect()
}

fn validate_routes(routes: &RoutesConfig, cameras: &[String], problems: &mut Vec<ConfigProblem>) {
    check_positive("routes.max_gap_s", routes.max_gap_s, 86_400.0, problems);
    if !(0.0..=1.0).contains(&routes.appearance_max_distance) {
        problems.push(problem(
            "routes.appearance_max_distance",
            format!(
                "must be within 0..=1 (0: never), found {}",
                routes.appearance_max_distance
            ),
        ));
    }
    if !(0.0..=1.0).contains(&routes.anchor_confidence) {
        problems.push(problem(
            "routes.anchor_confidence",
            format!("must be within 0..=1, found {}", routes.anchor_confidence),
        ));
    }
    check_positive(
        "routes.same_camera_s",
        routes.same_camera_s,
        86_400.0,
        problems,
    );
    for (index, link) in routes.links.iter().enumerate() {
        let at = |field: &str| format!("routes.links[{index}].{field}");
        for (field, camera) in [("from", &link.from), ("to", &link.to)] {
            if !cameras.contains(camera) {
                problems.push(problem(&at(field), format!("no camera `{camera}`")));
            }
        }
        check_positive(&at("distance_m"), link.distance_m, 1_000_000.0, problems);
        check_positive(&at("min_speed_kmh"), link.min_speed_kmh, 300.0, problems);
        check_positive(&at("max_speed_kmh"), link.max_speed_kmh, 300.0, problems);
        if link.min_speed_kmh > link.max_speed_kmh {
            problems.push(problem(&at("min_speed_kmh"), "is above max_speed_kmh"));
        }
    }
}

fn validate_broker(broker: &BrokerConfig, problems: &mut Vec<ConfigProblem>) {
    if !(broker.url.starts_with("nats://") || broker.url.starts_with("tls://")) {
        problems.push(problem(
            "broker.url",
            format!("`{}`: expected nats://host:port", broker.url),
        ));
    }
    let name_ok = |name: &str| {
        !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    };
    if !name_ok(&broker.stream) {
        problems.push(problem(
            "broker.stream",
            "letters, digits, `-` and `_` only",
        ));
    }
    if !name_ok(&broker.durable) {
        problems.push(problem(
            "broker.durable",
            "letters, digits, `-` and `_` only",
        ));
    }
    let prefix_ok =
        !broker.subject_prefix.is_empty() && broker.subject_prefix.split('.').all(name_ok);
    if !prefix_ok {
        problems.push(problem(
            "broker.subject_prefix",
            "dot-separated tokens of letters, digits, `-` and `_`",
        ));
    }
    check_positive("broker.max_age_days", broker.max_age_days, 3650.0, problems);
}

fn validate_api(api: &ApiConfig, problems: &mut Vec<ConfigProblem>) {
    if api.bind.parse::<std::net::SocketAddr>().is_err() {
        problems.push(problem(
            "api.bind",
            format!(
                "`{}` is not an address:port such as 127.0.0.1:8080",
                api.bind
            ),
        ));
    }
    if !(16..=1_000_000).contains(&api.live_buffer) {
        problems.push(problem("api.live_buffer", "must be 16..=1000000"));
    }
    let mut names = HashSet::new();
    let mut tokens = HashSet::new();
    for (index, user) in api.users.iter().enumerate() {
        if !is_valid_id(&user.name) {
            problems.push(problem(
                &format!("api.users[{index}].name"),
                format!(
                    "`{}` must be 1-64 characters of letters, digits, `-`, `_` or `.`",
                    user.name
                ),
            ));
        } else if !names.insert(user.name.clone()) {
            problems.push(problem(
                &format!("api.users[{index}].name"),
                format!("`{}` is used by an earlier user", user.name),
            ));
        }
        if user.token.chars().count() < 16 || user.token.chars().any(char::is_whitespace) {
            problems.push(problem(
                &format!("api.users[{index}].token"),
                "must be at least 16 characters, without spaces",
            ));
        } else if !tokens.insert(user.token.clone()) {
            problems.push(problem(
                &format!("api.users[{index}].token"),
                "is the token of an earlier user",
            ));
        }
    }
}

fn validate_store(store: &StoreConfig, problems: &mut Vec<ConfigProblem>) {
    let sqlite = store
        .url
        .strip_prefix("sqlite:")
        .is_some_and(|path| !path.is_empty());
    let postgres = store.url.starts_with("postgres://") || store.url.starts_with("postgresql://");
    if !sqlite && !postgres {
        problems.push(problem(
            "store.url",
            format!(
                "`{}`: expected sqlite:PATH or postgres://user@host:port/database",
                store.url
            ),
        ));
    }
    if !(1..=10_000_000).contains(&store.queue_depth) {
        problems.push(problem("store.queue_depth", "must be 1..=10000000"));
    }
    if !(1..=100_000).contains(&store.batch_size) {
        problems.push(problem("store.batch_size", "must be 1..=100000"));
    }
    let retention = &store.retention;
    for (field, days) in [
        ("events_days", retention.events_days),
        ("sightings_days", retention.sightings_days),
        ("counts_days", retention.counts_days),
        ("evidence_days", retention.evidence_days),
        ("audit_days", retention.audit_days),
    ] {
        check_positive(
            &format!("store.retention.{field}"),
            days,
            36_500.0,
            problems,
        );
    }
}

fn validate_signals(signals: &SignalsConfig, problems: &mut Vec<ConfigProblem>) {
    check_positive(
        "signals.plan_interval_s",
        signals.plan_interval_s,
        86_400.0,
        problems,
    );
    check_positive(
        "signals.smoothing_s",
        signals.smoothing_s,
        86_400.0,
        problems,
    );
    check_positive(
        "signals.stale_after_s",
        signals.stale_after_s,
        86_400.0,
        problems,
    );
    check_positive(
        "signals.retry_initial_s",
        signals.retry_initial_s,
        3_600.0,
        problems,
    );
    check_positive(
        "signals.retry_max_s",
        signals.retry_max_s,
        86_400.0,
        problems,
    );
    if signals.retry_max_s < signals.retry_initial_s {
        problems.push(problem(
            "signals.retry_max_s",
            format!(
                "{} is below retry_initial_s {}",
                signals.retry_max_s, signals.retry_initial_s
            ),
        ));
    }
}

fn validate_intersections(
    intersections: &[(usize, IntersectionConfig)],
    cameras: &[&CameraConfig],
    problems: &mut Vec<ConfigProblem>,
) {
    let mut ids = HashSet::new();
    for (index, config) in intersections {
        let at = format!("intersections[{index}]");
        if !is_valid_id(&config.id) {
            problems.push(problem(
                &format!("{at}.id"),
                format!(
                    "`{}` must be 1-64 characters of letters, digits, `-`, `_` or `.`",
                    config.id
                ),
            ));
        } else if !ids.insert(config.id.clone()) {
            problems.push(problem(
                &format!("{at}.id"),
                format!("`{}` is used by an earlier intersection", config.id),
            ));
        }
        for model_problem in config.model().validate(&at) {
            problems.push(problem(&model_problem.path, model_problem.message));
        }
        for (d, source) in config.demand.iter().enumerate() {
            let here = format!("{at}.demand[{d}]");
            if !config.movements.iter().any(|m| m.id == source.movement) {
                problems.push(problem(
                    &format!("{here}.movement"),
                    format!("`{}` is not a movement of {}", source.movement, config.id),
                ));
            }
            let Some(camera) = cameras.iter().find(|c| c.id == source.camera) else {
                problems.push(problem(
                    &format!("{here}.camera"),
                    format!("no camera `{}`", source.camera),
                ));
                continue;
            };
            let is_line = camera.lines.iter().any(|line| line.id == source.counter);
            let is_movement = camera.movements.iter().any(|m| m.id == source.counter);
            if !is_line && !is_movement {
                problems.push(problem(
                    &format!("{here}.counter"),
                    format!(
                        "`{}` is neither a line nor a movement of camera {}",
                        source.counter, camera.id
                    ),
                ));
            } else if source.direction.is_some() && !is_line {
                problems.push(problem(
                    &format!("{here}.direction"),
                    "a direction applies to a line, not to a turning movement",
                ));
            }
            if let Some(zone) = &source.zone {
                if !camera.zones.iter().any(|z| &z.id == zone) {
                    problems.push(problem(
                        &format!("{here}.zone"),
                        format!("`{zone}` is not a zone of camera {}", camera.id),
                    ));
                }
            }
        }
        if let Some(ntcip) = &config.ntcip {
            if ntcip.phase_numbers.len() != config.phases.len() {
                problems.push(problem(
                    &format!("{at}.ntcip.phase_numbers"),
                    format!(
                        "{} numbers for {} phases",
                        ntcip.phase_numbers.len(),
                        config.phases.len()
                    ),
                ));
            }
            if ntcip.phase_numbers.iter().any(|n| !(1..=40).contains(n)) {
                problems.push(problem(
                    &format!("{at}.ntcip.phase_numbers"),
                    "NTCIP phases are 1-40",
                ));
            }
            if !(1..=253).contains(&ntcip.pattern) {
                problems.push(problem(
                    &format!("{at}.ntcip.pattern"),
                    "patterns are 1-253",
                ));
            }
            if ntcip.address.parse::<std::net::SocketAddr>().is_err()
                && !ntcip
                    .address
                    .rsplit_once(':')
                    .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
            {
                problems.push(problem(
                    &format!("{at}.ntcip.address"),
                    format!("`{}` is not host:port", ntcip.address),
                ));
            }
        }
    }
}

fn validate_corridors(
    corridors: &[(usize, CorridorConfig)],
    intersections: &[(usize, IntersectionConfig)],
    problems: &mut Vec<ConfigProblem>,
) {
    let mut member_of: std::collections::HashMap<&str, &str> = std::collections::HashMap::new();
    for (index, corridor) in corridors {
        let at = format!("corridors[{index}]");
        if corridor.intersections.len() < 2 {
            problems.push(problem(
                &format!("{at}.intersections"),
                "a corridor needs at least two intersections",
            ));
        }
        for (i, id) in corridor.intersections.iter().enumerate() {
            if !intersections.iter().any(|(_, x)| &x.id == id) {
                problems.push(problem(
                    &format!("{at}.intersections[{i}]"),
                    format!("no intersection `{id}`"),
                ));
            } else if let Some(other) = member_of.insert(id.as_str(), corridor.id.as_str()) {
                problems.push(problem(
                    &format!("{at}.intersections[{i}]"),
                    format!("`{id}` is already in corridor `{other}`; an intersection has one common cycle"),
                ));
            }
        }
        if corridor.distances_m.len() + 1 != corridor.intersections.len() {
            problems.push(problem(
                &format!("{at}.distances_m"),
                format!(
                    "{} distances for {} intersections (one between each pair)",
                    corridor.distances_m.len(),
                    corridor.intersections.len()
                ),
            ));
        }
        for (i, distance) in corridor.distances_m.iter().enumerate() {
            check_positive(
                &format!("{at}.distances_m[{i}]"),
                *distance,
                100_000.0,
                problems,
            );
        }
        check_positive(
            &format!("{at}.speed_kmh"),
            corridor.speed_kmh,
            200.0,
            problems,
        );
    }
}

fn check_positive(path: &str, value: f64, max: f64, problems: &mut Vec<ConfigProblem>) {
    if !value.is_finite() || value <= 0.0 || value > max {
        problems.push(problem(
            path,
            format!("must be a number above 0 and at most {max}, found {value}"),
        ));
    }
}

fn validate_runtime(runtime: &RuntimeConfig, problems: &mut Vec<ConfigProblem>) {
    check_positive(
        "runtime.analytics_fps",
        runtime.analytics_fps,
        240.0,
        problems,
    );
    if runtime.queue_depth == 0 || runtime.queue_depth > 1024 {
        problems.push(problem(
            "runtime.queue_depth",
            format!("must be 1..=1024, found {}", runtime.queue_depth),
        ));
    }
    if runtime.decoder_threads > 64 {
        problems.push(problem(
            "runtime.decoder_threads",
            format!("must be 0..=64, found {}", runtime.decoder_threads),
        ));
    }
    if let Some(start) = &runtime.start_time {
        if let Err(e) = Timestamp::parse_rfc3339(start) {
            problems.push(problem(
                "runtime.start_time",
                format!("`{start}` is not an RFC 3339 time: {e}"),
            ));
        }
    }
    if runtime.count_interval_s == 0 || runtime.count_interval_s > 86_400 {
        problems.push(problem(
            "runtime.count_interval_s",
            format!("must be 1..=86400, found {}", runtime.count_interval_s),
        ));
    }
    for (class, weight) in [
        ("car", runtime.pcu.car),
        ("motorcycle", runtime.pcu.motorcycle),
        ("bus", runtime.pcu.bus),
        ("truck", runtime.pcu.truck),
        ("bicycle", runtime.pcu.bicycle),
    ] {
        if !weight.is_finite() || !(0.0..=20.0).contains(&weight) {
            problems.push(problem(
                &format!("runtime.pcu.{class}"),
                format!("must be 0..=20, found {weight}"),
            ));
        }
    }
    check_positive(
        "runtime.open_timeout_s",
        runtime.open_timeout_s,
        3600.0,
        problems,
    );
    let live = &runtime.live;
    check_positive("runtime.live.watchdog_s", live.watchdog_s, 3600.0, problems);
    check_positive(
        "runtime.live.backoff_initial_s",
        live.backoff_initial_s,
        3600.0,
        problems,
    );
    check_positive(
        "runtime.live.backoff_max_s",
        live.backoff_max_s,
        3600.0,
        problems,
    );
    if live.backoff_max_s < live.backoff_initial_s {
        problems.push(problem(
            "runtime.live.backoff_max_s",
            format!(
                "must be at least backoff_initial_s ({}), found {}",
                live.backoff_initial_s, live.backoff_max_s
            ),
        ));
    }
    if !(0.0..=1.0).contains(&live.backoff_jitter) {
        problems.push(problem(
            "runtime.live.backoff_jitter",
            format!("must be 0..=1, found {}", live.backoff_jitter),
        ));
    }
    if live.max_attempts == Some(0) {
        problems.push(problem(
            "runtime.live.max_attempts",
            "must be at least 1 (leave it out to retry forever)",
        ));
    }
}

fn validate_detector(detector: &DetectorConfig, problems: &mut Vec<ConfigProblem>) {
    if detector.model.trim().is_empty() {
        problems.push(problem(
            "detector.model",
            "must name a model of models/manifest.toml",
        ));
    }
    for (field, value) in [
        ("workers", detector.workers),
        ("intra_threads", detector.intra_threads),
        ("batch_size", detector.batch_size),
    ] {
        if !(1..=64).contains(&value) {
            problems.push(problem(
                &format!("detector.{field}"),
                format!("must be 1..=64, found {value}"),
            ));
        }
    }
    if detector.batch_timeout_ms > 10_000 {
        problems.push(problem(
            "detector.batch_timeout_ms",
            format!("must be at most 10000, found {}", detector.batch_timeout_ms),
        ));
    }
    if !(0.0..=1.0).contains(&detector.score) {
        problems.push(problem(
            "detector.score",
            format!("must be 0..=1, found {}", detector.score),
        ));
    }
    if !(detector.nms_iou > 0.0 && detector.nms_iou <= 1.0) {
        problems.push(problem(
            "detector.nms_iou",
            format!("must be above 0 and at most 1, found {}", detector.nms_iou),
        ));
    }
}

fn validate_plates(plates: &PlatesConfig, problems: &mut Vec<ConfigProblem>) {
    for (field, value) in [
        ("emit_confidence", plates.emit_confidence),
        ("early_emit_confidence", plates.early_emit_confidence),
        ("candidate_confidence", plates.candidate_confidence),
        ("single_read_confidence", plates.single_read_confidence),
        (
            "formatless_emit_confidence",
            plates.formatless_emit_confidence,
        ),
        ("second_opinion_below", plates.second_opinion_below),
    ] {
        if !(0.0..=1.0).contains(&value) {
            problems.push(problem(
                &format!("plates.{field}"),
                format!("must be within 0..=1, found {value}"),
            ));
        }
    }
    // Compared only when both are in range (each out-of-range value is its own problem).
    let in_range = |v: f32| (0.0..=1.0).contains(&v);
    if in_range(plates.emit_confidence)
        && in_range(plates.early_emit_confidence)
        && plates.early_emit_confidence < plates.emit_confidence
    {
        problems.push(problem(
            "plates.early_emit_confidence",
            format!(
                "must be at least plates.emit_confidence ({}), found {}",
                plates.emit_confidence, plates.early_emit_confidence
            ),
        ));
    }
    if in_range(plates.emit_confidence)
        && in_range(plates.candidate_confidence)
        && plates.candidate_confidence > plates.emit_confidence
    {
        problems.push(problem(
            "plates.candidate_confidence",
            format!(
                "must be at most plates.emit_confidence ({}), found {}",
                plates.emit_confidence, plates.candidate_confidence
            ),
        ));
    }
    if !plates.min_vehicle_width_px.is_finite() || plates.min_vehicle_width_px < 0.0 {
        problems.push(problem(
            "plates.min_vehicle_width_px",
            format!(
                "must be a non-negative number, found {}",
                plates.min_vehicle_width_px
            ),
        ));
    }
    for (field, value, range) in [
        (
            "read_every_frames",
            plates.read_every_frames as usize,
            1..=1000,
        ),
        ("max_reads_per_frame", plates.max_reads_per_frame, 1..=256),
        ("fuse_frames", plates.fuse_frames, 0..=8),
        ("min_reads", plates.min_reads, 1..=100),
        ("vote_reads", plates.vote_reads, 1..=100),
        ("intra_threads", plates.intra_threads, 1..=64),
    ] {
        if !range.contains(&value) {
            problems.push(problem(
                &format!("plates.{field}"),
                format!("must be {}..={}, found {value}", range.start(), range.end()),
            ));
        }
    }
    // A vote over fewer reads than a plate needs would never emit one.
    if plates.vote_reads >= 1 && plates.vote_reads < plates.min_reads {
        problems.push(problem(
            "plates.vote_reads",
            format!(
                "must be at least min_reads ({}), found {}",
                plates.min_reads, plates.vote_reads
            ),
        ));
    }
}

fn validate_tracker(tracker: &TrackerConfig, problems: &mut Vec<ConfigProblem>) {
    for (field, value) in [
        ("high_score", tracker.high_score),
        ("low_score", tracker.low_score),
        ("new_track_score", tracker.new_track_score),
        ("tentative_track_score", tracker.tentative_track_score),
    ] {
        if !(0.0..=1.0).contains(&value) {
            problems.push(problem(
                &format!("tracker.{field}"),
                format!("must be 0..=1, found {value}"),
            ));
        }
    }
    if tracker.low_score > tracker.high_score {
        problems.push(problem(
            "tracker.low_score",
            format!(
                "must not exceed high_score ({}), found {}",
                tracker.high_score, tracker.low_score
            ),
        ));
    }
    if tracker.tentative_track_score > tracker.new_track_score
        || tracker.tentative_track_score < tracker.high_score
    {
        problems.push(problem(
            "tracker.tentative_track_score",
            format!(
                "must lie from high_score ({}) to new_track_score ({}), found {}",
                tracker.high_score, tracker.new_track_score, tracker.tentative_track_score
            ),
        ));
    }
    for (field, hits) in [
        ("confirm_hits", tracker.confirm_hits),
        ("tentative_confirm_hits", tracker.tentative_confirm_hits),
    ] {
        if !(1..=100).contains(&hits) {
            problems.push(problem(
                &format!("tracker.{field}"),
                format!("must be 1..=100, found {hits}"),
            ));
        }
    }
    if !tracker.max_lost_s.is_finite() || tracker.max_lost_s <= 0.0 || tracker.max_lost_s > 600.0 {
        problems.push(problem(
            "tracker.max_lost_s",
            format!(
                "must be above 0 and at most 600, found {}",
                tracker.max_lost_s
            ),
        ));
    }
}

fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

fn validate_camera(
    index: usize,
    camera: &CameraConfig,
    base_dir: &Path,
    seen_ids: &mut HashSet<String>,
    problems: &mut Vec<ConfigProblem>,
) {
    let at = |field: &str| format!("cameras[{index}].{field}");
    if !is_valid_id(&camera.id) {
        problems.push(problem(
            &at("id"),
            format!(
                "`{}` must be 1-64 characters of letters, digits, `-`, `_` or `.`",
                camera.id
            ),
        ));
    } else if !seen_ids.insert(camera.id.clone()) {
        problems.push(problem(
            &at("id"),
            format!("`{}` is used by an earlier camera", camera.id),
        ));
    }
    if let Err(e) = SourceLocation::parse(&camera.uri, base_dir) {
        problems.push(problem(&at("uri"), e));
    }
    if let Some(fps) = camera.analytics_fps {
        check_positive(&at("analytics_fps"), fps, 240.0, problems);
    }
    if let Some(start) = &camera.start_time {
        if let Err(e) = Timestamp::parse_rfc3339(start) {
            problems.push(problem(
                &at("start_time"),
                format!("`{start}` is not an RFC 3339 time: {e}"),
            ));
        }
    }
    if camera.approach.is_some() && camera.intersection.is_none() {
        problems.push(problem(
            &at("approach"),
            "an approach needs its intersection (set cameras[].intersection)",
        ));
    }
    validate_camera_geometry(index, camera, problems);
    for (field, value) in [
        ("intersection", &camera.intersection),
        ("approach", &camera.approach),
    ] {
        if let Some(value) = value {
            if !is_valid_id(value) {
                problems.push(problem(
                    &at(field),
                    format!(
                        "`{value}` must be 1-64 characters of letters, digits, `-`, `_` or `.`"
                    ),
                ));
            }
        }
    }
}

fn validate_camera_geometry(
    index: usize,
    camera: &CameraConfig,
    problems: &mut Vec<ConfigProblem>,
) {
    let at = |field: String| format!("cameras[{index}].{field}");
    let needs_frame = !camera.lines.is_empty() || !camera.zones.is_empty();
    let frame = match camera.resolution {
        Some([w, h]) if w > 0 && h > 0 && w <= 16_384 && h <= 16_384 => {
            Some((f64::from(w), f64::from(h)))
        }
        Some([w, h]) => {
            problems.push(problem(
                &at("resolution".into()),
                format!("must be two sizes in 1..=16384, found [{w}, {h}]"),
            ));
            None
        }
        None if needs_frame => {
            problems.push(problem(
                &at("resolution".into()),
                "is required when a camera has lines or zones ([width, height] in pixels)",
            ));
            None
        }
        None => None,
    };
    let inside = |p: [f64; 2]| {
        p.iter().all(|v| v.is_finite())
            && frame.is_none_or(|(w, h)| (0.0..=w).contains(&p[0]) && (0.0..=h).contains(&p[1]))
    };
    let mut line_ids = HashSet::new();
    for (i, line) in camera.lines.iter().enumerate() {
        if !is_valid_id(&line.id) {
            problems.push(problem(
                &at(format!("lines[{i}].id")),
                format!("`{}` is not a valid id", line.id),
            ));
        } else if !line_ids.insert(line.id.as_str()) {
            problems.push(problem(
                &at(format!("lines[{i}].id")),
                format!("`{}` is used by an earlier line", line.id),
            ));
        }
        for (end, point) in [("from", line.from), ("to", line.to)] {
            if !inside(point) {
                problems.push(problem(
                    &at(format!("lines[{i}].{end}")),
                    format!(
                        "{point:?} is outside the {}x{} frame",
                        frame.map_or(0.0, |f| f.0),
                        frame.map_or(0.0, |f| f.1)
                    ),
                ));
            }
        }
        let length =
            ((line.to[0] - line.from[0]).powi(2) + (line.to[1] - line.from[1]).powi(2)).sqrt();
        if length < 1.0 || !length.is_finite() {
            problems.push(problem(
                &at(format!("lines[{i}]")),
                "has zero length (from and to are the same point)",
            ));
        }
        if !line.hysteresis_px.is_finite() || line.hysteresis_px < 0.0 || line.hysteresis_px > 200.0
        {
            problems.push(problem(
                &at(format!("lines[{i}].hysteresis_px")),
                format!("must be 0..=200, found {}", line.hysteresis_px),
            ));
        }
    }
    let mut movement_ids = HashSet::new();
    for (i, movement) in camera.movements.iter().enumerate() {
        if !is_valid_id(&movement.id) || !movement_ids.insert(movement.id.as_str()) {
            problems.push(problem(
                &at(format!("movements[{i}].id")),
                format!("`{}` is not a valid, unique id", movement.id),
            ));
        }
        for (end, line) in [("entry", &movement.entry), ("exit", &movement.exit)] {
            if !camera.lines.iter().any(|l| &l.id == line) {
                problems.push(problem(
                    &at(format!("movements[{i}].{end}")),
                    format!("`{line}` is not a line of this camera"),
                ));
            }
        }
        if movement.entry == movement.exit {
            problems.push(problem(
                &at(format!("movements[{i}]")),
                "entry and exit must be different lines",
            ));
        }
    }
    let mut zone_ids = HashSet::new();
    for (i, zone) in camera.zones.iter().enumerate() {
        if !is_valid_id(&zone.id) || !zone_ids.insert(zone.id.as_str()) {
            problems.push(problem(
                &at(format!("zones[{i}].id")),
                format!("`{}` is not a valid, unique id", zone.id),
            ));
        }
        if zone.polygon.len() < 3 {
            problems.push(problem(
                &at(format!("zones[{i}].polygon")),
                "needs at least 3 points",
            ));
        }
        for (p, point) in zone.polygon.iter().enumerate() {
            if !inside(*point) {
                problems.push(problem(
                    &at(format!("zones[{i}].polygon[{p}]")),
                    format!("{point:?} is outside the frame"),
                ));
            }
        }
        if !zone.queued_below_px_s.is_finite() || zone.queued_below_px_s < 0.0 {
            problems.push(problem(
                &at(format!("zones[{i}].queued_below_px_s")),
                "must be a speed of 0 or more",
            ));
        }
    }
    if let Some(h) = camera.road_from_image {
        let finite = h.iter().flatten().all(|v| v.is_finite());
        let det = h[0][0] * (h[1][1] * h[2][2] - h[1][2] * h[2][1])
            - h[0][1] * (h[1][0] * h[2][2] - h[1][2] * h[2][0])
            + h[0][2] * (h[1][0] * h[2][1] - h[1][1] * h[2][0]);
        if !finite || det.abs() < 1e-12 {
            problems.push(problem(
                &at("road_from_image".into()),
                "must be a finite, invertible 3x3 matrix",
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = r#"
name = "test-city"
[runtime]
analytics_fps = 5
start_time = "2026-11-23T08:00:00Z"
[runtime.live]
watchdog_s = 3
[[cameras]]
id = "north"
uri = "clips/north.mp4"
intersection = "x1"
approach = "n"
[[cameras]]
id = "east"
uri = "rtsp://127.0.0.1:8554/east"
analytics_fps = 12.5
"#;

    #[test]
    fn good_config_resolves_defaults_and_paths() {
        let config = CityConfig::parse(GOOD, Path::new("/etc/city")).unwrap();
        assert_eq!(config.name, "test-city");
        let cameras = config.resolved_cameras();
        assert_eq!(cameras.len(), 2);
        assert_eq!(
            cameras[0].source,
            SourceLocation::File(PathBuf::from("/etc/city/clips/north.mp4"))
        );
        assert_eq!(cameras[0].mode, SourceMode::Recorded);
        assert_eq!(cameras[0].analytics_fps, 5.0);
        assert_eq!(
            cameras[0].start_time,
            Some(Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap())
        );
        assert_eq!(cameras[1].mode, SourceMode::Live);
        assert_eq!(cameras[1].analytics_fps, 12.5);
        assert_eq!(config.runtime.live.watchdog_s, 3.0);
        assert_eq!(config.runtime.open_timeout_s, 60.0);
        assert_eq!(config.runtime.live.backoff_max_s, 30.0);
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let text = r#"
colour = "blue"
[detector]
batch_size = 0
[tracker]
low_score = 0.9
tentative_track_score = 0.5
tentative_confirm_hits = 0
[runtime]
analytics_fps = -1
open_timeout_s = 0
[runtime.live]
backoff_jitter = 3
[[cameras]]
id = "a"
uri = "ftp://host/x"
[[cameras]]
id = "a"
uri = "rtsp://cam/1"
analytics_fps = 0
[[cameras]]
id = "b"
url = "rtsp://cam/2"
[[cameras]]
id = "c"
uri = "rtsp://cam/3"
analytics_fps = "fast"
[[cameras]]
id = "d e"
uri = ""
approach = "north"
start_time = "yesterday"
"#;
        let problems = CityConfig::parse(text, Path::new(".")).unwrap_err();
        let rendered: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        let has = |prefix: &str| rendered.iter().any(|p| p.starts_with(prefix));
        for expected in [
            "colour: unknown section",
            "detector.batch_size: must be 1..=64",
            "tracker.low_score: must not exceed high_score",
            "tracker.tentative_track_score: must lie from high_score (0.3) to new_track_score (0.4)",
            "tracker.tentative_confirm_hits: must be 1..=100",
            "runtime.analytics_fps: must be",
            "runtime.open_timeout_s: must be a number above 0",
            "runtime.live.backoff_jitter: must be 0..=1",
            "cameras[0].uri: unsupported scheme `ftp`",
            "cameras[1].id: `a` is used by an earlier camera",
            "cameras[1].analytics_fps: must be",
            "cameras[2].url: unknown field `url`",
            "cameras[3].analytics_fps: invalid type",
            "cameras[4].id: `d e` must be",
            "cameras[4].uri: is empty",
            "cameras[4].approach: an approach needs its intersection",
            "cameras[4].start_time: `yesterday` is not an RFC 3339 time",
        ] {
            assert!(has(expected), "missing `{expected}` in {rendered:#?}");
        }
        assert_eq!(problems.len(), 17, "{rendered:#?}");
    }

    #[test]
    fn counting_geometry_is_checked_against_the_frame() {
        let text = r#"
[[cameras]]
id = "x"
uri = "rtsp://cam/1"
resolution = [640, 480]
lines = [
  { id = "in", from = [10, 400], to = [630, 400] },
  { id = "off", from = [10, 400], to = [900, 400] },
  { id = "dot", from = [50, 50], to = [50, 50] },
]
movements = [{ id = "m", entry = "in", exit = "nowhere" }]
zones = [{ id = "z", polygon = [[0, 0], [10, 0]] }]
[[cameras]]
id = "y"
uri = "rtsp://cam/2"
lines = [{ id = "a", from = [0, 0], to = [10, 10] }]
"#;
        let problems = CityConfig::parse(text, Path::new(".")).unwrap_err();
        let rendered: Vec<String> = problems.iter().map(|p| p.to_string()).collect();
        for expected in [
            "cameras[0].lines[1].to: [900.0, 400.0] is outside the 640x480 frame",
            "cameras[0].lines[2]: has zero length",
            "cameras[0].movements[0].exit: `nowhere` is not a line of this camera",
            "cameras[0].zones[0].polygon: needs at least 3 points",
            "cameras[1].resolution: is required when a camera has lines or zones",
        ] {
            assert!(
                rendered.iter().any(|r| r.starts_with(expected)),
                "missing `{expected}` in {rendered:#?}"
            );
        }
        assert_eq!(problems.len(), 5, "{rendered:#?}");
    }

    #[test]
    fn syntax_error_names_the_line() {
        let problems = CityConfig::parse("[[cameras]\nid=", Path::new(".")).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("line 1"), "{}", problems[0]);
    }

    #[test]
    fn plate_settings_are_checked_with_their_paths() {
        let text = "[plates]\nemit_confidence = 2.0\nread_every_frames = 0\nmin_reads = 3\nspeed = 1\n[[cameras]]\nid = \"a\"\nuri = \"/v.mp4\"\n";
        let problems = CityConfig::parse(text, Path::new(".")).unwrap_err();
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter().any(|p| p.starts_with("plates.speed")),
            "{text:?}"
        );
        let text = "[plates]\nemit_confidence = 2.0\nsecond_opinion_below = -0.5\nread_every_frames = 0\nfuse_frames = 9\nvote_reads = 0\n[[cameras]]\nid = \"a\"\nuri = \"/v.mp4\"\n";
        let problems = CityConfig::parse(text, Path::new(".")).unwrap_err();
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "plates.emit_confidence",
                "plates.second_opinion_below",
                "plates.read_every_frames",
                "plates.fuse_frames",
                "plates.vote_reads"
            ],
            "{problems:?}"
        );
        // A vote over fewer reads than a plate needs could never emit one.
        let text =
            "[plates]\nmin_reads = 3\nvote_reads = 2\n[[cameras]]\nid = \"a\"\nuri = \"/v.mp4\"\n";
        let problems = CityConfig::parse(text, Path::new(".")).unwrap_err();
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            ["plates.vote_reads: must be at least min_reads (3), found 2"],
            "{problems:?}"
        );
        // An early plate needs a surer vote than a final one.
        let text = "[plates]\nemit_confidence = 0.7\nearly_emit_confidence = 0.5\n[[cameras]]\nid = \"a\"\nuri = \"/v.mp4\"\n";
        let problems = CityConfig::parse(text, Path::new(".")).unwrap_err();
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            ["plates.early_emit_confidence: must be at least plates.emit_confidence (0.7), found 0.5"],
            "{problems:?}"
        );
        // A candidate is less sure than a plate, and must never anchor a route.
        let text = "[plates]\nemit_confidence = 0.4\ncandidate_confidence = 0.5\n[[cameras]]\nid = \"a\"\nuri = \"/v.mp4\"\n";
        let problems = CityConfig::parse(text, Path::new(".")).unwrap_err();
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            ["plates.candidate_confidence: must be at most plates.emit_confidence (0.4), found 0.5"],
            "{problems:?}"
        );
        let text = "[plates]\ncandidate_confidence = 0.3\n[routes]\nanchor_confidence = 0.25\n[[cameras]]\nid = \"a\"\nuri = \"/v.mp4\"\n";
        let problems = CityConfig::parse(text, Path::new(".")).unwrap_err();
        let rendered: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            rendered,
            ["routes.anchor_confidence: must be above plates.candidate_confidence (0.3), found 0.25"],
            "{problems:?}"
        );
        let good = CityConfig::parse(
            "[plates]\nenabled = false\n[[cameras]]\nid = \"a\"\nuri = \"/v.mp4\"\n",
            Path::new("."),
        )
        .unwrap();
        assert!(!good.plates.enabled);
        assert_eq!(good.plates.recogniser, "roadsight-plate-rec");
        assert_eq!(good.plates.second_recogniser, "ppocrv6-small-rec");
    }

    #[test]
    fn no_cameras_is_an_error() {
        let problems = CityConfig::parse("name = \"empty\"", Path::new(".")).unwrap_err();
        assert_eq!(
            problems[0].to_string(),
            "cameras: at least one camera is required"
        );
    }

    #[test]
    fn file_uri_is_percent_decoded_and_must_be_absolute() {
        assert_eq!(
            SourceLocation::parse("file:///tmp/my%20clip.mp4", Path::new(".")).unwrap(),
            SourceLocation::File(PathBuf::from("/tmp/my clip.mp4"))
        );
        assert!(SourceLocation::parse("file://relative.mp4", Path::new(".")).is_err());
        assert!(SourceLocation::parse("rtsp:///nohost", Path::new(".")).is_err());
    }

    #[test]
    fn load_reports_missing_file_by_name() {
        let err = CityConfig::load(Path::new("/nonexistent/city.toml")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/city.toml"), "{err}");
    }
}
