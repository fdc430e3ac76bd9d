//! `roadsight bench signals`: how long one round of timing plans takes for a city of
//! intersections, against the 10 ms budget the control centre sets for 200 of them.
//!
//! The city is synthetic but shaped like a real one: four-phase intersections (protected
//! lefts, then throughs, per axis), eight counted movements each, every ten in a corridor.
//! Fifteen minutes of crossings are fed first, so every round plans on counts, coordinates the
//! corridors and validates every plan.

use roadsight_core::counting::CrossingDirection;
use roadsight_core::intersection::{Bearing, Movement, Phase, Turn};
use roadsight_core::{CameraId, CorridorConfig, DemandSourceConfig, IntersectionConfig, Timestamp};
use roadsight_signal_control::planning::{CityPlanner, PlanBasis, PlannerSettings};
use serde::Serialize;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct SignalsBenchArgs {
    /// Intersections in the city.
    #[arg(long, default_value_t = 200)]
    intersections: usize,
    /// Rounds timed.
    #[arg(long, default_value_t = 200)]
    rounds: usize,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Serialize)]
struct Report {
    intersections: usize,
    corridors: usize,
    rounds: usize,
    round_ms_p50: f64,
    round_ms_p99: f64,
    limit_ms: f64,
    /// limit / p99: above 1 is within budget.
    ratio: f64,
    plans_on_counts: usize,
}

const LIMIT_MS: f64 = 10.0;

fn synthetic_city(count: usize) -> (Vec<IntersectionConfig>, Vec<CorridorConfig>) {
    let movement = |id: &str, from: Bearing, turn: Turn, lanes: u32| Movement {
        id: id.to_string(),
        from,
        turn,
        lanes,
        saturation_per_lane: 1800.0,
    };
    let phase = |id: &str, movements: &[&str]| Phase {
        id: id.to_string(),
        movements: movements.iter().map(|m| m.to_string()).collect(),
        min_green_s: 7.0,
        max_green_s: 60.0,
        yellow_s: 3.0,
        all_red_s: 2.0,
        pedestrian_min_s: 0.0,
    };
    let movements = vec![
        movement("nt", Bearing::North, Turn::Through, 2),
        movement("st", Bearing::South, Turn::Through, 2),
        movement("nl", Bearing::North, Turn::Left, 1),
        movement("sl", Bearing::South, Turn::Left, 1),
        movement("et", Bearing::East, Turn::Through, 2),
        movement("wt", Bearing::West, Turn::Through, 2),
        movement("el", Bearing::East, Turn::Left, 1),
        movement("wl", Bearing::West, Turn::Left, 1),
    ];
    let phases = vec![
        phase("ns-left", &["nl", "sl"]),
        phase("ns", &["nt", "st"]),
        phase("ew-left", &["el", "wl"]),
        phase("ew", &["et", "wt"]),
    ];
    let intersections: Vec<IntersectionConfig> = (0..count)
        .map(|index| IntersectionConfig {
            id: format!("x{index}"),
            demand: movements
                .iter()
                .map(|m| DemandSourceConfig {
                    movement: m.id.clone(),
                    camera: format!("cam{index}-{}", m.id),
                    counter: "stop".into(),
                    direction: Some(CrossingDirection::Forward),
                    zone: Some("queue".into()),
                })
                .collect(),
            movements: movements.clone(),
            phases: phases.clone(),
            min_cycle_s: 40.0,
            max_cycle_s: 150.0,
            ntcip: None,
        })
        .collect();
    let corridors = intersections
        .chunks(10)
        .enumerate()
        .filter(|(_, chunk)| chunk.len() >= 2)
        .map(|(index, chunk)| CorridorConfig {
            id: format!("corridor{index}"),
            intersections: chunk.iter().map(|x| x.id.clone()).collect(),
            distances_m: vec![300.0; chunk.len() - 1],
            speed_kmh: 40.0,
        })
        .collect();
    (intersections, corridors)
}

pub fn bench_signals(args: &SignalsBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.intersections >= 1,
        "--intersections must be at least 1"
    );
    anyhow::ensure!(args.rounds >= 1, "--rounds must be at least 1");
    let (intersections, corridors) = synthetic_city(args.intersections);
    let mut planner = CityPlanner::new(
        &intersections,
        &corridors,
        PlannerSettings {
            smoothing_s: 300.0,
            stale_after_s: 1800.0,
            plan_interval_s: 900.0,
        },
    );
    let start = Timestamp::UNIX_EPOCH;
    // 15 minutes of counts: each movement's camera a frame a second, a crossing every few s.
    for second in 0..900u64 {
        let now = start.plus(Duration::from_secs(second));
        for (x, intersection) in intersections.iter().enumerate() {
            for (m, source) in intersection.demand.iter().enumerate() {
                let camera = CameraId::new(&source.camera);
                planner.on_frame(&camera, now);
                let every = 2 + ((x * 7 + m * 3) % 9) as u64;
                if second % every == 0 {
                    planner.on_count(&camera, "stop", Some(CrossingDirection::Forward), 1.0, now);
                }
            }
        }
    }
    let now = start.plus(Duration::from_secs(900));
    let mut times_ms = Vec::with_capacity(args.rounds);
    let mut plans_on_counts = 0;
    for round in 0..args.rounds {
        let at = now.plus(Duration::from_millis(round as u64));
        let started = Instant::now();
        let decisions = planner.plan_round(at);
        times_ms.push(started.elapsed().as_secs_f64() * 1e3);
        plans_on_counts = decisions
            .iter()
            .filter(|d| d.basis == PlanBasis::Counts)
            .count();
    }
    times_ms.sort_by(f64::total_cmp);
    let pick = |q: f64| times_ms[((times_ms.len() - 1) as f64 * q).round() as usize];
    let p99 = pick(0.99);
    let report = Report {
        intersections: args.intersections,
        corridors: corridors.len(),
        rounds: args.rounds,
        round_ms_p50: pick(0.5),
        round_ms_p99: p99,
        limit_ms: LIMIT_MS,
        ratio: LIMIT_MS / p99.max(1e-9),
        plans_on_counts,
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "{} intersections ({} corridors): a round of plans takes {:.3} ms (p50), {:.3} ms (p99); \
             limit {LIMIT_MS} ms, {:.0}x within it; {} of {} plans on counts",
            report.intersections,
            report.corridors,
            report.round_ms_p50,
            report.round_ms_p99,
            report.ratio,
            report.plans_on_counts,
            report.intersections
        );
    }
    Ok(())
}
