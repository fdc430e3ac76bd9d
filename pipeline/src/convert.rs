//! Decoded YUV straight into the detector's letterboxed, planar RGB/BGR picture, in one pass.
//!
//! Decoding here is cheaper than GStreamer's `videoscale ! videoconvert`, so ingest does not use
//! them: it hands the decoder's I420/NV12 planes to [`letterbox_yuv`], which samples only the
//! pixels the tensor needs (bilinear luma, bilinear chroma), converts them with integer
//! arithmetic, and writes the padded tensor planes.

use roadsight_core::frame::{ChannelOrder, Letterbox, TensorImage, TensorSpec};

/// How chroma is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChromaLayout {
    /// Separate U and V planes at half width and height.
    I420,
    /// One interleaved UV plane at half width and height.
    Nv12,
}

/// The YUV-to-RGB matrix and range of a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum YuvMatrix {
    Bt601Limited,
    Bt709Limited,
    Bt601Full,
    Bt709Full,
}

/// A borrowed decoded picture.
#[derive(Debug, Clone, Copy)]
pub struct YuvView<'a> {
    pub layout: ChromaLayout,
    pub matrix: YuvMatrix,
    pub width: u32,
    pub height: u32,
    pub luma: &'a [u8],
    pub luma_stride: usize,
    /// U plane (I420) or interleaved UV plane (NV12).
    pub chroma_a: &'a [u8],
    pub chroma_a_stride: usize,
    /// V plane (I420); unused for NV12.
    pub chroma_b: &'a [u8],
    pub chroma_b_stride: usize,
}

/// Why a picture could not be converted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConvertError {
    #[error("picture size {width}x{height} is empty or odd-sized planes are too small")]
    BadGeometry { width: u32, height: u32 },
    #[error("{plane} plane holds {actual} bytes, {needed} needed for {width}x{height}")]
    ShortPlane {
        plane: &'static str,
        needed: usize,
        actual: usize,
        width: u32,
        height: u32,
    },
}

const WEIGHT_BITS: u32 = 8;
const WEIGHT_ONE: u32 = 1 << WEIGHT_BITS;

/// Integer coefficients (Q6, in `i16` lanes) of one matrix.
///
/// Q6 keeps every intermediate inside `i16` (with saturating adds where a sum can pass it;
/// such sums clamp to 255 anyway), which SSE2 handles eight lanes at a time. The cost is at most
/// one level of rounding against the exact matrix.
#[derive(Clone, Copy)]
struct Coefficients {
    y_offset: i16,
    y_gain: i16,
    r_from_v: i16,
    g_from_u: i16,
    g_from_v: i16,
    b_from_u: i16,
}

impl YuvMatrix {
    fn coefficients(self) -> Coefficients {
        let q = |x: f64| (x * 64.0).round() as i16;
        let (y_offset, y_gain, kr, kb, chroma_gain) = match self {
            YuvMatrix::Bt601Limited => (16, 255.0 / 219.0, 0.299, 0.114, 255.0 / 224.0),
            YuvMatrix::Bt709Limited => (16, 255.0 / 219.0, 0.2126, 0.0722, 255.0 / 224.0),
            YuvMatrix::Bt601Full => (0, 1.0, 0.299, 0.114, 1.0),
            YuvMatrix::Bt709Full => (0, 1.0, 0.2126, 0.0722, 1.0),
        };
        let kg = 1.0 - kr - kb;
        Coefficients {
            y_offset,
            y_gain: q(y_gain),
            r_from_v: q(2.0 * (1.0 - kr) * chroma_gain),
            g_from_u: q(2.0 * (1.0 - kb) * kb / kg * chroma_gain),
            g_from_v: q(2.0 * (1.0 - kr) * kr / kg * chroma_gain),
            b_from_u: q(2.0 * (1.0 - kb) * chroma_gain),
        }
    }
}

