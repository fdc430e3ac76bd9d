#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! The real YOLOX-nano through ONNX Runtime: accuracy on real photos, parity with an independent
//! Python onnxruntime implementation, and clear refusals of bad model files.
//!
//! Needs what `scripts/setup.sh` provides (`.deps/`) and `../shared/data`; a missing piece is a
//! failure, never a skip.

use roadsight_models::detect::letterbox_rgb;
use roadsight_models::runtime::environment;
use roadsight_models::{
    Detection, Detector, DetectorError, DetectorOptions, Fetch, Manifest, ModelEntry,
};
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn required(path: PathBuf, what: &str) -> PathBuf {
    assert!(
        path.exists(),
        "{what} is missing at {} (run scripts/setup.sh; ../shared must be beside the repository)",
        path.display()
    );
    path
}

fn manifest() -> Manifest {
    Manifest::load(&repo().join("models/manifest.toml")).unwrap()
}

/// yolox-nano with its Focus layer in roadsight's input fill, at the upstream's square picture
/// (the default, `yolox-nano-focus-544x320`, is the same graph at a 16:9 picture).
const DETECTOR: &str = "yolox-nano-focus";
/// The upstream export it is derived from.
const UPSTREAM: &str = "yolox-nano";

fn open(models_dir: &Path, manifest: &Manifest) -> Result<Detector, DetectorError> {
    open_named(models_dir, manifest, UPSTREAM)
}

fn open_named(
    models_dir: &Path,
    manifest: &Manifest,
    name: &str,
) -> Result<Detector, DetectorError> {
    let env = environment(&required(
        repo().join(".deps/onnxruntime/libonnxruntime.so.1.31.1"),
        "the ONNX Runtime library",
    ))
    .unwrap();
    Detector::open(env, manifest, models_dir, name, DetectorOptions::default())
}

fn detector_named(name: &str) -> Detector {
    open_named(
        &required(repo().join(".deps/models"), "the models folder"),
        &manifest(),
        name,
    )
    .unwrap()
}

fn detector() -> Detector {
    detector_named(DETECTOR)
}

fn detect_file(detector: &mut Detector, path: &Path) -> Vec<Detection> {
    let rgb = image::open(path).unwrap().to_rgb8();
    let picture = letterbox_rgb(
        rgb.as_raw(),
        rgb.width(),
        rgb.height(),
        &detector.tensor_spec(),
    );
    detector.detect(&[&picture]).unwrap().pop().unwrap()
}

/// The files of `folder` with this extension, sorted.
fn files_ending(folder: &Path, extension: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == extension))
        .collect();
    files.sort();
    files
}

fn shared_data() -> PathBuf {
    required(repo().join("../shared/data"), "the shared evaluation data")
}

/// A detected vehicle box contains at least 90 % of the labelled plate box: with the square
/// picture, the 4:3 one and the default 16:9 one (the photos are mostly 16:9, some 4:3 or 3:2).
#[test]
fn vehicle_boxes_contain_the_plate_in_at_least_97_percent_of_real_photos() {
    plate_inside_a_vehicle_box(DETECTOR);
}

#[test]
fn the_default_544x320_detector_keeps_the_97_percent_accuracy_bar() {
    plate_inside_a_vehicle_box("yolox-nano-focus-544x320");
}

#[test]
fn the_rectangular_416x320_detector_keeps_the_97_percent_accuracy_bar() {
    plate_inside_a_vehicle_box("yolox-nano-focus-416x320");
}

