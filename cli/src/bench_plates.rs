//! `roadsight bench plates`: plates per CPU-second on plate crops, and on whole car photos
//! (detect and read), against rapidocr-onnxruntime (`scripts/peer_plates.py`) reading the same
//! crops in the same run with the same intra-op thread count.

use crate::images::Decoded;
use crate::paths::Locations;
use crate::plates::{open_reader, ModelArgs};
use anyhow::Context;
use cpu_time::ProcessTime;
use roadsight_plate_reader::{normalise, Region};
use serde::Serialize;
use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[derive(Debug, clap::Args)]
pub struct PlatesBenchArgs {
    /// Plate crops (labels.csv + images/); default ../shared/data/plates-vn.
    #[arg(long)]
    crops_dir: Option<PathBuf>,
    /// Car photos; default ../shared/data/cars-plates/eu.
    #[arg(long)]
    photos_dir: Option<PathBuf>,
    /// Crops (and photos) used, the first in file order.
    #[arg(long, default_value_t = 200)]
    count: usize,
    /// Crops per reader call when batched (their lines share recogniser runs).
    #[arg(long, default_value_t = 16)]
    batch: usize,
    #[command(flatten)]
    models: ModelArgs,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Side {
    plates: u64,
    cpu_seconds: f64,
    wall_seconds: f64,
    plates_per_cpu_s: f64,
    ms_per_plate: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    accuracy: Option<f64>,
    /// Plates the second recogniser was asked about.
    second_opinions: u64,
}

impl Side {
    fn new(plates: u64, cpu: f64, wall: f64, accuracy: Option<f64>, second_opinions: u64) -> Self {
        Self {
            second_opinions,
            plates,
            cpu_seconds: cpu,
            wall_seconds: wall,
            plates_per_cpu_s: plates as f64 / cpu.max(1e-9),
            ms_per_plate: wall * 1000.0 / plates.max(1) as f64,
            accuracy,
        }
    }
}

#[derive(Debug, Serialize)]
struct PlatesReport {
    detector: String,
    close_detector: String,
    recogniser: String,
    /// The recogniser asked about unsure reads, if any.
    second_recogniser: Option<String>,
    threads: usize,
    crops_batch_1: Side,
    crops_batched: Side,
    batch: usize,
    photos: Side,
    peer: serde_json::Value,
    /// Best roadsight crops per CPU-second over the peer's.
    ratio: f64,
}

pub fn bench_plates(args: &PlatesBenchArgs) -> anyhow::Result<()> {
    let locations = Locations::resolve(None, None)?;
    let crops_dir = args
        .crops_dir
        .clone()
        .unwrap_or_else(|| locations.repo.join("../shared/data/plates-vn"));
    let photos_dir = args
        .photos_dir
        .clone()
        .unwrap_or_else(|| locations.repo.join("../shared/data/cars-plates/eu"));
    let labels_file = crops_dir.join("labels.csv");
    let labels = std::fs::read_to_string(&labels_file)
        .with_context(|| format!("reading {}", labels_file.display()))?;
    let mut crops: Vec<(Decoded, String)> = Vec::new();
    for row in labels.lines().skip(1).take(args.count) {
        let mut fields = row.split(',');
        let (Some(file), Some(text)) = (fields.next(), fields.next()) else {
            anyhow::bail!("{}: bad row `{row}`", labels_file.display());
        };
        // The peer skips what it cannot decode; so does this side.
        if let Ok(decoded) = Decoded::open(&crops_dir.join("images").join(file)) {
            crops.push((decoded, normalise(text)));
        }
    }
    let mut photos: Vec<PathBuf> = std::fs::read_dir(&photos_dir)
        .with_context(|| format!("reading {}", photos_dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "jpg"))
        .collect();
    photos.sort();
    photos.truncate(args.count);
    let photos: Vec<Decoded> = photos
        .iter()
        .map(|p| Decoded::open(p).map_err(|e| anyhow::anyhow!("{}: {e}", p.display())))
        .collect::<anyhow::Result<_>>()?;

    let mut reader = open_reader(&args.models)?;
    let mut measure_crops = |batch: usize| -> anyhow::Result<Side> {
        let opinions_before = reader.times().second_opinions;
        let cpu = ProcessTime::now();
        let wall = Instant::now();
        let mut exact = 0u64;
        for chunk in crops.chunks(batch.max(1)) {
            let inputs: Vec<_> = chunk
                .iter()
                .filter_map(|(d, _)| d.view().map(|v| (v, Region::Crop)))
                .collect();
            let reads = reader.read(&inputs)?;
            exact += reads
                .iter()
                .zip(chunk)
                .filter(|(plates, (_, truth))| {
                    plates.first().is_some_and(|p| &p.plate.text == truth)
                })
                .count() as u64;
        }
        Ok(Side::new(
            crops.len() as u64,
            cpu.elapsed().as_secs_f64(),
            wall.elapsed().as_secs_f64(),
            Some(exact as f64 / crops.len().max(1) as f64),
            reader.times().second_opinions - opinions_before,
        ))
    };
    let crops_batch_1 = measure_crops(1)?;
    let crops_batched = measure_crops(args.batch)?;
    let opinions_before = reader.times().second_opinions;
    let cpu = ProcessTime::now();
    let wall = Instant::now();
    for photo in &photos {
        if let Some(view) = photo.view() {
            reader.read(&[(view, Region::Whole)])?;
        }
    }
    let photos_side = Side::new(
        photos.len() as u64,
        cpu.elapsed().as_secs_f64(),
        wall.elapsed().as_secs_f64(),
        None,
        reader.times().second_opinions - opinions_before,
    );

    let python = locations.repo.join(".deps/venv/bin/python");
    let output = Command::new(&python)
        .arg(locations.repo.join("scripts/peer_plates.py"))
        .arg("--crops-dir")
        .arg(&crops_dir)
        .arg("--count")
        .arg(args.count.to_string())
        .arg("--threads")
        .arg(args.models.threads.to_string())
        .output()
        .with_context(|| format!("running the peer with {}", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "the peer (scripts/peer_plates.py) failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peer: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let peer_rate = peer["plates_per_cpu_s"].as_f64().unwrap_or(f64::NAN);
    let best = crops_batch_1
        .plates_per_cpu_s
        .max(crops_batched.plates_per_cpu_s);
    let report = PlatesReport {
        detector: args.models.detector.clone(),
        close_detector: args.models.close_detector.clone(),
        recogniser: args.models.recogniser.clone(),
        second_recogniser: reader
            .second
            .is_some()
            .then(|| args.models.second_recogniser.clone()),
        threads: args.models.threads,
        batch: args.batch,
        ratio: best / peer_rate,
        crops_batch_1,
        crops_batched,
        photos: photos_side,
        peer,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        let line = |name: &str, side: &Side| {
            format!(
                "{name:<22} {:>7.1} plates/CPU-s {:>7.2} ms/plate{}, {} second opinions",
                side.plates_per_cpu_s,
                side.ms_per_plate,
                side.accuracy
                    .map_or(String::new(), |a| format!("  exact {:.1}%", a * 100.0)),
                side.second_opinions
            )
        };
        outln!("{}", line("roadsight crops, 1", &report.crops_batch_1));
        outln!("{}", line("roadsight crops, batch", &report.crops_batched));
        outln!("{}", line("roadsight photos", &report.photos));
        outln!(
            "{:<22} {:>7.1} plates/CPU-s               exact {:.1}%",
            "rapidocr (peer)",
            peer_rate,
            report.peer["accuracy"].as_f64().unwrap_or(f64::NAN) * 100.0
        );
        outln!("ratio (best roadsight crops / peer): {:.2}", report.ratio);
    }
    Ok(())
}
