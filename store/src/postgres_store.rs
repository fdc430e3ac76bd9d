//! The scale-out backend: PostgreSQL, with the same schema and behaviour as SQLite.

use crate::schema::{self, Dialect, SightingRead};
use crate::sqlite_store::serde_plain;
use crate::{
    appearance_column, appearance_of_column, bound, merge_event_rows, parse_body, queried_kinds,
    rank_matches, search_variants, sighting_of, sql_limit, AppendReport, AuditEntry, CameraWindow,
    CountQuery, EventQuery, EventRow, EventStore, Evidence, PlateMatch, Retention, RetentionReport,
    Sighting, SightingQuery, StoreError, StoredEvent,
};
use postgres::{Client, NoTls};
use roadsight_core::counting::FlowCount;
use roadsight_core::{content_address, Event, Timestamp};

/// A PostgreSQL store.
pub struct PostgresStore {
    client: Client,
    name: String,
    sql: schema::StoreSql,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("PostgresStore")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// `url` without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// The passes in many windows in one statement (`$1` cameras, `$2`/`$3` the windows' ends in
/// nanoseconds, `$4` the limit per window): per window a range of the partial index
/// `sightings_passes`, as SQLite reads one window at a time (`StoreSql::passes_at`).
const PASSES_IN_WINDOWS: &str = "
    SELECT s.event_id, s.plate, s.camera, s.at_ns, s.track, s.confidence, s.evidence, s.appearance
    FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[]) WITH ORDINALITY AS w(camera, from_ns, to_ns, n)
    CROSS JOIN LATERAL (
        SELECT p.* FROM sightings p
        WHERE p.plate = '' AND p.camera = w.camera AND p.at_ns >= w.from_ns AND p.at_ns <= w.to_ns
        ORDER BY p.at_ns, p.event_id LIMIT $4) AS s
    ORDER BY w.n, s.at_ns, s.event_id";

/// A sighting from a row of its columns in the order the reads select them.
fn sighting_of_row(row: &postgres::Row) -> Result<Sighting, postgres::Error> {
    Ok(Sighting {
        event_id: row.try_get(0)?,
        plate: row.try_get(1)?,
        camera: row.try_get(2)?,
        at: Timestamp::from_nanos(row.try_get(3)?),
        track: u64::try_from(row.try_get::<_, i64>(4)?).unwrap_or(0),
        confidence: row.try_get::<_, f64>(5)? as f32,
        evidence: row.try_get(6)?,
        appearance: appearance_of_column(row.try_get::<_, Option<&[u8]>>(7)?),
    })
}

impl PostgresStore {
    /// Connects, optionally inside its own `schema` (created if missing; tests use one each),
    /// and brings the schema up to date.
    pub fn connect(url: &str, schema_name: Option<&str>) -> Result<PostgresStore, StoreError> {
        Self::connect_noting_migrations(url, schema_name, &mut |_| {})
    }

    /// [`PostgresStore::connect`], calling `notice` before an existing store's schema is
    /// migrated.
    pub fn connect_noting_migrations(
        url: &str,
        schema_name: Option<&str>,
        notice: &mut dyn FnMut(&crate::MigrationNotice),
    ) -> Result<PostgresStore, StoreError> {
        let name = match schema_name {
            Some(schema_name) => format!("{} (schema {schema_name})", redact(url)),
            None => redact(url),
        };
        let client = Client::connect(url, NoTls).map_err(|error| StoreError::Backend {
            store: name.clone(),
            operation: "connect".into(),
            message: error.to_string(),
        })?;
        let mut store = PostgresStore {
            client,
            name,
            sql: schema::StoreSql::new(Dialect::Postgres),
        };
        if let Some(schema_name) = schema_name {
            if !schema_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
            {
                return Err(StoreError::Url {
                    url: redact(url),
                    message: format!("schema {schema_name:?}: letters, digits and _ only"),
                });
            }
            let sql = format!(
                "CREATE SCHEMA IF NOT EXISTS {schema_name}; SET search_path TO {schema_name}"
            );
            store
                .client
                .batch_execute(&sql)
                .map_err(store.fail("select schema"))?;
        }
        store.migrate(notice)?;
        Ok(store)
    }

