//! Camera ingest: one GStreamer pipeline per camera, supervised.
//!
//! ```text
//! uridecodebin (file / rtsp / http; H.264, H.265, ...) -> videoconvert (passthrough for I420/NV12)
//!   -> appsink (I420 | NV12) --callback--> rate limit on PTS -> letterbox_yuv -> FrameMux lane
//! ```
//!
//! - Frames that are not due for analysis are dropped in the appsink callback *before* any
//!   colour conversion or scaling; due ones go through [`crate::convert::letterbox_yuv`], one pass
//!   from the decoder's planes to the tensor picture.
//! - Capture time: for files, the configured start plus the stream time; for RTSP, the RTCP
//!   sender-report (NTP) time when the server sends one, otherwise the arrival time; for HTTP, the
//!   arrival time. Arrival time comes from the [`Clock`] handed in.
//! - A supervisor thread per camera watches the bus. End of stream finishes a recorded camera;
//!   a recorded source silent for `watchdog` while its lane has room (a corrupt file can leave
//!   GStreamer waiting without an error) fails it as a corrupt or truncated stream; before its
//!   first frame the allowance is `open_timeout`, since opening loads the decoder plugins.
//!   A live camera that errors, or sends no frame for `watchdog`, is torn down and reopened
//!   after an exponential backoff with jitter. Each change is a [`CameraHealth`] record.
//! - Callbacks hold the pipeline and its elements by weak reference only.

use crate::convert::{
    crop_yuv_to_rgb, letterbox_yuv, ChromaLayout, LetterboxPlan, YuvMatrix, YuvView,
};
use crate::queue::{FrameMux, Pushed, QueuePolicy};
use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;
use roadsight_core::config::{ResolvedCamera, RtspTransport, SourceLocation};
use roadsight_core::frame::{Frame, Letterbox, TensorImage, TensorSpec};
use roadsight_core::BufferPool;
use roadsight_core::{
    CameraHealth, CameraId, Clock, HealthState, SourceMode, SourcePicture, Timestamp,
};
use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Seconds between the NTP epoch (1900) and the Unix epoch (1970).
const NTP_TO_UNIX_SECONDS: i64 = 2_208_988_800;
/// Health records waiting for a reader; senders block when it is full (nothing is lost).
const HEALTH_QUEUE_DEPTH: usize = 4096;

/// Why ingest could not start at all.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("GStreamer could not be initialised: {0}")]
    Init(String),
    #[error(
        "GStreamer element `{element}` is missing: install the package that provides it ({hint})"
    )]
    MissingElement {
        element: &'static str,
        hint: &'static str,
    },
    #[error("no cameras to ingest")]
    NoCameras,
    #[error("could not start the thread for camera {camera}: {source}")]
    Thread {
        camera: CameraId,
        #[source]
        source: std::io::Error,
    },
}

/// What went wrong with one camera's source, classified.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    NotFound,
    Unreachable,
    Unsupported,
    Corrupt,
    Stalled,
    EndedUnexpectedly,
    Other,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::NotFound => "not found",
            FailureKind::Unreachable => "unreachable",
            FailureKind::Unsupported => "unsupported stream",
            FailureKind::Corrupt => "corrupt or truncated stream",
            FailureKind::Stalled => "stalled",
            FailureKind::EndedUnexpectedly => "stream ended",
            FailureKind::Other => "source error",
        })
    }
}

/// One failure of a camera's source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceFailure {
    pub kind: FailureKind,
    pub detail: String,
}

impl fmt::Display for SourceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind, self.detail)
    }
}

/// Which frames a camera analyses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AnalyticsRate {
    EveryFrame,
    PerSecond(f64),
}

/// One camera, ready for ingest.
#[derive(Debug, Clone)]
pub struct CameraSpec {
    pub id: CameraId,
    pub source: SourceLocation,
    pub mode: SourceMode,
    pub rate: AnalyticsRate,
    /// Capture time of a recorded file's first frame.
    pub start_time: Timestamp,
}

impl CameraSpec {
    /// From a validated config camera; `run_start` is used when it sets no start time.
    pub fn from_config(camera: &ResolvedCamera, run_start: Timestamp) -> Self {
        Self {
            id: camera.id.clone(),
            source: camera.source.clone(),
            mode: camera.mode,
            rate: AnalyticsRate::PerSecond(camera.analytics_fps),
            start_time: camera.start_time.unwrap_or(run_start),
        }
    }

    fn uri(&self) -> Result<String, SourceFailure> {
        match &self.source {
            SourceLocation::File(path) => {
                // A regular file or a named pipe (a recorder writing into it); not a folder.
                if !path.exists() {
                    return Err(SourceFailure {
                        kind: FailureKind::NotFound,
                        detail: format!("no such file {}", path.display()),
                    });
                }
                if path.is_dir() {
                    return Err(SourceFailure {
                        kind: FailureKind::NotFound,
                        detail: format!("{} is a folder, not a video file", path.display()),
                    });
                }
                let absolute = std::path::absolute(path).unwrap_or_else(|_| path.clone());
                gst::glib::filename_to_uri(&absolute, None)
                    .map(|uri| uri.to_string())
                    .map_err(|e| SourceFailure {
                        kind: FailureKind::NotFound,
                        detail: format!("{}: {e}", path.display()),
                    })
            }
            SourceLocation::Network { uri, .. } => Ok(uri.clone()),
        }
    }
}

