#![allow(clippy::unwrap_used, clippy::expect_used)] // Bench harness: a failed unwrap is a failed bench.

//! YUV -> letterboxed tensor picture, per frame, at the sizes cameras deliver.
//!
//! For scale: decoding one 720p H.264 frame costs about 2-4 ms of one core here, so this
//! conversion must stay a small fraction of that.

use criterion::{criterion_group, criterion_main, Criterion};
use roadsight_pipeline::convert::{letterbox_yuv, ChromaLayout, YuvMatrix, YuvView};
use roadsight_pipeline::{ChannelOrder, LetterboxPlacement, TensorSpec};
use std::hint::black_box;

/// The YOLOX-nano input picture.
const YOLOX_INPUT: TensorSpec = TensorSpec {
    width: 416,
    height: 416,
    channel_order: ChannelOrder::Bgr,
    placement: LetterboxPlacement::TopLeft,
    pad_value: 114,
};

fn planes(width: usize, height: usize) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let luma = (0..width * height).map(|i| (i * 31 % 251) as u8).collect();
    let chroma = (width / 2) * (height / 2);
    let u = (0..chroma).map(|i| (i * 17 % 241) as u8).collect();
    let v = (0..chroma).map(|i| (i * 13 % 239) as u8).collect();
    (luma, u, v)
}

fn bench_letterbox(c: &mut Criterion) {
    let spec = YOLOX_INPUT;
    for (width, height) in [(1280usize, 720usize), (1920, 1080)] {
        let (luma, u, v) = planes(width, height);
        let view = YuvView {
            layout: ChromaLayout::I420,
            matrix: YuvMatrix::Bt709Limited,
            width: width as u32,
            height: height as u32,
            luma: &luma,
            luma_stride: width,
            chroma_a: &u,
            chroma_a_stride: width / 2,
            chroma_b: &v,
            chroma_b_stride: width / 2,
        };
        let mut plan = None;
        let mut out = Vec::new();
        c.bench_function(&format!("letterbox_yuv {width}x{height} -> 416x416"), |b| {
            b.iter(|| {
                letterbox_yuv(black_box(&view), &spec, &mut plan, &mut out).ok();
                black_box(&out);
            })
        });
    }
}

fn bench_letterbox_rgb(c: &mut Criterion) {
    let spec = YOLOX_INPUT;
    for (width, height) in [(500usize, 400usize), (1200, 767)] {
        let rgb: Vec<u8> = (0..width * height * 3)
            .map(|i| (i * 7 % 253) as u8)
            .collect();
        let mut planes = Vec::new();
        c.bench_function(&format!("letterbox_rgb {width}x{height} -> 416x416"), |b| {
            b.iter(|| {
                black_box(roadsight_models::detect::letterbox_rgb_into(
                    black_box(&rgb),
                    width as u32,
                    height as u32,
                    &spec,
                    &mut planes,
                ))
            })
        });
    }
}

/// Tensor picture -> the model's `f32` input, planar and in YOLOX's Focus layout.
fn bench_fill_input(c: &mut Criterion) {
    use roadsight_models::manifest::{Colour, InputSpec, Layout};
    let spec = YOLOX_INPUT;
    let rgb: Vec<u8> = (0..500 * 400 * 3).map(|i| (i * 7 % 253) as u8).collect();
    let picture = roadsight_models::detect::letterbox_rgb(&rgb, 500, 400, &spec);
    for (layout, shape) in [
        (Layout::Nchw, vec![1, 3, 416, 416]),
        (Layout::NchwFocus, vec![1, 12, 208, 208]),
    ] {
        let input = InputSpec {
            name: "images".into(),
            shape,
            layout,
            colour: Colour::Bgr,
            scale: 1.0,
            mean: [0.0; 3],
            std: [1.0; 3],
            letterbox: None,
            pad: 114,
        };
        let mut out = vec![0f32; 3 * 416 * 416];
        c.bench_function(&format!("fill_input 416x416 {layout:?}"), |b| {
            b.iter(|| {
                roadsight_models::detect::fill_input(&[black_box(&picture)], &input, &mut out);
                black_box(&out);
            })
        });
    }
}

criterion_group!(
    benches,
    bench_letterbox,
    bench_letterbox_rgb,
    bench_fill_input
);
criterion_main!(benches);
