#![allow(clippy::expect_used)] // Test code: a failed expect is a failed test.
//! `docs/events.md` stays true: every JSON example in it parses as an event of the type it is
//! documented under, and every event type is documented.

use roadsight_core::{Event, EventEnvelope, EVENT_SCHEMA_VERSION};

#[test]
fn every_documented_example_parses() {
    let page = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/events.md"))
        .expect("docs/events.md");
    let mut documented = Vec::new();
    let mut heading = String::new();
    let mut in_json = false;
    for line in page.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            heading = title.trim_matches('`').to_string();
        } else if line == "```json" {
            in_json = true;
        } else if line == "```" {
            in_json = false;
        } else if in_json {
            let envelope: EventEnvelope = serde_json::from_str(line)
                .unwrap_or_else(|error| panic!("example under `{heading}`: {error}\n{line}"));
            assert_eq!(envelope.v, EVENT_SCHEMA_VERSION);
            assert_eq!(
                envelope.event.kind(),
                heading,
                "example filed under the wrong heading"
            );
            // What we write back is what was documented, field for field.
            let written: serde_json::Value =
                serde_json::from_str(&serde_json::to_string(&envelope).expect("serialises"))
                    .expect("JSON");
            let read: serde_json::Value = serde_json::from_str(line).expect("JSON");
            assert_eq!(written, read, "`{heading}` round trip");
            documented.push(heading.clone());
        }
    }
    for kind in Event::KINDS {
        assert!(
            documented.iter().any(|d| d == kind),
            "event type `{kind}` has no example in docs/events.md"
        );
    }
}