    fn fail(&self, operation: &str) -> impl Fn(postgres::Error) -> StoreError {
        let operation = operation.to_string();
        let name = self.name.clone();
        move |error| StoreError::Backend {
            store: name.clone(),
            operation: operation.clone(),
            message: match error.as_db_error() {
                Some(db) => db.message().to_string(),
                None => error.to_string(),
            },
        }
    }

    /// The sightings `read` selects (over `$1` plate, `$2`/`$3` the window, `$4` the limit).
    fn read_sightings(
        &mut self,
        read: SightingRead,
        plate: Option<&str>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit_to: usize,
    ) -> Result<Vec<Sighting>, StoreError> {
        let fail = self.fail("query sightings");
        let sql = self.sql.sightings(read);
        let rows = self
            .client
            .query(
                sql,
                &[
                    &plate,
                    &bound(from, true),
                    &bound(to, false),
                    &sql_limit(limit_to),
                ],
            )
            .map_err(&fail)?;
        rows.iter()
            .map(sighting_of_row)
            .collect::<Result<_, postgres::Error>>()
            .map_err(fail)
    }

    fn migrate(
        &mut self,
        notice: &mut dyn FnMut(&crate::MigrationNotice),
    ) -> Result<(), StoreError> {
        let fail = |operation: &str| self.fail(operation);
        let (f_begin, f_lock, f_create, f_read, f_run, f_record, f_commit) = (
            fail("begin migration"),
            fail("lock for migration"),
            fail("create schema_version"),
            fail("read schema_version"),
            fail("migrate"),
            fail("record migration"),
            fail("commit migration"),
        );
        let name = self.name.clone();
        let mut transaction = self.client.transaction().map_err(f_begin)?;
        // Two services starting together migrate one after the other.
        transaction
            .execute("SELECT pg_advisory_xact_lock(7354321)", &[])
            .map_err(f_lock)?;
        transaction
            .execute(
                "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT PRIMARY KEY, applied_ns BIGINT NOT NULL)",
                &[],
            )
            .map_err(f_create)?;
        let applied: i64 = transaction
            .query_one("SELECT COALESCE(MAX(version), 0) FROM schema_version", &[])
            .map_err(&f_read)?
            .try_get(0)
            .map_err(&f_read)?;
        schema::check_not_newer(applied, &name)?;
        if let Some(pending) = schema::migration_notice(&name, applied) {
            notice(&pending);
        }
        for (version, statements) in schema::pending(applied, Dialect::Postgres) {
            for statement in statements {
                transaction
                    .execute(statement.as_str(), &[])
                    .map_err(&f_run)?;
            }
            transaction
                .execute(
                    "INSERT INTO schema_version (version, applied_ns) VALUES ($1, 0)",
                    &[&version],
                )
                .map_err(&f_record)?;
        }
        transaction.commit().map_err(f_commit)
    }
}

impl EventStore for PostgresStore {
    fn describe(&self) -> String {
        self.name.clone()
    }

