#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! The `roadsight` binary end to end: exit codes, error reports, the run summary.

use roadsight_core::config::DEFAULT_DETECTOR;
use roadsight_fixtures::{encode_test_clip, truncated_copy, TestClip};
use std::path::Path;
use std::process::{Command, Output};

fn roadsight(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roadsight"))
        .args(args)
        .output()
        .expect("the roadsight binary runs")
}

/// Every line of `stdout` as JSON (a line that is not JSON fails the test).
fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    text(stdout)
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}")))
        .collect()
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
    let lines: Vec<serde_json::Value> = json_lines(&output.stdout);
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
    assert_eq!(summary["detector"], DEFAULT_DETECTOR);
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
    // The default detector's picture (yolox-nano-focus-544x320).
    assert_eq!(report["size"], "544x320");
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
    for side in ["batch_1", "batch_n", "peer_model_batch_1", "peer"] {
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
    assert_eq!(report["model"], DEFAULT_DETECTOR);
    assert_eq!(report["peer_model"], "yolox-nano");
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

fn shared_data() -> std::path::PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/data");
    assert!(dir.is_dir(), "../shared/data must be beside the repository");
    dir
}

#[test]
fn plates_read_prints_one_line_per_image_and_names_the_bad_ones() {
    let dir = tempfile::tempdir().unwrap();
    let not_an_image = dir.path().join("notes.jpg");
    std::fs::write(&not_an_image, b"this is not a JPEG").unwrap();
    let photo = shared_data().join("cars-plates/eu/eu1.jpg");
    let missing = dir.path().join("missing.jpg");
    let output = Command::new(env!("CARGO_BIN_EXE_roadsight"))
        .args(["plates", "read"])
        .arg(&photo)
        .arg(&missing)
        .arg(&not_an_image)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{}", text(&output.stderr));
    let lines: Vec<serde_json::Value> = json_lines(&output.stdout);
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["image"], photo.display().to_string());
    let plates = lines[0]["plates"].as_array().unwrap();
    let truth = std::fs::read_to_string(shared_data().join("cars-plates/eu/eu1.txt")).unwrap();
    let truth = truth.trim().split('\t').nth(5).unwrap().to_string();
    assert!(
        plates.iter().any(|p| p["text"] == truth.as_str()),
        "{plates:?} vs {truth}"
    );
    for plate in plates {
        assert_eq!(plate["corners"].as_array().unwrap().len(), 4);
        for key in ["formatted", "confidence", "rows", "valid"] {
            assert!(!plate[key].is_null(), "{key} missing in {plate}");
        }
    }
    for line in &lines[1..] {
        assert!(line["plates"].is_null());
        assert!(
            line["error"]
                .as_str()
                .unwrap()
                .contains("cannot read image"),
            "{line}"
        );
    }
}

#[test]
fn plates_read_crops_reads_vietnamese_two_row_plates() {
    let output = Command::new(env!("CARGO_BIN_EXE_roadsight"))
        .args(["plates", "read", "--crops"])
        .arg(shared_data().join("plates-vn/images/10xemay1329.jpg"))
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", text(&output.stderr));
    let line: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    let plate = &line["plates"][0];
    assert_eq!(plate["text"], "54V81990", "{line}");
    assert_eq!(plate["formatted"], "54-V8 1990");
    assert_eq!(plate["rows"], 2);
    assert_eq!(plate["valid"], true);
}

/// A crop set in the layout of `plates-vn`: the named crops copied from it into `images/`,
/// with `labels` as its `labels.csv`.
fn crop_set(files: &[&str], labels: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("images")).unwrap();
    for file in files {
        std::fs::copy(
            shared_data().join("plates-vn/images").join(file),
            dir.path().join("images").join(file),
        )
        .unwrap();
    }
    std::fs::write(dir.path().join("labels.csv"), labels).unwrap();
    dir
}

