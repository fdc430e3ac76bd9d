//! Camera health: the typed record ingest emits whenever a camera changes state.

use crate::ids::CameraId;
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One change in a camera's state, stamped with the time it was observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CameraHealth {
    pub camera: CameraId,
    pub at: Timestamp,
    #[serde(flatten)]
    pub state: HealthState,
}

/// The states a camera moves through.
///
/// A recorded camera goes `Connected` then `Finished` (or `Failed`, possibly after `Stalled`
/// when its source goes silent without an error while analysis keeps up). A live camera goes
/// `Connected`, then on an error or a silent stream `Stalled`/`Reconnecting`, and back to
/// `Connected` when frames flow again. It is `Failed` only when a retry limit is configured and
/// reached.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum HealthState {
    /// The source is open and the first frame has arrived.
    Connected,
    /// No frame arrived for `silent_for_ms` although the source did not report an error.
    Stalled { silent_for_ms: u64 },
    /// The source is torn down and will be opened again after `retry_in_ms`.
    Reconnecting {
        attempt: u32,
        retry_in_ms: u64,
        cause: String,
    },
    /// The camera stopped for good: a recorded source that errored, or a live one out of retries.
    Failed { cause: String },
    /// A recorded source reached its end.
    Finished { frames: u64 },
}

impl HealthState {
    pub fn name(&self) -> &'static str {
        match self {
            HealthState::Connected => "connected",
            HealthState::Stalled { .. } => "stalled",
            HealthState::Reconnecting { .. } => "reconnecting",
            HealthState::Failed { .. } => "failed",
            HealthState::Finished { .. } => "finished",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_tagged_json() {
        let health = CameraHealth {
            camera: CameraId::new("cam-1"),
            at: Timestamp::from_nanos(0),
            state: HealthState::Reconnecting {
                attempt: 2,
                retry_in_ms: 800,
                cause: "connection refused".into(),
            },
        };
        let json = serde_json::to_value(&health).unwrap();
        assert_eq!(json["state"], "reconnecting");
        assert_eq!(json["attempt"], 2);
        assert_eq!(json["camera"], "cam-1");
        let back: CameraHealth = serde_json::from_value(json).unwrap();
        assert_eq!(back, health);
    }
}
