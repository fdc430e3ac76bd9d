//! # roadsight-store
//!
//! The event store behind one trait, [`EventStore`], with two backends that share one schema
//! and one set of migrations:
//!
//! - [`SqliteStore`]: one file, bundled SQLite in WAL mode, the embedded default. The main job
//!   runs with it on a machine that has nothing else.
//! - [`PostgresStore`]: PostgreSQL, for the city at scale (~15 million sightings a day).
//!
//! What it keeps:
//! - **events**: every [`Event`] as its wire JSON, keyed by [`Event::id`] and indexed by type
//!   and time. Writes are idempotent: appending an event already stored is a counted
//!   duplicate, never a second row, so replaying footage or redelivering messages duplicates
//!   nothing.
//! - **sightings**: each plate event, indexed by ten-minute time slot, plate and time, for
//!   plate traces (inserts stay in the current slot's part of the index; a trace seeks each
//!   slot of its window) and for every time window over sightings (read slot by slot); with
//!   **plates** (one row per plate text: first and last sighting, how many, the most
//!   confident read) and its single-deletion neighbourhood, so a fuzzy search finds every plate
//!   within one edit through an index instead of a scan.
//! - **counts**: each closed interval count, by camera and interval.
//! - **evidence**: images, content-addressed (`sha256:<hex>`): the same image is stored once.
//! - **audit_log**: who asked what about which plate, when, and how many results came back.
//!
//! A SQLite append of hundreds of events or more has each event's JSON, id and sightings row
//! made on a second thread, a bounded queue ahead of the writer.
//!
//! [`open`] takes a URL: `sqlite:PATH` or `postgres://user@host:port/db`. Errors name the
//! store and the operation. Retention ([`EventStore::apply_retention`]) deletes by age and
//! then the evidence no sighting refers to any more.

mod postgres_store;
mod schema;
mod sqlite_store;

pub use postgres_store::PostgresStore;
pub use sqlite_store::SqliteStore;

use roadsight_core::counting::FlowCount;
use roadsight_core::{Appearance, Event, EventEnvelope, Timestamp};
use serde::{Deserialize, Serialize};

/// What went wrong, naming the store (its URL without credentials) and the operation.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store {store}: {operation}: {message}")]
    Backend {
        store: String,
        operation: String,
        message: String,
    },
    #[error("store URL {url:?}: {message}")]
    Url { url: String, message: String },
    #[error("store {store}: event {id} in the store is not a valid event: {message}")]
    Corrupt {
        store: String,
        id: String,
        message: String,
    },
}

/// How an append went.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct AppendReport {
    pub inserted: usize,
    /// Events already stored (same id), left as they were.
    pub duplicates: usize,
}

/// A plate seen at a camera, or a vehicle seen with no plate voted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sighting {
    pub event_id: String,
    /// Empty for a vehicle's pass with no plate voted (a `vehicle_pass` event).
    pub plate: String,
    pub camera: String,
    pub at: Timestamp,
    pub track: u64,
    pub confidence: f32,
    /// The evidence image's content address.
    pub evidence: Option<String>,
    /// The vehicle's look, where the event gave one (stored in its compact form, 128 bytes).
    pub appearance: Option<Appearance>,
}

/// Sightings of one plate in a time window (an empty plate: the vehicle passes with no plate
/// voted).
#[derive(Debug, Clone, PartialEq)]
pub struct SightingQuery {
    pub plate: String,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
}

/// A camera and a window of time at it, both ends included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CameraWindow {
    pub camera: String,
    pub from: Timestamp,
    pub to: Timestamp,
}

/// A plate found by fuzzy search.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlateMatch {
    pub plate: String,
    /// Weighted edit distance to the query (look-alike swaps cost 0.5).
    pub distance: f64,
    pub sightings: u64,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// The most confident read among all its sightings. Below `[routes] anchor_confidence`
    /// the plate was only ever a candidate read: an unsure reading of some vehicle's plate.
    pub best_confidence: f32,
}

/// Interval counts matching every given field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CountQuery {
    pub camera: Option<String>,
    /// `line` or `movement`.
    pub kind: Option<String>,
    pub counter: Option<String>,
    pub class: Option<String>,
    /// On the interval's start.
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
}

/// Events by type, camera and time (on [`Event::at`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventQuery {
    /// `type` tags; empty means all.
    pub kinds: Vec<String>,
    pub camera: Option<String>,
    pub from: Option<Timestamp>,
    pub to: Option<Timestamp>,
    pub limit: usize,
    /// Newest first (the default is oldest first).
    pub newest_first: bool,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StoredEvent {
    pub id: String,
    #[serde(flatten)]
    pub envelope: EventEnvelope,
}