#[test]
fn eval_plates_scores_against_reviewed_labels_and_refuses_stale_errata() {
    // Two crops: one labelled right, one given a wrong label that the errata correct.
    let dir = crop_set(
        &["10xemay1329.jpg", "3CarLongPlate256.jpg"],
        "image,text,rows\n10xemay1329.jpg,54-V81990,2\n3CarLongPlate256.jpg,00X-000.00,1\n",
    );
    let read = roadsight(&[
        "plates",
        "read",
        "--crops",
        dir.path()
            .join("images/3CarLongPlate256.jpg")
            .to_str()
            .unwrap(),
    ]);
    let line: serde_json::Value = serde_json::from_str(text(&read.stdout).trim()).unwrap();
    let second_text = line["plates"][0]["text"].as_str().unwrap().to_string();
    let errata = dir.path().join("errata.csv");
    std::fs::write(
        &errata,
        format!(
            "image,label,rows,reviewed,reviewed_rows,note\n3CarLongPlate256.jpg,00X-000.00,1,{second_text},1,test\n"
        ),
    )
    .unwrap();
    let crops = dir.path().to_str().unwrap();
    let output = roadsight(&[
        "eval",
        "plates",
        "--crops-dir",
        crops,
        "--label-errata",
        errata.to_str().unwrap(),
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    let set = &report["crops"];
    assert_eq!(set["images"], 2, "{report}");
    assert_eq!(set["exact"], 1, "{report}");
    assert_eq!(set["reviewed"]["corrected_labels"], 1, "{report}");
    assert_eq!(set["reviewed"]["exact"], 2, "{report}");

    // An errata line whose label no longer matches labels.csv is stale: an error naming it.
    std::fs::write(
        &errata,
        "image,label,rows,reviewed,reviewed_rows,note\n3CarLongPlate256.jpg,11X-111.11,1,X,1,t\n",
    )
    .unwrap();
    let output = roadsight(&[
        "eval",
        "plates",
        "--crops-dir",
        crops,
        "--label-errata",
        errata.to_str().unwrap(),
    ]);
    assert!(!output.status.success());
    let message = text(&output.stderr);
    assert!(
        message.contains("errata.csv:2") && message.contains("stale"),
        "{message}"
    );
}

#[test]
fn training_lines_carry_the_reviewed_labels_and_an_illegible_plate_gives_none() {
    // Three crops: one labelled right, one whose label (text and rows) the errata correct, one
    // the review marked not legible enough to say (`-`).
    let dir = crop_set(
        &["10xemay1329.jpg", "3CarLongPlate256.jpg", "ndata625.jpg"],
        "image,text,rows\n10xemay1329.jpg,54-V81990,2\n3CarLongPlate256.jpg,00X-000.00,2\nndata625.jpg,36-ME355.20,2\n",
    );
    let errata = dir.path().join("errata.csv");
    std::fs::write(
        &errata,
        "image,label,rows,reviewed,reviewed_rows,note\n\
         3CarLongPlate256.jpg,00X-000.00,2,51G-123.45,1,test\n\
         ndata625.jpg,36-ME355.20,2,-,2,too small to say\n",
    )
    .unwrap();
    let lines = dir.path().join("lines");
    let output = roadsight(&[
        "eval",
        "plates",
        "--crops-dir",
        dir.path().to_str().unwrap(),
        "--label-errata",
        errata.to_str().unwrap(),
        "--dump-lines",
        lines.to_str().unwrap(),
        "--json",
    ]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    // The illegible plate is still scored, against its label as given, and is no correction.
    assert_eq!(report["crops"]["images"], 3, "{report}");
    assert_eq!(
        report["crops"]["reviewed"]["corrected_labels"], 1,
        "{report}"
    );
    let index = std::fs::read_to_string(lines.join("lines.csv")).unwrap();
    let rows: Vec<Vec<&str>> = index
        .lines()
        .skip(1)
        .map(|line| line.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2, "{index}");
    assert!(
        rows.iter()
            .any(|r| r[0] == "10xemay1329.png" && r[1] == "54V81990" && r[2] == "2"),
        "{index}"
    );
    assert!(
        rows.iter()
            .any(|r| r[0] == "3CarLongPlate256.png" && r[1] == "51G12345" && r[2] == "1"),
        "{index}"
    );
    assert!(!index.contains("ndata625"), "{index}");
    assert!(lines.join("3CarLongPlate256.png").is_file());
    assert!(!lines.join("ndata625.png").exists());
}

#[test]
fn eval_plates_scores_photos_against_reviewed_labels_and_refuses_stale_errata() {
    // eu5.jpg shows the British OY09 FEU and is labelled OYO9FEU; eu1.jpg is labelled right.
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("eu");
    std::fs::create_dir_all(&folder).unwrap();
    for stem in ["eu1", "eu5"] {
        for ext in ["jpg", "txt"] {
            let file = format!("{stem}.{ext}");
            std::fs::copy(
                shared_data().join("cars-plates/eu").join(&file),
                folder.join(&file),
            )
            .unwrap();
        }
    }
    let errata = dir.path().join("photo-errata.csv");
    let eval = |errata_text: &str| {
        std::fs::write(&errata, errata_text).unwrap();
        roadsight(&[
            "eval",
            "plates",
            "--photos-dir",
            folder.to_str().unwrap(),
            "--photo-label-errata",
            errata.to_str().unwrap(),
            "--json",
        ])
    };
    let output = eval("image,label,reviewed,note\neu/eu5.jpg,OYO9FEU,OY09FEU,year digits\n");
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    let set = &report["photos"];
    assert_eq!(set["images"], 2, "{report}");
    assert_eq!(set["reviewed"]["corrected_labels"], 1, "{report}");
    // The reader reads the zeros the plate shows: a miss against the label, a hit reviewed.
    assert_eq!(
        set["reviewed"]["exact"].as_u64().unwrap(),
        set["exact"].as_u64().unwrap() + 1,
        "{report}"
    );
    assert_eq!(set["reviewed"]["by_group"]["eu"][1], 2, "{report}");

    // Bad errata are refused with an error naming the line.
    for (line, why) in [
        // The label no longer matches the photo's .txt: stale.
        ("eu/eu5.jpg,OY09FEU,OY09FEU,t", "stale"),
        // A photo the scored folder does not hold.
        ("eu/eu9.jpg,ABC123,ABC128,t", "not in the folders"),
    ] {
        let output = eval(&format!("image,label,reviewed,note\n{line}\n"));
        assert!(!output.status.success(), "{line}");
        let message = text(&output.stderr);
        assert!(
            message.contains("photo-errata.csv:2") && message.contains(why),
            "{message}"
        );
    }
}

#[test]
fn bench_plates_reports_both_sides_and_the_ratio() {
    let output = roadsight(&["bench", "plates", "--count", "4", "--batch", "2", "--json"]);
    assert!(output.status.success(), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    for side in ["crops_batch_1", "crops_batched", "photos"] {
        assert_eq!(report[side]["plates"], 4, "{side}");
        assert!(
            report[side]["plates_per_cpu_s"].as_f64().unwrap() > 0.0,
            "{side}"
        );
    }
    assert_eq!(report["peer"]["plates"], 4);
    let best = report["crops_batch_1"]["plates_per_cpu_s"]
        .as_f64()
        .unwrap()
        .max(
            report["crops_batched"]["plates_per_cpu_s"]
                .as_f64()
                .unwrap(),
        );
    let peer = report["peer"]["plates_per_cpu_s"].as_f64().unwrap();
    assert!((report["ratio"].as_f64().unwrap() - best / peer).abs() < 1e-6 * best / peer);
}

#[test]
fn run_reads_and_votes_the_plates_of_tracked_vehicles() {
    let dir = tempfile::tempdir().unwrap();
    let footage = dir.path().join("checkpoint");
    let scenario =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios/plate-checkpoint.toml");
    let generated = Command::new(env!("CARGO_BIN_EXE_roadsight"))
        .args(["fixtures", "generate", "--seed", "1", "--shared-data"])
        .arg(shared_data())
        .arg("--scenario")
        .arg(&scenario)
        .arg("--out")
        .arg(&footage)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    // The default, and with each track's last 3 plate pictures fused and read.
    // (plates right, fused plate pictures read, passes)
    let run = |name: &str, plates_section: &str| -> (usize, u64, usize) {
        let config = dir.path().join(format!("city-{name}.toml"));
        std::fs::write(
            &config,
            format!(
                "name = \"checkpoint\"\n[runtime]\nanalytics_fps = 10.0\nstart_time = \"2026-11-23T08:00:00Z\"\n{plates_section}[[cameras]]\nid = \"gate\"\nuri = \"{}\"\n",
                footage.join("video.mp4").display()
            ),
        )
        .unwrap();
        let evidence = dir.path().join(format!("evidence-{name}"));
        let output = Command::new(env!("CARGO_BIN_EXE_roadsight"))
            .args(["run", "--json", "--config"])
            .arg(&config)
            .arg("--evidence-dir")
            .arg(&evidence)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", text(&output.stderr));
        let truth: std::collections::HashSet<String> =
            std::fs::read_to_string(footage.join("plates.csv"))
                .unwrap()
                .lines()
                .skip(1)
                .filter_map(|l| l.split(',').nth(1))
                .map(|p| {
                    p.chars()
                        .filter(char::is_ascii_alphanumeric)
                        .collect::<String>()
                        .to_uppercase()
                })
                .collect();
        let (candidates, plates): (Vec<serde_json::Value>, Vec<serde_json::Value>) =
            json_lines(&output.stdout)
                .into_iter()
                .filter(|v| v["type"] == "plate")
                .partition(|v| v["candidate"] == true);
        // A candidate is a track voted under emit_confidence (0.45), given at its end.
        for candidate in &candidates {
            let confidence = candidate["confidence"].as_f64().unwrap();
            assert!((0.2..0.45).contains(&confidence), "{candidate}");
        }
        let right = plates
            .iter()
            .filter(|p| truth.contains(p["text"].as_str().unwrap()))
            .count();
        eprintln!(
            "{name}: {} vehicles, {} plates emitted, {right} right: {:?}; candidates {:?}",
            truth.len(),
            plates.len(),
            plates
                .iter()
                .map(|p| p["text"].as_str().unwrap())
                .collect::<Vec<_>>(),
            candidates
                .iter()
                .map(|p| p["text"].as_str().unwrap())
                .collect::<Vec<_>>()
        );
        // Each emitted plate, candidates too, has its evidence, a JPEG of the vehicle.
        for plate in plates.iter().chain(&candidates) {
            let file = plate["evidence_file"].as_str().unwrap();
            assert!(plate["evidence"].as_str().unwrap().starts_with("sha256:"));
            let jpeg = std::fs::read(file).unwrap();
            assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "{file} is a JPEG");
            assert!(plate["reads"].as_u64().unwrap() >= 1);
            assert!(plate["agreeing"].as_u64().unwrap() <= plate["reads"].as_u64().unwrap());
        }
        // Each plate carries its vehicle's look: 64 bins in basis points.
        let look_total = |event: &serde_json::Value| -> u64 {
            let bins = event["appearance"].as_array().unwrap();
            assert_eq!(bins.len(), 64, "{event}");
            bins.iter().map(|b| b.as_u64().unwrap()).sum()
        };
        for plate in plates.iter().chain(&candidates) {
            assert!((9_936..=10_064).contains(&look_total(plate)), "{plate}");
        }
        // A track read at least 3 times with no plate voted is a pass: its look, its reads
        // and the JPEG of its widest crop.
        let passes: Vec<serde_json::Value> = json_lines(&output.stdout)
            .into_iter()
            .filter(|v| v["type"] == "vehicle_pass")
            .collect();
        for pass in &passes {
            assert!((9_936..=10_064).contains(&look_total(pass)), "{pass}");
            assert!(pass["reads"].as_u64().unwrap() >= 3, "{pass}");
            let jpeg = std::fs::read(pass["evidence_file"].as_str().unwrap()).unwrap();
            assert_eq!(&jpeg[..2], &[0xFF, 0xD8], "{pass}");
            let track = pass["track"].as_u64().unwrap();
            assert!(
                !plates
                    .iter()
                    .chain(&candidates)
                    .any(|p| p["track"] == track),
                "a track with a plate is no pass: {pass}"
            );
        }
        // Recorded in the summary too.
        let summary: serde_json::Value = json_lines(&output.stdout)
            .into_iter()
            .find(|v| v["type"] == "summary")
            .unwrap();
        assert_eq!(
            summary["plates"]["passes"].as_u64().unwrap(),
            passes.len() as u64
        );
        assert_eq!(
            summary["cameras"][0]["plates"].as_u64().unwrap(),
            plates.len() as u64
        );
        assert_eq!(
            summary["plates"]["plates"].as_u64().unwrap(),
            plates.len() as u64
        );
        assert_eq!(
            summary["plates"]["candidates"].as_u64().unwrap(),
            candidates.len() as u64
        );
        // Vehicles wide enough were cropped at full resolution and read.
        assert!(summary["plates"]["reads"].as_u64().unwrap() >= truth.len() as u64);
        assert!(summary["plates"]["reads_with_text"].as_u64().unwrap() > 0);
        assert_eq!(summary["plates"]["frames_without_picture"], 0);
        // Emitted (sure) plates must be right; how many get emitted is the recogniser's weak point on these
        // small US/EU plates (see the closing note of the plate issue), so it is reported, not bound.
        assert_eq!(right, plates.len(), "{name}: a wrong plate was emitted");
        (
            right,
            summary["plates"]["fused_reads"].as_u64().unwrap(),
            passes.len(),
        )
    };
    let (right, fused_reads, _) = run("default", "");
    assert_eq!(fused_reads, 0, "fusion is off by default");
    let (right_fused, fused_reads, _) = run("fused", "[plates]\nfuse_frames = 3\n");
    assert!(fused_reads > 0, "no fused plate picture was read");
    // With no vote sure enough to give a plate or a candidate, the vehicles read are passes
    // (the checks above then hold for passes that surely exist).
    let (_, _, passes) = run(
        "unsure",
        "[plates]\nemit_confidence = 1.0\nearly_emit_confidence = 1.0\ncandidate_confidence = 1.0\n",
    );
    assert!(passes >= 1, "no vehicle read was given as a pass");
    // Seed 1 measures 3 sure plates right by default and 1 fused, since the recogniser learnt
    // lines blurred and JPEG-compressed at a few pixels high (before it: 1 by default and 2
    // fused, the fused read then the better). Regression floors, under those: the recogniser
    // before fails the default's.
    assert!(
        right >= 2,
        "default: {right} plates right, under the floor 2"
    );
    assert!(
        right_fused >= 1,
        "fused: {right_fused} plates right, under the floor 1"
    );
}

/// A two-phase intersection counted by camera `cam`'s line `stop`, planned every second;
/// `signals_extra` goes into `[signals]`. The intersection's table is left open for more keys.
fn signal_sections(signals_extra: &str) -> String {
    format!(
        r#"
[signals]
plan_interval_s = 1.0
stale_after_s = 10.0
{signals_extra}

[[intersections]]
id = "x"
movements = [
  {{ id = "ns", from = "north", turn = "through", lanes = 2 }},
  {{ id = "ew", from = "east", turn = "through", lanes = 1 }},
]
phases = [
  {{ id = "a", movements = ["ns"], min_green_s = 10, max_green_s = 60, yellow_s = 3, all_red_s = 2 }},
  {{ id = "b", movements = ["ew"], min_green_s = 10, max_green_s = 60, yellow_s = 3, all_red_s = 2 }},
]
demand = [{{ movement = "ns", camera = "cam", counter = "stop" }}]
"#
    )
}

#[test]
fn a_signal_config_with_errors_lists_them_all_with_paths() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("city.toml");
    std::fs::write(
        &config,
        r#"
[[cameras]]
id = "cam"
uri = "rtsp://cam/1"
resolution = [640, 360]
lines = [{ id = "stop", from = [0, 200], to = [640, 200] }]

[[intersections]]
id = "x"
movements = [
  { id = "nt", from = "north", turn = "through", lanes = 1 },
  { id = "et", from = "east", turn = "through", lanes = 1 },
]
phases = [{ id = "all", movements = ["nt", "et"], min_green_s = 10, max_green_s = 60, yellow_s = 3, all_red_s = 2 }]
demand = [
  { movement = "nt", camera = "nowhere", counter = "stop" },
  { movement = "et", camera = "cam", counter = "no-such-line" },
]
ntcip = { address = "10.0.0.9:161", phase_numbers = [2, 4] }

[[corridors]]
id = "c"
intersections = ["x", "y"]
distances_m = []
speed_kmh = 40
"#,
    )
    .unwrap();
    let output = roadsight(&["check-config", config.to_str().unwrap()]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = text(&output.stderr);
    for expected in [
        "intersections[0].phases[0].movements: `nt` and `et` conflict",
        "intersections[0].demand[0].camera: no camera `nowhere`",
        "intersections[0].demand[1].counter: `no-such-line` is neither a line nor a movement of camera cam",
        "intersections[0].ntcip.phase_numbers: 2 numbers for 1 phases",
        "corridors[0].intersections[1]: no intersection `y`",
        "corridors[0].distances_m: 0 distances for 2 intersections",
    ] {
        assert!(stderr.contains(expected), "`{expected}` missing in:\n{stderr}");
    }
}

/// A net-snmp agent whose pass_persist script keeps a controller's NTCIP tables in a file.
struct SnmpAgent {
    child: std::process::Child,
    port: u16,
    state: std::path::PathBuf,
}

impl SnmpAgent {
    fn start(dir: &Path) -> SnmpAgent {
        let snmpd = Path::new("/usr/sbin/snmpd");
        assert!(
            snmpd.is_file(),
            "snmpd not found (scripts/setup.sh installs it)"
        );
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let state = dir.join("controller.json");
        let script = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../signal-control/tests/support/ntcip_store.py");
        let config = dir.join("snmpd.conf");
        std::fs::write(
            &config,
            format!(
                "agentAddress udp:127.0.0.1:{port}\nrwcommunity private 127.0.0.1\n\
                 pass_persist .1.3.6.1.4.1.1206.4.2.1 /usr/bin/python3 {} {}\n",
                script.display(),
                state.display()
            ),
        )
        .unwrap();
        let child = Command::new(snmpd)
            .args(["-f", "-Lo", "-C", "-c"])
            .arg(&config)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let agent = SnmpAgent { child, port, state };
        // Ready when snmpd answers (the CLI's own retries would cover a slow start, but the
        // test's assertions are simpler on a ready agent).
        for _ in 0..50 {
            let answer = Command::new("snmpget")
                .args(["-v2c", "-c", "private", "-t", "0.2", "-r", "0"])
                .arg(format!("127.0.0.1:{port}"))
                .arg(".1.3.6.1.4.1.1206.4.2.1.4.14.0")
                .output();
            if answer.is_ok_and(|a| a.status.success()) {
                return agent;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        panic!("snmpd did not answer on port {port}");
    }
}

impl Drop for SnmpAgent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_issues_timing_plans_from_counts_and_pushes_them_to_an_ntcip_controller() {
    let dir = tempfile::tempdir().unwrap();
    encode_test_clip(
        &dir.path().join("cam.mp4"),
        &TestClip::h264(640, 360, 25, 100),
    )
    .unwrap();
    let agent = SnmpAgent::start(dir.path());
    let config = dir.path().join("city.toml");
    std::fs::write(
        &config,
        format!(
            "name = \"signal-city\"\n[runtime]\nanalytics_fps = 5\nstart_time = \"2026-11-23T08:00:00Z\"\n\
             [[cameras]]\nid = \"cam\"\nuri = \"cam.mp4\"\nresolution = [640, 360]\n\
             lines = [{{ id = \"stop\", from = [0, 200], to = [640, 200] }}]\n\
             [plates]\nenabled = false\n{}\
             ntcip = {{ address = \"127.0.0.1:{}\", pattern = 3, phase_numbers = [2, 6], timeout_ms = 500 }}\n",
            signal_sections(""),
            agent.port
        ),
    )
    .unwrap();
    let output = roadsight(&["run", "--config", config.to_str().unwrap(), "--json"]);
    let stdout = text(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}\n{stdout}",
        text(&output.stderr)
    );
    let plans: Vec<serde_json::Value> = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|line| line["type"] == "timing_plan")
        .collect();
    // 4 s of footage at one round a second, plus the closing round.
    assert!(plans.len() >= 4, "{stdout}");
    for plan in &plans {
        assert_eq!(plan["plan"]["intersection"], "x");
        assert_eq!(
            plan["basis"], "counts",
            "a healthy camera with no vehicles is zero flow: {plan}"
        );
        assert_eq!(
            plan["plan"]["cycle_s"], 40.0,
            "the minimum cycle for zero demand: {plan}"
        );
    }
    let summary: serde_json::Value = stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["type"] == "summary")
        .expect("summary");
    assert_eq!(
        summary["signals"]["plans"].as_u64(),
        Some(plans.len() as u64)
    );
    assert!(summary["signals"]["sent"].as_u64() >= Some(1), "{summary}");
    // The controller holds pattern 3 with the last plan's splits, and has it selected.
    let stored: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&agent.state).unwrap()).unwrap();
    let value = |oid: &str| stored["values"][oid].as_i64();
    assert_eq!(value(".1.3.6.1.4.1.1206.4.2.1.4.14.0"), Some(3));
    assert_eq!(value(".1.3.6.1.4.1.1206.4.2.1.4.7.1.2.3"), Some(40));
    // 15 s green + 3 s yellow + 2 s all-red on NTCIP phases 2 and 6.
    assert_eq!(value(".1.3.6.1.4.1.1206.4.2.1.4.9.1.3.3.2"), Some(20));
    assert_eq!(value(".1.3.6.1.4.1.1206.4.2.1.4.9.1.3.3.6"), Some(20));
}

