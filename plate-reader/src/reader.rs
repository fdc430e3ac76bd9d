//! [`PlateReader`]: the plate detector and the text recogniser, each an ONNX Runtime session
//! checked against the model manifest and warmed up when it opens, around the pure stages
//! ([`crate::locate`], [`crate::line`], [`crate::ctc`], [`crate::grammar`]).

use crate::ctc::{Charset, ReadChar};
use crate::geometry::{Quad, RgbView};
use crate::grammar::{
    interpret, lowest, read_round_glyph_as_zero, vietnamese_in_shape, PlateText, MIN_PLATE_CHARS,
};
use crate::line::{compose_line, middle_texture_ratio, LineImage, LineSpec};
use crate::locate::{
    decode_y5fu, rows_from_aspect, suppress_overlaps, to_image_space, LocatedPlate,
};
use ort::environment::Environment;
use ort::session::Session;
use ort::value::TensorRef;
use roadsight_core::geometry::iou;
use roadsight_core::TensorImage;
use roadsight_core::TensorSpec;
use roadsight_models::detect::{fill_input, letterbox_rgb_into, tensor_spec_of};
use roadsight_models::manifest::{
    ClassNames, Colour, DecoderKind, InputSpec, Manifest, ManifestError, OutputSpec,
};
use roadsight_models::runtime::{open_session, RuntimeError, SessionOptions};
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};

/// Default plate detectors and recogniser (names in `models/manifest.toml`): the detector of
/// scenes, and the one of close views (a small vehicle's crop, a plate crop).
pub const DEFAULT_PLATE_DETECTOR: &str = "hyperlpr3-plate-640";
pub const DEFAULT_CLOSE_PLATE_DETECTOR: &str = "hyperlpr3-plate-320";
pub const DEFAULT_RECOGNISER: &str = "roadsight-plate-rec";
/// Default second recogniser, asked about the reads the first is unsure of.
pub const DEFAULT_SECOND_RECOGNISER: &str = "ppocrv6-small-rec";

#[derive(Debug, thiserror::Error)]
pub enum PlateError {
    #[error(transparent)]
    Manifest(#[from] ManifestError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("model {model}: {message}")]
    Unusable { model: String, message: String },
    #[error("model {model}: {what} is {actual}, expected {expected}")]
    Mismatch {
        model: String,
        what: &'static str,
        expected: String,
        actual: String,
    },
    #[error("model {model}: inference failed: {message}")]
    Inference { model: String, message: String },
}

/// How the reader runs.
#[derive(Debug, Clone, PartialEq)]
pub struct ReaderOptions {
    pub session: SessionOptions,
    /// The plate detector of scenes, and of close views it suits better than `close_detector`.
    pub detector: String,
    /// The plate detector of close views (by default a smaller picture than `detector`'s).
    /// Each close view (a vehicle's crop or box, a plate crop) goes to the one of the two whose
    /// picture is nearest its size ([`PlateReader::detector_for`]): a vehicle 150-300 px wide
    /// is enlarged less by a 320x320 picture than by 640x640, and HyperLPR3 finds small plates
    /// better so. Scenes ([`Region::Whole`]) and the zoomed second look at a plate found in one
    /// stay with `detector`. `None`: `detector` for every view.
    pub close_detector: Option<String>,
    pub recogniser: String,
    /// Minimum plate-detector score.
    pub detector_score: f32,
    pub detector_nms_iou: f32,
    /// Lines per recogniser run at most.
    pub recogniser_batch: usize,
    /// A second recogniser, by name in the manifest, asked about every read the first is unsure
    /// of (see [`is_sure`]); [`prefers_second`] keeps one of the two reads. `None`: one
    /// recogniser only.
    pub second_recogniser: Option<String>,
    /// A first read that is a grammar-valid Vietnamese plate with at least this confidence
    /// (its lowest character's) stands without a second opinion.
    pub second_opinion_below: f32,
    /// Whether a scene ([`Region::Whole`]) whose first look leaves a plate under
    /// `second_opinion_below` confidence, or finds none, is read again at each of
    /// [`SCENE_VIEW_SCALES`], each plate keeping the text its views agree on
    /// ([`agree_across_views`]).
    pub scene_views: bool,
}

impl Default for ReaderOptions {
    fn default() -> Self {
        Self {
            session: SessionOptions::default(),
            detector: DEFAULT_PLATE_DETECTOR.to_string(),
            close_detector: Some(DEFAULT_CLOSE_PLATE_DETECTOR.to_string()),
            recogniser: DEFAULT_RECOGNISER.to_string(),
            detector_score: 0.3,
            detector_nms_iou: 0.5,
            recogniser_batch: 32,
            second_recogniser: Some(DEFAULT_SECOND_RECOGNISER.to_string()),
            second_opinion_below: 0.9,
            scene_views: true,
        }
    }
}

/// One plate found and read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlateRead {
    /// Corners TL, TR, BR, BL in image pixels.
    pub corners: Quad,
    pub bbox: [f32; 4],
    /// The plate detector's score, or `None` when the whole crop was taken as the plate.
    pub detector_score: Option<f32>,
    #[serde(flatten)]
    pub plate: PlateText,
}

impl PlateRead {
    /// Moves the read from an image scaled by `scale` back to the image's own pixels.
    fn unscale(&mut self, scale: f32) {
        self.corners = Quad(self.corners.0.map(|[x, y]| [x / scale, y / scale]));
        self.bbox = self.bbox.map(|v| v / scale);
    }

    /// The corners the plate was read from: [`Self::corners`] widened by the read margin when
    /// the detector found them ([`read_corners`]).
    pub fn read_corners(&self) -> Quad {
        read_corners(&self.corners, self.detector_score.is_some())
    }
}

/// A plate read, with the rectified line it was read from (evidence, training data).
pub type PlateWithLine = (PlateRead, LineImage);

/// The margin added to a detected plate's corners before it is read, as fractions of its
/// width and height: the detector's corners sit on the plate's edge, and the margin keeps edge
/// characters whole.
const READ_MARGIN_X: f32 = 0.02;
const READ_MARGIN_Y: f32 = 0.05;

/// The corners a plate is read from: `corners` widened by the read margin when the plate
/// detector found them, as they are otherwise (a crop taken whole, a rectified picture).
fn read_corners(corners: &Quad, detected: bool) -> Quad {
    if detected {
        corners.grown(READ_MARGIN_X, READ_MARGIN_Y)
    } else {
        *corners
    }
}

/// Time spent per stage, summed over calls.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ReaderTimes {
    pub locate: Duration,
    pub rectify: Duration,
    pub recognise: Duration,
    pub plates: u64,
    /// Plates the second recogniser was asked about.
    pub second_opinions: u64,
    /// Scenes read again at other scales ([`ReaderOptions::scene_views`]).
    pub scenes_reread: u64,
    /// Vehicle crops in which the close views' detector found no plate, searched again with
    /// the scenes' detector.
    pub vehicles_relocated: u64,
}

fn unusable(model: &str, message: impl Into<String>) -> PlateError {
    PlateError::Unusable {
        model: model.to_string(),
        message: message.into(),
    }
}

/// The manifest's input and output specs of `name`, which must use `decoder`.
fn specs_of(
    manifest: &Manifest,
    name: &str,
    decoder: DecoderKind,
    wrong_kind: &str,
) -> Result<(InputSpec, OutputSpec), PlateError> {
    let entry = manifest.entry(name)?;
    let input = entry
        .input
        .clone()
        .ok_or_else(|| unusable(name, "the manifest gives no input spec"))?;
    let output = entry
        .output
        .clone()
        .ok_or_else(|| unusable(name, "the manifest gives no output decoder"))?;
    if output.decoder != decoder {
        return Err(unusable(name, wrong_kind));
    }
    Ok((input, output))
}

