//! Detector pre- and post-processing as pure functions, apart from any session.
//!
//! - [`letterbox_rgb`]: a decoded still image (packed RGB) into the detector's letterboxed,
//!   planar tensor picture (bilinear with half-pixel centres, like OpenCV's `INTER_LINEAR`).
//!   Video frames arrive already letterboxed from ingest, in the same format.
//! - [`fill_input`]: tensor pictures into the model's normalised `f32` NCHW batch.
//! - Decoders: [`decode_yolox`] (grid decode, strides 8/16/32), [`decode_yolov8`] (`[4+nc, N]`,
//!   also YOLO11) and [`decode_yolov5`] (`[N, 5+nc]`), each keeping vehicle classes only.
//! - [`nms`]: class-agnostic non-maximum suppression (per-class NMS leaves a car box and a
//!   truck box on the same vehicle).
//! - [`to_image_space`]: letterbox undone, boxes clipped to the image.

use crate::manifest::{HeadLayout, InputSpec, Layout};
use roadsight_core::{
    ChannelOrder, Letterbox, LetterboxPlacement, PlaneBuffer, TensorImage, TensorSpec,
};
pub use roadsight_core::{Detection, VehicleClass};

/// COCO class indices that are vehicles, in index order.
pub const COCO_VEHICLES: [usize; 5] = [1, 2, 3, 5, 7];

/// A box as corners, in some named space (the field names say which).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Corners {
    pub x0: f32,
    pub y0: f32,
    pub x1: f32,
    pub y1: f32,
}

impl Corners {
    pub fn iou(&self, other: &Corners) -> f32 {
        roadsight_core::geometry::iou_corners(
            [self.x0, self.y0, self.x1, self.y1],
            [other.x0, other.y0, other.x1, other.y1],
        )
    }
}

/// A decoded box before NMS, in tensor pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Candidate {
    pub box_tensor: Corners,
    pub score: f32,
    pub class: VehicleClass,
}

/// Score and overlap thresholds (from config).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Thresholds {
    /// Minimum final score (objectness x class for YOLOX/YOLOv5).
    pub score: f32,
    /// IoU above which the weaker of two boxes is suppressed.
    pub nms_iou: f32,
}

impl Default for Thresholds {
    /// Boxes down to 0.1 are kept: the tracker's second association stage (ByteTrack) uses
    /// low-score boxes, so filtering harder here would lose vehicles; consumers filter by score.
    fn default() -> Self {
        Self {
            score: 0.1,
            nms_iou: 0.45,
        }
    }
}

