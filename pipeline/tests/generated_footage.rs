#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! Generated footage read back through ingest: as many frames as the ground truth says.

use roadsight_core::config::{LiveConfig, SourceLocation};
use roadsight_core::{CameraId, SourceMode, SystemClock, Timestamp};
use roadsight_fixtures::generate::{generate, load_sprites};
use roadsight_fixtures::scenario::Scenario;
use roadsight_pipeline::{
    AnalyticsRate, CameraSpec, ChannelOrder, Ingest, IngestSettings, LetterboxPlacement,
    LiveSettings, Popped, TensorSpec,
};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn every_generated_frame_arrives_through_ingest() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let text = std::fs::read_to_string(repo.join("fixtures/scenarios/straight-road.toml"))
        .unwrap()
        .replace("duration_s = 150", "duration_s = 6");
    let scenario = Scenario::parse(&text).unwrap();
    let out = tempfile::tempdir().unwrap();
    let sprites = load_sprites(&repo.join("../shared/data"), None)
        .unwrap()
        .sprites;
    let summary = generate(&scenario, 11, &sprites, out.path(), |_, _| {}).unwrap();
    let ingest = Ingest::start(
        vec![CameraSpec {
            id: CameraId::new("generated"),
            source: SourceLocation::File(out.path().join("video.mp4")),
            mode: SourceMode::Recorded,
            rate: AnalyticsRate::EveryFrame,
            start_time: Timestamp::UNIX_EPOCH,
        }],
        IngestSettings {
            tensor: TensorSpec {
                width: 416,
                height: 416,
                channel_order: ChannelOrder::Bgr,
                placement: LetterboxPlacement::TopLeft,
                pad_value: 114,
            },
            queue_depth: 4,
            decoder_threads: 1,
            open_timeout: roadsight_core::config::RuntimeConfig::default().open_timeout(),
            live: LiveSettings::from(&LiveConfig::default()),
            keep_source: false,
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut captured = Vec::new();
    loop {
        match ingest.frames().pop(Duration::from_secs(20)) {
            Popped::Frame(frame) => captured.push(frame.captured_at),
            Popped::TimedOut => panic!("ingest stalled"),
            Popped::Finished => break,
        }
    }
    assert_eq!(captured.len() as u64, summary.frames);
    // Frame n (1-based in gt.txt) is captured (n - 1) / fps after the start.
    let last = captured
        .last()
        .unwrap()
        .duration_since(Timestamp::UNIX_EPOCH);
    let want = Duration::from_secs_f64((summary.frames - 1) as f64 / f64::from(summary.fps));
    assert!(
        last.abs_diff(want) < Duration::from_millis(2),
        "{last:?} vs {want:?}"
    );
}
