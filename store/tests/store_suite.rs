#![allow(clippy::expect_used)] // Test code: a failed expect is a failed test.
//! One behaviour suite, run on both backends: SQLite in a temporary file and PostgreSQL in a
//! schema of its own (at `ROADSIGHT_TEST_POSTGRES`, default the machine's
//! `postgres://postgres@127.0.0.1:5432/test`). Without a reachable PostgreSQL the PostgreSQL
//! run fails under `CI=true` and is reported as not run otherwise.

use roadsight_core::counting::{CounterKind, Crossing, CrossingDirection, FlowCount};
use roadsight_core::signal::{PlanBasis, PlanDecision, Split, TimingPlan};
use roadsight_core::{
    Appearance, CameraHealth, CameraId, Event, HealthState, Timestamp, TrackId, TrackPlate,
    VehicleClass, VehiclePass,
};
use roadsight_store::{
    AuditEntry, CameraWindow, CountQuery, EventQuery, EventStore, PostgresStore, Retention,
    SightingQuery, SqliteStore,
};
use std::time::Duration;

const DAY_S: u64 = 86_400;

fn at(seconds: u64) -> Timestamp {
    // 2026-11-23T00:00:00Z plus seconds.
    Timestamp::from_nanos(1_795_392_000_000_000_000).plus(Duration::from_secs(seconds))
}

fn plate(text: &str, camera: &str, track: u64, seconds: u64, evidence: Option<String>) -> Event {
    Event::Plate(TrackPlate {
        camera: CameraId::new(camera),
        track: TrackId(track),
        text: text.into(),
        formatted: text.into(),
        confidence: 0.9,
        char_confidence: vec![0.9; text.len()],
        rows: 1,
        valid: true,
        reads: 4,
        agreeing: 3,
        first_seen: at(seconds),
        last_seen: at(seconds + 2),
        at: at(seconds + 1),
        evidence,
        candidate: false,
        appearance: None,
    })
}

/// [`plate`] read with `confidence` (a candidate under 0.45).
fn plate_read(
    text: &str,
    track: u64,
    seconds: u64,
    confidence: f32,
    evidence: Option<&str>,
) -> Event {
    match plate(text, "north", track, seconds, evidence.map(str::to_string)) {
        Event::Plate(read) => Event::Plate(TrackPlate {
            confidence,
            candidate: confidence < 0.45,
            ..read
        }),
        other => other,
    }
}

fn crossing(camera: &str, track: u64, seconds: u64) -> Event {
    Event::Crossing(Crossing {
        camera: CameraId::new(camera),
        line: "stop".into(),
        lane: None,
        track: TrackId(track),
        class: VehicleClass::Car,
        at: at(seconds),
        direction: CrossingDirection::Forward,
        speed_kmh: None,
    })
}

fn count(camera: &str, class: VehicleClass, interval: u64, count: u64) -> Event {
    Event::FlowCount(FlowCount {
        camera: CameraId::new(camera),
        kind: CounterKind::Line,
        counter: "stop".into(),
        lane: None,
        direction: Some(CrossingDirection::Forward),
        class,
        interval_start: at(interval * 900),
        interval_s: 900,
        count,
        pcu: count as f64,
    })
}

fn plan(seconds: u64) -> Event {
    Event::TimingPlan(PlanDecision {
        plan: TimingPlan {
            intersection: "ben-thanh".into(),
            cycle_s: 60.0,
            offset_s: 0.0,
            splits: vec![Split {
                phase: "a".into(),
                green_s: 55.0,
            }],
            valid_from: at(seconds),
        },
        basis: PlanBasis::Counts,
        corridor: None,
        reason: None,
        flows_pcu_h: vec![("ns".into(), 600.0)],
        interval_flows_pcu_h: Vec::new(),
    })
}

/// How many sightings the best match of a search for `plate` counts, if anything matches.
fn sightings_found(store: &mut dyn EventStore, plate: &str) -> Option<u64> {
    store
        .search_plates(plate, None, None, 10)
        .expect("search")
        .first()
        .map(|found| found.sightings)
}