#[test]
fn a_controller_that_does_not_answer_is_reported_and_the_run_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    encode_test_clip(
        &dir.path().join("cam.mp4"),
        &TestClip::h264(640, 360, 25, 50),
    )
    .unwrap();
    // A port nobody listens on.
    let port = std::net::UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = dir.path().join("city.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\nstart_time = \"2026-11-23T08:00:00Z\"\n\
             [[cameras]]\nid = \"cam\"\nuri = \"cam.mp4\"\nresolution = [640, 360]\n\
             lines = [{{ id = \"stop\", from = [0, 200], to = [640, 200] }}]\n\
             [plates]\nenabled = false\n{}\
             ntcip = {{ address = \"127.0.0.1:{port}\", phase_numbers = [2, 6], timeout_ms = 200 }}\n",
            signal_sections("retry_initial_s = 0.2\nretry_max_s = 1.0")
        ),
    )
    .unwrap();
    let output = roadsight(&["run", "--config", config.to_str().unwrap(), "--json"]);
    let stderr = text(&output.stderr);
    // With --json a camera's failure is a health line on stdout: show both.
    assert_eq!(
        output.status.code(),
        Some(0),
        "stderr:\n{stderr}\nstdout:\n{}",
        text(&output.stdout)
    );
    assert!(
        stderr.contains("intersection x: plan not taken")
            && stderr.contains(&format!("127.0.0.1:{port}")),
        "{stderr}"
    );
    let summary: serde_json::Value = text(&output.stdout)
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .find(|line| line["type"] == "summary")
        .expect("summary");
    assert!(
        summary["signals"]["send_failures"].as_u64() >= Some(1),
        "{summary}"
    );
    assert_eq!(summary["signals"]["sent"].as_u64(), Some(0));
}