/// A source position per destination pixel: left index and right-hand weight (0..=256).
#[derive(Debug, Clone, Copy, Default)]
struct Tap {
    index: u32,
    weight: u32,
}

/// Bilinear taps with half-pixel centres (as OpenCV's INTER_LINEAR), for `dest` samples over
/// `source` samples, where `ratio = source / dest`.
fn taps(dest: u32, source: u32, ratio: f32) -> Vec<Tap> {
    let last = source.saturating_sub(1);
    (0..dest)
        .map(|d| {
            let position = ((d as f32 + 0.5) * ratio - 0.5).max(0.0);
            let index = (position.floor() as u32).min(last);
            let weight = if index >= last {
                0
            } else {
                ((position - index as f32) * WEIGHT_ONE as f32).round() as u32
            };
            Tap { index, weight }
        })
        .collect()
}

/// Reusable sampling tables for one source size and tensor spec.
///
/// Building them costs a few microseconds; ingest keeps one per camera and rebuilds it only when
/// the stream's size changes.
#[derive(Debug, Clone)]
pub struct LetterboxPlan {
    letterbox: Letterbox,
    spec: TensorSpec,
    luma_x: Vec<ByteTap>,
    luma_y: Vec<Tap>,
    /// Chroma taps for a planar row (I420's U or V).
    chroma_x_planar: Vec<ByteTap>,
    /// Chroma taps for an interleaved UV row (NV12): U, then V.
    chroma_x_u_interleaved: Vec<ByteTap>,
    chroma_x_v_interleaved: Vec<ByteTap>,
    chroma_y: Vec<Tap>,
    scratch: RowScratch,
}

/// Row buffers one conversion needs, kept between frames.
#[derive(Debug, Clone, Default)]
struct RowScratch {
    blended_luma: Vec<u8>,
    blended_a: Vec<u8>,
    blended_b: Vec<u8>,
    y_row: Vec<u8>,
    u_row: Vec<u8>,
    v_row: Vec<u8>,
}

impl LetterboxPlan {
    pub fn new(source_width: u32, source_height: u32, spec: &TensorSpec) -> Self {
        let letterbox = Letterbox::fit(source_width, source_height, spec);
        let ratio_x = source_width as f32 / letterbox.scaled_width as f32;
        let ratio_y = source_height as f32 / letterbox.scaled_height as f32;
        let chroma_width = source_width.div_ceil(2);
        let chroma_height = source_height.div_ceil(2);
        let chroma_x = taps(letterbox.scaled_width, chroma_width, ratio_x / 2.0);
        Self {
            letterbox,
            spec: *spec,
            luma_x: byte_taps(&taps(letterbox.scaled_width, source_width, ratio_x), 1, 0),
            luma_y: taps(letterbox.scaled_height, source_height, ratio_y),
            chroma_x_planar: byte_taps(&chroma_x, 1, 0),
            chroma_x_u_interleaved: byte_taps(&chroma_x, 2, 0),
            chroma_x_v_interleaved: byte_taps(&chroma_x, 2, 1),
            chroma_y: taps(letterbox.scaled_height, chroma_height, ratio_y / 2.0),
            scratch: RowScratch::default(),
        }
    }

    pub fn letterbox(&self) -> &Letterbox {
        &self.letterbox
    }

    /// True when this plan was built for that source size and spec.
    pub fn fits(&self, source_width: u32, source_height: u32, spec: &TensorSpec) -> bool {
        self.letterbox.source_width == source_width
            && self.letterbox.source_height == source_height
            && self.spec == *spec
    }
}

/// Vertical blend of two source rows, rounded back to 8 bits.
/// Contiguous and branch-free, so the compiler vectorises it (u16 lanes).
#[inline]
fn blend_rows(row0: &[u8], row1: &[u8], weight: u32, out: &mut [u8]) {
    let (w0, w1) = ((WEIGHT_ONE - weight) as u16, weight as u16);
    for ((out, a), b) in out.iter_mut().zip(row0).zip(row1) {
        *out = ((u16::from(*a) * w0 + u16::from(*b) * w1 + 128) >> 8) as u8;
    }
}

