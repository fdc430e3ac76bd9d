//! `roadsight eval tracking`: the real pipeline (real decode, the real detector, the tracker and
//! the counting analytics) over generated footage, scored against its exact ground truth.

use crate::paths::Locations;
use anyhow::Context;
use roadsight_core::config::{
    CountDirection, LineConfig, LiveConfig, ResolvedCamera, SourceLocation,
};
use roadsight_core::{CameraId, PcuWeights, SourceMode, SystemClock, Timestamp};
use roadsight_models::{DetectorOptions, SessionOptions, Thresholds};
use roadsight_pipeline::{
    AnalyticsRate, CameraAnalytics, CameraSpec, CameraTrackers, DetectStage, DetectStageSettings,
    Ingest, IngestSettings, LiveSettings, Next,
};
use roadsight_tracking::mot::{clear_mot, drop_ignored, read_mot, write_mot, MotRow, MotScores};
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, clap::Subcommand)]
pub enum EvalCommand {
    /// Tracking and counting accuracy on generated footage (roadsight fixtures generate).
    #[command(
        after_help = "Example:\n  roadsight fixtures generate --scenario fixtures/scenarios/straight-road.toml --seed 1 --out /tmp/eval/straight\n  roadsight eval tracking --scenario-dir /tmp/eval --json"
    )]
    Tracking {
        /// A generated scenario folder, or a folder of them.
        #[arg(long)]
        scenario_dir: PathBuf,
        /// The vehicle detector, by manifest name.
        #[arg(long, default_value = crate::run::DEFAULT_DETECTOR)]
        model: String,
        /// Print one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Plate-reading accuracy on labelled plate crops and car photos.
    #[command(
        after_help = "Example:\n  roadsight eval plates --crops-dir ../shared/data/plates-vn --photos-dir ../shared/data/cars-plates/eu --photos-dir ../shared/data/cars-plates/us --json"
    )]
    Plates(crate::plates::EvalPlatesArgs),
    /// Route tracing on a generated corridor, through the real main job.
    #[command(
        after_help = "Example:\n  roadsight fixtures generate --scenario fixtures/scenarios/corridor.toml --seed 1 --out /tmp/corridor\n  roadsight eval routes --scenario-dir /tmp/corridor --json"
    )]
    Routes(crate::eval_routes::EvalRoutesArgs),
}

#[derive(Debug, Serialize)]
struct ScenarioResult {
    scenario: String,
    folder: String,
    frames: u64,
    #[serde(flatten)]
    scores: MotScores,
    /// Largest relative error of a line's count over the clip's intervals.
    count_error: f64,
    counts: Vec<LineCount>,
}

#[derive(Debug, Serialize)]
struct LineCount {
    line: String,
    truth: u64,
    counted: u64,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    mota: f64,
    idf1: f64,
    id_switches: u64,
    count_error: f64,
    scenarios: Vec<ScenarioResult>,
}

