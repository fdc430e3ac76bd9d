//! `roadsight eval routes`: route tracing on a generated corridor, end to end.
//!
//! The corridor's cameras (`roadsight fixtures generate` with a `[corridor]` scenario) are run
//! through the real main job (`roadsight run`: decode, detector, tracker, plate reader and its
//! votes), started as a child process with a city config written for the corridor. The plates
//! it emits become sightings (its candidate plates too, which fill a sure route's missing pass
//! or agree among themselves), [`roadsight_tracking::routes::trace_routes`] joins them with the
//! corridor's links, and each true route (a vehicle seen by two cameras or more, from
//! `routes.csv`) counts as reconstructed when a traced route carries its plate and visits the
//! same cameras in the same order. A traced route over two cameras or more whose plate no
//! vehicle carries is reported as a false route.

use anyhow::Context;
use roadsight_core::plate_match::normalise_plate;
use roadsight_core::{CameraLinkConfig, EventEnvelope, RoutesConfig};
use roadsight_tracking::routes::{trace_routes, PlateSighting};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::Command;

#[derive(Debug, clap::Args)]
pub struct EvalRoutesArgs {
    /// A folder written by `roadsight fixtures generate` from a corridor scenario.
    #[arg(long)]
    scenario_dir: PathBuf,
    /// The vehicle detector, by manifest name.
    #[arg(long, default_value = crate::run::DEFAULT_DETECTOR)]
    model: String,
    /// `[plates] close_detector` for the run: the plate detector of vehicles' crops, by
    /// manifest name (the config's default when not given).
    #[arg(long)]
    close_detector: Option<String>,
    /// `[plates] second_recogniser` for the run, by manifest name (the config's default when
    /// not given).
    #[arg(long)]
    second_recogniser: Option<String>,
    /// `[plates] vote_reads` for the run (the config's default when not given).
    #[arg(long)]
    vote_reads: Option<usize>,
    /// `[plates] read_every_frames` for the run (the config's default when not given).
    #[arg(long)]
    read_every_frames: Option<u32>,
    /// `[plates] emit_confidence` for the run (the config's default when not given).
    #[arg(long)]
    emit_confidence: Option<f32>,
    /// `[plates] fuse_frames` for the run (the config's default when not given).
    #[arg(long)]
    fuse_frames: Option<usize>,
    /// `[plates] candidate_confidence` for the run: the vote from which an ended track's
    /// unsure plate is still given as a candidate. With `--events-in`, the saved candidates
    /// voted under it are left out, as the run's vote would have left them out.
    #[arg(long)]
    candidate_confidence: Option<f32>,
    /// Trace the main job's events saved by an earlier `--events-out` instead of running it
    /// again (the run's settings are then those of that run).
    #[arg(long, conflicts_with_all = ["model", "close_detector", "second_recogniser", "vote_reads", "read_every_frames", "emit_confidence", "fuse_frames", "events_out"])]
    events_in: Option<PathBuf>,
    /// Also write the main job's events (JSON lines, as `roadsight run --json` prints them)
    /// to this file, for a closer look at what was read.
    #[arg(long)]
    events_out: Option<PathBuf>,
    /// Trace without `[routes] candidate_routes`: candidates only fill the passes sure routes
    /// missed, and never make a route of their own.
    #[arg(long)]
    no_candidate_routes: bool,
    /// `[routes] appearance_max_distance` for the tracing: how alike a pass with no plate (or a
    /// candidate no route took) must look to a route's sighting to join it (0: never).
    #[arg(long)]
    appearance_max_distance: Option<f32>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct RouteResult {
    vehicle: u32,
    plate: String,
    truth: Vec<String>,
    /// The cameras of the traced route that carries the plate, if any.
    traced: Option<Vec<String>>,
    reconstructed: bool,
}

#[derive(Debug, Serialize)]
struct WrongPlate {
    camera: String,
    plate: String,
    at: String,
}

/// A traced route over two cameras or more whose plate no vehicle of the corridor carries.
#[derive(Debug, Serialize)]
struct FalseRoute {
    plate: String,
    cameras: Vec<String>,
    /// Made of candidates only (`[routes] candidate_routes`).
    candidates_only: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    scenario_dir: String,
    /// Reconstructed exactly / true routes (vehicles seen by two cameras or more).
    route_accuracy: f64,
    true_routes: usize,
    reconstructed: usize,
    /// Sure plates the pipeline emitted (one per track), and how many read their vehicle's
    /// plate.
    plates_emitted: usize,
    plates_right: usize,
    /// Emitted sure plates that are no vehicle's.
    plates_wrong: Vec<WrongPlate>,
    /// Candidate plates emitted (ended tracks voted under `emit_confidence`), and how many read
    /// their vehicle's plate. Route tracing uses them to fill a sure route's missing pass, and
    /// chains those left over into routes of candidates where two cameras or more agree.
    candidates_emitted: usize,
    candidates_right: usize,
    /// True sightings (a vehicle at a camera) whose plate was emitted right, and sure, at that
    /// camera.
    sightings_true: usize,
    sightings_read: usize,
    /// Traced routes of two cameras or more made of candidates only, and how many of them
    /// reconstruct a true route.
    candidate_routes: usize,
    candidate_routes_right: usize,
    /// Passes with no plate voted (`vehicle_pass` events) the run gave.
    passes_emitted: usize,
    /// Sightings that joined a route by their look alone (passes, and candidates no route took
    /// otherwise), and the routes over two cameras or more they joined that reconstruct a true
    /// route.
    joined_by_appearance: usize,
    routes_with_joined_right: usize,
    routes_with_joined: usize,
    /// Traced routes of two cameras or more whose plate is no vehicle's.
    false_routes: Vec<FalseRoute>,
    routes: Vec<RouteResult>,
}

const START: &str = "2026-11-23T08:00:00Z";

pub fn eval_routes(args: &EvalRoutesArgs) -> anyhow::Result<()> {
    let dir = &args.scenario_dir;
    let corridor: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("corridor.json")).with_context(|| {
            format!(
                "{}: not a generated corridor (no corridor.json)",
                dir.display()
            )
        })?,
    )?;
    let cameras: Vec<String> = corridor["cameras"]
        .as_array()
        .map(|cameras| {
            cameras
                .iter()
                .filter_map(|c| c["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    anyhow::ensure!(
        cameras.len() >= 2,
        "{}/corridor.json names fewer than two cameras",
        dir.display()
    );
    let fps = corridor["fps"].as_f64().unwrap_or(10.0);
    let links: Vec<CameraLinkConfig> = serde_json::from_value(corridor["links"].clone())
        .with_context(|| format!("{}/corridor.json: links", dir.display()))?;

    let events = match &args.events_in {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("--events-in {}", path.display()))?,
        None => run_main_job(args, dir, &cameras, fps)?,
    };
    let mut sightings = Vec::new();
    for line in events.lines() {
        let Ok(envelope) = serde_json::from_str::<EventEnvelope>(line) else {
            continue;
        };
        if let roadsight_core::Event::Plate(plate) = &envelope.event {
            // Saved events keep the candidates of that run's floor; the run's own vote applied
            // --candidate-confidence already.
            if args.events_in.is_some()
                && args
                    .candidate_confidence
                    .is_some_and(|floor| plate.candidate && plate.confidence < floor)
            {
                continue;
            }
            sightings.push(PlateSighting {
                plate: plate.text.clone(),
                camera: plate.camera.to_string(),
                at: plate.at,
                confidence: plate.confidence,
                event_id: envelope.event.id(),
                evidence: plate.evidence.clone(),
                candidate: plate.candidate,
                appearance: plate.appearance.clone(),
                appearance_distance: None,
            });
        }
        if let roadsight_core::Event::VehiclePass(pass) = &envelope.event {
            sightings.push(PlateSighting {
                plate: String::new(),
                camera: pass.camera.to_string(),
                at: pass.at,
                confidence: 0.0,
                event_id: envelope.event.id(),
                evidence: pass.evidence.clone(),
                candidate: true,
                appearance: Some(pass.appearance.clone()),
                appearance_distance: None,
            });
        }
    }
    let settings = RoutesConfig {
        links,
        anchor_confidence: args
            .emit_confidence
            .unwrap_or(roadsight_core::PlatesConfig::default().emit_confidence),
        candidate_routes: !args.no_candidate_routes,
        appearance_max_distance: args
            .appearance_max_distance
            .unwrap_or(RoutesConfig::default().appearance_max_distance),
        ..RoutesConfig::default()
    };
    let traced = trace_routes(sightings.clone(), &settings);
    // From here on `sightings` are the sure ones.
    let (passes, sightings): (Vec<PlateSighting>, Vec<PlateSighting>) =
        sightings.into_iter().partition(PlateSighting::is_plateless);
    let (candidates, sightings): (Vec<PlateSighting>, Vec<PlateSighting>) =
        sightings.into_iter().partition(|s| s.candidate);

    // The truth.
    let truth_text = std::fs::read_to_string(dir.join("routes.csv"))
        .with_context(|| format!("{}/routes.csv", dir.display()))?;
    let mut results = Vec::new();
    let mut truth_plates: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for line in truth_text.lines().skip(1) {
        let fields: Vec<&str> = line.split(',').collect();
        let (Some(vehicle), Some(plate), Some(route)) = (
            fields.first().and_then(|v| v.parse::<u32>().ok()),
            fields.get(1),
            fields.get(2),
        ) else {
            continue;
        };
        let plate = normalise_plate(plate);
        let truth: Vec<String> = route.split(';').map(str::to_string).collect();
        truth_plates.insert(plate.clone(), truth.clone());
        if truth.len() < 2 {
            continue;
        }
        let found = traced
            .iter()
            .filter(|route| route.plate == plate)
            .map(|route| {
                route
                    .cameras()
                    .iter()
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
            })
            .max_by_key(Vec::len);
        let reconstructed = found.as_ref() == Some(&truth);
        results.push(RouteResult {
            vehicle,
            plate,
            truth,
            traced: found,
            reconstructed,
        });
    }
    let plates_right = sightings
        .iter()
        .filter(|s| truth_plates.contains_key(&s.plate))
        .count();
    let plates_wrong: Vec<WrongPlate> = sightings
        .iter()
        .filter(|s| !truth_plates.contains_key(&s.plate))
        .map(|s| WrongPlate {
            camera: s.camera.clone(),
            plate: s.plate.clone(),
            at: s.at.to_rfc3339(),
        })
        .collect();
    let sightings_true: usize = truth_plates.values().map(Vec::len).sum();
    let mut read_at: Vec<(String, String)> = sightings
        .iter()
        .filter(|s| {
            truth_plates
                .get(&s.plate)
                .is_some_and(|cameras| cameras.contains(&s.camera))
        })
        .map(|s| (s.plate.clone(), s.camera.clone()))
        .collect();
    read_at.sort();
    read_at.dedup();
    let reconstructed = results.iter().filter(|r| r.reconstructed).count();
    let multi_camera = || traced.iter().filter(|route| route.cameras().len() >= 2);
    let candidates_only =
        |route: &roadsight_tracking::routes::Route| route.sightings.iter().all(|s| s.candidate);
    let candidate_routes = multi_camera().filter(|r| candidates_only(r)).count();
    let candidate_routes_right = multi_camera()
        .filter(|route| {
            candidates_only(route)
                && truth_plates
                    .get(&route.plate)
                    .is_some_and(|truth| truth.iter().map(String::as_str).eq(route.cameras()))
        })
        .count();
    let false_routes: Vec<FalseRoute> = multi_camera()
        .filter(|route| !truth_plates.contains_key(&route.plate))
        .map(|route| FalseRoute {
            plate: route.plate.clone(),
            cameras: route.cameras().iter().map(|c| c.to_string()).collect(),
            candidates_only: candidates_only(route),
        })
        .collect();
    let joined = |route: &&roadsight_tracking::routes::Route| {
        route
            .sightings
            .iter()
            .any(|s| s.appearance_distance.is_some())
    };
    let joined_by_appearance = traced
        .iter()
        .flat_map(|route| &route.sightings)
        .filter(|s| s.appearance_distance.is_some())
        .count();
    let routes_with_joined = multi_camera().filter(joined).count();
    let routes_with_joined_right = multi_camera()
        .filter(joined)
        .filter(|route| {
            truth_plates
                .get(&route.plate)
                .is_some_and(|truth| truth.iter().map(String::as_str).eq(route.cameras()))
        })
        .count();
    let candidates_right = candidates
        .iter()
        .filter(|s| truth_plates.contains_key(&s.plate))
        .count();
    let report = Report {
        scenario_dir: dir.display().to_string(),
        route_accuracy: reconstructed as f64 / results.len().max(1) as f64,
        true_routes: results.len(),
        reconstructed,
        plates_emitted: sightings.len(),
        plates_right,
        plates_wrong,
        candidates_emitted: candidates.len(),
        candidates_right,
        sightings_true,
        sightings_read: read_at.len(),
        candidate_routes,
        candidate_routes_right,
        passes_emitted: passes.len(),
        joined_by_appearance,
        routes_with_joined_right,
        routes_with_joined,
        false_routes,
        routes: results,
    };
    if args.json {
        outln!("{}", serde_json::to_string(&report)?);
    } else {
        for route in &report.routes {
            outln!(
                "{:>3} {:<12} truth {:<22} traced {}{}",
                route.vehicle,
                route.plate,
                route.truth.join(" -> "),
                route
                    .traced
                    .as_ref()
                    .map_or_else(|| "(none)".to_string(), |cameras| cameras.join(" -> ")),
                if route.reconstructed { "  ok" } else { "" }
            );
        }
        for wrong in &report.plates_wrong {
            outln!(
                "wrong plate {} at {} ({})",
                wrong.plate,
                wrong.camera,
                wrong.at
            );
        }
        for route in &report.false_routes {
            outln!(
                "false route {} {}{}",
                route.plate,
                route.cameras.join(" -> "),
                if route.candidates_only {
                    " (candidates only)"
                } else {
                    ""
                }
            );
        }
        outln!(
            "route accuracy {:.3} ({} of {} routes); {} plates emitted, {} right; {} candidates, {} right; {} of {} true sightings read; {} routes of candidates only, {} right; {} passes with no plate, {} sightings joined by their look, {} of {} routes they joined right; {} false routes",
            report.route_accuracy,
            report.reconstructed,
            report.true_routes,
            report.plates_emitted,
            report.plates_right,
            report.candidates_emitted,
            report.candidates_right,
            report.sightings_read,
            report.sightings_true,
            report.candidate_routes,
            report.candidate_routes_right,
            report.passes_emitted,
            report.joined_by_appearance,
            report.routes_with_joined_right,
            report.routes_with_joined,
            report.false_routes.len()
        );
    }
    Ok(())
}

/// `text` as a TOML string value, quoted and escaped by the `toml` crate that reads the config.
fn toml_string(text: &str) -> String {
    toml::Value::String(text.to_owned()).to_string()
}

/// Runs the main job over the corridor's clips (a child `roadsight run --json`) and returns
/// its stdout: the events, one JSON line each.
fn run_main_job(
    args: &EvalRoutesArgs,
    dir: &std::path::Path,
    cameras: &[String],
    fps: f64,
) -> anyhow::Result<String> {
    // The corridor as a city: every camera a recorded file, every frame analysed.
    let work = tempfile::tempdir()?;
    let mut config = format!(
        "name = \"corridor\"\n[runtime]\nanalytics_fps = {fps}\nstart_time = \"{START}\"\n\
         [store]\nurl = {}\n[detector]\nmodel = {}\n",
        toml_string(&format!(
            "sqlite:{}",
            work.path().join("corridor.db").display()
        )),
        toml_string(&args.model)
    );
    let _ = writeln!(config, "[plates]");
    if let Some(name) = &args.close_detector {
        let _ = writeln!(config, "close_detector = {}", toml_string(name));
    }
    if let Some(name) = &args.second_recogniser {
        let _ = writeln!(config, "second_recogniser = {}", toml_string(name));
    }
    if let Some(reads) = args.vote_reads {
        let _ = writeln!(config, "vote_reads = {reads}");
    }
    if let Some(every) = args.read_every_frames {
        let _ = writeln!(config, "read_every_frames = {every}");
    }
    if let Some(confidence) = args.emit_confidence {
        let _ = writeln!(config, "emit_confidence = {confidence}");
    }
    if let Some(frames) = args.fuse_frames {
        let _ = writeln!(config, "fuse_frames = {frames}");
    }
    if let Some(confidence) = args.candidate_confidence {
        let _ = writeln!(config, "candidate_confidence = {confidence}");
    }
    for camera in cameras {
        let video = dir.join(camera).join("video.mp4");
        anyhow::ensure!(video.is_file(), "{} is missing", video.display());
        let absolute = std::fs::canonicalize(&video)?;
        let _ = write!(
            config,
            "[[cameras]]\nid = {}\nuri = {}\n",
            toml_string(camera),
            toml_string(&absolute.display().to_string())
        );
    }
    let config_path = work.path().join("city.toml");
    std::fs::write(&config_path, &config)?;
    let exe = std::env::current_exe().context("finding the roadsight binary")?;
    let output = Command::new(exe)
        .args(["run", "--json", "--config"])
        .arg(&config_path)
        .output()
        .context("running the main job over the corridor")?;
    anyhow::ensure!(
        output.status.success(),
        "roadsight run over the corridor failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    if let Some(path) = &args.events_out {
        std::fs::write(path, &output.stdout)
            .with_context(|| format!("--events-out {}", path.display()))?;
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::toml_string;

    #[test]
    fn a_path_with_quotes_and_backslashes_stays_one_toml_string() {
        let path = "/tmp/a \"quoted\" folder\\with\tbacks/clip.mp4";
        let document = format!("uri = {}\n", toml_string(path));
        let parsed: toml::Table = toml::from_str(&document).expect("valid TOML");
        assert_eq!(parsed["uri"].as_str(), Some(path));
    }
}