/// Live-source supervision settings.
#[derive(Debug, Clone)]
pub struct LiveSettings {
    pub watchdog: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Relative spread of each delay, 0..=1.
    pub backoff_jitter: f64,
    pub max_attempts: Option<u32>,
    pub rtsp_latency_ms: u32,
    pub rtsp_transport: RtspTransport,
}

impl From<&roadsight_core::config::LiveConfig> for LiveSettings {
    fn from(live: &roadsight_core::config::LiveConfig) -> Self {
        Self {
            watchdog: Duration::from_secs_f64(live.watchdog_s),
            backoff_initial: Duration::from_secs_f64(live.backoff_initial_s),
            backoff_max: Duration::from_secs_f64(live.backoff_max_s),
            backoff_jitter: live.backoff_jitter,
            max_attempts: live.max_attempts,
            rtsp_latency_ms: live.rtsp_latency_ms,
            rtsp_transport: live.rtsp_transport,
        }
    }
}

/// Settings shared by all cameras.
#[derive(Debug, Clone)]
pub struct IngestSettings {
    pub tensor: TensorSpec,
    pub queue_depth: usize,
    /// Decoder threads per stream; 0 lets the decoder choose.
    pub decoder_threads: u32,
    /// How long a recorded file may take from opening to its first frame (never less than
    /// `live.watchdog`). Opening loads the demuxer and decoder plugins, which on a busy machine
    /// or a cold disk can take far longer than `live.watchdog` (the longest gap allowed between
    /// two frames).
    pub open_timeout: Duration,
    pub live: LiveSettings,
    /// Hand each analysed frame's decoded picture on ([`Frame::source`]) for stages that read
    /// detail from it (plates). No copy: the frame holds the decoder's buffer until dropped.
    pub keep_source: bool,
}

/// Counters of one camera, readable while it runs.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraStats {
    pub camera: CameraId,
    pub frames_decoded: u64,
    pub frames_analysed: u64,
    /// Analysed frames dropped from a full live lane.
    pub frames_dropped: u64,
    pub convert_errors: u64,
    pub reconnects: u64,
    pub state: &'static str,
    pub last_error: Option<String>,
    pub first_capture: Option<Timestamp>,
    pub last_capture: Option<Timestamp>,
}

#[derive(Debug)]
struct CameraShared {
    lane: usize,
    spec: CameraSpec,
    next_seq: AtomicU64,
    decoded: AtomicU64,
    convert_errors: AtomicU64,
    reconnects: AtomicU64,
    /// Milliseconds since `origin` at the last decoded frame.
    last_frame_ms: AtomicU64,
    origin: Instant,
    status: Mutex<CameraStatus>,
    /// Tensor buffers, recycled when frames are dropped downstream.
    buffers: Arc<BufferPool>,
}

#[derive(Debug, Default)]
struct CameraStatus {
    state: &'static str,
    last_error: Option<String>,
    first_capture: Option<Timestamp>,
    last_capture: Option<Timestamp>,
}