/// A horizontal tap resolved to a byte index in a blended row: `row[first]` and
/// `row[first + second_offset]`, blended with `weight` (0..=256) on the second.
#[derive(Debug, Clone, Copy, Default)]
struct ByteTap {
    first: u32,
    second_offset: u8,
    weight: u16,
}

fn byte_taps(taps: &[Tap], step: usize, offset: usize) -> Vec<ByteTap> {
    taps.iter()
        .map(|tap| ByteTap {
            first: (tap.index as usize * step + offset) as u32,
            second_offset: if tap.weight == 0 { 0 } else { step as u8 },
            weight: tap.weight as u16,
        })
        .collect()
}

/// Horizontal nearest-sample gather (chroma: half resolution already, and the detector's
/// signal is in luma, so one load per pixel instead of a blend).
#[inline]
fn pick_row(blended: &[u8], taps: &[ByteTap], out: &mut [u8]) {
    for (out, tap) in out.iter_mut().zip(taps) {
        let nearest = tap.first as usize
            + if tap.weight >= (WEIGHT_ONE / 2) as u16 {
                tap.second_offset as usize
            } else {
                0
            };
        if let Some(value) = blended.get(nearest) {
            *out = *value;
        }
    }
}

/// Horizontal 2-tap gather from a blended row into 8-bit samples.
#[inline]
fn gather_row(blended: &[u8], taps: &[ByteTap], out: &mut [u8]) {
    for (out, tap) in out.iter_mut().zip(taps) {
        let first = tap.first as usize;
        let (Some(left), Some(right)) = (
            blended.get(first),
            blended.get(first + tap.second_offset as usize),
        ) else {
            continue;
        };
        let (left, right) = (u16::from(*left), u16::from(*right));
        *out = ((left * (WEIGHT_ONE as u16 - tap.weight) + right * tap.weight + 128) >> 8) as u8;
    }
}

/// One row of Y/U/V samples to R, G and B with the matrix's Q6 coefficients.
/// Straight-line `i16` arithmetic over slices, so the compiler vectorises it.
#[inline]
fn yuv_row_to_rgb(
    c: &Coefficients,
    y: &[u8],
    u: &[u8],
    v: &[u8],
    r: &mut [u8],
    g: &mut [u8],
    b: &mut [u8],
) {
    let n = y
        .len()
        .min(u.len())
        .min(v.len())
        .min(r.len())
        .min(g.len())
        .min(b.len());
    let (y, u, v) = (&y[..n], &u[..n], &v[..n]);
    let (r, g, b) = (&mut r[..n], &mut g[..n], &mut b[..n]);
    let to_u8 = |q6: i16| (q6.saturating_add(32) >> 6).clamp(0, 255) as u8;
    for i in 0..n {
        // (255 - 16) * 75 and 127 * 135 fit i16 on their own; their sums saturate.
        let luma = (i16::from(y[i]) - c.y_offset) * c.y_gain;
        let cu = i16::from(u[i]) - 128;
        let cv = i16::from(v[i]) - 128;
        r[i] = to_u8(luma.saturating_add(c.r_from_v * cv));
        g[i] = to_u8(
            luma.saturating_sub(c.g_from_u * cu)
                .saturating_sub(c.g_from_v * cv),
        );
        b[i] = to_u8(luma.saturating_add(c.b_from_u * cu));
    }
}

fn check_plane(
    plane: &'static str,
    data: &[u8],
    stride: usize,
    row_bytes: usize,
    rows: usize,
    view: &YuvView<'_>,
) -> Result<(), ConvertError> {
    let needed = if rows == 0 {
        0
    } else {
        stride * (rows - 1) + row_bytes
    };
    if stride < row_bytes || data.len() < needed {
        return Err(ConvertError::ShortPlane {
            plane,
            needed,
            actual: data.len(),
            width: view.width,
            height: view.height,
        });
    }
    Ok(())
}

