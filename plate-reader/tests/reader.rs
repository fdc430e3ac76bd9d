#![allow(clippy::unwrap_used, clippy::expect_used)] // Test code: a failed unwrap is a failed test.

//! The real plate reader (HyperLPR3 detector and roadsight's recogniser through ONNX Runtime):
//! accuracy bars on the development data, bad input, and bad model files.
//!
//! Needs what `scripts/setup.sh` provides (`.deps/`) and `../shared/data`; a missing piece is a
//! failure, never a skip.

use roadsight_models::runtime::environment;
use roadsight_models::Manifest;
use roadsight_plate_reader::split::is_held_out;
use roadsight_plate_reader::{
    normalise, PlateError, PlateRead, PlateReader, ReaderOptions, Region, RgbView,
};
use std::path::{Path, PathBuf};

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

fn open_with(
    models_dir: &Path,
    manifest: &Manifest,
    options: &ReaderOptions,
) -> Result<PlateReader, PlateError> {
    let env = environment(&required(
        repo().join(".deps/onnxruntime/libonnxruntime.so.1.31.1"),
        "the ONNX Runtime library",
    ))
    .unwrap();
    PlateReader::open(env, manifest, models_dir, options)
}

fn manifest() -> Manifest {
    Manifest::load(&repo().join("models/manifest.toml")).unwrap()
}

fn reader() -> PlateReader {
    open_with(
        &required(repo().join(".deps/models"), "the models folder"),
        &manifest(),
        &ReaderOptions::default(),
    )
    .unwrap()
}

struct Rgb {
    pixels: Vec<u8>,
    width: u32,
    height: u32,
}

impl Rgb {
    fn open(path: &Path) -> Self {
        let image = image::ImageReader::open(path)
            .unwrap()
            .with_guessed_format()
            .unwrap()
            .decode()
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
            .to_rgb8();
        let (width, height) = image.dimensions();
        Self {
            pixels: image.into_raw(),
            width,
            height,
        }
    }

    /// The image scaled (area-like filter) to `height` pixels high, its aspect kept.
    fn shrunk(&self, height: u32) -> Self {
        let image =
            image::RgbImage::from_raw(self.width, self.height, self.pixels.clone()).unwrap();
        let width =
            (u64::from(self.width) * u64::from(height) / u64::from(self.height)).max(8) as u32;
        let small =
            image::imageops::resize(&image, width, height, image::imageops::FilterType::Triangle);
        Self {
            pixels: small.into_raw(),
            width,
            height,
        }
    }

    /// The image through a JPEG encoder and decoder at `quality`.
    fn jpeg(&self, quality: u8) -> Self {
        let mut bytes = Vec::new();
        image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality)
            .encode(
                &self.pixels,
                self.width,
                self.height,
                image::ExtendedColorType::Rgb8,
            )
            .unwrap();
        let decoded = image::load_from_memory(&bytes).unwrap().to_rgb8();
        Self {
            pixels: decoded.into_raw(),
            width: self.width,
            height: self.height,
        }
    }

    fn view(&self) -> RgbView<'_> {
        RgbView::new(&self.pixels, self.width, self.height).unwrap()
    }
}

fn data() -> PathBuf {
    required(repo().join("../shared/data"), "the shared evaluation data")
}

/// The reviewed corrections in `fixtures/label-errata/{file}` (a header, then
/// `image,label,...` lines of `columns` fields, the last a free-text note): image -> (label as
/// the data gives it, the reviewed text in column `reviewed_column`, normalised; the label
/// where review marked the plate not legible enough to say, `-`).
fn label_errata(
    file: &str,
    columns: usize,
    reviewed_column: usize,
) -> std::collections::HashMap<String, (String, String)> {
    let text = std::fs::read_to_string(repo().join("fixtures/label-errata").join(file)).unwrap();
    text.lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.splitn(columns, ',').collect();
            // `-`: not legible enough to say, so scored against the label as given (as
            // `roadsight eval plates` scores it).
            let reviewed = match f[reviewed_column].trim() {
                "-" => normalise(f[1]),
                reviewed => normalise(reviewed),
            };
            (f[0].to_string(), (f[1].to_string(), reviewed))
        })
        .collect()
}