/// A stored image.
#[derive(Debug, Clone, PartialEq)]
pub struct Evidence {
    pub address: String,
    pub media_type: String,
    pub bytes: Vec<u8>,
}

/// One question about personal data, and its answer's size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// Who asked (the token's user).
    pub who: String,
    pub role: String,
    /// What kind of question: `plate_trace`, `plate_search`, `evidence`, ...
    pub action: String,
    /// What it was about (the plate, the evidence address).
    pub subject: String,
    /// The question's parameters, as the caller gave them.
    pub query: String,
    pub results: u64,
}

/// How long each kind of record is kept (the city config's `[store.retention]`).
pub use roadsight_core::RetentionConfig as Retention;

/// Rows deleted by a retention pass.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionReport {
    pub events: u64,
    pub sightings: u64,
    pub counts: u64,
    pub evidence: u64,
    pub audit: u64,
}

impl std::ops::AddAssign for RetentionReport {
    /// Adds another pass's rows (totals over a long run).
    fn add_assign(&mut self, pass: Self) {
        self.events += pass.events;
        self.sightings += pass.sightings;
        self.counts += pass.counts;
        self.evidence += pass.evidence;
        self.audit += pass.audit;
    }
}

/// The store, whichever backend.
pub trait EventStore: Send {
    /// `sqlite:PATH` or `postgres://host/db` (no credentials), for messages.
    fn describe(&self) -> String;

    /// Stores `events` in one transaction; events already stored are counted, not repeated.
    fn append(&mut self, events: &[Event]) -> Result<AppendReport, StoreError>;

    /// Stores an image once per content; returns its address (`sha256:<hex>`).
    fn put_evidence(
        &mut self,
        media_type: &str,
        bytes: &[u8],
        at: Timestamp,
    ) -> Result<String, StoreError>;

    fn evidence(&mut self, address: &str) -> Result<Option<Evidence>, StoreError>;

    /// Sightings of exactly `query.plate`, oldest first.
    fn sightings(&mut self, query: &SightingQuery) -> Result<Vec<Sighting>, StoreError>;

    /// The passes with no plate voted (sightings of the empty plate) in each of `windows`
    /// (at its camera, in its time), at most `limit` per window: what route tracing may join
    /// to a plate's route by its look. Each window's oldest first, the windows in the order
    /// given (a pass in two windows comes twice), all read from one snapshot of the store in
    /// one go: SQLite reads them in one read transaction, PostgreSQL in one statement.
    fn passes_in(
        &mut self,
        windows: &[CameraWindow],
        limit: usize,
    ) -> Result<Vec<Sighting>, StoreError>;

    /// Every sighting in a window, oldest first (for routes and origin-destination).
    fn sightings_between(
        &mut self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<Sighting>, StoreError>;

    /// Plates within one edit of `plate`, nearest first (look-alike swaps nearer), seen in the
    /// window when one is given.
    fn search_plates(
        &mut self,
        plate: &str,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<PlateMatch>, StoreError>;

    fn counts(&mut self, query: &CountQuery) -> Result<Vec<FlowCount>, StoreError>;

    /// Events, oldest first (or newest first when the query asks), events of the same time in
    /// the order of their ids. Each type is read on its own, in order, up to the limit, and
    /// the reads merged: a query stops early however many events its window holds.
    fn events(&mut self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError>;

    fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError>;

    /// Audit entries, newest first.
    fn audit_log(
        &mut self,
        from: Option<Timestamp>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError>;

    /// Deletes what is older than `retention` allows at `now`.
    fn apply_retention(
        &mut self,
        now: Timestamp,
        retention: &Retention,
    ) -> Result<RetentionReport, StoreError>;
}

/// An existing store about to be brought up to this roadsight's schema. On a store of millions
/// of sightings the migrations rewrite indexes for minutes, so a caller says so first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationNotice {
    /// The store, as [`EventStore::describe`] names it.
    pub store: String,
    /// The schema version the store has, and the one it is migrated to.
    pub from: i64,
    pub to: i64,
}

/// Opens (and migrates) the store at `url`: `sqlite:PATH` (created if missing) or
/// `postgres://...` / `postgresql://...`.
pub fn open(url: &str) -> Result<Box<dyn EventStore>, StoreError> {
    open_noting_migrations(url, &mut |_| {})
}

/// [`open`], calling `notice` before an existing store's schema is migrated (not for a new
/// store, which is made in an instant).
pub fn open_noting_migrations(
    url: &str,
    notice: &mut dyn FnMut(&MigrationNotice),
) -> Result<Box<dyn EventStore>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite:") {
        if path.is_empty() {
            return Err(StoreError::Url {
                url: url.to_string(),
                message: "no file after sqlite:".into(),
            });
        }
        return Ok(Box::new(SqliteStore::open_noting_migrations(
            std::path::Path::new(path),
            notice,
        )?));
    }
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        return Ok(Box::new(PostgresStore::connect_noting_migrations(
            url, None, notice,
        )?));
    }
    Err(StoreError::Url {
        url: url.to_string(),
        message: "expected sqlite:PATH or postgres://user@host:port/database".into(),
    })
}

