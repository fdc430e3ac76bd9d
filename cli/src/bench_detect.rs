//! `roadsight bench detect`: the detector against Python onnxruntime running the same model with
//! the same pre- and post-processing (`scripts/reference_detect.py`), in the same run, with the
//! same intra-op thread count. Both sides are counted in images per CPU-second of their process.
//!
//! When the benchmarked model is derived from another (`fetch.derive` in the manifest, such as
//! `yolox-nano-focus`), the peer runs the upstream model it was derived from, and roadsight is
//! also measured on that upstream model, so the report separates what the derivation gains from
//! what the rest of roadsight gains.

use crate::bench::DetectBenchArgs;
use crate::detect::open_detector;
use crate::paths::Locations;
use anyhow::Context;
use cpu_time::ProcessTime;
use roadsight_core::{BufferPool, TensorImage};
use roadsight_models::detect::letterbox_rgb_into;
use roadsight_models::{DetectorOptions, Fetch, Manifest, SessionOptions, StageTimes, Thresholds};
use serde::Serialize;
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

#[derive(Debug, Serialize)]
struct Side {
    images: u64,
    cpu_seconds: f64,
    wall_seconds: f64,
    images_per_cpu_s: f64,
    ms_per_image: f64,
    pre_share: f64,
    inference_share: f64,
    post_share: f64,
}

impl Side {
    fn new(
        images: u64,
        cpu: Duration,
        wall: Duration,
        pre: f64,
        inference: f64,
        post: f64,
    ) -> Self {
        let total = (pre + inference + post).max(1e-12);
        Self {
            images,
            cpu_seconds: cpu.as_secs_f64(),
            wall_seconds: wall.as_secs_f64(),
            images_per_cpu_s: images as f64 / cpu.as_secs_f64().max(1e-9),
            ms_per_image: wall.as_secs_f64() * 1000.0 / images.max(1) as f64,
            pre_share: pre / total,
            inference_share: inference / total,
            post_share: post / total,
        }
    }
}

#[derive(Debug, Serialize)]
struct DetectReport {
    model: String,
    /// The model the peer runs: the upstream one when `model` is derived.
    peer_model: String,
    threads: usize,
    images: usize,
    passes: usize,
    /// Images per inference run the model takes (fixed-batch models run grouped).
    model_batch: usize,
    batch_1: Side,
    batch_n: Side,
    requested_batch: usize,
    /// roadsight at batch 1 on the peer's model, when that differs from `model`.
    peer_model_batch_1: Option<Side>,
    peer: Side,
    /// Best roadsight images per CPU-second over the peer's.
    ratio: f64,
}