impl CameraShared {
    fn millis_now(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn status(&self) -> std::sync::MutexGuard<'_, CameraStatus> {
        self.status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Running ingest of a set of cameras.
#[derive(Debug)]
pub struct Ingest {
    mux: Arc<FrameMux>,
    cameras: Vec<Arc<CameraShared>>,
    health: Receiver<CameraHealth>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Ingest {
    /// Starts one supervised pipeline per camera.
    pub fn start(
        cameras: Vec<CameraSpec>,
        settings: IngestSettings,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, IngestError> {
        if cameras.is_empty() {
            return Err(IngestError::NoCameras);
        }
        gst::init().map_err(|e| IngestError::Init(e.to_string()))?;
        for (element, hint) in [
            ("uridecodebin", "gstreamer1.0-plugins-base"),
            ("videoconvert", "gstreamer1.0-plugins-base"),
            ("appsink", "gstreamer1.0-plugins-base"),
        ] {
            if gst::ElementFactory::find(element).is_none() {
                return Err(IngestError::MissingElement { element, hint });
            }
        }
        let mux = Arc::new(FrameMux::new(
            cameras
                .iter()
                .map(|camera| {
                    let policy = match camera.mode {
                        SourceMode::Live => QueuePolicy::DropOldest,
                        SourceMode::Recorded => QueuePolicy::Block,
                    };
                    (camera.id.clone(), policy)
                })
                .collect(),
            settings.queue_depth,
        ));
        let (health_tx, health) = std::sync::mpsc::sync_channel(HEALTH_QUEUE_DEPTH);
        let stop = Arc::new(AtomicBool::new(false));
        let settings = Arc::new(settings);
        let mut shared_cameras = Vec::new();
        let mut threads = Vec::new();
        for (lane, spec) in cameras.into_iter().enumerate() {
            let shared = Arc::new(CameraShared {
                lane,
                spec,
                next_seq: AtomicU64::new(0),
                decoded: AtomicU64::new(0),
                convert_errors: AtomicU64::new(0),
                reconnects: AtomicU64::new(0),
                last_frame_ms: AtomicU64::new(0),
                origin: Instant::now(),
                buffers: BufferPool::new(settings.queue_depth + 4),
                status: Mutex::new(CameraStatus {
                    state: "connecting",
                    ..CameraStatus::default()
                }),
            });
            let supervisor = Supervisor {
                camera: Arc::clone(&shared),
                settings: Arc::clone(&settings),
                mux: Arc::clone(&mux),
                clock: Arc::clone(&clock),
                health: health_tx.clone(),
                stop: Arc::clone(&stop),
            };
            let thread = std::thread::Builder::new()
                .name(format!("ingest-{}", shared.spec.id))
                .spawn(move || supervisor.run())
                .map_err(|source| IngestError::Thread {
                    camera: shared.spec.id.clone(),
                    source,
                })?;
            shared_cameras.push(shared);
            threads.push(thread);
        }
        Ok(Self {
            mux,
            cameras: shared_cameras,
            health,
            stop,
            threads,
        })
    }

    /// The frames, one bounded lane per camera.
    pub fn frames(&self) -> &Arc<FrameMux> {
        &self.mux
    }

    /// Camera-health records, in the order they happened per camera.
    pub fn health(&self) -> &Receiver<CameraHealth> {
        &self.health
    }

    pub fn stats(&self) -> Vec<CameraStats> {
        let lanes = self.mux.stats();
        self.cameras
            .iter()
            .map(|camera| {
                let status = camera.status();
                let lane = lanes.get(camera.lane);
                CameraStats {
                    camera: camera.spec.id.clone(),
                    frames_decoded: camera.decoded.load(Ordering::Relaxed),
                    frames_analysed: camera.next_seq.load(Ordering::Relaxed),
                    frames_dropped: lane.map_or(0, |l| l.dropped),
                    convert_errors: camera.convert_errors.load(Ordering::Relaxed),
                    reconnects: camera.reconnects.load(Ordering::Relaxed),
                    state: status.state,
                    last_error: status.last_error.clone(),
                    first_capture: status.first_capture,
                    last_capture: status.last_capture,
                }
            })
            .collect()
    }

    /// Stops every camera and waits for their threads.
    pub fn shutdown(mut self) {
        self.stop_all();
    }

    fn stop_all(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.mux.close();
        // Unblock supervisors waiting on a full health queue.
        while self.health.try_recv().is_ok() {}
        for thread in self.threads.drain(..) {
            while !thread.is_finished() {
                while self.health.try_recv().is_ok() {}
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = thread.join();
        }
    }
}

impl Drop for Ingest {
    fn drop(&mut self) {
        self.stop_all();
    }
}

/// How one session of a pipeline ended.
enum SessionEnd {
    EndOfStream,
    Failed(SourceFailure),
    Stopped,
}

struct Supervisor {
    camera: Arc<CameraShared>,
    settings: Arc<IngestSettings>,
    mux: Arc<FrameMux>,
    clock: Arc<dyn Clock>,
    health: SyncSender<CameraHealth>,
    stop: Arc<AtomicBool>,
}

impl Supervisor {
    fn emit(&self, state: HealthState) {
        {
            let mut status = self.camera.status();
            status.state = state.name();
            match &state {
                HealthState::Failed { cause } | HealthState::Reconnecting { cause, .. } => {
                    status.last_error = Some(cause.clone());
                }
                _ => {}
            }
        }
        let record = CameraHealth {
            camera: self.camera.spec.id.clone(),
            at: self.clock.now(),
            state,
        };
        // Blocks only if nobody reads health for 4096 changes; dropped receiver means shutdown.
        let _ = self.health.send(record);
    }

    fn run(self) {
        let live = self.camera.spec.mode == SourceMode::Live;
        let mut failed_attempts: u32 = 0;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                break;
            }
            let frames_before = self.camera.decoded.load(Ordering::Relaxed);
            let end = match self.camera.spec.uri() {
                Ok(uri) => self.run_session(&uri),
                Err(failure) => SessionEnd::Failed(failure),
            };
            let delivered = self.camera.decoded.load(Ordering::Relaxed) > frames_before;
            match end {
                SessionEnd::Stopped => break,
                SessionEnd::EndOfStream if !live => {
                    self.emit(HealthState::Finished {
                        frames: self.camera.next_seq.load(Ordering::Relaxed),
                    });
                    break;
                }
                SessionEnd::Failed(failure) if !live => {
                    self.emit(HealthState::Failed {
                        cause: failure.to_string(),
                    });
                    break;
                }
                SessionEnd::EndOfStream | SessionEnd::Failed(_) => {
                    let failure = match end {
                        SessionEnd::Failed(failure) => failure,
                        _ => SourceFailure {
                            kind: FailureKind::EndedUnexpectedly,
                            detail: "the live source sent end-of-stream".into(),
                        },
                    };
                    if delivered {
                        failed_attempts = 0;
                    }
                    failed_attempts = failed_attempts.saturating_add(1);
                    if let Some(max) = self.settings.live.max_attempts {
                        if failed_attempts > max {
                            self.emit(HealthState::Failed {
                                cause: format!("{failure} (gave up after {max} attempts)"),
                            });
                            break;
                        }
                    }
                    let delay = backoff_delay(
                        &self.settings.live,
                        failed_attempts,
                        jitter_seed(&self.camera.spec.id, failed_attempts),
                    );
                    self.camera.reconnects.fetch_add(1, Ordering::Relaxed);
                    self.emit(HealthState::Reconnecting {
                        attempt: failed_attempts,
                        retry_in_ms: u64::try_from(delay.as_millis()).unwrap_or(u64::MAX),
                        cause: failure.to_string(),
                    });
                    if !self.sleep_unless_stopped(delay) {
                        break;
                    }
                }
            }
        }
        self.mux.finish_lane(self.camera.lane);
    }

    fn sleep_unless_stopped(&self, delay: Duration) -> bool {
        let until = Instant::now() + delay;
        while Instant::now() < until {
            if self.stop.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep((until - Instant::now()).min(Duration::from_millis(20)));
        }
        !self.stop.load(Ordering::SeqCst)
    }

    /// Builds, plays and watches one pipeline until it ends; always tears it down.
    fn run_session(&self, uri: &str) -> SessionEnd {
        let pipeline = match self.build_pipeline(uri) {
            Ok(pipeline) => pipeline,
            Err(failure) => return SessionEnd::Failed(failure),
        };
        let end = self.watch(&pipeline);
        let _ = pipeline.set_state(gst::State::Null);
        end
    }

    fn watch(&self, pipeline: &gst::Pipeline) -> SessionEnd {
        let Some(bus) = pipeline.bus() else {
            return SessionEnd::Failed(SourceFailure {
                kind: FailureKind::Other,
                detail: "pipeline has no bus".into(),
            });
        };
        if let Err(e) = pipeline.set_state(gst::State::Playing) {
            // The bus usually holds the precise reason.
            if let Some(failure) = drain_error(&bus) {
                return SessionEnd::Failed(failure);
            }
            return SessionEnd::Failed(SourceFailure {
                kind: FailureKind::Other,
                detail: format!("could not start: {e}"),
            });
        }
        let live = self.camera.spec.mode == SourceMode::Live;
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let watchdog_ms = millis(self.settings.live.watchdog);
        // A recorded file's first frame waits on the plugins being loaded, not on a camera.
        let first_frame_ms = if live {
            watchdog_ms
        } else {
            watchdog_ms.max(millis(self.settings.open_timeout))
        };
        let session_start_ms = self.camera.millis_now();
        let decoded_at_start = self.camera.decoded.load(Ordering::Relaxed);
        let mut connected = false;
        // For recorded sources, silence counts from the later of the last frame and the last
        // moment the lane was full.
        let mut last_backpressure_ms = session_start_ms;
        loop {
            if self.stop.load(Ordering::SeqCst) {
                return SessionEnd::Stopped;
            }
            if let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(50)) {
                match message.view() {
                    gst::MessageView::Eos(_) => return SessionEnd::EndOfStream,
                    gst::MessageView::Error(error) => {
                        return SessionEnd::Failed(classify(error));
                    }
                    _ => {}
                }
            }
            let decoded = self.camera.decoded.load(Ordering::Relaxed);
            if !connected && decoded > decoded_at_start {
                connected = true;
                self.emit(HealthState::Connected);
            }
            // The watchdog covers recorded sources too (a corrupt file can leave GStreamer
            // waiting without an error), except while their lane is full: that silence is our
            // own backpressure, not a stall.
            if live || !self.mux.lane_is_full(self.camera.lane) {
                let now_ms = self.camera.millis_now();
                let last_frame_ms = if connected {
                    self.camera.last_frame_ms.load(Ordering::Relaxed)
                } else {
                    session_start_ms
                };
                let last_ms = if live {
                    last_frame_ms
                } else {
                    last_frame_ms.max(last_backpressure_ms)
                };
                let silent_ms = now_ms.saturating_sub(last_ms);
                let limit_ms = if connected {
                    watchdog_ms
                } else {
                    first_frame_ms
                };
                if silent_ms >= limit_ms {
                    self.emit(HealthState::Stalled {
                        silent_for_ms: silent_ms,
                    });
                    let silent_s = silent_ms as f64 / 1000.0;
                    if live {
                        return SessionEnd::Failed(SourceFailure {
                            kind: FailureKind::Stalled,
                            detail: format!("no frame for {silent_s:.1} s"),
                        });
                    }
                    // A recorded file has nothing to wait for but its own bytes: decoding that
                    // stops without an error or its end is a truncated or corrupt file (which
                    // GStreamer reports one way or the other depending on where the cut is).
                    let detail = if connected {
                        format!("decoding stopped without an error: no frame for {silent_s:.1} s")
                    } else {
                        format!("no first frame {silent_s:.1} s after opening")
                    };
                    return SessionEnd::Failed(SourceFailure {
                        kind: FailureKind::Corrupt,
                        detail: format!("{detail} ({})", pipeline_progress(pipeline)),
                    });
                }
            } else {
                last_backpressure_ms = self.camera.millis_now();
            }
        }
    }

    fn build_pipeline(&self, uri: &str) -> Result<gst::Pipeline, SourceFailure> {
        let spec = &self.camera.spec;
        let failure = |detail: String| SourceFailure {
            kind: FailureKind::Other,
            detail,
        };
        let pipeline = gst::Pipeline::builder()
            .name(format!("camera-{}", spec.id))
            .build();
        let decode = gst::ElementFactory::make("uridecodebin")
            .property("uri", uri)
            // `(ANY)`: decoders may output video/x-raw with memory features.
            .property(
                "caps",
                gst::Caps::builder("video/x-raw").any_features().build(),
            )
            .property("expose-all-streams", false)
            .build()
            .map_err(|e| failure(format!("uridecodebin: {e}")))?;
        let convert = gst::ElementFactory::make("videoconvert")
            .build()
            .map_err(|e| failure(format!("videoconvert: {e}")))?;
        let sink_caps = gst::Caps::builder("video/x-raw")
            .field("format", gst::List::new(["I420", "NV12"]))
            .build();
        // A file replayed as a live camera plays in real time; everything else runs free.
        let paced = spec.mode == SourceMode::Live && matches!(spec.source, SourceLocation::File(_));
        let sink = gst_app::AppSink::builder()
            .caps(&sink_caps)
            .sync(paced)
            .max_buffers(2)
            .enable_last_sample(false)
            .build();
        pipeline
            .add_many([&decode, &convert, sink.upcast_ref()])
            .map_err(|e| failure(format!("assembling pipeline: {e}")))?;
        convert
            .link(&sink)
            .map_err(|e| failure(format!("linking videoconvert to appsink: {e}")))?;

        set_decoder_threads(&decode, self.settings.decoder_threads);
        self.configure_network_source(&decode);

        let video_linked = Arc::new(AtomicBool::new(false));
        let convert_weak = convert.downgrade();
        let linked = Arc::clone(&video_linked);
        decode.connect_pad_added(move |_, pad| {
            let Some(convert) = convert_weak.upgrade() else {
                return;
            };
            let is_video = pad
                .current_caps()
                .or_else(|| Some(pad.query_caps(None)))
                .and_then(|caps| {
                    caps.structure(0)
                        .map(|s| s.name().starts_with("video/x-raw"))
                })
                .unwrap_or(false);
            let Some(sink_pad) = convert.static_pad("sink") else {
                return;
            };
            if is_video && !sink_pad.is_linked() && pad.link(&sink_pad).is_ok() {
                linked.store(true, Ordering::SeqCst);
            }
        });
        let decode_weak = decode.downgrade();
        decode.connect_no_more_pads(move |_| {
            if video_linked.load(Ordering::SeqCst) {
                return;
            }
            if let Some(decode) = decode_weak.upgrade() {
                gst::element_error!(
                    decode,
                    gst::StreamError::CodecNotFound,
                    ["no decodable video stream (is the codec supported and its plugin installed?)"]
                );
            }
        });
        sink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample({
                    let mut analyser = FrameAnalyser::new(
                        Arc::clone(&self.camera),
                        Arc::clone(&self.settings),
                        Arc::clone(&self.mux),
                        Arc::clone(&self.clock),
                    );
                    move |sink| analyser.on_sample(sink)
                })
                .build(),
        );
        Ok(pipeline)
    }

    /// Low latency and NTP reference timestamps on RTSP sources.
    fn configure_network_source(&self, decode: &gst::Element) {
        let live = self.settings.live.clone();
        decode.connect("source-setup", false, move |values| {
            let source = values.get(1).and_then(|v| v.get::<gst::Element>().ok());
            if let Some(source) = source {
                if source.has_property("latency") {
                    source.set_property("latency", live.rtsp_latency_ms);
                }
                if source.has_property("add-reference-timestamp-meta") {
                    source.set_property("add-reference-timestamp-meta", true);
                }
                if source.has_property("protocols") {
                    let protocols = match live.rtsp_transport {
                        RtspTransport::Tcp => "tcp",
                        RtspTransport::Udp => "udp",
                        RtspTransport::Auto => "udp+tcp",
                    };
                    source.set_property_from_str("protocols", protocols);
                }
            }
            None
        });
    }
}

/// Where a pipeline stands, for a failure message: its state and the elements it has made.
fn pipeline_progress(pipeline: &gst::Pipeline) -> String {
    let (_, current, pending) = pipeline.state(gst::ClockTime::ZERO);
    let elements: Vec<String> = pipeline
        .iterate_recurse()
        .into_iter()
        .filter_map(Result::ok)
        .map(|element| element.name().to_string())
        .collect();
    format!(
        "pipeline {current:?}, pending {pending:?}; elements made: {}",
        elements.join(", ")
    )
}

/// Sets the thread count of libav decoders as `decodebin` creates them (0 = automatic).
pub(crate) fn set_decoder_threads(decode: &gst::Element, threads: u32) {
    decode.connect("deep-element-added", false, move |values| {
        let element = values.get(2).and_then(|v| v.get::<gst::Element>().ok());
        if let Some(element) = element {
            let is_libav = element
                .factory()
                .is_some_and(|f| f.name().starts_with("avdec_"));
            if is_libav && element.has_property("max-threads") {
                element.set_property("max-threads", threads as i32);
            }
        }
        None
    });
}

/// Per-session state of the appsink callback: rate limiter, conversion plan, caps cache.
struct FrameAnalyser {
    camera: Arc<CameraShared>,
    settings: Arc<IngestSettings>,
    mux: Arc<FrameMux>,
    clock: Arc<dyn Clock>,
    next_due: Option<Duration>,
    caps: Option<gst::Caps>,
    info: Option<gst_video::VideoInfo>,
    plan: Option<LetterboxPlan>,
}

impl FrameAnalyser {
    fn new(
        camera: Arc<CameraShared>,
        settings: Arc<IngestSettings>,
        mux: Arc<FrameMux>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            camera,
            settings,
            mux,
            clock,
            next_due: None,
            caps: None,
            info: None,
            plan: None,
        }
    }

