#![allow(clippy::expect_used)] // Test code: a failed expect is a failed test.
//! Against the machine's real NATS server with JetStream (`ROADSIGHT_TEST_NATS`, default
//! nats://127.0.0.1:4222), each test on a stream of its own. Without a server the tests fail
//! under `CI=true` and report themselves as not run otherwise.

use roadsight_broker::{remove_stream, BrokerConfig, Consumer, Delivery, Publisher};
use roadsight_core::counting::{Crossing, CrossingDirection};
use roadsight_core::{CameraId, Event, Timestamp, TrackId, VehicleClass};
use std::time::Duration;

fn config(name: &str) -> Option<BrokerConfig> {
    let config = BrokerConfig {
        url: std::env::var("ROADSIGHT_TEST_NATS")
            .unwrap_or_else(|_| "nats://127.0.0.1:4222".into()),
        stream: format!("RS_TEST_{name}_{}", std::process::id()),
        subject_prefix: format!("rstest{}.{name}", std::process::id()),
        durable: "central".into(),
        max_age_days: 1.0,
    };
    match Publisher::connect(&config) {
        Ok(_) => Some(config),
        Err(error) if std::env::var("CI").is_ok_and(|ci| ci == "true") => {
            panic!("CI=true and NATS is not usable: {error}")
        }
        Err(error) => {
            eprintln!("NOT RUN: NATS JetStream tests ({error})");
            None
        }
    }
}

fn crossing(track: u64) -> Event {
    Event::Crossing(Crossing {
        camera: CameraId::new("cam.north"),
        line: "stop".into(),
        lane: None,
        track: TrackId(track),
        class: VehicleClass::Car,
        at: Timestamp::from_nanos(1_795_392_000_000_000_000 + track as i64),
        direction: CrossingDirection::Forward,
        speed_kmh: None,
    })
}

#[test]
fn events_and_evidence_travel_once_and_unacked_ones_come_back() {
    let Some(config) = config("travel") else {
        return;
    };
    struct StreamGuard(BrokerConfig);
    impl Drop for StreamGuard {
        fn drop(&mut self) {
            let _ = remove_stream(&self.0);
        }
    }
    let _stream = StreamGuard(config.clone());
    let publisher = Publisher::connect(&config).expect("publisher");
    let events: Vec<Event> = (0..50).map(crossing).collect();
    assert_eq!(publisher.publish_events(&events).expect("published"), 0);
    // A worker that republishes after a failure: the stream drops the copies.
    assert_eq!(
        publisher
            .publish_events(&events[..10])
            .expect("republished"),
        10
    );
    assert_eq!(
        publisher.subject(&events[0]),
        format!("{}.cam_north", config.subject_prefix)
    );
    let address = publisher
        .publish_evidence("image/jpeg", b"\xFF\xD8 evidence", Timestamp::UNIX_EPOCH)
        .expect("evidence");

    let mut consumer = Consumer::connect(&config, Duration::from_secs(1)).expect("consumer");
    let first = consumer.fetch(20, Duration::from_secs(2)).expect("fetch");
    assert_eq!(first.len(), 20);
    // Not acknowledged: after ack_wait they are delivered again.
    drop(first);
    std::thread::sleep(Duration::from_millis(1500));
    let mut seen = Vec::new();
    let mut evidence = None;
    for _ in 0..10 {
        let batch = consumer
            .fetch(100, Duration::from_millis(500))
            .expect("fetch");
        if batch.is_empty() && seen.len() >= 50 {
            break;
        }
        for received in &batch {
            match &received.delivery {
                Delivery::Event(event) => seen.push(event.id()),
                Delivery::Evidence {
                    address,
                    bytes,
                    media_type,
                    ..
                } => evidence = Some((address.clone(), bytes.clone(), media_type.clone())),
                Delivery::Malformed { reason, .. } => panic!("malformed: {reason}"),
            }
        }
        consumer.ack(&batch).expect("ack");
    }
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 50, "every event, redelivered ones included");
    assert_eq!(
        evidence,
        Some((
            address,
            b"\xFF\xD8 evidence".to_vec(),
            "image/jpeg".to_string()
        ))
    );
    // All acknowledged: nothing more comes.
    assert!(consumer
        .fetch(10, Duration::from_millis(300))
        .expect("fetch")
        .is_empty());
}

#[test]
fn an_unreachable_server_is_named() {
    let config = BrokerConfig {
        url: "nats://127.0.0.1:1".into(),
        ..BrokerConfig::default()
    };
    let error = Publisher::connect(&config).expect_err("nothing listens on port 1");
    assert!(error.to_string().contains("nats://127.0.0.1:1"), "{error}");
}