    fn append(&mut self, events: &[Event]) -> Result<AppendReport, StoreError> {
        // One statement per table per batch (arrays unnested server-side), not one per row:
        // a batch costs a handful of round trips whatever its size.
        let fail = self.fail("append");
        let mut ids = Vec::with_capacity(events.len());
        let mut kinds = Vec::with_capacity(events.len());
        let mut cameras: Vec<Option<String>> = Vec::with_capacity(events.len());
        let mut times = Vec::with_capacity(events.len());
        let mut bodies = Vec::with_capacity(events.len());
        for event in events {
            let (id, body) = event.wire();
            ids.push(id);
            kinds.push(event.kind().to_string());
            cameras.push(event.camera().map(|c| c.as_str().to_string()));
            times.push(event.at().as_nanos());
            bodies.push(body);
        }
        let mut transaction = self.client.transaction().map_err(&fail)?;
        let inserted: std::collections::HashSet<String> = transaction
            .query(
                "INSERT INTO events (id, kind, camera, at_ns, body)
                 SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::TEXT[])
                 ON CONFLICT (id) DO NOTHING RETURNING id",
                &[&ids, &kinds, &cameras, &times, &bodies],
            )
            .map_err(&fail)?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()
            .map_err(&fail)?;
        let report = AppendReport {
            inserted: inserted.len(),
            duplicates: events.len() - inserted.len(),
        };
        // What the new events add to the other tables (each id once, even if repeated in the batch).
        let mut taken = std::collections::HashSet::new();
        let new_events = || {
            events
                .iter()
                .zip(&ids)
                .filter(|(_, id)| inserted.contains(*id))
        };
        let sightings: Vec<Sighting> = new_events()
            .filter_map(|(event, id)| sighting_of(id, event))
            .filter(|sighting| taken.insert(sighting.event_id.clone()))
            .collect();
        if !sightings.is_empty() {
            let column =
                |pick: fn(&Sighting) -> String| sightings.iter().map(pick).collect::<Vec<String>>();
            let at: Vec<i64> = sightings.iter().map(|s| s.at.as_nanos()).collect();
            let track: Vec<i64> = sightings
                .iter()
                .map(|s| i64::try_from(s.track).unwrap_or(i64::MAX))
                .collect();
            let confidence: Vec<f64> = sightings.iter().map(|s| f64::from(s.confidence)).collect();
            let evidence: Vec<Option<String>> =
                sightings.iter().map(|s| s.evidence.clone()).collect();
            let appearance: Vec<Option<Vec<u8>>> = sightings
                .iter()
                .map(|s| appearance_column(s.appearance.as_ref()))
                .collect();
            transaction
                .execute(
                    "INSERT INTO sightings (event_id, plate, camera, at_ns, track, confidence, evidence, appearance)
                     SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::BIGINT[], $5::BIGINT[],
                     $6::DOUBLE PRECISION[], $7::TEXT[], $8::BYTEA[])",
                    &[
                        &column(|s| s.event_id.clone()),
                        &column(|s| s.plate.clone()),
                        &column(|s| s.camera.clone()),
                        &at,
                        &track,
                        &confidence,
                        &evidence,
                        &appearance,
                    ],
                )
                .map_err(&fail)?;
            // Per plate in this batch: first and last time, how many, and the best confidence.
            let mut plates: std::collections::BTreeMap<&str, (i64, i64, i64, f64)> =
                std::collections::BTreeMap::new();
            for sighting in &sightings {
                let at = sighting.at.as_nanos();
                let confidence = f64::from(sighting.confidence);
                let entry = plates
                    .entry(&sighting.plate)
                    .or_insert((at, at, 0, confidence));
                entry.0 = entry.0.min(at);
                entry.1 = entry.1.max(at);
                entry.2 += 1;
                entry.3 = entry.3.max(confidence);
            }
            let names: Vec<String> = plates.keys().map(|p| p.to_string()).collect();
            let firsts: Vec<i64> = plates.values().map(|v| v.0).collect();
            let lasts: Vec<i64> = plates.values().map(|v| v.1).collect();
            let counts: Vec<i64> = plates.values().map(|v| v.2).collect();
            let best: Vec<f64> = plates.values().map(|v| v.3).collect();
            let new_plates: Vec<String> = transaction
                .query(
                    "WITH upserted AS (
                     INSERT INTO plates (plate, first_ns, last_ns, sightings, best_confidence)
                     SELECT * FROM UNNEST($1::TEXT[], $2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::DOUBLE PRECISION[])
                     ON CONFLICT (plate) DO UPDATE SET first_ns = LEAST(plates.first_ns, excluded.first_ns),
                     last_ns = GREATEST(plates.last_ns, excluded.last_ns),
                     sightings = plates.sightings + excluded.sightings,
                     best_confidence = GREATEST(plates.best_confidence, excluded.best_confidence)
                     RETURNING plate, (xmax = 0) AS created)
                     SELECT plate FROM upserted WHERE created",
                    &[&names, &firsts, &lasts, &counts, &best],
                )
                .map_err(&fail)?
                .iter()
                .map(|row| row.try_get(0))
                .collect::<Result<_, _>>()
                .map_err(&fail)?;
            let mut variants = Vec::new();
            let mut owners = Vec::new();
            for plate in &new_plates {
                for variant in roadsight_core::plate_match::single_deletions(plate) {
                    variants.push(variant);
                    owners.push(plate.clone());
                }
            }
            if !variants.is_empty() {
                transaction
                    .execute(
                        "INSERT INTO plate_deletes (variant, plate) SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[])
                         ON CONFLICT DO NOTHING",
                        &[&variants, &owners],
                    )
                    .map_err(&fail)?;
            }
        }
        let counts: Vec<(&String, &roadsight_core::counting::FlowCount)> = new_events()
            .filter_map(|(event, id)| match event {
                Event::FlowCount(count) => Some((id, count)),
                _ => None,
            })
            .filter(|(id, _)| taken.insert((*id).clone()))
            .collect();
        if !counts.is_empty() {
            let text = |pick: &dyn Fn(&roadsight_core::counting::FlowCount) -> String| {
                counts.iter().map(|(_, c)| pick(c)).collect::<Vec<String>>()
            };
            let ids: Vec<String> = counts.iter().map(|(id, _)| (*id).clone()).collect();
            let lanes: Vec<Option<String>> = counts.iter().map(|(_, c)| c.lane.clone()).collect();
            let directions: Vec<Option<String>> = counts
                .iter()
                .map(|(_, c)| c.direction.as_ref().map(serde_plain))
                .collect();
            let starts: Vec<i64> = counts
                .iter()
                .map(|(_, c)| c.interval_start.as_nanos())
                .collect();
            transaction
                .execute(
                    "INSERT INTO counts (event_id, camera, kind, counter, lane, direction, class, interval_start_ns, body)
                     SELECT * FROM UNNEST($1::TEXT[], $2::TEXT[], $3::TEXT[], $4::TEXT[], $5::TEXT[], $6::TEXT[],
                     $7::TEXT[], $8::BIGINT[], $9::TEXT[])",
                    &[
                        &ids,
                        &text(&|c| c.camera.to_string()),
                        &text(&|c| serde_plain(&c.kind)),
                        &text(&|c| c.counter.clone()),
                        &lanes,
                        &directions,
                        &text(&|c| serde_plain(&c.class)),
                        &starts,
                        &text(&|c| serde_json::to_string(c).unwrap_or_default()),
                    ],
                )
                .map_err(&fail)?;
        }
        transaction.commit().map_err(&fail)?;
        Ok(report)
    }

    fn put_evidence(
        &mut self,
        media_type: &str,
        bytes: &[u8],
        at: Timestamp,
    ) -> Result<String, StoreError> {
        let address = content_address(bytes);
        let fail = self.fail("store evidence");
        self.client
            .execute(
                self.sql.put_evidence.as_str(),
                &[&address, &media_type, &bytes, &at.as_nanos()],
            )
            .map_err(fail)?;
        Ok(address)
    }

    fn evidence(&mut self, address: &str) -> Result<Option<Evidence>, StoreError> {
        let fail = self.fail("read evidence");
        let row = self
            .client
            .query_opt(self.sql.evidence.as_str(), &[&address])
            .map_err(&fail)?;
        row.map(|row| {
            Ok(Evidence {
                address: address.to_string(),
                media_type: row.try_get(0)?,
                bytes: row.try_get(1)?,
            })
        })
        .transpose()
        .map_err(fail)
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
        if windows.is_empty() {
            return Ok(Vec::new());
        }
        let fail = self.fail("query passes");
        let cameras: Vec<&str> = windows.iter().map(|w| w.camera.as_str()).collect();
        let froms: Vec<i64> = windows.iter().map(|w| w.from.as_nanos()).collect();
        let tos: Vec<i64> = windows.iter().map(|w| w.to.as_nanos()).collect();
        let rows = self
            .client
            .query(
                PASSES_IN_WINDOWS,
                &[&cameras, &froms, &tos, &sql_limit(limit_to)],
            )
            .map_err(&fail)?;
        rows.iter()
            .map(sighting_of_row)
            .collect::<Result<_, postgres::Error>>()
            .map_err(fail)
    }

    fn search_plates(
        &mut self,
        plate: &str,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit_to: usize,
    ) -> Result<Vec<PlateMatch>, StoreError> {
        let variants = search_variants(plate);
        let fail = self.fail("search plates");
        let rows = self
            .client
            .query(
                "SELECT p.plate, p.sightings, p.first_ns, p.last_ns, p.best_confidence FROM plates p
                 WHERE (p.plate = ANY($1) OR p.plate IN (SELECT plate FROM plate_deletes WHERE variant = ANY($1)))
                 AND p.last_ns >= $2 AND p.first_ns <= $3",
                &[&variants, &bound(from, true), &bound(to, false)],
            )
            .map_err(&fail)?;
        let candidates = rows
            .iter()
            .map(|row| {
                Ok(PlateMatch {
                    plate: row.try_get(0)?,
                    distance: 0.0,
                    sightings: u64::try_from(row.try_get::<_, i64>(1)?).unwrap_or(0),
                    first_seen: Timestamp::from_nanos(row.try_get(2)?),
                    last_seen: Timestamp::from_nanos(row.try_get(3)?),
                    best_confidence: row.try_get::<_, f64>(4)? as f32,
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(fail)?;
        Ok(rank_matches(plate, candidates, limit_to))
    }

    fn counts(&mut self, query: &CountQuery) -> Result<Vec<FlowCount>, StoreError> {
        let fail = self.fail("query counts");
        let rows = self
            .client
            .query(
                self.sql.counts.as_str(),
                &[
                    &query.camera,
                    &query.kind,
                    &query.counter,
                    &query.class,
                    &bound(query.from, true),
                    &bound(query.to, false),
                    &sql_limit(query.limit),
                ],
            )
            .map_err(&fail)?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0).map_err(&fail)?;
                let body: String = row.try_get(1).map_err(&fail)?;
                parse_body(&self.name, &id, &body)
            })
            .collect()
    }

    fn events(&mut self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let fail = self.fail("query events");
        // Prepared once for all the types (a text query would be prepared per type).
        let statement = self
            .client
            .prepare(self.sql.events(query.newest_first))
            .map_err(&fail)?;
        let mut rows = Vec::new();
        for kind in queried_kinds(query) {
            let read = self
                .client
                .query(
                    &statement,
                    &[
                        &kind,
                        &query.camera,
                        &bound(query.from, true),
                        &bound(query.to, false),
                        &sql_limit(query.limit),
                    ],
                )
                .map_err(&fail)?;
            for row in &read {
                rows.push(EventRow {
                    id: row.try_get(0).map_err(&fail)?,
                    body: row.try_get(1).map_err(&fail)?,
                    at_ns: row.try_get(2).map_err(&fail)?,
                });
            }
        }
        merge_event_rows(&self.name, rows, query)
    }

    fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        let fail = self.fail("record audit");
        let results = i64::try_from(entry.results).unwrap_or(i64::MAX);
        self.client
            .execute(
                self.sql.record_audit.as_str(),
                &[
                    &entry.at.as_nanos(),
                    &entry.who,
                    &entry.role,
                    &entry.action,
                    &entry.subject,
                    &entry.query,
                    &results,
                ],
            )
            .map_err(fail)?;
        Ok(())
    }

    fn audit_log(
        &mut self,
        from: Option<Timestamp>,
        limit_to: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        let fail = self.fail("query audit log");
        let rows = self
            .client
            .query(
                self.sql.audit_log.as_str(),
                &[&bound(from, true), &sql_limit(limit_to)],
            )
            .map_err(&fail)?;
        rows.iter()
            .map(|row| {
                Ok(AuditEntry {
                    at: Timestamp::from_nanos(row.try_get(0)?),
                    who: row.try_get(1)?,
                    role: row.try_get(2)?,
                    action: row.try_get(3)?,
                    subject: row.try_get(4)?,
                    query: row.try_get(5)?,
                    results: u64::try_from(row.try_get::<_, i64>(6)?).unwrap_or(0),
                })
            })
            .collect::<Result<_, postgres::Error>>()
            .map_err(fail)
    }

    fn apply_retention(
        &mut self,
        now: Timestamp,
        retention: &Retention,
    ) -> Result<RetentionReport, StoreError> {
        let fail = self.fail("apply retention");
        let mut transaction = self.client.transaction().map_err(&fail)?;
        let mut pass = schema::RetentionPass::default();
        for &(field, sql) in schema::RETENTION {
            if !pass.needs(field) {
                continue;
            }
            let sql = schema::retention_sql(sql, Dialect::Postgres);
            let deleted = if field.takes_cutoff() {
                transaction.execute(sql.as_str(), &[&field.cutoff(now, retention)])
            } else {
                transaction.execute(sql.as_str(), &[])
            }
            .map_err(&fail)?;
            pass.record(field, deleted);
        }
        transaction.commit().map_err(&fail)?;
        Ok(pass.report())
    }
}