/// Thirty days kept of everything but the audit log (a year).
fn a_month_kept() -> Retention {
    Retention {
        events_days: 30.0,
        sightings_days: 30.0,
        counts_days: 30.0,
        evidence_days: 30.0,
        audit_days: 365.0,
    }
}

fn suite(store: &mut dyn EventStore) {
    let name = store.describe();
    // Idempotent appends.
    let evidence = store
        .put_evidence("image/jpeg", b"\xFF\xD8jpeg-1", at(10))
        .expect("evidence");
    assert!(evidence.starts_with("sha256:"), "{evidence}");
    assert_eq!(
        store
            .put_evidence("image/jpeg", b"\xFF\xD8jpeg-1", at(20))
            .expect("again"),
        evidence
    );
    let events = vec![
        Event::CameraHealth(CameraHealth {
            camera: CameraId::new("north"),
            at: at(0),
            state: HealthState::Connected,
        }),
        crossing("north", 1, 5),
        crossing("north", 2, 6),
        crossing("east", 3, 7),
        plate("51G12345", "north", 1, 5, Some(evidence.clone())),
        plate("51G12345", "east", 9, 300, None),
        plate("51G12346", "south", 4, 400, None),
        plate("30A99999", "south", 5, 500, None),
        count("north", VehicleClass::Car, 0, 40),
        count("north", VehicleClass::Motorcycle, 0, 120),
        count("north", VehicleClass::Car, 1, 35),
        count("east", VehicleClass::Car, 0, 12),
        plan(900),
    ];
    let report = store.append(&events).expect("append");
    assert_eq!((report.inserted, report.duplicates), (13, 0), "{name}");
    let again = store.append(&events[..5]).expect("replay");
    assert_eq!(
        (again.inserted, again.duplicates),
        (0, 5),
        "{name}: a replay duplicates nothing"
    );

    // Events by type, camera and time.
    let all = store
        .events(&EventQuery {
            limit: 100,
            ..EventQuery::default()
        })
        .expect("events");
    assert_eq!(all.len(), 13, "{name}");
    assert!(
        all.windows(2)
            .all(|w| (w[0].envelope.event.at(), &w[0].id) < (w[1].envelope.event.at(), &w[1].id)),
        "{name}: oldest first, events of the same time by id"
    );
    assert_eq!(all[0].envelope.v, 1);
    // Each type is read on its own up to the limit; the merge keeps the query's order.
    let ids = |events: &[roadsight_store::StoredEvent]| {
        events.iter().map(|e| e.id.clone()).collect::<Vec<_>>()
    };
    for newest_first in [false, true] {
        let four = store
            .events(&EventQuery {
                limit: 4,
                newest_first,
                ..EventQuery::default()
            })
            .expect("four events");
        let mut expected = ids(&all);
        if newest_first {
            expected.reverse();
        }
        expected.truncate(4);
        assert_eq!(ids(&four), expected, "{name}: newest first {newest_first}");
    }
    let north_crossings = store
        .events(&EventQuery {
            kinds: vec!["crossing".into(), "crossing".into()],
            camera: Some("north".into()),
            limit: 100,
            ..EventQuery::default()
        })
        .expect("crossings");
    assert_eq!(north_crossings.len(), 2, "{name}");
    let newest = store
        .events(&EventQuery {
            limit: 1,
            newest_first: true,
            ..EventQuery::default()
        })
        .expect("newest");
    assert_eq!(
        newest[0].envelope.event.kind(),
        "flow_count",
        "{name}: the second interval's count, at its end (1800 s), is the newest"
    );
    let plans_and_plates = store
        .events(&EventQuery {
            kinds: vec!["plate".into(), "timing_plan".into()],
            from: Some(at(350)),
            limit: 100,
            ..EventQuery::default()
        })
        .expect("by window");
    assert_eq!(
        plans_and_plates.len(),
        3,
        "{name}: plates at 401 and 501, the plan at 900"
    );
    assert_eq!(plans_and_plates[0].id, events[6].id());

    // Plate traces.
    let trace = store
        .sightings(&SightingQuery {
            plate: "51G12345".into(),
            from: None,
            to: None,
            limit: 100,
        })
        .expect("sightings");
    assert_eq!(
        trace.iter().map(|s| s.camera.as_str()).collect::<Vec<_>>(),
        ["north", "east"],
        "{name}"
    );
    assert_eq!(trace[0].evidence.as_deref(), Some(evidence.as_str()));
    assert_eq!(trace[0].at, at(6));
    let window = store
        .sightings(&SightingQuery {
            plate: "51G12345".into(),
            from: Some(at(100)),
            to: Some(at(1000)),
            limit: 100,
        })
        .expect("window");
    assert_eq!(window.len(), 1, "{name}");

    let everything = store
        .sightings_between(Some(at(0)), Some(at(450)), 100)
        .expect("window");
    assert_eq!(
        everything
            .iter()
            .map(|s| s.plate.as_str())
            .collect::<Vec<_>>(),
        ["51G12345", "51G12345", "51G12346"],
        "{name}"
    );

    // Fuzzy search: one edit, look-alikes nearest.
    let found = store
        .search_plates("51G12345", None, None, 10)
        .expect("search");
    let plates: Vec<&str> = found.iter().map(|m| m.plate.as_str()).collect();
    assert_eq!(plates, ["51G12345", "51G12346"], "{name}");
    assert_eq!(found[0].sightings, 2);
    let lookalike = store
        .search_plates("5IG12345", None, None, 10)
        .expect("search");
    assert_eq!(lookalike[0].plate, "51G12345", "{name}");
    assert_eq!(lookalike[0].distance, 0.5);
    let shorter = store
        .search_plates("51G1234", None, None, 10)
        .expect("search");
    assert_eq!(shorter.len(), 2, "{name}: one deletion from both");
    assert!(store
        .search_plates("52G12999", None, None, 10)
        .expect("search")
        .is_empty());

    // Counts.
    let north_cars = store
        .counts(&CountQuery {
            camera: Some("north".into()),
            class: Some("car".into()),
            limit: 100,
            ..CountQuery::default()
        })
        .expect("counts");
    assert_eq!(
        north_cars.iter().map(|c| c.count).collect::<Vec<_>>(),
        [40, 35],
        "{name}"
    );
    let first_interval = store
        .counts(&CountQuery {
            to: Some(at(0)),
            limit: 100,
            ..CountQuery::default()
        })
        .expect("counts");
    assert_eq!(first_interval.len(), 3, "{name}");

    // Evidence.
    let image = store.evidence(&evidence).expect("read").expect("stored");
    assert_eq!(image.bytes, b"\xFF\xD8jpeg-1");
    assert_eq!(image.media_type, "image/jpeg");
    assert!(store.evidence("sha256:00").expect("read").is_none());

    // Audit.
    for (offset, who) in [(0, "officer-a"), (5, "officer-b")] {
        store
            .record_audit(&plate_trace_audit(who, at(1000 + offset)))
            .expect("audit");
    }
    let log = store.audit_log(None, 10).expect("audit log");
    assert_eq!(
        log.iter().map(|e| e.who.as_str()).collect::<Vec<_>>(),
        ["officer-b", "officer-a"],
        "{name}"
    );

    // Retention, 60 days later, keeping 30 days of events and sightings: all of today's go,
    // and the evidence with them; fresh events stay.
    let orphan = store
        .put_evidence("image/jpeg", b"orphan", at(0))
        .expect("evidence");
    let later = 60 * DAY_S;
    store
        .append(&[
            crossing("north", 77, later),
            plate("51G12345", "north", 78, later, None),
        ])
        .expect("fresh");
    let removed = store
        .apply_retention(at(later), &a_month_kept())
        .expect("retention");
    assert_eq!(removed.events, 13, "{name}: {removed:?}");
    assert_eq!(removed.sightings, 4, "{name}: {removed:?}");
    assert_eq!(removed.counts, 4, "{name}: {removed:?}");
    assert_eq!(removed.evidence, 2, "{name}: {removed:?}");
    assert_eq!(removed.audit, 0);
    assert!(store.evidence(&orphan).expect("read").is_none());
    let left = store
        .events(&EventQuery {
            limit: 100,
            ..EventQuery::default()
        })
        .expect("events");
    assert_eq!(left.len(), 2, "{name}");
    let found = store
        .search_plates("51G12345", None, None, 10)
        .expect("search");
    assert_eq!(
        found.iter().map(|m| m.plate.as_str()).collect::<Vec<_>>(),
        ["51G12345"],
        "{name}"
    );
    // The plate is summarised by what retention left: nothing tells of its sightings 60 days
    // ago, and its trace holds only the fresh one.
    assert_eq!(
        (found[0].sightings, found[0].first_seen, found[0].last_seen),
        (1, at(later + 1), at(later + 1)),
        "{name}"
    );
    let kept = store
        .sightings(&SightingQuery {
            plate: "51G12345".into(),
            from: None,
            to: None,
            limit: 100,
        })
        .expect("trace after retention");
    assert_eq!(
        kept.iter().map(|s| s.at).collect::<Vec<_>>(),
        [at(later + 1)],
        "{name}"
    );
    // A plate seen across ten-minute slots: just before and on a slot's edge, and hours later.
    // Windows that start and end inside slots find exactly their sightings.
    store
        .append(&[
            plate("29B11111", "north", 90, later + 598, None),
            plate("29B11111", "east", 91, later + 599, None),
            plate("29B11111", "south", 92, later + 3 * 3600, None),
            plate("29B11112", "south", 93, later + 3 * 3600, None),
        ])
        .expect("across slots");
    let across = |store: &mut dyn EventStore, from: Option<u64>, to: Option<u64>| {
        store
            .sightings(&SightingQuery {
                plate: "29B11111".into(),
                from: from.map(|s| at(later + s)),
                to: to.map(|s| at(later + s)),
                limit: 100,
            })
            .expect("trace across slots")
            .iter()
            .map(|s| s.camera.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        across(store, None, None),
        ["north", "east", "south"],
        "{name}"
    );
    assert_eq!(across(store, Some(600), None), ["east", "south"], "{name}");
    assert_eq!(across(store, None, Some(599)), ["north"], "{name}");
    assert_eq!(
        across(store, Some(600), Some(3 * 3600)),
        ["east"],
        "{name}: the window ends a second before the last sighting"
    );
    assert!(across(store, Some(3600), Some(7200)).is_empty(), "{name}");
    assert!(
        across(store, Some(4 * 3600), None).is_empty(),
        "{name}: after the plate's last sighting"
    );
    // The same event twice in one batch is stored once.
    let twice = plate("51G99999", "west", 33, later + 600, None);
    let doubled = store
        .append(&[twice.clone(), twice])
        .expect("twice in one batch");
    assert_eq!(
        (doubled.inserted, doubled.duplicates),
        (1, 1),
        "{name}: one batch, one copy"
    );
    assert_eq!(sightings_found(store, "51G99999"), Some(1), "{name}");

    // A plate keeps its most confident read: a candidate, then a surer read in the same batch as a
    // less sure one, then a less sure read alone.
    let read_at = |confidence: f32, track: u64, seconds: u64| {
        plate_read("29MD12345", track, later + seconds, confidence, None)
    };
    let best = |store: &mut dyn EventStore| {
        store
            .search_plates("29MD12345", None, None, 5)
            .expect("search")
            .first()
            .map(|found| found.best_confidence)
    };
    store.append(&[read_at(0.3, 40, 700)]).expect("candidate");
    assert_eq!(best(store), Some(0.3), "{name}: only a candidate so far");
    store
        .append(&[read_at(0.8, 41, 800), read_at(0.5, 42, 900)])
        .expect("sure reads");
    assert_eq!(best(store), Some(0.8), "{name}");
    store.append(&[read_at(0.6, 43, 1000)]).expect("another");
    assert_eq!(best(store), Some(0.8), "{name}: a less sure read leaves it");

    // A vehicle that passed with no plate voted is a sighting with an empty plate and its
    // look; a plate keeps its look too; a pass is no plate to search.
    let look = Appearance::try_from(
        (0..64u16)
            .map(|bin| match bin {
                21 => 6_000,
                42 => 4_000,
                _ => 0,
            })
            .collect::<Vec<u16>>(),
    )
    .expect("64 bins");
    let pass = Event::VehiclePass(VehiclePass {
        camera: CameraId::new("north"),
        track: TrackId(50),
        reads: 5,
        first_seen: at(later + 1100),
        last_seen: at(later + 1104),
        at: at(later + 1103),
        appearance: look.clone(),
        evidence: Some(evidence.clone()),
    });
    let looked = match plate("59L214999", "east", 51, later + 1150, None) {
        Event::Plate(read) => Event::Plate(TrackPlate {
            appearance: Some(look.clone()),
            ..read
        }),
        other => other,
    };
    let stored = store.append(&[pass, looked]).expect("a pass");
    assert_eq!(stored.inserted, 2, "{name}");
    let window = |camera: &str, from: u64, to: u64| CameraWindow {
        camera: camera.into(),
        from: at(later + from),
        to: at(later + to),
    };
    // Every window's passes, in the order asked: the pass at north; none at east; none at
    // north before it; the pass again in a window of its own second (both ends included).
    let passes = store
        .passes_in(
            &[
                window("north", 1000, 1200),
                window("east", 1000, 1200),
                window("north", 1000, 1102),
                window("north", 1103, 1103),
            ],
            10,
        )
        .expect("passes");
    assert_eq!(passes.len(), 2, "{name}: {passes:?}");
    assert_eq!(passes[0], passes[1], "{name}");
    assert!(
        store.passes_in(&[], 10).expect("no windows").is_empty(),
        "{name}"
    );
    assert_eq!(
        (
            passes[0].plate.as_str(),
            passes[0].camera.as_str(),
            passes[0].track,
            passes[0].at,
            passes[0].appearance.as_ref(),
            passes[0].evidence.as_ref()
        ),
        (
            "",
            "north",
            50,
            at(later + 1103),
            Some(&look),
            Some(&evidence)
        ),
        "{name}"
    );
    let read = store
        .sightings(&SightingQuery {
            plate: "59L214999".into(),
            from: None,
            to: None,
            limit: 10,
        })
        .expect("the plate");
    assert_eq!(read.len(), 1, "{name}");
    assert_eq!(read[0].appearance.as_ref(), Some(&look), "{name}");
    let found = store.search_plates("5", None, None, 50).expect("search");
    assert!(
        found.iter().all(|m| !m.plate.is_empty()),
        "{name}: a pass is no plate: {found:?}"
    );
}

/// Retention forgets a plate's past entirely: a plate all of whose sightings went is no longer
/// found (nor by a look-alike), one that kept some is summarised by those alone (first
/// sighting, count, best read), and an image is kept while a sighting left refers to it.
fn retention_suite(store: &mut dyn EventStore) {
    let name = store.describe();
    let later = 60 * DAY_S;
    let old_only = store
        .put_evidence("image/jpeg", b"old only", at(0))
        .expect("evidence");
    let shared = store
        .put_evidence("image/jpeg", b"shared", at(0))
        .expect("evidence");
    store
        .append(&[
            // A plate seen surely long ago and unsurely lately.
            plate_read("30A12345", 1, 0, 0.95, Some(&old_only)),
            plate_read("30A12345", 2, 100, 0.9, None),
            plate_read("30A12345", 3, later, 0.5, Some(&shared)),
            // A plate seen only long ago, one image shared with a recent sighting.
            plate_read("29B67890", 4, 50, 0.9, Some(&shared)),
            plate_read("29B67890", 5, 60, 0.9, None),
        ])
        .expect("append");
    let removed = store
        .apply_retention(at(later), &a_month_kept())
        .expect("retention");
    assert_eq!(removed.sightings, 4, "{name}: {removed:?}");
    assert_eq!(removed.evidence, 1, "{name}: {removed:?}");
    assert!(store.evidence(&old_only).expect("read").is_none(), "{name}");
    assert!(
        store.evidence(&shared).expect("read").is_some(),
        "{name}: a sighting left still refers to it"
    );
    let kept = store
        .search_plates("30A12345", None, None, 10)
        .expect("search");
    assert_eq!(kept.len(), 1, "{name}: {kept:?}");
    assert_eq!(
        (
            kept[0].sightings,
            kept[0].first_seen,
            kept[0].last_seen,
            kept[0].best_confidence
        ),
        (1, at(later + 1), at(later + 1), 0.5),
        "{name}: summarised by the sighting left"
    );
    // A window before the cut-off finds nothing of it.
    assert!(
        store
            .search_plates("30A12345", None, Some(at(DAY_S)), 10)
            .expect("search")
            .is_empty(),
        "{name}"
    );
    // The plate seen only long ago is forgotten: neither its text nor a look-alike finds it.
    for query in ["29B67890", "29B6789"] {
        assert!(
            store
                .search_plates(query, None, None, 10)
                .expect("search")
                .is_empty(),
            "{name}: {query}"
        );
    }
    // A second pass with nothing old left deletes nothing and changes nothing.
    let again = store
        .apply_retention(at(later), &a_month_kept())
        .expect("retention again");
    assert_eq!((again.sightings, again.evidence), (0, 0), "{name}");
    assert_eq!(sightings_found(store, "30A12345"), Some(1), "{name}");
}

#[test]
fn sqlite_retention_forgets_a_plate_past_the_cut_off() {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open(&directory.path().join("retention.db")).expect("opens");
    retention_suite(&mut store);
}

#[test]
fn postgres_retention_forgets_a_plate_past_the_cut_off() {
    let Some((mut store, _schema)) = postgres_store("roadsight_retention") else {
        return;
    };
    retention_suite(&mut store);
}

#[test]
fn sqlite_store_behaves_as_specified_and_keeps_it_across_reopening() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("nested/roadsight.db");
    {
        let mut store = SqliteStore::open(&path).expect("opens");
        suite(&mut store);
    }
    // Reopening migrates nothing twice and finds what was written.
    let mut store = SqliteStore::open(&path).expect("reopens");
    let left = store
        .events(&EventQuery {
            limit: 100,
            ..EventQuery::default()
        })
        .expect("events");
    assert_eq!(
        left.len(),
        13,
        "the two fresh events, the four across slots, the one stored once from a doubled batch, the four reads of one plate, the pass and the plate with its look"
    );
    let via_url = roadsight_store::open(&format!("sqlite:{}", path.display())).expect("by URL");
    assert!(via_url.describe().starts_with("sqlite:"));
}