    /// True when the frame at `pts` is due for analysis.
    fn due(&mut self, pts: Option<Duration>) -> bool {
        let AnalyticsRate::PerSecond(fps) = self.camera.spec.rate else {
            return true;
        };
        let Some(pts) = pts else {
            return true;
        };
        let period = Duration::from_secs_f64(1.0 / fps);
        // A quarter-millisecond of slack absorbs rounded timestamps (29.97 fps and the like).
        let slack = Duration::from_micros(250);
        match self.next_due {
            Some(next) if pts + slack < next => false,
            Some(next) => {
                let advanced = next + period;
                self.next_due = Some(if advanced <= pts {
                    pts + period
                } else {
                    advanced
                });
                true
            }
            None => {
                self.next_due = Some(pts + period);
                true
            }
        }
    }

    fn on_sample(&mut self, sink: &gst_app::AppSink) -> Result<gst::FlowSuccess, gst::FlowError> {
        let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
        self.camera.decoded.fetch_add(1, Ordering::Relaxed);
        self.camera
            .last_frame_ms
            .store(self.camera.millis_now(), Ordering::Relaxed);
        let Some(buffer) = sample.buffer() else {
            return Ok(gst::FlowSuccess::Ok);
        };
        // Stream time: the position in the stream, after the demuxer's edit lists and offsets.
        let pts = buffer
            .pts()
            .map(|pts| {
                sample
                    .segment()
                    .and_then(|segment| segment.downcast_ref::<gst::ClockTime>())
                    .and_then(|segment| segment.to_stream_time(pts))
                    .unwrap_or(pts)
            })
            .map(|t| Duration::from_nanos(t.nseconds()));
        if !self.due(pts) {
            return Ok(gst::FlowSuccess::Ok);
        }
        // Read only for frames that are analysed; a frame arrives once it is decoded.
        let arrival = self.clock.now();
        if let Some(caps) = sample.caps() {
            let changed = self
                .caps
                .as_ref()
                .is_none_or(|known| known.as_ptr() != caps.as_ptr() && known.as_ref() != caps);
            if changed {
                self.info = gst_video::VideoInfo::from_caps(caps).ok();
                self.caps = Some(caps.to_owned());
            }
        }
        let Some(info) = self.info.as_ref() else {
            self.camera.convert_errors.fetch_add(1, Ordering::Relaxed);
            return Ok(gst::FlowSuccess::Ok);
        };
        let mut planes = self.camera.buffers.take();
        let converted = convert_buffer(
            buffer,
            info,
            &self.settings.tensor,
            &mut self.plan,
            planes.as_vec_mut(),
        );
        let image = match converted.map(|letterbox| TensorImage {
            spec: self.settings.tensor,
            letterbox,
            planes,
        }) {
            Ok(image) => image,
            Err(_) => {
                self.camera.convert_errors.fetch_add(1, Ordering::Relaxed);
                return Ok(gst::FlowSuccess::Ok);
            }
        };
        let captured_at = match self.camera.spec.mode {
            SourceMode::Recorded => self
                .camera
                .spec
                .start_time
                .plus(pts.unwrap_or(Duration::ZERO)),
            SourceMode::Live => ntp_capture_time(buffer).unwrap_or(arrival),
        };
        let seq = self.camera.next_seq.fetch_add(1, Ordering::Relaxed);
        {
            let mut status = self.camera.status();
            status.first_capture.get_or_insert(captured_at);
            status.last_capture = Some(captured_at);
        }
        let source = if self.settings.keep_source {
            sample.buffer_owned().map(|buffer| {
                Arc::new(DecodedPicture {
                    buffer,
                    info: info.clone(),
                }) as Arc<dyn SourcePicture>
            })
        } else {
            None
        };
        let frame = Frame {
            camera: self.camera.spec.id.clone(),
            seq,
            pts,
            captured_at,
            image,
            source,
        };
        match self.mux.push(self.camera.lane, frame) {
            Pushed::Closed => Err(gst::FlowError::Flushing),
            Pushed::Accepted | Pushed::AcceptedDroppingOldest => Ok(gst::FlowSuccess::Ok),
        }
    }
}

