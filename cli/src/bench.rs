//! `roadsight bench ...`: measurements against a limit or a peer, taken in the same run.

use crate::paths::Locations;
use crate::run::{detector_tensor_spec, DEFAULT_DETECTOR};
use anyhow::Context;
use cpu_time::ProcessTime;
use roadsight_core::config::SourceLocation;
use roadsight_core::{CameraId, SourceMode, SystemClock, Timestamp};
use roadsight_models::Manifest;
use roadsight_pipeline::reference::decode_to_fakesink;
use roadsight_pipeline::{
    AnalyticsRate, CameraSpec, Ingest, IngestSettings, LiveSettings, Popped, TensorSpec,
};
use serde::Serialize;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Subcommand)]
pub enum BenchCommand {
    /// Ingest throughput against plain decoding of the same file, per CPU-second.
    #[command(
        after_help = "Example:\n  roadsight bench ingest --clip .deps/demo/highway-720p-h264.mp4 --json\n  roadsight bench ingest --clip .deps/demo/highway-720p-h264.mp4 --analytics-fps 5 --json"
    )]
    Ingest(IngestBenchArgs),
    /// Detector throughput against the same model in Python onnxruntime, per CPU-second.
    #[command(
        after_help = "Example:\n  roadsight bench detect --json\n  roadsight bench detect --threads 2 --batch 4 --images ../shared/data/cars-plates/eu"
    )]
    Detect(DetectBenchArgs),
    /// Tracker updates per CPU-second against supervision's ByteTrack on the same detections.
    #[command(
        after_help = "Example:\n  roadsight bench track --json\n  roadsight bench track --objects 500 --frames 1000"
    )]
    Track(crate::bench_track::TrackBenchArgs),
    /// Plates per CPU-second on crops and photos against rapidocr-onnxruntime on the same crops.
    #[command(
        after_help = "Example:\n  roadsight bench plates --json\n  roadsight bench plates --count 400 --threads 1"
    )]
    Plates(crate::bench_plates::PlatesBenchArgs),
    /// One round of timing plans for a city of intersections, against a 10 ms budget.
    #[command(
        after_help = "Example:\n  roadsight bench signals --json\n  roadsight bench signals --intersections 500"
    )]
    Signals(crate::bench_signals::SignalsBenchArgs),
    /// Sighting inserts per second (SQLite, PostgreSQL) and plate-trace latency at 10 million sightings.
    #[command(
        after_help = "Example:\n  roadsight bench store --json\n  roadsight bench store --postgres postgres://postgres@127.0.0.1/test"
    )]
    Store(crate::bench_store::StoreBenchArgs),
}

#[derive(Debug, clap::Args)]
pub struct DetectBenchArgs {
    /// A folder of JPEG/PNG images (the first --count are used); default: the repository's
    /// ../shared/data/cars-plates/eu.
    #[arg(long)]
    pub(crate) images: Option<PathBuf>,
    /// How many images.
    #[arg(long, default_value_t = 24)]
    pub(crate) count: usize,
    /// Passes over the images, per side.
    #[arg(long, default_value_t = 3)]
    pub(crate) passes: usize,
    /// The detector, by manifest name.
    #[arg(long, default_value = DEFAULT_DETECTOR)]
    pub(crate) model: String,
    /// ONNX Runtime intra-op threads, on both sides.
    #[arg(long, default_value_t = 1)]
    pub(crate) threads: usize,
    /// Frames per batch for the batched measurement.
    #[arg(long, default_value_t = 4)]
    pub(crate) batch: usize,
    /// Print one JSON object.
    #[arg(long)]
    pub(crate) json: bool,
}

#[derive(Debug, clap::Args)]
pub struct IngestBenchArgs {
    /// The clip to decode (any file GStreamer plays).
    #[arg(long)]
    clip: PathBuf,
    /// Cameras playing the clip at once (the limit decodes as many copies at once).
    #[arg(long, default_value_t = 1)]
    cameras: usize,
    /// Analysed frames per second per camera; every frame when absent.
    #[arg(long)]
    analytics_fps: Option<f64>,
    /// Tensor size WxH; the detector's input size when absent.
    #[arg(long)]
    size: Option<String>,
    /// Measured pairs (limit, roadsight); the figures are medians.
    #[arg(long, default_value_t = 5)]
    runs: usize,
    /// Decoder threads per stream, on both sides.
    #[arg(long, default_value_t = 1)]
    decoder_threads: u32,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Clone, Copy, Serialize)]
