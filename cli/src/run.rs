//! `roadsight run`: the main job.

use crate::paths::Locations;
use anyhow::Context;
use roadsight_core::{
    CameraHealth, Clock, Event, SystemClock, Timestamp, TrackPlate, VehicleClass, VehiclePass,
};
use roadsight_models::{DetectorOptions, Manifest, SessionOptions, Thresholds};
use roadsight_pipeline::{
    counts_csv_rows, CameraAnalytics, CameraSpec, CameraStats, CameraTrackers, DetectStage,
    DetectStageMetrics, DetectStageSettings, Ingest, IngestSettings, LiveSettings, Next,
    PlateEvent, PlateStage, PlateStageCounters, PlateStageSettings, TensorSpec, VehiclePassEvent,
    COUNTS_CSV_HEADER,
};
use roadsight_plate_reader::{PlateReader, ReaderOptions};
use serde::Serialize;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::io::IsTerminal;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use roadsight_core::config::DEFAULT_DETECTOR;

#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The city config (TOML).
    #[arg(long)]
    pub config: PathBuf,
    /// Stop after this many seconds (live cameras otherwise run until Ctrl-C).
    #[arg(long)]
    pub duration: Option<f64>,
    /// Print JSON lines (health records, then one summary) instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the line and turning-movement counts per interval and class to this CSV file.
    #[arg(long)]
    pub counts_csv: Option<PathBuf>,
    /// Write each plate's evidence (JPEG of the vehicle) here, as CAMERA-TRACK.jpg (it is in
    /// the store in any case).
    #[arg(long)]
    pub evidence_dir: Option<PathBuf>,
    /// The event store, overriding the config's `[store] url`: `sqlite:PATH` or
    /// `postgres://user@host:port/db`.
    #[arg(long)]
    pub store: Option<String>,
    /// With an `[api]` in the config: keep serving the API after the cameras finish, until
    /// Ctrl-C (the demo uses this to leave a browsable API).
    #[arg(long)]
    pub keep_serving: bool,
    /// Only these cameras (comma-separated ids): a shard of the city.
    #[arg(long, value_delimiter = ',')]
    pub cameras: Option<Vec<String>>,
}

/// The tensor picture a detector model wants, from its manifest entry.
pub fn detector_tensor_spec(manifest: &Manifest, model: &str) -> anyhow::Result<TensorSpec> {
    let input = manifest
        .entry(model)?
        .input
        .as_ref()
        .with_context(|| format!("model `{model}` has no input spec in the manifest"))?;
    roadsight_models::detect::tensor_spec_of(input)
        .with_context(|| format!("model `{model}` has no fixed input size"))
}

#[derive(Debug, Serialize)]
struct CameraSummary {
    camera: String,
    state: &'static str,
    frames_decoded: u64,
    frames_analysed: u64,
    analysed_fps: f64,
    frames_dropped: u64,
    reconnects: u64,
    frames_detected: u64,
    vehicles: u64,
    vehicles_by_class: BTreeMap<VehicleClass, u64>,
    /// Distinct confirmed tracks (vehicles followed over frames).
    tracks: u64,
    line_crossings: u64,
    movements: u64,
    max_queue: u32,
    /// Plates read and voted over tracks (sure ones; candidates are in the plate counters).
    plates: u64,
    first_capture: Option<String>,
    last_capture: Option<String>,
    last_error: Option<String>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Output<'a> {
    Summary {
        city: &'a str,
        wall_seconds: f64,
        detector: &'a str,
        detection: DetectStageMetrics,
        #[serde(skip_serializing_if = "Option::is_none")]
        plates: Option<PlateStageCounters>,
        #[serde(skip_serializing_if = "Option::is_none")]
        signals: Option<crate::signals::SignalCounters>,
        store: &'a crate::events::StoreReport,
        cameras: &'a [CameraSummary],
    },
}

