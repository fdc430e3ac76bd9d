//! The embedded backend: one SQLite file in WAL mode (readers never block the writer).

use crate::schema::{self, Dialect, SightingRead};
use crate::{
    appearance_column, appearance_of_column, bound, merge_event_rows, queried_kinds, rank_matches,
    search_variants, sighting_of, sql_limit, store_prepared, AppendReport, AuditEntry,
    CameraWindow, CountQuery, EventQuery, EventRow, EventStore, Evidence, PlateMatch, Retention,
    RetentionReport, Sighting, SightingQuery, StoreError, StoredEvent,
};
use roadsight_core::counting::FlowCount;
use roadsight_core::{content_address, Event, Timestamp};
use rusqlite::config::DbConfig;
use rusqlite::wal::CheckpointMode;
use rusqlite::{params, Connection, OptionalExtension};
use std::ffi::c_int;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// A SQLite store.
#[derive(Debug)]
pub struct SqliteStore {
    /// Dropped before `_checkpointer` (fields drop in order, and the store only holds it): see [`Checkpointer`]'s `Drop`.
    connection: Connection,
    name: String,
    sql: schema::StoreSql,
    _checkpointer: Checkpointer,
}

/// WAL pages (4 KiB each) after which the checkpointer copies the WAL into the database: a
/// page written many times in between is copied once (measured: 1.36x the sightings per second
/// at a million sightings against SQLite's default of 1,000 pages).
const CHECKPOINT_PAGES: i32 = 50_000;
/// WAL pages, in `CHECKPOINT_PAGES`, at which the writer checkpoints itself whatever the checkpointer is doing: the
/// WAL stays bounded even if the thread cannot keep up.
const WRITER_CHECKPOINT_FACTOR: i32 = 4;
/// The WAL file is cut back to this after a checkpoint (both connections set it).
const WAL_SIZE_LIMIT_BYTES: i64 = 268_435_456;

/// The checkpointer thread's state, as the writer's WAL hook sees it.
const IDLE: u8 = 0;
const COPYING: u8 = 1;
const COPIED: u8 = 2;

/// Copies the WAL into the database file on a thread and connection of its own, so the writer
/// does not stop for most of it.
///
/// The writer's WAL hook wakes the thread (a queue of one) once the WAL holds
/// `CHECKPOINT_PAGES`. The writer keeps committing meanwhile, so when the thread is done the
/// frames of those commits are still uncopied, and SQLite only starts the WAL over once every
/// frame is copied; the writer's next commit therefore copies that remainder itself (a few
/// transactions' worth, not the whole WAL), and the WAL starts over. A failed checkpoint loses
/// nothing (the WAL still holds every commit); the next one copies what it left.
#[derive(Debug)]
struct Checkpointer {
    wake: Option<std::sync::mpsc::SyncSender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    /// Starts the thread with its own connection to `path`, and hooks `writer`'s commits to
    /// wake it at `pages` WAL pages (the writer copies on its own from four times that).
    fn start(
        path: &Path,
        writer: &mut Connection,
        store: &str,
        pages: i32,
    ) -> Result<Checkpointer, StoreError> {
        let fail = |operation: &'static str| failing(store, operation);
        let connection =
            Connection::open(path).map_err(fail("open the checkpointer's connection"))?;
        connection
            .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)
            .map_err(fail("set the checkpointer's WAL size limit"))?;
        // Until it has read the database, a connection does not know it is in WAL mode and
        // its checkpoints do nothing.
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(fail("read the checkpointer's journal mode"))?;
        let state = std::sync::Arc::new(std::sync::atomic::AtomicU8::new(IDLE));
        let thread_state = std::sync::Arc::clone(&state);
        let (wake, woken) = std::sync::mpsc::sync_channel::<()>(1);
        let thread = std::thread::Builder::new()
            .name("sqlite-checkpoint".into())
            .spawn(move || {
                while woken.recv().is_ok() {
                    let _ = connection.wal_checkpoint_v2(None::<&str>, CheckpointMode::PASSIVE);
                    thread_state.store(COPIED, Ordering::Release);
                }
            })
            .map_err(|error| StoreError::Backend {
                store: store.to_string(),
                operation: "start the checkpointer thread".into(),
                message: error.to_string(),
            })?;
        let hook_wake = wake.clone();
        let writer_pages = pages.saturating_mul(WRITER_CHECKPOINT_FACTOR);
        // Replaces SQLite's automatic checkpoint, which the writer would run itself. Its
        // checkpoints are best effort like the thread's: an error returned here would fail a
        // commit that has already happened.
        writer
            .wal_hook(Some(
                move |wal: &mut rusqlite::hooks::Wal, wal_pages: c_int| {
                    let now = state.load(Ordering::Acquire);
                    if now == COPIED || wal_pages >= writer_pages {
                        let _ = wal.checkpoint_v2(CheckpointMode::PASSIVE);
                        if now == COPIED {
                            state.store(IDLE, Ordering::Release);
                        }
                    } else if now == IDLE && wal_pages >= pages {
                        state.store(COPYING, Ordering::Release);
                        if hook_wake.try_send(()).is_err() {
                            state.store(IDLE, Ordering::Release);
                        }
                    }
                    Ok(())
                },
            ))
            .map_err(fail("hook the WAL"))?;
        Ok(Checkpointer {
            wake: Some(wake),
            thread: Some(thread),
        })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        // The writer's connection (and its hook's sender) is dropped first: the thread's queue
        // closes and it ends; its connection, the last one open, checkpoints as it closes.
        self.wake.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Maps a SQLite error to a [`StoreError`] naming the store and the operation.
/// Borrows both names and allocates only on an error: it is made for every statement.
fn failing<'a>(name: &'a str, operation: &'a str) -> impl Fn(rusqlite::Error) -> StoreError + 'a {
    move |error| StoreError::Backend {
        store: name.to_string(),
        operation: operation.to_string(),
        message: error.to_string(),
    }
}

impl SqliteStore {
    /// Opens or creates the file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_checkpointing_at(path, CHECKPOINT_PAGES, &mut |_| {})
    }

