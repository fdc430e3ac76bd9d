//! The endpoints. Each checks the caller's role first, parses its parameters into typed values
//! (a bad one is a 400 naming the field), asks the store on a blocking thread, and writes an
//! audit row for every question about plates or evidence.

use crate::auth::{authorize, Caller};
use crate::error::ApiError;
use crate::queries::{origin_destination, search_plates, trace_plate};
use crate::AppState;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use roadsight_core::plate_match::normalise_plate;
use roadsight_core::{Event, EventEnvelope, Role, Timestamp};
use roadsight_store::{AuditEntry, CountQuery, EventQuery, EventStore, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

type Params = Query<HashMap<String, String>>;

/// Typed access to query parameters, each error naming its field.
struct Fields<'a>(&'a HashMap<String, String>);

impl Fields<'_> {
    fn text(&self, field: &str) -> Option<&str> {
        self.0
            .get(field)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn time(&self, field: &str) -> Result<Option<Timestamp>, ApiError> {
        self.text(field)
            .map(|text| {
                Timestamp::parse_rfc3339(text).map_err(|e| {
                    ApiError::bad_field(field, format!("`{text}` is not an RFC 3339 time: {e}"))
                })
            })
            .transpose()
    }

    fn number(&self, field: &str, default: u64, min: u64, max: u64) -> Result<u64, ApiError> {
        match self.text(field) {
            None => Ok(default),
            Some(text) => match text.parse::<u64>() {
                Ok(value) if (min..=max).contains(&value) => Ok(value),
                _ => Err(ApiError::bad_field(
                    field,
                    format!("`{text}` must be a whole number from {min} to {max}"),
                )),
            },
        }
    }

    fn one_of(&self, field: &str, allowed: &[&str]) -> Result<Option<String>, ApiError> {
        match self.text(field) {
            None => Ok(None),
            Some(value) if allowed.contains(&value) => Ok(Some(value.to_string())),
            Some(value) => Err(ApiError::bad_field(
                field,
                format!("`{value}` is not one of {}", allowed.join(", ")),
            )),
        }
    }

    fn window(&self) -> Result<(Option<Timestamp>, Option<Timestamp>), ApiError> {
        let (from, to) = (self.time("from")?, self.time("to")?);
        if let (Some(from), Some(to)) = (from, to) {
            if from > to {
                return Err(ApiError::bad_field("to", "`to` is before `from`"));
            }
        }
        Ok((from, to))
    }
}

fn caller(
    state: &AppState,
    headers: &HeaderMap,
    params: &HashMap<String, String>,
    role: Role,
) -> Result<Caller, ApiError> {
    authorize(
        &state.users,
        headers,
        params.get("token").map(String::as_str),
        role,
    )
}

/// Runs `work` against the store on a blocking thread.
async fn with_store<T: Send + 'static>(
    state: &Arc<AppState>,
    work: impl FnOnce(&mut dyn EventStore) -> Result<T, StoreError> + Send + 'static,
) -> Result<T, ApiError> {
    let shared = Arc::clone(state);
    let result = tokio::task::spawn_blocking(move || shared.pool.with(work))
        .await
        .map_err(|error| ApiError::store(format!("store task failed: {error}")))?;
    result.map_err(|error| {
        state.metrics.store_errors.fetch_add(1, Ordering::Relaxed);
        ApiError::store(error)
    })
}

fn audit(
    caller: &Caller,
    action: &str,
    subject: &str,
    query: &HashMap<String, String>,
    at: Timestamp,
) -> AuditEntry {
    let mut parameters: Vec<String> = query
        .iter()
        .filter(|(key, _)| key.as_str() != "token")
        .map(|(key, value)| format!("{key}={value}"))
        .collect();
    parameters.sort();
    AuditEntry {
        at,
        who: caller.name.clone(),
        role: caller.role.name().to_string(),
        action: action.to_string(),
        subject: subject.to_string(),
        query: parameters.join("&"),
        results: 0,
    }
}