/// Prints an event as a JSON line (the wire form), with the evidence file it was written to.
fn print_event(event: &Event, evidence_file: Option<&str>) -> anyhow::Result<()> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        v: u32,
        #[serde(flatten)]
        event: &'a Event,
        #[serde(skip_serializing_if = "Option::is_none")]
        evidence_file: Option<&'a str>,
    }
    let line = Line {
        v: roadsight_core::EVENT_SCHEMA_VERSION,
        event,
        evidence_file,
    };
    outln!("{}", serde_json::to_string(&line)?);
    Ok(())
}

/// A voted plate or a plate-less pass: its evidence to the store (and to `--evidence-dir`),
/// the event to the store, and a line to the terminal.
fn report_plate(
    event: PlateEvent,
    sink: &crate::events::EventSink,
    evidence_dir: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    let (voted, appearance) = match event {
        PlateEvent::Plate { voted, appearance } => (voted, appearance),
        PlateEvent::Pass(pass) => return report_pass(pass, sink, evidence_dir, json),
    };
    let (evidence, evidence_file) = store_evidence(
        voted.evidence,
        &voted.camera,
        voted.track,
        sink,
        evidence_dir,
    )?;
    let at = evidence.as_ref().map_or(voted.last_seen, |e| e.taken_at);
    let plate = TrackPlate {
        camera: voted.camera,
        track: voted.track,
        text: voted.plate.text,
        formatted: voted.plate.formatted,
        confidence: voted.plate.confidence,
        char_confidence: voted.plate.char_confidence,
        rows: voted.plate.rows,
        valid: voted.plate.valid,
        reads: voted.reads,
        agreeing: voted.agreeing,
        first_seen: voted.first_seen,
        last_seen: voted.last_seen,
        at,
        evidence: evidence.map(|e| e.address),
        candidate: voted.candidate,
        appearance,
    };
    let said = format!(
        "{} camera {} track {}: {} {} (confidence {:.2}, {} of {} reads agree)",
        plate.last_seen.to_rfc3339(),
        plate.camera,
        plate.track.0,
        if plate.candidate {
            "candidate plate"
        } else {
            "plate"
        },
        plate.formatted,
        plate.confidence,
        plate.agreeing,
        plate.reads,
    );
    tell(Event::Plate(plate), &said, evidence_file, sink, json)
}

/// A track read for its plate in vain: as [`report_plate`], as a `vehicle_pass` event.
fn report_pass(
    pass: VehiclePassEvent,
    sink: &crate::events::EventSink,
    evidence_dir: Option<&std::path::Path>,
    json: bool,
) -> anyhow::Result<()> {
    let (evidence, evidence_file) =
        store_evidence(pass.evidence, &pass.camera, pass.track, sink, evidence_dir)?;
    let line = VehiclePass {
        camera: pass.camera,
        track: pass.track,
        reads: pass.reads as usize,
        first_seen: pass.first_seen,
        last_seen: pass.last_seen,
        at: evidence.as_ref().map_or(pass.last_seen, |e| e.taken_at),
        appearance: pass.appearance,
        evidence: evidence.map(|e| e.address),
    };
    let said = format!(
        "{} camera {} track {}: no plate voted over {} reads",
        line.last_seen.to_rfc3339(),
        line.camera,
        line.track.0,
        line.reads,
    );
    tell(Event::VehiclePass(line), &said, evidence_file, sink, json)
}

/// An event with evidence: `said` (and where the evidence file went) to the terminal, or the
/// event as a JSON line with `--json`; then to the store.
fn tell(
    line: Event,
    said: &str,
    evidence_file: Option<String>,
    sink: &crate::events::EventSink,
    json: bool,
) -> anyhow::Result<()> {
    if json {
        print_event(&line, evidence_file.as_deref())?;
    } else {
        let evidence = evidence_file
            .map(|file| format!(", evidence {file}"))
            .unwrap_or_default();
        eprintln!("{said}{evidence}");
    }
    sink.event(line)
}

/// Stored evidence: when it was taken and its content address.
struct StoredEvidence {
    taken_at: Timestamp,
    address: String,
}