/// Converts the region `x, y, width, height` of `view` (clipped to the picture) to packed RGB at
/// full resolution into `out`, for stages that read detail (plates) from part of a frame. Chroma
/// is taken from the nearest sample. Returns the region's size; `None` when it misses the
/// picture.
pub fn crop_yuv_to_rgb(
    view: &YuvView<'_>,
    region: [u32; 4],
    out: &mut Vec<u8>,
) -> Result<Option<(u32, u32)>, ConvertError> {
    let (width, height) = (view.width as usize, view.height as usize);
    if width < 2 || height < 2 {
        return Err(ConvertError::BadGeometry {
            width: view.width,
            height: view.height,
        });
    }
    let chroma_rows = height.div_ceil(2);
    let chroma_row_bytes = match view.layout {
        ChromaLayout::I420 => width.div_ceil(2),
        ChromaLayout::Nv12 => width.div_ceil(2) * 2,
    };
    check_plane("Y", view.luma, view.luma_stride, width, height, view)?;
    check_plane(
        "U",
        view.chroma_a,
        view.chroma_a_stride,
        chroma_row_bytes,
        chroma_rows,
        view,
    )?;
    if view.layout == ChromaLayout::I420 {
        check_plane(
            "V",
            view.chroma_b,
            view.chroma_b_stride,
            chroma_row_bytes,
            chroma_rows,
            view,
        )?;
    }
    let x0 = (region[0] as usize).min(width);
    let y0 = (region[1] as usize).min(height);
    let x1 = (region[0] as usize)
        .saturating_add(region[2] as usize)
        .min(width);
    let y1 = (region[1] as usize)
        .saturating_add(region[3] as usize)
        .min(height);
    if x1 <= x0 || y1 <= y0 {
        return Ok(None);
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let c = view.matrix.coefficients();
    out.clear();
    out.resize(w * h * 3, 0);
    let (mut u_row, mut v_row) = (vec![0u8; w], vec![0u8; w]);
    let (mut r, mut g, mut b) = (vec![0u8; w], vec![0u8; w], vec![0u8; w]);
    for (row, y) in (y0..y1).enumerate() {
        let luma = &view.luma[y * view.luma_stride + x0..y * view.luma_stride + x1];
        let cy = y / 2;
        for (i, x) in (x0..x1).enumerate() {
            let cx = x / 2;
            (u_row[i], v_row[i]) = match view.layout {
                ChromaLayout::I420 => (
                    view.chroma_a[cy * view.chroma_a_stride + cx],
                    view.chroma_b[cy * view.chroma_b_stride + cx],
                ),
                ChromaLayout::Nv12 => (
                    view.chroma_a[cy * view.chroma_a_stride + 2 * cx],
                    view.chroma_a[cy * view.chroma_a_stride + 2 * cx + 1],
                ),
            };
        }
        yuv_row_to_rgb(&c, luma, &u_row, &v_row, &mut r, &mut g, &mut b);
        let target = &mut out[row * w * 3..(row + 1) * w * 3];
        for (i, pixel) in target.chunks_exact_mut(3).enumerate() {
            pixel.copy_from_slice(&[r[i], g[i], b[i]]);
        }
    }
    Ok(Some((w as u32, h as u32)))
}

/// Converts `view` into a letterboxed tensor picture, reusing `plan` (rebuilt if it does not fit)
/// and `out` (resized as needed).
pub fn letterbox_yuv(
    view: &YuvView<'_>,
    spec: &TensorSpec,
    plan: &mut Option<LetterboxPlan>,
    out: &mut Vec<u8>,
) -> Result<Letterbox, ConvertError> {
    if view.width < 2 || view.height < 2 {
        return Err(ConvertError::BadGeometry {
            width: view.width,
            height: view.height,
        });
    }
    let (width, height) = (view.width as usize, view.height as usize);
    let (chroma_width, chroma_height) = (width.div_ceil(2), height.div_ceil(2));
    check_plane("Y", view.luma, view.luma_stride, width, height, view)?;
    match view.layout {
        ChromaLayout::I420 => {
            check_plane(
                "U",
                view.chroma_a,
                view.chroma_a_stride,
                chroma_width,
                chroma_height,
                view,
            )?;
            check_plane(
                "V",
                view.chroma_b,
                view.chroma_b_stride,
                chroma_width,
                chroma_height,
                view,
            )?;
        }
        ChromaLayout::Nv12 => check_plane(
            "UV",
            view.chroma_a,
            view.chroma_a_stride,
            chroma_width * 2,
            chroma_height,
            view,
        )?,
    }
    if !plan
        .as_ref()
        .is_some_and(|p| p.fits(view.width, view.height, spec))
    {
        *plan = Some(LetterboxPlan::new(view.width, view.height, spec));
    }
    let Some(plan) = plan.as_mut() else {
        return Err(ConvertError::BadGeometry {
            width: view.width,
            height: view.height,
        });
    };
    let letterbox = plan.letterbox;
    let tensor_width = spec.width as usize;
    let tensor_height = spec.height as usize;
    let plane_len = tensor_width * tensor_height;
    let scaled_width = letterbox.scaled_width as usize;
    let (left, top) = (letterbox.offset_x as usize, letterbox.offset_y as usize);
    out.resize(plane_len * 3, spec.pad_value);
    letterbox.fill_padding(spec, out, true);
    let (plane0, rest) = out.split_at_mut(plane_len);
    let (plane1, plane2) = rest.split_at_mut(plane_len);
    // Planes are written in tensor channel order.
    let (r_plane, g_plane, b_plane) = match spec.channel_order {
        ChannelOrder::Rgb => (plane0, plane1, plane2),
        ChannelOrder::Bgr => (plane2, plane1, plane0),
    };
    let c = view.matrix.coefficients();
    let chroma_row_bytes = match view.layout {
        ChromaLayout::I420 => chroma_width,
        ChromaLayout::Nv12 => chroma_width * 2,
    };
    // Row buffers live in the plan, so a frame allocates nothing.
    let RowScratch {
        blended_luma,
        blended_a,
        blended_b,
        y_row,
        u_row,
        v_row,
    } = &mut plan.scratch;
    blended_luma.resize(width, 0);
    blended_a.resize(chroma_row_bytes, 0);
    blended_b.resize(chroma_width, 0);
    for row in [&mut *y_row, &mut *u_row, &mut *v_row] {
        row.resize(scaled_width, 0);
    }
    let row_of =
        |data: &'_ [u8], stride: usize, index: usize, bytes: usize| -> std::ops::Range<usize> {
            let start = (index * stride).min(data.len());
            start..(start + bytes).min(data.len())
        };
    let mut last_luma_rows = None;
    let mut last_chroma_rows = None;
    for (row, (ly, cy)) in plan.luma_y.iter().zip(plan.chroma_y.iter()).enumerate() {
        let luma_rows = (ly.index, ly.weight);
        if last_luma_rows != Some(luma_rows) {
            let next = ly.index as usize + usize::from(ly.weight > 0);
            blend_rows(
                &view.luma[row_of(view.luma, view.luma_stride, ly.index as usize, width)],
                &view.luma[row_of(view.luma, view.luma_stride, next, width)],
                ly.weight,
                blended_luma,
            );
            last_luma_rows = Some(luma_rows);
        }
        gather_row(blended_luma, &plan.luma_x, y_row);
        let chroma_rows = (cy.index, cy.weight);
        if last_chroma_rows != Some(chroma_rows) {
            let first = cy.index as usize;
            let next = first + usize::from(cy.weight > 0);
            blend_rows(
                &view.chroma_a
                    [row_of(view.chroma_a, view.chroma_a_stride, first, chroma_row_bytes)],
                &view.chroma_a[row_of(view.chroma_a, view.chroma_a_stride, next, chroma_row_bytes)],
                cy.weight,
                blended_a,
            );
            if view.layout == ChromaLayout::I420 {
                blend_rows(
                    &view.chroma_b
                        [row_of(view.chroma_b, view.chroma_b_stride, first, chroma_width)],
                    &view.chroma_b[row_of(view.chroma_b, view.chroma_b_stride, next, chroma_width)],
                    cy.weight,
                    blended_b,
                );
            }
            last_chroma_rows = Some(chroma_rows);
        }
        match view.layout {
            ChromaLayout::I420 => {
                pick_row(blended_a, &plan.chroma_x_planar, u_row);
                pick_row(blended_b, &plan.chroma_x_planar, v_row);
            }
            ChromaLayout::Nv12 => {
                pick_row(blended_a, &plan.chroma_x_u_interleaved, u_row);
                pick_row(blended_a, &plan.chroma_x_v_interleaved, v_row);
            }
        }
        let start = (row + top) * tensor_width + left;
        let end = start + scaled_width;
        yuv_row_to_rgb(
            &c,
            y_row,
            u_row,
            v_row,
            &mut r_plane[start..end],
            &mut g_plane[start..end],
            &mut b_plane[start..end],
        );
    }
    Ok(letterbox)
}