fn plate_inside_a_vehicle_box(model: &str) {
    let mut detector = detector_named(model);
    let (mut hits, mut photos) = (0usize, 0usize);
    let mut misses = Vec::new();
    for set in ["eu", "us"] {
        let folder = shared_data().join("cars-plates").join(set);
        for label in files_ending(&folder, "txt") {
            let text = std::fs::read_to_string(&label).unwrap();
            let fields: Vec<&str> = text.trim().split('\t').collect();
            let photo = folder.join(fields[0]);
            let [x, y, w, h]: [f32; 4] = [1, 2, 3, 4].map(|i| fields[i].parse().unwrap());
            let found = detect_file(&mut detector, &photo);
            let contains = found.iter().any(|d| {
                let [bx, by, bw, bh] = d.bbox_image;
                let ix = ((x + w).min(bx + bw) - x.max(bx)).max(0.0);
                let iy = ((y + h).min(by + bh) - y.max(by)).max(0.0);
                ix * iy >= 0.9 * w * h
            });
            photos += 1;
            if contains {
                hits += 1;
            } else {
                misses.push(fields[0].to_string());
            }
        }
    }
    assert!(photos >= 200, "only {photos} labelled photos found");
    let rate = hits as f64 / photos as f64;
    eprintln!(
        "{model}: plate inside a vehicle box: {hits}/{photos} = {rate:.4}; misses {misses:?}"
    );
    assert!(
        rate >= 0.97,
        "{model}: {hits}/{photos} = {rate:.4}; misses {misses:?}"
    );
}

/// The derived model cuts the Focus slicing out of the graph and does it in the input fill; it
/// must find exactly what the upstream export finds, box for box.
#[test]
fn the_focus_variant_detects_exactly_what_yolox_nano_detects_on_real_photos() {
    let (mut derived, mut upstream) = (detector_named(DETECTOR), detector_named(UPSTREAM));
    let mut boxes = 0;
    for set in ["eu", "us"] {
        let folder = shared_data().join("cars-plates").join(set);
        for photo in files_ending(&folder, "jpg").iter().take(15) {
            let ours = detect_file(&mut derived, photo);
            let theirs = detect_file(&mut upstream, photo);
            assert_eq!(ours, theirs, "{}", photo.display());
            boxes += ours.len();
        }
    }
    assert!(boxes >= 30, "only {boxes} boxes compared");
}

#[test]
fn outputs_match_python_onnxruntime_on_the_same_images() {
    let python = required(repo().join(".deps/venv/bin/python"), "the Python venv");
    let dir = tempfile::tempdir().unwrap();
    // PNG copies, so both sides decode identical pixels (JPEG decoders differ by a level or two).
    let mut pngs = Vec::new();
    let mut photos = Vec::new();
    for set in ["eu", "us"] {
        let listed = files_ending(&shared_data().join("cars-plates").join(set), "jpg");
        photos.extend(listed.into_iter().take(3));
    }
    for source in photos {
        let target = dir
            .path()
            .join(source.file_stem().unwrap())
            .with_extension("png");
        image::open(&source)
            .unwrap()
            .to_rgb8()
            .save(&target)
            .unwrap();
        pngs.push(target);
    }
    let output = Command::new(python)
        .arg(repo().join("scripts/reference_detect.py"))
        .arg("--model")
        .arg(repo().join(".deps/models/yolox-nano/yolox_nano.onnx"))
        .args(&pngs)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let reference: Vec<serde_json::Value> = String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reference.len(), pngs.len());
    let mut detector = detector();
    let mut compared = 0;
    for (png, expected) in pngs.iter().zip(&reference) {
        let mut ours = detect_file(&mut detector, png);
        let mut theirs: Vec<(String, f64, [f64; 4])> = expected["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let b = d["bbox"].as_array().unwrap();
                (
                    d["class"].as_str().unwrap().to_string(),
                    d["score"].as_f64().unwrap(),
                    [0, 1, 2, 3].map(|i| b[i].as_f64().unwrap()),
                )
            })
            .collect();
        ours.sort_by(|a, b| b.score.total_cmp(&a.score));
        theirs.sort_by(|a, b| b.1.total_cmp(&a.1));
        assert_eq!(ours.len(), theirs.len(), "{}: box count", png.display());
        for (o, t) in ours.iter().zip(&theirs) {
            assert_eq!(o.class.name(), t.0, "{}", png.display());
            assert!((f64::from(o.score) - t.1).abs() < 1e-3, "{}", png.display());
            for (a, b) in o.bbox_image.iter().zip(t.2) {
                assert!(
                    (f64::from(*a) - b).abs() <= 1.0,
                    "{}: {:?} vs {:?}",
                    png.display(),
                    o.bbox_image,
                    t.2
                );
            }
            compared += 1;
        }
    }
    assert!(compared >= 5, "only {compared} boxes compared");
}