/// Puts an evidence JPEG in the store (and in `--evidence-dir` as CAMERA-TRACK.jpg): what was
/// stored, and the file written.
fn store_evidence(
    evidence: Option<(Timestamp, Vec<u8>)>,
    camera: &roadsight_core::CameraId,
    track: roadsight_core::TrackId,
    sink: &crate::events::EventSink,
    evidence_dir: Option<&std::path::Path>,
) -> anyhow::Result<(Option<StoredEvidence>, Option<String>)> {
    let Some((taken_at, jpeg)) = evidence else {
        return Ok((None, None));
    };
    let mut evidence_file = None;
    if let Some(dir) = evidence_dir {
        let file = dir.join(format!("{camera}-{}.jpg", track.0));
        std::fs::write(&file, &jpeg)
            .with_context(|| format!("writing evidence {}", file.display()))?;
        evidence_file = Some(file.display().to_string());
    }
    let address = sink.evidence("image/jpeg", jpeg, taken_at)?;
    Ok((Some(StoredEvidence { taken_at, address }), evidence_file))
}

fn report_plans(
    decisions: Vec<roadsight_signal_control::planning::PlanDecision>,
    sink: &crate::events::EventSink,
    json: bool,
) -> anyhow::Result<()> {
    for decision in decisions {
        if !json {
            eprintln!("{}", plan_line(&decision));
        }
        let event = Event::TimingPlan(decision);
        if json {
            print_event(&event, None)?;
        }
        sink.event(event)?;
    }
    Ok(())
}

/// A timing plan as one line for the terminal.
fn plan_line(decision: &roadsight_signal_control::planning::PlanDecision) -> String {
    let splits: Vec<String> = decision
        .plan
        .splits
        .iter()
        .map(|split| format!("{} {:.0} s", split.phase, split.green_s))
        .collect();
    format!(
        "plan {}: cycle {:.0} s, offset {:.0} s, greens {} ({:?}{}{})",
        decision.plan.intersection,
        decision.plan.cycle_s,
        decision.plan.offset_s,
        splits.join(", "),
        decision.basis,
        decision
            .corridor
            .as_deref()
            .map(|c| format!(", corridor {c}"))
            .unwrap_or_default(),
        decision
            .reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default(),
    )
}

/// Every camera health record queued so far: to the signal planner, the terminal and the
/// store. Returns how many of them say a camera failed for good.
fn report_health(
    health: &std::sync::mpsc::Receiver<CameraHealth>,
    mut signals: Option<&mut crate::signals::Signals>,
    progress: Option<&indicatif::ProgressBar>,
    sink: &crate::events::EventSink,
    json: bool,
) -> anyhow::Result<usize> {
    let mut failed = 0;
    while let Ok(record) = health.try_recv() {
        failed += usize::from(matches!(
            record.state,
            roadsight_core::HealthState::Failed { .. }
        ));
        if let Some(signals) = signals.as_deref_mut() {
            signals.on_health(&record);
        }
        let event = Event::CameraHealth(record);
        match progress {
            Some(bar) => bar.suspend(|| print_health(&event, json)),
            None => print_health(&event, json),
        }
        sink.event(event)?;
    }
    Ok(failed)
}

fn print_health(event: &Event, json: bool) {
    let Event::CameraHealth(record) = event else {
        return;
    };
    if json {
        if let Err(error) = print_event(event, None) {
            eprintln!("camera {}: cannot print its health: {error}", record.camera);
        }
        return;
    }
    let detail = match &record.state {
        roadsight_core::HealthState::Connected => String::new(),
        roadsight_core::HealthState::Stalled { silent_for_ms } => {
            format!(" (no frame for {:.1} s)", *silent_for_ms as f64 / 1000.0)
        }
        roadsight_core::HealthState::Reconnecting {
            attempt,
            retry_in_ms,
            cause,
        } => format!(" (attempt {attempt} in {retry_in_ms} ms: {cause})"),
        roadsight_core::HealthState::Failed { cause } => format!(": {cause}"),
        roadsight_core::HealthState::Finished { frames } => format!(" ({frames} frames analysed)"),
    };
    eprintln!(
        "{} camera {} {}{}",
        record.at,
        record.camera,
        record.state.name(),
        detail
    );
}