    /// [`SqliteStore::open`], calling `notice` before an existing store's schema is migrated.
    pub fn open_noting_migrations(
        path: &Path,
        notice: &mut dyn FnMut(&crate::MigrationNotice),
    ) -> Result<SqliteStore, StoreError> {
        Self::open_checkpointing_at(path, CHECKPOINT_PAGES, notice)
    }

    /// [`SqliteStore::open`], with the WAL copied into the database from `checkpoint_pages`.
    fn open_checkpointing_at(
        path: &Path,
        checkpoint_pages: i32,
        notice: &mut dyn FnMut(&crate::MigrationNotice),
    ) -> Result<SqliteStore, StoreError> {
        let name = format!("sqlite:{}", path.display());
        let fail = |operation: &str, error: rusqlite::Error| StoreError::Backend {
            store: name.clone(),
            operation: operation.to_string(),
            message: error.to_string(),
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|error| StoreError::Backend {
                store: name.clone(),
                operation: "create its folder".into(),
                message: error.to_string(),
            })?;
        }
        let mut connection = Connection::open(path).map_err(|e| fail("open", e))?;
        connection
            .busy_timeout(Duration::from_secs(10))
            .map_err(|e| fail("set busy timeout", e))?;
        connection
            .pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| fail("enable WAL", e))?;
        connection
            .pragma_update(None, "synchronous", "NORMAL")
            .map_err(|e| fail("set synchronous", e))?;
        // Event ids are random: their index pages are touched all over, so keep many in memory.
        connection
            .pragma_update(None, "cache_size", -131_072)
            .map_err(|e| fail("set cache size", e))?;
        connection
            .pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT_BYTES)
            .map_err(|e| fail("set WAL size limit", e))?;
        // The bundled SQLite plans with STAT4, so every statement with a parameter compared to
        // an indexed column was compiled again whenever the parameter changed: a quarter of a
        // plate trace's time. Each statement here is written for one index; its plan stays.
        connection
            .set_db_config(DbConfig::SQLITE_DBCONFIG_ENABLE_QPSG, true)
            .map_err(|e| fail("keep query plans", e))?;
        // Checkpoints every CHECKPOINT_PAGES (~200 MB), on a thread of their own.
        let checkpointer = Checkpointer::start(path, &mut connection, &name, checkpoint_pages)?;
        let mut store = SqliteStore {
            connection,
            name,
            sql: schema::StoreSql::new(Dialect::Sqlite),
            _checkpointer: checkpointer,
        };
        store.migrate(notice)?;
        Ok(store)
    }

    fn fail(&self, operation: &'static str) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        failing(&self.name, operation)
    }

    /// The sightings `read` selects (over `?1` plate, `?2`/`?3` the window, `?4` the limit).
    fn read_sightings(
        &self,
        read: SightingRead,
        plate: Option<&str>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit_to: usize,
    ) -> Result<Vec<Sighting>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(self.sql.sightings(read))
            .map_err(failing(&self.name, "prepare sightings"))?;
        let rows = statement
            .query_map(
                params![
                    plate,
                    bound(from, true),
                    bound(to, false),
                    sql_limit(limit_to)
                ],
                |row| {
                    Ok(Sighting {
                        event_id: row.get(0)?,
                        plate: row.get(1)?,
                        camera: row.get(2)?,
                        at: Timestamp::from_nanos(row.get(3)?),
                        track: u64::try_from(row.get::<_, i64>(4)?).unwrap_or(0),
                        confidence: row.get::<_, f64>(5)? as f32,
                        evidence: row.get(6)?,
                        appearance: match row.get_ref(7)? {
                            rusqlite::types::ValueRef::Blob(bytes) => {
                                appearance_of_column(Some(bytes))
                            }
                            _ => None,
                        },
                    })
                },
            )
            .map_err(failing(&self.name, "query sightings"))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(failing(&self.name, "read sightings"))
    }

    fn migrate(
        &mut self,
        notice: &mut dyn FnMut(&crate::MigrationNotice),
    ) -> Result<(), StoreError> {
        let name = self.name.clone();
        let fail = |operation: &'static str| failing(&name, operation);
        let transaction = self
            .connection
            .transaction()
            .map_err(fail("begin migration"))?;
        transaction
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_ns BIGINT NOT NULL)",
                [],
            )
            .map_err(fail("create schema_version"))?;
        let applied: i64 = transaction
            .query_row(
                "SELECT COALESCE(MAX(version), 0) FROM schema_version",
                [],
                |row| row.get(0),
            )
            .map_err(fail("read schema_version"))?;
        schema::check_not_newer(applied, &name)?;
        if let Some(pending) = schema::migration_notice(&name, applied) {
            notice(&pending);
        }
        for (version, statements) in schema::pending(applied, Dialect::Sqlite) {
            for statement in statements {
                transaction
                    .execute(&statement, [])
                    .map_err(|error| failing(&name, &format!("migration {version}"))(error))?;
            }
            transaction
                .execute(
                    "INSERT INTO schema_version (version, applied_ns) VALUES (?1, 0)",
                    params![version],
                )
                .map_err(fail("record migration"))?;
        }
        transaction.commit().map_err(fail("commit migration"))
    }
}

