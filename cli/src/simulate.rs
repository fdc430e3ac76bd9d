//! `roadsight simulate`: controllers side by side in SUMO, closed loop, medians over seeds.

use anyhow::Context;
use clap::Args;
use roadsight_signal_control::control::ChangeTiming;
use roadsight_signal_control::simulate::{
    self, median_metrics, ControllerKind, Load, RunMetrics, RunSettings, ScenarioSources,
    SimulationReport,
};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// Scenario: cologne1, cologne3, cologne8, ingolstadt1, ingolstadt7, ingolstadt21, grid4x4,
    /// arterial4x4 (RESCO), city-grid-200 (generated, 200 signals), small-grid-9 (generated, 9).
    #[arg(long)]
    scenario: String,
    /// Demand of a generated scenario (RESCO scenarios have their own).
    #[arg(long, default_value = "low")]
    load: String,
    /// Comma-separated controllers: roadsight, actuated, maxpressure, fixed, webster.
    #[arg(long, default_value = "roadsight,actuated,maxpressure,fixed,webster")]
    controllers: String,
    /// Seeds 1..=N; each metric is the median over them.
    #[arg(long, default_value_t = 5)]
    seeds: u64,
    /// Simulations run at once.
    #[arg(long, default_value_t = 2)]
    jobs: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
    /// The unpacked RESCO scenarios (default: .deps/sumo/RESCO).
    #[arg(long)]
    resco_dir: Option<PathBuf>,
    /// Where generated scenarios and run outputs go (default: .deps/sumo/cache).
    #[arg(long)]
    cache_dir: Option<PathBuf>,
    /// The sumo binary.
    #[arg(long, default_value = "sumo")]
    sumo: PathBuf,
}

pub fn simulate(args: &SimulateArgs) -> anyhow::Result<()> {
    let repo = crate::paths::repo_root().unwrap_or_else(|| PathBuf::from("."));
    let sumo_home = std::env::var_os("SUMO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/sumo"));
    let sources = ScenarioSources {
        resco_dir: args
            .resco_dir
            .clone()
            .unwrap_or_else(|| repo.join(".deps/sumo/RESCO")),
        cache_dir: args
            .cache_dir
            .clone()
            .unwrap_or_else(|| repo.join(".deps/sumo/cache")),
        sumo_home,
    };
    let load = Load::parse(&args.load)
        .with_context(|| format!("--load {:?}: use low or high", args.load))?;
    let mut controllers = Vec::new();
    for name in args
        .controllers
        .split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
    {
        let kind = ControllerKind::parse(name).with_context(|| {
            format!("--controllers: unknown controller {name:?}; known: roadsight, actuated, maxpressure, fixed, webster")
        })?;
        if !controllers.contains(&kind) {
            controllers.push(kind);
        }
    }
    anyhow::ensure!(!controllers.is_empty(), "--controllers names no controller");
    anyhow::ensure!(args.seeds >= 1, "--seeds must be at least 1");

    // Scenario files first (generation is not thread-safe per directory), then the runs.
    let mut jobs = Vec::new();
    for seed in 1..=args.seeds {
        let files = simulate::scenario_files(&sources, &args.scenario, load, seed)
            .with_context(|| format!("preparing scenario {} (seed {seed})", args.scenario))?;
        for controller in &controllers {
            jobs.push((files.clone(), *controller, seed));
        }
    }
    let load_name = args.load.as_str();
    let runs: Mutex<Vec<(ControllerKind, u64, RunMetrics)>> = Mutex::new(Vec::new());
    let failures: Mutex<Vec<String>> = Mutex::new(Vec::new());
    let next = Mutex::new(0usize);
    std::thread::scope(|scope| {
        for _ in 0..args.jobs.max(1) {
            scope.spawn(|| loop {
                let index = {
                    let Ok(mut next) = next.lock() else { return };
                    let index = *next;
                    *next += 1;
                    index
                };
                let Some((files, controller, seed)) = jobs.get(index) else {
                    return;
                };
                let settings = RunSettings {
                    controller: *controller,
                    seed: *seed,
                    sumo_binary: args.sumo.clone(),
                    sumo_home: sources.sumo_home.clone(),
                    work_dir: sources.cache_dir.join("runs").join(format!(
                        "{}-{load_name}-{}-{seed}",
                        files.name,
                        controller.name()
                    )),
                    change: ChangeTiming::default(),
                };
                let started = std::time::Instant::now();
                match simulate::run(files, &settings) {
                    Ok(metrics) => {
                        eprintln!(
                            "simulate: {} {} seed {seed}: delay {:.1} s/veh, {} teleports ({:.0} s)",
                            files.name,
                            controller.name(),
                            metrics.mean_delay_s,
                            metrics.teleports,
                            started.elapsed().as_secs_f64()
                        );
                        if let Ok(mut runs) = runs.lock() {
                            runs.push((*controller, *seed, metrics));
                        }
                    }
                    Err(error) => {
                        if let Ok(mut failures) = failures.lock() {
                            failures.push(format!("{} seed {seed}: {error}", controller.name()));
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap_or_default();
    if !failures.is_empty() {
        anyhow::bail!(
            "{} run(s) failed:\n  {}",
            failures.len(),
            failures.join("\n  ")
        );
    }
    let runs = runs.into_inner().unwrap_or_default();
    let mut results = BTreeMap::new();
    for controller in &controllers {
        let metrics: Vec<RunMetrics> = runs
            .iter()
            .filter(|(kind, _, _)| kind == controller)
            .map(|(_, _, metrics)| *metrics)
            .collect();
        if let Some(median) = median_metrics(&metrics) {
            results.insert(controller.name().to_string(), median);
        }
    }
    let report = SimulationReport {
        scenario: args.scenario.clone(),
        load,
        seeds: args.seeds as usize,
        results,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} ({} load, median of {} seeds)",
            report.scenario, args.load, report.seeds
        );
        println!(
            "{:<12} {:>10} {:>12} {:>7} {:>10} {:>9} {:>9}",
            "controller", "delay s", "travel s", "stops", "through", "teleport", "queue p95"
        );
        for (name, m) in &report.results {
            println!(
                "{:<12} {:>10.1} {:>12.1} {:>7.2} {:>10.0} {:>9.0} {:>9.1}",
                name,
                m.mean_delay_s,
                m.mean_travel_time_s,
                m.stops,
                m.throughput,
                m.teleports,
                m.queue_p95
            );
        }
    }
    Ok(())
}