/// Detection results gathered per camera.
#[derive(Debug, Default)]
struct CameraDetections {
    frames: u64,
    vehicles: u64,
    by_class: BTreeMap<VehicleClass, u64>,
    crossings: u64,
    movements: u64,
    max_queue: u32,
    plates: u64,
}

fn summarise(
    stats: &[CameraStats],
    detections: &HashMap<String, CameraDetections>,
    trackers: &CameraTrackers,
    wall: Duration,
) -> Vec<CameraSummary> {
    stats
        .iter()
        .map(|s| {
            let detected = detections.get(s.camera.as_str());
            CameraSummary {
                camera: s.camera.to_string(),
                state: s.state,
                frames_decoded: s.frames_decoded,
                frames_analysed: s.frames_analysed,
                analysed_fps: s.frames_analysed as f64 / wall.as_secs_f64().max(1e-9),
                frames_dropped: s.frames_dropped,
                reconnects: s.reconnects,
                frames_detected: detected.map_or(0, |d| d.frames),
                vehicles: detected.map_or(0, |d| d.vehicles),
                vehicles_by_class: detected.map(|d| d.by_class.clone()).unwrap_or_default(),
                tracks: trackers
                    .counters(&s.camera)
                    .map_or(0, |c| c.tracks_confirmed),
                line_crossings: detected.map_or(0, |d| d.crossings),
                movements: detected.map_or(0, |d| d.movements),
                max_queue: detected.map_or(0, |d| d.max_queue),
                plates: detected.map_or(0, |d| d.plates),
                first_capture: s.first_capture.map(|t| t.to_rfc3339()),
                last_capture: s.last_capture.map(|t| t.to_rfc3339()),
                last_error: s.last_error.clone(),
            }
        })
        .collect()
}

fn print_table(
    city: &str,
    summaries: &[CameraSummary],
    detection: &DetectStageMetrics,
    wall: Duration,
) {
    outln!("city {city}: {:.1} s", wall.as_secs_f64());
    outln!(
        "{:<20} {:<9} {:>8} {:>8} {:>6} {:>7} {:>6} {:>8} {:>8} {:>6} {:>8} {:>6}  detections by class / note",
        "camera",
        "state",
        "decoded",
        "analysed",
        "fps",
        "dropped",
        "reconn",
        "detected",
        "boxes",
        "tracks",
        "crossed",
        "plates"
    );
    for s in summaries {
        let classes = s
            .vehicles_by_class
            .iter()
            .map(|(class, n)| format!("{} {n}", class.name()))
            .collect::<Vec<_>>()
            .join(", ");
        outln!(
            "{:<20} {:<9} {:>8} {:>8} {:>6.1} {:>7} {:>6} {:>8} {:>8} {:>6} {:>8} {:>6}  {}{}",
            s.camera,
            s.state,
            s.frames_decoded,
            s.frames_analysed,
            s.analysed_fps,
            s.frames_dropped,
            s.reconnects,
            s.frames_detected,
            s.vehicles,
            s.tracks,
            s.line_crossings,
            s.plates,
            classes,
            s.last_error
                .as_deref()
                .map(|e| format!(" {e}"))
                .unwrap_or_default()
        );
    }
    outln!(
        "detection: {} frames in {} batches (fill {:.0} %), latency mean {:.1} ms, max {:.1} ms, {} errors",
        detection.frames_in,
        detection.batches,
        detection.batch_fill * 100.0,
        detection.mean_latency_ms,
        detection.max_latency_ms,
        detection.errors
    );
}

/// What the job is: the all-in-one main job, or an ingest worker feeding the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    AllInOne,
    Worker,
}

pub fn run(args: &RunArgs) -> anyhow::Result<ExitCode> {
    run_as(args, Mode::AllInOne)
}

