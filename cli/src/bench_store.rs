//! `roadsight bench store`: batched plate-sighting inserts per second into SQLite and
//! PostgreSQL, and plate-trace latency (p50/p99) at a city's scale of sightings.
//!
//! The sightings are a synthetic day of a city: `--plates` vehicles seen `--sightings` times in
//! all at 300 cameras, each vehicle's sightings spread over the day; every fifth sighting is a
//! pass with no plate voted (a `vehicle_pass`), and every sighting carries a look. The cameras
//! are linked in a chain, 500 m apart, so a trace also reads the passes beside the plate's
//! sightings and joins them by look. Inserts go through
//! `EventStore::append` in batches, as the writer thread does (each sighting is a whole plate
//! event: its JSON, the sightings row, the plate and its one-deletion variants); only the
//! appends are timed, not the making of the synthetic events. Traces go
//! through the same code as `GET /api/plates/{plate}/trace` (fuzzy matching included), each
//! for a random known plate over the whole day, timed one by one.
//!
//! The goals are the issue's: at least 100,000 sightings per second into SQLite, and a trace
//! p99 under 10 ms at 10 million sightings. Each is printed with its ratio. Each insert case's
//! store is then given a retention pass that forgets the older half of it, against a goal of
//! a city's day (15 million sightings) in 10 minutes.

use roadsight_core::{
    Appearance, CameraId, CameraLinkConfig, Event, RoutesConfig, Timestamp, TrackId, TrackPlate,
    VehiclePass,
};
use roadsight_server::queries::trace_plate;
use serde::Serialize;
use std::path::PathBuf;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct StoreBenchArgs {
    /// Sightings in the traced store (built once under --dir and reused).
    #[arg(long, default_value_t = 10_000_000)]
    sightings: u64,
    /// Distinct plates among them.
    #[arg(long, default_value_t = 1_000_000)]
    plates: u64,
    /// Sightings inserted for the insert-rate figure, per backend and case (a store of this
    /// size, or twice it for known plates, is where the rate is read: small stores flatter it).
    #[arg(long, default_value_t = 1_000_000)]
    insert_sightings: u64,
    /// Sightings per append (transaction), as `[store] batch_size`.
    #[arg(long, default_value_t = 10_000)]
    batch: usize,
    /// Traces timed.
    #[arg(long, default_value_t = 1_000)]
    traces: usize,
    /// Where the traced SQLite store is built and kept.
    #[arg(long, default_value = ".deps/bench")]
    dir: PathBuf,
    /// Which insert cases to measure: `new` (every plate new), `known` (plates already
    /// stored), or both.
    #[arg(long, value_delimiter = ',', default_values = ["new", "known"])]
    cases: Vec<InsertCase>,
    /// Also measure PostgreSQL inserts here (a schema of its own, dropped after).
    #[arg(long)]
    postgres: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

/// An insert case of the bench.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum InsertCase {
    New,
    Known,
}

impl InsertCase {
    /// As on the command line, in figure names and in the scratch stores' names.
    fn name(self) -> &'static str {
        match self {
            InsertCase::New => "new",
            InsertCase::Known => "known",
        }
    }
}

#[derive(Debug, Serialize)]
struct InsertFigure {
    backend: String,
    sightings: u64,
    seconds: f64,
    sightings_per_s: f64,
    goal_per_s: Option<f64>,
    ratio_to_goal: Option<f64>,
}

/// A retention pass over a store the insert figure filled: the older half of its sightings (and
/// plate events) past the cut-off, with the plates, variants and summaries that follow them.
#[derive(Debug, Serialize)]
struct RetentionFigure {
    backend: String,
    sightings_in_store: u64,
    sightings_deleted: u64,
    events_deleted: u64,
    seconds: f64,
    sightings_deleted_per_s: f64,
    goal_per_s: f64,
    ratio_to_goal: f64,
}

/// A city's day of sightings (15 million) forgotten by one pass in 10 minutes.
const RETENTION_GOAL_PER_S: f64 = 15_000_000.0 / 600.0;

#[derive(Debug, Serialize)]
struct TraceFigure {
    sightings_in_store: u64,
    /// Sightings per second while the store was built (its plates new at first, then known).
    build_sightings_per_s: Option<f64>,
    plates_in_store: u64,
    traces: usize,
    p50_ms: f64,
    p99_ms: f64,
    goal_p99_ms: f64,
    ratio_to_goal: f64,
    mean_sightings_per_trace: f64,
    /// The same plates traced without joining passes by look (`appearance_max_distance` 0:
    /// no pass is read), each right after its trace with them, and the p50 ratio of the two.
    without_looks_p50_ms: f64,
    without_looks_p99_ms: f64,
    looks_cost_p50: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    inserts: Vec<InsertFigure>,
    retention: Vec<RetentionFigure>,
    trace: TraceFigure,
}

