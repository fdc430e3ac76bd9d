//! `roadsight serve` (the API over an existing store) and `roadsight trace` (a plate's routes
//! from the command line), and starting the API inside `roadsight run`.

use anyhow::Context;
use roadsight_core::{ApiConfig, CityConfig, Clock, SystemClock, Timestamp};
use roadsight_server::queries::trace_plate;
use roadsight_server::{CameraInfo, Server, ServerSettings};
use roadsight_store::AuditEntry;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Starts the API of `config` over the store at `store_url`.
pub fn start_api(
    config: &CityConfig,
    api: &ApiConfig,
    store_url: &str,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<Server> {
    if api.users.is_empty() {
        eprintln!(
            "API: [api] has no users, so only /healthz, /metrics and /api/openapi.json answer"
        );
    }
    let cameras = config
        .cameras
        .iter()
        .map(|camera| CameraInfo {
            id: camera.id.clone(),
            description: camera.description.clone(),
            intersection: camera.intersection.clone(),
            approach: camera.approach.clone(),
        })
        .collect();
    Ok(Server::start(
        ServerSettings {
            bind: api.bind.clone(),
            users: api.users.clone(),
            store_url: store_url.to_string(),
            routes: config.routes.clone(),
            cameras,
            live_buffer: api.live_buffer,
        },
        clock,
    )?)
}

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The city config (its [api], [store] and [routes]).
    #[arg(long)]
    config: PathBuf,
    /// The store, overriding the config's [store] url.
    #[arg(long)]
    store: Option<String>,
    /// Listen here, overriding the config's [api] bind.
    #[arg(long)]
    bind: Option<String>,
}

pub fn serve(args: &ServeArgs) -> anyhow::Result<()> {
    let config = crate::load_config(&args.config)?;
    let mut api = config.api.clone().ok_or_else(|| {
        crate::UsageError(format!(
            "{}: no [api] section to serve",
            args.config.display()
        ))
    })?;
    if let Some(bind) = &args.bind {
        api.bind = bind.clone();
    }
    let store_url = args
        .store
        .clone()
        .unwrap_or_else(|| config.store.resolved_url(&config.base_dir));
    // Migrated here, where the wait is announced, rather than in the API's first connection.
    drop(crate::open_store(&store_url)?);
    let server = start_api(&config, &api, &store_url, Arc::new(SystemClock))?;
    eprintln!(
        "serving {} on http://{} (OpenAPI at /api/openapi.json); Ctrl-C stops",
        store_url,
        server.address()
    );
    let interrupted = Arc::new(AtomicBool::new(false));
    {
        let interrupted = Arc::clone(&interrupted);
        let _ = ctrlc::set_handler(move || interrupted.store(true, Ordering::SeqCst));
    }
    while !interrupted.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(200));
    }
    server.stop();
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// The plate, as printed or normalised (`51G-123.45` or `51G12345`).
    plate: String,
    /// Start of the window, RFC 3339.
    #[arg(long)]
    from: Option<String>,
    /// End of the window, RFC 3339.
    #[arg(long)]
    to: Option<String>,
    /// The city config (its [store] and [routes]).
    #[arg(long)]
    config: Option<PathBuf>,
    /// The store, overriding the config's (needed without --config).
    #[arg(long)]
    store: Option<String>,
    /// Print one JSON object.
    #[arg(long)]
    json: bool,
}

fn time(field: &str, text: Option<&String>) -> anyhow::Result<Option<Timestamp>> {
    text.map(|t| {
        Timestamp::parse_rfc3339(t).map_err(|e| {
            anyhow::Error::new(crate::UsageError(format!(
                "--{field} {t:?}: not an RFC 3339 time ({e})"
            )))
        })
    })
    .transpose()
}

pub fn trace(args: &TraceArgs) -> anyhow::Result<()> {
    let config = args.config.as_deref().map(crate::load_config).transpose()?;
    let store_url = match (&args.store, &config) {
        (Some(url), _) => url.clone(),
        (None, Some(config)) => config.store.resolved_url(&config.base_dir),
        (None, None) => return Err(crate::UsageError("give --config or --store".into()).into()),
    };
    let routes = config.map(|c| c.routes).unwrap_or_default();
    let (from, to) = (
        time("from", args.from.as_ref())?,
        time("to", args.to.as_ref())?,
    );
    let mut store = crate::open_store(&store_url)?;
    let trace = trace_plate(store.as_mut(), &args.plate, from, to, &routes)?;
    // Plates are personal data: the command line is audited like the API.
    let who = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    store
        .record_audit(&AuditEntry {
            at: SystemClock.now(),
            who: format!("cli:{who}"),
            role: "admin".into(),
            action: "plate_trace".into(),
            subject: trace.plate.clone(),
            query: format!(
                "from={}&to={}",
                args.from.as_deref().unwrap_or(""),
                args.to.as_deref().unwrap_or("")
            ),
            results: trace.sightings as u64,
        })
        .context("recording the audit row")?;
    if args.json {
        println!("{}", serde_json::to_string(&trace)?);
        return Ok(());
    }
    if trace.routes.is_empty() {
        println!("{}: no sightings in {}", trace.plate, store_url);
        return Ok(());
    }
    println!(
        "{}: {} route(s), {} sightings",
        trace.plate,
        trace.routes.len(),
        trace.sightings
    );
    for (index, route) in trace.routes.iter().enumerate() {
        println!("route {} ({}):", index + 1, route.cameras().join(" -> "));
        for sighting in &route.sightings {
            println!(
                "  {}  {:<20} {} (confidence {:.2}{}){}",
                sighting.at.to_rfc3339(),
                sighting.camera,
                sighting.plate,
                sighting.confidence,
                if sighting.candidate {
                    ", a candidate: an unsure read"
                } else {
                    ""
                },
                sighting
                    .evidence
                    .as_deref()
                    .map(|e| format!("  evidence {e}"))
                    .unwrap_or_default()
            );
        }
    }
    Ok(())
}