/// A batch as large as the writer's (thousands of events, prepared ahead of the writer on a
/// second thread): every event is stored once and in full, an id repeated inside the batch
/// is a counted duplicate, a count among the plates reaches its table, and the whole batch
/// appended again is all duplicates.
fn large_batch_suite(store: &mut dyn EventStore) {
    let name = store.describe();
    let plates: Vec<String> = (0..200).map(|n| format!("30K{n:05}")).collect();
    let mut batch: Vec<Event> = (0..3_000u64)
        .map(|i| {
            let text = &plates[(i % 200) as usize];
            plate(
                text,
                ["north", "east", "south"][(i % 3) as usize],
                i,
                10 * i,
                None,
            )
        })
        .collect();
    batch.insert(1_700, count("north", VehicleClass::Bus, 2, 7));
    batch.insert(2_500, batch[10].clone());
    let report = store.append(&batch).expect("a large batch");
    assert_eq!((report.inserted, report.duplicates), (3_001, 1), "{name}");
    for text in [&plates[0], &plates[123], &plates[199]] {
        assert_eq!(sightings_found(store, text), Some(15), "{name}: {text}");
        let found = store
            .sightings(&SightingQuery {
                plate: text.clone(),
                from: None,
                to: None,
                limit: 100,
            })
            .expect("sightings");
        assert_eq!(found.len(), 15, "{name}: {text}");
        assert!(found.windows(2).all(|w| w[0].at < w[1].at), "{name}");
    }
    let counted = store
        .counts(&CountQuery {
            class: Some("bus".into()),
            limit: 10,
            ..CountQuery::default()
        })
        .expect("counts");
    assert_eq!(counted.len(), 1, "{name}: {counted:?}");
    assert_eq!(counted[0].count, 7, "{name}");
    let again = store.append(&batch).expect("the same batch again");
    assert_eq!((again.inserted, again.duplicates), (0, 3_002), "{name}");
    assert_eq!(sightings_found(store, &plates[0]), Some(15), "{name}");
}