#[test]
fn bench_signals_reports_the_round_time_against_its_budget() {
    let output = roadsight(&[
        "bench",
        "signals",
        "--intersections",
        "20",
        "--rounds",
        "5",
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(report["intersections"], 20);
    assert_eq!(report["corridors"], 2);
    assert_eq!(report["plans_on_counts"], 20, "{report}");
    assert_eq!(report["limit_ms"], 10.0);
    let p99 = report["round_ms_p99"].as_f64().unwrap();
    let ratio = report["ratio"].as_f64().unwrap();
    assert!(
        p99 > 0.0 && (ratio - 10.0 / p99).abs() < 1e-6 * ratio,
        "{report}"
    );
}

#[test]
fn run_stores_its_events_and_a_replay_duplicates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    encode_test_clip(
        &dir.path().join("cam.mp4"),
        &TestClip::h264(640, 360, 25, 75),
    )
    .unwrap();
    let config = dir.path().join("city.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\nstart_time = \"2026-11-23T08:00:00Z\"\n[store]\nurl = \"sqlite:events/city.db\"\n\
             [[cameras]]\nid = \"cam\"\nuri = \"cam.mp4\"\nresolution = [640, 360]\n\
             lines = [{{ id = \"stop\", from = [0, 200], to = [640, 200] }}]\n\
             [plates]\nenabled = false\n{}",
            signal_sections("")
        ),
    )
    .unwrap();
    let summary = |output: &Output| -> serde_json::Value {
        assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
        text(&output.stdout)
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .find(|line| line["type"] == "summary")
            .expect("summary")
    };
    let first = summary(&roadsight(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--json",
    ]));
    let plans = first["signals"]["plans"].as_u64().unwrap();
    assert!(plans >= 3, "{first}");
    // Health records (wall-clock stamped), timing plans and the closing counts.
    assert!(
        first["store"]["events"].as_u64().unwrap() >= plans + 2,
        "{first}"
    );
    assert_eq!(first["store"]["duplicates"], 0);
    assert!(
        dir.path().join("events/city.db").is_file(),
        "relative to the config"
    );
    let second = summary(&roadsight(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--json",
    ]));
    // The same footage gives the same plans at the same capture times: all already stored.
    assert!(
        second["store"]["duplicates"].as_u64().unwrap() >= plans,
        "{second}"
    );
    // Only the two new health records (their time is the wall clock's) are new.
    assert_eq!(second["store"]["events"].as_u64(), Some(2), "{second}");
}

