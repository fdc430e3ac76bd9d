//! The recogniser's input line: a located plate rectified by a perspective warp into one
//! text line of the recogniser's height.
//!
//! A one-row plate becomes the line as it is. A two-row plate is cut into its rows (with a
//! small overlap, so a character that leans across the middle is not cut in half) and the
//! rows are laid side by side, top row first, with a gap: one sequence per plate, so the rows of
//! many plates go through the recogniser in one batch and CTC reads across the gap.

use crate::geometry::{luma, warp_quad, warp_to_planar, PlanarTarget, Quad, RgbView};

/// Geometry of the recogniser's input line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LineSpec {
    /// Line height in pixels (the model's input height).
    pub height: u32,
    /// Widest line the model takes; wider content is squeezed to fit.
    pub max_width: u32,
    /// Whether every line has `max_width` columns (fixed-width model) or only as many as its
    /// content needs (dynamic width; a batch is then padded to its widest line).
    pub fixed_width: bool,
    /// Grey value for padding and the gap between rows.
    pub pad_value: u8,
}

/// How much the row bands overlap across the middle of a two-row plate, as a fraction of
/// plate height.
pub const ROW_OVERLAP: f32 = 0.06;

/// A composed line in planar RGB: `3 * height * stride` bytes, content in columns
/// `0..content_width`, padding after it.
#[derive(Debug, Clone, PartialEq)]
pub struct LineImage {
    pub height: u32,
    pub stride: u32,
    pub content_width: u32,
    pub planes: Vec<u8>,
}

impl LineImage {
    /// The same line in a wider buffer (`stride >= self.stride`), padded with `pad_value`.
    pub fn widened(&self, stride: u32, pad_value: u8) -> LineImage {
        if stride <= self.stride {
            return self.clone();
        }
        let (h, old, new) = (self.height as usize, self.stride as usize, stride as usize);
        let mut planes = vec![pad_value; 3 * h * new];
        for c in 0..3 {
            for y in 0..h {
                let from = c * h * old + y * old;
                let to = c * h * new + y * new;
                planes[to..to + old].copy_from_slice(&self.planes[from..from + old]);
            }
        }
        LineImage {
            height: self.height,
            stride,
            content_width: self.content_width,
            planes,
        }
    }

    /// Packed RGB pixels (for saving or evidence).
    pub fn to_rgb(&self) -> Vec<u8> {
        let (h, w) = (self.height as usize, self.stride as usize);
        let plane = h * w;
        let mut rgb = vec![0u8; plane * 3];
        for i in 0..plane {
            for c in 0..3 {
                rgb[i * 3 + c] = self.planes[c * plane + i];
            }
        }
        rgb
    }
}

/// The bands of `quad` that hold the text rows, top first.
pub fn row_bands(quad: &Quad, rows: u8) -> Vec<Quad> {
    if rows >= 2 {
        vec![
            quad.band(0.0, 0.5 + ROW_OVERLAP),
            quad.band(0.5 - ROW_OVERLAP, 1.0),
        ]
    } else {
        vec![*quad]
    }
}

/// Rectifies the plate `quad` of `source` (with `rows` text rows) into one line.
/// `None` when the quad is degenerate.
pub fn compose_line(
    source: &RgbView<'_>,
    quad: &Quad,
    rows: u8,
    spec: &LineSpec,
) -> Option<LineImage> {
    let height = spec.height.max(1) as usize;
    let bands = row_bands(quad, rows);
    let gap = if bands.len() > 1 { height / 4 } else { 0 };
    let natural: Vec<f32> = bands
        .iter()
        .map(|band| {
            let (w, h) = band.size();
            if h <= 0.0 {
                0.0
            } else {
                (height as f32 * w / h).max(height as f32 / 2.0)
            }
        })
        .collect();
    if natural.iter().any(|w| *w <= 0.0 || !w.is_finite()) {
        return None;
    }
    let budget = (spec.max_width as usize).saturating_sub(gap * (bands.len() - 1)) as f32;
    let total: f32 = natural.iter().sum();
    let squeeze = if total > budget { budget / total } else { 1.0 };
    let widths: Vec<usize> = natural
        .iter()
        .map(|w| ((w * squeeze).round() as usize).max(1))
        .collect();
    let content = widths.iter().sum::<usize>() + gap * (bands.len() - 1);
    let stride = if spec.fixed_width {
        spec.max_width as usize
    } else {
        content.min(spec.max_width as usize).max(1)
    };
    let mut planes = vec![spec.pad_value; 3 * height * stride];
    let mut x = 0usize;
    for (band, width) in bands.iter().zip(&widths) {
        let mut target = PlanarTarget {
            planes: &mut planes,
            stride,
            rows: height,
            x,
            width: *width,
            height,
        };
        if !warp_quad(source, band, &mut target) {
            return None;
        }
        x += width + gap;
    }
    Some(LineImage {
        height: height as u32,
        stride: stride as u32,
        content_width: content.min(stride) as u32,
        planes,
    })
}

