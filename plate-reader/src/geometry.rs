//! Plane geometry for rectification: quadrilaterals, homographies and a supersampled
//! perspective warp. Pure functions over packed RGB images.

/// A point in image pixels.
pub type Point = [f32; 2];

/// Four corners in order top-left, top-right, bottom-right, bottom-left (image pixels).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Quad(pub [Point; 4]);

fn lerp(a: Point, b: Point, t: f32) -> Point {
    [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t]
}

fn distance(a: Point, b: Point) -> f32 {
    ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt()
}

impl Quad {
    /// The axis-aligned rectangle `x, y, w, h` as a quad.
    pub fn from_rect(x: f32, y: f32, w: f32, h: f32) -> Self {
        Self([[x, y], [x + w, y], [x + w, y + h], [x, y + h]])
    }

    /// Mean width (top and bottom edges) and mean height (left and right edges).
    pub fn size(&self) -> (f32, f32) {
        let [tl, tr, br, bl] = self.0;
        (
            (distance(tl, tr) + distance(bl, br)) / 2.0,
            (distance(tl, bl) + distance(tr, br)) / 2.0,
        )
    }

    /// Mean width over mean height ([`Self::size`]): NaN or infinite for a degenerate quad.
    pub fn width_per_height(&self) -> f32 {
        let (width, height) = self.size();
        width / height
    }

    /// The band of this quad between fractions `from` and `to` of its height (0 = top edge).
    pub fn band(&self, from: f32, to: f32) -> Self {
        let [tl, tr, br, bl] = self.0;
        Self([
            lerp(tl, bl, from),
            lerp(tr, br, from),
            lerp(tr, br, to),
            lerp(tl, bl, to),
        ])
    }

    /// This quad grown by `fraction` of its size on every side.
    pub fn grown(&self, fraction_x: f32, fraction_y: f32) -> Self {
        let [tl, tr, br, bl] = self.0;
        let widen = |a: Point, b: Point| (lerp(a, b, -fraction_x), lerp(a, b, 1.0 + fraction_x));
        let (tl, tr) = widen(tl, tr);
        let (bl, br) = widen(bl, br);
        let heighten = |a: Point, b: Point| (lerp(a, b, -fraction_y), lerp(a, b, 1.0 + fraction_y));
        let (tl, bl) = heighten(tl, bl);
        let (tr, br) = heighten(tr, br);
        Self([tl, tr, br, bl])
    }

    /// Axis-aligned bounds `x, y, w, h`.
    pub fn bounds(&self) -> [f32; 4] {
        let xs = self.0.map(|p| p[0]);
        let ys = self.0.map(|p| p[1]);
        let x0 = xs.iter().copied().fold(f32::INFINITY, f32::min);
        let x1 = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let y0 = ys.iter().copied().fold(f32::INFINITY, f32::min);
        let y1 = ys.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        [x0, y0, x1 - x0, y1 - y0]
    }
}

/// A 3x3 projective map, row-major, `h[8] == 1`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Homography(pub [f64; 9]);

impl Homography {
    /// The map taking the rectangle `[0, width] x [0, height]` onto `quad` (corner to corner).
    /// `None` when the quad is degenerate.
    pub fn rect_to_quad(width: f32, height: f32, quad: &Quad) -> Option<Self> {
        let rect = [[0.0, 0.0], [width, 0.0], [width, height], [0.0, height]];
        let mut a = [[0f64; 9]; 8];
        for (i, (from, to)) in rect.iter().zip(quad.0.iter()).enumerate() {
            let (u, v) = (f64::from(from[0]), f64::from(from[1]));
            let (x, y) = (f64::from(to[0]), f64::from(to[1]));
            a[2 * i] = [u, v, 1.0, 0.0, 0.0, 0.0, -u * x, -v * x, x];
            a[2 * i + 1] = [0.0, 0.0, 0.0, u, v, 1.0, -u * y, -v * y, y];
        }
        let solution = solve8(a)?;
        let h = [
            solution[0],
            solution[1],
            solution[2],
            solution[3],
            solution[4],
            solution[5],
            solution[6],
            solution[7],
            1.0,
        ];
        h.iter().all(|v| v.is_finite()).then_some(Self(h))
    }

    /// Maps a point.
    pub fn apply(&self, x: f64, y: f64) -> (f64, f64) {
        let h = &self.0;
        let w = h[6] * x + h[7] * y + h[8];
        (
            (h[0] * x + h[1] * y + h[2]) / w,
            (h[3] * x + h[4] * y + h[5]) / w,
        )
    }
}