#[test]
fn sqlite_stores_a_large_batch_once_and_in_full() {
    let directory = tempfile::tempdir().expect("temp dir");
    let mut store = SqliteStore::open(&directory.path().join("large.db")).expect("opens");
    large_batch_suite(&mut store);
}

#[test]
fn postgres_stores_a_large_batch_once_and_in_full() {
    let Some((mut store, _schema)) = postgres_store("roadsight_large_batch") else {
        return;
    };
    large_batch_suite(&mut store);
}

/// An officer's trace of 51G12345 at `at`, as the audit log records it.
fn plate_trace_audit(who: &str, at: Timestamp) -> AuditEntry {
    AuditEntry {
        at,
        who: who.into(),
        role: "officer".into(),
        action: "plate_trace".into(),
        subject: "51G12345".into(),
        query: "from=..&to=..".into(),
        results: 2,
    }
}

fn postgres_url() -> String {
    std::env::var("ROADSIGHT_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

/// Drops the test's schema when the test ends, passed or failed.
struct SchemaGuard(String);

impl Drop for SchemaGuard {
    fn drop(&mut self) {
        if let Ok(mut client) = postgres::Client::connect(&postgres_url(), postgres::NoTls) {
            let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.0));
        }
    }
}

/// A store in a fresh schema, or `None` (with a message) when PostgreSQL is not reachable
/// outside CI.
fn postgres_store(schema: &str) -> Option<(PostgresStore, SchemaGuard)> {
    let url = postgres_url();
    // A schema of its own per run, so runs never see each other's rows.
    let schema = format!("{schema}_{}", std::process::id());
    match PostgresStore::connect(&url, Some(&schema)) {
        Ok(store) => Some((store, SchemaGuard(schema))),
        Err(error) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true and PostgreSQL is not usable: {error}")
        }
        Err(error) => {
            eprintln!("NOT RUN: PostgreSQL store suite ({error}); set ROADSIGHT_TEST_POSTGRES or start PostgreSQL");
            None
        }
    }
}

