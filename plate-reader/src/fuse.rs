//! Multi-frame fusion: a tracked plate seen small in several frames, each rectified to one
//! size, aligned and averaged into one sharper, less noisy picture of it (pure).
//!
//! A vehicle's plate a few pixels high is read badly in any one frame: its rows are 9-17 px
//! high, compression noise is a good share of each stroke, and every frame samples it at another
//! sub-pixel offset. [`rectify`] warps each frame's plate (the reader's corners, with the
//! reader's margin) to the track's canonical size; [`fuse`] shifts each earlier picture to the
//! latest by the whole-pixel offset that matches it best (a row 9-17 px high in the frame is
//! [`ROW_HEIGHT_PX`] high there, so a whole pixel there is a third to a fifth of one in the
//! frame) and averages them. The reader then reads the fused picture as a plate already
//! rectified ([`crate::Region::Rectified`]).

use crate::geometry::{luma, warp_to_planar, Quad, RgbView};
use crate::line::LineImage;
use crate::reader::PlateRead;
use std::collections::VecDeque;

/// Canonical height of one text row of a rectified plate, in pixels.
pub const ROW_HEIGHT_PX: u32 = 48;
/// Widest canonical plate, in pixels (a long one-row plate is squeezed to it).
pub const MAX_WIDTH_PX: u32 = 320;
/// How far [`fuse`] looks for a picture's best offset, in canonical pixels either way.
pub const MAX_SHIFT_PX: i32 = 4;

/// One plate rectified to its track's canonical size, packed RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct RectifiedPlate {
    pub rows: u8,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

impl RectifiedPlate {
    pub fn view(&self) -> Option<RgbView<'_>> {
        RgbView::new(&self.rgb, self.width, self.height)
    }
}

/// The canonical size of a plate with these corners and rows: each row [`ROW_HEIGHT_PX`] high,
/// the plate's own aspect. `None` for a degenerate quad.
pub fn canonical_size(corners: &Quad, rows: u8) -> Option<(u32, u32)> {
    let (w, h) = corners.size();
    if !(w.is_finite() && h.is_finite()) || w < 1.0 || h < 1.0 {
        return None;
    }
    let height = ROW_HEIGHT_PX * u32::from(rows.clamp(1, 2));
    let width = ((height as f32 * w / h).round() as u32).clamp(height / 2, MAX_WIDTH_PX);
    Some((width, height))
}

/// Warps `corners` of `image` to `width` x `height`; `None` when the quad is degenerate.
pub fn rectify(
    image: &RgbView<'_>,
    corners: &Quad,
    rows: u8,
    (width, height): (u32, u32),
) -> Option<RectifiedPlate> {
    let planes = warp_to_planar(image, corners, width as usize, height as usize)?;
    // The warp writes planar RGB, as for a recogniser line; the line packs it.
    let rgb = LineImage {
        height,
        stride: width,
        content_width: width,
        planes,
    }
    .to_rgb();
    Some(RectifiedPlate {
        rows,
        width,
        height,
        rgb,
    })
}

fn luminance(plate: &RectifiedPlate) -> Vec<f32> {
    plate
        .rgb
        .chunks_exact(3)
        .map(|p| luma(p[0], p[1], p[2]))
        .collect()
}

/// The offset `(dx, dy)` within [`MAX_SHIFT_PX`] at which `moving` sampled at `(x + dx, y + dy)`
/// best matches `reference` at `(x, y)`: least mean absolute difference over the inner part
/// both cover, each picture's mean brightness removed.
fn best_offset(reference: &[f32], moving: &[f32], width: usize, height: usize) -> (i32, i32) {
    let margin = MAX_SHIFT_PX as usize;
    if width <= 2 * margin || height <= 2 * margin {
        return (0, 0);
    }
    let mean = |values: &[f32]| values.iter().sum::<f32>() / values.len().max(1) as f32;
    let (mean_reference, mean_moving) = (mean(reference), mean(moving));
    let mut best = (f32::INFINITY, (0, 0));
    for dy in -MAX_SHIFT_PX..=MAX_SHIFT_PX {
        for dx in -MAX_SHIFT_PX..=MAX_SHIFT_PX {
            let mut total = 0f32;
            for y in margin..height - margin {
                let my = (y as i32 + dy) as usize;
                for x in margin..width - margin {
                    let mx = (x as i32 + dx) as usize;
                    total += ((reference[y * width + x] - mean_reference)
                        - (moving[my * width + mx] - mean_moving))
                        .abs();
                }
            }
            // Ties go to the smaller shift.
            let cost = total + 1e-3 * (dx.abs() + dy.abs()) as f32;
            if cost < best.0 {
                best = (cost, (dx, dy));
            }
        }
    }
    best.1
}

