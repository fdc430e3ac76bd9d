//! One schema, two dialects. Migrations run in order, each once, recorded in
//! `schema_version`; a store opened by a newer roadsight than wrote it is migrated forward.

/// Which SQL the migration is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

/// `(version, statements)`; statements are separated by `;` and written once for both
/// dialects, with `BLOB`, `REAL` and `AUTOID` rewritten per dialect and `SLOT_NS` replaced by
/// [`SIGHTING_SLOT_NS`].
///
/// Events are keyed by their id, which begins with the event's time. (Clustering SQLite's
/// table on it, `WITHOUT ROWID`, measured no faster: 67,600 against 68,700 known-plate
/// sightings/s.) Sightings carry no key of their own: an event's id is unique in `events`, and a sighting is
/// only written with its event. Queries over all kinds go through `kind IN (...)`, so
/// `(kind, at_ns)` serves time windows too.
///
/// Version 3 keeps each plate's most confident read (`plates.best_confidence`), so a search can
/// tell a plate only ever read as a candidate; a store migrated to it takes the best of the
/// sightings it still holds.
///
/// Version 4 drops two indexes every insert paid for. No query used `events (camera, at_ns)`
/// (an event query filters cameras on the rows `(kind, at_ns)` finds); time windows over
/// sightings (`sightings_between`, retention, the store's oldest sighting) read
/// `(at_ns / SLOT_NS, ...)` by slot instead of `(at_ns)`: 1.32x the known-plate insert rate
/// (the README's event-store figures).
///
/// Version 7 keeps a sighting's look in its compact form, 128 bytes (`BLOB`), instead of
/// version 6's JSON array of 64 numbers: a trace decoded every look it read from text, a fifth
/// of its time on a day of passes (the README's event-store figures), and each row and pass
/// index entry is smaller. Looks kept as JSON are converted.
///
/// Version 5 keeps SQLite's `plate_deletes` in its key's order only (`WITHOUT ROWID`): each
/// variant of a new plate was a row appended to the table and an entry in its key's index,
/// and is now the entry alone (PostgreSQL's table is rebuilt as it was: it has no rowid).
const MIGRATIONS: &[(i64, &str)] = &[
    (
        1,
        "
    CREATE TABLE events (
        id TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        camera TEXT,
        at_ns BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX events_kind_at ON events (kind, at_ns);
    CREATE INDEX events_camera_at ON events (camera, at_ns);
    CREATE TABLE sightings (
        event_id TEXT NOT NULL,
        plate TEXT NOT NULL,
        camera TEXT NOT NULL,
        at_ns BIGINT NOT NULL,
        track BIGINT NOT NULL,
        confidence REAL NOT NULL,
        evidence TEXT
    );
    CREATE INDEX sightings_plate_at ON sightings (plate, at_ns);
    CREATE INDEX sightings_at ON sightings (at_ns);
    CREATE TABLE plates (
        plate TEXT PRIMARY KEY,
        first_ns BIGINT NOT NULL,
        last_ns BIGINT NOT NULL,
        sightings BIGINT NOT NULL
    );
    CREATE TABLE plate_deletes (
        variant TEXT NOT NULL,
        plate TEXT NOT NULL,
        PRIMARY KEY (variant, plate)
    );
    CREATE TABLE counts (
        event_id TEXT PRIMARY KEY,
        camera TEXT NOT NULL,
        kind TEXT NOT NULL,
        counter TEXT NOT NULL,
        lane TEXT,
        direction TEXT,
        class TEXT NOT NULL,
        interval_start_ns BIGINT NOT NULL,
        body TEXT NOT NULL
    );
    CREATE INDEX counts_camera_interval ON counts (camera, interval_start_ns);
    CREATE INDEX counts_interval ON counts (interval_start_ns);
    CREATE TABLE evidence (
        address TEXT PRIMARY KEY,
        media_type TEXT NOT NULL,
        bytes BLOB NOT NULL,
        stored_ns BIGINT NOT NULL
    );
    CREATE INDEX evidence_stored ON evidence (stored_ns);
    CREATE TABLE audit_log (
        id AUTOID,
        at_ns BIGINT NOT NULL,
        who TEXT NOT NULL,
        role TEXT NOT NULL,
        action TEXT NOT NULL,
        subject TEXT NOT NULL,
        query TEXT NOT NULL,
        results BIGINT NOT NULL
    );
    CREATE INDEX audit_at ON audit_log (at_ns)
    ",
    ),
    (
        2,
        "
    DROP INDEX sightings_plate_at;
    CREATE INDEX sightings_slot_plate_at ON sightings ((at_ns / SLOT_NS), plate, at_ns)
    ",
    ),
    (
        3,
        "
    ALTER TABLE plates ADD COLUMN best_confidence REAL NOT NULL DEFAULT 0;
    UPDATE plates SET best_confidence = m.best
        FROM (SELECT plate, MAX(confidence) AS best FROM sightings GROUP BY plate) AS m
        WHERE m.plate = plates.plate
    ",
    ),
    (
        4,
        "
    DROP INDEX events_camera_at;
    DROP INDEX sightings_at
    ",
    ),
    (
        5,
        "
    CREATE TABLE plate_deletes_keyed (
        variant TEXT NOT NULL,
        plate TEXT NOT NULL,
        PRIMARY KEY (variant, plate)
    ) WITHOUT ROWID;
    INSERT INTO plate_deletes_keyed (variant, plate) SELECT variant, plate FROM plate_deletes;
    DROP TABLE plate_deletes;
    ALTER TABLE plate_deletes_keyed RENAME TO plate_deletes
    ",
    ),
    (
        6,
        "
    ALTER TABLE sightings ADD COLUMN appearance TEXT;
    CREATE INDEX sightings_passes ON sightings
        (camera, at_ns, plate, event_id, track, confidence, evidence, appearance) WHERE plate = ''
    ",
    ),
    (
        7,
        "
    DROP INDEX sightings_passes;
    ALTER TABLE sightings RENAME COLUMN appearance TO appearance_json;
    ALTER TABLE sightings ADD COLUMN appearance BLOB;
    UPDATE sightings SET appearance = LOOK_OF_JSON(appearance_json) WHERE appearance_json IS NOT NULL;
    ALTER TABLE sightings DROP COLUMN appearance_json;
    CREATE INDEX sightings_passes ON sightings
        (camera, at_ns, plate, event_id, track, confidence, evidence, appearance) WHERE plate = ''
    ",
    ),
];

/// A look's compact form (64 little-endian `u16`, as `Appearance::to_le_bytes` writes it)
/// from the JSON array of bins version 6 kept, in `dialect`; NULL for a text that is not an
/// array of whole numbers (a look that would not have parsed).
fn look_of_json(column: &str, dialect: Dialect) -> String {
    match dialect {
        Dialect::Sqlite => format!(
            "CASE WHEN json_valid({column}) AND json_type({column}) = 'array' THEN
               (SELECT unhex(group_concat(printf('%02x%02x', j.value & 255, (j.value >> 8) & 255), '' ORDER BY j.key))
                FROM json_each({column}) AS j) END"
        ),
        Dialect::Postgres => format!(
            "CASE WHEN {column} ~ '^\\[[0-9]+(,[0-9]+)*\\]$' THEN
               (SELECT decode(string_agg(lpad(to_hex(j.value::INT & 255), 2, '0') || lpad(to_hex((j.value::INT >> 8) & 255), 2, '0'), '' ORDER BY j.n), 'hex')
                FROM json_array_elements_text({column}::JSON) WITH ORDINALITY AS j(value, n)) END"
        ),
    }
}

/// The width of the time slots that lead the sightings' plate index, `(at_ns / SLOT_NS,
/// plate, at_ns)`: ten minutes.
///
/// Sightings arrive in time order, so every insert lands in the current slot's part of the
/// index (at a city's 15 million sightings a day, about 100,000 entries, some 650 pages)
/// instead of anywhere in an index of every plate ever seen: a batch of random plates dirties
/// and writes a few hundred pages instead of thousands, and the pages it needs stay in cache
/// however large the store grows. A trace then seeks the plate once per slot of its window
/// (clipped to the plate's first and last sighting): 144 seeks for a day.
pub(crate) const SIGHTING_SLOT_NS: i64 = 600_000_000_000;

/// `sql` with `SLOT_NS` replaced by [`SIGHTING_SLOT_NS`].
pub(crate) fn with_slot(sql: &str) -> String {
    sql.replace("SLOT_NS", &SIGHTING_SLOT_NS.to_string())
}

/// The statements both backends run, written once and rewritten for a store's dialect when it
/// opens. (Appends differ: SQLite inserts row by row with cached statements, PostgreSQL a
/// table per batch through `UNNEST`; event queries differ in how a list of kinds is bound.)
#[derive(Debug)]
pub(crate) struct StoreSql {
    /// One plate's sightings (`$1` plate, `$2`/`$3` the window in nanoseconds, `$4` the
    /// limit), oldest first: one seek of `(slot, plate, at_ns)` per time slot, from the latest
    /// of the window's start, the plate's first sighting and the store's oldest sighting to the
    /// earlier of the window's end and the plate's last sighting.
    pub(crate) of_plate: String,
    /// Every plate's sightings in the window (`$1` must be NULL; the rest as `of_plate`),
    /// oldest first: the window's slots of `(slot, plate, at_ns)`, each sorted by time as it
    /// is read (ordering by the slot first says so), so a limit stops early.
    pub(crate) between: String,
    /// One camera's passes with no plate voted (sightings of the empty plate) in a window
    /// (`$1` camera, `$2`/`$3` the window, `$4` the limit), oldest first: a range of the
    /// partial index `sightings_passes` (passes only, by camera and time), which holds every
    /// column read, so a trace's few dozen passes come from a few index pages instead of as
    /// many table pages scattered over the day. SQLite runs it once per window in one read
    /// transaction; PostgreSQL reads all the windows in one statement of its own
    /// (`PASSES_IN_WINDOWS`), one round trip instead of dozens.
    pub(crate) passes_at: String,
    /// Closed interval counts: `$1` camera, `$2` kind, `$3` counter, `$4` class (each NULL for
    /// any), `$5`/`$6` the interval starts' window, `$7` the limit.
    pub(crate) counts: String,
    /// Stores an image under its address once (`$1` address, `$2` media type, `$3` bytes,
    /// `$4` time).
    pub(crate) put_evidence: String,
    /// An image by its address (`$1`).
    pub(crate) evidence: String,
    /// One audit row (`$1` time, `$2` who, `$3` role, `$4` action, `$5` subject, `$6` query,
    /// `$7` results).
    pub(crate) record_audit: String,
    /// Audit rows from `$1`, newest first, at most `$2`.
    pub(crate) audit_log: String,
    /// One type's events in a window, oldest first (`$1` type, `$2` camera or NULL,
    /// `$3`/`$4` the window in nanoseconds, `$5` the limit): a range of `(kind, at_ns)` read
    /// in order, sorted only among events of the same time, so a limit stops early however
    /// many the window holds.
    pub(crate) events_oldest: String,
    /// The same, newest first.
    pub(crate) events_newest: String,
}

/// Which of the [`StoreSql`] sighting reads.
#[derive(Debug, Clone, Copy)]
pub(crate) enum SightingRead {
    OfPlate,
    Between,
    PassesAt,
}

const SIGHTING_COLUMNS: &str =
    "s.event_id, s.plate, s.camera, s.at_ns, s.track, s.confidence, s.evidence, s.appearance";

/// `sql`, written for PostgreSQL, in `dialect`: `SLOT_NS` replaced by [`SIGHTING_SLOT_NS`],
/// and for SQLite multi-argument `GREATEST`/`LEAST` as its `MAX`/`MIN`, parameters as `?N`,
/// and no casts (SQLite needs none to type a NULL parameter).
pub(crate) fn in_dialect(sql: &str, dialect: Dialect) -> String {
    let sql = with_slot(sql);
    match dialect {
        Dialect::Sqlite => sql
            .replace("GREATEST(", "MAX(")
            .replace("LEAST(", "MIN(")
            .replace("::TEXT", "")
            .replace('$', "?"),
        Dialect::Postgres => sql,
    }
}

impl StoreSql {
    pub(crate) fn new(dialect: Dialect) -> Self {
        let of_plate = format!(
            "WITH RECURSIVE
                span(first_slot, last_slot) AS (
                    SELECT GREATEST($2 / SLOT_NS, p.first_ns / SLOT_NS,
                                    (SELECT COALESCE(MIN(at_ns / SLOT_NS), 0) FROM sightings)),
                           LEAST($3, p.last_ns) / SLOT_NS
                    FROM plates p WHERE p.plate = $1),
                slots(n) AS (
                    SELECT first_slot FROM span WHERE first_slot <= last_slot
                    UNION ALL SELECT n + 1 FROM slots, span WHERE n < last_slot)
            SELECT {SIGHTING_COLUMNS} FROM slots CROSS JOIN sightings s
            WHERE s.at_ns / SLOT_NS = slots.n AND s.plate = $1 AND s.at_ns >= $2 AND s.at_ns <= $3
            ORDER BY s.at_ns, s.event_id LIMIT $4"
        );
        let between = format!(
            "SELECT {SIGHTING_COLUMNS} FROM sightings s
             WHERE $1::TEXT IS NULL AND s.at_ns / SLOT_NS >= $2 / SLOT_NS AND s.at_ns / SLOT_NS <= $3 / SLOT_NS
             AND s.at_ns >= $2 AND s.at_ns <= $3
             ORDER BY s.at_ns / SLOT_NS, s.at_ns, s.event_id LIMIT $4"
        );
        let passes_at = format!(
            "SELECT {SIGHTING_COLUMNS} FROM sightings s
             WHERE s.plate = '' AND s.camera = $1 AND s.at_ns >= $2 AND s.at_ns <= $3
             ORDER BY s.at_ns, s.event_id LIMIT $4"
        );
        let counts = "SELECT event_id, body FROM counts
             WHERE ($1::TEXT IS NULL OR camera = $1) AND ($2::TEXT IS NULL OR kind = $2)
             AND ($3::TEXT IS NULL OR counter = $3) AND ($4::TEXT IS NULL OR class = $4)
             AND interval_start_ns >= $5 AND interval_start_ns <= $6
             ORDER BY interval_start_ns, camera, counter, event_id LIMIT $7";
        let events = |order: &str| {
            format!(
                "SELECT id, body, at_ns FROM events
                 WHERE kind = $1 AND ($2::TEXT IS NULL OR camera = $2) AND at_ns >= $3 AND at_ns <= $4
                 ORDER BY at_ns {order}, id {order} LIMIT $5"
            )
        };
        Self {
            of_plate: in_dialect(&of_plate, dialect),
            between: in_dialect(&between, dialect),
            passes_at: in_dialect(&passes_at, dialect),
            counts: in_dialect(counts, dialect),
            put_evidence: in_dialect(
                "INSERT INTO evidence (address, media_type, bytes, stored_ns) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (address) DO NOTHING",
                dialect,
            ),
            evidence: in_dialect(
                "SELECT media_type, bytes FROM evidence WHERE address = $1",
                dialect,
            ),
            record_audit: in_dialect(
                "INSERT INTO audit_log (at_ns, who, role, action, subject, query, results)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
                dialect,
            ),
            audit_log: in_dialect(
                "SELECT at_ns, who, role, action, subject, query, results FROM audit_log
                 WHERE at_ns >= $1 ORDER BY at_ns DESC, id DESC LIMIT $2",
                dialect,
            ),
            events_oldest: in_dialect(&events("ASC"), dialect),
            events_newest: in_dialect(&events("DESC"), dialect),
        }
    }

    /// The text of one type's event read, in the order asked.
    pub(crate) fn events(&self, newest_first: bool) -> &str {
        if newest_first {
            &self.events_newest
        } else {
            &self.events_oldest
        }
    }

    /// The text of a sighting read.
    pub(crate) fn sightings(&self, read: SightingRead) -> &str {
        match read {
            SightingRead::OfPlate => &self.of_plate,
            SightingRead::Between => &self.between,
            SightingRead::PassesAt => &self.passes_at,
        }
    }
}

/// The statements of every migration above `applied`, in the dialect.
pub(crate) fn pending(applied: i64, dialect: Dialect) -> Vec<(i64, Vec<String>)> {
    MIGRATIONS
        .iter()
        .filter(|(version, _)| *version > applied)
        .map(|(version, sql)| {
            let sql = match dialect {
                Dialect::Sqlite => sql.replace("AUTOID", "INTEGER PRIMARY KEY AUTOINCREMENT"),
                Dialect::Postgres => sql
                    .replace(" WITHOUT ROWID", "")
                    .replace("AUTOID", "BIGSERIAL PRIMARY KEY")
                    .replace("BLOB", "BYTEA")
                    .replace("REAL", "DOUBLE PRECISION"),
            };
            let sql = with_slot(&sql).replace(
                "LOOK_OF_JSON(appearance_json)",
                &look_of_json("appearance_json", dialect),
            );
            let statements = sql
                .split(';')
                .map(str::trim)
                .filter(|statement| !statement.is_empty())
                .map(str::to_string)
                .collect();
            (*version, statements)
        })
        .collect()
}

/// The newest schema version this build knows.
pub(crate) fn latest() -> i64 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}