fn convert_buffer(
    buffer: &gst::BufferRef,
    info: &gst_video::VideoInfo,
    spec: &TensorSpec,
    plan: &mut Option<LetterboxPlan>,
    out: &mut Vec<u8>,
) -> Result<Letterbox, String> {
    with_yuv_view(buffer, info, |view| {
        letterbox_yuv(view, spec, plan, out).map_err(|e| e.to_string())
    })?
}

/// Maps `buffer` and hands its planes to `read` as a [`YuvView`].
fn with_yuv_view<R>(
    buffer: &gst::BufferRef,
    info: &gst_video::VideoInfo,
    read: impl FnOnce(&YuvView<'_>) -> R,
) -> Result<R, String> {
    let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
        .map_err(|e| format!("map: {e}"))?;
    let layout = match info.format() {
        gst_video::VideoFormat::I420 => ChromaLayout::I420,
        gst_video::VideoFormat::Nv12 => ChromaLayout::Nv12,
        other => return Err(format!("unexpected format {other:?}")),
    };
    let colorimetry = info.colorimetry();
    let full_range = colorimetry.range() == gst_video::VideoColorRange::Range0_255;
    let bt709 = colorimetry.matrix() == gst_video::VideoColorMatrix::Bt709
        || (colorimetry.matrix() == gst_video::VideoColorMatrix::Unknown && info.height() > 576);
    let matrix = match (bt709, full_range) {
        (true, false) => YuvMatrix::Bt709Limited,
        (true, true) => YuvMatrix::Bt709Full,
        (false, false) => YuvMatrix::Bt601Limited,
        (false, true) => YuvMatrix::Bt601Full,
    };
    let strides = frame.plane_stride();
    let stride = |i: usize| {
        strides
            .get(i)
            .map_or(0, |s| usize::try_from(*s).unwrap_or(0))
    };
    let luma = frame.plane_data(0).map_err(|e| e.to_string())?;
    let chroma_a = frame.plane_data(1).map_err(|e| e.to_string())?;
    let chroma_b = if layout == ChromaLayout::I420 {
        frame.plane_data(2).map_err(|e| e.to_string())?
    } else {
        &[]
    };
    let view = YuvView {
        layout,
        matrix,
        width: info.width(),
        height: info.height(),
        luma,
        luma_stride: stride(0),
        chroma_a,
        chroma_a_stride: stride(1),
        chroma_b,
        chroma_b_stride: stride(2),
    };
    Ok(read(&view))
}

/// A decoded picture kept for [`Frame::source`]: the decoder's buffer and its layout.
struct DecodedPicture {
    buffer: gst::Buffer,
    info: gst_video::VideoInfo,
}

impl fmt::Debug for DecodedPicture {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "DecodedPicture({}x{} {:?})",
            self.info.width(),
            self.info.height(),
            self.info.format()
        )
    }
}

