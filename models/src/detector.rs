//! A vehicle detector: one ONNX Runtime session, its manifest entry, and the pure pre- and
//! post-processing of [`crate::detect`].
//!
//! [`Detector::open`] checks everything before the first frame: the file exists and matches its
//! sha256, the session's input matches the manifest's shape, and a warm-up run succeeds. Each
//! failure names the model, the expected and the actual value.

use crate::detect::{
    decode_yolov5, decode_yolov8, decode_yolox, fill_input, nms, tensor_spec_of, to_image_space,
    Detection, Thresholds,
};
use crate::manifest::{DecoderKind, HeadLayout, InputSpec, Layout, Manifest, ManifestError};
use crate::runtime::{open_session, RuntimeError, SessionOptions};
use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;
use roadsight_core::{TensorImage, TensorSpec};
use std::path::Path;
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum DetectorError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("model `{model}`: {what}: the manifest says {expected}, the model file has {actual}")]
    Mismatch {
        model: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("model `{model}`: {message}")]
    Unusable { model: String, message: String },
    #[error("model `{model}`: inference failed: {message}")]
    Inference { model: String, message: String },
}

/// Time spent per stage, summed over calls.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StageTimes {
    pub pre: Duration,
    pub inference: Duration,
    pub post: Duration,
    pub images: u64,
    pub runs: u64,
}

impl StageTimes {
    pub fn total(&self) -> Duration {
        self.pre + self.inference + self.post
    }
}

/// The manifest decoders that read a vehicle detector's head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VehicleDecoder {
    Yolox,
    Yolov8,
    Yolov5,
}

/// A detector ready to run.
#[derive(Debug)]
pub struct Detector {
    name: String,
    session: Session,
    input: InputSpec,
    decoder: VehicleDecoder,
    head_layout: HeadLayout,
    classes: usize,
    spec: TensorSpec,
    /// One image's tensor dimensions after the batch, from the manifest's input shape.
    image_dims: [usize; 3],
    /// Images per run: the model's fixed batch, or the configured one when it is dynamic.
    batch: usize,
    thresholds: Thresholds,
    input_buffer: Vec<f32>,
    times: StageTimes,
}

/// Build-time choices for a detector.
#[derive(Debug, Clone, Copy)]
pub struct DetectorOptions {
    pub session: SessionOptions,
    pub thresholds: Thresholds,
    /// Images per run when the model's batch is dynamic.
    pub batch: usize,
}

impl Default for DetectorOptions {
    fn default() -> Self {
        Self {
            session: SessionOptions::default(),
            thresholds: Thresholds::default(),
            batch: 1,
        }
    }
}

fn shape_text(shape: &[i64]) -> String {
    format!(
        "[{}]",
        shape
            .iter()
            .map(|d| if *d < 0 {
                "?".to_string()
            } else {
                d.to_string()
            })
            .collect::<Vec<_>>()
            .join(", ")
    )
}

impl Detector {
    /// Opens and warms up the detector `name` from the manifest.
    pub fn open(
        env: &Environment,
        manifest: &Manifest,
        models_dir: &Path,
        name: &str,
        options: DetectorOptions,
    ) -> Result<Self, DetectorError> {
        let entry = manifest.entry(name)?;
        let unusable = |message: String| DetectorError::Unusable {
            model: name.to_string(),
            message,
        };
        let input = entry
            .input
            .clone()
            .ok_or_else(|| unusable("the manifest gives no input spec".into()))?;
        let output = entry
            .output
            .clone()
            .ok_or_else(|| unusable("the manifest gives no output decoder".into()))?;
        let classes = match &output.classes {
            crate::manifest::ClassNames::Named(named) if named == "coco80" => 80,
            crate::manifest::ClassNames::List(list) => list.len(),
            crate::manifest::ClassNames::Named(other) => {
                return Err(unusable(format!("unknown class list `{other}`")))
            }
        };
        let decoder = match output.decoder {
            DecoderKind::Yolox => VehicleDecoder::Yolox,
            DecoderKind::Yolov8 => VehicleDecoder::Yolov8,
            DecoderKind::Yolov5 => VehicleDecoder::Yolov5,
            DecoderKind::Yolov5PlateCorners | DecoderKind::Ctc => {
                return Err(unusable(format!(
                    "decoder {:?} is not a vehicle detector",
                    output.decoder
                )))
            }
        };
        if input.layout == Layout::Nhwc {
            return Err(unusable(
                "input layout nhwc: detectors take nchw or nchw-focus".into(),
            ));
        }
        // YOLOv5 heads come anchors first and YOLOv8 heads channels first; only YOLOX reads both.
        let layout_read = match decoder {
            VehicleDecoder::Yolox => true,
            VehicleDecoder::Yolov8 => output.layout == HeadLayout::ChannelsFirst,
            VehicleDecoder::Yolov5 => output.layout == HeadLayout::AnchorsFirst,
        };
        if !layout_read {
            return Err(unusable(format!(
                "decoder {:?} does not read a {:?} head",
                output.decoder, output.layout
            )));
        }
        let spec = tensor_spec_of(&input)
            .ok_or_else(|| unusable("the input size must be fixed".into()))?;
        let image_dims = match input.shape[..] {
            [_, a, b, c] => [a, b, c].map(|d| usize::try_from(d).unwrap_or(0)),
            _ => [0; 3],
        };
        if image_dims.iter().product::<usize>() != 3 * (spec.width * spec.height) as usize {
            return Err(unusable(format!(
                "input shape {} does not hold one {}x{} picture",
                shape_text(&input.shape),
                spec.width,
                spec.height
            )));
        }
        let file = manifest.verified_file(name, models_dir)?;
        let session = open_session(env, name, &file, options.session)?;

        let session_input = session
            .inputs()
            .first()
            .ok_or_else(|| unusable("the model has no input".into()))?;
        let actual_shape: Vec<i64> = session_input
            .dtype()
            .tensor_shape()
            .map(|s| s.to_vec())
            .unwrap_or_default();
        let fits = actual_shape.len() == input.shape.len()
            && actual_shape
                .iter()
                .zip(&input.shape)
                .all(|(a, e)| a == e || (*a < 0 && *e < 0) || (*a < 0 && *e > 0));
        if !fits {
            return Err(DetectorError::Mismatch {
                model: name.to_string(),
                what: "input shape",
                expected: shape_text(&input.shape),
                actual: shape_text(&actual_shape),
            });
        }
        if session_input.name() != input.name {
            return Err(DetectorError::Mismatch {
                model: name.to_string(),
                what: "input name",
                expected: input.name.clone(),
                actual: session_input.name().to_string(),
            });
        }
        let batch = if actual_shape.first().is_some_and(|d| *d < 0) {
            options.batch.max(1)
        } else {
            usize::try_from(actual_shape[0]).unwrap_or(1).max(1)
        };
        let mut detector = Self {
            name: name.to_string(),
            session,
            input,
            decoder,
            head_layout: output.layout,
            classes,
            spec,
            image_dims,
            batch,
            thresholds: options.thresholds,
            input_buffer: Vec::new(),
            times: StageTimes::default(),
        };
        detector.warm_up()?;
        Ok(detector)
    }