/// The notice for a store at `applied` that has migrations to run, if it existed before (a new
/// store, at 0, is made in an instant and needs none).
pub(crate) fn migration_notice(store: &str, applied: i64) -> Option<crate::MigrationNotice> {
    (applied > 0 && applied < latest()).then(|| crate::MigrationNotice {
        store: store.to_string(),
        from: applied,
        to: latest(),
    })
}

/// Refuses a store written by a newer roadsight (its schema would be misread).
pub(crate) fn check_not_newer(applied: i64, store: &str) -> Result<(), crate::StoreError> {
    if applied > latest() {
        return Err(crate::StoreError::Backend {
            store: store.to_string(),
            operation: "migrate".into(),
            message: format!(
                "schema version {applied} is newer than this roadsight knows ({})",
                latest()
            ),
        });
    }
    Ok(())
}

/// What a retention pass deletes, in order (sightings first: plates, variants and evidence
/// go once nothing refers to them). `$1` is the cut-off in nanoseconds for the field named.
///
/// Every statement is one pass over an index or a table, whatever the store holds: none looks
/// up the sightings once per row of another table (`sightings` has no index by plate or by
/// evidence, as inserts pay for every index). A plate whose last sighting is older than the
/// cut-off has lost all its sightings; a plate that lost only some is summarised again from
/// those left, so a search no longer tells when, how often or how surely it was seen before
/// the cut-off.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RetentionField {
    Events,
    Sightings,
    Counts,
    Evidence,
    Audit,
    /// Plates none of whose sightings are left (not reported); `$1` as for sightings.
    Plates,
    /// The first sighting, count and best confidence of each plate that lost sightings,
    /// again from those left (not reported; only after sightings went); `$1` as for
    /// sightings.
    PlateSummaries,
    /// The deletion variants of forgotten plates (not reported; only after plates went); no
    /// parameter.
    PlateVariants,
}