/// The held-out fifth of `plates-vn`: (file, labelled text normalised, reviewed text, labelled
/// rows).
fn held_out_crops(dir: &Path) -> Vec<(String, String, String, u8)> {
    let labels = std::fs::read_to_string(dir.join("labels.csv")).unwrap();
    // image,label,rows,reviewed,reviewed_rows,note
    let errata = label_errata("plates-vn.csv", 6, 3);
    let rows: Vec<(String, String, String, u8)> = labels
        .lines()
        .skip(1)
        .map(|line| {
            let f: Vec<&str> = line.split(',').collect();
            let reviewed = match errata.get(f[0]) {
                Some((labelled, reviewed)) => {
                    assert_eq!(labelled, f[1], "stale errata line for {}", f[0]);
                    reviewed.clone()
                }
                None => normalise(f[1]),
            };
            (
                f[0].to_string(),
                normalise(f[1]),
                reviewed,
                f[2].parse().unwrap(),
            )
        })
        .filter(|(file, _, _, _)| is_held_out(file))
        .collect();
    assert!(rows.len() > 300, "{} held-out crops", rows.len());
    rows
}

#[test]
fn held_out_vietnamese_crops_stay_above_the_measured_floor() {
    let dir = data().join("plates-vn");
    let rows = held_out_crops(&dir);
    let mut reader = reader();
    assert!(
        reader.second.is_some(),
        "the default reader asks a second recogniser"
    );
    let (mut exact, mut exact_reviewed) = (0usize, 0usize);
    let mut by_rows = [(0usize, 0usize); 3];
    for chunk in rows.chunks(16) {
        let images: Vec<Rgb> = chunk
            .iter()
            .map(|(file, _, _, _)| Rgb::open(&dir.join("images").join(file)))
            .collect();
        let inputs: Vec<_> = images.iter().map(|i| (i.view(), Region::Crop)).collect();
        let reads = reader.read(&inputs).unwrap();
        for ((_, truth, reviewed, rows), plates) in chunk.iter().zip(&reads) {
            assert_eq!(plates.len(), 1, "a crop gives exactly one plate");
            let hit = plates[0].plate.text == *truth;
            exact += usize::from(hit);
            exact_reviewed += usize::from(plates[0].plate.text == *reviewed);
            by_rows[*rows as usize].0 += usize::from(hit);
            by_rows[*rows as usize].1 += 1;
        }
    }
    let accuracy = exact as f64 / rows.len() as f64;
    let reviewed_accuracy = exact_reviewed as f64 / rows.len() as f64;
    eprintln!(
        "held-out crops: {exact}/{} = {:.3} against the labels, {exact_reviewed} = {:.3} against \
         the reviewed labels; one-row {}/{}, two-row {}/{}",
        rows.len(),
        accuracy,
        reviewed_accuracy,
        by_rows[1].0,
        by_rows[1].1,
        by_rows[2].0,
        by_rows[2].1
    );
    // The bar is 0.95, against what the crops show: with PP-OCRv6's second opinion, the
    // 320x320 plate detector for crops this size and the recogniser trained on compressed small
    // lines with the reviewed training labels, this reader measures 0.952 (355/373) against the
    // reviewed labels (70 corrected; the 4 held-out `-` lines are scored as labelled) and 0.799
    // (298/373) against the labels as given (0.938 and 0.783 with the recogniser trained on the
    // labels as given; 0.930 then with greedy decoding, 0.922 with the 640x640 detector). The
    // first assertion is a regression floor.
    assert!(
        accuracy >= 0.76,
        "exact-match rate {accuracy:.3} fell under the 0.76 floor"
    );
    assert!(
        reviewed_accuracy >= 0.95,
        "exact-match rate against reviewed labels {reviewed_accuracy:.3} is under the bar 0.95"
    );
}