impl EventStore for SqliteStore {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn append(&mut self, events: &[Event]) -> Result<AppendReport, StoreError> {
        let name = self.name.as_str();
        let fail = |operation: &'static str| failing(name, operation);
        let mut report = AppendReport::default();
        let transaction = self
            .connection
            .transaction()
            .map_err(fail("begin append"))?;
        {
            let mut insert_event = transaction
                .prepare_cached(
                    "INSERT INTO events (id, kind, camera, at_ns, body) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                )
                .map_err(fail("prepare event insert"))?;
            let mut insert_sighting = transaction
                .prepare_cached(
                    "INSERT INTO sightings (event_id, plate, camera, at_ns, track, confidence, evidence, appearance) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )
                .map_err(fail("prepare sighting insert"))?;
            let mut insert_plate = transaction
                .prepare_cached(
                    "INSERT INTO plates (plate, first_ns, last_ns, sightings, best_confidence) VALUES (?1, ?2, ?2, 1, ?3)
                     ON CONFLICT (plate) DO NOTHING",
                )
                .map_err(fail("prepare plate insert"))?;
            let mut update_plate = transaction
                .prepare_cached(
                    "UPDATE plates SET first_ns = MIN(first_ns, ?2), last_ns = MAX(last_ns, ?2),
                     sightings = sightings + 1, best_confidence = MAX(best_confidence, ?3) WHERE plate = ?1",
                )
                .map_err(fail("prepare plate update"))?;
            let mut insert_delete = transaction
                .prepare_cached("INSERT INTO plate_deletes (variant, plate) VALUES (?1, ?2) ON CONFLICT DO NOTHING")
                .map_err(fail("prepare plate variant insert"))?;
            let mut insert_count = transaction
                .prepare_cached(
                    "INSERT INTO counts (event_id, camera, kind, counter, lane, direction, class, interval_start_ns, body)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )
                .map_err(fail("prepare count insert"))?;
            store_prepared(
                events,
                |event| {
                    let (id, body) = event.wire();
                    // The look goes as its column's bytes only, not as a second copy.
                    let sighting = sighting_of(&id, event).map(|mut sighting| {
                        let look = appearance_column(sighting.appearance.take().as_ref());
                        (sighting, look)
                    });
                    (id, body, sighting)
                },
                |event, (id, body, sighting)| {
                    let inserted = insert_event
                        .execute(params![
                            id,
                            event.kind(),
                            event.camera().map(|c| c.as_str()),
                            event.at().as_nanos(),
                            body
                        ])
                        .map_err(fail("insert event"))?;
                    if inserted == 0 {
                        report.duplicates += 1;
                        return Ok(());
                    }
                    report.inserted += 1;
                    if let Some((sighting, look)) = sighting {
                        insert_sighting
                            .execute(params![
                                sighting.event_id,
                                sighting.plate,
                                sighting.camera,
                                sighting.at.as_nanos(),
                                i64::try_from(sighting.track).unwrap_or(i64::MAX),
                                f64::from(sighting.confidence),
                                sighting.evidence,
                                look
                            ])
                            .map_err(fail("insert sighting"))?;
                        // A known plate (the common case) is one seek and write; a new one
                        // misses the update and is inserted.
                        let confidence = f64::from(sighting.confidence);
                        let at_ns = sighting.at.as_nanos();
                        let new_plate = update_plate
                            .execute(params![sighting.plate, at_ns, confidence])
                            .map_err(fail("update plate"))?
                            == 0
                            && insert_plate
                                .execute(params![sighting.plate, at_ns, confidence])
                                .map_err(fail("insert plate"))?
                                == 1;
                        if new_plate {
                            // A plate's one-deletion variants, for fuzzy search, once per
                            // plate.
                            for variant in
                                roadsight_core::plate_match::single_deletions(&sighting.plate)
                            {
                                insert_delete
                                    .execute(params![variant, sighting.plate])
                                    .map_err(fail("insert plate variant"))?;
                            }
                        }
                    }
                    if let Event::FlowCount(count) = event {
                        insert_count
                            .execute(params![
                                id,
                                count.camera.as_str(),
                                serde_plain(&count.kind),
                                count.counter,
                                count.lane,
                                count.direction.as_ref().map(serde_plain),
                                serde_plain(&count.class),
                                count.interval_start.as_nanos(),
                                serde_json::to_string(count).unwrap_or_default()
                            ])
                            .map_err(fail("insert count"))?;
                    }
                    Ok(())
                },
            )?;
        }
        transaction.commit().map_err(fail("commit append"))?;
        Ok(report)
    }

    fn put_evidence(
        &mut self,
        media_type: &str,
        bytes: &[u8],
        at: Timestamp,
    ) -> Result<String, StoreError> {
        let address = content_address(bytes);
        self.connection
            .execute(
                &self.sql.put_evidence,
                params![address, media_type, bytes, at.as_nanos()],
            )
            .map_err(self.fail("store evidence"))?;
        Ok(address)
    }

    fn evidence(&mut self, address: &str) -> Result<Option<Evidence>, StoreError> {
        self.connection
            .query_row(&self.sql.evidence, params![address], |row| {
                Ok(Evidence {
                    address: address.to_string(),
                    media_type: row.get(0)?,
                    bytes: row.get(1)?,
                })
            })
            .optional()
            .map_err(self.fail("read evidence"))
    }

    fn sightings(&mut self, query: &SightingQuery) -> Result<Vec<Sighting>, StoreError> {
        self.read_sightings(
            SightingRead::OfPlate,
            Some(&query.plate),
            query.from,
            query.to,
            query.limit,
        )
    }

    fn sightings_between(
        &mut self,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit_to: usize,
    ) -> Result<Vec<Sighting>, StoreError> {
        self.read_sightings(SightingRead::Between, None, from, to, limit_to)
    }

    fn passes_in(
        &mut self,
        windows: &[CameraWindow],
        limit_to: usize,
    ) -> Result<Vec<Sighting>, StoreError> {
        // One read transaction: one snapshot, and the shared lock taken once instead of
        // once per window (a trace reads a few dozen).
        let transaction = self
            .connection
            .unchecked_transaction()
            .map_err(self.fail("begin pass read"))?;
        let mut passes = Vec::new();
        for window in windows {
            // The camera takes the plate's place as the first parameter.
            passes.extend(self.read_sightings(
                SightingRead::PassesAt,
                Some(&window.camera),
                Some(window.from),
                Some(window.to),
                limit_to,
            )?);
        }
        transaction.commit().map_err(self.fail("end pass read"))?;
        Ok(passes)
    }

    fn search_plates(
        &mut self,
        plate: &str,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit_to: usize,
    ) -> Result<Vec<PlateMatch>, StoreError> {
        let variants = search_variants(plate);
        let placeholders = (1..=variants.len())
            .map(|i| format!("?{i}"))
            .collect::<Vec<_>>()
            .join(",");
        let sql = format!(
            "SELECT p.plate, p.sightings, p.first_ns, p.last_ns, p.best_confidence FROM plates p
             WHERE (p.plate IN ({placeholders}) OR p.plate IN (SELECT plate FROM plate_deletes WHERE variant IN ({placeholders})))
             AND p.last_ns >= ?{lo} AND p.first_ns <= ?{hi}",
            lo = variants.len() + 1,
            hi = variants.len() + 2
        );
        let mut values: Vec<rusqlite::types::Value> = variants
            .iter()
            .map(|v| rusqlite::types::Value::Text(v.clone()))
            .collect();
        values.push(rusqlite::types::Value::Integer(bound(from, true)));
        values.push(rusqlite::types::Value::Integer(bound(to, false)));
        // Cached: a plate's length sets the number of variants, so a handful of texts.
        let mut statement = self
            .connection
            .prepare_cached(&sql)
            .map_err(self.fail("prepare plate search"))?;
        let rows = statement
            .query_map(rusqlite::params_from_iter(values), |row| {
                Ok(PlateMatch {
                    plate: row.get(0)?,
                    distance: 0.0,
                    sightings: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                    first_seen: Timestamp::from_nanos(row.get(2)?),
                    last_seen: Timestamp::from_nanos(row.get(3)?),
                    best_confidence: row.get::<_, f64>(4)? as f32,
                })
            })
            .map_err(self.fail("search plates"))?;
        let name = self.name.clone();
        let candidates =
            rows.collect::<Result<Vec<_>, _>>()
                .map_err(|error| StoreError::Backend {
                    store: name,
                    operation: "read plate search".into(),
                    message: error.to_string(),
                })?;
        Ok(rank_matches(plate, candidates, limit_to))
    }

    fn counts(&mut self, query: &CountQuery) -> Result<Vec<FlowCount>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(&self.sql.counts)
            .map_err(self.fail("prepare counts"))?;
        let rows = statement
            .query_map(
                params![
                    query.camera,
                    query.kind,
                    query.counter,
                    query.class,
                    bound(query.from, true),
                    bound(query.to, false),
                    sql_limit(query.limit)
                ],
                |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)),
            )
            .map_err(self.fail("query counts"))?;
        let mut counts = Vec::new();
        for row in rows {
            let (id, body) = row.map_err(self.fail("read counts"))?;
            counts.push(
                serde_json::from_str(&body).map_err(|error| StoreError::Corrupt {
                    store: self.name.clone(),
                    id,
                    message: error.to_string(),
                })?,
            );
        }
        Ok(counts)
    }