fn check_input(model: &str, session: &Session, input: &InputSpec) -> Result<(), PlateError> {
    let first = session
        .inputs()
        .first()
        .ok_or_else(|| unusable(model, "the model has no input"))?;
    let actual: Vec<i64> = first
        .dtype()
        .tensor_shape()
        .map(|s| s.to_vec())
        .unwrap_or_default();
    let fits = actual.len() == input.shape.len()
        && actual
            .iter()
            .zip(&input.shape)
            .all(|(a, e)| a == e || *a < 0);
    let text = |s: &[i64]| format!("{s:?}");
    if !fits {
        return Err(PlateError::Mismatch {
            model: model.to_string(),
            what: "input shape",
            expected: text(&input.shape),
            actual: text(&actual),
        });
    }
    if first.name() != input.name {
        return Err(PlateError::Mismatch {
            model: model.to_string(),
            what: "input name",
            expected: input.name.clone(),
            actual: first.name().to_string(),
        });
    }
    Ok(())
}

/// The plate detector (HyperLPR3 `y5fu`).
#[derive(Debug)]
pub struct PlateDetector {
    name: String,
    session: Session,
    input: InputSpec,
    spec: TensorSpec,
    score: f32,
    nms_iou: f32,
    picture: TensorImage,
    tensor: Vec<f32>,
}

impl PlateDetector {
    pub fn open(
        env: &Environment,
        manifest: &Manifest,
        models_dir: &Path,
        name: &str,
        options: &ReaderOptions,
    ) -> Result<Self, PlateError> {
        let (input, _) = specs_of(
            manifest,
            name,
            DecoderKind::Yolov5PlateCorners,
            "not a plate detector (decoder yolov5-plate-corners)",
        )?;
        let spec =
            tensor_spec_of(&input).ok_or_else(|| unusable(name, "the input size must be fixed"))?;
        let file = manifest.verified_file(name, models_dir)?;
        let session = open_session(env, name, &file, options.session)?;
        check_input(name, &session, &input)?;
        let mut detector = Self {
            name: name.to_string(),
            session,
            input,
            spec,
            score: options.detector_score,
            nms_iou: options.detector_nms_iou,
            picture: roadsight_models::detect::letterbox_rgb(&[], 0, 0, &spec),
            tensor: Vec::new(),
        };
        let blank = [0u8; 3];
        detector.locate(&RgbView {
            pixels: &blank,
            width: 1,
            height: 1,
        })?;
        Ok(detector)
    }

    /// The detector's name in the manifest.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Plates in `image`, best first, in image pixels.
    pub fn locate(&mut self, image: &RgbView<'_>) -> Result<Vec<LocatedPlate>, PlateError> {
        let letterbox = letterbox_rgb_into(
            image.pixels,
            image.width,
            image.height,
            &self.spec,
            self.picture.planes.as_vec_mut(),
        );
        self.picture.letterbox = letterbox;
        let (w, h) = (self.spec.width as usize, self.spec.height as usize);
        self.tensor.resize(3 * w * h, 0.0);
        fill_input(&[&self.picture], &self.input, &mut self.tensor);
        let (score, nms_iou) = (self.score, self.nms_iou);
        let plates = run_first_output(
            &mut self.session,
            &self.name,
            &self.input.name,
            [1, 3, h, w],
            &self.tensor,
            |_, values| Ok(suppress_overlaps(decode_y5fu(values, score), nms_iou)),
        )?;
        Ok(plates
            .iter()
            .map(|p| to_image_space(p, &letterbox))
            .filter(|p| p.bbox[2] >= 2.0 && p.bbox[3] >= 2.0)
            .collect())
    }
}

/// The CTC text recogniser.
#[derive(Debug)]
pub struct Recogniser {
    name: String,
    session: Session,
    input: InputSpec,
    line: LineSpec,
    charset: Charset,
    tensor: Vec<f32>,
    batch: usize,
}

impl Recogniser {
    pub fn open(
        env: &Environment,
        manifest: &Manifest,
        models_dir: &Path,
        name: &str,
        options: &ReaderOptions,
    ) -> Result<Self, PlateError> {
        let (input, output) = specs_of(
            manifest,
            name,
            DecoderKind::Ctc,
            "not a text recogniser (decoder ctc)",
        )?;
        let (height, width) = match (input.shape.get(2), input.shape.get(3)) {
            (Some(&h), Some(&w)) if h > 0 => (h as u32, w),
            _ => return Err(unusable(name, "the input height must be fixed (NCHW)")),
        };
        let line = LineSpec {
            height,
            max_width: if width > 0 { width as u32 } else { height * 8 },
            fixed_width: width > 0,
            pad_value: 128,
        };
        let file = manifest.verified_file(name, models_dir)?;
        let session = open_session(env, name, &file, options.session)?;
        check_input(name, &session, &input)?;
        let symbols: Vec<String> = match &output.classes {
            ClassNames::List(list) => list.clone(),
            ClassNames::Named(key) => {
                let key = key.strip_prefix("metadata:").ok_or_else(|| {
                    unusable(
                        name,
                        format!("classes `{key}`: expected a list or metadata:KEY"),
                    )
                })?;
                let text = session
                    .metadata()
                    .map_err(|e| unusable(name, e.to_string()))?
                    .custom(key)
                    .ok_or_else(|| {
                        unusable(name, format!("the model has no metadata key `{key}`"))
                    })?;
                text.lines().map(str::to_string).collect()
            }
        };
        let classes = session
            .outputs()
            .first()
            .and_then(|o| o.dtype().tensor_shape().and_then(|s| s.last().copied()))
            .filter(|c| *c > 0)
            .map_or(symbols.len() + 1, |c| c as usize);
        if classes < symbols.len() + 1 {
            return Err(PlateError::Mismatch {
                model: name.to_string(),
                what: "output classes",
                expected: format!("at least {} (blank + symbols)", symbols.len() + 1),
                actual: classes.to_string(),
            });
        }
        let mut recogniser = Self {
            name: name.to_string(),
            session,
            input,
            line,
            charset: Charset::new(&symbols, classes),
            tensor: Vec::new(),
            batch: options.recogniser_batch.max(1),
        };
        let blank_width = line.max_width.min(line.height * 4);
        let blank = LineImage {
            height: line.height,
            stride: blank_width,
            content_width: 0,
            planes: vec![line.pad_value; 3 * (line.height * blank_width) as usize],
        };
        recogniser.recognise(&[&blank])?;
        Ok(recogniser)
    }

    pub fn line_spec(&self) -> LineSpec {
        self.line
    }

    /// Reads each line, in batches; each result holds the characters and the line's steps.
    pub fn recognise(
        &mut self,
        lines: &[&LineImage],
    ) -> Result<Vec<(Vec<ReadChar>, u32)>, PlateError> {
        if self.line.fixed_width {
            let mut results = Vec::with_capacity(lines.len());
            for group in lines.chunks(self.batch) {
                results.extend(self.run_group(group)?);
            }
            return Ok(results);
        }
        // A model that takes lines of any width sees a narrower line padded to the widest of
        // its run, which changes its output slightly: only lines of one width share a run, so a
        // line reads the same in any batch.
        let mut order: Vec<usize> = (0..lines.len()).collect();
        order.sort_by_key(|&i| lines[i].stride);
        let mut results: Vec<Option<(Vec<ReadChar>, u32)>> = vec![None; lines.len()];
        for same_width in order.chunk_by(|&a, &b| lines[a].stride == lines[b].stride) {
            for run in same_width.chunks(self.batch) {
                let group: Vec<&LineImage> = run.iter().map(|&i| lines[i]).collect();
                for (&i, read) in run.iter().zip(self.run_group(&group)?) {
                    results[i] = Some(read);
                }
            }
        }
        results
            .into_iter()
            .map(|read| {
                read.ok_or_else(|| PlateError::Inference {
                    model: self.name.clone(),
                    message: "a line got no output".to_string(),
                })
            })
            .collect()
    }