const DAY_S: u64 = 86_400;

/// Opens a store for one case (`new` or `known` plates).
type StoreOpener = Box<dyn Fn(&str) -> anyhow::Result<Box<dyn roadsight_store::EventStore>>>;
const CAMERAS: u64 = 300;

/// A deterministic plate text for vehicle `n`: Vietnamese one-row form `NNL-NNNNN`.
fn plate_text(n: u64) -> String {
    const SERIES: &[u8] = b"ABCDEFGHKLMNPSTUVXYZ";
    let province = 11 + (n % 89);
    let letter = SERIES[((n / 89) % SERIES.len() as u64) as usize] as char;
    let number = (n * 7919) % 100_000;
    format!("{province}{letter}{number:05}")
}

/// When sighting `i` of the synthetic day is seen: ten million spread over the day, in order.
fn seen_at(i: u64, day: Timestamp) -> Timestamp {
    day.plus(Duration::from_micros((i * 8_640) % (DAY_S * 1_000_000)))
}

/// The synthetic day's start.
fn bench_day() -> anyhow::Result<Timestamp> {
    Timestamp::parse_rfc3339("2026-11-23T00:00:00+07:00").map_err(anyhow::Error::msg)
}

/// A synthetic look: 60 % of the crop in one colour bin and 40 % in another, both from `seed`.
fn look(seed: u64) -> Appearance {
    let mut bins = [0u16; roadsight_core::appearance::APPEARANCE_BINS];
    bins[(seed % 64) as usize] += 6_000;
    bins[((seed >> 6) % 64) as usize] += 4_000;
    Appearance::from_bins(bins)
}

/// The bench city's cameras linked in a chain, 500 m apart (40-180 s at 10-90 km/h).
fn bench_links() -> Vec<CameraLinkConfig> {
    (1..CAMERAS)
        .map(|c| CameraLinkConfig {
            from: format!("cam-{:03}", c - 1),
            to: format!("cam-{c:03}"),
            distance_m: 500.0,
            min_speed_kmh: 10.0,
            max_speed_kmh: 90.0,
            one_way: false,
        })
        .collect()
}

/// Sighting `i` of the synthetic day (`plates` vehicles): its plate event, or for every fifth
/// a pass with no plate voted.
fn sighting(i: u64, plates: u64, day: Timestamp) -> Event {
    // A cheap deterministic mix so vehicles and cameras interleave.
    let mixed = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    let vehicle = if plates == u64::MAX {
        i
    } else {
        mixed % plates
    };
    let camera = CameraId::new(&format!("cam-{:03}", (mixed >> 20) % CAMERAS));
    // Sightings arrive in time order, as they do from cameras.
    let at = seen_at(i, day);
    if i % 5 == 4 {
        return Event::VehiclePass(VehiclePass {
            camera,
            track: TrackId(i),
            reads: 4,
            first_seen: at,
            last_seen: at,
            at,
            appearance: look(mixed >> 30),
            evidence: None,
        });
    }
    let text = plate_text(vehicle);
    Event::Plate(TrackPlate {
        camera,
        track: TrackId(i),
        formatted: text.clone(),
        char_confidence: vec![0.95; text.len()],
        text,
        confidence: 0.95,
        rows: 1,
        valid: true,
        reads: 4,
        agreeing: 4,
        first_seen: at,
        last_seen: at,
        at,
        evidence: None,
        candidate: false,
        appearance: Some(look(vehicle)),
    })
}

fn insert(
    store: &mut dyn roadsight_store::EventStore,
    from: u64,
    count: u64,
    plates: u64,
    batch: usize,
    progress: bool,
) -> anyhow::Result<f64> {
    let day = bench_day()?;
    // Only the appends are timed: making the synthetic events is the bench's work, not the
    // store's.
    let mut appending = Duration::ZERO;
    let mut next = from;
    let end = from + count;
    let mut events = Vec::with_capacity(batch);
    while next < end {
        events.clear();
        let upto = (next + batch as u64).min(end);
        events.extend((next..upto).map(|i| sighting(i, plates, day)));
        let started = Instant::now();
        store.append(&events)?;
        appending += started.elapsed();
        next = upto;
        if progress && (next - from) % 1_000_000 < batch as u64 {
            eprintln!(
                "bench store: {} of {} sightings ({:.0}/s)",
                next - from,
                count,
                (next - from) as f64 / appending.as_secs_f64()
            );
        }
    }
    Ok(appending.as_secs_f64())
}