    fn events(&mut self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(self.sql.events(query.newest_first))
            .map_err(failing(&self.name, "prepare events"))?;
        let mut rows = Vec::new();
        for kind in queried_kinds(query) {
            let read = statement
                .query_map(
                    params![
                        kind,
                        query.camera,
                        bound(query.from, true),
                        bound(query.to, false),
                        sql_limit(query.limit)
                    ],
                    |row| {
                        Ok(EventRow {
                            id: row.get(0)?,
                            body: row.get(1)?,
                            at_ns: row.get(2)?,
                        })
                    },
                )
                .map_err(failing(&self.name, "query events"))?;
            for row in read {
                rows.push(row.map_err(failing(&self.name, "read events"))?);
            }
        }
        merge_event_rows(&self.name, rows, query)
    }

    fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        self.connection
            .execute(
                &self.sql.record_audit,
                params![
                    entry.at.as_nanos(),
                    entry.who,
                    entry.role,
                    entry.action,
                    entry.subject,
                    entry.query,
                    i64::try_from(entry.results).unwrap_or(i64::MAX)
                ],
            )
            .map_err(self.fail("record audit"))?;
        Ok(())
    }

    fn audit_log(
        &mut self,
        from: Option<Timestamp>,
        limit_to: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let mut statement = self
            .connection
            .prepare_cached(&self.sql.audit_log)
            .map_err(self.fail("prepare audit log"))?;
        let rows = statement
            .query_map(params![bound(from, true), sql_limit(limit_to)], |row| {
                Ok(AuditEntry {
                    at: Timestamp::from_nanos(row.get(0)?),
                    who: row.get(1)?,
                    role: row.get(2)?,
                    action: row.get(3)?,
                    subject: row.get(4)?,
                    query: row.get(5)?,
                    results: u64::try_from(row.get::<_, i64>(6)?).unwrap_or(0),
                })
            })
            .map_err(self.fail("query audit log"))?;
        let name = self.name.clone();
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|error| StoreError::Backend {
                store: name,
                operation: "read audit log".into(),
                message: error.to_string(),
            })
    }

    fn apply_retention(
        &mut self,
        now: Timestamp,
        retention: &Retention,
    ) -> Result<RetentionReport, StoreError> {
        let name = self.name.clone();
        let fail = |operation: &'static str| failing(&name, operation);
        let transaction = self
            .connection
            .transaction()
            .map_err(fail("begin retention"))?;
        let mut pass = schema::RetentionPass::default();
        for &(field, sql) in schema::RETENTION {
            if !pass.needs(field) {
                continue;
            }
            let sql = schema::retention_sql(sql, Dialect::Sqlite);
            let deleted = if field.takes_cutoff() {
                transaction.execute(&sql, params![field.cutoff(now, retention)])
            } else {
                transaction.execute(&sql, [])
            }
            .map_err(fail("apply retention"))?;
            pass.record(field, deleted as u64);
        }
        transaction.commit().map_err(fail("commit retention"))?;
        Ok(pass.report())
    }
}