#[test]
fn an_unreachable_store_is_named_and_the_run_does_not_start() {
    let dir = tempfile::tempdir().unwrap();
    encode_test_clip(
        &dir.path().join("cam.mp4"),
        &TestClip::h264(320, 240, 25, 25),
    )
    .unwrap();
    let config = write_config(dir.path(), &[("cam", "cam.mp4")]);
    let output = roadsight(&[
        "run",
        "--config",
        config.to_str().unwrap(),
        "--store",
        "postgres://roadsight:secret@127.0.0.1:1/city",
    ]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains("127.0.0.1:1") && stderr.contains("connect") && !stderr.contains("secret"),
        "{stderr}"
    );
}

/// A store holding one plate's trip over cameras a, b, c (1 km apart) and a misread of it.
fn plate_store(dir: &Path) -> String {
    let url = format!("sqlite:{}", dir.join("plates.db").display());
    let mut store = roadsight_store::open(&url).unwrap();
    let start = roadsight_core::Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap();
    let seen = |camera: &str, plate: &str, seconds: u64| {
        roadsight_core::Event::Plate(roadsight_core::TrackPlate {
            camera: roadsight_core::CameraId::new(camera),
            track: roadsight_core::TrackId(seconds),
            text: plate.into(),
            formatted: plate.into(),
            confidence: 0.9,
            char_confidence: vec![0.9; plate.len()],
            rows: 1,
            valid: true,
            reads: 3,
            agreeing: 3,
            first_seen: start.plus(std::time::Duration::from_secs(seconds)),
            last_seen: start.plus(std::time::Duration::from_secs(seconds)),
            at: start.plus(std::time::Duration::from_secs(seconds)),
            evidence: None,
            candidate: false,
            appearance: None,
        })
    };
    store
        .append(&[
            seen("a", "51G12345", 0),
            seen("b", "51G12345", 90),
            seen("c", "5IG12345", 200),
        ])
        .unwrap();
    url
}

