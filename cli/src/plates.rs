//! `roadsight plates read` and `roadsight eval plates`.

use crate::images::{print_per_image, Decoded};
use crate::paths::Locations;
use anyhow::Context;
use roadsight_models::runtime::environment;
use roadsight_models::{Manifest, SessionOptions};
use roadsight_plate_reader::line::LineImage;
use roadsight_plate_reader::{
    normalise, PlateRead, PlateReader, ReaderOptions, Region, DEFAULT_CLOSE_PLATE_DETECTOR,
    DEFAULT_PLATE_DETECTOR, DEFAULT_RECOGNISER, DEFAULT_SECOND_RECOGNISER,
};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum PlatesCommand {
    /// Read licence plates in images; one JSON line per image.
    #[command(
        after_help = "Example:\n  roadsight plates read ../shared/data/cars-plates/eu/eu1.jpg\n  roadsight plates read --crops ../shared/data/plates-vn/images/10xemay272.jpg"
    )]
    Read(ReadArgs),
}

#[derive(Debug, Clone, clap::Args)]
pub struct ModelArgs {
    /// The plate detector of whole scenes (photos), by its name in models/manifest.toml.
    #[arg(long, default_value = DEFAULT_PLATE_DETECTOR)]
    pub detector: String,
    /// The plate detector of close views (plate crops, --crops), by its name in
    /// models/manifest.toml; the same name as --detector: one detector for every view.
    #[arg(long, default_value = DEFAULT_CLOSE_PLATE_DETECTOR)]
    pub close_detector: String,
    /// The text recogniser, by its name in models/manifest.toml.
    #[arg(long, default_value = DEFAULT_RECOGNISER)]
    pub recogniser: String,
    /// The second recogniser, asked about every read the first is unsure of (not a grammar-valid
    /// Vietnamese plate at --second-opinion-below confidence).
    #[arg(long, default_value = DEFAULT_SECOND_RECOGNISER)]
    pub second_recogniser: String,
    /// Confidence under which a Vietnamese read gets a second opinion.
    #[arg(long, default_value_t = 0.9)]
    pub second_opinion_below: f32,
    /// One recogniser only: no second opinions.
    #[arg(long)]
    pub no_second_opinion: bool,
    /// One look at each scene (photo): a scene with an unsure plate, or none found, is not read
    /// again at other scales.
    #[arg(long)]
    pub no_scene_views: bool,
    /// ONNX Runtime intra-op threads per session.
    #[arg(long, default_value_t = 1)]
    pub threads: usize,
}

#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// Each image is already a plate crop.
    #[arg(long)]
    pub crops: bool,
    #[command(flatten)]
    pub models: ModelArgs,
    /// Images (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
}

/// Opens the plate reader with the repository's (or the environment's) runtime and models.
pub fn open_reader(models: &ModelArgs) -> anyhow::Result<PlateReader> {
    let locations = Locations::resolve(None, None)?;
    let manifest = Manifest::load(&locations.manifest)?;
    let env = environment(&locations.onnxruntime)?;
    let options = ReaderOptions {
        session: SessionOptions {
            intra_threads: models.threads,
            spinning: false,
        },
        detector: models.detector.clone(),
        close_detector: Some(models.close_detector.clone()),
        recogniser: models.recogniser.clone(),
        second_recogniser: (!models.no_second_opinion).then(|| models.second_recogniser.clone()),
        second_opinion_below: models.second_opinion_below,
        scene_views: !models.no_scene_views,
        ..ReaderOptions::default()
    };
    Ok(PlateReader::open(
        env,
        &manifest,
        &locations.models_dir,
        &options,
    )?)
}

pub fn plates(command: &PlatesCommand) -> anyhow::Result<ExitCode> {
    let PlatesCommand::Read(args) = command;
    let mut reader = open_reader(&args.models)?;
    let region = if args.crops {
        Region::Crop
    } else {
        Region::Whole
    };
    print_per_image(&args.images, "plates", |decoded| {
        let view = decoded.view().ok_or("the image is empty")?;
        reader
            .read(&[(view, region)])
            .map_err(|e| e.to_string())
            .map(|mut all| all.pop().unwrap_or_default())
    })
}