struct Measured {
    frames: u64,
    analysed: u64,
    cpu_seconds: f64,
    wall_seconds: f64,
}

impl Measured {
    fn per_cpu_second(&self) -> f64 {
        self.frames as f64 / self.cpu_seconds.max(1e-9)
    }
}

#[derive(Debug, Serialize)]
struct IngestReport {
    clip: String,
    cameras: usize,
    size: String,
    analytics_fps: Option<f64>,
    runs: usize,
    /// Stream frames ingested per CPU-second by roadsight (median).
    frames_per_s: f64,
    /// Stream frames decoded per CPU-second by `uridecodebin ! fakesink` (median).
    limit_frames_per_s: f64,
    /// Median over runs of roadsight / limit, each pair measured back to back.
    ratio: f64,
    wall_frames_per_s: f64,
    limit_wall_frames_per_s: f64,
    frames_per_run: u64,
    analysed_per_run: u64,
    pairs: Vec<(Measured, Measured)>,
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

fn measure<F: FnOnce() -> anyhow::Result<(u64, u64)>>(work: F) -> anyhow::Result<Measured> {
    let cpu = ProcessTime::now();
    let wall = Instant::now();
    let (frames, analysed) = work()?;
    Ok(Measured {
        frames,
        analysed,
        cpu_seconds: cpu.elapsed().as_secs_f64(),
        wall_seconds: wall.elapsed().as_secs_f64(),
    })
}

fn limit_run(args: &IngestBenchArgs) -> anyhow::Result<(u64, u64)> {
    let handles: Vec<_> = (0..args.cameras)
        .map(|_| {
            let clip = args.clip.clone();
            let threads = args.decoder_threads;
            std::thread::spawn(move || decode_to_fakesink(&clip, threads))
        })
        .collect();
    let mut frames = 0;
    for handle in handles {
        frames += handle
            .join()
            .map_err(|_| anyhow::anyhow!("decode thread panicked"))??;
    }
    Ok((frames, 0))
}

fn ingest_run(args: &IngestBenchArgs, tensor: TensorSpec) -> anyhow::Result<(u64, u64)> {
    let cameras = (0..args.cameras)
        .map(|i| CameraSpec {
            id: CameraId::new(&format!("bench-{i}")),
            source: SourceLocation::File(args.clip.clone()),
            mode: SourceMode::Recorded,
            rate: args
                .analytics_fps
                .map_or(AnalyticsRate::EveryFrame, AnalyticsRate::PerSecond),
            start_time: Timestamp::UNIX_EPOCH,
        })
        .collect();
    let settings = IngestSettings {
        tensor,
        queue_depth: 4,
        decoder_threads: args.decoder_threads,
        open_timeout: roadsight_core::config::RuntimeConfig::default().open_timeout(),
        live: LiveSettings::from(&roadsight_core::config::LiveConfig::default()),
        keep_source: false,
    };
    let ingest = Ingest::start(cameras, settings, Arc::new(SystemClock))?;
    loop {
        while ingest.health().try_recv().is_ok() {}
        match ingest.frames().pop(Duration::from_millis(200)) {
            Popped::Frame(frame) => drop(frame),
            Popped::TimedOut => {}
            Popped::Finished => break,
        }
    }
    let stats = ingest.stats();
    ingest.shutdown();
    if let Some(failed) = stats.iter().find(|s| s.state == "failed") {
        anyhow::bail!(
            "camera {} failed: {}",
            failed.camera,
            failed.last_error.as_deref().unwrap_or("unknown")
        );
    }
    Ok((
        stats.iter().map(|s| s.frames_decoded).sum(),
        stats.iter().map(|s| s.frames_analysed).sum(),
    ))
}

fn parse_size(text: &str) -> anyhow::Result<(u32, u32)> {
    let (w, h) = text
        .split_once(['x', 'X'])
        .with_context(|| format!("--size `{text}`: expected WxH, e.g. 416x416"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|v| (16..=8192).contains(v))
            .with_context(|| format!("--size `{text}`: {v} is not a size in 16..=8192"))
    };
    Ok((parse(w)?, parse(h)?))
}

fn bench_ingest(args: &IngestBenchArgs) -> anyhow::Result<()> {
    let usage = |m: String| anyhow::Error::new(crate::UsageError(m));
    if !args.clip.is_file() {
        return Err(usage(format!(
            "--clip {}: no such file",
            args.clip.display()
        )));
    }
    if args.cameras == 0 || args.runs == 0 {
        return Err(usage("--cameras and --runs must be at least 1".into()));
    }
    let locations = Locations::resolve(None, None)?;
    let manifest = Manifest::load(&locations.manifest)?;
    let mut tensor = detector_tensor_spec(&manifest, DEFAULT_DETECTOR)?;
    if let Some(size) = &args.size {
        let (width, height) = parse_size(size).map_err(|e| usage(e.to_string()))?;
        tensor.width = width;
        tensor.height = height;
    }
    let show = !args.json && std::io::stderr().is_terminal();
    // One unmeasured pass of each warms the page cache and GStreamer's registry.
    limit_run(args)?;
    ingest_run(args, tensor)?;
    let mut pairs = Vec::new();
    for run in 0..args.runs {
        let (limit, ours) = if run % 2 == 0 {
            let limit = measure(|| limit_run(args))?;
            (limit, measure(|| ingest_run(args, tensor))?)
        } else {
            let ours = measure(|| ingest_run(args, tensor))?;
            (measure(|| limit_run(args))?, ours)
        };
        if show {
            eprintln!(
                "run {}/{}: limit {:.0} frames/CPU-s, roadsight {:.0} frames/CPU-s, ratio {:.3}",
                run + 1,
                args.runs,
                limit.per_cpu_second(),
                ours.per_cpu_second(),
                ours.per_cpu_second() / limit.per_cpu_second()
            );
        }
        pairs.push((limit, ours));
    }
    let report = IngestReport {
        clip: args.clip.display().to_string(),
        cameras: args.cameras,
        size: format!("{}x{}", tensor.width, tensor.height),
        analytics_fps: args.analytics_fps,
        runs: args.runs,
        frames_per_s: median(pairs.iter().map(|(_, o)| o.per_cpu_second()).collect()),
        limit_frames_per_s: median(pairs.iter().map(|(l, _)| l.per_cpu_second()).collect()),
        ratio: median(
            pairs
                .iter()
                .map(|(l, o)| o.per_cpu_second() / l.per_cpu_second())
                .collect(),
        ),
        wall_frames_per_s: median(
            pairs
                .iter()
                .map(|(_, o)| o.frames as f64 / o.wall_seconds)
                .collect(),
        ),
        limit_wall_frames_per_s: median(
            pairs
                .iter()
                .map(|(l, _)| l.frames as f64 / l.wall_seconds)
                .collect(),
        ),
        frames_per_run: pairs.first().map_or(0, |(_, o)| o.frames),
        analysed_per_run: pairs.first().map_or(0, |(_, o)| o.analysed),
        pairs,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        outln!(
            "ingest of {} ({} camera(s), tensor {}, {}):",
            report.clip,
            report.cameras,
            report.size,
            report
                .analytics_fps
                .map_or("every frame analysed".to_string(), |f| format!(
                    "{f} analysed fps"
                ))
        );
        outln!(
            "  roadsight {:.0} frames/CPU-s, limit (decode to fakesink) {:.0} frames/CPU-s, ratio {:.3} (median of {})",
            report.frames_per_s, report.limit_frames_per_s, report.ratio, report.runs
        );
    }
    Ok(())
}

pub fn bench(command: &BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Ingest(args) => bench_ingest(args),
        BenchCommand::Detect(args) => crate::bench_detect::bench_detect(args),
        BenchCommand::Track(args) => crate::bench_track::bench_track(args),
        BenchCommand::Plates(args) => crate::bench_plates::bench_plates(args),
        BenchCommand::Signals(args) => crate::bench_signals::bench_signals(args),
        BenchCommand::Store(args) => crate::bench_store::bench_store(args),
    }
}