/// A unit enum's serde name (`car`, `line`, `forward`).
pub(crate) fn serde_plain<T: serde::Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(text)) => text,
        Ok(other) => other.to_string(),
        Err(_) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roadsight_core::{CameraId, TrackId, TrackPlate};

    fn file_len(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    /// A sure plate event: `text` read on track `track` of camera north at `at_ns`.
    fn plate_seen(text: &str, track: u64, at_ns: i64) -> Event {
        Event::Plate(TrackPlate {
            camera: CameraId::new("north"),
            track: TrackId(track),
            formatted: text.into(),
            char_confidence: vec![0.9; text.len()],
            text: text.into(),
            confidence: 0.9,
            rows: 1,
            valid: true,
            reads: 3,
            agreeing: 3,
            first_seen: Timestamp::from_nanos(at_ns),
            last_seen: Timestamp::from_nanos(at_ns),
            at: Timestamp::from_nanos(at_ns),
            evidence: None,
            candidate: false,
            appearance: None,
        })
    }

    /// The checkpointer thread copies the WAL into the database while the writer goes on
    /// committing, the WAL starts over instead of growing, and nothing is lost.
    #[test]
    fn the_checkpointer_copies_the_wal_while_the_writer_goes_on_and_loses_nothing() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("checkpointed.db");
        let wal = directory.path().join("checkpointed.db-wal");
        let event = |n: u64| {
            plate_seen(
                &format!("51G{n:05}"),
                n,
                1_795_392_000_000_000_000 + n as i64,
            )
        };
        let mut store = SqliteStore::open_checkpointing_at(&path, 20, &mut |_| {}).expect("open");
        for batch in 0..40u64 {
            let events: Vec<Event> = (0..100).map(|i| event(batch * 100 + i)).collect();
            store.append(&events).expect("append");
        }
        // Committed pages reach the database file while the writer's connection is open (the
        // thread works on its own time: give it up to 20 s).
        let mut waited = 0;
        while file_len(&path) < 400_000 && waited < 200 {
            std::thread::sleep(Duration::from_millis(100));
            waited += 1;
        }
        let (database, log) = (file_len(&path), file_len(&wal));
        assert!(database >= 400_000, "database {database} B, WAL {log} B");
        // Forty transactions each rewrote the indexes' pages: a WAL that never started over
        // would hold them all, several times the database.
        assert!(log < database, "database {database} B, WAL {log} B");
        drop(store);
        let mut reopened = SqliteStore::open(&path).expect("reopen");
        let found = reopened
            .sightings(&SightingQuery {
                plate: "51G03999".into(),
                from: None,
                to: None,
                limit: 10,
            })
            .expect("read");
        assert_eq!(found.len(), 1);
        let rows: i64 = reopened
            .connection
            .query_row("SELECT count(*) FROM sightings", [], |row| row.get(0))
            .expect("count");
        assert_eq!(rows, 4000);
    }

    /// A forgotten plate's one-deletion variants go with it, and only its: the variants
    /// statement runs after plates were forgotten, which the search cannot show (it finds
    /// plates, not variants).
    #[test]
    fn a_forgotten_plate_takes_its_variants_with_it() {
        let directory = tempfile::tempdir().expect("temp dir");
        let mut store = SqliteStore::open(&directory.path().join("variants.db")).expect("open");
        let day = 86_400_000_000_000i64;
        let t0 = 1_795_392_000_000_000_000i64;
        store
            .append(&[
                plate_seen("29B67890", 1, t0),
                plate_seen("30A12345", 2, t0 + 60 * day),
            ])
            .expect("append");
        let variants = |store: &SqliteStore, plate: &str| -> i64 {
            store
                .connection
                .query_row(
                    "SELECT COUNT(*) FROM plate_deletes WHERE plate = ?1",
                    [plate],
                    |row| row.get(0),
                )
                .expect("count variants")
        };
        assert_eq!(variants(&store, "29B67890"), 8);
        let removed = store
            .apply_retention(
                Timestamp::from_nanos(t0 + 60 * day),
                &Retention {
                    sightings_days: 30.0,
                    ..Retention::default()
                },
            )
            .expect("retention");
        assert_eq!(removed.sightings, 1);
        assert_eq!(variants(&store, "29B67890"), 0, "forgotten with its plate");
        assert_eq!(
            variants(&store, "30A12345"),
            8,
            "a plate kept keeps its own"
        );
    }

    /// A new store, and one already at this schema, open without a migration notice.
    #[test]
    fn only_an_existing_store_with_migrations_to_run_is_noted() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("new.db");
        let mut notices = Vec::new();
        for _ in 0..2 {
            let store = SqliteStore::open_noting_migrations(&path, &mut |notice| {
                notices.push(notice.clone())
            })
            .expect("open");
            drop(store);
        }
        assert_eq!(notices, []);
    }

    /// A store written by a roadsight whose schema stopped at version 1 (sightings indexed by
    /// `(plate, at_ns)`) opens migrated, and its sightings are found through the new index.
    #[test]
    fn a_version_1_store_is_migrated_and_its_sightings_still_traced() {
        let directory = tempfile::tempdir().expect("temp dir");
        let path = directory.path().join("v1.db");
        {
            let connection = Connection::open(&path).expect("open");
            connection
                .execute_batch(
                    "CREATE TABLE schema_version (version BIGINT PRIMARY KEY, applied_ns BIGINT NOT NULL);
                     INSERT INTO schema_version VALUES (1, 0)",
                )
                .expect("version table");
            let (version, statements) = schema::pending(0, Dialect::Sqlite)
                .into_iter()
                .next()
                .expect("migration 1");
            assert_eq!(version, 1);
            for statement in statements {
                connection.execute(&statement, []).expect("v1 schema");
            }
            connection
                .execute_batch(
                    "INSERT INTO sightings VALUES ('e1', '51G12345', 'north', 1795392001000000000, 1, 0.75, NULL);
                     INSERT INTO sightings VALUES ('e2', '51G12345', 'east', 1795395601000000000, 2, 0.875, NULL);
                     INSERT INTO plates VALUES ('51G12345', 1795392001000000000, 1795395601000000000, 2);
                     INSERT INTO plate_deletes VALUES ('51G1234', '51G12345')",
                )
                .expect("v1 rows");
        }
        let mut notices = Vec::new();
        let mut store =
            SqliteStore::open_noting_migrations(&path, &mut |notice| notices.push(notice.clone()))
                .expect("migrates");
        assert_eq!(
            notices,
            [crate::MigrationNotice {
                store: format!("sqlite:{}", path.display()),
                from: 1,
                to: schema::latest(),
            }],
            "the caller is told before the migrations run"
        );
        // The names of a table's indexes, and the steps of a statement's plan.
        let indexes = |store: &SqliteStore, table: &str| -> Vec<String> {
            store
                .connection
                .prepare("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?1 ORDER BY name")
                .expect("prepare")
                .query_map([table], |row| row.get(0))
                .expect("query")
                .collect::<Result<_, _>>()
                .expect("read")
        };
        let plan =
            |store: &SqliteStore, sql: &str, values: &[&dyn rusqlite::ToSql]| -> Vec<String> {
                store
                    .connection
                    .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                    .expect("prepare plan")
                    .query_map(values, |row| row.get(3))
                    .expect("plan")
                    .collect::<Result<_, _>>()
                    .expect("read plan")
            };
        assert_eq!(
            indexes(&store, "sightings"),
            ["sightings_passes", "sightings_slot_plate_at"]
        );
        let trace = store
            .sightings(&SightingQuery {
                plate: "51G12345".into(),
                from: None,
                to: None,
                limit: 10,
            })
            .expect("trace");
        assert_eq!(
            trace.iter().map(|s| s.camera.as_str()).collect::<Vec<_>>(),
            ["north", "east"]
        );
        // Each slot is a seek of the index, not a scan of the table.
        let steps = plan(
            &store,
            &store.sql.of_plate,
            params!["51G12345", 0i64, i64::MAX, 10i64],
        );
        assert!(
            steps.iter().any(|step| step
                .contains("SEARCH s USING INDEX sightings_slot_plate_at (<expr>=? AND plate=?")),
            "{steps:#?}"
        );
        // A time window over every plate reads the window's slots, sorted slot by slot (a
        // partial sort, never one of the whole window).
        let steps = plan(
            &store,
            &store.sql.between,
            params![None::<String>, 0i64, i64::MAX, 10i64],
        );
        assert!(
            steps.iter().any(|step| step
                .contains("SEARCH s USING INDEX sightings_slot_plate_at (<expr>>? AND <expr><?)"))
                && !steps
                    .iter()
                    .any(|step| step == "USE TEMP B-TREE FOR ORDER BY"),
            "{steps:#?}"
        );
        // A camera's passes with no plate (version 6) are a range of the partial index that
        // holds passes alone (plate sightings cost it nothing) and every column read.
        let steps = plan(
            &store,
            &store.sql.passes_at,
            params!["north", 0i64, i64::MAX, 10i64],
        );
        assert!(
            steps.iter().any(|step| step.contains(
                "SEARCH s USING COVERING INDEX sightings_passes (camera=? AND at_ns>? AND at_ns<?)"
            )),
            "{steps:#?}"
        );
        let window = store
            .sightings_between(None, None, 10)
            .expect("sightings between");
        assert_eq!(
            window.iter().map(|s| s.camera.as_str()).collect::<Vec<_>>(),
            ["north", "east"]
        );
        // An event query reads a range of (kind, at_ns) in order, newest first too, sorting
        // only events of the same time; events carry no camera index any more.
        for newest_first in [false, true] {
            let steps = plan(
                &store,
                store.sql.events(newest_first),
                params!["plate", None::<String>, 0i64, i64::MAX, 10i64],
            );
            assert!(
                steps.iter().any(|step| step
                    == "SEARCH events USING INDEX events_kind_at (kind=? AND at_ns>? AND at_ns<?)")
                    && !steps
                        .iter()
                        .any(|step| step == "USE TEMP B-TREE FOR ORDER BY"),
                "{steps:#?}"
            );
        }
        assert_eq!(
            indexes(&store, "events"),
            ["events_kind_at", "sqlite_autoindex_events_1"]
        );
        // Version 3 takes each plate's best read from the sightings it holds.
        let found = store
            .search_plates("51G12345", None, None, 5)
            .expect("search");
        assert_eq!(found[0].best_confidence, 0.875);
        // Version 5 rebuilds the variants in their key's order and keeps them: a misread of
        // the last digit still finds the plate.
        let table: String = store
            .connection
            .query_row(
                "SELECT sql FROM sqlite_master WHERE name = 'plate_deletes'",
                [],
                |row| row.get(0),
            )
            .expect("plate_deletes");
        assert!(table.contains("WITHOUT ROWID"), "{table}");
        let found = store
            .search_plates("51G12346", None, None, 5)
            .expect("search");
        assert_eq!(
            found.iter().map(|m| m.plate.as_str()).collect::<Vec<_>>(),
            ["51G12345"]
        );
    }
}