pub(crate) async fn healthz(State(state): State<Arc<AppState>>) -> Response {
    match with_store(&state, |store| store.audit_log(None, 1).map(|_| ())).await {
        Ok(()) => Json(serde_json::json!({"status": "ok"})).into_response(),
        Err(error) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(serde_json::json!({"status": "store unavailable", "error": error.error})),
        )
            .into_response(),
    }
}

pub(crate) async fn metrics(State(state): State<Arc<AppState>>) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        state.metrics.render(&state.live.counters),
    )
        .into_response()
}

pub(crate) async fn openapi() -> Response {
    Json(crate::openapi::document()).into_response()
}

#[derive(Debug, Serialize)]
struct CameraView {
    id: String,
    description: Option<String>,
    intersection: Option<String>,
    approach: Option<String>,
    status: Option<crate::live::CameraStatus>,
}

pub(crate) async fn cameras(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    caller(&state, &headers, &params, Role::Operator)?;
    let cameras: Vec<CameraView> = state
        .cameras
        .iter()
        .map(|camera| CameraView {
            id: camera.id.clone(),
            description: camera.description.clone(),
            intersection: camera.intersection.clone(),
            approach: camera.approach.clone(),
            status: state
                .live
                .status(&roadsight_core::CameraId::new(&camera.id)),
        })
        .collect();
    Ok(keyed("cameras", cameras))
}

pub(crate) async fn counts(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    caller(&state, &headers, &params, Role::Operator)?;
    let fields = Fields(&params);
    let (from, to) = fields.window()?;
    let query = CountQuery {
        camera: fields.text("camera").map(str::to_string),
        kind: fields.one_of("kind", &["line", "movement"])?,
        counter: fields.text("counter").map(str::to_string),
        class: fields.one_of("class", &["car", "motorcycle", "bus", "truck", "bicycle"])?,
        from,
        to,
        limit: fields.number("limit", 1000, 1, 100_000)? as usize,
    };
    let counts = with_store(&state, move |store| store.counts(&query)).await?;
    Ok(keyed("counts", counts))
}

pub(crate) async fn plate_trace(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(plate): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers, &params, Role::Officer)?;
    let fields = Fields(&params);
    let (from, to) = fields.window()?;
    let normalised = normalise_plate(&plate);
    if normalised.len() < 4 || normalised.len() > 12 {
        return Err(ApiError::bad_field(
            "plate",
            "a plate has 4 to 12 letters and digits",
        ));
    }
    let mut entry = audit(
        &caller,
        "plate_trace",
        &normalised,
        &params,
        state.clock.now(),
    );
    // The store work runs on a blocking thread: it shares the state rather than copying the
    // routes settings (every camera link) per request.
    let shared = Arc::clone(&state);
    let trace = with_store(&state, move |store| {
        let trace = trace_plate(store, &normalised, from, to, &shared.routes)?;
        entry.results = trace.sightings as u64;
        store.record_audit(&entry)?;
        Ok(trace)
    })
    .await?;
    state.metrics.audit_records.fetch_add(1, Ordering::Relaxed);
    Ok(Json(trace).into_response())
}

pub(crate) async fn plate_search(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers, &params, Role::Officer)?;
    let fields = Fields(&params);
    let (from, to) = fields.window()?;
    let plate = normalise_plate(
        fields
            .text("q")
            .ok_or_else(|| ApiError::bad_field("q", "the plate to search for is required"))?,
    );
    if plate.len() < 3 || plate.len() > 12 {
        return Err(ApiError::bad_field(
            "q",
            "search with 3 to 12 letters and digits",
        ));
    }
    let limit = fields.number("limit", 20, 1, 200)? as usize;
    let mut entry = audit(&caller, "plate_search", &plate, &params, state.clock.now());
    let shared = Arc::clone(&state);
    let matches = with_store(&state, move |store| {
        let matches = search_plates(store, &plate, from, to, limit, &shared.routes)?;
        entry.results = matches.len() as u64;
        store.record_audit(&entry)?;
        Ok(matches)
    })
    .await?;
    state.metrics.audit_records.fetch_add(1, Ordering::Relaxed);
    Ok(keyed("matches", matches))
}

