#![allow(clippy::expect_used)] // Test code: a failed expect is a failed test.
//! A short closed loop in a real SUMO: a generated 3 x 3 grid, ten simulated minutes, each
//! controller driving the signals over TraCI. Needs `sumo` and `sumo-tools` (scripts/setup.sh
//! installs them); without them this test fails rather than passing unseen.

use roadsight_signal_control::control::ChangeTiming;
use roadsight_signal_control::simulate::{
    self, ControllerKind, Load, RunMetrics, RunSettings, ScenarioSources,
};
use std::path::{Path, PathBuf};

fn sumo_home() -> PathBuf {
    let home = std::env::var_os("SUMO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/share/sumo"));
    assert!(
        home.join("tools/randomTrips.py").is_file(),
        "SUMO tools not found under {} (run scripts/setup.sh, which installs sumo and sumo-tools)",
        home.display()
    );
    home
}

fn run(controller: ControllerKind, cache: &Path, home: &Path) -> RunMetrics {
    let sources = ScenarioSources {
        resco_dir: cache.join("no-resco"),
        cache_dir: cache.to_path_buf(),
        sumo_home: home.to_path_buf(),
    };
    let files = simulate::scenario_files(&sources, simulate::SMALL_GRID, Load::High, 7)
        .expect("scenario generated");
    let settings = RunSettings {
        controller,
        seed: 7,
        sumo_binary: PathBuf::from("sumo"),
        sumo_home: home.to_path_buf(),
        work_dir: cache.join(controller.name()),
        change: ChangeTiming::default(),
    };
    simulate::run(&files, &settings)
        .unwrap_or_else(|error| panic!("{} run: {error}", controller.name()))
}

#[test]
fn every_controller_drives_a_real_sumo_and_roadsight_beats_the_fixed_program() {
    let home = sumo_home();
    let cache = tempfile::tempdir().expect("temp dir");
    let fixed = run(ControllerKind::Fixed, cache.path(), &home);
    let roadsight = run(ControllerKind::Roadsight, cache.path(), &home);
    let maxpressure = run(ControllerKind::Maxpressure, cache.path(), &home);
    // 1,200 vehicles/h for 600 s.
    for (name, metrics) in [
        ("fixed", &fixed),
        ("roadsight", &roadsight),
        ("maxpressure", &maxpressure),
    ] {
        assert_eq!(
            metrics.vehicles, 200.0,
            "{name}: every planned trip is in the trip output"
        );
        assert!(metrics.throughput > 100.0, "{name}: {metrics:?}");
        assert!(
            metrics.mean_delay_s > 0.0 && metrics.mean_delay_s.is_finite(),
            "{name}: {metrics:?}"
        );
    }
    assert_eq!(roadsight.teleports, 0.0, "{roadsight:?}");
    // The controllers really drive the lights: closed loop gives other figures than the program.
    assert!(
        roadsight.mean_delay_s < fixed.mean_delay_s,
        "roadsight {roadsight:?} against SUMO's fixed program {fixed:?}"
    );
    assert_ne!(maxpressure.mean_delay_s, fixed.mean_delay_s);
}

#[test]
fn a_missing_sumo_binary_is_named() {
    let home = sumo_home();
    let cache = tempfile::tempdir().expect("temp dir");
    let sources = ScenarioSources {
        resco_dir: cache.path().join("no-resco"),
        cache_dir: cache.path().to_path_buf(),
        sumo_home: home.clone(),
    };
    let files = simulate::scenario_files(&sources, simulate::SMALL_GRID, Load::Low, 1)
        .expect("scenario generated");
    let settings = RunSettings {
        controller: ControllerKind::Roadsight,
        seed: 1,
        sumo_binary: PathBuf::from("/nonexistent/sumo"),
        sumo_home: home,
        work_dir: cache.path().join("run"),
        change: ChangeTiming::default(),
    };
    let error = simulate::run(&files, &settings).expect_err("no such binary");
    assert!(error.to_string().contains("/nonexistent/sumo"), "{error}");
}