#[test]
fn held_out_crops_shrunk_to_camera_size_stay_above_the_measured_floor() {
    // A camera 20-40 px from a plate's top to its bottom, as in the corridor's footage: each
    // held-out crop shrunk to a height between 20 and 40 px (chosen by its file name), then read.
    let dir = data().join("plates-vn");
    let rows = held_out_crops(&dir);
    let mut reader = reader();
    let mut exact_reviewed = 0usize;
    for chunk in rows.chunks(16) {
        let images: Vec<Rgb> = chunk
            .iter()
            .map(|(file, _, _, _)| {
                let spread = file
                    .bytes()
                    .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
                Rgb::open(&dir.join("images").join(file)).shrunk(20 + spread % 21)
            })
            .collect();
        let inputs: Vec<_> = images.iter().map(|i| (i.view(), Region::Crop)).collect();
        let reads = reader.read(&inputs).unwrap();
        for ((_, _, reviewed, _), plates) in chunk.iter().zip(&reads) {
            assert!(plates.len() <= 1, "a crop gives at most one plate");
            exact_reviewed +=
                usize::from(plates.first().is_some_and(|p| p.plate.text == *reviewed));
        }
    }
    let accuracy = exact_reviewed as f64 / rows.len() as f64;
    eprintln!(
        "held-out crops shrunk to 20-40 px: {exact_reviewed}/{} = {accuracy:.3} against the \
         reviewed labels",
        rows.len()
    );
    // The recogniser trained with lines degraded to this size, half of them also blurred and
    // JPEG-compressed, and on the reviewed labels, measures 0.901 (336/373) with PP-OCRv6
    // small's second opinion and the 320x320 plate detector (0.903 trained on the labels as
    // given, 0.895 against the 66 corrections of then; 0.890 with clean degraded lines only,
    // 0.882 then with the 640x640 one, 0.866 with PP-OCRv4); the one trained on sharp lines
    // only, 0.818 (305/373). A regression floor that the recogniser trained on sharp lines
    // fails.
    assert!(
        accuracy >= 0.87,
        "exact-match rate of shrunk crops {accuracy:.3} fell under the 0.87 floor"
    );
}

/// A car photo's label file (`FILE\tx\ty\tw\th\tPLATE`): the photo's file name, the labelled
/// box and the normalised plate.
fn photo_label(label: &Path) -> (String, [f32; 4], String) {
    let text = std::fs::read_to_string(label).unwrap();
    let fields: Vec<&str> = text.trim().split('\t').collect();
    let number = |i: usize| fields[i].parse::<f32>().unwrap();
    (
        fields[0].to_string(),
        [number(1), number(2), number(3), number(4)],
        normalise(fields[5]),
    )
}

/// A car photo's label file: the photo, the labelled box and the normalised plate.
fn labelled_photo(label: &Path) -> (Rgb, [f32; 4], String) {
    let (file, labelled, truth) = photo_label(label);
    (Rgb::open(&label.with_file_name(file)), labelled, truth)
}

/// What the reader finds in one image read as `region`.
fn read_one(reader: &mut PlateReader, image: &Rgb, region: Region) -> Vec<PlateRead> {
    reader
        .read(&[(image.view(), region)])
        .unwrap()
        .pop()
        .unwrap()
}

/// A car photo's labelled box, its normalised plate, and what the reader finds in the whole
/// photo.
fn read_labelled_photo(
    reader: &mut PlateReader,
    label: &Path,
) -> ([f32; 4], String, Vec<PlateRead>) {
    let (image, labelled, truth) = labelled_photo(label);
    (labelled, truth, read_one(reader, &image, Region::Whole))
}

/// A plate that fills much of a close-up photo (`us10.jpg`: 251x125 px of 800x600) is not
/// found by the first look, whose detector learnt plates small in their scene; the scene is
/// searched again shrunk to half, and the plate found where its label puts it.
#[test]
fn a_plate_filling_a_close_up_photo_is_found_by_the_shrunk_search() {
    let (labelled, truth, plates) =
        read_labelled_photo(&mut reader(), &data().join("cars-plates/us/us10.txt"));
    let at_label = plates
        .iter()
        .find(|p| roadsight_core::geometry::iou(p.bbox, labelled) >= 0.5)
        .unwrap_or_else(|| panic!("no plate at the labelled box: {plates:?}"));
    assert_eq!(at_label.plate.text, truth, "{plates:?}");
}