/// Which part of a labelled set to evaluate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Split {
    All,
    /// The fifth of the images the plate recogniser was never trained on.
    Holdout,
    /// The rest (the recogniser's training part).
    Train,
}

use roadsight_plate_reader::split::is_held_out as is_holdout;

fn in_split(file_name: &str, split: Split) -> bool {
    match split {
        Split::All => true,
        Split::Holdout => is_holdout(file_name),
        Split::Train => !is_holdout(file_name),
    }
}

#[derive(Debug, clap::Args)]
pub struct EvalPlatesArgs {
    /// Plate crops: a folder with labels.csv (image,text,rows) and images/.
    #[arg(long)]
    pub crops_dir: Option<PathBuf>,
    /// Car photos: folders of X.jpg with X.txt (file, x, y, w, h, plate), e.g. cars-plates/eu.
    #[arg(long)]
    pub photos_dir: Vec<PathBuf>,
    #[arg(long, value_enum, default_value_t = Split::All)]
    pub split: Split,
    #[command(flatten)]
    pub models: ModelArgs,
    /// Write every rectified recogniser line as PNG here, with lines.csv (training data).
    /// Crops are then composed with their labelled row count, so the accuracy printed is not
    /// the reader's own.
    #[arg(long)]
    pub dump_lines: Option<PathBuf>,
    /// Print one JSON object.
    #[arg(long)]
    pub json: bool,
    /// List each miss on stderr.
    #[arg(long)]
    pub list_misses: bool,
    /// Reviewed corrections of the crops' labels (image,label,rows,reviewed,reviewed_rows,note;
    /// fixtures/label-errata/plates-vn.csv): the crops are then also scored against them.
    #[arg(long)]
    pub label_errata: Option<PathBuf>,
    /// Reviewed corrections of the photos' labels (image,label,reviewed,note, the image as
    /// FOLDER/FILE; fixtures/label-errata/cars-plates.csv): the photos are then also scored
    /// against them.
    #[arg(long)]
    pub photo_label_errata: Option<PathBuf>,
}

/// A photo label corrected by review, keyed by `FOLDER/FILE` (`eu/eu5.jpg`).
#[derive(Debug, Clone)]
pub struct PhotoErratum {
    /// The label as its `.txt` file gives it (a line that no longer matches is stale).
    pub label: String,
    /// What the plate shows, normalised.
    pub reviewed: String,
    /// The errata file and line, for errors.
    pub at: String,
}

/// Reads a photo label-errata file (image,label,reviewed,note). Each label is checked when its
/// photo is scored, since it lives in the photo's own `.txt` file.
pub fn load_photo_errata(file: &Path) -> anyhow::Result<BTreeMap<String, PhotoErratum>> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut errata = BTreeMap::new();
    for (number, row) in text.lines().enumerate().skip(1) {
        let at = format!("{}:{}", file.display(), number + 1);
        let fields: Vec<&str> = row.splitn(4, ',').collect();
        let [image, label, reviewed, _note] = fields[..] else {
            anyhow::bail!("{at}: expected image,label,reviewed,note");
        };
        anyhow::ensure!(
            image
                .split_once('/')
                .is_some_and(|(folder, name)| !folder.is_empty() && !name.is_empty()),
            "{at}: image `{image}` is not FOLDER/FILE (eu/eu5.jpg)"
        );
        let reviewed = normalise(reviewed);
        anyhow::ensure!(!reviewed.is_empty(), "{at}: the reviewed text is empty");
        let erratum = PhotoErratum {
            label: label.to_string(),
            reviewed,
            at: at.clone(),
        };
        anyhow::ensure!(
            errata.insert(image.to_string(), erratum).is_none(),
            "{at}: {image} is corrected twice"
        );
    }
    Ok(errata)
}