#[test]
fn postgres_store_behaves_as_specified() {
    let Some((mut store, _schema)) = postgres_store("roadsight_suite") else {
        return;
    };
    suite(&mut store);
}

/// A PostgreSQL table whose column is not what this build wrote (another program's schema of
/// the same name, a hand edit) gives an error naming the store, the read and the column, not
/// a panic in the thread that asked.
#[test]
fn a_postgres_column_of_another_type_is_an_error_naming_it() {
    let Some((mut store, schema)) = postgres_store("roadsight_column") else {
        return;
    };
    store
        .record_audit(&plate_trace_audit("officer-1", at(1000)))
        .expect("audit");
    let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls).expect("connect");
    client
        .batch_execute(&format!(
            "ALTER TABLE {}.audit_log ALTER COLUMN results TYPE TEXT",
            schema.0
        ))
        .expect("alter the column");
    let error = store
        .audit_log(None, 10)
        .expect_err("a text column read as a count is an error");
    let text = error.to_string();
    assert!(
        text.contains("postgres") && text.contains("query audit log") && text.contains("column 6"),
        "{text}"
    );
}

#[test]
fn bad_urls_and_unreachable_servers_are_named() {
    let error = roadsight_store::open("mysql://x")
        .err()
        .expect("unsupported");
    assert!(error.to_string().contains("mysql://x"), "{error}");
    let error = roadsight_store::open("postgres://nobody:secret@127.0.0.1:1/none")
        .err()
        .expect("unreachable");
    let text = error.to_string();
    assert!(
        text.contains("127.0.0.1:1") && !text.contains("secret"),
        "{text}"
    );
    let error = roadsight_store::open("sqlite:/proc/definitely/not/here.db")
        .err()
        .expect("unwritable");
    assert!(
        error.to_string().contains("/proc/definitely/not/here.db"),
        "{error}"
    );
}

