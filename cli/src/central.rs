//! `roadsight worker` (a shard of cameras, events to the broker) and `roadsight central` (the
//! broker's events into the store, and the API over it).
//!
//! Central takes a batch from its durable consumer, stores the evidence and the events in the
//! store (one transaction for the events), and only then acknowledges the batch. A central that
//! dies mid-batch leaves it unacknowledged; JetStream delivers it again after `ack_wait` and the
//! store's idempotent appends drop what it had already committed. While the store fails, nothing
//! is acknowledged and the batch is retried with backoff. A message that is not an event is
//! reported with its subject and sequence and terminated (never delivered again).

use crate::run::{run_as, Mode, RunArgs};
use roadsight_broker::{Consumer, Delivery};
use roadsight_core::{Clock, Event, SystemClock};
use serde::Serialize;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[derive(Debug, clap::Args)]
pub struct WorkerArgs {
    /// The city config (its cameras, [broker] and everything `run` uses).
    #[arg(long)]
    config: PathBuf,
    /// This worker's shard: comma-separated camera ids (default: every camera).
    #[arg(long, value_delimiter = ',')]
    cameras: Option<Vec<String>>,
    /// Stop after this many seconds (live cameras otherwise run until Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

pub fn worker(args: &WorkerArgs) -> anyhow::Result<ExitCode> {
    run_as(
        &RunArgs {
            config: args.config.clone(),
            duration: args.duration,
            json: args.json,
            counts_csv: None,
            evidence_dir: None,
            store: None,
            keep_serving: false,
            cameras: args.cameras.clone(),
        },
        Mode::Worker,
    )
}

#[derive(Debug, clap::Args)]
pub struct CentralArgs {
    /// The city config (its [broker], [store], [api] and [routes]).
    #[arg(long)]
    config: PathBuf,
    /// The store, overriding the config's [store] url.
    #[arg(long)]
    store: Option<String>,
    /// Stop after this many seconds (otherwise at Ctrl-C).
    #[arg(long)]
    duration: Option<f64>,
    /// Unacknowledged messages come back after this long, seconds.
    #[arg(long, default_value_t = 30.0)]
    ack_wait_s: f64,
    /// Print one JSON summary at the end.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Default, Serialize)]
struct CentralReport {
    store: String,
    broker: String,
    messages: u64,
    events_stored: u64,
    duplicates: u64,
    evidence: u64,
    malformed: u64,
    store_failures: u64,
    /// What retention removed: at start, and every hour of the clock after.
    retention: roadsight_store::RetentionReport,
}

pub fn central(args: &CentralArgs) -> anyhow::Result<ExitCode> {
    let config = crate::load_config(&args.config)?;
    let store_url = args
        .store
        .clone()
        .unwrap_or_else(|| config.store.resolved_url(&config.base_dir));
    let mut store = crate::open_store(&store_url)?;
    // The policy holds from the start, and every hour after, however long central stays up.
    let clock = SystemClock;
    let mut retention = crate::events::RetentionSchedule::start(
        store.as_mut(),
        clock.now(),
        config.store.retention,
    )?;
    crate::events::note_removed(&store.describe(), &retention.removed());
    let mut consumer = Consumer::connect(
        &config.broker,
        Duration::from_secs_f64(args.ack_wait_s.max(1.0)),
    )?;
    let api = match &config.api {
        Some(api) => {
            let server = crate::serve::start_api(&config, api, &store_url, Arc::new(SystemClock))?;
            eprintln!(
                "API on http://{} (OpenAPI at /api/openapi.json)",
                server.address()
            );
            Some(server)
        }
        None => None,
    };
    let live = api.as_ref().map(|server| server.live());
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        let _ = ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst));
    }
    let mut report = CentralReport {
        store: store.describe(),
        broker: consumer.describe(),
        ..CentralReport::default()
    };
    eprintln!("central: {} -> {}", report.broker, report.store);
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s));
    let mut backoff = Duration::from_millis(500);
    while !interrupted.load(Ordering::SeqCst) && deadline.is_none_or(|d| Instant::now() < d) {
        retention.run_if_due(store.as_mut(), &report.store, clock.now());
        let batch = match consumer.fetch(500, Duration::from_secs(1)) {
            Ok(batch) => batch,
            Err(error) => {
                eprintln!(
                    "central: {error}; retrying in {:.1} s",
                    backoff.as_secs_f64()
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
                continue;
            }
        };
        if batch.is_empty() {
            continue;
        }
        let mut events: Vec<Event> = Vec::new();
        let mut good = Vec::new();
        let mut stored = Ok(());
        for received in batch {
            match &received.delivery {
                Delivery::Event(event) => {
                    events.push(event.as_ref().clone());
                    good.push(received);
                }
                Delivery::Evidence {
                    media_type,
                    bytes,
                    at,
                    ..
                } => {
                    if stored.is_ok() {
                        stored = store.put_evidence(media_type, bytes, *at).map(|_| ());
                        report.evidence += u64::from(stored.is_ok());
                    }
                    good.push(received);
                }
                Delivery::Malformed {
                    subject,
                    sequence,
                    reason,
                } => {
                    eprintln!("central: message {sequence} on {subject} dropped: {reason}");
                    report.malformed += 1;
                    if let Err(error) = consumer.terminate(&received) {
                        eprintln!("central: {error}");
                    }
                }
            }
        }
        let appended = stored.and_then(|()| store.append(&events));
        match appended {
            Ok(appended) => {
                // Committed: now the broker may forget them.
                if let Err(error) = consumer.ack(&good) {
                    eprintln!(
                        "central: {error} (they will come again and be recognised as stored)"
                    );
                }
                report.messages += good.len() as u64;
                report.events_stored += appended.inserted as u64;
                report.duplicates += appended.duplicates as u64;
                if let Some(live) = &live {
                    for event in &events {
                        live.publish(event);
                    }
                }
                backoff = Duration::from_millis(500);
            }
            Err(error) => {
                report.store_failures += 1;
                eprintln!(
                    "central: {error}; {} messages stay unacknowledged and come again (none is lost)",
                    good.len()
                );
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(Duration::from_secs(30));
            }
        }
    }
    if let Some(server) = api {
        server.stop();
    }
    report.retention = retention.removed();
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    } else {
        println!(
            "central: {} messages, {} events stored ({} already there), {} evidence images, {} malformed, {} store failures",
            report.messages, report.events_stored, report.duplicates, report.evidence, report.malformed, report.store_failures
        );
    }
    Ok(ExitCode::SUCCESS)
}