/// Convenience: converts into a fresh [`TensorImage`].
pub fn tensor_image_from_yuv(
    view: &YuvView<'_>,
    spec: &TensorSpec,
) -> Result<TensorImage, ConvertError> {
    let mut plan = None;
    let mut planes = roadsight_core::PlaneBuffer::default();
    let letterbox = letterbox_yuv(view, spec, &mut plan, planes.as_vec_mut())?;
    Ok(TensorImage {
        spec: *spec,
        letterbox,
        planes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use roadsight_core::frame::LetterboxPlacement;

    fn spec(width: u32, height: u32, placement: LetterboxPlacement) -> TensorSpec {
        TensorSpec {
            width,
            height,
            channel_order: ChannelOrder::Bgr,
            placement,
            pad_value: 114,
        }
    }

    /// A flat I420 picture of one colour.
    fn flat_i420(width: u32, height: u32, y: u8, u: u8, v: u8) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
        let (w, h) = (width as usize, height as usize);
        (
            vec![y; w * h],
            vec![u; w.div_ceil(2) * h.div_ceil(2)],
            vec![v; w.div_ceil(2) * h.div_ceil(2)],
        )
    }

    fn view<'a>(
        width: u32,
        height: u32,
        matrix: YuvMatrix,
        planes: &'a (Vec<u8>, Vec<u8>, Vec<u8>),
    ) -> YuvView<'a> {
        YuvView {
            layout: ChromaLayout::I420,
            matrix,
            width,
            height,
            luma: &planes.0,
            luma_stride: width as usize,
            chroma_a: &planes.1,
            chroma_a_stride: width.div_ceil(2) as usize,
            chroma_b: &planes.2,
            chroma_b_stride: width.div_ceil(2) as usize,
        }
    }

    fn pixel(image: &TensorImage, x: usize, y: usize) -> [u8; 3] {
        let plane = (image.spec.width * image.spec.height) as usize;
        let i = y * image.spec.width as usize + x;
        [
            image.planes[i],
            image.planes[plane + i],
            image.planes[2 * plane + i],
        ]
    }

    #[test]
    fn bt601_limited_primaries_convert_to_rgb() {
        // Pure red in BT.601 limited range: Y=81, U=90, V=240.
        let planes = flat_i420(64, 36, 81, 90, 240);
        let image = tensor_image_from_yuv(
            &view(64, 36, YuvMatrix::Bt601Limited, &planes),
            &spec(64, 64, LetterboxPlacement::TopLeft),
        )
        .unwrap();
        let [b, g, r] = pixel(&image, 10, 10);
        assert!(r >= 250 && g <= 3 && b <= 3, "got r={r} g={g} b={b}");
        // Black and white at the range ends.
        for (y, want) in [(16u8, 0u8), (235, 255)] {
            let planes = flat_i420(8, 8, y, 128, 128);
            let image = tensor_image_from_yuv(
                &view(8, 8, YuvMatrix::Bt709Limited, &planes),
                &spec(8, 8, LetterboxPlacement::TopLeft),
            )
            .unwrap();
            assert_eq!(pixel(&image, 3, 3), [want; 3]);
        }
    }

    #[test]
    fn letterbox_pads_below_for_top_left_and_both_sides_for_centre() {
        let planes = flat_i420(160, 90, 128, 128, 128);
        let top_left = tensor_image_from_yuv(
            &view(160, 90, YuvMatrix::Bt601Full, &planes),
            &spec(64, 64, LetterboxPlacement::TopLeft),
        )
        .unwrap();
        assert_eq!(top_left.letterbox.scaled_width, 64);
        assert_eq!(top_left.letterbox.scaled_height, 36);
        assert_eq!(pixel(&top_left, 5, 5), [128; 3]);
        assert_eq!(pixel(&top_left, 5, 35), [128; 3]);
        assert_eq!(pixel(&top_left, 5, 36), [114; 3]);
        assert_eq!(pixel(&top_left, 63, 63), [114; 3]);

        let centre = tensor_image_from_yuv(
            &view(160, 90, YuvMatrix::Bt601Full, &planes),
            &spec(64, 64, LetterboxPlacement::Centre),
        )
        .unwrap();
        assert_eq!(centre.letterbox.offset_y, 14);
        assert_eq!(pixel(&centre, 5, 13), [114; 3]);
        assert_eq!(pixel(&centre, 5, 14), [128; 3]);
        assert_eq!(pixel(&centre, 5, 49), [128; 3]);
        assert_eq!(pixel(&centre, 5, 50), [114; 3]);
    }

    #[test]
    fn letterbox_maps_points_both_ways() {
        let lb = Letterbox::fit(1280, 720, &spec(416, 416, LetterboxPlacement::Centre));
        let (tx, ty) = lb.tensor_from_image(640.0, 360.0);
        assert!((tx - 208.0).abs() < 0.5 && (ty - 208.0).abs() < 0.5);
        let (x, y) = lb.image_from_tensor(tx, ty);
        assert!((x - 640.0).abs() < 1e-3 && (y - 360.0).abs() < 1e-3);
    }

    #[test]
    fn vertical_edge_lands_where_the_scale_puts_it() {
        // Left half black, right half white, 200x100 into 100x100: the edge at x=100 maps to 50.
        let (w, h) = (200usize, 100usize);
        let mut luma = vec![16u8; w * h];
        for row in 0..h {
            for col in w / 2..w {
                luma[row * w + col] = 235;
            }
        }
        let planes = (luma, vec![128u8; 100 * 50], vec![128u8; 100 * 50]);
        let image = tensor_image_from_yuv(
            &view(200, 100, YuvMatrix::Bt601Limited, &planes),
            &spec(100, 100, LetterboxPlacement::TopLeft),
        )
        .unwrap();
        assert_eq!(pixel(&image, 48, 20), [0; 3]);
        assert_eq!(pixel(&image, 51, 20), [255; 3]);
    }

    #[test]
    fn a_reused_buffer_is_repadded_where_the_new_picture_does_not_reach() {
        let target = spec(64, 64, LetterboxPlacement::TopLeft);
        let (mut plan, mut out) = (None, Vec::new());
        // Landscape first: the picture covers the top rows across the whole width.
        let wide = flat_i420(160, 90, 235, 128, 128);
        letterbox_yuv(
            &view(160, 90, YuvMatrix::Bt601Limited, &wide),
            &target,
            &mut plan,
            &mut out,
        )
        .unwrap();
        assert_eq!(out[63], 255, "top-right pixel belongs to the wide picture");
        // Then portrait: the top-right is now padding, and must not keep the old picture.
        let tall = flat_i420(90, 160, 16, 128, 128);
        letterbox_yuv(
            &view(90, 160, YuvMatrix::Bt601Limited, &tall),
            &target,
            &mut plan,
            &mut out,
        )
        .unwrap();
        assert_eq!(out[63], 114);
        assert_eq!(out[0], 0, "top-left is the tall picture (black)");
    }

    #[test]
    fn nv12_matches_i420() {
        let (w, h) = (64u32, 48u32);
        let luma: Vec<u8> = (0..w * h).map(|i| (i * 7 % 220 + 16) as u8).collect();
        let u: Vec<u8> = (0..(w / 2) * (h / 2))
            .map(|i| (i * 3 % 200 + 20) as u8)
            .collect();
        let v: Vec<u8> = (0..(w / 2) * (h / 2))
            .map(|i| (i * 5 % 180 + 30) as u8)
            .collect();
        let uv: Vec<u8> = u.iter().zip(&v).flat_map(|(a, b)| [*a, *b]).collect();
        let target = spec(40, 40, LetterboxPlacement::Centre);
        let i420 = (luma.clone(), u, v);
        let from_i420 =
            tensor_image_from_yuv(&view(w, h, YuvMatrix::Bt709Limited, &i420), &target).unwrap();
        let nv12 = YuvView {
            layout: ChromaLayout::Nv12,
            matrix: YuvMatrix::Bt709Limited,
            width: w,
            height: h,
            luma: &luma,
            luma_stride: w as usize,
            chroma_a: &uv,
            chroma_a_stride: w as usize,
            chroma_b: &[],
            chroma_b_stride: 0,
        };
        let from_nv12 = tensor_image_from_yuv(&nv12, &target).unwrap();
        assert_eq!(from_i420.planes, from_nv12.planes);
    }

    #[test]
    fn crops_convert_at_full_resolution_and_clip_to_the_picture() {
        // Left half white, right half black (BT.601 limited: Y 235 / 16, neutral chroma).
        let (w, h) = (8u32, 4u32);
        let mut y = vec![16u8; 32];
        for row in 0..4 {
            for col in 0..4 {
                y[row * 8 + col] = 235;
            }
        }
        let (u, v) = (vec![128u8; 8], vec![128u8; 8]);
        let view = YuvView {
            layout: ChromaLayout::I420,
            matrix: YuvMatrix::Bt601Limited,
            width: w,
            height: h,
            luma: &y,
            luma_stride: 8,
            chroma_a: &u,
            chroma_a_stride: 4,
            chroma_b: &v,
            chroma_b_stride: 4,
        };
        let mut out = Vec::new();
        let size = crop_yuv_to_rgb(&view, [2, 1, 100, 2], &mut out).unwrap();
        assert_eq!(size, Some((6, 2)));
        assert_eq!(&out[..3], &[255, 255, 255]);
        assert_eq!(&out[3 * 2..3 * 3], &[0, 0, 0], "column 4 is black");
        assert_eq!(
            crop_yuv_to_rgb(&view, [9, 0, 4, 4], &mut out).unwrap(),
            None
        );
    }

    #[test]
    fn short_planes_are_an_error_not_a_panic() {
        let planes = (vec![0u8; 10], vec![0u8; 10], vec![0u8; 10]);
        let err = tensor_image_from_yuv(
            &view(64, 64, YuvMatrix::Bt601Limited, &planes),
            &spec(32, 32, LetterboxPlacement::TopLeft),
        )
        .unwrap_err();
        assert!(
            matches!(err, ConvertError::ShortPlane { plane: "Y", .. }),
            "{err}"
        );
    }
}
