//! Closed-loop runs in SUMO: one scenario, one controller, one seed at a time, and the
//! per-controller medians over seeds.
//!
//! SUMO runs headless as a child process with a TraCI port. Every simulated second the lane
//! readings come back as subscriptions (vehicles and standing vehicles per lane: the camera
//! zones; vehicles over a loop at each stop line: the counting lines), the controller picks
//! greens, and the signal states go back with the next step. SUMO's own programs run as they
//! are (`fixed`) or switched to an actuated copy (`actuated`, SUMO's defaults: 5-50 s greens).
//!
//! Metrics follow RESCO: delay per vehicle is `timeLoss + departDelay` over every vehicle that
//! was due, counting those still driving or never inserted at the end.

use crate::control::{
    ChangeTiming, LaneReadings, MaxPressure, PhaseController, RoadsightAdaptive, SiteSignal,
    WebsterCycle,
};
use crate::sumo_net::{signal_sites, SignalSite, SiteLanes, SumoNetwork, TrafficLight};
use crate::traci::{self, Domain, TraciClient, Value};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A simulation could not run or its output could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SimulationError {
    #[error("scenario {name}: {what}")]
    Scenario { name: String, what: String },
    #[error("{path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start {program}: {source} (install SUMO: `apt-get install sumo sumo-tools`)")]
    Spawn {
        program: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Tool {
        program: String,
        status: String,
        stderr: String,
    },
    #[error(transparent)]
    Network(#[from] crate::sumo_net::NetError),
    #[error("SUMO closed loop at t={time_s} s: {source}")]
    Traci {
        time_s: f64,
        #[source]
        source: traci::TraciError,
    },
    #[error("trip output {path}: {what}")]
    Trips { path: String, what: String },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> SimulationError + '_ {
    move |source| SimulationError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// The controllers a simulation can compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ControllerKind {
    /// roadsight's adaptive controller ([`RoadsightAdaptive`]).
    Roadsight,
    /// SUMO's actuated program (gap-based extension, 5-50 s greens).
    Actuated,
    /// Textbook max-pressure ([`MaxPressure`]).
    Maxpressure,
    /// The network's own static program, run by SUMO.
    Fixed,
    /// Webster fixed time replanned every 15 min from stop-line counts ([`WebsterCycle`]).
    Webster,
}

impl ControllerKind {
    pub const ALL: [ControllerKind; 5] = [
        ControllerKind::Roadsight,
        ControllerKind::Actuated,
        ControllerKind::Maxpressure,
        ControllerKind::Fixed,
        ControllerKind::Webster,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ControllerKind::Roadsight => "roadsight",
            ControllerKind::Actuated => "actuated",
            ControllerKind::Maxpressure => "maxpressure",
            ControllerKind::Fixed => "fixed",
            ControllerKind::Webster => "webster",
        }
    }

    pub fn parse(name: &str) -> Option<ControllerKind> {
        ControllerKind::ALL
            .into_iter()
            .find(|kind| kind.name() == name)
    }
}

/// Demand level of a generated scenario.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Load {
    Low,
    High,
}

impl Load {
    pub fn parse(name: &str) -> Option<Load> {
        match name {
            "low" => Some(Load::Low),
            "high" => Some(Load::High),
            _ => None,
        }
    }
}

/// The RESCO benchmark scenarios (from the `sumo-rl` wheel the set-up fetches).
pub const RESCO_SCENARIOS: [&str; 8] = [
    "cologne1",
    "cologne3",
    "cologne8",
    "ingolstadt1",
    "ingolstadt7",
    "ingolstadt21",
    "grid4x4",
    "arterial4x4",
];

/// Every scenario name `simulate` knows.
pub fn scenario_names() -> Vec<&'static str> {
    let mut names: Vec<&str> = RESCO_SCENARIOS.to_vec();
    names.push(CITY_GRID);
    names.push(SMALL_GRID);
    names
}