pub(crate) const RETENTION: &[(RetentionField, &str)] = &[
    (
        RetentionField::Sightings,
        "DELETE FROM sightings WHERE at_ns / SLOT_NS <= $1 / SLOT_NS AND at_ns < $1",
    ),
    // `last_ns` is the latest of the plate's sightings, all of which were older than `$1`.
    (RetentionField::Plates, "DELETE FROM plates WHERE last_ns < $1"),
    (
        RetentionField::PlateSummaries,
        "UPDATE plates SET first_ns = m.first_ns, sightings = m.sightings, best_confidence = m.best
         FROM (SELECT plate, MIN(at_ns) AS first_ns, COUNT(*) AS sightings, MAX(confidence) AS best
               FROM sightings WHERE plate IN (SELECT plate FROM plates WHERE first_ns < $1)
               GROUP BY plate) AS m
         WHERE m.plate = plates.plate",
    ),
    (
        RetentionField::PlateVariants,
        "DELETE FROM plate_deletes WHERE NOT EXISTS (SELECT 1 FROM plates p WHERE p.plate = plate_deletes.plate)",
    ),
    (
        RetentionField::Events,
        "DELETE FROM events WHERE kind IN (ALL_KINDS) AND at_ns < $1",
    ),
    (RetentionField::Counts, "DELETE FROM counts WHERE interval_start_ns < $1"),
    (
        RetentionField::Evidence,
        "DELETE FROM evidence WHERE stored_ns < $1 AND UNREFERENCED_EVIDENCE",
    ),
    (RetentionField::Audit, "DELETE FROM audit_log WHERE at_ns < $1"),
];