/// A label corrected by review: the text and row count the image really shows.
#[derive(Debug, Clone)]
pub struct Reviewed {
    /// Normalised.
    pub text: String,
    pub rows: u8,
}

/// What review found of a set's labels.
#[derive(Debug, Clone, Default)]
pub struct LabelErrata {
    /// Image -> what its plate shows, where the label says otherwise.
    pub corrected: BTreeMap<String, Reviewed>,
    /// Images whose plate is not legible enough to say (`-` in `reviewed`): scored against the
    /// label as given, and given no training line by `--dump-lines`.
    pub illegible: BTreeSet<String>,
}

/// What a plate picture shows, as footage pasting it on a vehicle must give it: `(text, rows)`,
/// the reviewed text where `errata` correct the label (`label`, `rows` as `labels.csv` gives
/// them), and none for a plate review found not legible enough to say, whose label is no whole
/// plate's text (`59-C2` for a two-row plate whose bottom row glare hides), so no vehicle
/// can carry it.
pub fn plate_truth(
    image: &str,
    label: &str,
    rows: &str,
    errata: &LabelErrata,
) -> Option<(String, u8)> {
    if errata.illegible.contains(image) {
        return None;
    }
    Some(match errata.corrected.get(image) {
        Some(reviewed) => (reviewed.text.clone(), reviewed.rows),
        None => (label.to_string(), rows.trim().parse().unwrap_or(1)),
    })
}

/// Whether a `width` x `height` picture of a plate set is a plate crop: at most 1.25 times as
/// tall as wide. A plate is wider than tall (a Vietnamese two-row plate 190 x 140 mm, a
/// one-row plate 3-5 times), and the held-out crops of `plates-vn` seen at an angle reach
/// 1.13 (`ndata151.jpg`, 78 x 88); the two that are taller, 1536 x 2048, are photos of a
/// motorbike's rear with the plate in their lower half.
pub fn is_plate_crop(width: u32, height: u32) -> bool {
    u64::from(height) * 4 <= u64::from(width) * 5
}

/// Reads a label-errata file, checking each line against the labels it corrects (a line whose
/// `label` no longer matches `labels.csv` is stale, and an error). A `reviewed` of `-` marks a
/// plate not legible enough to say.
pub fn load_errata(file: &Path, labels: &BTreeMap<String, String>) -> anyhow::Result<LabelErrata> {
    let text =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let mut errata = LabelErrata::default();
    for (number, row) in text.lines().enumerate().skip(1) {
        let at = || format!("{}:{}", file.display(), number + 1);
        let fields: Vec<&str> = row.splitn(6, ',').collect();
        let [image, label, _rows, reviewed, reviewed_rows, _note] = fields[..] else {
            anyhow::bail!(
                "{}: expected image,label,rows,reviewed,reviewed_rows,note",
                at()
            );
        };
        match labels.get(image) {
            Some(current) if current == label => {}
            Some(current) => anyhow::bail!(
                "{}: {image} is labelled `{current}`, the errata correct `{label}` (stale errata)",
                at()
            ),
            None => anyhow::bail!("{}: {image} is not in the labels", at()),
        }
        if reviewed.trim() == "-" {
            errata.illegible.insert(image.to_string());
            continue;
        }
        let rows: u8 = reviewed_rows
            .trim()
            .parse()
            .with_context(|| format!("{}: reviewed_rows", at()))?;
        errata.corrected.insert(
            image.to_string(),
            Reviewed {
                text: normalise(reviewed),
                rows,
            },
        );
    }
    Ok(errata)
}

/// Where the misses fall.
#[derive(Debug, Default, Serialize)]
pub struct Misses {
    /// No plate found where the label is.
    pub detection: u64,
    /// The plate was found with the wrong row count.
    pub rows: u64,
    /// Characters read wrong.
    pub recognition: u64,
    /// The raw read was right but grammar correction changed it.
    pub grammar: u64,
}