/// Times one retention pass that forgets the older half of the `in_store` sightings the insert
/// figure wrote (their plate events too; 30 days kept of everything, a month after the cut-off).
fn time_retention(
    store: &mut dyn roadsight_store::EventStore,
    backend: &str,
    in_store: u64,
) -> anyhow::Result<RetentionFigure> {
    let cutoff = seen_at(in_store / 2, bench_day()?);
    let month = Duration::from_secs(30 * DAY_S);
    let keep = roadsight_store::Retention {
        events_days: 30.0,
        sightings_days: 30.0,
        counts_days: 30.0,
        evidence_days: 30.0,
        audit_days: 30.0,
    };
    let started = Instant::now();
    let removed = store.apply_retention(cutoff.plus(month), &keep)?;
    let seconds = started.elapsed().as_secs_f64();
    let rate = removed.sightings as f64 / seconds.max(1e-9);
    Ok(RetentionFigure {
        backend: backend.to_string(),
        sightings_in_store: in_store,
        sightings_deleted: removed.sightings,
        events_deleted: removed.events,
        seconds,
        sightings_deleted_per_s: rate,
        goal_per_s: RETENTION_GOAL_PER_S,
        ratio_to_goal: rate / RETENTION_GOAL_PER_S,
    })
}

pub fn bench_store(args: &StoreBenchArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.plates >= 1 && args.sightings >= args.plates,
        "--sightings must be at least --plates"
    );
    let mut inserts = Vec::new();
    // Two cases per backend, each on a store of its own: every plate new (the worst case:
    // each sighting also writes its plate's eight deletion variants), and plates already known
    // (a city's steady state: most vehicles were seen on earlier days).
    let mut backends: Vec<(&str, StoreOpener)> = Vec::new();
    let scratch = tempfile::tempdir()?;
    let scratch_path = scratch.path().to_path_buf();
    backends.push((
        "sqlite",
        Box::new(move |case: &str| {
            Ok(roadsight_store::open(&format!(
                "sqlite:{}",
                scratch_path.join(format!("{case}.db")).display()
            ))?)
        }),
    ));
    let mut schemas = Vec::new();
    if let Some(url) = &args.postgres {
        let url = url.clone();
        let prefix = format!("roadsight_bench_{}", std::process::id());
        for case in &args.cases {
            schemas.push(format!("{prefix}_{}", case.name()));
        }
        backends.push((
            "postgres",
            Box::new(move |case: &str| {
                Ok(Box::new(roadsight_store::PostgresStore::connect(
                    &url,
                    Some(&format!("{prefix}_{case}")),
                )?))
            }),
        ));
    }
    let warm_plates = 10_000;
    let mut retention = Vec::new();
    for (backend, open) in &backends {
        for &case in &args.cases {
            let mut store = open(case.name())?;
            let in_store = match case {
                InsertCase::New => args.insert_sightings,
                InsertCase::Known => 2 * args.insert_sightings,
            };
            let seconds = if case == InsertCase::New {
                insert(
                    store.as_mut(),
                    0,
                    args.insert_sightings,
                    u64::MAX,
                    args.batch,
                    false,
                )?
            } else {
                insert(
                    store.as_mut(),
                    0,
                    args.insert_sightings,
                    warm_plates,
                    args.batch,
                    false,
                )?;
                insert(
                    store.as_mut(),
                    args.insert_sightings,
                    args.insert_sightings,
                    warm_plates,
                    args.batch,
                    false,
                )?
            };
            let rate = args.insert_sightings as f64 / seconds;
            let goal = (*backend == "sqlite").then_some(100_000.0);
            inserts.push(InsertFigure {
                backend: format!("{backend}, {} plates", case.name()),
                sightings: args.insert_sightings,
                seconds,
                sightings_per_s: rate,
                goal_per_s: goal,
                ratio_to_goal: goal.map(|g| rate / g),
            });
            retention.push(time_retention(
                store.as_mut(),
                &format!("{backend}, {} plates", case.name()),
                in_store,
            )?);
        }
    }
    if let Some(url) = &args.postgres {
        if let Ok(mut client) = postgres::Client::connect(url, postgres::NoTls) {
            for schema in &schemas {
                let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
            }
        }
    }
    // The traced store: built once, then reused.
    std::fs::create_dir_all(&args.dir)?;
    let path = args.dir.join(format!(
        "trace-{}-{}-passes.db",
        args.sightings, args.plates
    ));
    let complete = args.dir.join(format!(
        "trace-{}-{}-passes.complete",
        args.sightings, args.plates
    ));
    if !complete.is_file() {
        let _ = std::fs::remove_file(&path);
        eprintln!(
            "bench store: building {} with {} sightings of {} plates (once; reused afterwards)",
            path.display(),
            args.sightings,
            args.plates
        );
        let mut store = roadsight_store::open(&format!("sqlite:{}", path.display()))?;
        let seconds = insert(
            store.as_mut(),
            1_000_000_000,
            args.sightings,
            args.plates,
            args.batch,
            true,
        )?;
        std::fs::write(
            &complete,
            format!("{:.0}\n", args.sightings as f64 / seconds),
        )?;
    }
    let build_rate: Option<f64> = std::fs::read_to_string(&complete)
        .ok()
        .and_then(|t| t.trim().parse().ok());
    let mut store = roadsight_store::open(&format!("sqlite:{}", path.display()))?;
    let routes = RoutesConfig {
        links: bench_links(),
        ..RoutesConfig::default()
    };
    let without_looks = RoutesConfig {
        appearance_max_distance: 0.0,
        ..routes.clone()
    };
    let mut times_ms = Vec::with_capacity(args.traces);
    let mut without_ms = Vec::with_capacity(args.traces);
    let mut found = 0usize;
    let mut state = 0x2545_F491_4F6C_DD1Du64;
    for _ in 0..args.traces {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let plate = plate_text(state % args.plates);
        let started = Instant::now();
        let trace = trace_plate(store.as_mut(), &plate, None, None, &routes)?;
        times_ms.push(started.elapsed().as_secs_f64() * 1e3);
        found += trace.sightings;
        let started = Instant::now();
        trace_plate(store.as_mut(), &plate, None, None, &without_looks)?;
        without_ms.push(started.elapsed().as_secs_f64() * 1e3);
    }
    let quantile = |times: &mut Vec<f64>, q: f64| {
        times.sort_by(f64::total_cmp);
        times[((times.len() - 1) as f64 * q).round() as usize]
    };
    let p50 = quantile(&mut times_ms, 0.5);
    let p99 = quantile(&mut times_ms, 0.99);
    let without_p50 = quantile(&mut without_ms, 0.5);
    let without_p99 = quantile(&mut without_ms, 0.99);
    let report = Report {
        inserts,
        retention,
        trace: TraceFigure {
            sightings_in_store: args.sightings,
            build_sightings_per_s: build_rate,
            plates_in_store: args.plates,
            traces: args.traces,
            p50_ms: p50,
            p99_ms: p99,
            goal_p99_ms: 10.0,
            ratio_to_goal: 10.0 / p99.max(1e-9),
            mean_sightings_per_trace: found as f64 / args.traces.max(1) as f64,
            without_looks_p50_ms: without_p50,
            without_looks_p99_ms: without_p99,
            looks_cost_p50: p50 / without_p50.max(1e-9),
        },
    };
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        for figure in &report.inserts {
            println!(
                "inserts into {}: {:.0} sightings/s ({} in {:.1} s){}",
                figure.backend,
                figure.sightings_per_s,
                figure.sightings,
                figure.seconds,
                figure
                    .ratio_to_goal
                    .map(|r| format!(", {r:.2}x the 100,000/s goal"))
                    .unwrap_or_default()
            );
        }
        for figure in &report.retention {
            println!(
                "retention on {}: {} of {} sightings (and {} events) forgotten in {:.2} s, {:.0} sightings/s, {:.1}x the {:.0}/s goal",
                figure.backend,
                figure.sightings_deleted,
                figure.sightings_in_store,
                figure.events_deleted,
                figure.seconds,
                figure.sightings_deleted_per_s,
                figure.ratio_to_goal,
                figure.goal_per_s
            );
        }
        let trace = &report.trace;
        println!(
            "plate trace at {} sightings: p50 {:.2} ms, p99 {:.2} ms ({:.1}x within the 10 ms goal), {:.1} sightings per trace{}",
            trace.sightings_in_store,
            trace.p50_ms,
            trace.p99_ms,
            trace.ratio_to_goal,
            trace.mean_sightings_per_trace,
            trace
                .build_sightings_per_s
                .map(|rate| format!("; the store was built at {rate:.0} sightings/s"))
                .unwrap_or_default()
        );
        println!(
            "the same plates without passes joined by look: p50 {:.2} ms, p99 {:.2} ms; looks and passes cost {:.1}x at p50",
            trace.without_looks_p50_ms, trace.without_looks_p99_ms, trace.looks_cost_p50
        );
    }
    Ok(())
}
