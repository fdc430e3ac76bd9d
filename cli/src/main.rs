//! `roadsight`: the command line. It wires the library crates together from one config file;
//! the algorithms live in the crates.

/// `println!` that ends the process quietly when stdout's reader has gone (`| head`).
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        if writeln!(stdout, $($arg)*).and_then(|()| stdout.flush()).is_err() {
            std::process::exit(0);
        }
    }};
}

mod bench;
mod bench_detect;
mod bench_plates;
mod bench_signals;
mod bench_store;
mod bench_track;
mod central;
mod detect;
mod eval;
mod eval_routes;
mod events;
mod images;
mod paths;
mod plates;
mod run;
mod serve;
mod signals;
mod simulate;

use anyhow::Context;
use clap::{Parser, Subcommand};
use roadsight_core::config::ConfigError;
use roadsight_core::CityConfig;
use std::path::PathBuf;
use std::process::ExitCode;

/// mimalloc instead of glibc's malloc: 1.13-1.19x the store writer's known-plate inserts
/// (README, event store); SQLite's and ONNX Runtime's own allocations stay with the C library.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The performance core of a city traffic control centre.
#[derive(Debug, Parser)]
#[command(name = "roadsight", version, about, propagate_version = true)]
struct Cli {
    /// Print error details and causes.
    #[arg(short, long, global = true)]
    verbose: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the main job on a city: ingest every camera and report per camera.
    #[command(
        after_help = "Example:\n  roadsight run --config fixtures/demo/city.toml\n  roadsight run --config city.toml --duration 60 --json"
    )]
    Run(run::RunArgs),
    /// Detect vehicles in images; one JSON line per image.
    #[command(
        after_help = "Example:\n  roadsight detect ../shared/data/cars-plates/eu/eu1.jpg\n  roadsight detect --score 0.4 photos/*.jpg"
    )]
    Detect(detect::DetectArgs),
    /// Read licence plates.
    #[command(subcommand)]
    Plates(plates::PlatesCommand),
    /// Check a city config and list every problem with its path.
    #[command(after_help = "Example:\n  roadsight check-config fixtures/demo/city.toml")]
    CheckConfig {
        /// The city config (TOML).
        file: PathBuf,
    },
    /// Measure roadsight against a limit or a peer in the same run.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
    /// Measure accuracy against ground truth.
    #[command(subcommand)]
    Eval(eval::EvalCommand),
    /// Generate footage for tests, benchmarks and the demo city.
    #[command(subcommand)]
    Fixtures(FixturesCommand),
    /// Compare signal controllers in SUMO, closed loop; medians over seeds.
    #[command(
        after_help = "Example:\n  roadsight simulate --scenario grid4x4 --seeds 5 --json\n  roadsight simulate --scenario city-grid-200 --load high --controllers roadsight,actuated,maxpressure"
    )]
    Simulate(simulate::SimulateArgs),
    /// Serve the API over an existing store.
    #[command(
        after_help = "Example:\n  roadsight serve --config fixtures/demo/city.toml\n  roadsight serve --config city.toml --store postgres://roadsight@db/city --bind 0.0.0.0:8080"
    )]
    Serve(serve::ServeArgs),
    /// Where a plate went: its routes across cameras, with sightings and evidence (audited).
    #[command(
        after_help = "Example:\n  roadsight trace 51G-123.45 --config fixtures/demo/city.toml\n  roadsight trace 59L214999 --store sqlite:city.db --from 2026-11-23T07:00:00+07:00 --json"
    )]
    Trace(serve::TraceArgs),
    /// An ingest worker: a shard of cameras, their events to the broker (NATS JetStream).
    #[command(
        after_help = "Example:\n  roadsight worker --config city.toml --cameras ben-thanh-north,ben-thanh-east"
    )]
    Worker(central::WorkerArgs),
    /// The central service: the broker's events into the store, and the API over it.
    #[command(
        after_help = "Example:\n  roadsight central --config city.toml --store postgres://roadsight@db/city"
    )]
    Central(central::CentralArgs),
}