/// The statements that take a store at this schema back to version 6, where a look was its
/// JSON array of bins (`sightings.appearance TEXT`), and write three passes there: one with a
/// look, one whose text is no array of numbers, one with none.
fn version_6_with_json_looks(look: &Appearance) -> String {
    let json = serde_json::to_string(look).expect("look json");
    format!(
        "DELETE FROM schema_version WHERE version > 6;
         DROP INDEX sightings_passes;
         ALTER TABLE sightings DROP COLUMN appearance;
         ALTER TABLE sightings ADD COLUMN appearance TEXT;
         CREATE INDEX sightings_passes ON sightings
             (camera, at_ns, plate, event_id, track, confidence, evidence, appearance) WHERE plate = '';
         INSERT INTO sightings (event_id, plate, camera, at_ns, track, confidence, evidence, appearance) VALUES
             ('e1', '', 'north', 1795392001000000000, 1, 0.5, NULL, '{json}'),
             ('e2', '', 'north', 1795392002000000000, 2, 0.5, NULL, 'not a look'),
             ('e3', '', 'north', 1795392003000000000, 3, 0.5, NULL, NULL)"
    )
}

/// What a store migrated from [`version_6_with_json_looks`] must give back: the look as it
/// was, and no look for the text that was none or the row without.
fn json_looks_survive_the_migration(store: &mut dyn EventStore, look: &Appearance) {
    let name = store.describe();
    let passes = store
        .passes_in(
            &[CameraWindow {
                camera: "north".into(),
                from: at(0),
                to: Timestamp::from_nanos(i64::MAX),
            }],
            10,
        )
        .expect("passes after the migration");
    assert_eq!(
        passes
            .iter()
            .map(|s| (s.event_id.as_str(), s.appearance.as_ref()))
            .collect::<Vec<_>>(),
        [("e1", Some(look)), ("e2", None), ("e3", None)],
        "{name}"
    );
}