#[test]
fn a_missing_model_file_is_refused_by_name() {
    let empty = tempfile::tempdir().unwrap();
    let err = open(empty.path(), &manifest()).unwrap_err().to_string();
    assert!(
        err.contains("yolox-nano") && err.contains("missing") && err.contains("github.com"),
        "{err}"
    );
}

#[test]
fn an_altered_model_file_is_refused_with_both_digests() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("yolox-nano")).unwrap();
    let mut bytes = std::fs::read(repo().join(".deps/models/yolox-nano/yolox_nano.onnx")).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(dir.path().join("yolox-nano/yolox_nano.onnx"), bytes).unwrap();
    let err = open(dir.path(), &manifest()).unwrap_err().to_string();
    assert!(
        err.contains("yolox-nano") && err.contains("the manifest expects 695e750a"),
        "{err}"
    );
}

/// The error opening yolox-nano gives when the repository's manifest is edited by `edit`.
fn open_error_with_manifest_edited(edit: impl Fn(String) -> String) -> String {
    let text = std::fs::read_to_string(repo().join("models/manifest.toml")).unwrap();
    let wrong = Manifest::parse(&edit(text)).unwrap();
    open(&repo().join(".deps/models"), &wrong)
        .unwrap_err()
        .to_string()
}

#[test]
fn a_model_with_another_input_shape_is_refused_with_expected_and_actual() {
    // The manifest's yolox-nano entry pointed at the 320x320 plate detector (digest and all).
    let err = open_error_with_manifest_edited(|text| {
        text.replace(
            "file = \"yolox-nano/yolox_nano.onnx\"",
            "file = \"hyperlpr3/y5fu_320x_sim.onnx\"",
        )
        .replace(
            "695e750a5d5754bb5a8d5325643b59282191a7e7a564e435a415fd3c578eab14",
            "2a985dc63a5cc947ec36d18503d6fc0fd54525b9dba17f2fe29a71e86b44456d",
        )
    });
    assert!(
        err.contains("yolox-nano")
            && err.contains("input shape")
            && err.contains("[1, 3, 416, 416]")
            && err.contains("[1, 3, 320, 320]"),
        "{err}"
    );
}

#[test]
fn a_head_layout_the_decoder_does_not_read_is_refused_by_name() {
    // yolox-nano declared as a YOLOv5 head laid out channels first: YOLOv5 heads never are.
    let err = open_error_with_manifest_edited(|text| {
        text.replacen(
            "output = { decoder = \"yolox\", classes = \"coco80\" }",
            "output = { decoder = \"yolov5\", classes = \"coco80\", layout = \"channels-first\" }",
            1,
        )
    });
    assert!(
        err.contains("yolox-nano") && err.contains("Yolov5") && err.contains("ChannelsFirst"),
        "{err}"
    );
}

/// Runs set-up's step `make` (it gives `None` for a model it does not make) for every model of
/// the manifest into a temporary file, checks that each step succeeded and wrote the digest the
/// manifest pins, and returns how many models were made.
fn reproduce_each(
    mut make: impl FnMut(&ModelEntry, &Path) -> Option<std::process::Output>,
) -> usize {
    let dir = tempfile::tempdir().unwrap();
    let mut made = 0;
    for entry in &manifest().models {
        let dest = dir.path().join(format!("{}.onnx", entry.name));
        let Some(output) = make(entry, &dest) else {
            continue;
        };
        assert!(
            output.status.success(),
            "{}: {}",
            entry.name,
            String::from_utf8_lossy(&output.stderr)
        );
        assert_eq!(
            roadsight_models::manifest::sha256_of(&dest).unwrap(),
            entry.sha256,
            "{}",
            entry.name
        );
        made += 1;
    }
    made
}

