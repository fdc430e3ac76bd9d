#![allow(clippy::expect_used, clippy::unwrap_used)] // Test code: a failed unwrap is a failed test.
//! The API over a real store (SQLite in a temporary file) on a real socket: roles, audit,
//! bad requests, traces with evidence, the live feed with its filters and lag notices.

use futures_util::StreamExt;
use roadsight_core::counting::{CounterKind, Crossing, CrossingDirection, FlowCount};
use roadsight_core::{
    ApiUserConfig, Appearance, CameraId, CameraLinkConfig, Event, Role, RoutesConfig, SystemClock,
    Timestamp, TrackId, TrackPlate, VehicleClass, VehiclePass,
};
use roadsight_server::{CameraInfo, Server, ServerSettings};
use std::sync::Arc;
use std::time::Duration;

const OPERATOR: &str = "operator-token-0123456789";
const OFFICER: &str = "officer-token-0123456789";
const ADMIN: &str = "admin-token-0123456789abc";

fn at(seconds: u64) -> Timestamp {
    Timestamp::parse_rfc3339("2026-11-23T08:00:00Z")
        .unwrap()
        .plus(Duration::from_secs(seconds))
}

fn plate(text: &str, camera: &str, seconds: u64, evidence: Option<String>) -> Event {
    Event::Plate(TrackPlate {
        camera: CameraId::new(camera),
        track: TrackId(seconds),
        text: text.into(),
        formatted: text.into(),
        confidence: 0.9,
        char_confidence: vec![0.9; text.len()],
        rows: 1,
        valid: true,
        reads: 3,
        agreeing: 3,
        first_seen: at(seconds),
        last_seen: at(seconds),
        at: at(seconds),
        evidence,
        candidate: false,
        appearance: None,
    })
}

/// An unsure read: below `[routes] anchor_confidence`, emitted as a candidate.
fn candidate_read(text: &str, camera: &str, seconds: u64) -> Event {
    match plate(text, camera, seconds, None) {
        Event::Plate(read) => Event::Plate(TrackPlate {
            confidence: 0.3,
            candidate: true,
            ..read
        }),
        other => other,
    }
}

/// A look mostly of one colour: `share` basis points in bin 5, the rest in bin 6.
fn look(share: u16) -> Appearance {
    let mut bins = vec![0u16; 64];
    bins[5] = share;
    bins[6] = 10_000 - share;
    Appearance::try_from(bins).unwrap()
}

fn with_look(event: Event, share: u16) -> Event {
    match event {
        Event::Plate(read) => Event::Plate(TrackPlate {
            appearance: Some(look(share)),
            ..read
        }),
        other => other,
    }
}

/// A vehicle that passed with no plate voted.
fn pass(camera: &str, seconds: u64, share: u16) -> Event {
    Event::VehiclePass(VehiclePass {
        camera: CameraId::new(camera),
        track: TrackId(1000 + seconds),
        reads: 6,
        first_seen: at(seconds),
        last_seen: at(seconds + 2),
        at: at(seconds + 1),
        appearance: look(share),
        evidence: None,
    })
}

fn crossing(camera: &str, seconds: u64) -> Event {
    Event::Crossing(Crossing {
        camera: CameraId::new(camera),
        line: "stop".into(),
        lane: None,
        track: TrackId(seconds),
        class: VehicleClass::Car,
        at: at(seconds),
        direction: CrossingDirection::Forward,
        speed_kmh: None,
    })
}

/// Two cameras 1 km apart: 40 s at 90 km/h to 360 s at 10 km/h.
fn link(from: &str, to: &str) -> CameraLinkConfig {
    CameraLinkConfig {
        from: from.into(),
        to: to.into(),
        distance_m: 1000.0,
        min_speed_kmh: 10.0,
        max_speed_kmh: 90.0,
        one_way: false,
    }
}

struct Api {
    server: Server,
    base: String,
    _directory: tempfile::TempDir,
    evidence: String,
}

/// A SQLite store in a temporary directory (kept while the directory lives), with its URL.
fn sqlite_store() -> (
    tempfile::TempDir,
    String,
    Box<dyn roadsight_store::EventStore>,
) {
    let directory = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", directory.path().join("city.db").display());
    let store = roadsight_store::open(&url).unwrap();
    (directory, url, store)
}