/// Appends of at least this many events are prepared on a second thread while the writer
/// stores the ones already prepared; smaller ones are prepared inline (a thread costs more
/// than a few events' JSON).
const PREPARED_ON_A_THREAD_FROM: usize = 512;
/// Events per chunk handed from the preparing thread to the writer.
const PREPARED_CHUNK: usize = 256;
/// Chunks prepared and not yet stored. Queue policy: the preparing thread blocks when the
/// writer is this far behind, so an append holds at most this many chunks beyond the
/// writer's.
const PREPARED_CHUNKS_QUEUED: usize = 8;

/// Calls `store` on each of `events` in order with what `prepare` made of it. What needs no
/// database (an event's JSON and SHA-256 id, its sightings row: about a fifth of a SQLite
/// insert's time) is made for a large append on a second thread, a bounded queue of chunks
/// ahead of the writer. The first error from `store` stops the append and the preparing
/// thread with it.
pub(crate) fn store_prepared<T: Send, E>(
    events: &[Event],
    prepare: impl Fn(&Event) -> T + Sync,
    mut store: impl FnMut(&Event, T) -> Result<(), E>,
) -> Result<(), E> {
    let inline = |store: &mut dyn FnMut(&Event, T) -> Result<(), E>, events: &[Event]| {
        events
            .iter()
            .try_for_each(|event| store(event, prepare(event)))
    };
    if events.len() < PREPARED_ON_A_THREAD_FROM {
        return inline(&mut store, events);
    }
    std::thread::scope(|scope| {
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Vec<T>>(PREPARED_CHUNKS_QUEUED);
        let prepare = &prepare;
        let preparing = std::thread::Builder::new()
            .name("store-prepare".into())
            .spawn_scoped(scope, move || {
                for chunk in events.chunks(PREPARED_CHUNK) {
                    // A closed queue: the writer stopped on an error.
                    if sender.send(chunk.iter().map(prepare).collect()).is_err() {
                        break;
                    }
                }
            });
        if preparing.is_err() {
            // No thread to be had: the same work, inline.
            return inline(&mut store, events);
        }
        let mut stored = 0;
        for prepared in receiver.iter() {
            for (event, made) in events[stored..].iter().zip(prepared) {
                store(event, made)?;
                stored += 1;
            }
        }
        // The queue closes early only if the preparing thread panicked, and the scope
        // re-raises that panic on return; events are never skipped silently.
        inline(&mut store, &events[stored..])
    })
}

/// What both backends derive from an event when they store it.
pub(crate) fn sighting_of(id: &str, event: &Event) -> Option<Sighting> {
    match event {
        Event::Plate(plate) => Some(Sighting {
            event_id: id.to_string(),
            plate: plate.text.clone(),
            camera: plate.camera.to_string(),
            at: plate.at,
            track: plate.track.0,
            confidence: plate.confidence,
            evidence: plate.evidence.clone(),
            appearance: plate.appearance.clone(),
        }),
        Event::VehiclePass(pass) => Some(Sighting {
            event_id: id.to_string(),
            plate: String::new(),
            camera: pass.camera.to_string(),
            at: pass.at,
            track: pass.track.0,
            confidence: 0.0,
            evidence: pass.evidence.clone(),
            appearance: Some(pass.appearance.clone()),
        }),
        _ => None,
    }
}

/// A sighting's look as the `appearance` column holds it: its compact form
/// ([`Appearance::to_le_bytes`], 128 bytes).
pub(crate) fn appearance_column(appearance: Option<&Appearance>) -> Option<Vec<u8>> {
    appearance.map(|a| a.to_le_bytes().to_vec())
}

/// The `appearance` column read back; bytes of the wrong length (written by hand, or cut)
/// are no look rather than a failed query.
pub(crate) fn appearance_of_column(bytes: Option<&[u8]>) -> Option<Appearance> {
    bytes.and_then(|b| Appearance::from_le_bytes(b).ok())
}

/// Nanoseconds for a window bound (open bounds become the extremes).
pub(crate) fn bound(at: Option<Timestamp>, low: bool) -> i64 {
    match at {
        Some(at) => at.as_nanos(),
        None if low => i64::MIN,
        None => i64::MAX,
    }
}

