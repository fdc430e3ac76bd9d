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
    /// Also draw the mean delay per controller as an SVG bar chart here.
    #[arg(long)]
    plot: Option<PathBuf>,
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
    if !simulate::scenario_names().contains(&args.scenario.as_str()) {
        return Err(crate::UsageError(format!(
            "--scenario {:?}: unknown; known: {}",
            args.scenario,
            simulate::scenario_names().join(", ")
        ))
        .into());
    }
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
    if let Some(path) = &args.plot {
        std::fs::write(path, delay_chart(&report))
            .with_context(|| format!("--plot {}", path.display()))?;
    }
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

/// A bar chart of each controller's mean delay (SVG, no dependencies), roadsight's bar first.
fn delay_chart(report: &SimulationReport) -> String {
    use std::fmt::Write as _;
    let mut bars: Vec<(&String, f64)> = report
        .results
        .iter()
        .map(|(name, m)| (name, m.mean_delay_s))
        .collect();
    bars.sort_by(|a, b| {
        (a.0 != "roadsight")
            .cmp(&(b.0 != "roadsight"))
            .then(a.1.total_cmp(&b.1))
    });
    let top = bars.iter().map(|(_, d)| *d).fold(1.0, f64::max) * 1.1;
    let (width, height, left, bottom, bar, gap) = (640.0, 360.0, 70.0, 60.0, 70.0, 30.0);
    let plot_height = height - bottom - 40.0;
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" font-family=\"sans-serif\" font-size=\"12\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{left}\" y=\"22\" font-size=\"15\">{}{}: mean delay per vehicle, median of {} seed(s)</text>\n",
        escape(&report.scenario),
        if simulate::RESCO_SCENARIOS.contains(&report.scenario.as_str()) {
            String::new()
        } else {
            format!(", {} load", if report.load == Load::Low { "low" } else { "high" })
        },
        report.seeds
    );
    let _ = writeln!(
        svg,
        "<line x1=\"{left}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"black\"/>",
        height - bottom,
        width - 20.0,
        height - bottom
    );
    for step in 0..=4 {
        let value = top * f64::from(step) / 4.0;
        let y = height - bottom - plot_height * f64::from(step) / 4.0;
        let _ = writeln!(
            svg,
            "<text x=\"{}\" y=\"{:.1}\" text-anchor=\"end\">{value:.0} s</text><line x1=\"{left}\" y1=\"{y:.1}\" x2=\"{}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>",
            left - 6.0,
            y + 4.0,
            width - 20.0
        );
    }
    for (index, (name, delay)) in bars.iter().enumerate() {
        let x = left + gap + index as f64 * (bar + gap);
        let h = plot_height * delay / top;
        let y = height - bottom - h;
        let colour = if name.as_str() == "roadsight" {
            "#1f77b4"
        } else {
            "#9aa5b1"
        };
        let _ = writeln!(
            svg,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar}\" height=\"{h:.1}\" fill=\"{colour}\"/>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{delay:.1}</text>\n\
             <text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            x + bar / 2.0,
            y - 5.0,
            x + bar / 2.0,
            height - bottom + 18.0,
            escape(name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