fn start(live_buffer: usize) -> Api {
    let (directory, url, mut store) = sqlite_store();
    let evidence = store
        .put_evidence("image/jpeg", b"\xFF\xD8 a car", at(0))
        .unwrap();
    store
        .append(&[
            plate("51G12345", "a", 0, Some(evidence.clone())),
            plate("51G12345", "b", 100, None),
            candidate_read("5IG12345", "c", 250), // an unsure misread, on the way
            with_look(plate("30A99999", "a", 50, None), 10_000),
            with_look(plate("30A99999", "c", 350, None), 10_000),
            // Between them at b, two vehicles with no plate read: one looks like 30A99999.
            pass("b", 190, 5_000),
            pass("b", 200, 10_000),
            crossing("a", 0),
            Event::FlowCount(FlowCount {
                camera: CameraId::new("a"),
                kind: CounterKind::Line,
                counter: "stop".into(),
                lane: None,
                direction: Some(CrossingDirection::Forward),
                class: VehicleClass::Car,
                interval_start: at(0),
                interval_s: 900,
                count: 12,
                pcu: 12.0,
            }),
        ])
        .unwrap();
    let user = |name: &str, token: &str, role| ApiUserConfig {
        name: name.into(),
        token: token.into(),
        role,
    };
    let server = Server::start(
        ServerSettings {
            bind: "127.0.0.1:0".into(),
            users: vec![
                user("desk-1", OPERATOR, Role::Operator),
                user("officer-lan", OFFICER, Role::Officer),
                user("root", ADMIN, Role::Admin),
            ],
            store_url: url,
            routes: RoutesConfig {
                links: vec![link("a", "b"), link("b", "c")],
                ..RoutesConfig::default()
            },
            cameras: ["a", "b", "c"]
                .iter()
                .map(|id| CameraInfo {
                    id: id.to_string(),
                    description: None,
                    intersection: None,
                    approach: None,
                })
                .collect(),
            live_buffer,
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let base = format!("http://{}", server.address());
    Api {
        server,
        base,
        _directory: directory,
        evidence,
    }
}

fn get(api: &Api, path: &str, token: Option<&str>) -> (u16, serde_json::Value) {
    let client = reqwest::blocking::Client::new();
    let mut request = client.get(format!("{}{path}", api.base));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().unwrap();
    let status = response.status().as_u16();
    let body = response.text().unwrap();
    (
        status,
        serde_json::from_str(&body).unwrap_or(serde_json::Value::String(body)),
    )
}

#[test]
fn roles_gate_every_endpoint_and_bad_requests_name_their_field() {
    let api = start(64);
    assert_eq!(get(&api, "/healthz", None).0, 200);
    let (status, body) = get(&api, "/api/cameras", None);
    assert_eq!(status, 401);
    assert!(body["error"].as_str().unwrap().contains("token"), "{body}");
    assert_eq!(get(&api, "/api/cameras", Some("not-a-token-at-all")).0, 401);
    assert_eq!(get(&api, "/api/cameras", Some(OPERATOR)).0, 200);
    // Plates are for officers.
    for path in [
        "/api/plates/51G12345/trace",
        "/api/plates/search?q=51G12345",
        "/api/events?type=plate",
    ] {
        let (status, body) = get(&api, path, Some(OPERATOR));
        assert_eq!(status, 403, "{path}: {body}");
    }
    assert_eq!(
        get(
            &api,
            &format!("/api/evidence/{}", api.evidence),
            Some(OPERATOR)
        )
        .0,
        403
    );
    assert_eq!(get(&api, "/api/audit", Some(OFFICER)).0, 403);
    // Bad parameters: 400 naming the field.
    for (path, field) in [
        ("/api/counts?from=yesterday", "from"),
        ("/api/counts?class=tank", "class"),
        ("/api/counts?limit=0", "limit"),
        ("/api/events?type=parade", "type"),
        ("/api/od?interval_s=5", "interval_s"),
        ("/api/plates/search?q=", "q"),
        ("/api/plates/!!/trace", "plate"),
        ("/api/evidence/not-an-address", "address"),
        (
            "/api/counts?from=2026-11-23T09:00:00Z&to=2026-11-23T08:00:00Z",
            "to",
        ),
    ] {
        let (status, body) = get(&api, path, Some(ADMIN));
        assert_eq!(status, 400, "{path}: {body}");
        assert_eq!(body["field"], field, "{path}: {body}");
    }
    // Operators see events, but no plate among them.
    let (status, body) = get(&api, "/api/events", Some(OPERATOR));
    assert_eq!(status, 200);
    let kinds: Vec<&str> = body["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert!(!kinds.is_empty() && !kinds.contains(&"plate"), "{kinds:?}");
    // Officers see plate reads, their confidences as written (0.9, not 0.8999999761581421).
    let (status, body) = get(&api, "/api/events?type=plate", Some(OFFICER));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["events"][0]["confidence"], 0.9, "{body}");
    let (_, counts) = get(&api, "/api/counts?camera=a&class=car", Some(OPERATOR));
    assert_eq!(counts["counts"][0]["count"], 12);
    // The document lists every route.
    let (_, document) = get(&api, "/api/openapi.json", None);
    for path in [
        "/healthz",
        "/metrics",
        "/api/cameras",
        "/api/counts",
        "/api/od",
        "/api/events",
        "/api/live",
        "/api/plates/search",
        "/api/plates/{plate}/trace",
        "/api/evidence/{address}",
        "/api/audit",
    ] {
        assert!(
            document["paths"][path].is_object(),
            "{path} missing from the OpenAPI document"
        );
    }
}

#[test]
fn a_trace_takes_the_pass_its_vehicle_made_with_no_plate_read_by_its_look() {
    let api = start(64);
    let (status, trace) = get(&api, "/api/plates/30A99999/trace", Some(OFFICER));
    assert_eq!(status, 200, "{trace}");
    let routes = trace["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 1, "{trace}");
    let sightings: Vec<(&str, &str, bool, Option<f64>)> = routes[0]["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["camera"].as_str().unwrap(),
                s["plate"].as_str().unwrap(),
                s["candidate"].as_bool().unwrap(),
                s["appearance_distance"].as_f64(),
            )
        })
        .collect();
    assert_eq!(
        sightings,
        [
            ("a", "30A99999", false, None),
            ("b", "", true, Some(0.0)),
            ("c", "30A99999", false, None)
        ],
        "{trace}"
    );
    assert_eq!(
        routes[0]["sightings"][1]["at"],
        serde_json::to_value(at(201)).unwrap(),
        "the pass that looks like it, not the one before"
    );
}

#[test]
fn a_trace_reaches_passes_link_after_link_from_a_plate_read_once() {
    // 29B77777 is read at a only; its vehicle then passes b and c with no plate voted. The
    // pass at c is two links from the read: the trace reaches it through the pass at b.
    let (_directory, _, mut store) = sqlite_store();
    store
        .append(&[
            with_look(plate("29B77777", "a", 0, None), 3_000),
            pass("b", 100, 3_000),
            pass("c", 200, 3_000),
            pass("c", 210, 9_000), // another vehicle
        ])
        .unwrap();
    let settings = RoutesConfig {
        links: vec![link("a", "b"), link("b", "c")],
        ..RoutesConfig::default()
    };
    let trace =
        roadsight_server::queries::trace_plate(store.as_mut(), "29B77777", None, None, &settings)
            .unwrap();
    assert_eq!(trace.routes.len(), 1, "{trace:?}");
    let route = &trace.routes[0];
    assert_eq!(route.cameras(), ["a", "b", "c"], "{trace:?}");
    assert_eq!(
        route.sightings[2].at,
        at(201),
        "the pass that looks like it"
    );
    assert_eq!(trace.sightings, 3);
    // With one link configured, one round: the pass at b only.
    let one_link = RoutesConfig {
        links: vec![link("a", "b")],
        ..RoutesConfig::default()
    };
    let trace =
        roadsight_server::queries::trace_plate(store.as_mut(), "29B77777", None, None, &one_link)
            .unwrap();
    assert_eq!(trace.routes[0].cameras(), ["a", "b"], "{trace:?}");
}

#[test]
fn a_trace_takes_the_plate_s_bottom_row_read_alone_where_a_link_vouches() {
    // 59S229969 is read sure at c only; at a and b the reader gave its bottom row alone, as
    // candidates. The trace finds those sightings in the store and joins them over the links.
    let (_directory, _, mut store) = sqlite_store();
    store
        .append(&[
            candidate_read("29969", "a", 0),
            candidate_read("29969", "b", 100),
            plate("59S229969", "c", 200, None),
            candidate_read("29969", "c", 1_000), // another vehicle: no link vouches for it
        ])
        .unwrap();
    let settings = RoutesConfig {
        links: vec![link("a", "b"), link("b", "c")],
        ..RoutesConfig::default()
    };
    let trace =
        roadsight_server::queries::trace_plate(store.as_mut(), "59S229969", None, None, &settings)
            .unwrap();
    assert_eq!(trace.routes.len(), 1, "{trace:?}");
    let route = &trace.routes[0];
    assert_eq!(route.plate, "59S229969");
    assert_eq!(route.cameras(), ["a", "b", "c"], "{trace:?}");
    assert!(route.sightings[..2]
        .iter()
        .all(|s| s.candidate && s.plate == "29969"));
    // Without fuzzy matching a plate is only itself.
    let exact = RoutesConfig {
        fuzzy: false,
        ..settings
    };
    let trace =
        roadsight_server::queries::trace_plate(store.as_mut(), "59S229969", None, None, &exact)
            .unwrap();
    assert_eq!(trace.routes[0].cameras(), ["c"], "{trace:?}");
}

#[test]
fn a_trace_follows_the_plate_with_its_evidence_and_every_plate_question_is_audited() {
    let api = start(64);
    let (status, trace) = get(
        &api,
        "/api/plates/51G-123.45/trace?from=2026-11-23T07:00:00Z",
        Some(OFFICER),
    );
    assert_eq!(status, 200, "{trace}");
    assert_eq!(trace["plate"], "51G12345");
    let routes = trace["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 1, "{trace}");
    let cameras: Vec<&str> = routes[0]["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["camera"].as_str().unwrap())
        .collect();
    assert_eq!(cameras, ["a", "b", "c"], "the misread at c fits the trip");
    let marks: Vec<bool> = routes[0]["sightings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["candidate"].as_bool().unwrap())
        .collect();
    assert_eq!(marks, [false, false, true], "{trace}");
    // The plates the trace drew on: a text only ever read unsurely is marked.
    let matched: Vec<(&str, bool)> = trace["matched_plates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["plate"].as_str().unwrap(),
                m["candidate"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        matched,
        [("51G12345", false), ("5IG12345", true)],
        "{trace}"
    );
    assert_eq!(routes[0]["sightings"][0]["evidence"], api.evidence.as_str());
    // The evidence behind the link.
    let image = reqwest::blocking::Client::new()
        .get(format!("{}/api/evidence/{}", api.base, api.evidence))
        .bearer_auth(OFFICER)
        .send()
        .unwrap();
    assert_eq!(image.status().as_u16(), 200);
    assert_eq!(image.headers()["content-type"], "image/jpeg");
    assert_eq!(image.bytes().unwrap().as_ref(), b"\xFF\xD8 a car");
    let missing = format!("/api/evidence/sha256:{}", "0".repeat(64));
    assert_eq!(get(&api, &missing, Some(OFFICER)).0, 404);
    let (_, search) = get(&api, "/api/plates/search?q=51G12346", Some(OFFICER));
    assert_eq!(search["matches"][0]["plate"], "51G12345");
    assert_eq!(search["matches"][0]["best_confidence"], 0.9);
    assert_eq!(search["matches"][0]["candidate"], false);
    // Who asked what, and how much came back.
    let (status, audit) = get(&api, "/api/audit?limit=10", Some(ADMIN));
    assert_eq!(status, 200);
    let entries = audit["entries"].as_array().unwrap();
    let actions: Vec<(&str, &str, &str, u64)> = entries
        .iter()
        .map(|e| {
            (
                e["who"].as_str().unwrap(),
                e["action"].as_str().unwrap(),
                e["subject"].as_str().unwrap(),
                e["results"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        actions,
        [
            ("officer-lan", "plate_search", "51G12346", 1),
            (
                "officer-lan",
                "evidence",
                missing.trim_start_matches("/api/evidence/"),
                0
            ),
            ("officer-lan", "evidence", api.evidence.as_str(), 1),
            ("officer-lan", "plate_trace", "51G12345", 3),
        ]
    );
    assert!(entries[3]["query"]
        .as_str()
        .unwrap()
        .contains("from=2026-11-23T07:00:00Z"));
    // Origin-destination for operators: two trips, a->c each.
    let (_, od) = get(&api, "/api/od", Some(OPERATOR));
    assert_eq!(od["cells"][0]["origin"], "a");
    assert_eq!(od["cells"][0]["destination"], "c");
    assert_eq!(od["cells"][0]["trips"], 2, "{od}");
    let (_, metrics) = get(&api, "/metrics", None);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(
        metrics.contains("roadsight_audit_records_total 4"),
        "{metrics}"
    );
    assert!(
        metrics.contains("route=\"/api/plates/{plate}/trace\",status=\"200\"} 1"),
        "{metrics}"
    );
    // Any token is a valid HTTP method; the ones that are not standard share one label.
    for method in ["BREW", "PROPFIND-ABC"] {
        reqwest::blocking::Client::new()
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                format!("{}/api/cameras", api.base),
            )
            .send()
            .unwrap();
    }
    let (_, metrics) = get(&api, "/metrics", None);
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(!metrics.contains("BREW"), "{metrics}");
    assert!(
        metrics.contains("method=\"other\",route=\"/api/cameras\",status=\"405\"} 2"),
        "{metrics}"
    );
}

async fn next_json<S>(socket: &mut S) -> serde_json::Value
where
    S: futures_util::Stream<
            Item = Result<
                tokio_tungstenite::tungstenite::Message,
                tokio_tungstenite::tungstenite::Error,
            >,
        > + Unpin,
{
    let message = tokio::time::timeout(Duration::from_secs(5), socket.next())
        .await
        .expect("a message within 5 s")
        .expect("the socket is open")
        .expect("a good message");
    serde_json::from_str(message.to_text().expect("text")).expect("JSON")
}

#[test]
fn the_live_feed_filters_by_role_type_and_camera_and_tells_a_slow_client_what_it_missed() {
    let api = start(16);
    let live = api.server.live();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let address = api.server.address();
        let connect = |query: String| async move {
            let (socket, _) =
                tokio_tungstenite::connect_async(format!("ws://{address}/api/live?{query}"))
                    .await
                    .unwrap();
            socket
        };
        let mut operator = connect(format!("token={OPERATOR}&camera=a")).await;
        let mut officer = connect(format!("token={OFFICER}&type=plate")).await;
        // A role too low is refused before the upgrade.
        let refused = tokio_tungstenite::connect_async(format!(
            "ws://{address}/api/live?token={OPERATOR}&type=plate"
        ))
        .await;
        assert!(refused.is_err());
        live.publish(&crossing("b", 1)); // other camera: not for the operator
        live.publish(&plate("59L214999", "a", 2, None)); // a plate: not for the operator
        live.publish(&crossing("a", 3));
        let first = next_json(&mut operator).await;
        assert_eq!(
            (first["type"].as_str(), first["camera"].as_str()),
            (Some("crossing"), Some("a")),
            "{first}"
        );
        assert_eq!(first["v"], 1);
        let plate_event = next_json(&mut officer).await;
        assert_eq!(plate_event["text"], "59L214999");
        // 5,000 events pass a 16-event ring far faster than one client's socket takes them:
        // the client is told what it missed (possibly after some it did get), then goes on.
        for second in 0..5_000 {
            live.publish(&plate("30A99999", "c", 100 + second, None));
        }
        let mut received = 0;
        let missed = loop {
            let message = next_json(&mut officer).await;
            if message["type"] == "lagged" {
                break message["missed"].as_u64().expect("a count");
            }
            assert_eq!(message["type"], "plate", "{message}");
            received += 1;
            assert!(received < 5_000, "no lag notice although the ring holds 16");
        };
        assert!(missed >= 1);
        // It goes on with the events still held (more notices first if it keeps lagging).
        let mut resumed = next_json(&mut officer).await;
        for _ in 0..10_000 {
            if resumed["type"] != "lagged" {
                break;
            }
            resumed = next_json(&mut officer).await;
        }
        assert_eq!(resumed["type"], "plate", "{resumed}");
    });
    let (_, metrics) = get(&api, "/metrics", None);
    let lagged: u64 = metrics
        .as_str()
        .unwrap()
        .lines()
        .find_map(|line| line.strip_prefix("roadsight_live_lagged_events_total "))
        .and_then(|value| value.parse().ok())
        .expect("the lagged counter");
    assert!(lagged >= 1, "{metrics}");
}