fn best_vehicle(scores: impl Fn(usize) -> f32) -> Option<(VehicleClass, f32)> {
    COCO_VEHICLES
        .iter()
        .map(|&index| (index, scores(index)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .and_then(|(index, score)| VehicleClass::from_coco(index).map(|c| (c, score)))
}

fn corners_from_centre(cx: f32, cy: f32, w: f32, h: f32) -> Corners {
    Corners {
        x0: cx - w / 2.0,
        y0: cy - h / 2.0,
        x1: cx + w / 2.0,
        y1: cy + h / 2.0,
    }
}

/// YOLOX raw head output for one image: `5 + classes` values per anchor, laid out as `layout`
/// says, anchors ordered stride 8, then 16, then 32, each row by row over its grid.
/// `xy = (xy + grid) * stride`, `wh = exp(wh) * stride`, `score = objectness * class`.
/// An output shorter than the grids need decodes to nothing.
pub fn decode_yolox(
    output: &[f32],
    input_width: u32,
    input_height: u32,
    classes: usize,
    score_threshold: f32,
    layout: HeadLayout,
) -> Vec<Candidate> {
    let row = 5 + classes;
    let grids = [8u32, 16, 32].map(|stride| (stride, input_width / stride, input_height / stride));
    let anchors: usize = grids.iter().map(|&(_, w, h)| (w * h) as usize).sum();
    if output.len() < anchors * row {
        return Vec::new();
    }
    match layout {
        HeadLayout::AnchorsFirst => decode_yolox_grids(&grids, score_threshold, |anchor, value| {
            output[anchor * row + value]
        }),
        HeadLayout::ChannelsFirst => {
            decode_yolox_grids(&grids, score_threshold, |anchor, value| {
                output[value * anchors + anchor]
            })
        }
    }
}

fn decode_yolox_grids(
    grids: &[(u32, u32, u32)],
    score_threshold: f32,
    at: impl Fn(usize, usize) -> f32,
) -> Vec<Candidate> {
    let mut candidates = Vec::new();
    let mut anchor = 0usize;
    for &(stride, grid_w, grid_h) in grids {
        for gy in 0..grid_h {
            for gx in 0..grid_w {
                let this = anchor;
                anchor += 1;
                let objectness = at(this, 4);
                if objectness < score_threshold {
                    continue;
                }
                let Some((class, class_score)) = best_vehicle(|i| at(this, 5 + i)) else {
                    continue;
                };
                let score = objectness * class_score;
                if score < score_threshold {
                    continue;
                }
                let s = stride as f32;
                let cx = (at(this, 0) + gx as f32) * s;
                let cy = (at(this, 1) + gy as f32) * s;
                let w = at(this, 2).exp() * s;
                let h = at(this, 3).exp() * s;
                candidates.push(Candidate {
                    box_tensor: corners_from_centre(cx, cy, w, h),
                    score,
                    class,
                });
            }
        }
    }
    candidates
}

/// YOLOv8 / YOLO11 output for one image: `[4 + classes, anchors]` row-major (channel first),
/// boxes as centre and size in tensor pixels, class scores without objectness.
pub fn decode_yolov8(
    output: &[f32],
    anchors: usize,
    classes: usize,
    score_threshold: f32,
) -> Vec<Candidate> {
    if output.len() < (4 + classes) * anchors {
        return Vec::new();
    }
    let at = |channel: usize, anchor: usize| output[channel * anchors + anchor];
    (0..anchors)
        .filter_map(|a| {
            let (class, score) = best_vehicle(|i| at(4 + i, a))?;
            (score >= score_threshold).then(|| Candidate {
                box_tensor: corners_from_centre(at(0, a), at(1, a), at(2, a), at(3, a)),
                score,
                class,
            })
        })
        .collect()
}

/// YOLOv5 output for one image: `[anchors, 5 + classes]`, centre and size in tensor pixels,
/// objectness, class scores; `score = objectness * class`.
pub fn decode_yolov5(output: &[f32], classes: usize, score_threshold: f32) -> Vec<Candidate> {
    output
        .chunks_exact(5 + classes)
        .filter_map(|values| {
            if values[4] < score_threshold {
                return None;
            }
            let (class, class_score) = best_vehicle(|i| values[5 + i])?;
            let score = values[4] * class_score;
            (score >= score_threshold).then(|| Candidate {
                box_tensor: corners_from_centre(values[0], values[1], values[2], values[3]),
                score,
                class,
            })
        })
        .collect()
}

/// Class-agnostic NMS: highest score first, dropping boxes that overlap a kept one by more
/// than `iou_threshold`. Ties keep the earlier candidate.
pub fn nms(mut candidates: Vec<Candidate>, iou_threshold: f32) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<Candidate> = Vec::with_capacity(candidates.len().min(64));
    for candidate in candidates {
        if kept
            .iter()
            .all(|k| k.box_tensor.iou(&candidate.box_tensor) <= iou_threshold)
        {
            kept.push(candidate);
        }
    }
    kept
}

/// Undoes the letterbox and clips to the image; drops boxes left with no area.
pub fn to_image_space(candidates: &[Candidate], letterbox: &Letterbox) -> Vec<Detection> {
    let (width, height) = (
        letterbox.source_width as f32,
        letterbox.source_height as f32,
    );
    candidates
        .iter()
        .filter_map(|c| {
            let (x0, y0) = letterbox.image_from_tensor(c.box_tensor.x0, c.box_tensor.y0);
            let (x1, y1) = letterbox.image_from_tensor(c.box_tensor.x1, c.box_tensor.y1);
            let (x0, y0) = (x0.clamp(0.0, width), y0.clamp(0.0, height));
            let (x1, y1) = (x1.clamp(0.0, width), y1.clamp(0.0, height));
            (x1 > x0 && y1 > y0).then_some(Detection {
                class: c.class,
                score: c.score,
                bbox_image: [x0, y0, x1 - x0, y1 - y0],
            })
        })
        .collect()
}

/// Bilinear taps with half-pixel centres: `(left, right, weight of right in 1/256)`.
fn linear_taps(dest: usize, source: usize) -> Vec<(usize, usize, u16)> {
    let ratio = source as f32 / dest as f32;
    (0..dest)
        .map(|d| {
            let position = ((d as f32 + 0.5) * ratio - 0.5).max(0.0);
            let left = (position.floor() as usize).min(source - 1);
            let right = (left + 1).min(source - 1);
            let weight = ((position - left as f32) * 256.0).round() as u16;
            (left, right, if right == left { 0 } else { weight })
        })
        .collect()
}

/// A packed RGB image (`width * height * 3` bytes) into a letterboxed planar tensor picture.
///
/// Bilinear with half-pixel centres in 8-bit fixed point: each output row blends its two source
/// rows (`(a * (256 - w) + b * w + 128) >> 8`, contiguous, vectorised), then each pixel blends
/// two columns of that row the same way. `scripts/reference_detect.py` implements the same
/// arithmetic in numpy, so both sides see identical tensors.
pub fn letterbox_rgb(rgb: &[u8], width: u32, height: u32, spec: &TensorSpec) -> TensorImage {
    let mut planes = PlaneBuffer::default();
    let letterbox = letterbox_rgb_into(rgb, width, height, spec, planes.as_vec_mut());
    TensorImage {
        spec: *spec,
        letterbox,
        planes,
    }
}

/// [`letterbox_rgb`] into a reused buffer (`planes` is resized to `3 * w * h` of the tensor).
pub fn letterbox_rgb_into(
    rgb: &[u8],
    width: u32,
    height: u32,
    spec: &TensorSpec,
    planes: &mut Vec<u8>,
) -> Letterbox {
    let letterbox = Letterbox::fit(width, height, spec);
    let (tw, th) = (spec.width as usize, spec.height as usize);
    let plane = tw * th;
    planes.resize(plane * 3, spec.pad_value);
    let (w, h) = (width as usize, height as usize);
    let drawn = w > 0 && h > 0 && rgb.len() >= w * h * 3;
    letterbox.fill_padding(spec, planes, drawn);
    let (sw, sh) = (
        letterbox.scaled_width as usize,
        letterbox.scaled_height as usize,
    );
    let (ox, oy) = (letterbox.offset_x as usize, letterbox.offset_y as usize);
    if drawn {
        let xs = linear_taps(sw, w);
        let ys = linear_taps(sh, h);
        let (p0, rest) = planes.split_at_mut(plane);
        let (p1, p2) = rest.split_at_mut(plane);
        let mut by_channel: [&mut [u8]; 3] = [p0, p1, p2];
        let mut blended = vec![0u8; w * 3];
        for (dy, &(y0, y1, wy)) in ys.iter().enumerate() {
            let row0 = &rgb[y0 * w * 3..(y0 + 1) * w * 3];
            let row1 = &rgb[y1 * w * 3..(y1 + 1) * w * 3];
            let (a, b) = (256 - wy, wy);
            for ((out, top), bottom) in blended.iter_mut().zip(row0).zip(row1) {
                *out = ((u16::from(*top) * a + u16::from(*bottom) * b + 128) >> 8) as u8;
            }
            let start = (dy + oy) * tw + ox;
            let [first, second, third] = &mut by_channel;
            let (r_plane, g_plane, b_plane) = match spec.channel_order {
                ChannelOrder::Rgb => (first, second, third),
                ChannelOrder::Bgr => (third, second, first),
            };
            let span = start..start + xs.len();
            let (pixels, _) = blended.as_chunks::<3>();
            for (((r, g), b), &(x0, x1, wx)) in r_plane[span.clone()]
                .iter_mut()
                .zip(&mut g_plane[span.clone()])
                .zip(&mut b_plane[span])
                .zip(&xs)
            {
                let (Some(left), Some(right)) = (pixels.get(x0), pixels.get(x1)) else {
                    continue;
                };
                let blend = |c: usize| {
                    ((u16::from(left[c]) * (256 - wx) + u16::from(right[c]) * wx + 128) >> 8) as u8
                };
                (*r, *g, *b) = (blend(0), blend(1), blend(2));
            }
        }
    }
    letterbox
}

/// The tensor picture a model's input spec asks for.
pub fn tensor_spec_of(input: &InputSpec) -> Option<TensorSpec> {
    let (height, width) = input.fixed_height_width()?;
    Some(TensorSpec {
        width,
        height,
        channel_order: match input.colour {
            crate::manifest::Colour::Rgb => ChannelOrder::Rgb,
            crate::manifest::Colour::Bgr => ChannelOrder::Bgr,
        },
        placement: match input.letterbox {
            Some(crate::manifest::LetterboxKind::Centre) => LetterboxPlacement::Centre,
            _ => LetterboxPlacement::TopLeft,
        },
        pad_value: input.pad,
    })
}

/// The order of YOLOX's Focus phases as `(row, column)` offsets in each 2x2 pixel block:
/// top-left, bottom-left, top-right, bottom-right.
pub const FOCUS_PHASES: [(usize, usize); 4] = [(0, 0), (1, 0), (0, 1), (1, 1)];

/// The index in [`FOCUS_PHASES`] of the phase at row offset `dy` and column offset `dx`.
const fn focus_phase(dy: usize, dx: usize) -> usize {
    dy + 2 * dx
}

/// `value = (pixel * scale - mean) / std` for one channel, with the common cases spelled out so
/// each loop vectorises.
#[derive(Debug, Clone, Copy)]
enum Normalise {
    Copy,
    Scale(f32),
    Affine { scale: f32, mean: f32, std: f32 },
}

impl Normalise {
    fn of(input: &InputSpec, channel: usize) -> Self {
        let identity = input.mean == [0.0; 3] && input.std == [1.0; 3];
        match (identity, input.scale == 1.0) {
            (true, true) => Self::Copy,
            (true, false) => Self::Scale(input.scale),
            (false, _) => Self::Affine {
                scale: input.scale,
                mean: input.mean[channel],
                std: input.std[channel],
            },
        }
    }

    /// `pairs[i]` into `even[i]` and `odd[i]`.
    fn apply_pairs(self, even: &mut [f32], odd: &mut [f32], pairs: &[[u8; 2]]) {
        let values = even.iter_mut().zip(odd.iter_mut()).zip(pairs);
        match self {
            Self::Copy => values.for_each(|((e, o), [a, b])| {
                (*e, *o) = (f32::from(*a), f32::from(*b));
            }),
            Self::Scale(scale) => values.for_each(|((e, o), [a, b])| {
                (*e, *o) = (f32::from(*a) * scale, f32::from(*b) * scale);
            }),
            Self::Affine { scale, mean, std } => values.for_each(|((e, o), [a, b])| {
                *e = (f32::from(*a) * scale - mean) / std;
                *o = (f32::from(*b) * scale - mean) / std;
            }),
        }
    }

    fn apply<'a>(self, target: &mut [f32], source: impl Iterator<Item = &'a u8>) {
        let values = target.iter_mut().zip(source);
        match self {
            Self::Copy => values.for_each(|(t, s)| *t = f32::from(*s)),
            Self::Scale(scale) => values.for_each(|(t, s)| *t = f32::from(*s) * scale),
            Self::Affine { scale, mean, std } => {
                values.for_each(|(t, s)| *t = (f32::from(*s) * scale - mean) / std)
            }
        }
    }
}

