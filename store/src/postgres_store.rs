//! The scale-out backend: PostgreSQL, with the same schema and behaviour as SQLite.

use crate::schema::{self, Dialect};
use crate::sqlite_store::serde_plain;
use crate::{
    bound, event_json, parse_body, rank_matches, search_variants, sighting_of, sql_limit,
    AppendReport, AuditEntry, CountQuery, EventQuery, EventStore, Evidence, PlateMatch, Retention,
    RetentionReport, Sighting, SightingQuery, StoreError, StoredEvent,
};
use postgres::{Client, NoTls};
use roadsight_core::counting::FlowCount;
use roadsight_core::{content_address, Event, EventEnvelope, Timestamp};

/// A PostgreSQL store.
pub struct PostgresStore {
    client: Client,
    name: String,
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

impl PostgresStore {
    /// Connects, optionally inside its own `schema` (created if missing; tests use one each),
    /// and brings the schema up to date.
    pub fn connect(url: &str, schema_name: Option<&str>) -> Result<PostgresStore, StoreError> {
        let name = match schema_name {
            Some(schema_name) => format!("{} (schema {schema_name})", redact(url)),
            None => redact(url),
        };
        let client = Client::connect(url, NoTls).map_err(|error| StoreError::Backend {
            store: name.clone(),
            operation: "connect".into(),
            message: error.to_string(),
        })?;
        let mut store = PostgresStore { client, name };
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
        store.migrate()?;
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

    /// Sightings matching `filter` (over `$1` plate, `$2`/`$3` the window), oldest first.
    fn read_sightings(
        &mut self,
        filter: &str,
        plate: Option<&str>,
        from: Option<Timestamp>,
        to: Option<Timestamp>,
        limit_to: usize,
    ) -> Result<Vec<Sighting>, StoreError> {
        let fail = self.fail("query sightings");
        let sql = format!(
            "SELECT event_id, plate, camera, at_ns, track, confidence, evidence FROM sightings {filter}
             ORDER BY at_ns, event_id LIMIT $4"
        );
        let rows = self
            .client
            .query(
                sql.as_str(),
                &[
                    &plate,
                    &bound(from, true),
                    &bound(to, false),
                    &sql_limit(limit_to),
                ],
            )
            .map_err(fail)?;
        Ok(rows
            .iter()
            .map(|row| Sighting {
                event_id: row.get(0),
                plate: row.get(1),
                camera: row.get(2),
                at: Timestamp::from_nanos(row.get(3)),
                track: u64::try_from(row.get::<_, i64>(4)).unwrap_or(0),
                confidence: row.get::<_, f64>(5) as f32,
                evidence: row.get(6),
            })
            .collect())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
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
            .map_err(f_read)?
            .get(0);
        schema::check_not_newer(applied, &name)?;
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
        let fail = |operation: &str| self.fail(operation);
        let (f_begin, f_prepare, f_event, f_sighting, f_plate, f_variant, f_count, f_commit) = (
            fail("begin append"),
            fail("prepare append"),
            fail("insert event"),
            fail("insert sighting"),
            fail("update plate"),
            fail("insert plate variant"),
            fail("insert count"),
            fail("commit append"),
        );
        let mut report = AppendReport::default();
        let mut transaction = self.client.transaction().map_err(f_begin)?;
        let insert_event = transaction
            .prepare(
                "INSERT INTO events (id, kind, camera, at_ns, body) VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
            )
            .map_err(&f_prepare)?;
        let insert_sighting = transaction
            .prepare(
                "INSERT INTO sightings (event_id, plate, camera, at_ns, track, confidence, evidence) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            )
            .map_err(&f_prepare)?;
        let upsert_plate = transaction
            .prepare(
                "INSERT INTO plates (plate, first_ns, last_ns, sightings) VALUES ($1, $2, $2, 1)
                 ON CONFLICT (plate) DO UPDATE SET first_ns = LEAST(plates.first_ns, excluded.first_ns),
                 last_ns = GREATEST(plates.last_ns, excluded.last_ns), sightings = plates.sightings + 1",
            )
            .map_err(&f_prepare)?;
        let insert_variant = transaction
            .prepare(
                "INSERT INTO plate_deletes (variant, plate) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .map_err(&f_prepare)?;
        let insert_count = transaction
            .prepare(
                "INSERT INTO counts (event_id, camera, kind, counter, lane, direction, class, interval_start_ns, body)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .map_err(&f_prepare)?;
        for event in events {
            let id = event.id();
            let body = event_json(event);
            let camera = event.camera().map(|c| c.as_str().to_string());
            let inserted = transaction
                .execute(
                    &insert_event,
                    &[&id, &event.kind(), &camera, &event.at().as_nanos(), &body],
                )
                .map_err(&f_event)?;
            if inserted == 0 {
                report.duplicates += 1;
                continue;
            }
            report.inserted += 1;
            if let Some(sighting) = sighting_of(&id, event) {
                let track = i64::try_from(sighting.track).unwrap_or(i64::MAX);
                transaction
                    .execute(
                        &insert_sighting,
                        &[
                            &sighting.event_id,
                            &sighting.plate,
                            &sighting.camera,
                            &sighting.at.as_nanos(),
                            &track,
                            &f64::from(sighting.confidence),
                            &sighting.evidence,
                        ],
                    )
                    .map_err(&f_sighting)?;
                transaction
                    .execute(&upsert_plate, &[&sighting.plate, &sighting.at.as_nanos()])
                    .map_err(&f_plate)?;
                for variant in roadsight_core::plate_match::single_deletions(&sighting.plate) {
                    transaction
                        .execute(&insert_variant, &[&variant, &sighting.plate])
                        .map_err(&f_variant)?;
                }
            }
            if let Event::FlowCount(count) = event {
                let direction = count.direction.as_ref().map(serde_plain);
                transaction
                    .execute(
                        &insert_count,
                        &[
                            &id,
                            &count.camera.as_str(),
                            &serde_plain(&count.kind),
                            &count.counter,
                            &count.lane,
                            &direction,
                            &serde_plain(&count.class),
                            &count.interval_start.as_nanos(),
                            &serde_json::to_string(count).unwrap_or_default(),
                        ],
                    )
                    .map_err(&f_count)?;
            }
        }
        transaction.commit().map_err(f_commit)?;
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
                "INSERT INTO evidence (address, media_type, bytes, stored_ns) VALUES ($1, $2, $3, $4) ON CONFLICT (address) DO NOTHING",
                &[&address, &media_type, &bytes, &at.as_nanos()],
            )
            .map_err(fail)?;
        Ok(address)
    }

    fn evidence(&mut self, address: &str) -> Result<Option<Evidence>, StoreError> {
        let fail = self.fail("read evidence");
        let row = self
            .client
            .query_opt(
                "SELECT media_type, bytes FROM evidence WHERE address = $1",
                &[&address],
            )
            .map_err(fail)?;
        Ok(row.map(|row| Evidence {
            address: address.to_string(),
            media_type: row.get(0),
            bytes: row.get(1),
        }))
    }

    fn sightings(&mut self, query: &SightingQuery) -> Result<Vec<Sighting>, StoreError> {
        self.read_sightings(
            "WHERE plate = $1 AND at_ns >= $2 AND at_ns <= $3",
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
        self.read_sightings(
            "WHERE $1::TEXT IS NULL AND at_ns >= $2 AND at_ns <= $3",
            None,
            from,
            to,
            limit_to,
        )
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
                "SELECT p.plate, p.sightings, p.first_ns, p.last_ns FROM plates p
                 WHERE (p.plate = ANY($1) OR p.plate IN (SELECT plate FROM plate_deletes WHERE variant = ANY($1)))
                 AND p.last_ns >= $2 AND p.first_ns <= $3",
                &[&variants, &bound(from, true), &bound(to, false)],
            )
            .map_err(fail)?;
        let candidates = rows
            .iter()
            .map(|row| PlateMatch {
                plate: row.get(0),
                distance: 0.0,
                sightings: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                first_seen: Timestamp::from_nanos(row.get(2)),
                last_seen: Timestamp::from_nanos(row.get(3)),
            })
            .collect();
        Ok(rank_matches(plate, candidates, limit_to))
    }

    fn counts(&mut self, query: &CountQuery) -> Result<Vec<FlowCount>, StoreError> {
        let fail = self.fail("query counts");
        let rows = self
            .client
            .query(
                "SELECT event_id, body FROM counts
                 WHERE ($1::TEXT IS NULL OR camera = $1) AND ($2::TEXT IS NULL OR kind = $2)
                 AND ($3::TEXT IS NULL OR counter = $3) AND ($4::TEXT IS NULL OR class = $4)
                 AND interval_start_ns >= $5 AND interval_start_ns <= $6
                 ORDER BY interval_start_ns, camera, counter, event_id LIMIT $7",
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
            .map_err(fail)?;
        rows.iter()
            .map(|row| {
                let id: String = row.get(0);
                let body: String = row.get(1);
                parse_body(&self.name, &id, &body)
            })
            .collect()
    }

    fn events(&mut self, query: &EventQuery) -> Result<Vec<StoredEvent>, StoreError> {
        let fail = self.fail("query events");
        let kinds: Option<Vec<String>> = (!query.kinds.is_empty()).then(|| query.kinds.clone());
        let rows = self
            .client
            .query(
                "SELECT id, body FROM events
                 WHERE ($1::TEXT[] IS NULL OR kind = ANY($1)) AND ($2::TEXT IS NULL OR camera = $2)
                 AND at_ns >= $3 AND at_ns <= $4
                 ORDER BY CASE WHEN $6 THEN -at_ns ELSE at_ns END, id LIMIT $5",
                &[
                    &kinds,
                    &query.camera,
                    &bound(query.from, true),
                    &bound(query.to, false),
                    &sql_limit(query.limit),
                    &query.newest_first,
                ],
            )
            .map_err(fail)?;
        rows.iter()
            .map(|row| {
                let id: String = row.get(0);
                let body: String = row.get(1);
                let envelope: EventEnvelope = parse_body(&self.name, &id, &body)?;
                Ok(StoredEvent { id, envelope })
            })
            .collect()
    }

    fn record_audit(&mut self, entry: &AuditEntry) -> Result<(), StoreError> {
        let fail = self.fail("record audit");
        let results = i64::try_from(entry.results).unwrap_or(i64::MAX);
        self.client
            .execute(
                "INSERT INTO audit_log (at_ns, who, role, action, subject, query, results) VALUES ($1, $2, $3, $4, $5, $6, $7)",
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
                "SELECT at_ns, who, role, action, subject, query, results FROM audit_log
                 WHERE at_ns >= $1 ORDER BY at_ns DESC, id DESC LIMIT $2",
                &[&bound(from, true), &sql_limit(limit_to)],
            )
            .map_err(fail)?;
        Ok(rows
            .iter()
            .map(|row| AuditEntry {
                at: Timestamp::from_nanos(row.get(0)),
                who: row.get(1),
                role: row.get(2),
                action: row.get(3),
                subject: row.get(4),
                query: row.get(5),
                results: u64::try_from(row.get::<_, i64>(6)).unwrap_or(0),
            })
            .collect())
    }

    fn apply_retention(
        &mut self,
        now: Timestamp,
        retention: &Retention,
    ) -> Result<RetentionReport, StoreError> {
        let fail = self.fail("apply retention");
        let mut transaction = self.client.transaction().map_err(&fail)?;
        let mut report = RetentionReport::default();
        for (field, sql) in schema::RETENTION {
            let deleted = if field.takes_cutoff() {
                transaction.execute(*sql, &[&field.cutoff(now, retention)])
            } else {
                transaction.execute(*sql, &[])
            }
            .map_err(&fail)?;
            field.record(&mut report, deleted);
        }
        transaction.commit().map_err(&fail)?;
        Ok(report)
    }
}