#[derive(Debug, Default, Serialize)]
pub struct SetReport {
    pub images: u64,
    pub exact: u64,
    pub accuracy: f64,
    /// Images that could not be decoded (counted as misses).
    pub unreadable: u64,
    pub misses: Misses,
    /// Exact matches per group (row count for crops, folder for photos).
    pub by_group: BTreeMap<String, (u64, u64)>,
    /// Plates per second over this set, end to end on one thread (decode excluded).
    pub plates_per_s: f64,
    /// Plates the second recogniser was asked about.
    pub second_opinions: u64,
    /// Scenes (photos) read again at other scales, their first look unsure.
    pub scenes_reread: u64,
    /// With `--label-errata`: the same reads scored against the reviewed labels.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reviewed: Option<ReviewedScore>,
}

/// Scores against reviewed labels.
#[derive(Debug, Default, Serialize)]
pub struct ReviewedScore {
    /// Labels in this set that the errata correct.
    pub corrected_labels: u64,
    pub exact: u64,
    pub accuracy: f64,
    pub misses: Misses,
    pub by_group: BTreeMap<String, (u64, u64)>,
}

#[derive(Debug, Serialize)]
struct EvalReport {
    detector: String,
    close_detector: String,
    recogniser: String,
    split: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    crops: Option<SetReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    photos: Option<SetReport>,
}

struct LineDump {
    dir: PathBuf,
    index: csv_lines::Writer,
}

mod csv_lines {
    use std::io::Write;

    pub struct Writer(std::io::BufWriter<std::fs::File>);

    impl Writer {
        pub fn create(path: &std::path::Path) -> std::io::Result<Self> {
            let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
            writeln!(out, "file,label,rows,holdout,source")?;
            Ok(Self(out))
        }

        pub fn row(&mut self, fields: &[&str]) -> std::io::Result<()> {
            writeln!(self.0, "{}", fields.join(","))
        }