/// Gaussian elimination with partial pivoting on an 8x9 augmented matrix.
fn solve8(mut a: [[f64; 9]; 8]) -> Option<[f64; 8]> {
    for column in 0..8 {
        let pivot =
            (column..8).max_by(|&i, &j| a[i][column].abs().total_cmp(&a[j][column].abs()))?;
        if a[pivot][column].abs() < 1e-12 {
            return None;
        }
        a.swap(column, pivot);
        let pivot_row = a[column];
        for (row, values) in a.iter_mut().enumerate() {
            if row != column {
                let factor = values[column] / pivot_row[column];
                if factor != 0.0 {
                    for (value, pivot_value) in values.iter_mut().zip(&pivot_row).skip(column) {
                        *value -= factor * pivot_value;
                    }
                }
            }
        }
    }
    let mut x = [0f64; 8];
    for (i, value) in x.iter_mut().enumerate() {
        *value = a[i][8] / a[i][i];
    }
    Some(x)
}

/// A packed RGB image borrowed from its owner.
#[derive(Debug, Clone, Copy)]
pub struct RgbView<'a> {
    pub pixels: &'a [u8],
    pub width: u32,
    pub height: u32,
}

impl<'a> RgbView<'a> {
    /// `None` unless `pixels` holds `width * height * 3` bytes and the image is not empty.
    pub fn new(pixels: &'a [u8], width: u32, height: u32) -> Option<Self> {
        (width > 0 && height > 0 && pixels.len() >= width as usize * height as usize * 3).then_some(
            Self {
                pixels,
                width,
                height,
            },
        )
    }

    /// A copy of the pixels from `(x0, y0)` up to, not including, `(x1, y1)`; `None` when that
    /// is empty or not inside the image.
    pub fn crop(&self, x0: u32, y0: u32, x1: u32, y1: u32) -> Option<Vec<u8>> {
        if x1 <= x0 || y1 <= y0 || x1 > self.width || y1 > self.height {
            return None;
        }
        let stride = self.width as usize * 3;
        let row = (x1 - x0) as usize * 3;
        let mut out = Vec::with_capacity(row * (y1 - y0) as usize);
        for y in y0 as usize..y1 as usize {
            let start = y * stride + x0 as usize * 3;
            out.extend_from_slice(self.pixels.get(start..start + row)?);
        }
        Some(out)
    }

    /// The pixels placed on a canvas `width` x `height` of grey `fill`, their top-left corner at
    /// `(x, y)`: the inverse of [`RgbView::crop`]. `None` when the canvas does not hold them or
    /// the view is short of its pixels.
    pub fn placed_on(&self, width: u32, height: u32, x: u32, y: u32, fill: u8) -> Option<Vec<u8>> {
        let (w, h) = (self.width as usize, self.height as usize);
        if w == 0 || x as usize + w > width as usize || y as usize + h > height as usize {
            return None;
        }
        let stride = width as usize * 3;
        let mut canvas = vec![fill; stride * height as usize];
        let rows = self.pixels.get(..w * h * 3)?.chunks_exact(w * 3);
        for (row, pixels) in rows.enumerate() {
            let start = (y as usize + row) * stride + x as usize * 3;
            canvas[start..start + w * 3].copy_from_slice(pixels);
        }
        Some(canvas)
    }

    /// The image resized by `scale` (Lanczos, its kernel widened when shrinking, so a smaller
    /// copy averages what it drops): pixels, width, height. `None` for a scale that leaves no
    /// pixel or a view short of its pixels.
    pub fn scaled(&self, scale: f32) -> Option<(Vec<u8>, u32, u32)> {
        let width = (self.width as f32 * scale).round();
        let height = (self.height as f32 * scale).round();
        if !(width >= 1.0 && height >= 1.0) {
            return None;
        }
        let size = self.width as usize * self.height as usize * 3;
        let source: image::ImageBuffer<image::Rgb<u8>, &[u8]> =
            image::ImageBuffer::from_raw(self.width, self.height, self.pixels.get(..size)?)?;
        let resized = image::imageops::resize(
            &source,
            width as u32,
            height as u32,
            image::imageops::FilterType::Lanczos3,
        );
        Some((resized.into_raw(), width as u32, height as u32))
    }

