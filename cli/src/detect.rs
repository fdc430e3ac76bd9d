//! `roadsight detect IMAGE...`: vehicles in still images, one JSON line per image.

use crate::images::print_per_image;
use crate::paths::Locations;
use roadsight_models::detect::letterbox_rgb;
use roadsight_models::runtime::environment;
use roadsight_models::{Detector, DetectorOptions, Manifest, SessionOptions, Thresholds};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// The detector, by its name in models/manifest.toml.
    #[arg(long, default_value = crate::run::DEFAULT_DETECTOR)]
    pub model: String,
    /// Minimum score.
    #[arg(long, default_value_t = Thresholds::default().score)]
    pub score: f32,
    /// IoU above which overlapping boxes are merged.
    #[arg(long, default_value_t = Thresholds::default().nms_iou)]
    pub nms_iou: f32,
    /// ONNX Runtime intra-op threads.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
    /// Images (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// Opens the detector `model` with the repository's (or the environment's) runtime and models.
pub fn open_detector(
    locations: &Locations,
    model: &str,
    options: DetectorOptions,
) -> anyhow::Result<Detector> {
    let manifest = Manifest::load(&locations.manifest)?;
    let env = environment(&locations.onnxruntime)?;
    Ok(Detector::open(
        env,
        &manifest,
        &locations.models_dir,
        model,
        options,
    )?)
}

pub fn detect(args: &DetectArgs) -> anyhow::Result<ExitCode> {
    let locations = Locations::resolve(None, None)?;
    let mut detector = open_detector(
        &locations,
        &args.model,
        DetectorOptions {
            session: SessionOptions {
                intra_threads: args.threads,
                spinning: false,
            },
            thresholds: Thresholds {
                score: args.score,
                nms_iou: args.nms_iou,
            },
            batch: 1,
        },
    )?;
    let spec = detector.tensor_spec();
    print_per_image(&args.images, "detections", |decoded| {
        let picture = letterbox_rgb(&decoded.rgb, decoded.width, decoded.height, &spec);
        detector
            .detect(&[&picture])
            .map_err(|e| e.to_string())
            .map(|mut all| all.pop().unwrap_or_default())
    })
}