#[test]
fn car_photos_end_to_end_stay_above_the_measured_floor() {
    let mut reader = reader();
    // image (`us/wts-lg-000085.jpg`),label,reviewed,note
    let errata = label_errata("cars-plates.csv", 4, 2);
    let (mut exact, mut exact_reviewed, mut total) = (0usize, 0usize, 0usize);
    let mut errata_used = 0usize;
    for set in ["eu", "us"] {
        let dir = data().join("cars-plates").join(set);
        let mut labels: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        labels.sort();
        for label in labels {
            let (file, _, truth) = photo_label(&label);
            let image = Rgb::open(&label.with_file_name(&file));
            let plates = read_one(&mut reader, &image, Region::Whole);
            let reviewed = match errata.get(&format!("{set}/{file}")) {
                Some((labelled, reviewed)) => {
                    assert_eq!(
                        normalise(labelled),
                        truth,
                        "stale errata line for {set}/{file}"
                    );
                    errata_used += 1;
                    reviewed.clone()
                }
                None => truth.clone(),
            };
            total += 1;
            exact += usize::from(plates.iter().any(|p| p.plate.text == truth));
            exact_reviewed += usize::from(plates.iter().any(|p| p.plate.text == reviewed));
        }
    }
    let accuracy = exact as f64 / total as f64;
    let reviewed_accuracy = exact_reviewed as f64 / total as f64;
    eprintln!(
        "car photos: {exact}/{total} = {accuracy:.3} against the labels, {exact_reviewed} = \
         {reviewed_accuracy:.3} against the reviewed labels"
    );
    assert!(total >= 238, "{total} photos");
    assert_eq!(
        errata_used,
        errata.len(),
        "every errata line names a photo the test reads"
    );
    // The bar is 0.88. With PP-OCRv6's second opinion, North American plates' round
    // glyph read as 0, a second, zoomed look at plates the scene shows small, a shrunk search
    // of scenes the first look finds no plate in, and scenes with an unsure plate read again
    // at three other scales, this reader measures 0.857 against the labels as given (204/238;
    // US plates, 135/163, are the weak part) and 0.887 (211/238) against the reviewed labels
    // (0.836 and 0.866 with one scale, 0.828 before the shrunk search, 0.782 then with
    // PP-OCRv4 as the second recogniser, 0.756 then with one look). The first assertion is a
    // regression floor that the reader reading each scene at one scale fails, and that the
    // recogniser trained on the reviewed labels failed by one photo (203) while a detected
    // plate 1.7-1.8 times as wide as high was not read both ways.
    assert!(
        accuracy >= 0.853,
        "end-to-end rate {accuracy:.3} fell under the 0.853 floor (bar 0.88)"
    );
    // The bar, against what the photos show (fixtures/label-errata/README.md).
    assert!(
        reviewed_accuracy >= 0.88,
        "end-to-end rate against reviewed labels {reviewed_accuracy:.3} is under the bar 0.88"
    );
}