#[test]
fn trace_prints_the_routes_of_a_plate_and_is_audited() {
    let dir = tempfile::tempdir().unwrap();
    let url = plate_store(dir.path());
    let config = dir.path().join("city.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{url}\"\n[[cameras]]\nid = \"a\"\nuri = \"rtsp://a/1\"\n[[cameras]]\nid = \"b\"\nuri = \"rtsp://b/1\"\n\
             [[cameras]]\nid = \"c\"\nuri = \"rtsp://c/1\"\n[routes]\nlinks = [\n\
             {{ from = \"a\", to = \"b\", distance_m = 1000 }},\n{{ from = \"b\", to = \"c\", distance_m = 1000 }},\n]\n"
        ),
    )
    .unwrap();
    let output = roadsight(&[
        "trace",
        "51G-123.45",
        "--config",
        config.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let trace: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    let cameras: Vec<&str> = trace["routes"][0]["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["camera"].as_str().unwrap())
        .collect();
    assert_eq!(cameras, ["a", "b", "c"], "{trace}");
    // The human form, and a window that holds nothing.
    let output = roadsight(&[
        "trace",
        "51G12345",
        "--store",
        &url,
        "--from",
        "2026-11-24T00:00:00Z",
    ]);
    assert!(
        text(&output.stdout).contains("no sightings"),
        "{}",
        text(&output.stdout)
    );
    assert_eq!(
        roadsight(&["trace", "51G12345", "--store", &url, "--from", "noon"])
            .status
            .code(),
        Some(2)
    );
    let mut store = roadsight_store::open(&url).unwrap();
    let audit = store.audit_log(None, 10).unwrap();
    assert_eq!(audit.len(), 2);
    assert!(audit
        .iter()
        .all(|entry| entry.action == "plate_trace" && entry.who.starts_with("cli:")));
    assert_eq!(audit[1].results, 3);
}

/// A city config in `dir` serving the store of [`plate_store`] to one user (`[api]` on port 0).
fn serve_config(dir: &Path, user: &str, token: &str, role: &str) -> std::path::PathBuf {
    let url = plate_store(dir);
    let config = dir.join("city.toml");
    std::fs::write(
        &config,
        format!(
            "[store]\nurl = \"{url}\"\n[api]\nbind = \"127.0.0.1:0\"\n\
             users = [{{ name = \"{user}\", token = \"{token}\", role = \"{role}\" }}]\n\
             [[cameras]]\nid = \"a\"\nuri = \"rtsp://a/1\"\n"
        ),
    )
    .unwrap();
    config
}

/// Starts `roadsight serve --config config` (its [api] binding port 0) and returns the child
/// and the address it printed.
fn serve_in_background(config: &Path) -> (std::process::Child, String) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_roadsight"))
        .args(["serve", "--config", config.to_str().unwrap()])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufReader::new(child.stderr.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let address = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();
    (child, address)
}

#[test]
fn serve_answers_over_an_existing_store() {
    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), "o", "officer-token-0123456789", "officer");
    let (mut child, address) = serve_in_background(&config);
    let answer = Command::new("curl")
        .args(["-s", "-H", "Authorization: Bearer officer-token-0123456789"])
        .arg(format!("http://{address}/api/plates/51G12345/trace"))
        .output()
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    let trace: serde_json::Value = serde_json::from_slice(&answer.stdout).unwrap();
    assert_eq!(trace["plate"], "51G12345", "{trace}");
    assert_eq!(
        trace["sightings"], 2,
        "no links configured: the misread does not join: {trace}"
    );
}

fn nats_url() -> Option<String> {
    let url =
        std::env::var("ROADSIGHT_TEST_NATS").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let probe = roadsight_broker::BrokerConfig {
        url: url.clone(),
        stream: format!("RS_PROBE_{}", std::process::id()),
        subject_prefix: format!("rsprobe{}", std::process::id()),
        ..roadsight_broker::BrokerConfig::default()
    };
    match roadsight_broker::Publisher::connect(&probe) {
        Ok(_) => {
            let _ = roadsight_broker::remove_stream(&probe);
            Some(url)
        }
        Err(error) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true and NATS is not usable: {error}")
        }
        Err(error) => {
            eprintln!("NOT RUN: worker/central over NATS ({error})");
            None
        }
    }
}