pub fn run_as(args: &RunArgs, mode: Mode) -> anyhow::Result<ExitCode> {
    let mut config = crate::load_config(&args.config)?;
    if let Some(shard) = &args.cameras {
        let unknown: Vec<&String> = shard
            .iter()
            .filter(|id| !config.cameras.iter().any(|c| &c.id == *id))
            .collect();
        if !unknown.is_empty() {
            return Err(crate::UsageError(format!(
                "--cameras: no camera {unknown:?} in {}",
                args.config.display()
            ))
            .into());
        }
        config.cameras.retain(|camera| shard.contains(&camera.id));
    }
    let locations = Locations::resolve(
        config.paths.models_dir.as_deref(),
        config.paths.onnxruntime.as_deref(),
    )?;
    let detector_config = &config.detector;
    let detectors = (0..detector_config.workers)
        .map(|_| {
            crate::detect::open_detector(
                &locations,
                &detector_config.model,
                DetectorOptions {
                    session: SessionOptions {
                        intra_threads: detector_config.intra_threads,
                        spinning: false,
                    },
                    thresholds: Thresholds {
                        score: detector_config.score,
                        nms_iou: detector_config.nms_iou,
                    },
                    batch: detector_config.batch_size,
                },
            )
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut plates = if config.plates.enabled {
        let manifest = Manifest::load(&locations.manifest)?;
        let env = roadsight_models::runtime::environment(&locations.onnxruntime)?;
        let reader = PlateReader::open(
            env,
            &manifest,
            &locations.models_dir,
            &ReaderOptions {
                session: SessionOptions {
                    intra_threads: config.plates.intra_threads,
                    spinning: false,
                },
                detector: config.plates.detector.clone(),
                close_detector: (!config.plates.close_detector.is_empty())
                    .then(|| config.plates.close_detector.clone()),
                recogniser: config.plates.recogniser.clone(),
                second_recogniser: (!config.plates.second_recogniser.is_empty())
                    .then(|| config.plates.second_recogniser.clone()),
                second_opinion_below: config.plates.second_opinion_below,
                ..ReaderOptions::default()
            },
        )?;
        Some(PlateStage::new(
            reader,
            PlateStageSettings::from(&config.plates),
        ))
    } else {
        None
    };
    if let Some(dir) = &args.evidence_dir {
        std::fs::create_dir_all(dir).map_err(|e| {
            anyhow::Error::new(crate::UsageError(format!(
                "--evidence-dir {}: {e}",
                dir.display()
            )))
        })?;
    }
    let tensor = detectors
        .first()
        .map(|d| d.tensor_spec())
        .context("no detector workers")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let run_start = clock.now();
    let cameras: Vec<CameraSpec> = config
        .resolved_cameras()
        .iter()
        .map(|camera| CameraSpec::from_config(camera, run_start))
        .collect();
    let settings = IngestSettings {
        tensor,
        queue_depth: config.runtime.queue_depth,
        decoder_threads: config.runtime.decoder_threads,
        open_timeout: config.runtime.open_timeout(),
        live: LiveSettings::from(&config.runtime.live),
        keep_source: config.plates.enabled,
    };
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        // A second Ctrl-C while shutting down falls through to the default handler.
        let _ = ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst));
    }
    let mut signals = crate::signals::Signals::start(&config, Arc::clone(&clock))?;
    let store_url = match &args.store {
        Some(url) => url.clone(),
        None => config.store.resolved_url(&config.base_dir),
    };
    let destination = match &mode {
        Mode::AllInOne => crate::events::Destination::Store(crate::open_store(&store_url)?),
        Mode::Worker => crate::events::Destination::Broker(Box::new(
            roadsight_broker::Publisher::connect(&config.broker)?,
        )),
    };
    let mut sink = crate::events::EventSink::start(
        destination,
        config.store.retention,
        config.store.queue_depth,
        config.store.batch_size,
        Arc::clone(&clock),
        Duration::from_secs(30),
    )?;
    let api = match (&config.api, &mode) {
        (Some(api), Mode::AllInOne) => {
            let server = crate::serve::start_api(&config, api, &store_url, Arc::clone(&clock))?;
            eprintln!(
                "API on http://{} (OpenAPI at /api/openapi.json)",
                server.address()
            );
            sink = sink.with_live(server.live());
            Some(server)
        }
        _ => None,
    };
    let mut last_capture: Option<roadsight_core::Timestamp> = None;
    let ingest = Ingest::start(cameras, settings, Arc::clone(&clock))?;
    let stage = DetectStage::start(
        Arc::clone(ingest.frames()),
        detectors,
        DetectStageSettings {
            batch_size: detector_config.batch_size,
            batch_timeout: Duration::from_millis(detector_config.batch_timeout_ms),
            output_depth: 64,
        },
    )?;
    let started = Instant::now();
    let progress = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let bar = indicatif::ProgressBar::new_spinner();
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {elapsed} {msg}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar
    });
    let mut detections: HashMap<String, CameraDetections> = HashMap::new();
    let mut trackers =
        CameraTrackers::new(roadsight_tracking::TrackerSettings::from(&config.tracker));
    let interval = Duration::from_secs(config.runtime.count_interval_s);
    let mut analytics: HashMap<String, CameraAnalytics> = config
        .resolved_cameras()
        .iter()
        .map(|camera| {
            (
                camera.id.to_string(),
                CameraAnalytics::new(camera, interval, config.runtime.pcu),
            )
        })
        .collect();
    // Counts are written as their intervals close, so a long run keeps none in memory.
    let mut counts_file = match &args.counts_csv {
        Some(file) => {
            let mut writer = std::fs::File::create(file)
                .map(std::io::BufWriter::new)
                .map_err(|e| {
                    anyhow::Error::new(crate::UsageError(format!(
                        "--counts-csv {}: {e}",
                        file.display()
                    )))
                })?;
            writer.write_all(COUNTS_CSV_HEADER.as_bytes())?;
            Some(writer)
        }
        None => None,
    };
    let mut total: u64 = 0;
    let mut failed_cameras = 0usize;
    let deadline = args.duration.map(|s| started + Duration::from_secs_f64(s));
    loop {
        failed_cameras += report_health(
            ingest.health(),
            signals.as_mut(),
            progress.as_ref(),
            &sink,
            args.json,
        )?;
        if interrupted.load(Ordering::SeqCst) || deadline.is_some_and(|d| Instant::now() >= d) {
            break;
        }
        match stage.next(Duration::from_millis(100)) {
            Next::Frame(frame) => {
                let camera = detections.entry(frame.camera.to_string()).or_default();
                camera.frames += 1;
                camera.vehicles += frame.detections.len() as u64;
                for detection in &frame.detections {
                    *camera.by_class.entry(detection.class).or_default() += 1;
                }
                let update = trackers.step(&frame);
                if let Some(stage) = plates.as_mut() {
                    // A failed read costs this frame's plates, never the run.
                    match stage.step(&frame, &update) {
                        Ok(events) => {
                            camera.plates +=
                                events.iter().filter(|e| e.is_sure_plate()).count() as u64;
                            for event in events {
                                report_plate(
                                    event,
                                    &sink,
                                    args.evidence_dir.as_deref(),
                                    args.json,
                                )?;
                            }
                        }
                        Err(e) => eprintln!("camera {}: plate reading failed: {e}", frame.camera),
                    }
                }
                if let Some(camera_analytics) = analytics.get_mut(frame.camera.as_str()) {
                    let events = camera_analytics.step(&update);
                    camera.crossings += events.crossings.len() as u64;
                    camera.movements += events.movements.len() as u64;
                    camera.max_queue = events
                        .zones
                        .iter()
                        .map(|z| z.queue)
                        .fold(camera.max_queue, u32::max);
                    if let Some(writer) = counts_file.as_mut() {
                        writer
                            .write_all(counts_csv_rows(&events.counts).as_bytes())
                            .and_then(|()| writer.flush())
                            .context("writing --counts-csv")?;
                    }
                    if let Some(signals) = signals.as_mut() {
                        signals.on_frame(&frame.camera, frame.captured_at, &events);
                        let decisions = signals.due_round(frame.captured_at);
                        match &progress {
                            Some(bar) => {
                                bar.suspend(|| report_plans(decisions, &sink, args.json))?
                            }
                            None => report_plans(decisions, &sink, args.json)?,
                        }
                    }
                    for crossing in events.crossings {
                        sink.event(Event::Crossing(crossing))?;
                    }
                    for movement in events.movements {
                        sink.event(Event::Movement(movement))?;
                    }
                    for count in events.counts {
                        sink.event(Event::FlowCount(count))?;
                    }
                }
                last_capture =
                    Some(last_capture.map_or(frame.captured_at, |t| t.max(frame.captured_at)));
                total += 1;
                if let Some(bar) = &progress {
                    if total.is_multiple_of(25) {
                        let rate = total as f64 / started.elapsed().as_secs_f64().max(1e-9);
                        bar.set_message(format!(
                            "{total} frames detected over {} cameras, {rate:.0} frames/s",
                            detections.len()
                        ));
                        bar.tick();
                    }
                }
            }
            Next::TimedOut => {}
            Next::Finished => break,
        }
    }
    let wall = started.elapsed();
    // Health records emitted while the last frames drained.
    failed_cameras += report_health(
        ingest.health(),
        signals.as_mut(),
        progress.as_ref(),
        &sink,
        args.json,
    )?;
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }
    let plate_counters = match plates.as_mut() {
        Some(stage) => {
            for event in stage.finish() {
                if let Some(camera) = detections.get_mut(event.camera().as_str()) {
                    camera.plates += u64::from(event.is_sure_plate());
                }
                report_plate(event, &sink, args.evidence_dir.as_deref(), args.json)?;
            }
            Some(stage.counters())
        }
        None => None,
    };
    // A last round on everything counted, so a recorded run always ends with plans.
    let signal_counters = match signals.take() {
        Some(mut signals) => {
            if let Some(at) = last_capture {
                report_plans(signals.round(at), &sink, args.json)?;
            }
            Some(signals.finish(Duration::from_secs(10)))
        }
        None => None,
    };
    let stats = ingest.stats();
    let detection = stage.metrics();
    ingest.shutdown();
    drop(stage);
    // The intervals still open close now: to the CSV and to the store.
    for camera_analytics in analytics.values_mut() {
        let counts = camera_analytics.flush();
        if let Some(writer) = counts_file.as_mut() {
            writer.write_all(counts_csv_rows(&counts).as_bytes())?;
        }
        for count in counts {
            sink.event(Event::FlowCount(count))?;
        }
    }
    if let Some(mut writer) = counts_file.take() {
        writer.flush().context("writing --counts-csv")?;
    }
    let store_report = sink.finish();
    let summaries = summarise(&stats, &detections, &trackers, wall);
    if args.json {
        outln!(
            "{}",
            serde_json::to_string(&Output::Summary {
                city: &config.name,
                wall_seconds: wall.as_secs_f64(),
                detector: &config.detector.model,
                detection,
                plates: plate_counters,
                signals: signal_counters,
                store: &store_report,
                cameras: &summaries,
            })?
        );
    } else {
        print_table(&config.name, &summaries, &detection, wall);
        if let Some(signals) = &signal_counters {
            println!(
                "signals: {} rounds, {} plans ({} on counts, {} fallbacks), {} sent to controllers, {} send failures, {} dropped",
                signals.rounds,
                signals.plans,
                signals.plans_on_counts,
                signals.fallbacks,
                signals.sent,
                signals.send_failures,
                signals.dropped
            );
        }
    }
    if !args.json {
        println!(
            "store {}: {} events stored ({} already there), {} evidence images{}",
            store_report.store,
            store_report.events,
            store_report.duplicates,
            store_report.evidence,
            if store_report.not_stored > 0 {
                format!(", {} NOT stored", store_report.not_stored)
            } else {
                String::new()
            }
        );
    }
    if let Some(server) = api {
        if args.keep_serving {
            eprintln!(
                "cameras done; the API stays up on http://{} until Ctrl-C",
                server.address()
            );
            while !interrupted.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(200));
            }
        }
        server.stop();
    }
    Ok(if failed_cameras > 0 || store_report.not_stored > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