impl SourcePicture for DecodedPicture {
    fn width(&self) -> u32 {
        self.info.width()
    }

    fn height(&self) -> u32 {
        self.info.height()
    }

    fn crop_rgb(&self, region: [u32; 4], out: &mut Vec<u8>) -> Option<(u32, u32)> {
        with_yuv_view(self.buffer.as_ref(), &self.info, |view| {
            crop_yuv_to_rgb(view, region, out).ok().flatten()
        })
        .ok()
        .flatten()
    }
}

/// The RTCP sender-report (NTP) capture time that rtspsrc attaches, as a Unix timestamp.
fn ntp_capture_time(buffer: &gst::BufferRef) -> Option<Timestamp> {
    buffer
        .iter_meta::<gst::ReferenceTimestampMeta>()
        .find(|meta| {
            meta.reference()
                .structure(0)
                .is_some_and(|s| s.name() == "timestamp/x-ntp")
        })
        .and_then(|meta| {
            let nanos = i64::try_from(meta.timestamp().nseconds()).ok()?;
            let unix = nanos.checked_sub(NTP_TO_UNIX_SECONDS * 1_000_000_000)?;
            (unix > 0).then(|| Timestamp::from_nanos(unix))
        })
}

fn drain_error(bus: &gst::Bus) -> Option<SourceFailure> {
    while let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(200)) {
        if let gst::MessageView::Error(error) = message.view() {
            return Some(classify(error));
        }
    }
    None
}

