//! The event stream: one versioned, tagged record type for everything the pipeline tells the
//! rest of the city (the store, the live feed, the broker, other systems).
//!
//! On the wire an event is one JSON object: `{"v": 1, "type": "crossing", ...the record}`.
//! `docs/events.md` documents every type with an example; a test parses each example, so the
//! page stays true. New fields may appear within a version; a field's meaning never changes
//! without a new `v`.

use crate::appearance::Appearance;
use crate::counting::{Crossing, FlowCount, MovementDone};
use crate::health::CameraHealth;
use crate::ids::CameraId;
use crate::signal::PlanDecision;
use crate::time::Timestamp;
use crate::vehicle::TrackId;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The version written in every event's `v`.
pub const EVENT_SCHEMA_VERSION: u32 = 1;

/// A tracked vehicle's plate, voted over the camera's reads of it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackPlate {
    pub camera: CameraId,
    pub track: TrackId,
    /// Normalised: upper case, letters and digits.
    pub text: String,
    /// As printed on the plate (`59-L2 149.99`).
    pub formatted: String,
    /// The lowest per-character confidence, 0-1.
    pub confidence: f32,
    pub char_confidence: Vec<f32>,
    /// One- or two-row plate.
    pub rows: u8,
    /// Whether a plate format the reader knows holds (Vietnamese, or a one-row national format).
    pub valid: bool,
    /// Reads voted over, and how many agree with the result exactly.
    pub reads: usize,
    pub agreeing: usize,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// When the vehicle was at the camera: the time of the best read (its evidence).
    pub at: Timestamp,
    /// The evidence image (JPEG of the vehicle), by content address: `sha256:<hex>`.
    pub evidence: Option<String>,
    /// Too unsure to stand alone (voted confidence under `[plates] emit_confidence`, given
    /// when the track ended): route tracing uses it only to fill a sure route's missing pass.
    /// Absent in events of earlier versions: false.
    #[serde(default)]
    pub candidate: bool,
    /// The vehicle's look over the crops read until the plate was given
    /// ([`crate::appearance`]). Absent in events of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub appearance: Option<Appearance>,
}

/// A tracked vehicle the plate stage read but voted no plate for, not even a candidate (no read
/// found one, or the reads disagreed): route tracing may still join the pass to its vehicle's
/// route by its look and travel time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VehiclePass {
    pub camera: CameraId,
    pub track: TrackId,
    /// Vehicle crops read.
    pub reads: usize,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    /// When the vehicle was at the camera: the time of its widest crop (its evidence).
    pub at: Timestamp,
    /// Its look over the crops read.
    pub appearance: Appearance,
    /// The evidence image (JPEG of the vehicle's widest crop), by content address.
    pub evidence: Option<String>,
}

/// Everything the pipeline emits, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// A camera's health changed.
    CameraHealth(CameraHealth),
    /// A tracked vehicle crossed a counting line.
    Crossing(Crossing),
    /// A tracked vehicle completed a turning movement.
    Movement(MovementDone),
    /// Vehicles of one class over one counter in a closed interval.
    FlowCount(FlowCount),
    /// A tracked vehicle's plate.
    Plate(TrackPlate),
    /// A tracked vehicle read for its plate in vain.
    VehiclePass(VehiclePass),
    /// A timing plan issued for an intersection.
    TimingPlan(PlanDecision),
}

/// The wire form: the version, then the event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventEnvelope {
    pub v: u32,
    #[serde(flatten)]
    pub event: Event,
}

impl From<Event> for EventEnvelope {
    fn from(event: Event) -> Self {
        EventEnvelope {
            v: EVENT_SCHEMA_VERSION,
            event,
        }
    }
}

impl Event {
    /// The `type` tag.
    pub fn kind(&self) -> &'static str {
        match self {
            Event::CameraHealth(_) => "camera_health",
            Event::Crossing(_) => "crossing",
            Event::Movement(_) => "movement",
            Event::FlowCount(_) => "flow_count",
            Event::Plate(_) => "plate",
            Event::VehiclePass(_) => "vehicle_pass",
            Event::TimingPlan(_) => "timing_plan",
        }
    }

    /// Every `type` tag, in the order of the enum.
    pub const KINDS: [&'static str; 7] = [
        "camera_health",
        "crossing",
        "movement",
        "flow_count",
        "plate",
        "vehicle_pass",
        "timing_plan",
    ];

    /// When it happened: capture time for what cameras saw, the end of a count's interval,
    /// the start of a plan's validity.
    pub fn at(&self) -> Timestamp {
        match self {
            Event::CameraHealth(health) => health.at,
            Event::Crossing(crossing) => crossing.at,
            Event::Movement(movement) => movement.at,
            Event::FlowCount(count) => count
                .interval_start
                .plus(std::time::Duration::from_secs(count.interval_s)),
            Event::Plate(plate) => plate.at,
            Event::VehiclePass(pass) => pass.at,
            Event::TimingPlan(decision) => decision.plan.valid_from,
        }
    }

    /// The camera it comes from, if a camera.
    pub fn camera(&self) -> Option<&CameraId> {
        match self {
            Event::CameraHealth(health) => Some(&health.camera),
            Event::Crossing(crossing) => Some(&crossing.camera),
            Event::Movement(movement) => Some(&movement.camera),
            Event::FlowCount(count) => Some(&count.camera),
            Event::Plate(plate) => Some(&plate.camera),
            Event::VehiclePass(pass) => Some(&pass.camera),
            Event::TimingPlan(_) => None,
        }
    }

    /// The intersection, for a timing plan.
    pub fn intersection(&self) -> Option<&str> {
        match self {
            Event::TimingPlan(decision) => Some(&decision.plan.intersection),
            _ => None,
        }
    }

    /// A stable identity: the same event (replayed footage, a redelivered message) always has
    /// the same id, so stores and consumers can drop duplicates. 32 hex digits: the event's
    /// time (nanoseconds since the Unix epoch) and 64 bits of SHA-256 over its wire JSON.
    pub fn id(&self) -> String {
        self.wire().0
    }

    /// The id and the wire JSON (`{"v":1,"type":...}`), from one serialisation.
    pub fn wire(&self) -> (String, String) {
        #[derive(Serialize)]
        struct Wire<'a> {
            v: u32,
            #[serde(flatten)]
            event: &'a Event,
        }
        let json = serde_json::to_string(&Wire {
            v: EVENT_SCHEMA_VERSION,
            event: self,
        })
        .unwrap_or_default();
        // Time first, then 64 bits of SHA-256 over the wire JSON: the same event always gets
        // the same id, and ids of events close in time sort close together, so a store's index
        // of ids grows at its end instead of all over (measured: this is what keeps inserts
        // fast once the store holds millions of events).
        let digest = Sha256::digest(json.as_bytes());
        let time = self.at().as_nanos() as u64;
        (format!("{time:016x}{}", hex(&digest[..8])), json)
    }
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(DIGITS[usize::from(byte >> 4)] as char);
        text.push(DIGITS[usize::from(byte & 0x0f)] as char);
    }
    text
}