    /// Bilinear sample at a pixel-centre position (`(0.5, 0.5)` is the centre of pixel 0),
    /// clamped at the borders.
    fn sample(&self, x: f32, y: f32) -> [f32; 3] {
        let (w, h) = (self.width as usize, self.height as usize);
        let fx = (x - 0.5).clamp(0.0, (w - 1) as f32);
        let fy = (y - 0.5).clamp(0.0, (h - 1) as f32);
        let (x0, y0) = (fx.floor() as usize, fy.floor() as usize);
        let (x1, y1) = ((x0 + 1).min(w - 1), (y0 + 1).min(h - 1));
        let (ax, ay) = (fx - x0 as f32, fy - y0 as f32);
        let at = |xx: usize, yy: usize, c: usize| f32::from(self.pixels[(yy * w + xx) * 3 + c]);
        let mut out = [0f32; 3];
        for (c, value) in out.iter_mut().enumerate() {
            let top = at(x0, y0, c) * (1.0 - ax) + at(x1, y0, c) * ax;
            let bottom = at(x0, y1, c) * (1.0 - ax) + at(x1, y1, c) * ax;
            *value = top * (1.0 - ay) + bottom * ay;
        }
        out
    }
}

/// Where a warp writes: planar RGB planes of `stride` x rows, at column `x`, `width` x `height`.
#[derive(Debug)]
pub struct PlanarTarget<'a> {
    pub planes: &'a mut [u8],
    pub stride: usize,
    pub rows: usize,
    pub x: usize,
    pub width: usize,
    pub height: usize,
}

/// Warps `quad` of `source` onto a `width` x `height` rectangle of `target`, supersampling
/// (up to 4 x 4 taps per pixel) when the quad is larger than the target, so small text is
/// averaged rather than aliased. Returns false when the quad is degenerate (nothing written).
pub fn warp_quad(source: &RgbView<'_>, quad: &Quad, target: &mut PlanarTarget<'_>) -> bool {
    let (width, height) = (target.width, target.height);
    if width == 0 || height == 0 {
        return true;
    }
    let Some(map) = Homography::rect_to_quad(width as f32, height as f32, quad) else {
        return false;
    };
    let (quad_width, quad_height) = quad.size();
    let taps = |ratio: f32| (ratio.ceil() as usize).clamp(1, 4);
    let (taps_x, taps_y) = (
        taps(quad_width / width as f32),
        taps(quad_height / height as f32),
    );
    let plane = target.stride * target.rows;
    let norm = 1.0 / (taps_x * taps_y) as f32;
    for v in 0..height.min(target.rows) {
        for u in 0..width {
            let column = target.x + u;
            if column >= target.stride {
                break;
            }
            let mut sum = [0f32; 3];
            for sy in 0..taps_y {
                let dv = v as f64 + (sy as f64 + 0.5) / taps_y as f64;
                for sx in 0..taps_x {
                    let du = u as f64 + (sx as f64 + 0.5) / taps_x as f64;
                    let (x, y) = map.apply(du, dv);
                    let value = source.sample(x as f32, y as f32);
                    for c in 0..3 {
                        sum[c] += value[c];
                    }
                }
            }
            let index = v * target.stride + column;
            for (c, total) in sum.iter().enumerate() {
                target.planes[c * plane + index] = (total * norm).round().clamp(0.0, 255.0) as u8;
            }
        }
    }
    true
}

/// `quad` of `source` warped ([`warp_quad`]) onto a new `width` x `height` picture of its own,
/// planar RGB (`3 * width * height` bytes); `None` when the quad is degenerate or the size
/// empty.
pub fn warp_to_planar(
    source: &RgbView<'_>,
    quad: &Quad,
    width: usize,
    height: usize,
) -> Option<Vec<u8>> {
    if width == 0 || height == 0 {
        return None;
    }
    let mut planes = vec![0u8; 3 * width * height];
    let mut target = PlanarTarget {
        planes: &mut planes,
        stride: width,
        rows: height,
        x: 0,
        width,
        height,
    };
    warp_quad(source, quad, &mut target).then_some(planes)
}