/// The pictures averaged, each earlier one shifted onto the last (the reference: the most
/// recent, usually the nearest view). `None` unless there are two or more of one size and row
/// count.
pub fn fuse(plates: &[RectifiedPlate]) -> Option<RectifiedPlate> {
    let reference = plates.last()?;
    let (width, height) = (reference.width as usize, reference.height as usize);
    if plates.len() < 2
        || plates.iter().any(|p| {
            p.width != reference.width
                || p.height != reference.height
                || p.rows != reference.rows
                || p.rgb.len() != 3 * width * height
        })
    {
        return None;
    }
    let reference_luminance = luminance(reference);
    let mut sum: Vec<u32> = reference.rgb.iter().map(|&v| u32::from(v)).collect();
    for plate in &plates[..plates.len() - 1] {
        let (dx, dy) = best_offset(&reference_luminance, &luminance(plate), width, height);
        for y in 0..height {
            let sy = (y as i32 + dy).clamp(0, height as i32 - 1) as usize;
            for x in 0..width {
                let sx = (x as i32 + dx).clamp(0, width as i32 - 1) as usize;
                for c in 0..3 {
                    sum[(y * width + x) * 3 + c] += u32::from(plate.rgb[(sy * width + sx) * 3 + c]);
                }
            }
        }
    }
    let count = plates.len() as u32;
    Some(RectifiedPlate {
        rows: reference.rows,
        width: reference.width,
        height: reference.height,
        rgb: sum
            .into_iter()
            .map(|total| ((total + count / 2) / count) as u8)
            .collect(),
    })
}

/// One track's plate pictures, fused once there are `frames` of them: a bounded queue that
/// drops its oldest picture when full, and starts again when the plate's row count changes.
/// Its canonical size is its first picture's.
#[derive(Debug, Clone)]
pub struct PlatePictures {
    frames: usize,
    pictures: VecDeque<RectifiedPlate>,
}

impl PlatePictures {
    /// Fuses the last `frames` pictures (2 or more; fewer fuse nothing).
    pub fn new(frames: usize) -> Self {
        Self {
            frames,
            pictures: VecDeque::with_capacity(frames),
        }
    }

    /// Adds the plate of `read` in `image` (the image it was read in; the corners the reader
    /// read, [`PlateRead::read_corners`]) and returns the fused picture of the
    /// last `frames` once there are that many.
    pub fn push(&mut self, image: &RgbView<'_>, read: &PlateRead) -> Option<RectifiedPlate> {
        if self.frames < 2 {
            return None;
        }
        let corners = read.read_corners();
        let rows = read.plate.rows.clamp(1, 2);
        if self.pictures.front().is_some_and(|p| p.rows != rows) {
            self.pictures.clear();
        }
        let size = match self.pictures.front() {
            Some(first) => (first.width, first.height),
            None => canonical_size(&corners, rows)?,
        };
        let picture = rectify(image, &corners, rows, size)?;
        if self.pictures.len() == self.frames {
            self.pictures.pop_front();
        }
        self.pictures.push_back(picture);
        if self.pictures.len() < self.frames {
            return None;
        }
        fuse(self.pictures.make_contiguous())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 40 x 24 picture: a dark bar, 6 px wide, whose left edge is at `left`, on light grey.
    fn bar(left: usize) -> RectifiedPlate {
        let (w, h) = (40usize, 24usize);
        let mut rgb = vec![200u8; w * h * 3];
        for y in 4..20 {
            for x in left..left + 6 {
                rgb[(y * w + x) * 3..(y * w + x) * 3 + 3].copy_from_slice(&[20, 20, 20]);
            }
        }
        RectifiedPlate {
            rows: 1,
            width: w as u32,
            height: h as u32,
            rgb,
        }
    }

    #[test]
    fn pictures_shifted_a_few_pixels_are_aligned_onto_the_last_before_averaging() {
        let fused = fuse(&[bar(13), bar(17), bar(15)]).expect("same size");
        // Aligned, the bar stays 6 px wide and dark where the last picture has it.
        let at = |x: usize| fused.rgb[(12 * 40 + x) * 3];
        assert_eq!(at(15), 20);
        assert_eq!(at(20), 20);
        assert_eq!(at(14), 200);
        assert_eq!(at(21), 200);
    }

    #[test]
    fn one_picture_or_pictures_of_different_sizes_are_not_fused() {
        assert!(fuse(&[bar(10)]).is_none());
        let mut other = bar(10);
        other.rows = 2;
        assert!(fuse(&[bar(10), other]).is_none());
        assert!(fuse(&[]).is_none());
    }

    #[test]
    fn the_canonical_size_keeps_the_plates_aspect_and_refuses_a_degenerate_quad() {
        let one_row = Quad::from_rect(0.0, 0.0, 94.0, 20.0);
        assert_eq!(canonical_size(&one_row, 1), Some((226, 48)));
        let two_row = Quad::from_rect(0.0, 0.0, 40.0, 30.0);
        assert_eq!(canonical_size(&two_row, 2), Some((128, 96)));
        assert_eq!(
            canonical_size(&Quad::from_rect(0.0, 0.0, 0.0, 30.0), 1),
            None
        );
    }

    #[test]
    fn rectifying_a_whole_picture_to_its_own_size_keeps_it() {
        let picture = bar(10);
        let view = picture.view().expect("view");
        let corners = Quad::from_rect(0.0, 0.0, 40.0, 24.0);
        let again = rectify(&view, &corners, 1, (40, 24)).expect("rectified");
        assert_eq!(again.rgb, picture.rgb);
    }
}