#[test]
fn bad_input_gives_empty_or_unsure_reads_never_a_crash() {
    let mut reader = reader();
    // Tiny and flat crops: one plate (the crop itself) with nothing readable on it.
    let tiny = vec![255u8; 2 * 2 * 3];
    let flat = vec![128u8; 200 * 60 * 3];
    let mut noise = Vec::with_capacity(160 * 120 * 3);
    let mut state = 12345u32;
    for _ in 0..160 * 120 * 3 {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        noise.push((state >> 16) as u8);
    }
    let crops = [
        RgbView::new(&tiny, 2, 2).unwrap(),
        RgbView::new(&flat, 200, 60).unwrap(),
    ];
    for (i, crop) in crops.iter().enumerate() {
        let plates = reader
            .read(&[(*crop, Region::Crop)])
            .unwrap()
            .pop()
            .unwrap();
        assert!(plates.len() <= 1, "crop {i}");
        for plate in &plates {
            assert!(
                plate.plate.text.is_empty() || plate.plate.confidence < 0.5,
                "crop {i} read as {:?} with confidence {}",
                plate.plate.text,
                plate.plate.confidence
            );
        }
    }
    // A picture with no plate in it.
    let plates = reader
        .read(&[(RgbView::new(&flat, 200, 60).unwrap(), Region::Whole)])
        .unwrap()
        .pop()
        .unwrap();
    assert!(plates.is_empty(), "{plates:?}");
    let plates = reader
        .read(&[(RgbView::new(&noise, 160, 120).unwrap(), Region::Whole)])
        .unwrap()
        .pop()
        .unwrap();
    assert!(
        plates
            .iter()
            .all(|p| !p.plate.valid || p.plate.confidence < 0.5),
        "{plates:?}"
    );

    // A real plate turned on its side: read or not, never a crash, never a confident wrong plate
    // in the Vietnamese form.
    let crop = Rgb::open(&data().join("plates-vn/images/10xemay1329.jpg"));
    let (w, h) = (crop.width as usize, crop.height as usize);
    let mut rotated = vec![0u8; w * h * 3];
    for y in 0..h {
        for x in 0..w {
            let (rx, ry) = (h - 1 - y, x);
            rotated[(ry * h + rx) * 3..(ry * h + rx) * 3 + 3]
                .copy_from_slice(&crop.pixels[(y * w + x) * 3..(y * w + x) * 3 + 3]);
        }
    }
    let plates = reader
        .read(&[(
            RgbView::new(&rotated, h as u32, w as u32).unwrap(),
            Region::Crop,
        )])
        .unwrap()
        .pop()
        .unwrap();
    assert!(plates.len() <= 1);
    // A vehicle box outside the picture gives nothing.
    let plates = reader
        .read(&[(crop.view(), Region::Within([5000.0, 5000.0, 10.0, 10.0]))])
        .unwrap()
        .pop()
        .unwrap();
    assert!(plates.is_empty());
}

#[test]
fn reads_in_a_batch_equal_reads_one_by_one() {
    let dir = data().join("plates-vn/images");
    let files = [
        "10xemay1329.jpg",
        "3CarLongPlate256.jpg",
        "10PlateBaza299.jpg",
        "ndata153.jpg",
    ];
    let images: Vec<Rgb> = files.iter().map(|f| Rgb::open(&dir.join(f))).collect();
    let mut reader = reader();
    let batched = reader
        .read(
            &images
                .iter()
                .map(|i| (i.view(), Region::Crop))
                .collect::<Vec<_>>(),
        )
        .unwrap();
    for (image, batch_read) in images.iter().zip(&batched) {
        let single = reader
            .read(&[(image.view(), Region::Crop)])
            .unwrap()
            .pop()
            .unwrap();
        assert_eq!(single[0].plate.text, batch_read[0].plate.text);
        for (a, b) in single[0]
            .plate
            .char_confidence
            .iter()
            .zip(&batch_read[0].plate.char_confidence)
        {
            assert!((a - b).abs() < 1e-4);
        }
    }
}