/// Turns a GStreamer error message into a classified, readable failure.
fn classify(error: &gst::message::Error) -> SourceFailure {
    let gerror = error.error();
    let kind = if let Some(resource) = gerror.kind::<gst::ResourceError>() {
        match resource {
            gst::ResourceError::NotFound => FailureKind::NotFound,
            gst::ResourceError::OpenRead
            | gst::ResourceError::OpenReadWrite
            | gst::ResourceError::Read
            | gst::ResourceError::Busy
            | gst::ResourceError::Settings => FailureKind::Unreachable,
            _ => FailureKind::Other,
        }
    } else if let Some(stream) = gerror.kind::<gst::StreamError>() {
        match stream {
            gst::StreamError::CodecNotFound
            | gst::StreamError::WrongType
            | gst::StreamError::TypeNotFound
            | gst::StreamError::NotImplemented => FailureKind::Unsupported,
            gst::StreamError::Demux | gst::StreamError::Decode | gst::StreamError::Format => {
                FailureKind::Corrupt
            }
            _ => FailureKind::Other,
        }
    } else if gerror.kind::<gst::CoreError>() == Some(gst::CoreError::MissingPlugin) {
        FailureKind::Unsupported
    } else {
        FailureKind::Other
    };
    let element = error
        .src()
        .map(|src| src.name().to_string())
        .unwrap_or_else(|| "pipeline".into());
    let detail = error
        .debug()
        .and_then(|debug| {
            debug
                .rsplit(":\n")
                .next()
                .map(|tail| tail.trim().replace('\n', " "))
        })
        .filter(|tail| !tail.is_empty() && tail.len() < 300);
    let detail = match detail {
        Some(tail) if tail != gerror.message() => {
            format!("{element}: {} ({tail})", gerror.message())
        }
        _ => format!("{element}: {}", gerror.message()),
    };
    SourceFailure { kind, detail }
}