pub(crate) async fn od(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    caller(&state, &headers, &params, Role::Operator)?;
    let fields = Fields(&params);
    let (from, to) = fields.window()?;
    let interval_s = fields.number("interval_s", 900, 60, 86_400)?;
    let shared = Arc::clone(&state);
    let answer = with_store(&state, move |store| {
        origin_destination(store, from, to, interval_s, &shared.routes)
    })
    .await?;
    Ok(Json(answer).into_response())
}

pub(crate) async fn events(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers, &params, Role::Operator)?;
    let fields = Fields(&params);
    let (from, to) = fields.window()?;
    let kinds: Vec<String> = match fields.text("type") {
        None => Vec::new(),
        Some(list) => {
            let kinds: Vec<String> = list.split(',').map(|k| k.trim().to_string()).collect();
            if let Some(unknown) = kinds.iter().find(|k| !Event::KINDS.contains(&k.as_str())) {
                return Err(ApiError::bad_field(
                    "type",
                    format!(
                        "`{unknown}` is not an event type ({})",
                        Event::KINDS.join(", ")
                    ),
                ));
            }
            kinds
        }
    };
    let may_see_plates = caller.role >= Role::Officer;
    if !may_see_plates && kinds.iter().any(|k| k == "plate") {
        return Err(ApiError::forbidden("plate events need the officer role"));
    }
    let kinds = if kinds.is_empty() && !may_see_plates {
        Event::KINDS
            .iter()
            .filter(|k| **k != "plate")
            .map(|k| k.to_string())
            .collect()
    } else {
        kinds
    };
    let newest_first = match fields.one_of("order", &["oldest", "newest"])? {
        Some(order) => order == "newest",
        None => false,
    };
    let query = EventQuery {
        kinds,
        camera: fields.text("camera").map(str::to_string),
        from,
        to,
        limit: fields.number("limit", 500, 1, 10_000)? as usize,
        newest_first,
    };
    let audited =
        may_see_plates && (query.kinds.is_empty() || query.kinds.iter().any(|k| k == "plate"));
    let mut entry = audit(
        &caller,
        "events",
        "plate events",
        &params,
        state.clock.now(),
    );
    let events = with_store(&state, move |store| {
        let events = store.events(&query)?;
        if audited {
            entry.results = events
                .iter()
                .filter(|e| e.envelope.event.kind() == "plate")
                .count() as u64;
            store.record_audit(&entry)?;
        }
        Ok(events)
    })
    .await?;
    if audited {
        state.metrics.audit_records.fetch_add(1, Ordering::Relaxed);
    }
    Ok(keyed("events", events))
}

pub(crate) async fn evidence(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Path(address): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers, &params, Role::Officer)?;
    let well_formed = address
        .strip_prefix("sha256:")
        .is_some_and(|hex| hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()));
    if !well_formed {
        return Err(ApiError::bad_field(
            "address",
            "an evidence address is sha256: and 64 hex digits",
        ));
    }
    let mut entry = audit(&caller, "evidence", &address, &params, state.clock.now());
    let wanted = address.clone();
    let image = with_store(&state, move |store| {
        let image = store.evidence(&wanted)?;
        entry.results = u64::from(image.is_some());
        store.record_audit(&entry)?;
        Ok(image)
    })
    .await?;
    state.metrics.audit_records.fetch_add(1, Ordering::Relaxed);
    let image = image.ok_or_else(|| ApiError::not_found(format!("no evidence {address}")))?;
    Ok((
        [
            (header::CONTENT_TYPE, image.media_type),
            (
                header::CACHE_CONTROL,
                "private, max-age=31536000, immutable".to_string(),
            ),
        ],
        image.bytes,
    )
        .into_response())
}