    fn run_group(&mut self, group: &[&LineImage]) -> Result<Vec<(Vec<ReadChar>, u32)>, PlateError> {
        let height = self.line.height as usize;
        let width = if self.line.fixed_width {
            self.line.max_width as usize
        } else {
            group
                .iter()
                .map(|l| l.stride as usize)
                .max()
                .unwrap_or(1)
                .max(height)
        };
        let per_line = 3 * height * width;
        self.tensor.resize(group.len() * per_line, 0.0);
        let swap = self.input.colour == Colour::Bgr;
        // Lines narrower than the batch are padded as they are normalised, without a copy.
        let plane = height * width;
        for (line, slot) in group.iter().zip(self.tensor.chunks_exact_mut(per_line)) {
            let stride = (line.stride as usize).min(width);
            let source_plane = height * line.stride as usize;
            for c in 0..3 {
                let source_c = if swap { 2 - c } else { c };
                let (scale, mean, std) = (self.input.scale, self.input.mean[c], self.input.std[c]);
                let pad = (f32::from(self.line.pad_value) * scale - mean) / std;
                let source = &line.planes[source_c * source_plane..(source_c + 1) * source_plane];
                let target = &mut slot[c * plane..(c + 1) * plane];
                for (target_row, source_row) in target
                    .chunks_exact_mut(width)
                    .zip(source.chunks_exact(line.stride as usize))
                {
                    let (pixels, padding) = target_row.split_at_mut(stride);
                    for (t, s) in pixels.iter_mut().zip(source_row) {
                        *t = (f32::from(*s) * scale - mean) / std;
                    }
                    padding.fill(pad);
                }
            }
        }
        let charset = &self.charset;
        let model = self.name.as_str();
        run_first_output(
            &mut self.session,
            model,
            &self.input.name,
            [group.len(), 3, height, width],
            &self.tensor,
            |shape, values| {
                let (steps, classes) = match shape.len() {
                    3 => (shape[1].max(0) as usize, shape[2].max(0) as usize),
                    _ => {
                        return Err(PlateError::Inference {
                            model: model.to_string(),
                            message: format!(
                                "output shape {shape:?}, expected [N, steps, classes]"
                            ),
                        })
                    }
                };
                let per = steps * classes;
                Ok((0..group.len())
                    .map(|i| {
                        let slice = values.get(i * per..(i + 1) * per).unwrap_or(&[]);
                        (charset.decode(slice, classes), steps as u32)
                    })
                    .collect())
            },
        )
    }
}
/// Runs `session` on one `f32` NCHW input of `shape` and hands the first output's shape and
/// values to `read`; any failure is an inference error naming `model`.
fn run_first_output<R>(
    session: &mut Session,
    model: &str,
    input_name: &str,
    shape: [usize; 4],
    input: &[f32],
    read: impl FnOnce(&[i64], &[f32]) -> Result<R, PlateError>,
) -> Result<R, PlateError> {
    let failed = |e: ort::Error| PlateError::Inference {
        model: model.to_string(),
        message: e.to_string(),
    };
    let tensor = TensorRef::from_array_view((shape, input)).map_err(failed)?;
    let outputs = session
        .run(ort::inputs![input_name => tensor])
        .map_err(failed)?;
    let (output_shape, values) = outputs[0].try_extract_tensor::<f32>().map_err(failed)?;
    read(output_shape, values)
}

/// Middle-texture ratios ([`middle_texture_ratio`]) below which a plate in doubt is taken as two
/// rows, and above which as one row.
const TWO_ROW_MIDDLE_RATIO: f32 = 0.45;
const ONE_ROW_MIDDLE_RATIO: f32 = 0.8;

/// The bands of a one-row plate (fractions of its height, 0 = top edge) the second recogniser
/// reads: the whole plate, and ever tighter bands around its middle. Plates whose characters
/// share the plate with a state name, a slogan or a dealer's frame (US plates) are read well
/// only once those are cut off; the most plausible band's read is kept.
const CHARACTER_BANDS: [(f32, f32); 4] = [(0.0, 1.0), (0.125, 0.875), (0.19, 0.83), (0.25, 0.79)];

/// The window a plate found in a whole scene is located again in: this many times the plate's
/// width (or height, if larger), square, around the plate. A vehicle crop is about that.
const ZOOM_WINDOW_PLATE_WIDTHS: f32 = 6.0;

/// A second, zoomed look is taken only when it enlarges the plate at least this much.
const ZOOM_MIN_GAIN: f32 = 1.5;

/// The scales a scene whose first look left a plate unsure is read again at
/// ([`ReaderOptions::scene_views`]). Chosen before measuring, around the scene's own size.
pub const SCENE_VIEW_SCALES: [f32; 3] = [0.75, 0.9, 1.25];

/// Two reads in views of one scene are of one plate when their boxes overlap this much.
const SAME_PLATE_IOU: f32 = 0.3;

/// Grey of the border a plate crop is framed in before detection.
const CROP_BORDER_GREY: u8 = 114;

/// A scene in which the first look finds no plate is searched again this many times smaller:
/// at the top-left of a grey canvas this many times its size.
const SHRUNK_SEARCH_SCALE: u32 = 2;

/// A plate waiting for the recogniser.
struct Pending {
    /// The located plate this line reads (a plate in doubt about its rows has two lines).
    plate: usize,
    corners: Quad,
    bbox: [f32; 4],
    detector_score: Option<f32>,
    rows: u8,
    /// Step (of the line's steps) where the top row ends, for two-row plates.
    top_row_end: Option<f32>,
    line: LineImage,
}

/// Plate detector plus recogniser.
#[derive(Debug)]
pub struct PlateReader {
    /// The detector of scenes, and of close views it suits better than `close_detector`.
    pub detector: PlateDetector,
    /// The detector of close views, when it is not `detector` ([`ReaderOptions::close_detector`]).
    pub close_detector: Option<PlateDetector>,
    pub recogniser: Recogniser,
    /// The second recogniser and the confidence under which it is asked.
    pub second: Option<(Recogniser, f32)>,
    /// The confidence under which a scene's plate has the scene read again at
    /// [`SCENE_VIEW_SCALES`], if scenes are.
    scene_views_below: Option<f32>,
    times: ReaderTimes,
}

/// The input of one read: an image, and where in it to look.
#[derive(Debug, Clone, Copy)]
pub enum Region {
    /// Locate plates in the whole image, a scene: a plate the detector's picture shrinks is
    /// located again, enlarged, in a window around it (sharper corners); a scene with no plate
    /// found is searched again shrunk to half (a plate filling a close-up photo).
    Whole,
    /// The image is one vehicle's crop: locate plates in it (the crop already enlarges them).
    Vehicle,
    /// Locate plates inside this box `x, y, w, h` (a vehicle), in image pixels.
    Within([f32; 4]),
    /// The image is a plate crop: locate the plate in it, or take the whole image as the
    /// plate when the detector finds none.
    Crop,
    /// A plate crop whose row count is known (labelled data): as `Crop`, with the rows given.
    /// Used to compose training lines.
    CropWithRows(u8),
    /// The image is a plate already rectified (for example fused from a track's frames,
    /// [`crate::fuse`]), with this many rows: read as it is, nothing located.
    Rectified(u8),
}

impl PlateReader {
    pub fn open(
        env: &Environment,
        manifest: &Manifest,
        models_dir: &Path,
        options: &ReaderOptions,
    ) -> Result<Self, PlateError> {
        let detector = PlateDetector::open(env, manifest, models_dir, &options.detector, options)?;
        let close_detector = match &options.close_detector {
            Some(name) if *name != options.detector => Some(PlateDetector::open(
                env, manifest, models_dir, name, options,
            )?),
            _ => None,
        };
        let recogniser = Recogniser::open(env, manifest, models_dir, &options.recogniser, options)?;
        let second = match &options.second_recogniser {
            Some(name) if *name != options.recogniser => Some((
                Recogniser::open(env, manifest, models_dir, name, options)?,
                options.second_opinion_below,
            )),
            _ => None,
        };
        Ok(Self {
            detector,
            close_detector,
            recogniser,
            second,
            scene_views_below: options.scene_views.then_some(options.second_opinion_below),
            times: ReaderTimes::default(),
        })
    }

    pub fn times(&self) -> ReaderTimes {
        self.times
    }