    fn warm_up(&mut self) -> Result<(), DetectorError> {
        let blank = crate::detect::letterbox_rgb(&[], 0, 0, &self.spec);
        let images: Vec<&TensorImage> = std::iter::repeat_n(&blank, self.batch).collect();
        self.detect(&images)?;
        self.times = StageTimes::default();
        Ok(())
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The tensor picture this detector takes (ingest produces it).
    pub fn tensor_spec(&self) -> TensorSpec {
        self.spec
    }

    /// Images per inference run.
    pub fn batch_size(&self) -> usize {
        self.batch
    }

    pub fn times(&self) -> StageTimes {
        self.times
    }

    pub fn reset_times(&mut self) {
        self.times = StageTimes::default();
    }

    /// Detects vehicles in each picture; runs in groups of [`Self::batch_size`].
    /// Pictures must have this detector's [`TensorSpec`].
    pub fn detect(
        &mut self,
        images: &[&TensorImage],
    ) -> Result<Vec<Vec<Detection>>, DetectorError> {
        let mut results = Vec::with_capacity(images.len());
        for group in images.chunks(self.batch) {
            results.extend(self.run_group(group)?);
        }
        Ok(results)
    }

    fn run_group(&mut self, group: &[&TensorImage]) -> Result<Vec<Vec<Detection>>, DetectorError> {
        if let Some(wrong) = group.iter().find(|image| image.spec != self.spec) {
            return Err(DetectorError::Mismatch {
                model: self.name.clone(),
                what: "picture geometry",
                expected: format!("{:?}", self.spec),
                actual: format!("{:?}", wrong.spec),
            });
        }
        let started = Instant::now();
        let per_image: usize = self.image_dims.iter().product();
        // A fixed batch is filled up with copies of the last picture; their results are dropped.
        let run_size = self.batch.max(group.len());
        self.input_buffer.resize(run_size * per_image, 0.0);
        fill_input(
            group,
            &self.input,
            &mut self.input_buffer[..group.len() * per_image],
        );
        if group.len() < run_size {
            let (filled, rest) = self.input_buffer.split_at_mut(group.len() * per_image);
            let last = &filled[filled.len() - per_image..];
            for slot in rest.chunks_exact_mut(per_image) {
                slot.copy_from_slice(last);
            }
        }
        let prepared = Instant::now();
        let inference_error = |message: String| DetectorError::Inference {
            model: self.name.clone(),
            message,
        };
        let [d0, d1, d2] = self.image_dims;
        let shape = [run_size, d0, d1, d2];
        let tensor = TensorRef::from_array_view((shape, &self.input_buffer[..]))
            .map_err(|e| inference_error(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![self.input.name.as_str() => tensor])
            .map_err(|e| inference_error(e.to_string()))?;
        let inferred = Instant::now();
        let (output_shape, output) = outputs[0]
            .try_extract_tensor::<f32>()
            .map_err(|e| inference_error(e.to_string()))?;
        let per_run_values = output.len() / run_size.max(1);
        let threshold = self.thresholds.score;
        let mut results = Vec::with_capacity(group.len());
        for (index, image) in group.iter().enumerate() {
            let values = &output[index * per_run_values..(index + 1) * per_run_values];
            let candidates = match self.decoder {
                VehicleDecoder::Yolox => decode_yolox(
                    values,
                    self.spec.width,
                    self.spec.height,
                    self.classes,
                    threshold,
                    self.head_layout,
                ),
                VehicleDecoder::Yolov8 => {
                    let anchors = output_shape.last().copied().unwrap_or(0).max(0) as usize;
                    decode_yolov8(values, anchors, self.classes, threshold)
                }
                VehicleDecoder::Yolov5 => decode_yolov5(values, self.classes, threshold),
            };
            let kept = nms(candidates, self.thresholds.nms_iou);
            results.push(to_image_space(&kept, &image.letterbox));
        }
        let done = Instant::now();
        self.times.pre += prepared - started;
        self.times.inference += inferred - prepared;
        self.times.post += done - inferred;
        self.times.images += group.len() as u64;
        self.times.runs += 1;
        Ok(results)
    }
}