/// Texture across a plate's middle against its upper and lower text bands: the mean absolute
/// horizontal luminance step in the band at 44-56 % of the plate's height, over the larger of
/// the bands at 18-40 % and 60-82 %. A two-row plate has its gap between rows across the middle
/// (a low ratio); a one-row plate has its characters there (about 1 or more).
pub fn middle_texture_ratio(source: &RgbView<'_>, quad: &Quad) -> Option<f32> {
    const W: usize = 96;
    const H: usize = 50;
    let planes = warp_to_planar(source, quad, W, H)?;
    let plane = W * H;
    let luma = |i: usize| luma(planes[i], planes[plane + i], planes[2 * plane + i]);
    let band = |from: f32, to: f32| {
        let (y0, y1) = ((from * H as f32) as usize, (to * H as f32) as usize);
        let mut sum = 0.0;
        for y in y0..y1 {
            for x in 2..W - 3 {
                sum += (luma(y * W + x + 1) - luma(y * W + x)).abs();
            }
        }
        sum / ((y1 - y0).max(1) * (W - 5)) as f32
    };
    let (upper, middle, lower) = (band(0.18, 0.40), band(0.44, 0.56), band(0.60, 0.82));
    let outer = upper.max(lower);
    (outer > 1.0).then(|| middle / outer)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A white image with a dark top half and a mid-grey bottom half.
    fn two_tone(width: u32, height: u32) -> Vec<u8> {
        let mut pixels = Vec::new();
        for y in 0..height {
            let value = if y < height / 2 { 20 } else { 120 };
            for _ in 0..width {
                pixels.extend([value, value, value]);
            }
        }
        pixels
    }

    #[test]
    fn two_row_plate_becomes_rows_side_by_side() {
        let pixels = two_tone(140, 100);
        let source = RgbView::new(&pixels, 140, 100).expect("image");
        let spec = LineSpec {
            height: 32,
            max_width: 256,
            fixed_width: true,
            pad_value: 255,
        };
        let line = compose_line(&source, &Quad::from_rect(0.0, 0.0, 140.0, 100.0), 2, &spec)
            .expect("line");
        assert_eq!((line.height, line.stride), (32, 256));
        // Each row is 140 wide and 56 high: 80 px at height 32; then an 8 px gap.
        assert_eq!(line.content_width, 80 + 8 + 80);
        let at = |x: usize, y: usize| line.planes[y * 256 + x];
        assert_eq!(at(40, 5), 20, "top row on the left");
        assert_eq!(at(128, 28), 120, "bottom row on the right");
        assert_eq!(at(84, 16), 255, "gap between rows");
        assert_eq!(at(200, 16), 255, "padding after the content");
    }

    #[test]
    fn long_plate_is_squeezed_to_the_widest_line() {
        let pixels = vec![200u8; 600 * 50 * 3];
        let source = RgbView::new(&pixels, 600, 50).expect("image");
        let spec = LineSpec {
            height: 32,
            max_width: 192,
            fixed_width: false,
            pad_value: 128,
        };
        let line =
            compose_line(&source, &Quad::from_rect(0.0, 0.0, 600.0, 50.0), 1, &spec).expect("line");
        assert_eq!(line.stride, 192);
        assert_eq!(line.content_width, 192);
        assert!(line.planes.iter().all(|v| *v == 200));
    }

    /// A white plate with vertical dark strokes (text) in the given height bands.
    fn striped(bands: &[(f32, f32)]) -> Vec<u8> {
        let (w, h) = (200usize, 100usize);
        let mut pixels = vec![255u8; w * h * 3];
        for &(from, to) in bands {
            for y in (from * h as f32) as usize..(to * h as f32) as usize {
                for x in (10..190).filter(|x| x % 12 < 4) {
                    pixels[(y * w + x) * 3..(y * w + x) * 3 + 3].fill(20);
                }
            }
        }
        pixels
    }

    #[test]
    fn middle_texture_tells_two_rows_from_one() {
        let quad = Quad::from_rect(0.0, 0.0, 200.0, 100.0);
        let two_rows = striped(&[(0.08, 0.43), (0.57, 0.92)]);
        let one_row = striped(&[(0.2, 0.8)]);
        let two = middle_texture_ratio(&RgbView::new(&two_rows, 200, 100).expect("image"), &quad)
            .expect("textured");
        let one = middle_texture_ratio(&RgbView::new(&one_row, 200, 100).expect("image"), &quad)
            .expect("textured");
        assert!(two < 0.2, "{two}");
        assert!(one > 0.9, "{one}");
        let blank = vec![255u8; 200 * 100 * 3];
        assert_eq!(
            middle_texture_ratio(&RgbView::new(&blank, 200, 100).expect("image"), &quad),
            None
        );
    }

    #[test]
    fn widening_keeps_pixels_and_pads() {
        let line = LineImage {
            height: 1,
            stride: 2,
            content_width: 2,
            planes: vec![1, 2, 3, 4, 5, 6],
        };
        let wide = line.widened(3, 9);
        assert_eq!(wide.planes, vec![1, 2, 9, 3, 4, 9, 5, 6, 9]);
    }
}