/// 200 signalised junctions, 20 x 10, 200 m blocks, two lanes each way.
pub const CITY_GRID: &str = "city-grid-200";
/// 3 x 3 junctions: the short closed loop the tests run.
pub const SMALL_GRID: &str = "small-grid-9";

/// Where scenarios come from and where generated ones go.
#[derive(Debug, Clone)]
pub struct ScenarioSources {
    /// The unpacked `nets/RESCO` directory of `sumo-rl`.
    pub resco_dir: PathBuf,
    /// Where generated networks and demand are cached.
    pub cache_dir: PathBuf,
    /// SUMO's installation (`SUMO_HOME`), for `randomTrips.py`.
    pub sumo_home: PathBuf,
}

/// The files and the time window of one run.
#[derive(Debug, Clone)]
pub struct ScenarioFiles {
    pub name: String,
    pub network: PathBuf,
    pub routes: Vec<PathBuf>,
    pub begin_s: f64,
    pub end_s: f64,
}

/// The files of `name` at `load` for `seed`, generating them when the scenario is generated.
pub fn scenario_files(
    sources: &ScenarioSources,
    name: &str,
    load: Load,
    seed: u64,
) -> Result<ScenarioFiles, SimulationError> {
    if RESCO_SCENARIOS.contains(&name) {
        return resco_files(&sources.resco_dir, name);
    }
    let (columns, rows, vehicles_per_hour, end_s) = match (name, load) {
        (CITY_GRID, Load::Low) => (20, 10, 4000.0, 3600.0),
        (CITY_GRID, Load::High) => (20, 10, 12000.0, 3600.0),
        (SMALL_GRID, Load::Low) => (3, 3, 600.0, 600.0),
        (SMALL_GRID, Load::High) => (3, 3, 1200.0, 600.0),
        _ => {
            return Err(SimulationError::Scenario {
                name: name.to_string(),
                what: format!("unknown; known: {}", scenario_names().join(", ")),
            })
        }
    };
    let directory = sources.cache_dir.join(name);
    std::fs::create_dir_all(&directory).map_err(io_error(&directory))?;
    let network = directory.join("grid.net.xml");
    if !network.is_file() {
        let partial = directory.join("grid.net.xml.partial");
        run_tool(
            Command::new("netgenerate")
                .args(["--grid", "--grid.x-number"])
                .arg(columns.to_string())
                .arg("--grid.y-number")
                .arg(rows.to_string())
                .args([
                    "--grid.length",
                    "200",
                    "--grid.attach-length",
                    "200",
                    "--default.lanenumber",
                    "2",
                    "--tls.guess",
                    "true",
                    "--tls.default-type",
                    "static",
                    "--no-turnarounds",
                    "true",
                    "-o",
                ])
                .arg(&partial)
                .env("SUMO_HOME", &sources.sumo_home),
            "netgenerate",
        )?;
        std::fs::rename(&partial, &network).map_err(io_error(&network))?;
    }
    let load_name = match load {
        Load::Low => "low",
        Load::High => "high",
    };
    let routes = directory.join(format!("trips-{load_name}-{seed}.rou.xml"));
    if !routes.is_file() {
        let partial = directory.join(format!("trips-{load_name}-{seed}.partial.xml"));
        let script = sources.sumo_home.join("tools").join("randomTrips.py");
        let period = 3600.0 / vehicles_per_hour;
        run_tool(
            Command::new("python3")
                .arg(&script)
                .arg("-n")
                .arg(&network)
                .arg("-o")
                .arg(&partial)
                .args(["-b", "0", "-e"])
                .arg(format!("{end_s}"))
                .arg("-p")
                .arg(format!("{period:.4}"))
                .args(["--fringe-factor", "20", "--min-distance", "600", "--seed"])
                .arg(seed.to_string())
                .args([
                    "--trip-attributes",
                    "departLane=\"best\" departSpeed=\"max\"",
                ])
                .env("SUMO_HOME", &sources.sumo_home),
            "randomTrips.py",
        )?;
        std::fs::rename(&partial, &routes).map_err(io_error(&routes))?;
    }
    Ok(ScenarioFiles {
        name: name.to_string(),
        network,
        routes: vec![routes],
        begin_s: 0.0,
        end_s,
    })
}

