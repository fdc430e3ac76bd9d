#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! The detection stage over real ingest and the real detector: frames of several cameras share
//! batches on two workers, and every frame comes back once, in its camera's order.

use roadsight_core::config::{RtspTransport, SourceLocation};
use roadsight_core::{CameraId, SourceMode, SystemClock, Timestamp};
use roadsight_fixtures::{encode_test_clip, TestClip};
use roadsight_models::runtime::environment;
use roadsight_models::{Detector, DetectorOptions, Manifest};
use roadsight_pipeline::{
    AnalyticsRate, CameraSpec, DetectStage, DetectStageSettings, Ingest, IngestSettings,
    LiveSettings, Next,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn detector() -> Detector {
    let library = repo().join(".deps/onnxruntime/libonnxruntime.so.1.31.1");
    assert!(
        library.is_file(),
        "run scripts/setup.sh: {} is missing",
        library.display()
    );
    let manifest = Manifest::load(&repo().join("models/manifest.toml")).unwrap();
    Detector::open(
        environment(&library).unwrap(),
        &manifest,
        &repo().join(".deps/models"),
        "yolox-nano-focus",
        DetectorOptions::default(),
    )
    .unwrap()
}

#[test]
fn batches_mix_cameras_and_every_frame_returns_once_in_camera_order() {
    let dir = tempfile::tempdir().unwrap();
    let frames_per_camera = [40u64, 25, 30];
    let detectors = vec![detector(), detector()];
    let tensor = detectors[0].tensor_spec();
    let cameras: Vec<CameraSpec> = frames_per_camera
        .iter()
        .enumerate()
        .map(|(i, frames)| {
            let path = dir.path().join(format!("cam{i}.mp4"));
            encode_test_clip(&path, &TestClip::h264(320, 240, 25, *frames as u32)).unwrap();
            CameraSpec {
                id: CameraId::new(&format!("cam{i}")),
                source: SourceLocation::File(path),
                mode: SourceMode::Recorded,
                rate: AnalyticsRate::EveryFrame,
                start_time: Timestamp::UNIX_EPOCH,
            }
        })
        .collect();
    let ingest = Ingest::start(
        cameras,
        IngestSettings {
            tensor,
            queue_depth: 4,
            decoder_threads: 1,
            open_timeout: roadsight_core::config::RuntimeConfig::default().open_timeout(),
            keep_source: false,
            live: LiveSettings::from(&roadsight_core::config::LiveConfig {
                rtsp_transport: RtspTransport::Tcp,
                ..Default::default()
            }),
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let stage = DetectStage::start(
        Arc::clone(ingest.frames()),
        detectors,
        DetectStageSettings {
            batch_size: 4,
            batch_timeout: Duration::from_millis(50),
            output_depth: 8,
        },
    )
    .unwrap();
    let mut seen: HashMap<String, Vec<u64>> = HashMap::new();
    loop {
        while ingest.health().try_recv().is_ok() {}
        match stage.next(Duration::from_secs(30)) {
            Next::Frame(frame) => {
                assert!(frame.error.is_none(), "{:?}", frame.error);
                seen.entry(frame.camera.to_string())
                    .or_default()
                    .push(frame.seq)
            }
            Next::TimedOut => panic!("no frame for 30 s"),
            Next::Finished => break,
        }
    }
    for (i, frames) in frames_per_camera.iter().enumerate() {
        let seqs = &seen[&format!("cam{i}")];
        assert_eq!(seqs, &(0..*frames).collect::<Vec<_>>(), "cam{i}");
    }
    let metrics = stage.metrics();
    let total: u64 = frames_per_camera.iter().sum();
    assert_eq!(metrics.frames_in, total);
    assert_eq!(metrics.errors, 0);
    // Three busy cameras fill batches of four well beyond one camera's share.
    assert!(metrics.batch_fill > 0.5, "{metrics:?}");
    assert!(metrics.batches < total, "{metrics:?}");
}