fn scenario_folders(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    if dir.join("meta.json").is_file() {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut folders: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("--scenario-dir {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("meta.json").is_file())
        .collect();
    folders.sort();
    anyhow::ensure!(
        !folders.is_empty(),
        "{} holds no generated scenario (a folder with meta.json, video.mp4 and gt/gt.txt)",
        dir.display()
    );
    Ok(folders)
}

fn evaluate(locations: &Locations, folder: &Path, model: &str) -> anyhow::Result<ScenarioResult> {
    let meta: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(folder.join("meta.json"))
            .with_context(|| format!("{}/meta.json", folder.display()))?,
    )?;
    let camera_id = CameraId::new("eval");
    let lines: Vec<LineConfig> = meta["lines"]
        .as_array()
        .map(|lines| {
            lines
                .iter()
                .filter_map(|l| {
                    let point = |key: &str| -> Option<[f64; 2]> {
                        Some([l[key][0].as_f64()?, l[key][1].as_f64()?])
                    };
                    Some(LineConfig {
                        id: l["id"].as_str()?.to_string(),
                        from: point("from")?,
                        to: point("to")?,
                        count: CountDirection::Both,
                        hysteresis_px: 4.0,
                        lane: None,
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let interval = meta["count_interval_s"].as_f64().unwrap_or(900.0);
    let detector = crate::detect::open_detector(
        locations,
        model,
        DetectorOptions {
            session: SessionOptions {
                intra_threads: 2,
                spinning: false,
            },
            thresholds: Thresholds::default(),
            batch: 1,
        },
    )?;
    let tensor = detector.tensor_spec();
    let ingest = Ingest::start(
        vec![CameraSpec {
            id: camera_id.clone(),
            source: SourceLocation::File(folder.join("video.mp4")),
            mode: SourceMode::Recorded,
            rate: AnalyticsRate::EveryFrame,
            start_time: Timestamp::UNIX_EPOCH,
        }],
        IngestSettings {
            tensor,
            queue_depth: 8,
            decoder_threads: 1,
            open_timeout: roadsight_core::config::RuntimeConfig::default().open_timeout(),
            live: LiveSettings::from(&LiveConfig::default()),
            keep_source: false,
        },
        Arc::new(SystemClock),
    )?;
    let stage = DetectStage::start(
        Arc::clone(ingest.frames()),
        vec![detector],
        DetectStageSettings {
            batch_size: 1,
            batch_timeout: Duration::from_millis(5),
            output_depth: 16,
        },
    )?;
    // The tracker as the main job runs it by default (`[tracker]` of a config left empty).
    let mut trackers = CameraTrackers::new(roadsight_tracking::TrackerSettings::from(
        &roadsight_core::config::TrackerConfig::default(),
    ));
    let camera = ResolvedCamera {
        id: camera_id,
        source: SourceLocation::File(folder.join("video.mp4")),
        mode: SourceMode::Recorded,
        analytics_fps: 0.0,
        start_time: None,
        intersection: None,
        approach: None,
        lines,
        movements: Vec::new(),
        zones: Vec::new(),
        road_from_image: None,
    };
    let mut analytics = CameraAnalytics::new(
        &camera,
        Duration::from_secs_f64(interval),
        PcuWeights::default(),
    );
    let mut predictions = Vec::new();
    // Every raw detection with its score (MOTChallenge det.txt), to tell detector misses
    // from tracker ones (scripts/tracking_misses.py).
    let mut detections = Vec::new();
    let mut counted: HashMap<String, u64> = HashMap::new();
    loop {
        while ingest.health().try_recv().is_ok() {}
        match stage.next(Duration::from_secs(60)) {
            Next::Frame(frame) => {
                anyhow::ensure!(frame.error.is_none(), "{:?}", frame.error);
                detections.extend(frame.detections.iter().map(|d| MotRow {
                    frame: frame.seq + 1,
                    id: 0,
                    bbox: d.bbox_image.map(f64::from),
                    confidence: f64::from(d.score),
                    visibility: -1.0,
                }));
                let update = trackers.step(&frame);
                for track in &update.tracks {
                    let [x, y, w, h] = track.bbox_image.map(f64::from);
                    predictions.push(MotRow {
                        frame: frame.seq + 1,
                        id: track.id.0,
                        bbox: [x, y, w, h],
                        confidence: f64::from(track.score),
                        visibility: -1.0,
                    });
                }
                for crossing in analytics.step(&update).crossings {
                    *counted.entry(crossing.line).or_default() += 1;
                }
            }
            Next::TimedOut => anyhow::bail!("no frame for 60 s from {}", folder.display()),
            Next::Finished => break,
        }
    }
    let failed = ingest.stats().into_iter().find(|s| s.state == "failed");
    ingest.shutdown();
    if let Some(failed) = failed {
        anyhow::bail!(
            "{}: {}",
            folder.display(),
            failed.last_error.unwrap_or_default()
        );
    }
    let truth = read_mot(
        &std::fs::read_to_string(folder.join("gt/gt.txt"))
            .with_context(|| format!("{}/gt/gt.txt", folder.display()))?,
    )
    .map_err(|e| anyhow::anyhow!("{}/gt/gt.txt: {e}", folder.display()))?;
    std::fs::write(folder.join("pred.txt"), write_mot(&predictions))?;
    std::fs::write(folder.join("det.txt"), write_mot(&detections))?;
    let (gt_kept, pred_kept) = drop_ignored(&truth, &predictions, 0.3);
    std::fs::write(folder.join("gt_eval.txt"), write_mot(&gt_kept))?;
    std::fs::write(folder.join("pred_eval.txt"), write_mot(&pred_kept))?;
    let scores = clear_mot(&gt_kept, &pred_kept);

    // Count error: per line over the clip (the clips are shorter than a counting interval).
    let mut truth_counts: HashMap<String, u64> = HashMap::new();
    for line in std::fs::read_to_string(folder.join("crossings.csv"))?
        .lines()
        .skip(1)
    {
        if let Some(id) = line.split(',').nth(1) {
            *truth_counts.entry(id.to_string()).or_default() += 1;
        }
    }
    let mut counts: Vec<LineCount> = truth_counts
        .iter()
        .map(|(line, truth)| LineCount {
            line: line.clone(),
            truth: *truth,
            counted: counted.get(line).copied().unwrap_or(0),
        })
        .collect();
    counts.sort_by(|a, b| a.line.cmp(&b.line));
    let count_error = counts
        .iter()
        .map(|c| (c.counted as f64 - c.truth as f64).abs() / (c.truth.max(1) as f64))
        .fold(0.0, f64::max);
    Ok(ScenarioResult {
        scenario: meta["scenario"].as_str().unwrap_or("?").to_string(),
        folder: folder.display().to_string(),
        frames: meta["frames"].as_u64().unwrap_or(0),
        scores,
        count_error,
        counts,
    })
}

pub fn eval(command: &EvalCommand) -> anyhow::Result<()> {
    let (scenario_dir, model, json) = match command {
        EvalCommand::Tracking {
            scenario_dir,
            model,
            json,
        } => (scenario_dir, model, json),
        EvalCommand::Plates(args) => return crate::plates::eval_plates(args),
        EvalCommand::Routes(args) => return crate::eval_routes::eval_routes(args),
    };
    let locations = Locations::resolve(None, None)?;
    let mut scenarios = Vec::new();
    for folder in scenario_folders(scenario_dir)? {
        scenarios.push(evaluate(&locations, &folder, model)?);
    }
    // Overall scores pool the counts of all scenarios, as MOTChallenge does across sequences.
    let sum = |f: fn(&MotScores) -> u64| scenarios.iter().map(|s| f(&s.scores)).sum::<u64>();
    let (gt, fn_, fp, sw) = (
        sum(|s| s.ground_truth),
        sum(|s| s.false_negatives),
        sum(|s| s.false_positives),
        sum(|s| s.id_switches),
    );
    let (idtp, preds) = (sum(|s| s.idtp), sum(|s| s.matches + s.false_positives));
    let report = Report {
        model: model.clone(),
        mota: 1.0 - (fn_ + fp + sw) as f64 / gt.max(1) as f64,
        idf1: 2.0 * idtp as f64 / (gt + preds).max(1) as f64,
        id_switches: sw,
        count_error: scenarios.iter().map(|s| s.count_error).fold(0.0, f64::max),
        scenarios,
    };
    if *json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        for s in &report.scenarios {
            outln!(
                "{:<26} MOTA {:.3}  IDF1 {:.3}  ID switches {:>3}  count error {:.3}  ({} frames)",
                s.scenario,
                s.scores.mota,
                s.scores.idf1,
                s.scores.id_switches,
                s.count_error,
                s.frames
            );
        }
        outln!(
            "overall                    MOTA {:.3}  IDF1 {:.3}  ID switches {:>3}  count error {:.3}",
            report.mota, report.idf1, report.id_switches, report.count_error
        );
    }
    Ok(())
}
