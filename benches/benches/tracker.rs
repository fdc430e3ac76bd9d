#![allow(clippy::unwrap_used, clippy::expect_used)] // Bench harness: a failed unwrap is a failed bench.

//! Tracker updates per second at 10, 100 and 500 vehicles per frame: vehicles on a grid, each
//! moving steadily, detected with some jitter and a few misses, stepped frame by frame.
//! The goal is at least 1,000 updates per second at 500 vehicles.

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use roadsight_core::{Detection, Timestamp};
use roadsight_tracking::{Tracker, TrackerSettings};
use std::hint::black_box;
use std::time::Duration;

fn scene(objects: usize, frames: usize) -> Vec<Vec<Detection>> {
    roadsight_fixtures::synthetic_detections(objects, frames, 0x9e37_79b9_7f4a_7c15)
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