fn resco_files(resco_dir: &Path, name: &str) -> Result<ScenarioFiles, SimulationError> {
    let directory = resco_dir.join(name);
    let config = directory.join(format!("{name}.sumocfg"));
    let text = std::fs::read_to_string(&config).map_err(|source| SimulationError::Scenario {
        name: name.to_string(),
        what: format!(
            "cannot read {}: {source} (scripts/setup.sh unpacks the RESCO scenarios from sumo-rl)",
            config.display()
        ),
    })?;
    let scenario = |what: String| SimulationError::Scenario {
        name: name.to_string(),
        what,
    };
    let document = roxmltree::Document::parse(&text)
        .map_err(|error| scenario(format!("{}: {error}", config.display())))?;
    let value = |tag: &str| {
        document
            .descendants()
            .find(|node| node.has_tag_name(tag))
            .and_then(|node| node.attribute("value"))
            .ok_or_else(|| scenario(format!("{} has no {tag}", config.display())))
    };
    let network = directory.join(value("net-file")?);
    let routes = value("route-files")?
        .split(',')
        .map(|file| directory.join(file.trim()))
        .collect();
    let number = |tag: &str| -> Result<f64, SimulationError> {
        let text = value(tag)?;
        text.parse().map_err(|_| {
            scenario(format!(
                "{}: {tag} {text:?} is not a number",
                config.display()
            ))
        })
    };
    Ok(ScenarioFiles {
        name: name.to_string(),
        network,
        routes,
        begin_s: number("begin")?,
        end_s: number("end")?,
    })
}

fn run_tool(command: &mut Command, program: &str) -> Result<(), SimulationError> {
    let output =
        command
            .stdin(Stdio::null())
            .output()
            .map_err(|source| SimulationError::Spawn {
                program: program.to_string(),
                source,
            })?;
    if !output.status.success() {
        return Err(SimulationError::Tool {
            program: program.to_string(),
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr)
                .chars()
                .take(2000)
                .collect(),
        });
    }
    Ok(())
}

/// The figures of one run.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RunMetrics {
    /// Mean of `timeLoss + departDelay` over every vehicle due in the window, seconds.
    pub mean_delay_s: f64,
    /// Mean trip duration, seconds (unfinished trips count their time so far).
    pub mean_travel_time_s: f64,
    /// Mean number of stops per vehicle.
    pub stops: f64,
    /// Vehicles that arrived.
    pub throughput: f64,
    /// Vehicles teleported out of a jam.
    pub teleports: f64,
    /// 95th percentile over junctions and seconds of the vehicles standing at a junction.
    pub queue_p95: f64,
    /// Vehicles counted (due in the window).
    pub vehicles: f64,
}

/// Settings of one closed-loop run.
#[derive(Debug, Clone)]
pub struct RunSettings {
    pub controller: ControllerKind,
    pub seed: u64,
    /// The `sumo` binary.
    pub sumo_binary: PathBuf,
    /// SUMO's installation (`SUMO_HOME`); without it SUMO cannot read route files.
    pub sumo_home: PathBuf,
    /// Where SUMO's additional and output files go.
    pub work_dir: PathBuf,
    pub change: ChangeTiming,
}