        pub fn finish(mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
}

impl LineDump {
    fn write(
        &mut self,
        name: &str,
        line: &LineImage,
        label: &str,
        rows: u8,
        holdout: bool,
        source: &str,
    ) -> anyhow::Result<()> {
        let file = format!("{name}.png");
        image::save_buffer(
            self.dir.join(&file),
            &line.to_rgb(),
            line.stride,
            line.height,
            image::ColorType::Rgb8,
        )
        .with_context(|| format!("writing {}", self.dir.join(&file).display()))?;
        self.index.row(&[
            &file,
            label,
            &rows.to_string(),
            if holdout { "1" } else { "0" },
            source,
        ])?;
        Ok(())
    }
}

impl SetReport {
    /// Counts one labelled image in `group`; its decoded pixels, or `None` (counted as
    /// unreadable, and said on stderr) when it cannot be decoded.
    fn open_image(&mut self, group: &str, path: &Path) -> Option<Decoded> {
        self.images += 1;
        self.by_group.entry(group.to_string()).or_default().1 += 1;
        match Decoded::open(path) {
            Ok(decoded) => Some(decoded),
            Err(message) => {
                self.unreadable += 1;
                eprintln!("{}: {message}", path.display());
                None
            }
        }
    }
}

fn finish_set(report: &mut SetReport, seconds: f64) {
    report.accuracy = report.exact as f64 / report.images.max(1) as f64;
    if let Some(reviewed) = report.reviewed.as_mut() {
        reviewed.accuracy = reviewed.exact as f64 / report.images.max(1) as f64;
    }
    report.plates_per_s = report.images as f64 / seconds.max(1e-9);
}

fn eval_crops(
    reader: &mut PlateReader,
    dir: &Path,
    split: Split,
    errata_file: Option<&Path>,
    dump: &mut Option<LineDump>,
    list_misses: bool,
) -> anyhow::Result<SetReport> {
    let labels_file = dir.join("labels.csv");
    let text = std::fs::read_to_string(&labels_file)
        .with_context(|| format!("reading {}", labels_file.display()))?;
    let mut labelled: Vec<(&str, &str, u8)> = Vec::new();
    for (number, row) in text.lines().enumerate().skip(1) {
        let fields: Vec<&str> = row.split(',').collect();
        let [file, label, rows] = fields[..] else {
            anyhow::bail!(
                "{}:{}: expected image,text,rows",
                labels_file.display(),
                number + 1
            );
        };
        let rows: u8 = rows
            .trim()
            .parse()
            .with_context(|| format!("{}:{}: rows", labels_file.display(), number + 1))?;
        labelled.push((file, label, rows));
    }
    let errata = match errata_file {
        Some(file) => {
            let labels: BTreeMap<String, String> = labelled
                .iter()
                .map(|(file, label, _)| ((*file).to_string(), (*label).to_string()))
                .collect();
            Some(load_errata(file, &labels)?)
        }
        None => None,
    };
    let mut report = SetReport {
        reviewed: errata.as_ref().map(|_| ReviewedScore::default()),
        ..SetReport::default()
    };
    let mut busy = std::time::Duration::ZERO;
    let opinions_before = reader.times().second_opinions;
    for (file, label, rows) in labelled {
        if !in_split(file, split) {
            continue;
        }
        let truth = normalise(label);
        let correction = errata.as_ref().and_then(|e| e.corrected.get(file));
        let illegible = errata.as_ref().is_some_and(|e| e.illegible.contains(file));
        let (reviewed_truth, reviewed_rows) =
            correction.map_or((truth.as_str(), rows), |r| (r.text.as_str(), r.rows));
        if let Some(reviewed) = report.reviewed.as_mut() {
            reviewed.corrected_labels += u64::from(correction.is_some());
            reviewed
                .by_group
                .entry(format!("{reviewed_rows}-row"))
                .or_default()
                .1 += 1;
        }
        let Some(decoded) =
            report.open_image(&format!("{rows}-row"), &dir.join("images").join(file))
        else {
            continue;
        };
        let Some(view) = decoded.view() else {
            continue;
        };
        let started = std::time::Instant::now();
        // Training lines are composed with the row count the plate shows (the reviewed one
        // where the errata correct it).
        let region = if dump.is_some() {
            Region::CropWithRows(reviewed_rows)
        } else {
            Region::Crop
        };
        let mut plates = reader.read_with_lines(&[(view, region)])?;
        busy += started.elapsed();
        let found = plates.pop().unwrap_or_default();
        let Some((read, line)) = found.into_iter().next() else {
            report.misses.detection += 1;
            if let Some(reviewed) = report.reviewed.as_mut() {
                reviewed.misses.detection += 1;
            }
            continue;
        };
        // A training line carries what the plate shows: the reviewed text where the errata
        // correct the label; a plate the review could not read gives none.
        if let Some(dump) = dump.as_mut().filter(|_| !illegible) {
            let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
            dump.write(
                stem,
                &line,
                reviewed_truth,
                reviewed_rows,
                is_holdout(file),
                "crop",
            )?;
        }
        if let Some(reviewed) = report.reviewed.as_mut() {
            if read.plate.text == reviewed_truth {
                reviewed.exact += 1;
                if let Some(g) = reviewed.by_group.get_mut(&format!("{reviewed_rows}-row")) {
                    g.0 += 1;
                }
            } else {
                classify_miss(
                    &mut reviewed.misses,
                    &read,
                    reviewed_truth,
                    Some(reviewed_rows),
                );
                if list_misses {
                    eprintln!(
                        "miss {file}: reviewed truth {reviewed_truth} ({reviewed_rows} rows), read {} ({} rows, {:?})",
                        read.plate.text, read.plate.rows, read.plate.grammar
                    );
                }
            }
        }
        if read.plate.text == truth {
            report.exact += 1;
            if let Some(g) = report.by_group.get_mut(&format!("{rows}-row")) {
                g.0 += 1;
            }
            continue;
        }
        classify_miss(&mut report.misses, &read, &truth, Some(rows));
        if list_misses && report.reviewed.is_none() {
            eprintln!(
                "miss {file}: truth {truth} ({rows} rows), read {} ({} rows, {:?})",
                read.plate.text, read.plate.rows, read.plate.grammar
            );
        }
    }
    report.second_opinions = reader.times().second_opinions - opinions_before;
    finish_set(&mut report, busy.as_secs_f64());
    Ok(report)
}

fn classify_miss(misses: &mut Misses, read: &PlateRead, truth: &str, rows: Option<u8>) {
    if rows.is_some_and(|r| r != read.plate.rows) {
        misses.rows += 1;
        return;
    }
    let read_chars: Vec<char> = read.plate.text.chars().collect();
    let truth_chars: Vec<char> = truth.chars().collect();
    let only_corrected_differ = !read.plate.corrected.is_empty()
        && read_chars.len() == truth_chars.len()
        && read_chars
            .iter()
            .zip(&truth_chars)
            .enumerate()
            .all(|(i, (a, b))| a == b || read.plate.corrected.contains(&i));
    if only_corrected_differ {
        misses.grammar += 1;
    } else {
        misses.recognition += 1;
    }
}

/// Scores one photo against `truth` into a tally (exact matches, per-group exact and total,
/// misses): right when any of its `reads` is `truth`; otherwise a detection miss when no plate
/// was found at the label, or the read there classified. Returns whether it was right.
fn score_photo(
    (exact, by_group, misses): (&mut u64, &mut BTreeMap<String, (u64, u64)>, &mut Misses),
    group: &str,
    reads: &[&str],
    read_at_label: Option<&PlateRead>,
    truth: &str,
) -> bool {
    if reads.contains(&truth) {
        *exact += 1;
        if let Some(g) = by_group.get_mut(group) {
            g.0 += 1;
        }
        return true;
    }
    match read_at_label {
        None => misses.detection += 1,
        Some(read) => classify_miss(misses, read, truth, None),
    }
    false
}

fn eval_photos(
    reader: &mut PlateReader,
    dirs: &[PathBuf],
    errata: Option<&BTreeMap<String, PhotoErratum>>,
    dump: &mut Option<LineDump>,
    list_misses: bool,
) -> anyhow::Result<SetReport> {
    let mut report = SetReport {
        reviewed: errata.map(|_| ReviewedScore::default()),
        ..SetReport::default()
    };
    let mut errata_used = BTreeSet::new();
    let mut folders = Vec::new();
    let opinions_before = reader.times().second_opinions;
    let scenes_before = reader.times().scenes_reread;
    let mut busy = std::time::Duration::ZERO;
    for dir in dirs {
        let group_name = dir.file_name().map_or_else(
            || dir.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        folders.push(group_name.clone());
        let mut labels: Vec<PathBuf> = std::fs::read_dir(dir)
            .with_context(|| format!("reading {}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "txt"))
            .collect();
        labels.sort();
        for label_file in labels {
            let text = std::fs::read_to_string(&label_file)
                .with_context(|| format!("reading {}", label_file.display()))?;
            let fields: Vec<&str> = text.trim().split('\t').collect();
            let [file, x, y, w, h, plate] = fields[..] else {
                anyhow::bail!(
                    "{}: expected file, x, y, w, h, plate (tab-separated)",
                    label_file.display()
                );
            };
            let number = |s: &str| -> anyhow::Result<f32> {
                s.trim()
                    .parse()
                    .with_context(|| format!("{}: `{s}` is not a number", label_file.display()))
            };
            let truth_box = [number(x)?, number(y)?, number(w)?, number(h)?];
            let truth = normalise(plate);
            let image = format!("{group_name}/{file}");
            let correction = match errata.and_then(|e| e.get(&image)) {
                Some(erratum) if erratum.label == plate.trim() => {
                    errata_used.insert(image.clone());
                    Some(erratum.reviewed.clone())
                }
                Some(erratum) => anyhow::bail!(
                    "{}: {image} is labelled `{}`, the errata correct `{}` (stale errata)",
                    erratum.at,
                    plate.trim(),
                    erratum.label
                ),
                None => None,
            };
            let reviewed_truth = correction.clone().unwrap_or_else(|| truth.clone());
            if let Some(reviewed) = report.reviewed.as_mut() {
                reviewed.corrected_labels += u64::from(correction.is_some());
                reviewed.by_group.entry(group_name.clone()).or_default().1 += 1;
            }
            let Some(decoded) = report.open_image(&group_name, &dir.join(file)) else {
                continue;
            };
            let Some(view) = decoded.view() else {
                continue;
            };
            let started = std::time::Instant::now();
            let plates = reader
                .read_with_lines(&[(view, Region::Whole)])?
                .pop()
                .unwrap_or_default();
            busy += started.elapsed();
            let centre_inside = |b: &[f32; 4]| {
                let (cx, cy) = (b[0] + b[2] / 2.0, b[1] + b[3] / 2.0);
                cx >= truth_box[0]
                    && cx <= truth_box[0] + truth_box[2]
                    && cy >= truth_box[1]
                    && cy <= truth_box[1] + truth_box[3]
            };
            let at_label: Vec<&(PlateRead, LineImage)> = plates
                .iter()
                .filter(|(p, _)| centre_inside(&p.bbox))
                .collect();
            if let (Some(dump), Some((_, line))) = (dump.as_mut(), at_label.first()) {
                let stem = file.rsplit_once('.').map_or(file, |(s, _)| s);
                dump.write(
                    &format!("{group_name}-{stem}"),
                    line,
                    &truth,
                    0,
                    false,
                    "photo",
                )?;
            }
            let reads: Vec<&str> = plates.iter().map(|(p, _)| p.plate.text.as_str()).collect();
            let read_at_label = at_label.first().map(|(read, _)| read);
            if let Some(reviewed) = report.reviewed.as_mut() {
                let hit = score_photo(
                    (
                        &mut reviewed.exact,
                        &mut reviewed.by_group,
                        &mut reviewed.misses,
                    ),
                    &group_name,
                    &reads,
                    read_at_label,
                    &reviewed_truth,
                );
                if !hit && list_misses {
                    eprintln!("miss {image}: reviewed truth {reviewed_truth}, read {reads:?}");
                }
            }
            let hit = score_photo(
                (&mut report.exact, &mut report.by_group, &mut report.misses),
                &group_name,
                &reads,
                read_at_label,
                &truth,
            );
            if !hit && list_misses && report.reviewed.is_none() {
                eprintln!("miss {image}: truth {truth}, read {reads:?}");
            }
        }
    }
    // Every correction of a folder scored here must have met its photo.
    if let Some(errata) = errata {
        let unmatched: Vec<&str> = errata
            .iter()
            .filter(|(image, _)| {
                !errata_used.contains(*image)
                    && image
                        .split_once('/')
                        .is_some_and(|(folder, _)| folders.iter().any(|f| f == folder))
            })
            .map(|(_, erratum)| erratum.at.as_str())
            .collect();
        anyhow::ensure!(
            unmatched.is_empty(),
            "photo label errata name photos that are not in the folders scored: {}",
            unmatched.join(", ")
        );
    }
    report.second_opinions = reader.times().second_opinions - opinions_before;
    report.scenes_reread = reader.times().scenes_reread - scenes_before;
    finish_set(&mut report, busy.as_secs_f64());
    Ok(report)
}

pub fn eval_plates(args: &EvalPlatesArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.crops_dir.is_some() || !args.photos_dir.is_empty(),
        crate::UsageError("give --crops-dir and/or --photos-dir".to_string())
    );
    let photo_errata = args
        .photo_label_errata
        .as_deref()
        .map(load_photo_errata)
        .transpose()?;
    let mut reader = open_reader(&args.models)?;
    let mut dump = match &args.dump_lines {
        Some(dir) => {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            Some(LineDump {
                dir: dir.clone(),
                index: csv_lines::Writer::create(&dir.join("lines.csv"))?,
            })
        }
        None => None,
    };
    let crops = match &args.crops_dir {
        Some(dir) => Some(eval_crops(
            &mut reader,
            dir,
            args.split,
            args.label_errata.as_deref(),
            &mut dump,
            args.list_misses,
        )?),
        None => None,
    };
    let photos = if args.photos_dir.is_empty() {
        None
    } else {
        Some(eval_photos(
            &mut reader,
            &args.photos_dir,
            photo_errata.as_ref(),
            &mut dump,
            args.list_misses,
        )?)
    };
    if let Some(dump) = dump {
        dump.index.finish()?;
    }
    let report = EvalReport {
        detector: args.models.detector.clone(),
        close_detector: args.models.close_detector.clone(),
        recogniser: args.models.recogniser.clone(),
        split: format!("{:?}", args.split).to_lowercase(),
        crops,
        photos,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        for (name, set) in [("crops", &report.crops), ("photos", &report.photos)] {
            if let Some(set) = set {
                outln!(
                    "{name}: {}/{} exact ({:.1}%), misses: detection {}, rows {}, recognition {}, grammar {}; {:.1} plates/s",
                    set.exact,
                    set.images,
                    100.0 * set.accuracy,
                    set.misses.detection,
                    set.misses.rows,
                    set.misses.recognition,
                    set.misses.grammar,
                    set.plates_per_s
                );
                for (group, (exact, total)) in &set.by_group {
                    outln!("  {group}: {exact}/{total}");
                }
                outln!("  second opinions: {}", set.second_opinions);
                if set.scenes_reread > 0 {
                    outln!("  scenes read again at other scales: {}", set.scenes_reread);
                }
                if let Some(reviewed) = &set.reviewed {
                    outln!(
                        "{name} against reviewed labels ({} corrected): {}/{} exact ({:.1}%), misses: detection {}, rows {}, recognition {}, grammar {}",
                        reviewed.corrected_labels,
                        reviewed.exact,
                        set.images,
                        100.0 * reviewed.accuracy,
                        reviewed.misses.detection,
                        reviewed.misses.rows,
                        reviewed.misses.recognition,
                        reviewed.misses.grammar,
                    );
                    for (group, (exact, total)) in &reviewed.by_group {
                        outln!("  {group}: {exact}/{total}");
                    }
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plate_picture_gives_its_reviewed_text_and_an_illegible_one_none() {
        let mut errata = LabelErrata::default();
        errata.corrected.insert(
            "corrected.jpg".to_string(),
            Reviewed {
                text: "59T173281".to_string(),
                rows: 2,
            },
        );
        errata.illegible.insert("partial.jpg".to_string());
        assert_eq!(
            plate_truth("corrected.jpg", "59-71732.81", "2", &errata),
            Some(("59T173281".to_string(), 2))
        );
        assert_eq!(
            plate_truth("as-given.jpg", "51A-961.41", " 2", &errata),
            Some(("51A-961.41".to_string(), 2))
        );
        assert_eq!(plate_truth("partial.jpg", "59-C2", "1", &errata), None);
    }

    #[test]
    fn a_plate_is_wider_than_tall_and_a_photo_of_a_rear_is_no_crop() {
        assert!(is_plate_crop(760, 560));
        assert!(is_plate_crop(78, 88));
        assert!(is_plate_crop(100, 125));
        assert!(!is_plate_crop(100, 126));
        assert!(!is_plate_crop(1536, 2048));
    }
}
