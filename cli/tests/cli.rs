#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! The `roadsight` binary end to end: exit codes, error reports, the run summary.

use roadsight_fixtures::{encode_test_clip, truncated_copy, TestClip};
use std::path::Path;
use std::process::{Command, Output};

fn roadsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roadsight"))
        .args(args)
        .output()
        .expect("the roadsight binary runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn a_malformed_config_lists_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("city.toml");
    std::fs::write(
        &config,
        r#"
[runtime]
queue_depth = 0
[[cameras]]
id = "a"
uri = "gopher://old/stream"
[[cameras]]
id = "a"
uri = "rtsp://cam/1"
analytics_fps = -3
"#,
    )
    .unwrap();
    for command in [
        vec!["check-config", config.to_str().unwrap()],
        vec!["run", "--config", config.to_str().unwrap()],
    ] {
        let output = roadsight(&command);
        assert_eq!(output.status.code(), Some(2), "{command:?}");
        let stderr = text(&output.stderr);
        for expected in [
            "4 problem(s)",
            "runtime.queue_depth: must be 1..=1024",
            "cameras[0].uri: unsupported scheme `gopher`",
            "cameras[1].id: `a` is used by an earlier camera",
            "cameras[1].analytics_fps: must be a number above 0",
        ] {
            assert!(
                stderr.contains(expected),
                "{command:?}: `{expected}` missing in:\n{stderr}"
            );
        }
    }
}

#[test]
fn a_missing_config_is_named_and_exits_2() {
    let output = roadsight(&["check-config", "/nonexistent/city.toml"]);
    assert_eq!(output.status.code(), Some(2));
    assert!(text(&output.stderr).contains("/nonexistent/city.toml"));
}

#[test]
fn unknown_usage_exits_2() {
    assert_eq!(roadsight(&["run"]).status.code(), Some(2));
    assert_eq!(roadsight(&["fly"]).status.code(), Some(2));
}