/// Orders fuzzy candidates: nearest, then most seen, then alphabetical; keeps `limit`.
pub(crate) fn rank_matches(
    query: &str,
    candidates: Vec<PlateMatch>,
    limit: usize,
) -> Vec<PlateMatch> {
    // The empty plate summarises the passes with no plate voted: never a match.
    let mut matches: Vec<PlateMatch> = candidates
        .into_iter()
        .filter(|candidate| {
            !candidate.plate.is_empty()
                && roadsight_core::plate_match::within_edits(query, &candidate.plate, 1).is_some()
        })
        .map(|candidate| PlateMatch {
            distance: roadsight_core::plate_match::weighted_distance(query, &candidate.plate),
            ..candidate
        })
        .collect();
    matches.sort_by(|a, b| {
        a.distance
            .total_cmp(&b.distance)
            .then(b.sightings.cmp(&a.sightings))
            .then(a.plate.cmp(&b.plate))
    });
    matches.dedup_by(|a, b| a.plate == b.plate);
    matches.truncate(limit);
    matches
}

/// The variants a fuzzy search looks up: the query and its single deletions.
pub(crate) fn search_variants(plate: &str) -> Vec<String> {
    let mut variants = roadsight_core::plate_match::single_deletions(plate);
    variants.push(plate.to_string());
    variants
}

/// A row limit for SQL.
pub(crate) fn sql_limit(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX)
}

/// The types an event query reads, each once: the query's, or every type.
pub(crate) fn queried_kinds(query: &EventQuery) -> Vec<String> {
    let mut kinds: Vec<String> = if query.kinds.is_empty() {
        Event::KINDS.iter().map(|kind| kind.to_string()).collect()
    } else {
        query.kinds.clone()
    };
    kinds.sort_unstable();
    kinds.dedup();
    kinds
}

/// One stored event as read, its body not yet parsed.
pub(crate) struct EventRow {
    pub(crate) at_ns: i64,
    pub(crate) id: String,
    pub(crate) body: String,
}

/// An event query's answer from its per-type reads (each already in order and limited):
/// ordered by time and then id, newest first when asked, at most the limit, bodies parsed.
pub(crate) fn merge_event_rows(
    store: &str,
    mut rows: Vec<EventRow>,
    query: &EventQuery,
) -> Result<Vec<StoredEvent>, StoreError> {
    rows.sort_unstable_by(|a, b| (a.at_ns, &a.id).cmp(&(b.at_ns, &b.id)));
    if query.newest_first {
        rows.reverse();
    }
    rows.truncate(query.limit);
    rows.into_iter()
        .map(|row| {
            let envelope = parse_body(store, &row.id, &row.body)?;
            Ok(StoredEvent {
                id: row.id,
                envelope,
            })
        })
        .collect()
}

/// A stored JSON body parsed back, or the row named as corrupt.
pub(crate) fn parse_body<T: serde::de::DeserializeOwned>(
    store: &str,
    id: &str,
    body: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(body).map_err(|error| StoreError::Corrupt {
        store: store.to_string(),
        id: id.to_string(),
        message: error.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use roadsight_core::{CameraHealth, CameraId, HealthState};

    fn health_events(n: u64) -> Vec<Event> {
        (0..n)
            .map(|i| {
                Event::CameraHealth(CameraHealth {
                    camera: CameraId::new(&format!("cam-{i}")),
                    at: Timestamp::from_nanos(1_795_392_000_000_000_000 + i as i64),
                    state: HealthState::Connected,
                })
            })
            .collect()
    }

    #[test]
    fn every_event_is_stored_in_order_with_what_was_prepared_for_it() {
        // Below the threshold (inline) and above it (a second thread, chunks not a multiple
        // of the batch).
        for n in [3, 2_000] {
            let events = health_events(n);
            let mut seen = Vec::new();
            let done: Result<(), ()> = store_prepared(
                &events,
                |event| event.wire(),
                |event, (id, json)| {
                    seen.push((event.camera().map(|c| c.to_string()), id, json));
                    Ok(())
                },
            );
            assert_eq!(done, Ok(()));
            let expected: Vec<_> = events
                .iter()
                .map(|event| {
                    let (id, json) = event.wire();
                    (event.camera().map(|c| c.to_string()), id, json)
                })
                .collect();
            assert_eq!(seen, expected, "{n} events");
        }
    }

    #[test]
    fn the_first_error_stops_the_append_and_the_preparing_thread() {
        let events = health_events(5_000);
        let mut stored = 0;
        let done = store_prepared(
            &events,
            |event| event.at(),
            |_, at| {
                if at == events[1_234].at() {
                    return Err(format!("refused at {}", stored));
                }
                stored += 1;
                Ok(())
            },
        );
        assert_eq!(done, Err("refused at 1234".to_string()));
        assert_eq!(stored, 1_234);
    }
}