/// Luminance of one RGB pixel (ITU-R BT.601 weights).
pub fn luma(r: u8, g: u8, b: u8) -> f32 {
    0.299 * f32::from(r) + 0.587 * f32::from(g) + 0.114 * f32::from(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_copies_the_pixels_inside_and_refuses_an_empty_or_outside_window() {
        // 4 x 3 image whose red channel is its pixel index.
        let pixels: Vec<u8> = (0..12u8).flat_map(|i| [i, 0, 0]).collect();
        let image = RgbView::new(&pixels, 4, 3).expect("whole image");
        let crop = image.crop(1, 1, 3, 3).expect("inside");
        let reds: Vec<u8> = crop.chunks(3).map(|p| p[0]).collect();
        assert_eq!(reds, vec![5, 6, 9, 10]);
        assert!(image.crop(2, 1, 2, 3).is_none(), "empty");
        assert!(image.crop(0, 0, 5, 3).is_none(), "wider than the image");
        assert!(image.crop(0, 2, 4, 4).is_none(), "below the image");
    }

    #[test]
    fn placed_on_a_canvas_the_pixels_come_back_by_crop_and_the_rest_is_grey() {
        let pixels: Vec<u8> = (0..12u8).flat_map(|i| [i, 0, 0]).collect();
        let image = RgbView::new(&pixels, 4, 3).expect("whole image");
        let canvas = image.placed_on(7, 5, 2, 1, 114).expect("fits");
        assert_eq!(canvas.len(), 7 * 5 * 3);
        let on_canvas = RgbView::new(&canvas, 7, 5).expect("canvas");
        assert_eq!(on_canvas.crop(2, 1, 6, 4).expect("inside"), pixels);
        assert_eq!(&canvas[..3], &[114, 114, 114], "the border is the fill");
        assert!(
            image.placed_on(5, 3, 2, 0, 114).is_none(),
            "wider than the canvas"
        );
        assert!(
            image.placed_on(4, 3, 0, 1, 114).is_none(),
            "below the canvas"
        );
        // A view short of its pixels is refused, not sliced.
        let short = RgbView {
            pixels: &pixels[..30],
            width: 4,
            height: 3,
        };
        assert!(short.placed_on(8, 6, 0, 0, 114).is_none());
    }

    #[test]
    fn homography_maps_rectangle_corners_onto_the_quad() {
        let quad = Quad([[10.0, 20.0], [110.0, 30.0], [105.0, 70.0], [12.0, 60.0]]);
        let map = Homography::rect_to_quad(200.0, 50.0, &quad).expect("regular quad");
        for ((u, v), expected) in [(0.0, 0.0), (200.0, 0.0), (200.0, 50.0), (0.0, 50.0)]
            .into_iter()
            .zip(quad.0)
        {
            let (x, y) = map.apply(u, v);
            assert!((x as f32 - expected[0]).abs() < 1e-3, "{x} vs {expected:?}");
            assert!((y as f32 - expected[1]).abs() < 1e-3, "{y} vs {expected:?}");
        }
    }

    #[test]
    fn degenerate_quad_has_no_homography() {
        let quad = Quad([[5.0, 5.0]; 4]);
        assert!(Homography::rect_to_quad(10.0, 10.0, &quad).is_none());
    }

    #[test]
    fn warp_of_the_whole_image_reproduces_it() {
        // A 4x2 image warped onto a 4x2 target through its own outline is an identity.
        let pixels: Vec<u8> = (0..24).map(|i| (i * 10) as u8).collect();
        let source = RgbView::new(&pixels, 4, 2).expect("valid image");
        let planes = warp_to_planar(&source, &Quad::from_rect(0.0, 0.0, 4.0, 2.0), 4, 2)
            .expect("a whole image is no degenerate quad");
        for y in 0..2 {
            for x in 0..4 {
                for c in 0..3 {
                    assert_eq!(planes[c * 8 + y * 4 + x], pixels[(y * 4 + x) * 3 + c]);
                }
            }
        }
    }

    #[test]
    fn band_and_grow_keep_the_frame() {
        let quad = Quad::from_rect(0.0, 0.0, 100.0, 40.0);
        assert_eq!(quad.band(0.5, 1.0), Quad::from_rect(0.0, 20.0, 100.0, 20.0));
        let grown = quad.grown(0.1, 0.25);
        assert_eq!(grown.bounds(), [-10.0, -10.0, 120.0, 60.0]);
    }

    #[test]
    fn a_scaled_view_has_the_scaled_size_and_keeps_a_flat_colour() {
        let pixels = [10u8, 120, 240].repeat(100 * 50);
        let view = RgbView::new(&pixels, 100, 50).unwrap();
        let (small, w, h) = view.scaled(0.75).unwrap();
        assert_eq!((w, h, small.len()), (75, 38, 75 * 38 * 3));
        assert!(small.chunks_exact(3).all(|p| p == [10, 120, 240]));
        let (_, w, h) = view.scaled(1.25).unwrap();
        assert_eq!((w, h), (125, 63));
        assert!(view.scaled(0.001).is_none());
    }
}