/// The content address of a blob: `sha256:<64 hex>`.
pub fn content_address(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::counting::CrossingDirection;
    use crate::health::HealthState;
    use crate::vehicle::VehicleClass;

    fn crossing() -> Event {
        Event::Crossing(Crossing {
            camera: CameraId::new("cam"),
            line: "stop".into(),
            lane: Some("1".into()),
            track: TrackId(7),
            class: VehicleClass::Car,
            at: Timestamp::from_nanos(1_700_000_000_000_000_000),
            direction: CrossingDirection::Forward,
            speed_kmh: Some(41.5),
        })
    }

    #[test]
    fn the_wire_form_is_versioned_and_tagged_and_round_trips() {
        let envelope = EventEnvelope::from(crossing());
        let json = serde_json::to_value(&envelope).expect("serialises");
        assert_eq!(json["v"], 1);
        assert_eq!(json["type"], "crossing");
        assert_eq!(json["line"], "stop");
        let back: EventEnvelope = serde_json::from_value(json).expect("parses");
        assert_eq!(back, envelope);
        // A health record keeps its own `state` tag beside the event's `type`.
        let health = EventEnvelope::from(Event::CameraHealth(CameraHealth {
            camera: CameraId::new("cam"),
            at: Timestamp::UNIX_EPOCH,
            state: HealthState::Stalled { silent_for_ms: 500 },
        }));
        let json = serde_json::to_string(&health).expect("serialises");
        assert!(
            json.contains(r#""type":"camera_health""#) && json.contains(r#""state":"stalled""#),
            "{json}"
        );
        assert_eq!(
            serde_json::from_str::<EventEnvelope>(&json).expect("parses"),
            health
        );
    }

    #[test]
    fn ids_are_stable_and_differ_between_events() {
        let a = crossing();
        assert_eq!(a.id(), crossing().id());
        assert_eq!(a.id().len(), 32);
        let Event::Crossing(mut other) = crossing() else {
            unreachable!("built as a crossing")
        };
        other.track = TrackId(8);
        assert_ne!(a.id(), Event::Crossing(other).id());
        assert_eq!(a.kind(), "crossing");
        assert_eq!(a.camera().map(CameraId::as_str), Some("cam"));
    }

    #[test]
    fn the_wire_json_is_the_envelope_byte_for_byte_so_ids_never_change() {
        // Ids are the store's idempotency key: a replay after an upgrade must find them again.
        let plate: EventEnvelope = serde_json::from_str(
            r#"{"v":1,"type":"plate","camera":"km0","track":2,"text":"59H155699","formatted":"59-H1 556.99","confidence":0.95580727,"char_confidence":[0.9998543,0.99892646],"rows":2,"valid":true,"reads":5,"agreeing":5,"first_seen":"2026-11-23T08:00:19.100000000Z","last_seen":"2026-11-23T08:00:19.900000000Z","at":"2026-11-23T08:00:19.900000000Z","evidence":null,"candidate":false,"appearance":[147,0,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1829,170,0,0,5,427,0,0,0,0,0,0,0,0,0,0,484,59,0,0,2,2063,385,0,0,16,2714,0,0,0,0,0,21,5,0,0,2,342,50,0,0,14,457,30,0,0,10,766]}"#,
        )
        .expect("a plate event parses");
        let health = Event::CameraHealth(CameraHealth {
            camera: CameraId::new("cam"),
            at: Timestamp::UNIX_EPOCH,
            state: HealthState::Stalled { silent_for_ms: 500 },
        });
        for event in [crossing(), health, plate.event] {
            let (id, json) = event.wire();
            let envelope =
                serde_json::to_string(&EventEnvelope::from(event.clone())).expect("serialises");
            assert_eq!(json, envelope);
            assert_eq!(id, event.id());
        }
        // The crossing's id, as every earlier version computed it.
        assert_eq!(crossing().id(), "17979cfe362a000098192b9e932e9dc4");
    }

    #[test]
    fn content_addresses_are_sha256() {
        assert_eq!(
            content_address(b"abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