fn list_images(folder: &std::path::Path, count: usize) -> anyhow::Result<Vec<PathBuf>> {
    let mut images: Vec<PathBuf> = std::fs::read_dir(folder)
        .with_context(|| format!("--images {}", folder.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    images.sort();
    images.truncate(count);
    anyhow::ensure!(
        !images.is_empty(),
        "no JPEG or PNG images in {}",
        folder.display()
    );
    Ok(images)
}

pub fn bench_detect(args: &DetectBenchArgs) -> anyhow::Result<()> {
    let locations = Locations::resolve(None, None)?;
    let folder = args
        .images
        .clone()
        .unwrap_or_else(|| locations.repo.join("../shared/data/cars-plates/eu"));
    let paths = list_images(&folder, args.count)?;
    let decoded: Vec<image::RgbImage> = paths
        .iter()
        .map(|p| {
            image::open(p)
                .map(|i| i.to_rgb8())
                .with_context(|| p.display().to_string())
        })
        .collect::<anyhow::Result<_>>()?;
    let options = |batch| DetectorOptions {
        session: SessionOptions {
            intra_threads: args.threads,
            spinning: false,
        },
        thresholds: Thresholds::default(),
        batch,
    };

    let manifest = Manifest::load(&locations.manifest)?;
    let peer_model = match &manifest.entry(&args.model)?.fetch {
        Fetch::Derived { derive, .. } => derive.clone(),
        _ => args.model.clone(),
    };
    let measure = |model: &str, batch: usize| -> anyhow::Result<(Side, usize)> {
        let mut detector = open_detector(&locations, model, options(batch))?;
        let spec = detector.tensor_spec();
        // Pictures reuse their buffers, as ingest's frames do.
        let buffers = BufferPool::new(batch.max(1));
        let mut letterbox_time = Duration::ZERO;
        let cpu = ProcessTime::now();
        let wall = Instant::now();
        let mut images = 0u64;
        for _ in 0..args.passes {
            for chunk in decoded.chunks(batch.max(1)) {
                let started = Instant::now();
                let pictures: Vec<_> = chunk
                    .iter()
                    .map(|rgb| {
                        let mut planes = buffers.take();
                        let letterbox = letterbox_rgb_into(
                            rgb.as_raw(),
                            rgb.width(),
                            rgb.height(),
                            &spec,
                            planes.as_vec_mut(),
                        );
                        TensorImage {
                            spec,
                            letterbox,
                            planes,
                        }
                    })
                    .collect();
                letterbox_time += started.elapsed();
                let refs: Vec<_> = pictures.iter().collect();
                detector.detect(&refs)?;
                images += chunk.len() as u64;
            }
        }
        let (cpu, wall) = (cpu.elapsed(), wall.elapsed());
        let StageTimes {
            pre,
            inference,
            post,
            ..
        } = detector.times();
        Ok((
            Side::new(
                images,
                cpu,
                wall,
                (pre + letterbox_time).as_secs_f64(),
                inference.as_secs_f64(),
                post.as_secs_f64(),
            ),
            detector.batch_size(),
        ))
    };
    let (batch_1, model_batch) = measure(&args.model, 1)?;
    let (batch_n, _) = measure(&args.model, args.batch)?;
    let peer_model_batch_1 = if peer_model == args.model {
        None
    } else {
        Some(measure(&peer_model, 1)?.0)
    };

    let model_file = manifest.verified_file(&peer_model, &locations.models_dir)?;
    let python = locations.repo.join(".deps/venv/bin/python");
    let output = Command::new(&python)
        .arg(locations.repo.join("scripts/reference_detect.py"))
        .arg("--model")
        .arg(&model_file)
        .arg("--threads")
        .arg(args.threads.to_string())
        .arg("--bench")
        .arg(args.passes.to_string())
        .arg("--resize")
        .arg("cv2")
        .args(&paths)
        .output()
        .with_context(|| format!("running the Python peer with {}", python.display()))?;
    anyhow::ensure!(
        output.status.success(),
        "the Python peer failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let peer: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let number = |key: &str| peer[key].as_f64().unwrap_or(f64::NAN);
    let peer = Side::new(
        peer["images"].as_u64().unwrap_or(0),
        Duration::from_secs_f64(number("cpu_seconds")),
        Duration::from_secs_f64(number("wall_seconds")),
        number("pre_seconds"),
        number("inference_seconds"),
        number("post_seconds"),
    );
    let best = batch_1.images_per_cpu_s.max(batch_n.images_per_cpu_s);
    let report = DetectReport {
        model: args.model.clone(),
        peer_model,
        threads: args.threads,
        images: paths.len(),
        passes: args.passes,
        model_batch,
        requested_batch: args.batch,
        peer_model_batch_1,
        ratio: best / peer.images_per_cpu_s,
        batch_1,
        batch_n,
        peer,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        outln!(
            "model {} (the peer runs {})",
            report.model,
            report.peer_model
        );
        let on_peer_model = report.peer_model_batch_1.as_ref();
        for (name, side) in [
            ("roadsight batch 1", Some(&report.batch_1)),
            ("roadsight batch N", Some(&report.batch_n)),
            ("roadsight, peer's model", on_peer_model),
            ("python peer", Some(&report.peer)),
        ]
        .into_iter()
        .filter_map(|(name, side)| Some((name, side?)))
        {
            outln!(
                "{name:<24} {:>7.1} images/CPU-s {:>7.2} ms/image  pre {:>4.1}%  inference {:>4.1}%  post {:>4.1}%",
                side.images_per_cpu_s,
                side.ms_per_image,
                side.pre_share * 100.0,
                side.inference_share * 100.0,
                side.post_share * 100.0
            );
        }
        outln!("ratio (best roadsight / peer): {:.3}", report.ratio);
    }
    Ok(())
}