/// Runs `scenario` under `settings.controller` and reads its metrics.
pub fn run(
    scenario: &ScenarioFiles,
    settings: &RunSettings,
) -> Result<RunMetrics, SimulationError> {
    let network = SumoNetwork::load(&scenario.network)?;
    let (sites, lanes) = signal_sites(&network, CAMERA_ZONE_M);
    if sites.is_empty() {
        return Err(SimulationError::Scenario {
            name: scenario.name.clone(),
            what: format!(
                "{} has no signal with a green phase",
                scenario.network.display()
            ),
        });
    }
    std::fs::create_dir_all(&settings.work_dir).map_err(io_error(&settings.work_dir))?;
    let additional = settings.work_dir.join("roadsight.add.xml");
    let additional_xml = additional_file(&network.traffic_lights, &sites, &lanes);
    std::fs::write(&additional, additional_xml).map_err(io_error(&additional))?;
    let trips = settings.work_dir.join("tripinfo.xml");
    let _ = std::fs::remove_file(&trips);

    let port = free_port().map_err(io_error(&settings.work_dir))?;
    let routes: Vec<String> = scenario
        .routes
        .iter()
        .map(|r| r.display().to_string())
        .collect();
    let mut command = Command::new(&settings.sumo_binary);
    command
        .env("SUMO_HOME", &settings.sumo_home)
        .arg("-n")
        .arg(&scenario.network)
        .arg("-r")
        .arg(routes.join(","))
        .arg("-a")
        .arg(&additional)
        .arg("--begin")
        .arg(format!("{}", scenario.begin_s))
        .arg("--end")
        .arg(format!("{}", scenario.end_s))
        .arg("--seed")
        .arg(settings.seed.to_string())
        .arg("--remote-port")
        .arg(port.to_string())
        .arg("--tripinfo-output")
        .arg(&trips)
        .args([
            "--tripinfo-output.write-unfinished",
            "--tripinfo-output.write-undeparted",
            "--time-to-teleport",
            "300",
            "--step-length",
            "1",
            "--no-step-log",
            "--duration-log.disable",
            "--xml-validation",
            "never",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    // SUMO's warnings (teleports and their causes) go to a log beside the trip output.
    command
        .arg("--error-log")
        .arg(settings.work_dir.join("sumo-warnings.log"));
    let sumo_name = settings.sumo_binary.display().to_string();
    let child = command.spawn().map_err(|source| SimulationError::Spawn {
        program: sumo_name.clone(),
        source,
    })?;
    let mut child = ChildGuard(Some(child));
    let queue_samples = closed_loop(scenario, settings, port, &sites, &lanes).map_err(|error| {
        // SUMO's own complaint says more than a closed socket does.
        match child.finish() {
            Some(stderr) if !stderr.trim().is_empty() => SimulationError::Tool {
                program: sumo_name.clone(),
                status: error.to_string(),
                stderr,
            },
            _ => error,
        }
    })?;
    child.wait(&sumo_name)?;
    let mut metrics = read_trips(&trips, scenario.end_s)?;
    metrics.teleports = queue_samples.teleports;
    metrics.queue_p95 = percentile(queue_samples.queues, 0.95);
    Ok(metrics)
}

struct ChildGuard(Option<Child>);

impl ChildGuard {
    /// Stops SUMO (after a failed closed loop it may still be waiting for a client, and would
    /// never exit by itself) and returns what it wrote to stderr.
    fn finish(&mut self) -> Option<String> {
        let mut child = self.0.take()?;
        let _ = child.kill();
        let output = child.wait_with_output().ok()?;
        Some(
            String::from_utf8_lossy(&output.stderr)
                .chars()
                .take(2000)
                .collect(),
        )
    }

    fn wait(&mut self, program: &str) -> Result<(), SimulationError> {
        let Some(child) = self.0.take() else {
            return Ok(());
        };
        let output = child
            .wait_with_output()
            .map_err(|source| SimulationError::Spawn {
                program: program.to_string(),
                source,
            })?;
        if !output.status.success() {
            return Err(SimulationError::Tool {
                program: program.to_string(),
                status: output.status.to_string(),
                stderr: String::from_utf8_lossy(&output.stderr)
                    .chars()
                    .take(2000)
                    .collect(),
            });
        }
        Ok(())
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_port() -> std::io::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Programs for SUMO's baselines and a counting loop at every stop line the sites control.
fn additional_file(lights: &[TrafficLight], sites: &[SignalSite], lanes: &SiteLanes) -> String {
    let mut xml = String::from("<additional>\n");
    for light in lights {
        for (program, kind) in [
            ("roadsight-fixed", "static"),
            ("roadsight-actuated", "actuated"),
        ] {
            let _ = writeln!(
                xml,
                "  <tlLogic id=\"{}\" type=\"{kind}\" programID=\"{program}\" offset=\"{}\">",
                escape(&light.id),
                light.offset_s
            );
            for phase in &light.phases {
                let green = phase.state.chars().any(crate::sumo_net::is_green)
                    && !phase.state.chars().any(|c| matches!(c, 'y' | 'Y'));
                if kind == "actuated" && green {
                    let _ = writeln!(
                        xml,
                        "    <phase duration=\"{}\" minDur=\"5\" maxDur=\"50\" state=\"{}\"/>",
                        phase.duration_s.clamp(5.0, 50.0),
                        phase.state
                    );
                } else {
                    let _ = writeln!(
                        xml,
                        "    <phase duration=\"{}\" state=\"{}\"/>",
                        phase.duration_s, phase.state
                    );
                }
            }
            xml.push_str("  </tlLogic>\n");
        }
    }
    let mut placed = HashSet::new();
    for site in sites {
        for lane in &site.incoming_lanes {
            if placed.insert(*lane) {
                let id = escape(&lanes.ids[*lane]);
                let length_m = lanes.lengths_m[*lane];
                let _ = writeln!(
                    xml,
                    "  <inductionLoop id=\"rs_{id}\" lane=\"{id}\" pos=\"{:.2}\" friendlyPos=\"true\" period=\"3600\" file=\"NUL\"/>",
                    (length_m - 1.0).max(0.1)
                );
            }
        }
    }
    // Camera zones: the last CAMERA_ZONE_M metres before each stop line, over as many lanes as
    // that takes.
    for (lane, cover_m) in zone_cover(lanes).into_iter().enumerate() {
        if cover_m > 0.0 {
            let id = escape(&lanes.ids[lane]);
            let length_m = lanes.lengths_m[lane];
            let _ = writeln!(
                xml,
                "  <laneAreaDetector id=\"rsz_{id}\" lane=\"{id}\" pos=\"{:.2}\" endPos=\"{:.2}\" friendlyPos=\"true\" period=\"3600\" file=\"NUL\"/>",
                (length_m - cover_m).max(0.0),
                length_m
            );
        }
    }
    xml.push_str("</additional>\n");
    xml
}

/// Per lane, how many metres before its end some camera zone covers (0: none).
fn zone_cover(lanes: &SiteLanes) -> Vec<f64> {
    let mut cover = vec![0.0f64; lanes.ids.len()];
    for parts in &lanes.zone_parts {
        for (lane, metres) in parts {
            cover[*lane] = cover[*lane].max(*metres);
        }
    }
    cover
}

/// How far ahead of the stop line a camera zone reaches, metres.
pub const CAMERA_ZONE_M: f64 = 120.0;

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('"', "&quot;")
        .replace('<', "&lt;")
}

struct LoopSamples {
    queues: Vec<f64>,
    teleports: f64,
}

fn closed_loop(
    scenario: &ScenarioFiles,
    settings: &RunSettings,
    port: u16,
    sites: &[SignalSite],
    lanes: &SiteLanes,
) -> Result<LoopSamples, SimulationError> {
    let address = format!("127.0.0.1:{port}");
    let at = |time_s: f64| move |source| SimulationError::Traci { time_s, source };
    let mut client =
        TraciClient::connect(&address, Duration::from_secs(60)).map_err(at(scenario.begin_s))?;
    let lane_count = lanes.ids.len();
    let mut watched = vec![false; lane_count];
    for site in sites {
        for link in &site.links {
            for lane in link.incoming.iter().chain(&link.outgoing) {
                watched[*lane] = true;
            }
        }
    }
    for (lane, id) in lanes.ids.iter().enumerate() {
        if watched[lane] {
            client
                .subscribe(
                    Domain::Lane,
                    id,
                    &[traci::LANE_VEHICLE_NUMBER, traci::LANE_HALTING_NUMBER],
                )
                .map_err(at(scenario.begin_s))?;
        }
    }
    let mut counted_lanes = HashSet::new();
    for site in sites {
        for lane in &site.incoming_lanes {
            if counted_lanes.insert(*lane) {
                client
                    .subscribe(
                        Domain::InductionLoop,
                        &format!("rs_{}", lanes.ids[*lane]),
                        &[traci::LOOP_VEHICLE_IDS],
                    )
                    .map_err(at(scenario.begin_s))?;
            }
        }
    }
    let cover = zone_cover(lanes);
    for (lane, cover_m) in cover.iter().enumerate() {
        if *cover_m > 0.0 {
            client
                .subscribe(
                    Domain::LaneArea,
                    &format!("rsz_{}", lanes.ids[lane]),
                    &[traci::AREA_VEHICLE_NUMBER, traci::AREA_HALTING_NUMBER],
                )
                .map_err(at(scenario.begin_s))?;
        }
    }
    client
        .subscribe(Domain::Simulation, "", &[traci::SIM_TELEPORT_STARTING])
        .map_err(at(scenario.begin_s))?;
    client.flush().map_err(at(scenario.begin_s))?;

    let mut controller: Option<Box<dyn PhaseController>> = match settings.controller {
        ControllerKind::Fixed | ControllerKind::Actuated => {
            let program = if settings.controller == ControllerKind::Fixed {
                "roadsight-fixed"
            } else {
                "roadsight-actuated"
            };
            for site in sites {
                client.set_program(&site.id, program);
            }
            None
        }
        ControllerKind::Maxpressure => Some(Box::new(MaxPressure::default())),
        ControllerKind::Roadsight => Some(Box::new(RoadsightAdaptive::default())),
        ControllerKind::Webster => Some(Box::new(WebsterCycle::new(
            sites,
            lane_count,
            settings.change,
        ))),
    };
    let mut signals: Vec<SiteSignal> = sites
        .iter()
        .map(|_| SiteSignal::new(0, scenario.begin_s))
        .collect();
    if controller.is_some() {
        for (site, signal) in sites.iter().zip(&signals) {
            client.set_signal_state(&site.id, &signal.state(site));
        }
    }
    let lane_index: HashMap<&str, usize> = lanes
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let capacity: Vec<f64> = lanes
        .lengths_m
        .iter()
        .map(|length| (length / 7.5).max(1.0))
        .collect();
    let mut vehicles = vec![0.0; lane_count];
    let mut halting = vec![0.0; lane_count];
    let mut crossed = vec![0.0; lane_count];
    let mut area_vehicles = vec![0.0; lane_count];
    let mut area_halting = vec![0.0; lane_count];
    let mut zone_vehicles = vec![0.0; lane_count];
    let mut zone_halting = vec![0.0; lane_count];
    let mut on_loop: Vec<Vec<String>> = vec![Vec::new(); lane_count];
    let mut queues =
        Vec::with_capacity(sites.len() * (scenario.end_s - scenario.begin_s).max(0.0) as usize);
    let mut teleports = 0.0;
    let mut now_s = scenario.begin_s;
    while now_s + 1.0 <= scenario.end_s + 1e-9 {
        now_s += 1.0;
        let results = client.step(now_s).map_err(at(now_s))?;
        crossed.iter_mut().for_each(|count| *count = 0.0);
        for result in results {
            match result.domain {
                Domain::Lane | Domain::LaneArea => {
                    let (lane, vehicles, halting) = if result.domain == Domain::Lane {
                        (
                            lane_index.get(result.object.as_str()),
                            &mut vehicles,
                            &mut halting,
                        )
                    } else {
                        let lane = result
                            .object
                            .strip_prefix("rsz_")
                            .and_then(|id| lane_index.get(id));
                        (lane, &mut area_vehicles, &mut area_halting)
                    };
                    let Some(&lane) = lane else {
                        continue;
                    };
                    // Lanes and lane areas number these two variables alike.
                    for (variable, value) in &result.values {
                        let number = value.number().unwrap_or(0.0);
                        match *variable {
                            traci::LANE_VEHICLE_NUMBER => vehicles[lane] = number,
                            traci::LANE_HALTING_NUMBER => halting[lane] = number,
                            _ => {}
                        }
                    }
                }
                Domain::InductionLoop => {
                    let Some(&lane) = result
                        .object
                        .strip_prefix("rs_")
                        .and_then(|id| lane_index.get(id))
                    else {
                        continue;
                    };
                    if let Some((_, Value::TextList(ids))) = result.values.first() {
                        crossed[lane] =
                            ids.iter().filter(|id| !on_loop[lane].contains(id)).count() as f64;
                        on_loop[lane].clone_from(ids);
                    }
                }
                Domain::Simulation => {
                    for (_, value) in &result.values {
                        teleports += value.number().unwrap_or(0.0);
                    }
                }
            }
        }
        for (lane, parts) in lanes.zone_parts.iter().enumerate() {
            if !parts.is_empty() {
                zone_vehicles[lane] = parts.iter().map(|(part, _)| area_vehicles[*part]).sum();
                zone_halting[lane] = parts.iter().map(|(part, _)| area_halting[*part]).sum();
            }
        }
        for site in sites {
            queues.push(site.incoming_lanes.iter().map(|lane| halting[*lane]).sum());
        }
        if let Some(controller) = controller.as_mut() {
            let readings = LaneReadings {
                vehicles: &vehicles,
                halting: &halting,
                capacity: &capacity,
                crossed: &crossed,
                zone_vehicles: &zone_vehicles,
                zone_halting: &zone_halting,
            };
            controller.observe(sites, &readings, now_s);
            for (index, (site, signal)) in sites.iter().zip(signals.iter_mut()).enumerate() {
                if let Some(state) = signal.advance(now_s, site, settings.change) {
                    client.set_signal_state(&site.id, &state);
                }
                if signal.in_green() {
                    let next = controller.choose(index, site, signal, &readings, now_s);
                    if let Some(state) = signal.switch_to(next, now_s, site, settings.change) {
                        client.set_signal_state(&site.id, &state);
                    }
                }
            }
        }
    }
    client.close().map_err(at(now_s))?;
    Ok(LoopSamples { queues, teleports })
}

fn percentile(mut values: Vec<f64>, quantile: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() - 1) as f64 * quantile).round() as usize;
    values[rank.min(values.len() - 1)]
}

/// Reads SUMO's trip output (written with unfinished and undeparted vehicles).
pub fn read_trips(path: &Path, end_s: f64) -> Result<RunMetrics, SimulationError> {
    let text = std::fs::read_to_string(path).map_err(io_error(path))?;
    let trips = |what: String| SimulationError::Trips {
        path: path.display().to_string(),
        what,
    };
    let document = roxmltree::Document::parse(&text).map_err(|error| trips(error.to_string()))?;
    let mut vehicles = 0.0;
    let mut delay = 0.0;
    let mut travel = 0.0;
    let mut stops = 0.0;
    let mut arrived = 0.0;
    for trip in document
        .descendants()
        .filter(|node| node.has_tag_name("tripinfo"))
    {
        let number = |name: &str| -> Result<f64, SimulationError> {
            let text = trip.attribute(name).unwrap_or("0");
            text.parse().map_err(|_| {
                trips(format!(
                    "tripinfo {:?}: {name}={text:?}",
                    trip.attribute("id")
                ))
            })
        };
        let depart = number("depart")?;
        let arrival = number("arrival")?;
        vehicles += 1.0;
        if depart < 0.0 {
            // Never inserted: it waited from its planned departure to the end.
            delay += number("departDelay")?.max(0.0);
            continue;
        }
        delay += number("timeLoss")? + number("departDelay")?;
        travel += number("duration")?;
        stops += number("waitingCount")?;
        if arrival >= 0.0 && arrival <= end_s + 1e-6 {
            arrived += 1.0;
        }
    }
    if vehicles == 0.0 {
        return Err(trips("no vehicle in the trip output".into()));
    }
    Ok(RunMetrics {
        mean_delay_s: delay / vehicles,
        mean_travel_time_s: travel / vehicles,
        stops: stops / vehicles,
        throughput: arrived,
        teleports: 0.0,
        queue_p95: 0.0,
        vehicles,
    })
}

/// Per-metric medians over runs.
pub fn median_metrics(runs: &[RunMetrics]) -> Option<RunMetrics> {
    if runs.is_empty() {
        return None;
    }
    let median = |pick: fn(&RunMetrics) -> f64| {
        let mut values: Vec<f64> = runs.iter().map(pick).collect();
        values.sort_by(f64::total_cmp);
        let middle = values.len() / 2;
        if values.len() % 2 == 1 {
            values[middle]
        } else {
            (values[middle - 1] + values[middle]) / 2.0
        }
    };
    Some(RunMetrics {
        mean_delay_s: median(|m| m.mean_delay_s),
        mean_travel_time_s: median(|m| m.mean_travel_time_s),
        stops: median(|m| m.stops),
        throughput: median(|m| m.throughput),
        teleports: median(|m| m.teleports),
        queue_p95: median(|m| m.queue_p95),
        vehicles: median(|m| m.vehicles),
    })
}

/// The JSON object `roadsight simulate` prints.
#[derive(Debug, Clone, Serialize)]
pub struct SimulationReport {
    pub scenario: String,
    pub load: Load,
    pub seeds: usize,
    /// Per controller, medians over seeds.
    pub results: BTreeMap<String, RunMetrics>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trips_count_unfinished_and_undeparted_vehicles() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("tripinfo.xml");
        std::fs::write(
            &path,
            r#"<tripinfos>
  <tripinfo id="a" depart="10.00" departDelay="2.00" arrival="70.00" duration="60.00" timeLoss="20.00" waitingCount="1"/>
  <tripinfo id="b" depart="20.00" departDelay="0.00" arrival="-1" duration="80.00" timeLoss="50.00" waitingCount="3"/>
  <tripinfo id="c" depart="-1" departDelay="30.00" arrival="-1" duration="-1" timeLoss="-1" waitingCount="0"/>
</tripinfos>"#,
        )
        .expect("write");
        let metrics = read_trips(&path, 100.0).expect("reads");
        assert_eq!(metrics.vehicles, 3.0);
        assert!((metrics.mean_delay_s - (22.0 + 50.0 + 30.0) / 3.0).abs() < 1e-9);
        assert_eq!(metrics.throughput, 1.0);
        assert!((metrics.stops - 4.0 / 3.0).abs() < 1e-9);
    }

    #[test]
    fn medians_are_per_metric() {
        let run = |delay: f64, throughput: f64| RunMetrics {
            mean_delay_s: delay,
            mean_travel_time_s: 0.0,
            stops: 0.0,
            throughput,
            teleports: 0.0,
            queue_p95: 0.0,
            vehicles: 1.0,
        };
        let median =
            median_metrics(&[run(30.0, 5.0), run(10.0, 9.0), run(20.0, 1.0)]).expect("runs");
        assert_eq!(median.mean_delay_s, 20.0);
        assert_eq!(median.throughput, 5.0);
    }

    #[test]
    fn unknown_scenarios_list_the_known_ones() {
        let sources = ScenarioSources {
            resco_dir: PathBuf::from("/nonexistent"),
            cache_dir: std::env::temp_dir(),
            sumo_home: PathBuf::from("/usr/share/sumo"),
        };
        let error = scenario_files(&sources, "atlantis", Load::Low, 1).expect_err("unknown");
        assert!(error.to_string().contains("city-grid-200"), "{error}");
        let error = scenario_files(&sources, "grid4x4", Load::Low, 1).expect_err("not unpacked");
        assert!(error.to_string().contains("grid4x4.sumocfg"), "{error}");
    }
}