pub(crate) async fn audit_log(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Params,
) -> Result<Response, ApiError> {
    caller(&state, &headers, &params, Role::Admin)?;
    let fields = Fields(&params);
    let from = fields.time("from")?;
    let limit = fields.number("limit", 100, 1, 10_000)? as usize;
    let entries = with_store(&state, move |store| store.audit_log(from, limit)).await?;
    Ok(keyed("entries", entries))
}

/// What a live client asked for.
#[derive(Debug, Clone)]
struct LiveFilter {
    kinds: Vec<String>,
    camera: Option<String>,
    plates: bool,
}

impl LiveFilter {
    fn wants(&self, envelope: &EventEnvelope) -> bool {
        let kind = envelope.event.kind();
        (self.plates || kind != "plate")
            && (self.kinds.is_empty() || self.kinds.iter().any(|k| k == kind))
            && self.camera.as_deref().is_none_or(|camera| {
                envelope
                    .event
                    .camera()
                    .is_some_and(|c| c.as_str() == camera)
            })
    }
}

pub(crate) async fn live(
    State(state): State<Arc<AppState>>,
    headers: HeaderMap,
    Query(params): Params,
    upgrade: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let caller = caller(&state, &headers, &params, Role::Operator)?;
    let fields = Fields(&params);
    let kinds: Vec<String> = fields
        .text("type")
        .map(|list| list.split(',').map(|k| k.trim().to_string()).collect())
        .unwrap_or_default();
    if let Some(unknown) = kinds.iter().find(|k| !Event::KINDS.contains(&k.as_str())) {
        return Err(ApiError::bad_field(
            "type",
            format!("`{unknown}` is not an event type"),
        ));
    }
    let plates = caller.role >= Role::Officer;
    if !plates && kinds.iter().any(|k| k == "plate") {
        return Err(ApiError::forbidden("plate events need the officer role"));
    }
    let filter = LiveFilter {
        kinds,
        camera: fields.text("camera").map(str::to_string),
        plates,
    };
    let receiver = state.live.subscribe();
    let shared = Arc::clone(&state);
    Ok(upgrade.on_upgrade(move |socket| stream_live(socket, receiver, filter, shared)))
}

async fn stream_live(
    mut socket: WebSocket,
    mut receiver: tokio::sync::broadcast::Receiver<Arc<EventEnvelope>>,
    filter: LiveFilter,
    state: Arc<AppState>,
) {
    use tokio::sync::broadcast::error::RecvError;
    state.live.counters.clients.fetch_add(1, Ordering::Relaxed);
    loop {
        tokio::select! {
            received = receiver.recv() => {
                let text = match received {
                    Ok(envelope) if filter.wants(&envelope) => serde_json::to_string(envelope.as_ref()).ok(),
                    Ok(_) => None,
                    Err(RecvError::Lagged(missed)) => {
                        state.live.counters.lagged.fetch_add(missed, Ordering::Relaxed);
                        Some(serde_json::json!({"type": "lagged", "missed": missed}).to_string())
                    }
                    Err(RecvError::Closed) => break,
                };
                if let Some(text) = text {
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
            }
            incoming = socket.recv() => {
                match incoming {
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => {}
                }
            }
        }
    }
    state.live.counters.clients.fetch_sub(1, Ordering::Relaxed);
}

/// `{"<key>": value}`, serialised as it is: `json!` would first turn it into a `Value`, where each
/// f32 (confidences, PCU) is widened to f64 and printed as, say, 0.8999999761581421 for 0.9.
fn keyed<T: serde::Serialize>(key: &'static str, value: T) -> Response {
    struct Keyed<T>(&'static str, T);
    impl<T: serde::Serialize> serde::Serialize for Keyed<T> {
        fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut map = serializer.serialize_map(Some(1))?;
            map.serialize_entry(self.0, &self.1)?;
            map.end()
        }
    }
    Json(Keyed(key, value)).into_response()
}