/// Set-up makes the derived models with their recipes; the same upstream bytes must always give
/// the bytes the manifest pins.
#[test]
fn every_derived_model_is_reproduced_from_its_upstream_with_the_manifest_digest() {
    let models = required(repo().join(".deps/models"), "the models folder");
    let manifest = manifest();
    let derived = reproduce_each(|entry, dest| {
        let Fetch::Derived {
            derive: upstream,
            recipe,
            size,
        } = &entry.fetch
        else {
            return None;
        };
        let source = manifest.verified_file(upstream, &models).unwrap();
        Some(
            Command::new("python3")
                .arg(repo().join("scripts/derive_models.py"))
                .arg(recipe)
                .arg(&source)
                .arg(dest)
                .args(size)
                .output()
                .unwrap(),
        )
    });
    assert!(derived >= 3, "only {derived} derived models");
}

#[test]
fn the_focus_recipe_refuses_a_model_without_a_focus_layer_by_name() {
    let dir = tempfile::tempdir().unwrap();
    let models = required(repo().join(".deps/models"), "the models folder");
    let plates = manifest()
        .verified_file("hyperlpr3-plate-320", &models)
        .unwrap();
    let dest = dir.path().join("derived.onnx");
    let output = Command::new("python3")
        .arg(repo().join("scripts/derive_models.py"))
        .arg("yolox-focus-in-pre")
        .arg(&plates)
        .arg(&dest)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("y5fu_320x_sim.onnx") && stderr.contains("Focus"),
        "{stderr}"
    );
    assert!(!dest.exists());
}

/// Runs set-up's own steps (`scripts/fetch_models.py`: `wheel_for` finds the wheel set-up
/// fetched, `extract` writes its member) on a PyPI requirement's wheel.
fn extract_from_wheel(
    requirement: &str,
    member: &str,
    dest: &Path,
    character_dict: Option<&str>,
) -> std::process::Output {
    let wheels = required(repo().join(".deps/wheels"), "the wheels folder");
    Command::new("python3")
        .arg("-c")
        .arg(
            "import sys; from pathlib import Path; sys.path.insert(0, sys.argv[1]); \
             import fetch_models; \
             wheel = fetch_models.wheel_for(sys.argv[2], Path(sys.argv[3])); \
             fetch_models.extract(wheel, sys.argv[4], Path(sys.argv[5]), sys.argv[6] or None)",
        )
        .arg(repo().join("scripts"))
        .arg(requirement)
        .arg(wheels)
        .arg(member)
        .arg(dest)
        .arg(character_dict.unwrap_or(""))
        .output()
        .unwrap()
}

/// A recogniser whose character list ships beside it in its wheel gets the list written into
/// its metadata; the same wheel must always give the bytes the manifest pins.
#[test]
fn every_recogniser_given_its_wheel_character_list_is_reproduced_with_the_manifest_digest() {
    let written = reproduce_each(|entry, dest| match &entry.fetch {
        Fetch::Pypi {
            pypi,
            member,
            character_dict: Some(dict),
        } => Some(extract_from_wheel(pypi, member, dest, Some(dict))),
        _ => None,
    });
    assert!(written >= 1, "no recogniser takes its wheel's dictionary");
}

/// A model that already carries a character list is not given a second one.
#[test]
fn a_character_list_is_not_written_over_the_one_a_model_carries() {
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("rec.onnx");
    let output = extract_from_wheel(
        "rapidocr-onnxruntime==1.4.4",
        "rapidocr_onnxruntime/models/ch_PP-OCRv4_rec_infer.onnx",
        &dest,
        // Any text stands for a list here: the model's own list is what must stop it.
        Some("rapidocr_onnxruntime-1.4.4.dist-info/top_level.txt"),
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("already has metadata `character`"),
        "{stderr}"
    );
}