/// A look with no two bins alike, some over 255 (both bytes of a bin matter).
fn distinct_look() -> Appearance {
    let mut bins = [0u16; roadsight_core::appearance::APPEARANCE_BINS];
    for (i, bin) in bins.iter_mut().enumerate() {
        *bin = (i as u16) * 301 + 7;
    }
    Appearance::from_bins(bins)
}

#[test]
fn sqlite_looks_kept_as_json_by_version_6_are_migrated() {
    let directory = tempfile::tempdir().expect("temp dir");
    let path = directory.path().join("v6.db");
    let look = distinct_look();
    drop(SqliteStore::open(&path).expect("opens"));
    rusqlite::Connection::open(&path)
        .expect("open raw")
        .execute_batch(&version_6_with_json_looks(&look))
        .expect("back to version 6");
    let mut store = SqliteStore::open(&path).expect("migrates");
    json_looks_survive_the_migration(&mut store, &look);
}

#[test]
fn postgres_looks_kept_as_json_by_version_6_are_migrated() {
    let Some((store, schema)) = postgres_store("roadsight_v6_looks") else {
        return;
    };
    drop(store);
    let look = distinct_look();
    let mut client = postgres::Client::connect(&postgres_url(), postgres::NoTls).expect("connect");
    client
        .batch_execute(&format!(
            "SET search_path TO {}; {}",
            schema.0,
            version_6_with_json_looks(&look)
        ))
        .expect("back to version 6");
    let mut store = PostgresStore::connect(&postgres_url(), Some(&schema.0)).expect("migrates");
    json_looks_survive_the_migration(&mut store, &look);
}
