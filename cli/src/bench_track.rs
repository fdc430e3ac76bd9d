//! `roadsight bench track`: tracker updates per CPU-second at several scene sizes, against the
//! ByteTrack of PyPI `supervision` on the same detections (`scripts/peer_track.py`), in the same
//! run.

use crate::paths::Locations;
use anyhow::Context;
use cpu_time::ProcessTime;
use roadsight_core::Timestamp;
use roadsight_tracking::{Tracker, TrackerSettings};
use serde::Serialize;
use std::process::Command;
use std::time::Duration;

#[derive(Debug, clap::Args)]
pub struct TrackBenchArgs {
    /// Vehicles per frame, comma-separated.
    #[arg(long, default_value = "10,100,500", value_delimiter = ',')]
    objects: Vec<usize>,
    /// Frames per scene.
    #[arg(long, default_value_t = 300)]
    frames: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Row {
    objects: usize,
    updates: usize,
    updates_per_s: f64,
    peer_updates_per_s: f64,
    ratio: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    frames: usize,
    frame_rate: u32,
    peer: String,
    results: Vec<Row>,
}

const FRAME_RATE: u32 = 10;

pub fn bench_track(args: &TrackBenchArgs) -> anyhow::Result<()> {
    let locations = Locations::resolve(None, None)?;
    let python = locations.repo.join(".deps/venv/bin/python");
    let settings = TrackerSettings::default();
    let mut results = Vec::new();
    let mut peer_version = String::new();
    for &objects in &args.objects {
        let scene = roadsight_fixtures::synthetic_detections(objects, args.frames, 0x5eed);
        let interval = Duration::from_secs(1) / FRAME_RATE;
        // Ours: best of three passes (each a fresh tracker over the whole scene).
        let mut best = f64::INFINITY;
        for _ in 0..3 {
            let mut tracker = Tracker::new(settings);
            let cpu = ProcessTime::now();
            for (index, detections) in scene.iter().enumerate() {
                std::hint::black_box(tracker.update(
                    detections,
                    Timestamp::UNIX_EPOCH.plus(interval * index as u32),
                ));
            }
            best = best.min(cpu.elapsed().as_secs_f64());
        }
        let ours = scene.len() as f64 / best.max(1e-9);

        let file = tempfile_path(objects)?;
        let frames: Vec<Vec<[f32; 5]>> = scene
            .iter()
            .map(|d| {
                d.iter()
                    .map(|d| {
                        let [x, y, w, h] = d.bbox_image;
                        [x, y, w, h, d.score]
                    })
                    .collect()
            })
            .collect();
        std::fs::write(
            &file,
            serde_json::to_vec(&serde_json::json!({
                "frame_rate": FRAME_RATE,
                "lost_seconds": settings.max_lost.as_secs_f64(),
                "high_score": settings.high_score,
                "frames": frames,
            }))?,
        )?;
        let output = Command::new(&python)
            .arg(locations.repo.join("scripts/peer_track.py"))
            .arg(&file)
            .output()
            .with_context(|| format!("running the tracker peer with {}", python.display()))?;
        let _ = std::fs::remove_file(&file);
        anyhow::ensure!(
            output.status.success(),
            "the tracker peer failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let peer: serde_json::Value = serde_json::from_slice(&output.stdout)?;
        peer_version = format!(
            "supervision {} ByteTrack",
            peer["supervision"].as_str().unwrap_or("?")
        );
        let theirs = peer["updates_per_s"].as_f64().unwrap_or(f64::NAN);
        results.push(Row {
            objects,
            updates: scene.len(),
            updates_per_s: ours,
            peer_updates_per_s: theirs,
            ratio: ours / theirs,
        });
    }
    let report = Report {
        frames: args.frames,
        frame_rate: FRAME_RATE,
        peer: peer_version,
        results,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        outln!(
            "tracker updates per CPU-second ({} frames per scene), peer: {}",
            report.frames,
            report.peer
        );
        for row in &report.results {
            outln!(
                "  {:>4} vehicles/frame: roadsight {:>9.0}  peer {:>7.0}  ratio {:>6.1}",
                row.objects,
                row.updates_per_s,
                row.peer_updates_per_s,
                row.ratio
            );
        }
    }
    Ok(())
}

fn tempfile_path(objects: usize) -> anyhow::Result<std::path::PathBuf> {
    Ok(std::env::temp_dir().join(format!(
        "roadsight-track-bench-{}-{objects}.json",
        std::process::id()
    )))
}