#[test]
fn worker_nats_and_central_lose_nothing_when_central_is_killed_mid_stream() {
    let Some(url) = nats_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    encode_test_clip(
        &dir.path().join("cam.mp4"),
        &TestClip::h264(640, 360, 25, 50),
    )
    .unwrap();
    let id = std::process::id();
    let broker = roadsight_broker::BrokerConfig {
        url: url.clone(),
        stream: format!("RS_NOLOSS_{id}"),
        subject_prefix: format!("rsnoloss{id}.events"),
        durable: "central".into(),
        max_age_days: 1.0,
    };
    struct StreamGuard(roadsight_broker::BrokerConfig);
    impl Drop for StreamGuard {
        fn drop(&mut self) {
            let _ = roadsight_broker::remove_stream(&self.0);
        }
    }
    let _stream = StreamGuard(broker.clone());
    let store_path = dir.path().join("central.db");
    let config = dir.path().join("city.toml");
    std::fs::write(
        &config,
        format!(
            "[runtime]\nstart_time = \"2026-11-23T08:00:00Z\"\n[store]\nurl = \"sqlite:{}\"\n\
             [broker]\nurl = \"{url}\"\nstream = \"{}\"\nsubject_prefix = \"{}\"\n\
             [[cameras]]\nid = \"cam\"\nuri = \"cam.mp4\"\nresolution = [640, 360]\n\
             lines = [{{ id = \"stop\", from = [0, 200], to = [640, 200] }}]\n[plates]\nenabled = false\n{}",
            store_path.display(),
            broker.stream,
            broker.subject_prefix,
            signal_sections("")
        ),
    )
    .unwrap();
    let start_central = || {
        Command::new(env!("CARGO_BIN_EXE_roadsight"))
            .args([
                "central",
                "--config",
                config.to_str().unwrap(),
                "--ack-wait-s",
                "2",
            ])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap()
    };
    // A real worker publishes its camera's events (health, plans) before central exists.
    let worker = roadsight(&[
        "worker",
        "--config",
        config.to_str().unwrap(),
        "--cameras",
        "cam",
        "--json",
    ]);
    assert_eq!(worker.status.code(), Some(0), "{}", text(&worker.stderr));
    let mut central = start_central();
    // 3,000 more events over about three seconds; central is killed after one and restarted.
    let publisher = roadsight_broker::Publisher::connect(&broker).unwrap();
    let start = roadsight_core::Timestamp::parse_rfc3339("2026-11-23T09:00:00Z").unwrap();
    let events: Vec<roadsight_core::Event> = (0..3000u64)
        .map(|n| {
            roadsight_core::Event::Crossing(roadsight_core::counting::Crossing {
                camera: roadsight_core::CameraId::new(["a", "b", "c"][(n % 3) as usize]),
                line: "stop".into(),
                lane: None,
                track: roadsight_core::TrackId(n),
                class: roadsight_core::VehicleClass::Car,
                at: start.plus(std::time::Duration::from_millis(n * 100)),
                direction: roadsight_core::counting::CrossingDirection::Forward,
                speed_kmh: None,
            })
        })
        .collect();
    let started = std::time::Instant::now();
    let mut killed = false;
    let mut restarted = false;
    for batch in events.chunks(100) {
        publisher.publish_events(batch).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(100));
        if !killed && started.elapsed() > std::time::Duration::from_secs(1) {
            central.kill().unwrap(); // SIGKILL: no chance to finish its batch
            central.wait().unwrap();
            killed = true;
        }
        if killed && !restarted && started.elapsed() > std::time::Duration::from_millis(1800) {
            central = start_central();
            restarted = true;
        }
    }
    assert!(killed && restarted);
    // Wait for central to drain the stream into the store.
    let url_of_store = format!("sqlite:{}", store_path.display());
    let stored = |kind: &str| -> usize {
        let mut store = roadsight_store::open(&url_of_store).unwrap();
        store
            .events(&roadsight_store::EventQuery {
                kinds: vec![kind.to_string()],
                limit: 100_000,
                ..roadsight_store::EventQuery::default()
            })
            .unwrap()
            .len()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while stored("crossing") < events.len() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    let _ = central.kill();
    let _ = central.wait();
    let mut store = roadsight_store::open(&url_of_store).unwrap();
    let crossings = store
        .events(&roadsight_store::EventQuery {
            kinds: vec!["crossing".into()],
            limit: 100_000,
            ..roadsight_store::EventQuery::default()
        })
        .unwrap();
    let mut ids: Vec<String> = crossings.iter().map(|e| e.id.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), crossings.len(), "no event twice");
    let mut expected: Vec<String> = events.iter().map(roadsight_core::Event::id).collect();
    expected.sort();
    assert_eq!(
        ids, expected,
        "every published event is in the store exactly once"
    );
    // The worker's own events made it too.
    assert!(stored("timing_plan") >= 2 && stored("camera_health") >= 2);
}

#[test]
fn schemathesis_finds_no_server_error_in_the_api() {
    let schemathesis = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/venv/bin/schemathesis");
    assert!(
        schemathesis.is_file(),
        "{} missing (scripts/setup.sh installs scripts/requirements.txt)",
        schemathesis.display()
    );
    let dir = tempfile::tempdir().unwrap();
    let config = serve_config(dir.path(), "root", "admin-token-0123456789abc", "admin");
    let (mut server, address) = serve_in_background(&config);
    let fuzz = Command::new(&schemathesis)
        .args([
            "run",
            &format!("http://{address}/api/openapi.json"),
            "--checks",
            "not_a_server_error",
        ])
        .args([
            "-H",
            "Authorization: Bearer admin-token-0123456789abc",
            "--max-examples",
            "40",
            "--seed",
            "7",
        ])
        .env("SCHEMATHESIS_HOOKS", "")
        // It keeps a cache where it runs: not in the repository.
        .current_dir(dir.path())
        .output()
        .unwrap();
    let _ = server.kill();
    let _ = server.wait();
    let report = text(&fuzz.stdout);
    assert_eq!(
        fuzz.status.code(),
        Some(0),
        "{report}\n{}",
        text(&fuzz.stderr)
    );
    assert!(
        report.contains("Tested: 11"),
        "every operation fuzzed:\n{report}"
    );
    assert!(
        report.contains(" passed") && !report.contains("failed"),
        "{report}"
    );
}