#[derive(Debug, Subcommand)]
enum FixturesCommand {
    /// Generate composited footage with exact ground truth from a scenario file.
    #[command(
        after_help = "Example:\n  roadsight fixtures generate --scenario fixtures/scenarios/straight-road.toml --seed 1 --out /tmp/straight"
    )]
    Generate {
        /// The scenario (TOML), e.g. fixtures/scenarios/straight-road.toml.
        #[arg(long)]
        scenario: PathBuf,
        /// Random seed; the same seed gives the same footage and ground truth.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output folder (video.mp4, gt/gt.txt, crossings.csv, counts.csv, plates.csv, meta.json).
        #[arg(long)]
        out: PathBuf,
        /// The shared evaluation data (vehicle photos with plates).
        #[arg(long, default_value = "../shared/data")]
        shared_data: PathBuf,
    },
    /// Generate the demo city's clips (kept if already there).
    #[command(after_help = "Example:\n  roadsight fixtures demo --out .deps/demo")]
    Demo {
        /// Where to write the clips.
        #[arg(long, default_value = ".deps/demo")]
        out: PathBuf,
        /// The shared evaluation data (footage/car-detection.mp4).
        #[arg(long, default_value = "../shared/data")]
        shared_data: PathBuf,
    },
}

/// A failure that is the user's to fix (bad usage, bad config): exit code 2.
#[derive(Debug)]
pub struct UsageError(pub String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

/// Opens (and migrates) the store at `url`, saying first on stderr when an existing store's
/// schema is about to be migrated: on a store of millions of sightings that takes minutes, and
/// an operator who sees nothing might stop it.
pub fn open_store(url: &str) -> anyhow::Result<Box<dyn roadsight_store::EventStore>> {
    Ok(roadsight_store::open_noting_migrations(
        url,
        &mut |notice| {
            eprintln!(
            "{}: migrating its schema from version {} to {}; on a store of millions of sightings this takes minutes, let it finish",
            notice.store, notice.from, notice.to
        );
        },
    )?)
}

/// Loads a config, turning its problems into a usage error.
pub fn load_config(file: &std::path::Path) -> anyhow::Result<CityConfig> {
    CityConfig::load(file).map_err(|e| match e {
        ConfigError::Invalid { .. } => anyhow::Error::new(UsageError(e.to_string())),
        ConfigError::Read { .. } => anyhow::Error::new(UsageError(e.to_string())),
    })
}

fn check_config(file: &std::path::Path) -> anyhow::Result<()> {
    let config = load_config(file)?;
    let cameras = config.resolved_cameras();
    outln!(
        "{}: ok, city `{}` with {} camera(s)",
        file.display(),
        config.name,
        cameras.len()
    );
    let locations = paths::Locations::resolve(
        config.paths.models_dir.as_deref(),
        config.paths.onnxruntime.as_deref(),
    )?;
    let found = |p: &std::path::Path| {
        if p.exists() {
            "found"
        } else {
            "missing: run scripts/setup.sh"
        }
    };
    outln!("  repository  {}", locations.repo.display());
    outln!(
        "  models      {} ({})",
        locations.models_dir.display(),
        found(&locations.models_dir)
    );
    outln!(
        "  onnxruntime {} ({})",
        locations.onnxruntime.display(),
        found(&locations.onnxruntime)
    );
    for camera in cameras {
        outln!(
            "  {:<20} {:<9} {:>5.1} fps  {:?}",
            camera.id.as_str(),
            format!("{:?}", camera.mode).to_lowercase(),
            camera.analytics_fps,
            camera.source
        );
    }
    Ok(())
}

/// The detector that cuts the generated footage's vehicles out of the photos. Fixed, not the
/// default: footage of a seed must stay the same when the default detector changes (tracking
/// and route figures compare detectors on the same footage).
const SPRITE_DETECTOR: &str = "yolox-nano-focus";

fn generate_fixture(
    scenario: &std::path::Path,
    seed: u64,
    out: &std::path::Path,
    shared_data: &std::path::Path,
) -> anyhow::Result<ExitCode> {
    use std::io::IsTerminal;
    let scenario = roadsight_fixtures::scenario::Scenario::load(scenario)
        .map_err(|e| anyhow::Error::new(UsageError(e.to_string())))?;
    let bar = std::io::stderr().is_terminal().then(|| {
        indicatif::ProgressBar::new(0).with_style(
            indicatif::ProgressStyle::with_template(
                "{bar:40} {pos}/{len} frames {per_sec} ETA {eta}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
        )
    });
    // Vehicle crops are the real detector's boxes around each photo's labelled plate.
    let locations = paths::Locations::resolve(None, None)?;
    let mut detector = detect::open_detector(
        &locations,
        SPRITE_DETECTOR,
        roadsight_models::DetectorOptions::default(),
    )?;
    let spec = detector.tensor_spec();
    let mut finder = |photo: &image::RgbImage| -> Vec<[f32; 4]> {
        let picture = roadsight_models::detect::letterbox_rgb(
            photo.as_raw(),
            photo.width(),
            photo.height(),
            &spec,
        );
        let mut found = detector
            .detect(&[&picture])
            .ok()
            .and_then(|mut all| all.pop())
            .unwrap_or_default();
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        found
            .into_iter()
            .filter(|d| d.score >= 0.3)
            .map(|d| d.bbox_image)
            .collect()
    };
    let cut = roadsight_fixtures::generate::load_sprites(shared_data, Some(&mut finder))
        .with_context(|| format!("cutting vehicles from {}", shared_data.display()))?;
    {
        use roadsight_fixtures::generate::LeftOut;
        let count = |reason| cut.left_out.iter().filter(|(_, r)| *r == reason).count();
        outln!(
            "vehicles cut from {} photos of {} ({} left out: {} with no vehicle found round the plate, {} close-ups, {} cut off by the photo's top edge)",
            cut.sprites.len(),
            shared_data.join("cars-plates").display(),
            cut.left_out.len(),
            count(LeftOut::NoVehicle),
            count(LeftOut::CloseUp),
            count(LeftOut::CutOff),
        );
    }
    let sprites = cut.sprites;
    if scenario.corridor.is_some() {
        let plates = if scenario.vn_plates {
            held_out_vn_plates(shared_data)?
        } else {
            Vec::new()
        };
        let summary = roadsight_fixtures::corridor::generate_corridor(
            &scenario,
            seed,
            &sprites,
            &plates,
            out,
            |camera, done, total| {
                if let Some(bar) = &bar {
                    bar.set_length(total);
                    bar.set_position(done);
                    bar.set_message(format!("camera {}", camera + 1));
                }
            },
        )
        .with_context(|| format!("generating {}", out.display()))?;
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        outln!(
            "{}: {} cameras, {} vehicles, {} seen by two cameras or more -> {}",
            scenario.name,
            summary.cameras.len(),
            summary.vehicles,
            summary.routes,
            out.display()
        );
        return Ok(ExitCode::SUCCESS);
    }
    let summary =
        roadsight_fixtures::generate::generate(&scenario, seed, &sprites, out, |done, total| {
            if let Some(bar) = &bar {
                bar.set_length(total);
                bar.set_position(done);
            }
        })
        .with_context(|| format!("generating {}", out.display()))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    outln!(
        "{}: {} frames at {} fps, {}x{}, {} vehicles -> {}",
        summary.scenario,
        summary.frames,
        summary.fps,
        summary.width,
        summary.height,
        summary.vehicles,
        out.display()
    );
    Ok(ExitCode::SUCCESS)
}

/// The held-out fifth of `plates-vn` (never trained on), as plate pictures with their text:
/// the reviewed text where `fixtures/label-errata/plates-vn.csv` corrects the label, so the
/// footage's truth is what the plate shows; none of the plates review found not legible
/// enough to say (`plates::plate_truth`), and no picture that is a photo with a plate in it
/// rather than a plate (`plates::is_plate_crop`), which pasted whole would put a vehicle's
/// rear where a plate goes.
fn held_out_vn_plates(
    shared_data: &std::path::Path,
) -> anyhow::Result<Vec<roadsight_fixtures::generate::PlateImage>> {
    let folder = shared_data.join("plates-vn");
    let labels = std::fs::read_to_string(folder.join("labels.csv"))
        .with_context(|| format!("reading {}", folder.join("labels.csv").display()))?;
    let rows_of: Vec<(&str, &str, &str)> = labels
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(',').collect();
            match fields[..] {
                [image, text, rows] => Some((image, text, rows)),
                _ => None,
            }
        })
        .collect();
    let errata_file = paths::Locations::resolve(None, None)?
        .repo
        .join("fixtures/label-errata/plates-vn.csv");
    let labelled: std::collections::BTreeMap<String, String> = rows_of
        .iter()
        .map(|(image, text, _)| ((*image).to_string(), (*text).to_string()))
        .collect();
    let errata = plates::load_errata(&errata_file, &labelled)?;
    let mut plates = Vec::new();
    for (image, text, rows) in rows_of {
        if !roadsight_plate_reader::split::is_held_out(image) {
            continue;
        }
        let Some((text, rows)) = plates::plate_truth(image, text, rows, &errata) else {
            continue;
        };
        let Ok(picture) = image::open(folder.join("images").join(image)) else {
            continue;
        };
        if !plates::is_plate_crop(picture.width(), picture.height()) {
            continue;
        }
        let picture = picture.to_rgb8();
        plates.push(roadsight_fixtures::generate::PlateImage {
            text,
            rows,
            width: picture.width(),
            height: picture.height(),
            rgb: picture.into_raw(),
        });
    }
    anyhow::ensure!(
        !plates.is_empty(),
        "no held-out plate pictures in {}",
        folder.display()
    );
    Ok(plates)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let verbose = cli.verbose;
    let result = match cli.command {
        Command::Run(args) => run::run(&args),
        Command::Detect(args) => detect::detect(&args),
        Command::Plates(command) => plates::plates(&command),
        Command::CheckConfig { file } => check_config(&file).map(|()| ExitCode::SUCCESS),
        Command::Bench(command) => bench::bench(&command).map(|()| ExitCode::SUCCESS),
        Command::Eval(command) => eval::eval(&command).map(|()| ExitCode::SUCCESS),
        Command::Simulate(args) => simulate::simulate(&args).map(|()| ExitCode::SUCCESS),
        Command::Serve(args) => serve::serve(&args).map(|()| ExitCode::SUCCESS),
        Command::Trace(args) => serve::trace(&args).map(|()| ExitCode::SUCCESS),
        Command::Worker(args) => central::worker(&args),
        Command::Central(args) => central::central(&args),
        Command::Fixtures(FixturesCommand::Generate {
            scenario,
            seed,
            out,
            shared_data,
        }) => generate_fixture(&scenario, seed, &out, &shared_data),
        Command::Fixtures(FixturesCommand::Demo { out, shared_data }) => {
            roadsight_fixtures::generate_demo_city(&shared_data, &out)
                .with_context(|| format!("generating the demo clips into {}", out.display()))
                .map(|paths| {
                    for path in paths {
                        outln!("{}", path.display());
                    }
                    ExitCode::SUCCESS
                })
        }
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            if verbose {
                eprintln!("roadsight: {error:?}");
            } else {
                eprintln!("roadsight: {error:#}");
            }
            if error.downcast_ref::<UsageError>().is_some() {
                ExitCode::from(2)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}