/// Exponential backoff: `initial * 2^(attempt-1)`, capped at `max`, spread by +-`jitter`.
///
/// `random` is a value in [0, 1) supplied by the caller so the delay is a pure function.
pub fn backoff_delay(live: &LiveSettings, attempt: u32, random: f64) -> Duration {
    let exponent = attempt.saturating_sub(1).min(30);
    let base = live.backoff_initial.as_secs_f64() * f64::from(1u32 << exponent);
    let capped = base.min(live.backoff_max.as_secs_f64());
    let spread = 1.0 + live.backoff_jitter * (2.0 * random.clamp(0.0, 1.0) - 1.0);
    Duration::from_secs_f64((capped * spread).max(0.0))
}

/// A deterministic pseudo-random value in [0, 1) per camera and attempt, so cameras that failed
/// together do not retry together.
fn jitter_seed(camera: &CameraId, attempt: u32) -> f64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in camera.as_str().bytes().chain(attempt.to_le_bytes()) {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash ^= hash >> 33;
    hash = hash.wrapping_mul(0xff51_afd7_ed55_8ccd);
    hash ^= hash >> 33;
    (hash >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> LiveSettings {
        LiveSettings {
            watchdog: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(500),
            backoff_max: Duration::from_secs(8),
            backoff_jitter: 0.2,
            max_attempts: None,
            rtsp_latency_ms: 200,
            rtsp_transport: RtspTransport::Tcp,
        }
    }

    #[test]
    fn backoff_doubles_then_caps_within_jitter() {
        let settings = live();
        let middle = |attempt| backoff_delay(&settings, attempt, 0.5);
        assert_eq!(middle(1), Duration::from_millis(500));
        assert_eq!(middle(2), Duration::from_millis(1000));
        assert_eq!(middle(4), Duration::from_millis(4000));
        assert_eq!(middle(10), Duration::from_secs(8));
        assert_eq!(backoff_delay(&settings, 1, 0.0), Duration::from_millis(400));
        assert!(backoff_delay(&settings, 1, 0.999_999) < Duration::from_millis(601));
    }

    #[test]
    fn jitter_differs_between_cameras_and_stays_in_range() {
        let a = jitter_seed(&CameraId::new("a"), 1);
        let b = jitter_seed(&CameraId::new("b"), 1);
        assert_ne!(a, b);
        for attempt in 0..100 {
            let r = jitter_seed(&CameraId::new("cam"), attempt);
            assert!((0.0..1.0).contains(&r));
        }
    }
}