#[test]
fn each_close_view_goes_to_the_detector_whose_picture_is_nearest_its_size() {
    let mut reader = reader();
    // Pictures of 320 and 640 px: the boundary is their geometric mean, 452.5 px.
    for (width, height, expected) in [
        (150, 90, "hyperlpr3-plate-320"),
        (452, 300, "hyperlpr3-plate-320"),
        (453, 300, "hyperlpr3-plate-640"),
        (300, 460, "hyperlpr3-plate-640"),
        (1280, 720, "hyperlpr3-plate-640"),
    ] {
        assert_eq!(
            reader.detector_for(width, height).name(),
            expected,
            "{width}x{height}"
        );
    }
    let open = |detector: &str, close_detector: Option<&str>| {
        open_with(
            &required(repo().join(".deps/models"), "the models folder"),
            &manifest(),
            &ReaderOptions {
                detector: detector.to_string(),
                close_detector: close_detector.map(str::to_string),
                second_recogniser: None,
                ..ReaderOptions::default()
            },
        )
        .unwrap()
    };
    // Without a close detector every view goes to the one detector.
    let mut single = open("hyperlpr3-plate-640", None);
    assert!(single.close_detector.is_none());
    assert_eq!(single.detector_for(150, 90).name(), "hyperlpr3-plate-640");
    // The choice is by picture size, not by role: a close detector with the larger picture
    // gets the large views.
    let mut swapped = open("hyperlpr3-plate-320", Some("hyperlpr3-plate-640"));
    assert_eq!(swapped.detector_for(150, 90).name(), "hyperlpr3-plate-320");
    assert_eq!(
        swapped.detector_for(1280, 720).name(),
        "hyperlpr3-plate-640"
    );
}

#[test]
fn bad_model_files_are_refused_with_what_and_where() {
    let models = required(repo().join(".deps/models"), "the models folder");
    let manifest = manifest();
    let broken = tempfile::tempdir().unwrap();
    // Everything as it should be, except a recogniser file that is not the recorded one.
    for dir in ["hyperlpr3", "plate-rec"] {
        std::fs::create_dir_all(broken.path().join(dir)).unwrap();
    }
    for detector in ["y5fu_640x_sim.onnx", "y5fu_320x_sim.onnx"] {
        std::fs::copy(
            models.join("hyperlpr3").join(detector),
            broken.path().join("hyperlpr3").join(detector),
        )
        .unwrap();
    }
    std::fs::write(
        broken.path().join("plate-rec/roadsight_plate_rec.onnx"),
        b"not a model",
    )
    .unwrap();
    let error = open_with(broken.path(), &manifest, &ReaderOptions::default()).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("roadsight-plate-rec"), "{message}");
    assert!(message.contains("sha256"), "{message}");

    // The vehicle detector named as the plate detector, of scenes or of close views.
    let wrong_kinds = [
        ReaderOptions {
            detector: "yolox-nano".to_string(),
            ..ReaderOptions::default()
        },
        ReaderOptions {
            close_detector: Some("yolox-nano".to_string()),
            ..ReaderOptions::default()
        },
    ];
    for wrong_kind in &wrong_kinds {
        let message = open_with(&models, &manifest, wrong_kind)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("yolox-nano") && message.contains("not a plate detector"),
            "{message}"
        );
    }

    // A manifest whose recogniser input shape does not match the file.
    let text = std::fs::read_to_string(repo().join("models/manifest.toml"))
        .unwrap()
        .replace("shape = [-1, 3, 32, 192]", "shape = [-1, 3, 48, 192]");
    let altered = Manifest::parse(&text).unwrap();
    let message = open_with(&models, &altered, &ReaderOptions::default())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("roadsight-plate-rec")
            && message.contains("input shape")
            && message.contains("48"),
        "{message}"
    );
}

