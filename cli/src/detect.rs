//! `roadsight detect IMAGE...`: vehicles in still images, one JSON line per image.

use crate::paths::Locations;
use roadsight_models::detect::letterbox_rgb;
use roadsight_models::runtime::environment;
use roadsight_models::{
    Detection, Detector, DetectorOptions, Manifest, SessionOptions, Thresholds,
};
use serde::Serialize;
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

#[derive(Debug, Serialize)]
struct ImageResult<'a> {
    image: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    detections: Option<&'a [Detection]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
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
    let mut failures = 0usize;
    for path in &args.images {
        let name = path.display().to_string();
        let outcome = image::open(path)
            .map_err(|e| format!("cannot read image: {e}"))
            .and_then(|decoded| {
                let rgb = decoded.to_rgb8();
                let picture = letterbox_rgb(rgb.as_raw(), rgb.width(), rgb.height(), &spec);
                detector
                    .detect(&[&picture])
                    .map_err(|e| e.to_string())
                    .map(|mut all| all.pop().unwrap_or_default())
            });
        let line = match &outcome {
            Ok(detections) => ImageResult {
                image: name,
                detections: Some(detections),
                error: None,
            },
            Err(message) => {
                failures += 1;
                ImageResult {
                    image: name,
                    detections: None,
                    error: Some(message.clone()),
                }
            }
        };
        outln!("{}", serde_json::to_string(&line)?);
    }
    Ok(if failures > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