/// A retention statement in `dialect`. Evidence no sighting refers to is found by one pass over
/// the sightings in either: SQLite looks up a list of the referenced addresses it builds
/// once (its `NOT EXISTS` would scan the sightings once per image), PostgreSQL joins
/// (`NOT IN` over a list larger than its work memory would scan them once per image).
pub(crate) fn retention_sql(sql: &str, dialect: Dialect) -> String {
    let unreferenced = match dialect {
        Dialect::Sqlite => {
            "address NOT IN (SELECT evidence FROM sightings WHERE evidence IS NOT NULL)"
        }
        Dialect::Postgres => {
            "NOT EXISTS (SELECT 1 FROM sightings s WHERE s.evidence = evidence.address)"
        }
    };
    in_dialect(
        &with_all_kinds(sql).replace("UNREFERENCED_EVIDENCE", unreferenced),
        dialect,
    )
}

/// A retention pass under way: what it deleted so far, so the statements that only tidy up
/// after a deletion are skipped when there was none.
#[derive(Debug, Default)]
pub(crate) struct RetentionPass {
    report: crate::RetentionReport,
    /// Plates forgotten (not reported).
    plates: u64,
}

impl RetentionPass {
    /// Whether `field`'s statement has anything to do after what the pass deleted so far.
    pub(crate) fn needs(&self, field: RetentionField) -> bool {
        match field {
            RetentionField::Plates | RetentionField::PlateSummaries => self.report.sightings > 0,
            RetentionField::PlateVariants => self.plates > 0,
            _ => true,
        }
    }

