//! # roadsight-server
//!
//! The HTTP API of the control centre and the violation officers, over the event store:
//!
//! | endpoint | role | what |
//! |---|---|---|
//! | `GET /healthz` | none | the service and its store answer |
//! | `GET /metrics` | none | Prometheus counters |
//! | `GET /api/openapi.json` | none | the OpenAPI 3 document of all this |
//! | `GET /api/cameras` | operator | cameras and their last health |
//! | `GET /api/counts` | operator | interval counts by camera, kind, counter, class, window |
//! | `GET /api/od` | operator | origin-destination trips and travel times per interval |
//! | `GET /api/events` | operator | events by type, camera, window (plate events: officer) |
//! | `WS /api/live` | operator | the live feed, filtered by type and camera (plates: officer) |
//! | `GET /api/plates/search?q=` | officer | plates within one edit, audited |
//! | `GET /api/plates/{plate}/trace` | officer | the plate's routes with sightings and evidence, audited |
//! | `GET /api/evidence/{address}` | officer | an evidence image, audited |
//! | `GET /api/audit` | admin | the audit log |
//!
//! Tokens come as `Authorization: Bearer <token>` (or `?token=` for WebSockets); users and
//! roles are the city config's `[api]`. A missing or unknown token is 401, a role too low is
//! 403, a bad parameter is 400 with `{"error": ..., "field": ...}`, a store that fails is 503.
//!
//! [`Server::start`] runs the API on a tokio runtime of its own, beside the synchronous
//! pipeline; [`LiveFeed::publish`] is how the pipeline feeds `WS /api/live`.

mod auth;
mod error;
mod handlers;
mod live;
mod metrics;
mod openapi;
mod pool;
pub mod queries;

pub use auth::Caller;
pub use error::ApiError;
pub use live::{CameraStatus, LiveFeed};
pub use openapi::document as openapi_document;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use roadsight_core::{ApiUserConfig, Clock, RoutesConfig};
use std::net::SocketAddr;
use std::sync::Arc;

/// What the server needs to know about a camera.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraInfo {
    pub id: String,
    pub description: Option<String>,
    pub intersection: Option<String>,
    pub approach: Option<String>,
}

/// How to run the API.
#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub bind: String,
    pub users: Vec<ApiUserConfig>,
    pub store_url: String,
    pub routes: RoutesConfig,
    pub cameras: Vec<CameraInfo>,
    pub live_buffer: usize,
}

/// The server could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("API: cannot listen on {address}: {source}")]
    Bind {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("API: cannot start its runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("API: {0}")]
    Store(#[from] roadsight_store::StoreError),
}

pub(crate) struct AppState {
    pub(crate) users: Vec<ApiUserConfig>,
    pub(crate) pool: pool::StorePool,
    pub(crate) routes: RoutesConfig,
    pub(crate) cameras: Vec<CameraInfo>,
    pub(crate) live: LiveFeed,
    pub(crate) metrics: metrics::Metrics,
    pub(crate) clock: Arc<dyn Clock>,
}

/// A running API.
#[derive(Debug)]
pub struct Server {
    address: SocketAddr,
    live: LiveFeed,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

async fn count_requests(
    State(state): State<Arc<AppState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = method_label(request.method());
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let response = next.run(request).await;
    state
        .metrics
        .request(method, &route, response.status().as_u16());
    response
}

/// The methods counted under their own name; a client may send any token as a method, so the
/// rest count as `other` and the metrics' label set stays bounded.
const COUNTED_METHODS: [(axum::http::Method, &str); 9] = [
    (axum::http::Method::GET, "GET"),
    (axum::http::Method::HEAD, "HEAD"),
    (axum::http::Method::POST, "POST"),
    (axum::http::Method::PUT, "PUT"),
    (axum::http::Method::DELETE, "DELETE"),
    (axum::http::Method::PATCH, "PATCH"),
    (axum::http::Method::OPTIONS, "OPTIONS"),
    (axum::http::Method::CONNECT, "CONNECT"),
    (axum::http::Method::TRACE, "TRACE"),
];

fn method_label(method: &axum::http::Method) -> &'static str {
    COUNTED_METHODS
        .iter()
        .find(|(counted, _)| counted == method)
        .map_or("other", |(_, label)| label)
}

fn router(state: Arc<AppState>) -> Router {
    Router::new()
        .route("/healthz", get(handlers::healthz))
        .route("/metrics", get(handlers::metrics))
        .route("/api/openapi.json", get(handlers::openapi))
        .route("/api/cameras", get(handlers::cameras))
        .route("/api/counts", get(handlers::counts))
        .route("/api/od", get(handlers::od))
        .route("/api/events", get(handlers::events))
        .route("/api/live", get(handlers::live))
        .route("/api/plates/search", get(handlers::plate_search))
        .route("/api/plates/{plate}/trace", get(handlers::plate_trace))
        .route("/api/evidence/{address}", get(handlers::evidence))
        .route("/api/audit", get(handlers::audit_log))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state),
            count_requests,
        ))
        .with_state(state)
}

impl Server {
    /// Opens the store, binds the address, and serves on a runtime thread of its own.
    pub fn start(settings: ServerSettings, clock: Arc<dyn Clock>) -> Result<Server, ServerError> {
        let pool = pool::StorePool::new(&settings.store_url, 8)?;
        let live = LiveFeed::new(settings.live_buffer);
        let state = Arc::new(AppState {
            users: settings.users,
            pool,
            routes: settings.routes,
            cameras: settings.cameras,
            live: live.clone(),
            metrics: metrics::Metrics::default(),
            clock,
        });
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("api")
            .enable_all()
            .build()
            .map_err(ServerError::Runtime)?;
        let listener = runtime
            .block_on(tokio::net::TcpListener::bind(&settings.bind))
            .map_err(|source| ServerError::Bind {
                address: settings.bind.clone(),
                source,
            })?;
        let address = listener.local_addr().map_err(|source| ServerError::Bind {
            address: settings.bind.clone(),
            source,
        })?;
        let (shutdown, stop) = tokio::sync::oneshot::channel::<()>();
        let app = router(state);
        let thread = std::thread::Builder::new()
            .name("api-server".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let served = axum::serve(listener, app)
                        .with_graceful_shutdown(async move {
                            let _ = stop.await;
                        })
                        .await;
                    if let Err(error) = served {
                        eprintln!("API on {address}: {error}");
                    }
                });
            })
            .map_err(ServerError::Runtime)?;
        Ok(Server {
            address,
            live,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Where it listens (the real port when the settings asked for port 0).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The live feed's publishing side.
    pub fn live(&self) -> LiveFeed {
        self.live.clone()
    }

    /// Blocks until the server stops (for `roadsight serve`).
    pub fn wait(mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    /// Stops accepting, finishes the requests in flight, and returns.
    pub fn stop(mut self) {
        self.stop_now();
    }

    fn stop_now(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop_now();
    }
}