fn write_config(dir: &Path, cameras: &[(&str, &str)]) -> std::path::PathBuf {
    let mut text = String::from(
        "name = \"test-city\"\n[runtime]\nanalytics_fps = 5\nstart_time = \"2026-11-23T08:00:00Z\"\n",
    );
    for (id, uri) in cameras {
        text.push_str(&format!("[[cameras]]\nid = \"{id}\"\nuri = \"{uri}\"\n"));
    }
    let path = dir.join("city.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn run_reports_each_camera_and_a_broken_one_does_not_stop_the_others() {
    let dir = tempfile::tempdir().unwrap();
    encode_test_clip(
        &dir.path().join("good.mp4"),
        &TestClip::h264(320, 240, 25, 50),
    )
    .unwrap();
    truncated_copy(
        &dir.path().join("good.mp4"),
        &dir.path().join("broken.mp4"),
        0.4,
    )
    .unwrap();
    // Relative paths resolve against the config file's folder.
    let config = write_config(
        dir.path(),
        &[
            ("good", "good.mp4"),
            ("broken", "broken.mp4"),
            ("absent", "absent.mp4"),
        ],
    );
    let counts = dir.path().join("counts.csv");
    let output = roadsight(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--json",
        "--counts-csv",
        counts.to_str().unwrap(),
    ]);
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed camera fails the job"
    );
    let csv = std::fs::read_to_string(&counts).unwrap();
    assert!(
        csv.starts_with("camera,kind,counter,lane,direction,class,interval_start"),
        "{csv}"
    );
    let unwritable = roadsight(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--counts-csv",
        "/nonexistent/folder/counts.csv",
    ]);
    assert_eq!(unwritable.status.code(), Some(2));
    assert!(text(&unwritable.stderr).contains("--counts-csv /nonexistent/folder/counts.csv"));
    let lines: Vec<serde_json::Value> = text(&output.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    let summary = lines.last().unwrap();
    assert_eq!(summary["type"], "summary");
    let camera = |id: &str| {
        summary["cameras"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["camera"] == id)
            .unwrap()
            .clone()
    };
    let good = camera("good");
    assert_eq!(good["state"], "finished");
    assert_eq!(good["frames_decoded"], 50);
    assert_eq!(good["frames_analysed"], 10, "5 of 25 fps over 2 s");
    assert_eq!(good["first_capture"], "2026-11-23T08:00:00.000000000Z");
    assert_eq!(
        good["frames_detected"], 10,
        "every analysed frame went through the detector"
    );
    assert_eq!(summary["detector"], "yolox-nano");
    assert_eq!(summary["detection"]["errors"], 0);
    assert!(summary["detection"]["frames_in"].as_u64().unwrap() >= 10);
    assert_eq!(camera("broken")["state"], "failed");
    assert!(camera("broken")["last_error"]
        .as_str()
        .unwrap()
        .starts_with("corrupt or truncated stream"));
    assert!(camera("absent")["last_error"]
        .as_str()
        .unwrap()
        .contains("absent.mp4"));
    let health: Vec<(String, String)> = lines
        .iter()
        .filter(|l| l["type"] == "camera_health")
        .map(|l| {
            (
                l["camera"].as_str().unwrap().to_string(),
                l["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(health.contains(&("good".into(), "finished".into())));
    assert!(health.contains(&("broken".into(), "failed".into())));
}

#[test]
fn bench_ingest_prints_the_ratio_against_the_decode_limit() {
    let dir = tempfile::tempdir().unwrap();
    let clip = dir.path().join("clip.mp4");
    encode_test_clip(&clip, &TestClip::h264(640, 360, 25, 50)).unwrap();
    let output = roadsight(&[
        "bench",
        "ingest",
        "--clip",
        clip.to_str().unwrap(),
        "--runs",
        "1",
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(report["frames_per_run"], 50);
    assert_eq!(report["analysed_per_run"], 50);
    assert_eq!(report["size"], "416x416");
    let (ours, limit, ratio) = (
        report["frames_per_s"].as_f64().unwrap(),
        report["limit_frames_per_s"].as_f64().unwrap(),
        report["ratio"].as_f64().unwrap(),
    );
    assert!(ours > 0.0 && limit > 0.0);
    assert!(
        (ratio - ours / limit).abs() < 1e-9,
        "one run: ratio is ours / limit"
    );
}

#[test]
fn bench_track_compares_with_supervision_on_the_same_detections() {
    let output = roadsight(&[
        "bench",
        "track",
        "--objects",
        "5,20",
        "--frames",
        "30",
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert!(report["peer"].as_str().unwrap().starts_with("supervision"));
    let rows = report["results"].as_array().unwrap();
    assert_eq!(rows.len(), 2);
    for row in rows {
        assert_eq!(row["updates"], 30);
        let (ours, peer) = (
            row["updates_per_s"].as_f64().unwrap(),
            row["peer_updates_per_s"].as_f64().unwrap(),
        );
        assert!(ours > 0.0 && peer > 0.0);
        assert!((row["ratio"].as_f64().unwrap() - ours / peer).abs() < 1e-6 * ours / peer);
    }
}

#[test]
fn bench_detect_reports_both_sides_and_the_stage_shares() {
    let output = roadsight(&["bench", "detect", "--count", "2", "--passes", "1", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    for side in ["batch_1", "batch_n", "peer"] {
        assert_eq!(report[side]["images"], 2, "{side}");
        let shares: f64 = ["pre_share", "inference_share", "post_share"]
            .iter()
            .map(|k| report[side][k].as_f64().unwrap())
            .sum();
        assert!(
            (shares - 1.0).abs() < 1e-6,
            "{side}: shares sum to {shares}"
        );
    }
    assert_eq!(report["model"], "yolox-nano");
}

#[test]
fn eval_tracking_agrees_with_py_motmetrics_on_the_same_files() {
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let scenario = dir.path().join("short.toml");
    let scenario_text =
        std::fs::read_to_string(repo.join("fixtures/scenarios/signalised-intersection.toml"))
            .unwrap()
            .replace("duration_s = 180", "duration_s = 20");
    std::fs::write(&scenario, scenario_text).unwrap();
    let out = dir.path().join("scenes/intersection");
    let generated = roadsight(&[
        "fixtures",
        "generate",
        "--scenario",
        scenario.to_str().unwrap(),
        "--seed",
        "4",
        "--out",
        out.to_str().unwrap(),
        "--shared-data",
        repo.join("../shared/data").to_str().unwrap(),
    ]);
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let evaluated = roadsight(&[
        "eval",
        "tracking",
        "--scenario-dir",
        dir.path().join("scenes").to_str().unwrap(),
        "--json",
    ]);
    assert!(evaluated.status.success(), "{}", text(&evaluated.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&evaluated.stdout).trim()).unwrap();
    let ours = &report["scenarios"][0];
    assert_eq!(ours["frames"], 200);
    let python = repo.join(".deps/venv/bin/python");
    let scored = Command::new(python)
        .arg(repo.join("scripts/motmetrics_score.py"))
        .arg(out.join("gt_eval.txt"))
        .arg(out.join("pred_eval.txt"))
        .output()
        .unwrap();
    assert!(scored.status.success(), "{}", text(&scored.stderr));
    let theirs: serde_json::Value = serde_json::from_str(text(&scored.stdout).trim()).unwrap();
    for (ours_key, theirs_key) in [
        ("mota", "mota"),
        ("idf1", "idf1"),
        ("id_switches", "num_switches"),
    ] {
        let (a, b) = (
            ours[ours_key].as_f64().unwrap(),
            theirs[theirs_key].as_f64().unwrap(),
        );
        assert!(
            (a - b).abs() < 1e-9,
            "{ours_key}: roadsight {a} vs py-motmetrics {b}"
        );
    }
    // The scores measure something: the ground truth is not empty and some vehicles are found.
    assert!(ours["ground_truth"].as_u64().unwrap() > 100);
    assert!(ours["matches"].as_u64().unwrap() > 0);
}