#[test]
fn held_out_crops_seen_small_in_three_frames_read_better_fused() {
    // A vehicle approaching a camera: each held-out crop shrunk to three heights a pixel apart
    // (20-42 px, chosen by its file name), JPEG-compressed as a stream's frames are, each read;
    // the three plate pictures fused (roadsight_plate_reader::fuse) and read again.
    use roadsight_plate_reader::fuse::PlatePictures;
    let dir = data().join("plates-vn");
    let rows = held_out_crops(&dir);
    let mut reader = reader();
    let (mut last_frame_right, mut fused_right) = (0usize, 0usize);
    for (file, _, reviewed, _) in &rows {
        let spread = file
            .bytes()
            .fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
        let crop = Rgb::open(&dir.join("images").join(file));
        let frames: Vec<Rgb> = (0..3)
            .map(|i| crop.shrunk(20 + spread % 21 + i).jpeg(60))
            .collect();
        let mut pictures = PlatePictures::new(3);
        let mut fused = None;
        let mut last = String::new();
        for frame in &frames {
            let plates = reader.read(&[(frame.view(), Region::Crop)]).unwrap();
            let Some(read) = plates.into_iter().flatten().next() else {
                continue;
            };
            last = read.plate.text.clone();
            fused = pictures.push(&frame.view(), &read);
        }
        last_frame_right += usize::from(last == *reviewed);
        if let Some(picture) = fused {
            let plates = reader
                .read(&[(picture.view().unwrap(), Region::Rectified(picture.rows))])
                .unwrap();
            fused_right += usize::from(
                plates
                    .into_iter()
                    .flatten()
                    .next()
                    .is_some_and(|p| p.plate.text == *reviewed),
            );
        }
    }
    eprintln!(
        "held-out crops 20-42 px high: last frame alone {last_frame_right}/{n}, three frames \
         fused {fused_right}/{n}",
        n = rows.len()
    );
    assert!(fused_right > last_frame_right);
}

/// A vehicle's crop as the pipeline takes it from a camera far off: a window round the
/// labelled plate of `label`'s photo `plate_widths` times the plate's width, the plate in its
/// lower part, shrunk to `width` px and JPEG-compressed.
fn vehicle_crop(label: &Path, plate_widths: f32, width: u32) -> Rgb {
    let (image, [x, y, w, h], _) = labelled_photo(label);
    let (iw, ih) = (image.width as f32, image.height as f32);
    let cw = (w * plate_widths).min(iw);
    let ch = (cw * 0.85).min(ih);
    let x0 = (x + w / 2.0 - cw / 2.0).clamp(0.0, iw - cw) as u32;
    let y0 = (y + h / 2.0 - ch * 0.7).clamp(0.0, ih - ch) as u32;
    let (cw, ch) = (cw as u32, ch as u32);
    let crop = Rgb {
        pixels: image.view().crop(x0, y0, x0 + cw, y0 + ch).unwrap(),
        width: cw,
        height: ch,
    };
    crop.shrunk(ch * width / cw).jpeg(80)
}

/// A vehicle's crop in which the close views' detector finds no plate is searched again with
/// the scenes' detector, and what that one finds is read; a crop the close one finds a plate
/// in is not searched again.
#[test]
fn a_vehicle_crop_with_no_plate_found_close_is_searched_with_the_scenes_detector() {
    let mut reader = reader();
    // A US car 170 px wide: its plate, 29 px wide, is missed by the 320x320 picture.
    let far = vehicle_crop(&data().join("cars-plates/us/car2.txt"), 5.9, 170);
    assert_eq!(
        reader.detector_for(far.width, far.height).name(),
        "hyperlpr3-plate-320"
    );
    let close_finds = reader
        .close_detector
        .as_mut()
        .expect("the default reader has a close views' detector")
        .locate(&far.view())
        .unwrap();
    assert!(close_finds.is_empty(), "{close_finds:?}");
    let scene_finds = reader.detector.locate(&far.view()).unwrap();
    assert!(
        !scene_finds.is_empty(),
        "the scenes' detector finds the plate"
    );
    let plates = read_one(&mut reader, &far, Region::Vehicle);
    assert_eq!(reader.times().vehicles_relocated, 1);
    assert!(
        plates
            .iter()
            .any(|p| roadsight_core::geometry::iou(p.bbox, scene_finds[0].bbox) >= 0.5),
        "the plate read is the one the scenes' detector found: {plates:?} against {scene_finds:?}"
    );
    // A European car 300 px wide: its plate is found by the close views' detector.
    let near = vehicle_crop(&data().join("cars-plates/eu/eu1.txt"), 3.46, 300);
    assert_eq!(
        reader.detector_for(near.width, near.height).name(),
        "hyperlpr3-plate-320"
    );
    let plates = read_one(&mut reader, &near, Region::Vehicle);
    assert!(!plates.is_empty());
    assert_eq!(reader.times().vehicles_relocated, 1, "no second search");
}