    /// Counts the rows `field`'s statement deleted.
    pub(crate) fn record(&mut self, field: RetentionField, deleted: u64) {
        let report = &mut self.report;
        match field {
            RetentionField::Events => report.events += deleted,
            RetentionField::Sightings => report.sightings += deleted,
            RetentionField::Counts => report.counts += deleted,
            RetentionField::Evidence => report.evidence += deleted,
            RetentionField::Audit => report.audit += deleted,
            RetentionField::Plates => self.plates += deleted,
            RetentionField::PlateSummaries | RetentionField::PlateVariants => {}
        }
    }

    /// What the pass removed.
    pub(crate) fn report(&self) -> crate::RetentionReport {
        self.report
    }
}

impl RetentionField {
    /// The cut-off for this field: `now` less its retention (the sightings' for bookkeeping).
    pub(crate) fn cutoff(
        &self,
        now: roadsight_core::Timestamp,
        retention: &crate::Retention,
    ) -> i64 {
        let days = match self {
            RetentionField::Events => retention.events_days,
            RetentionField::Sightings
            | RetentionField::Plates
            | RetentionField::PlateSummaries
            | RetentionField::PlateVariants => retention.sightings_days,
            RetentionField::Counts => retention.counts_days,
            RetentionField::Evidence => retention.evidence_days,
            RetentionField::Audit => retention.audit_days,
        };
        now.as_nanos().saturating_sub((days * 86_400e9) as i64)
    }

    /// Whether the statement takes the cut-off as `$1`.
    pub(crate) fn takes_cutoff(&self) -> bool {
        !matches!(self, RetentionField::PlateVariants)
    }
}

/// `sql` with `ALL_KINDS` replaced by every event type, quoted (so `(kind, at_ns)` serves).
pub(crate) fn with_all_kinds(sql: &str) -> String {
    let kinds: Vec<String> = roadsight_core::Event::KINDS
        .iter()
        .map(|kind| format!("'{kind}'"))
        .collect();
    sql.replace("ALL_KINDS", &kinds.join(", "))
}
