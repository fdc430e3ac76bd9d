#![allow(clippy::unwrap_used, clippy::expect_used)] // Bench harness: a failed unwrap is a failed bench.

//! Tracker updates per second at 10, 100 and 500 vehicles per frame: vehicles on a grid, each
//! moving steadily, detected with some jitter and a few misses, stepped frame by frame.
//! The goal is at least 1,000 updates per second at 500 vehicles.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use roadsight_core::{Detection, Timestamp, VehicleClass};
use roadsight_tracking::{Tracker, TrackerSettings};
use std::hint::black_box;
use std::time::Duration;

/// `frames` frames of `objects` vehicles, deterministic.
fn scene(objects: usize, frames: usize) -> Vec<Vec<Detection>> {
    let mut state = 0x9e37_79b9_7f4a_7c15_u64;
    let mut random = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f32 / (1u64 << 53) as f32
    };
    let columns = (objects as f32).sqrt().ceil() as usize;
    (0..frames)
        .map(|frame| {
            (0..objects)
                .filter_map(|i| {
                    let (row, column) = (i / columns, i % columns);
                    let x = column as f32 * 90.0 + frame as f32 * 4.0 + random() * 2.0;
                    let y = row as f32 * 60.0 + random() * 2.0;
                    (random() > 0.05).then_some(Detection {
                        class: VehicleClass::Car,
                        score: 0.3 + 0.7 * random(),
                        bbox_image: [x, y, 60.0, 40.0],
                    })
                })
                .collect()
        })
        .collect()
}

fn bench_tracker(c: &mut Criterion) {
    let mut group = c.benchmark_group("tracker update");
    for objects in [10usize, 100, 500] {
        let frames = scene(objects, 100);
        group.throughput(Throughput::Elements(frames.len() as u64));
        group.bench_with_input(
            BenchmarkId::from_parameter(objects),
            &frames,
            |b, frames| {
                b.iter(|| {
                    let mut tracker = Tracker::new(TrackerSettings::default());
                    let start = Timestamp::from_nanos(0);
                    for (index, detections) in frames.iter().enumerate() {
                        black_box(tracker.update(
                            detections,
                            start.plus(Duration::from_millis(100) * index as u32),
                        ));
                    }
                })
            },
        );
    }
    group.finish();
}

criterion_group!(benches, bench_tracker);
criterion_main!(benches);