#[test]
fn eval_routes_runs_the_main_job_over_a_generated_corridor_and_scores_its_routes() {
    let dir = tempfile::tempdir().unwrap();
    let scenario_text = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/scenarios/corridor.toml"),
    )
    .unwrap();
    // Two cameras 150 m apart, 40 s: quick, and most vehicles reach both.
    let short = scenario_text
        .replace("duration_s = 180", "duration_s = 40")
        .replace(
            "  { id = \"km05\", at_m = 500.0 },\n  { id = \"km10\", at_m = 1000.0 },\n",
            "  { id = \"km05\", at_m = 150.0 },\n",
        );
    let scenario = dir.path().join("corridor.toml");
    std::fs::write(&scenario, short).unwrap();
    let out = dir.path().join("corridor");
    let generated = Command::new(env!("CARGO_BIN_EXE_roadsight"))
        .args(["fixtures", "generate", "--seed", "2", "--shared-data"])
        .arg(shared_data())
        .arg("--scenario")
        .arg(&scenario)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert!(generated.status.success(), "{}", text(&generated.stderr));
    let routes_csv = std::fs::read_to_string(out.join("routes.csv")).unwrap();
    let true_routes = routes_csv
        .lines()
        .skip(1)
        .filter(|l| l.split(',').nth(2).is_some_and(|c| c.contains(';')))
        .count();
    assert!(true_routes >= 1, "{routes_csv}");
    let output = roadsight(&[
        "eval",
        "routes",
        "--scenario-dir",
        out.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(
        report["true_routes"].as_u64(),
        Some(true_routes as u64),
        "{report}"
    );
    let reconstructed = report["reconstructed"].as_u64().unwrap();
    let accuracy = report["route_accuracy"].as_f64().unwrap();
    assert!(
        (accuracy - reconstructed as f64 / true_routes as f64).abs() < 1e-9,
        "{report}"
    );
    assert!(report["plates_right"].as_u64() <= report["plates_emitted"].as_u64());
    assert!(report["candidates_right"].as_u64() <= report["candidates_emitted"].as_u64());
    // A route counts only when traced over the same cameras under the vehicle's plate.
    for route in report["routes"].as_array().unwrap() {
        if route["reconstructed"] == true {
            assert_eq!(route["traced"], route["truth"], "{route}");
        }
    }
    // Not a corridor: a clear error.
    let output = roadsight(&[
        "eval",
        "routes",
        "--scenario-dir",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        text(&output.stderr).contains("corridor.json"),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn simulate_prints_medians_per_controller_and_draws_them() {
    let dir = tempfile::tempdir().unwrap();
    let plot = dir.path().join("delay.svg");
    let output = Command::new(env!("CARGO_BIN_EXE_roadsight"))
        .args([
            "simulate",
            "--scenario",
            "small-grid-9",
            "--seeds",
            "2",
            "--controllers",
            "roadsight,fixed,maxpressure",
            "--json",
        ])
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .arg("--plot")
        .arg(&plot)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let report: serde_json::Value = serde_json::from_str(text(&output.stdout).trim()).unwrap();
    assert_eq!(report["scenario"], "small-grid-9");
    assert_eq!(report["seeds"], 2);
    let svg = std::fs::read_to_string(&plot).unwrap();
    for controller in ["roadsight", "fixed", "maxpressure"] {
        let delay = report["results"][controller]["mean_delay_s"]
            .as_f64()
            .unwrap();
        assert!(delay > 0.0, "{report}");
        assert!(
            svg.contains(&format!(">{controller}<")),
            "{controller} has a bar"
        );
        assert!(
            svg.contains(&format!(">{delay:.1}<")),
            "{controller}'s value is written on its bar"
        );
    }
    assert!(
        report["results"]["actuated"].is_null(),
        "only the controllers asked for"
    );
    let unknown = roadsight(&["simulate", "--scenario", "atlantis", "--seeds", "1"]);
    assert_eq!(unknown.status.code(), Some(2), "bad usage");
    assert!(
        text(&unknown.stderr).contains("city-grid-200"),
        "{}",
        text(&unknown.stderr)
    );
}

#[test]
fn eval_routes_traces_saved_events_and_leaves_out_candidates_under_the_floor() {
    // A two-camera corridor, 500 m apart, and the events a run saved with --events-out:
    // vehicle 1 read surely at both cameras, vehicle 2 surely at the first and as a candidate
    // (voted 0.3) at the second.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("corridor.json"),
        r#"{"cameras":[{"at_m":0.0,"id":"km0"},{"at_m":500.0,"id":"km05"}],"fps":10,
            "links":[{"distance_m":500.0,"from":"km0","to":"km05","min_speed_kmh":20.0,"max_speed_kmh":70.0}]}"#,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("routes.csv"),
        "vehicle,plate,cameras,times_s\n1,51F-446.14,km0;km05,10;50\n2,59-T1 732.81,km0;km05,20;60\n",
    )
    .unwrap();
    let plate = |camera: &str, text: &str, at: &str, confidence: f32, candidate: bool| {
        format!(
            r#"{{"v":1,"type":"plate","camera":"{camera}","track":1,"text":"{text}","formatted":"{text}","confidence":{confidence},"char_confidence":[{confidence}],"rows":1,"valid":true,"reads":5,"agreeing":5,"first_seen":"{at}","last_seen":"{at}","at":"{at}","evidence":null,"candidate":{candidate}}}"#
        )
    };
    let events = [
        plate("km0", "51F44614", "2026-11-23T08:00:10Z", 0.95, false),
        plate("km0", "59T173281", "2026-11-23T08:00:20Z", 0.95, false),
        plate("km05", "51F44614", "2026-11-23T08:00:50Z", 0.95, false),
        plate("km05", "59T173281", "2026-11-23T08:01:00Z", 0.3, true),
        "not an event".to_string(),
    ]
    .join("\n");
    let saved = dir.path().join("events.jsonl");
    std::fs::write(&saved, events).unwrap();
    let scenario_dir = dir.path().to_str().unwrap();
    let saved = saved.to_str().unwrap();
    let eval = |extra: &[&str]| {
        let mut args = vec![
            "eval",
            "routes",
            "--scenario-dir",
            scenario_dir,
            "--events-in",
            saved,
        ];
        args.extend_from_slice(extra);
        roadsight(&args)
    };
    let accuracy = |extra: &[&str]| {
        let output = eval(&[&["--json"], extra].concat());
        assert!(output.status.success(), "{}", text(&output.stderr));
        let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        assert_eq!(report["true_routes"], 2, "{report}");
        report["route_accuracy"].as_f64().unwrap()
    };
    // The candidate fills vehicle 2's second pass; under a floor of 0.35 it is left out.
    assert_eq!(accuracy(&[]), 1.0);
    assert_eq!(accuracy(&["--candidate-confidence", "0.35"]), 0.5);
    // Saved events cannot be traced with another run's settings.
    let output = eval(&["--fuse-frames", "3"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
}