    pub fn reset_times(&mut self) {
        self.times = ReaderTimes::default();
    }

    /// Reads the plates of many images in one recogniser pass; one list per image. An
    /// image without a plate gives an empty list.
    pub fn read(
        &mut self,
        images: &[(RgbView<'_>, Region)],
    ) -> Result<Vec<Vec<PlateRead>>, PlateError> {
        Ok(self
            .read_with_lines(images)?
            .into_iter()
            .map(|plates| plates.into_iter().map(|(read, _)| read).collect())
            .collect())
    }

    /// [`Self::read`], also giving each plate's rectified line (evidence, training data).
    pub fn read_with_lines(
        &mut self,
        images: &[(RgbView<'_>, Region)],
    ) -> Result<Vec<Vec<PlateWithLine>>, PlateError> {
        let mut out = self.read_once(images)?;
        self.reread_scenes_scaled(images, &mut out)?;
        Ok(out)
    }

    /// Reads each scene whose first look left a plate unsure, or found none, again at each of
    /// [`SCENE_VIEW_SCALES`] (its plates' corners scaled back), and keeps what the views agree
    /// on ([`agree_across_views`]). A scene resampled reads otherwise: the detector's corners
    /// and the recogniser's pixels both move, and a misread that hangs on them moves too.
    fn reread_scenes_scaled(
        &mut self,
        images: &[(RgbView<'_>, Region)],
        out: &mut [Vec<PlateWithLine>],
    ) -> Result<(), PlateError> {
        let Some(below) = self.scene_views_below else {
            return Ok(());
        };
        for (index, (image, region)) in images.iter().enumerate() {
            if !matches!(region, Region::Whole) {
                continue;
            }
            let first = &out[index];
            if !first.is_empty() && first.iter().all(|(read, _)| read.plate.confidence >= below) {
                continue;
            }
            // One scene's views at a time: a batch of scenes never holds all their copies.
            let scaled: Vec<(f32, Vec<u8>, u32, u32)> = SCENE_VIEW_SCALES
                .iter()
                .filter_map(|&scale| {
                    let (pixels, width, height) = image.scaled(scale)?;
                    Some((scale, pixels, width, height))
                })
                .collect();
            let views: Vec<(RgbView<'_>, Region)> = scaled
                .iter()
                .map(|(_, pixels, width, height)| {
                    let view = RgbView {
                        pixels,
                        width: *width,
                        height: *height,
                    };
                    (view, Region::Whole)
                })
                .collect();
            let reads = self.read_once(&views)?;
            let views: Vec<Vec<PlateWithLine>> = scaled
                .iter()
                .zip(reads)
                .map(|((scale, ..), mut plates)| {
                    for (read, _) in &mut plates {
                        read.unscale(*scale);
                    }
                    plates
                })
                .collect();
            self.times.scenes_reread += 1;
            let first = std::mem::take(&mut out[index]);
            out[index] = agree_across_views(first, views);
        }
        Ok(())
    }

    /// One look at each image: locate, rectify, recognise, second opinions.
    fn read_once(
        &mut self,
        images: &[(RgbView<'_>, Region)],
    ) -> Result<Vec<Vec<PlateWithLine>>, PlateError> {
        let spec = self.recogniser.line_spec();
        let mut pending: Vec<(usize, Pending)> = Vec::new();
        let mut plates_located = 0usize;
        for (index, (image, region)) in images.iter().enumerate() {
            let started = Instant::now();
            let located = self.locate_in(image, *region)?;
            let located_at = Instant::now();
            self.times.locate += located_at - started;
            for plate in located {
                let corners = read_corners(&plate.corners, plate.detector_score.is_some());
                let mut options = vec![plate.rows];
                if rows_in_doubt(&plate) {
                    // The texture across the plate's middle settles most doubts; what it leaves
                    // open is read both ways.
                    match middle_texture_ratio(image, &corners) {
                        Some(ratio) if ratio < TWO_ROW_MIDDLE_RATIO => options = vec![2],
                        Some(ratio) if ratio > ONE_ROW_MIDDLE_RATIO => options = vec![1],
                        _ => options.push(3 - plate.rows.clamp(1, 2)),
                    }
                }
                for rows in options {
                    if let Some(line) = compose_line(image, &corners, rows, &spec) {
                        let top_row_end = (rows >= 2).then(|| top_row_end(&corners, &spec));
                        pending.push((
                            index,
                            Pending {
                                plate: plates_located,
                                corners: plate.corners,
                                bbox: plate.bbox,
                                detector_score: plate.detector_score,
                                rows,
                                top_row_end,
                                line,
                            },
                        ));
                    }
                }
                plates_located += 1;
            }
            self.times.rectify += located_at.elapsed();
        }
        let started = Instant::now();
        let lines: Vec<&LineImage> = pending.iter().map(|(_, p)| &p.line).collect();
        let reads = self.recogniser.recognise(&lines)?;
        self.times.recognise += started.elapsed();
        self.times.plates += pending.len() as u64;
        let mut out: Vec<Vec<PlateWithLine>> = vec![Vec::new(); images.len()];
        let mut last_plate: Option<usize> = None;
        for ((index, plate), (chars, steps)) in pending.into_iter().zip(reads) {
            let top_row_chars = plate
                .top_row_end
                .map(|end_px| chars_before(&chars, end_px, &spec, plate.line.stride, steps));
            let text = interpret_shaped(&chars, plate.rows, top_row_chars, &plate.corners);
            let read = PlateRead {
                corners: plate.corners,
                bbox: plate.bbox,
                detector_score: plate.detector_score,
                plate: text,
            };
            // The second reading of a plate in doubt about its rows replaces the first if it
            // is more plausible.
            let same_plate = last_plate == Some(plate.plate);
            last_plate = Some(plate.plate);
            match out[index].last_mut() {
                Some(previous) if same_plate => {
                    if plausibility(&read.plate) > plausibility(&previous.0.plate) {
                        *previous = (read, plate.line);
                    }
                }
                _ => out[index].push((read, plate.line)),
            }
        }
        self.second_opinions(images, &mut out)?;
        Ok(out)
    }

    /// Asks the second recogniser about every read the first is unsure of, composing the
    /// plate's line for it afresh, and keeps the better of the two reads. Each plate keeps the
    /// first recogniser's line (evidence and training data are the first recogniser's).
    fn second_opinions(
        &mut self,
        images: &[(RgbView<'_>, Region)],
        out: &mut [Vec<PlateWithLine>],
    ) -> Result<(), PlateError> {
        let Some((second, below)) = self.second.as_mut() else {
            return Ok(());
        };
        let started = Instant::now();
        let spec = second.line_spec();
        // (image, plate in the image, line, where its top row ends); a one-row plate is asked
        // about once per band of CHARACTER_BANDS, in a run.
        let mut asked: Vec<(usize, usize, LineImage, Option<f32>)> = Vec::new();
        for (index, plates) in out.iter().enumerate() {
            for (position, (read, _)) in plates.iter().enumerate() {
                if is_sure(&read.plate, read.corners.width_per_height(), *below) {
                    continue;
                }
                let corners = read.read_corners();
                let rows = read.plate.rows;
                if rows >= 2 {
                    if let Some(line) = compose_line(&images[index].0, &corners, rows, &spec) {
                        asked.push((index, position, line, Some(top_row_end(&corners, &spec))));
                    }
                    continue;
                }
                for (from, to) in CHARACTER_BANDS {
                    let band = corners.band(from, to);
                    if let Some(line) = compose_line(&images[index].0, &band, 1, &spec) {
                        asked.push((index, position, line, None));
                    }
                }
            }
        }
        if asked.is_empty() {
            return Ok(());
        }
        let lines: Vec<&LineImage> = asked.iter().map(|(_, _, line, _)| line).collect();
        let reads = second.recognise(&lines)?;
        // The most plausible read of each plate's bands.
        let mut best: Vec<((usize, usize), PlateText)> = Vec::new();
        for ((index, position, line, top_row_end), (chars, steps)) in asked.iter().zip(reads) {
            let rows = out[*index][*position].0.plate.rows;
            let top_row_chars =
                top_row_end.map(|end_px| chars_before(&chars, end_px, &spec, line.stride, steps));
            let other = interpret_shaped(
                &chars,
                rows,
                top_row_chars,
                &out[*index][*position].0.corners,
            );
            match best.last_mut() {
                Some((plate, read)) if *plate == (*index, *position) => {
                    if plausibility(&other) > plausibility(read) {
                        *read = other;
                    }
                }
                _ => best.push(((*index, *position), other)),
            }
        }
        // Plates asked about (a one-row plate's bands are one opinion).
        self.times.second_opinions += best.len() as u64;
        for ((index, position), other) in best {
            let width_per_height = out[index][position].0.corners.width_per_height();
            let first = &mut out[index][position].0.plate;
            if prefers_second(first, &other, width_per_height) {
                let replaced = std::mem::replace(first, other);
                discount_unconfirmed(first, &replaced);
            } else {
                discount_unconfirmed(first, &other);
            }
        }
        self.times.recognise += started.elapsed();
        Ok(())
    }

    /// `plate`, located again in a window around it that the detector's picture enlarges, when
    /// the first look saw it small: the corners come out sharper. The first look's plate stands
    /// when the second finds none over it.
    fn relocate_zoomed(
        &mut self,
        image: &RgbView<'_>,
        plate: LocatedPlate,
    ) -> Result<LocatedPlate, PlateError> {
        let [x, y, w, h] = plate.bbox;
        let side = ZOOM_WINDOW_PLATE_WIDTHS * w.max(h);
        let (image_w, image_h) = (image.width as f32, image.height as f32);
        if side <= 0.0 || image_w.max(image_h) < ZOOM_MIN_GAIN * side {
            return Ok(plate);
        }
        let (cx, cy) = (x + w / 2.0, y + h / 2.0);
        let x0 = (cx - side / 2.0).floor().clamp(0.0, image_w) as u32;
        let y0 = (cy - side / 2.0).floor().clamp(0.0, image_h) as u32;
        let x1 = (cx + side / 2.0).ceil().clamp(0.0, image_w) as u32;
        let y1 = (cy + side / 2.0).ceil().clamp(0.0, image_h) as u32;
        let Some(window) = image.crop(x0, y0, x1, y1) else {
            return Ok(plate);
        };
        let view = RgbView {
            pixels: &window,
            width: x1 - x0,
            height: y1 - y0,
        };
        let (dx, dy) = (x0 as f32, y0 as f32);
        let shifted = [x - dx, y - dy, w, h];
        // The scenes' detector, whose picture the window was sized to enlarge the plate in
        // (with the nearest detector's the photos read 196 of 238 instead of 197).
        let best = self
            .detector
            .locate(&view)?
            .into_iter()
            .map(|p| (iou(p.bbox, shifted), p))
            .filter(|(overlap, _)| *overlap >= 0.5)
            .max_by(|a, b| a.0.total_cmp(&b.0));
        Ok(match best {
            Some((_, mut zoomed)) => {
                zoomed.corners = Quad(zoomed.corners.0.map(|c| [c[0] + dx, c[1] + dy]));
                zoomed.bbox[0] += dx;
                zoomed.bbox[1] += dy;
                zoomed
            }
            None => plate,
        })
    }

    /// Plates in a scene in which the first look found none, searched again with the scene
    /// [`SHRUNK_SEARCH_SCALE`] times smaller in the detector's picture. The detector learnt
    /// plates small in their scene, and finds one that fills much of a close-up photo poorly,
    /// as it does a plate crop (which is framed in a border for that reason).
    fn locate_shrunk(&mut self, image: &RgbView<'_>) -> Result<Vec<LocatedPlate>, PlateError> {
        let (cw, ch) = (
            image.width * SHRUNK_SEARCH_SCALE,
            image.height * SHRUNK_SEARCH_SCALE,
        );
        let Some(canvas) = image.placed_on(cw, ch, 0, 0, CROP_BORDER_GREY) else {
            return Ok(Vec::new());
        };
        let shrunk = RgbView {
            pixels: &canvas,
            width: cw,
            height: ch,
        };
        // The scene sits at the canvas's origin: its plates are in scene pixels already.
        let (fw, fh) = (image.width as f32, image.height as f32);
        Ok(self
            .detector
            .locate(&shrunk)?
            .into_iter()
            .filter(|p| p.bbox[0] + p.bbox[2] / 2.0 < fw && p.bbox[1] + p.bbox[3] / 2.0 < fh)
            .collect())
    }

    /// The detector for a close view (a vehicle, a plate crop) `width` x `height`: the one whose
    /// picture is nearest the view's longer side in scale, so that it is enlarged or shrunk the
    /// least (with 320 and 640 px pictures, the 320 one up to their geometric mean, 452 px); the
    /// close views' detector on a tie.
    pub fn detector_for(&mut self, width: u32, height: u32) -> &mut PlateDetector {
        self.close_view_detector(width, height).0
    }

    /// [`Self::detector_for`], and whether it is the close views' detector.
    fn close_view_detector(&mut self, width: u32, height: u32) -> (&mut PlateDetector, bool) {
        let long_side = f64::from(width.max(height));
        let scale_gap = |d: &PlateDetector| {
            (f64::from(d.spec.width.max(d.spec.height)) / long_side)
                .ln()
                .abs()
        };
        match self.close_detector.as_mut() {
            Some(close) if scale_gap(close) <= scale_gap(&self.detector) => (close, true),
            _ => (&mut self.detector, false),
        }
    }

    fn locate_in(&mut self, image: &RgbView<'_>, region: Region) -> Result<Vec<Found>, PlateError> {
        match region {
            Region::Vehicle => {
                let (detector, close) = self.close_view_detector(image.width, image.height);
                let mut located = detector.locate(image)?;
                // The close detector misses some plates the scenes' one finds (a van's long EU
                // plate, 50 px of a 170 px crop): a crop it finds none in is searched again
                // with the other, only then.
                if located.is_empty() && close {
                    self.times.vehicles_relocated += 1;
                    located = self.detector.locate(image)?;
                }
                Ok(located.into_iter().map(Found::detected).collect())
            }
            Region::Whole => {
                // A scene's plates are small in it however small the scene: the scenes'
                // detector (a 405x303 photo read `0440` for 1B 70440 with the close one).
                let mut located = self.detector.locate(image)?;
                if located.is_empty() {
                    located = self.locate_shrunk(image)?;
                }
                let mut found = Vec::with_capacity(located.len());
                for plate in located {
                    found.push(Found::detected(self.relocate_zoomed(image, plate)?));
                }
                Ok(found)
            }
            Region::Rectified(rows) => {
                let (w, h) = (image.width as f32, image.height as f32);
                Ok(vec![Found {
                    corners: Quad::from_rect(0.0, 0.0, w, h),
                    bbox: [0.0, 0.0, w, h],
                    detector_score: None,
                    rows: rows.clamp(1, 2),
                    rows_known: true,
                }])
            }
            Region::Crop | Region::CropWithRows(_) => {
                // The detector was trained on plates in scenes; a plate that fills the whole
                // picture is found poorly, so the crop is framed in a grey border first.
                let (w, h) = (image.width, image.height);
                let (border_x, border_y) = (w / 4 + 4, h / 4 + 4);
                let (cw, ch) = (w + 2 * border_x, h + 2 * border_y);
                let Some(canvas) = image.placed_on(cw, ch, border_x, border_y, CROP_BORDER_GREY)
                else {
                    return Ok(Vec::new());
                };
                let framed = RgbView {
                    pixels: &canvas,
                    width: cw,
                    height: ch,
                };
                let (dx, dy) = (border_x as f32, border_y as f32);
                let (fw, fh) = (w as f32, h as f32);
                let best = self
                    .detector_for(framed.width, framed.height)
                    .locate(&framed)?
                    .into_iter()
                    .next();
                // A crop holds one plate: the best, if it covers a fair part of the crop.
                let found = match best {
                    // One row of a two-row plate, found as a one-row plate, is not the plate.
                    Some(p)
                        if p.bbox[2] * p.bbox[3] >= 0.3 * fw * fh
                            && !(p.rows == 1
                                && rows_from_aspect(fw, fh) == 2
                                && p.bbox[3] < 0.6 * fh) =>
                    {
                        let mut found = Found::detected(p);
                        found.corners = Quad(found.corners.0.map(|c| [c[0] - dx, c[1] - dy]));
                        found.bbox[0] -= dx;
                        found.bbox[1] -= dy;
                        vec![found]
                    }
                    _ => vec![Found {
                        corners: Quad::from_rect(0.0, 0.0, fw, fh),
                        bbox: [0.0, 0.0, fw, fh],
                        detector_score: None,
                        rows: rows_from_aspect(fw, fh),
                        rows_known: false,
                    }],
                };
                Ok(match region {
                    Region::CropWithRows(rows) => found
                        .into_iter()
                        .map(|f| Found {
                            rows,
                            rows_known: true,
                            ..f
                        })
                        .collect(),
                    _ => found,
                })
            }
            Region::Within(bbox) => {
                let x0 = bbox[0].floor().clamp(0.0, image.width as f32) as u32;
                let y0 = bbox[1].floor().clamp(0.0, image.height as f32) as u32;
                let x1 = (bbox[0] + bbox[2]).ceil().clamp(0.0, image.width as f32) as u32;
                let y1 = (bbox[1] + bbox[3]).ceil().clamp(0.0, image.height as f32) as u32;
                let Some(crop) = image.crop(x0, y0, x1, y1) else {
                    return Ok(Vec::new());
                };
                let view = RgbView {
                    pixels: &crop,
                    width: x1 - x0,
                    height: y1 - y0,
                };
                let (dx, dy) = (x0 as f32, y0 as f32);
                Ok(self
                    .detector_for(view.width, view.height)
                    .locate(&view)?
                    .into_iter()
                    .map(|p| {
                        let mut found = Found::detected(p);
                        found.corners = Quad(found.corners.0.map(|c| [c[0] + dx, c[1] + dy]));
                        found.bbox[0] += dx;
                        found.bbox[1] += dy;
                        found
                    })
                    .collect())
            }
        }
    }
}

/// A plate to read: where, and how many rows.
#[derive(Debug, Clone, Copy)]
struct Found {
    corners: Quad,
    bbox: [f32; 4],
    detector_score: Option<f32>,
    rows: u8,
    /// The row count was given, not guessed: never read both ways.
    rows_known: bool,
}

impl Found {
    fn detected(plate: LocatedPlate) -> Self {
        Self {
            corners: plate.corners,
            bbox: plate.bbox,
            detector_score: Some(plate.score),
            rows: rows_from_shape(&plate.corners, plate.rows),
            rows_known: false,
        }
    }
}

/// No one-row plate is less than this many times as wide as it is high.
const ONE_ROW_MIN_ASPECT: f32 = 1.7;

/// The detector's row class, overruled where the plate's shape leaves no doubt: no two-row
/// plate is three times as wide as it is high, and no one-row plate is less than
/// [`ONE_ROW_MIN_ASPECT`] times.
fn rows_from_shape(corners: &Quad, class_rows: u8) -> u8 {
    let (w, h) = corners.size();
    if h <= 0.0 {
        return class_rows;
    }
    match w / h {
        aspect if aspect > 3.0 => 1,
        aspect if aspect < ONE_ROW_MIN_ASPECT => 2,
        _ => class_rows,
    }
}

/// Whether a plate's shape leaves its row count open (a two-row plate is about 1.4 : 1, a
/// one-row plate 3.5-5 : 1; US plates are 2 : 1 on one row): such plates are read both ways.
/// A detector's plate is in doubt from where [`rows_from_shape`] stops calling it two-row
/// ([`ONE_ROW_MIN_ASPECT`]): a US plate with its frame, a little foreshortened, comes to
/// 1.7-1.8, where the detector's two-row class was once taken on trust (`PN` of a state name
/// read as a top row over `6RJN062`).
fn rows_in_doubt(found: &Found) -> bool {
    let (w, h) = found.corners.size();
    if h <= 0.0 || found.rows_known {
        return false;
    }
    let aspect = w / h;
    if found.detector_score.is_some() {
        (ONE_ROW_MIN_ASPECT..=2.8).contains(&aspect)
    } else {
        (1.6..=3.2).contains(&aspect)
    }
}

/// The characters read before `end_px` along a line of `spec` (`stride` wide when the
/// recogniser takes lines of any width) that gave `steps` output steps: the top row's.
fn chars_before(
    chars: &[ReadChar],
    end_px: f32,
    spec: &LineSpec,
    stride: u32,
    steps: u32,
) -> usize {
    let line_width = if spec.fixed_width {
        spec.max_width
    } else {
        stride
    };
    let end_step = end_px / line_width.max(1) as f32 * steps as f32;
    chars.iter().filter(|c| (c.step as f32) < end_step).count()
}

/// [`interpret`], then the plate's shape: a generic one-row read of a plate shaped like a
/// North American one reads its round glyph as `0` ([`read_round_glyph_as_zero`]).
fn interpret_shaped(
    chars: &[ReadChar],
    rows: u8,
    top_row_chars: Option<usize>,
    corners: &Quad,
) -> PlateText {
    let mut plate = interpret(chars, rows, top_row_chars);
    read_round_glyph_as_zero(&mut plate, corners.width_per_height());
    plate
}

/// The plates of one scene as its views agree on them. `first` is the first look's plates,
/// `views` each other view's (corners in the first's pixels). Reads are grouped by plate (their
/// boxes overlapping by [`SAME_PLATE_IOU`]); each group keeps the text with the most weight,
/// a read weighing its confidence (its least sure character's, plus a thousandth so that
/// reads of no confidence still count; a tie goes to the first look's text). The kept read is
/// the first look's if it has that text, else the surest that has; its characters' confidence
/// is capped at the share of the weight its text won, so views that disagree leave it unsure.
/// A plate the first look did not find must be found in two views.
pub fn agree_across_views(
    first: Vec<PlateWithLine>,
    views: Vec<Vec<PlateWithLine>>,
) -> Vec<PlateWithLine> {
    /// One plate's reads; views are numbered from 0, the first look.
    struct Group {
        bbox: [f32; 4],
        reads: Vec<PlateWithLine>,
        in_first: bool,
        views: usize,
        last_view: usize,
    }
    let mut groups: Vec<Group> = Vec::new();
    let looks = std::iter::once(first).chain(views);
    for (view, reads) in looks.enumerate() {
        for read in reads {
            // Each of the first look's plates is a plate of its own.
            let best = groups
                .iter_mut()
                .filter(|_| view > 0)
                .map(|g| (iou(g.bbox, read.0.bbox), g))
                .filter(|(overlap, _)| *overlap > SAME_PLATE_IOU)
                .max_by(|a, b| a.0.total_cmp(&b.0));
            match best {
                Some((_, group)) => {
                    if group.last_view != view {
                        group.last_view = view;
                        group.views += 1;
                    }
                    group.reads.push(read);
                }
                None => groups.push(Group {
                    bbox: read.0.bbox,
                    reads: vec![read],
                    in_first: view == 0,
                    views: 1,
                    last_view: view,
                }),
            }
        }
    }
    groups
        .into_iter()
        .filter(|g| g.in_first || g.views >= 2)
        .filter_map(|g| agreed_read(g.reads, g.in_first))
        .collect()
}

/// The read of one plate its reads agree on ([`agree_across_views`]); `first_is_own`: the
/// first read is the first look's.
fn agreed_read(reads: Vec<PlateWithLine>, first_is_own: bool) -> Option<PlateWithLine> {
    let weight_of = |read: &PlateRead| read.plate.confidence + 0.001;
    let mut weights: Vec<(&str, f32)> = Vec::new();
    for (read, _) in reads.iter().filter(|(r, _)| !r.plate.text.is_empty()) {
        match weights
            .iter_mut()
            .find(|(text, _)| *text == read.plate.text)
        {
            Some((_, weight)) => *weight += weight_of(read),
            None => weights.push((&read.plate.text, weight_of(read))),
        }
    }
    let total: f32 = weights.iter().map(|(_, weight)| weight).sum();
    let Some((text, weight)) = weights.iter().fold(
        None,
        |best: Option<(&str, f32)>, &(text, weight)| match best {
            Some((_, best_weight)) if best_weight >= weight => best,
            _ => Some((text, weight)),
        },
    ) else {
        // No view read text: the first read as it is.
        return reads.into_iter().next();
    };
    let share = weight / total;
    let text = text.to_string();
    let own_has_it = first_is_own && reads.first().is_some_and(|r| r.0.plate.text == text);
    let mut with_text = reads.into_iter().filter(|r| r.0.plate.text == text);
    let mut agreed = if own_has_it {
        with_text.next()?
    } else {
        with_text.reduce(|a, b| {
            if b.0.plate.confidence > a.0.plate.confidence {
                b
            } else {
                a
            }
        })?
    };
    let plate = &mut agreed.0.plate;
    for confidence in &mut plate.char_confidence {
        *confidence = confidence.min(share);
    }
    plate.confidence = plate.confidence.min(share);
    Some(agreed)
}

/// Whether a read stands without a second opinion: a grammar-valid Vietnamese plate of a shape
/// that allows it ([`vietnamese_in_shape`]; `width_per_height` is the plate's) whose least sure
/// character has at least `below` confidence.
pub fn is_sure(plate: &PlateText, width_per_height: f32, below: f32) -> bool {
    vietnamese_in_shape(plate, width_per_height) && plate.confidence >= below
}

/// Whether the second recogniser's read of a plate beats the first's. A grammar-valid
/// Vietnamese read of a shape that allows it ([`vietnamese_in_shape`]; `width_per_height` is the
/// plate's) beats one that is not; between two, the surer wins (the first on a tie). When
/// neither is a Vietnamese plate the second wins if it read anything: it is the general
/// recogniser, which reads foreign plates better than the Vietnamese-trained first.
pub fn prefers_second(first: &PlateText, second: &PlateText, width_per_height: f32) -> bool {
    let vietnamese = |p: &PlateText| vietnamese_in_shape(p, width_per_height);
    match (vietnamese(first), vietnamese(second)) {
        (true, false) => false,
        (false, true) => true,
        (true, true) => second.confidence > first.confidence,
        (false, false) => !second.text.is_empty(),
    }
}

/// The confidence a character keeps at most when the other recogniser's read of the plate does
/// not confirm it: far below the vote's early emit confidence (0.9), so a track whose reads the
/// two recognisers disagree on is never emitted while it is in view on the strength of one of
/// them. At its end it may be (the default emit confidence is 0.45): on plates a few pixels
/// high the general recogniser is the one that fails, and those plates still count for routes.
pub const UNCONFIRMED_CONFIDENCE: f32 = 0.5;

/// Caps at [`UNCONFIRMED_CONFIDENCE`] the confidence of every character of `plate` that `witness`
/// (the other recogniser's read) does not confirm, i.e. that is outside a longest common
/// subsequence of the two texts, and lowers the plate's confidence to match.
pub fn discount_unconfirmed(plate: &mut PlateText, witness: &PlateText) {
    let confirmed = confirmed_positions(&plate.text, &witness.text);
    for (confidence, confirmed) in plate.char_confidence.iter_mut().zip(confirmed) {
        if !confirmed {
            *confidence = confidence.min(UNCONFIRMED_CONFIDENCE);
        }
    }
    plate.confidence = lowest(&plate.char_confidence);
}

/// For each character of `text`, whether it belongs to a longest common subsequence of `text`
/// and `witness`.
fn confirmed_positions(text: &str, witness: &str) -> Vec<bool> {
    let a: Vec<char> = text.chars().collect();
    let b: Vec<char> = witness.chars().collect();
    // lengths[i][j]: LCS length of a[i..] and b[j..].
    let mut lengths = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lengths[i][j] = if a[i] == b[j] {
                lengths[i + 1][j + 1] + 1
            } else {
                lengths[i + 1][j].max(lengths[i][j + 1])
            };
        }
    }
    let mut confirmed = vec![false; a.len()];
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] == b[j] {
            confirmed[i] = true;
            i += 1;
            j += 1;
        } else if lengths[i + 1][j] >= lengths[i][j + 1] {
            i += 1;
        } else {
            j += 1;
        }
    }
    confirmed
}

/// How believable a read is, to choose between the two readings of a plate in doubt: mean
/// character confidence, plus a bonus for satisfying the grammar; a two-row reading whose rows
/// say the same thing (a one-row plate cut in half reads twice) is discounted.
pub fn plausibility(plate: &PlateText) -> f32 {
    let n = plate.char_confidence.len();
    if n == 0 {
        return 0.0;
    }
    let mean = plate.char_confidence.iter().sum::<f32>() / n as f32;
    let mut score = mean + if plate.valid { 0.5 } else { 0.0 };
    if plate.rows >= 2 && halves_repeat(&plate.text) {
        score -= 1.0;
    }
    if n < MIN_PLATE_CHARS {
        score -= 0.5;
    }
    score
}

/// True when the first and second half of `text` are nearly the same string.
fn halves_repeat(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    if chars.len() < 6 {
        return false;
    }
    let half = chars.len() / 2;
    let (first, second) = (&chars[..half], &chars[half..]);
    let distance = edit_distance(first, second);
    (distance as f32) <= 0.3 * second.len() as f32
}

fn edit_distance(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// Where the top row ends along a two-row plate's line, in line pixels: the middle of the gap.
fn top_row_end(corners: &Quad, spec: &LineSpec) -> f32 {
    let bands = crate::line::row_bands(corners, 2);
    let height = spec.height as f32;
    let gap = (spec.height / 4) as f32;
    let natural: Vec<f32> = bands
        .iter()
        .map(|b| {
            let (w, h) = b.size();
            if h > 0.0 {
                (height * w / h).max(height / 2.0)
            } else {
                0.0
            }
        })
        .collect();
    let total: f32 = natural.iter().sum();
    let budget = spec.max_width as f32 - gap;
    let squeeze = if total > budget && total > 0.0 {
        budget / total
    } else {
        1.0
    };
    natural.first().copied().unwrap_or(0.0) * squeeze + gap / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grammar::Grammar;

    #[test]
    fn a_one_row_plate_cut_in_half_is_recognised_by_its_repeated_halves() {
        assert!(halves_repeat("18047846180784"));
        assert!(halves_repeat("3AL08513AL80851"));
        assert!(!halves_repeat("59L214999"));
        assert!(!halves_repeat("ABC"));
        assert_eq!(edit_distance(&['a', 'b'], &['b']), 1);
    }

    #[test]
    fn a_detected_plate_from_one_to_three_times_as_wide_as_high_keeps_its_rows_open() {
        // A plate 10 px high and `width` wide, of the detector's `class_rows`.
        let detected = |width: f32, class_rows: u8| {
            let corners = Quad([[0.0, 0.0], [width, 0.0], [width, 10.0], [0.0, 10.0]]);
            Found {
                corners,
                bbox: [0.0, 0.0, width, 10.0],
                detector_score: Some(0.8),
                rows: rows_from_shape(&corners, class_rows),
                rows_known: false,
            }
        };
        // Square enough for two rows only, or long enough for one only.
        assert_eq!(detected(14.0, 1).rows, 2);
        assert!(!rows_in_doubt(&detected(14.0, 1)));
        assert_eq!(detected(45.0, 2).rows, 1);
        assert!(!rows_in_doubt(&detected(45.0, 2)));
        // A US plate in its frame (1.75 : 1) that the detector calls two-row is read both ways.
        let framed = detected(17.5, 2);
        assert_eq!(framed.rows, 2);
        assert!(rows_in_doubt(&framed));
        assert!(rows_in_doubt(&detected(20.0, 1)));
        // A row count that was given is never in doubt.
        assert!(!rows_in_doubt(&Found {
            rows_known: true,
            ..framed
        }));
    }

    #[test]
    fn plausibility_prefers_valid_confident_reads() {
        let read = read_of;
        let one_row = read("1807846", 0.9, 1);
        let cut = read("18078461807846", 0.9, 2);
        assert!(plausibility(&one_row) > plausibility(&cut));
        let valid = read("59L214999", 0.8, 2);
        let garbled = read("59L2W499Q", 0.9, 1);
        assert!(plausibility(&valid) > plausibility(&garbled));
    }

    fn read_of(text: &str, confidence: f32, rows: u8) -> PlateText {
        let chars: Vec<crate::ctc::ReadChar> = text
            .chars()
            .enumerate()
            .map(|(i, char)| crate::ctc::ReadChar {
                char,
                confidence,
                step: i as u32,
            })
            .collect();
        interpret(&chars, rows, None)
    }

    #[test]
    fn only_confident_valid_vietnamese_reads_skip_the_second_opinion() {
        assert!(is_sure(&read_of("59L214999", 0.95, 2), 1.4, 0.9));
        assert!(!is_sure(&read_of("59L214999", 0.85, 2), 1.4, 0.9));
        assert!(is_sure(&read_of("51G12345", 0.95, 1), 4.5, 0.9));
        // A foreign plate, however sure, is asked about again.
        assert!(!is_sure(&read_of("ZG4309AG", 0.99, 1), 4.5, 0.9));
        // So is a one-row Vietnamese read of a plate shaped like a North American one (2:1),
        // and one whose shape was not measured is judged by its grammar.
        assert!(!is_sure(&read_of("39B0399", 0.99, 1), 2.0, 0.9));
        assert!(is_sure(&read_of("39B0399", 0.99, 1), f32::NAN, 0.9));
    }

    #[test]
    fn the_second_read_wins_when_it_is_vietnamese_or_surer_or_the_plate_is_foreign() {
        let valid = read_of("59L214999", 0.6, 2);
        let surer = read_of("59L214998", 0.8, 2);
        let foreign_first = read_of("2G660", 0.9, 1);
        let foreign_second = read_of("ZG660UU", 0.5, 1);
        assert!(valid.valid && surer.valid && !foreign_first.valid);
        assert!(prefers_second(&valid, &surer, 1.4));
        assert!(!prefers_second(&surer, &valid, 1.4));
        // Valid Vietnamese beats a foreign-looking read either way round.
        assert!(!prefers_second(&valid, &foreign_second, 1.4));
        assert!(prefers_second(&foreign_first, &valid, 1.4));
        // Two foreign reads: the general recogniser's, unless it read nothing.
        assert!(prefers_second(&foreign_first, &foreign_second, 4.5));
        assert!(!prefers_second(&foreign_first, &read_of("", 0.0, 1), 4.5));
    }

    #[test]
    fn a_one_row_vietnamese_read_of_a_north_american_shaped_plate_yields_to_the_general_read() {
        let fitted = read_of("39B0399", 0.95, 1);
        let general = read_of("BSB0399", 0.7, 1);
        assert!(fitted.valid && fitted.grammar == Grammar::Vn);
        // On a 2:1 plate the Vietnamese form is not believed; on a 4.7:1 plate it wins.
        assert!(prefers_second(&fitted, &general, 2.0));
        assert!(!prefers_second(&fitted, &general, 4.7));
        assert!(vietnamese_in_shape(&fitted, 4.7) && !vietnamese_in_shape(&fitted, 2.9));
        // A two-row read is judged by its grammar whatever its shape.
        assert!(vietnamese_in_shape(&read_of("59L214999", 0.9, 2), 1.4));
    }

    #[test]
    fn characters_the_other_recogniser_does_not_confirm_lose_confidence() {
        assert_eq!(
            confirmed_positions("LM298A1", "VLM298A"),
            [true, true, true, true, true, true, false]
        );
        assert_eq!(confirmed_positions("ABC", ""), [false, false, false]);
        let mut kept = read_of("LM298A1", 0.98, 1);
        discount_unconfirmed(&mut kept, &read_of("VLM298A", 0.3, 1));
        assert_eq!(kept.char_confidence[..6], [0.98; 6]);
        assert_eq!(kept.char_confidence[6], UNCONFIRMED_CONFIDENCE);
        assert_eq!(kept.confidence, UNCONFIRMED_CONFIDENCE);
        // Two reads that agree keep their confidence.
        let mut agreed = read_of("59L214999", 0.7, 2);
        discount_unconfirmed(&mut agreed, &read_of("59L214999", 0.9, 2));
        assert_eq!(agreed.confidence, 0.7);
    }

    /// A plate read in a view of a scene: its text and confidence, its box at `x`.
    fn seen(text: &str, confidence: f32, x: f32) -> PlateWithLine {
        let bbox = [x, 100.0, 80.0, 20.0];
        let read = PlateRead {
            corners: Quad::from_rect(bbox[0], bbox[1], bbox[2], bbox[3]),
            bbox,
            detector_score: Some(0.8),
            plate: read_of(text, confidence, 1),
        };
        let line = LineImage {
            height: 1,
            stride: 1,
            content_width: 1,
            planes: vec![0; 3],
        };
        (read, line)
    }

    fn texts(plates: &[PlateWithLine]) -> Vec<(&str, f32)> {
        plates
            .iter()
            .map(|(read, _)| (read.plate.text.as_str(), read.plate.confidence))
            .collect()
    }

    #[test]
    fn views_of_a_scene_outvote_its_first_look_and_leave_a_disputed_plate_unsure() {
        // The first look reads 7ABC123 at 0.5; two views of three read 7ABC128.
        let agreed = agree_across_views(
            vec![seen("7ABC123", 0.5, 10.0)],
            vec![
                vec![seen("7ABC128", 0.6, 11.0)],
                vec![seen("7ABC128", 0.5, 9.0)],
                vec![seen("7ABC123", 0.3, 10.0)],
            ],
        );
        // Weights 1.102 against 0.802: the surest read of the winner, capped at its share.
        let share = 1.102 / 1.904;
        assert_eq!(agreed.len(), 1);
        assert_eq!(agreed[0].0.plate.text, "7ABC128");
        assert!((agreed[0].0.plate.confidence - share).abs() < 1e-4);
        assert!(agreed[0]
            .0
            .plate
            .char_confidence
            .iter()
            .all(|c| *c <= share + 1e-6));
        assert_eq!(agreed[0].0.bbox[0], 11.0);
        // Views that all agree with the first look keep it as it was.
        let unanimous = agree_across_views(
            vec![seen("7ABC123", 0.5, 10.0)],
            vec![vec![seen("7ABC123", 0.7, 12.0)]],
        );
        assert_eq!(texts(&unanimous), [("7ABC123", 0.5)]);
        assert_eq!(unanimous[0].0.bbox[0], 10.0);
    }

    #[test]
    fn a_tie_keeps_the_first_look_and_a_plate_one_view_alone_found_is_dropped() {
        let agreed = agree_across_views(
            vec![seen("7ABC123", 0.6, 10.0), seen("5XYZ999", 0.9, 400.0)],
            vec![
                // Ties with the first look; and a plate at 800 only this view sees.
                vec![seen("7ABC128", 0.6, 10.0), seen("9QQQ111", 0.9, 800.0)],
                // Reads the second plate, and finds a plate at 600 that the next view finds too.
                vec![seen("5XYZ999", 0.9, 402.0), seen("6NEW456", 0.5, 600.0)],
                vec![seen("6NEW456", 0.6, 601.0), seen("", 0.0, 11.0)],
            ],
        );
        let kept = texts(&agreed);
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert_eq!(kept[0].0, "7ABC123");
        // Half the weight: capped at 0.5.
        assert!((kept[0].1 - 0.5).abs() < 1e-6);
        assert_eq!(kept[1], ("5XYZ999", 0.9));
        assert_eq!(kept[2].0, "6NEW456");
    }
}