/// Writes tensor pictures into a normalised `f32` batch (`out.len() >= n * 3 * h * w`):
/// `value = (pixel * scale - mean[c]) / std[c]`, laid out as the input's [`Layout`] says:
/// planar NCHW, or NCHW after YOLOX's Focus ([`FOCUS_PHASES`] x channels, each `h/2 x w/2`).
pub fn fill_input(images: &[&TensorImage], input: &InputSpec, out: &mut [f32]) {
    let per_image = images.first().map_or(1, |i| i.planes.len().max(1));
    for (image, slot) in images.iter().zip(out.chunks_exact_mut(per_image)) {
        let plane = image.planes.len() / 3;
        let width = image.spec.width as usize;
        let (half_width, half_height) = (width / 2, image.spec.height as usize / 2);
        let quarter = half_width * half_height;
        for channel in 0..3 {
            let source = &image.planes[channel * plane..(channel + 1) * plane];
            let normalise = Normalise::of(input, channel);
            if input.layout == Layout::NchwFocus {
                // Each source row feeds two phases: its even columns and its odd columns. The
                // odd-column phase (dx = 1) always comes after the even one in FOCUS_PHASES.
                for (row, line) in source.chunks_exact(width).enumerate() {
                    let (y, dy) = (row / 2, row % 2);
                    let start =
                        |dx: usize| (focus_phase(dy, dx) * 3 + channel) * quarter + y * half_width;
                    let (head, tail) = slot.split_at_mut(start(1));
                    let (pairs, _) = line.as_chunks::<2>();
                    normalise.apply_pairs(
                        &mut head[start(0)..start(0) + half_width],
                        &mut tail[..half_width],
                        pairs,
                    );
                }
            } else {
                normalise.apply(
                    &mut slot[channel * plane..(channel + 1) * plane],
                    source.iter(),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(width: u32, height: u32, placement: LetterboxPlacement) -> TensorSpec {
        TensorSpec {
            width,
            height,
            channel_order: ChannelOrder::Bgr,
            placement,
            pad_value: 114,
        }
    }

    /// A YOLOX output with one confident car at grid cell (gx, gy) of stride `stride`, decoded
    /// from both head layouts.
    #[test]
    fn yolox_grid_decode_places_boxes_by_stride_and_cell() {
        let (w, h, classes) = (64u32, 64u32, 80usize);
        let anchors: usize = [8u32, 16, 32]
            .iter()
            .map(|s| ((w / s) * (h / s)) as usize)
            .sum();
        let mut output = vec![0f32; anchors * (5 + classes)];
        // Stride 16 block starts after the 8x8 stride-8 grid; cell (gx=2, gy=1) in a 4x4 grid.
        let anchor = 64 + 4 + 2;
        let row = &mut output[anchor * 85..(anchor + 1) * 85];
        row[0] = 0.5; // cx = (0.5 + 2) * 16 = 40
        row[1] = 0.25; // cy = (0.25 + 1) * 16 = 20
        row[2] = (1.5f32).ln(); // w = 1.5 * 16 = 24
        row[3] = 0.0; // h = 16
        row[4] = 0.9;
        row[5 + 2] = 0.8; // car
        row[5] = 0.95; // class 0, person: not a vehicle, ignored
        let mut channels_first = vec![0f32; output.len()];
        for (a, values) in output.chunks_exact(85).enumerate() {
            for (v, value) in values.iter().enumerate() {
                channels_first[v * anchors + a] = *value;
            }
        }
        for (layout, output) in [
            (HeadLayout::AnchorsFirst, &output),
            (HeadLayout::ChannelsFirst, &channels_first),
        ] {
            let found = decode_yolox(output, w, h, classes, 0.3, layout);
            assert_eq!(found.len(), 1, "{layout:?}");
            let c = found[0];
            assert_eq!(c.class, VehicleClass::Car);
            assert!((c.score - 0.72).abs() < 1e-6);
            assert_eq!(
                c.box_tensor,
                Corners {
                    x0: 28.0,
                    y0: 12.0,
                    x1: 52.0,
                    y1: 28.0
                }
            );
        }
        let short = &output[..output.len() - 1];
        assert!(decode_yolox(short, w, h, classes, 0.3, HeadLayout::AnchorsFirst).is_empty());
    }

    fn input_spec(layout: Layout, shape: Vec<i64>) -> InputSpec {
        InputSpec {
            name: "x".into(),
            shape,
            layout,
            colour: crate::manifest::Colour::Bgr,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            letterbox: None,
            pad: 0,
        }
    }

    /// Pixel (x, y) of channel c holds 100 c + 10 y + x, so every value says where it came from.
    fn numbered_picture(width: u32, height: u32) -> TensorImage {
        let mut planes = PlaneBuffer::default();
        let values = planes.as_vec_mut();
        for c in 0..3u32 {
            for y in 0..height {
                for x in 0..width {
                    values.push((100 * c + 10 * y + x) as u8);
                }
            }
        }
        let spec = spec(width, height, LetterboxPlacement::TopLeft);
        TensorImage {
            spec,
            letterbox: Letterbox::fit(width, height, &spec),
            planes,
        }
    }

    #[test]
    fn focus_phase_indexes_the_phase_list() {
        for (index, &(dy, dx)) in FOCUS_PHASES.iter().enumerate() {
            assert_eq!(focus_phase(dy, dx), index);
        }
    }

    #[test]
    fn fill_input_writes_planes_or_yolox_focus_phases() {
        let picture = numbered_picture(4, 4);
        let mut planar = vec![0f32; 48];
        fill_input(
            &[&picture],
            &input_spec(Layout::Nchw, vec![1, 3, 4, 4]),
            &mut planar,
        );
        assert_eq!(planar[..4], [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(planar[16 + 5], 111.0);

        let mut focus = vec![0f32; 48];
        let spec = input_spec(Layout::NchwFocus, vec![1, 12, 2, 2]);
        assert_eq!(spec.fixed_height_width(), Some((4, 4)));
        fill_input(&[&picture], &spec, &mut focus);
        let channel = |index: usize| &focus[index * 4..(index + 1) * 4];
        // Phase 0 (top-left pixels of each 2x2 block), channel 0: (0,0) (2,0) (0,2) (2,2).
        assert_eq!(channel(0), [0.0, 2.0, 20.0, 22.0]);
        // Phase 1 (bottom-left), channel 2: rows 1 and 3, columns 0 and 2.
        assert_eq!(channel(3 + 2), [210.0, 212.0, 230.0, 232.0]);
        // Phase 2 (top-right), channel 1.
        assert_eq!(channel(6 + 1), [101.0, 103.0, 121.0, 123.0]);
        // Phase 3 (bottom-right), channel 0.
        assert_eq!(channel(9), [11.0, 13.0, 31.0, 33.0]);
    }

    #[test]
    fn yolov8_is_channel_first_without_objectness() {
        let (anchors, classes) = (3usize, 80usize);
        let mut output = vec![0f32; (4 + classes) * anchors];
        let mut set =
            |channel: usize, anchor: usize, value: f32| output[channel * anchors + anchor] = value;
        // Anchor 1: a truck at centre (100, 50), 40x20.
        set(0, 1, 100.0);
        set(1, 1, 50.0);
        set(2, 1, 40.0);
        set(3, 1, 20.0);
        set(4 + 7, 1, 0.6);
        // Anchor 2: a weak bus, under the threshold.
        set(4 + 5, 2, 0.1);
        let found = decode_yolov8(&output, anchors, classes, 0.25);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].class, VehicleClass::Truck);
        assert_eq!(found[0].box_tensor.x0, 80.0);
        assert_eq!(found[0].box_tensor.y1, 60.0);
    }

    #[test]
    fn yolov5_multiplies_objectness_and_class() {
        let classes = 80usize;
        let mut output = vec![0f32; 2 * (5 + classes)];
        output[..5].copy_from_slice(&[10.0, 10.0, 4.0, 4.0, 0.5]);
        output[5 + 3] = 0.9; // motorcycle
        output[85..90].copy_from_slice(&[30.0, 30.0, 4.0, 4.0, 0.2]);
        output[85 + 5 + 2] = 1.0; // car, but objectness 0.2 under 0.25
        let found = decode_yolov5(&output, classes, 0.25);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].class, VehicleClass::Motorcycle);
        assert!((found[0].score - 0.45).abs() < 1e-6);
    }

    fn candidate(x0: f32, score: f32, class: VehicleClass) -> Candidate {
        Candidate {
            box_tensor: Corners {
                x0,
                y0: 0.0,
                x1: x0 + 10.0,
                y1: 10.0,
            },
            score,
            class,
        }
    }

    #[test]
    fn nms_is_class_agnostic_and_keeps_separate_boxes() {
        let kept = nms(
            vec![
                candidate(0.0, 0.7, VehicleClass::Truck),
                candidate(1.0, 0.9, VehicleClass::Car), // same vehicle, other class
                candidate(50.0, 0.4, VehicleClass::Car), // another vehicle
            ],
            0.45,
        );
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].class, VehicleClass::Car);
        assert_eq!(kept[0].score, 0.9);
        assert_eq!(kept[1].box_tensor.x0, 50.0);
    }

    #[test]
    fn iou_of_identical_disjoint_and_half_overlapping_boxes() {
        let a = Corners {
            x0: 0.0,
            y0: 0.0,
            x1: 10.0,
            y1: 10.0,
        };
        assert_eq!(a.iou(&a), 1.0);
        let far = Corners { x0: 20.0, ..a };
        assert_eq!(a.iou(&far), 0.0);
        let half = Corners {
            x0: 5.0,
            x1: 15.0,
            ..a
        };
        assert!((a.iou(&half) - 1.0 / 3.0).abs() < 1e-6);
    }

    #[test]
    fn letterbox_round_trip_maps_a_box_back_to_the_image() {
        for placement in [LetterboxPlacement::TopLeft, LetterboxPlacement::Centre] {
            let lb = Letterbox::fit(1280, 720, &spec(416, 416, placement));
            let image_box = [100.0f32, 200.0, 300.0, 150.0];
            let (x0, y0) = lb.tensor_from_image(image_box[0], image_box[1]);
            let (x1, y1) =
                lb.tensor_from_image(image_box[0] + image_box[2], image_box[1] + image_box[3]);
            let back = to_image_space(
                &[Candidate {
                    box_tensor: Corners { x0, y0, x1, y1 },
                    score: 1.0,
                    class: VehicleClass::Bus,
                }],
                &lb,
            );
            for (got, want) in back[0].bbox_image.iter().zip(image_box) {
                assert!((got - want).abs() < 1e-3, "{placement:?}: {got} vs {want}");
            }
        }
    }

    #[test]
    fn boxes_are_clipped_to_the_image() {
        let lb = Letterbox::fit(100, 100, &spec(100, 100, LetterboxPlacement::TopLeft));
        let out = to_image_space(
            &[Candidate {
                box_tensor: Corners {
                    x0: -20.0,
                    y0: 90.0,
                    x1: 30.0,
                    y1: 130.0,
                },
                score: 0.5,
                class: VehicleClass::Car,
            }],
            &lb,
        );
        assert_eq!(out[0].bbox_image, [0.0, 90.0, 30.0, 10.0]);
    }

    #[test]
    fn letterbox_rgb_swaps_to_bgr_and_pads() {
        // A 4x2 image: left half pure red, right half pure blue.
        let mut rgb = vec![0u8; 4 * 2 * 3];
        for y in 0..2 {
            for x in 0..4 {
                let i = (y * 4 + x) * 3;
                if x < 2 {
                    rgb[i] = 255;
                } else {
                    rgb[i + 2] = 255;
                }
            }
        }
        let image = letterbox_rgb(&rgb, 4, 2, &spec(4, 4, LetterboxPlacement::TopLeft));
        let plane = 16;
        let at = |p: usize, x: usize, y: usize| image.planes[p * plane + y * 4 + x];
        // BGR planes: plane 2 is red, plane 0 is blue.
        assert_eq!((at(2, 0, 0), at(0, 0, 0)), (255, 0));
        assert_eq!((at(2, 3, 1), at(0, 3, 1)), (0, 255));
        assert_eq!(at(1, 0, 3), 114, "padding below");
    }
}
