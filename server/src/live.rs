//! The live feed: every event the pipeline emits, to every WebSocket client that wants it.
//!
//! Publishing never waits: events go into a broadcast ring of `[api] live_buffer` events. A
//! client that falls further behind is told how many events it missed (`{"type":"lagged",
//! "missed":N}`) and goes on from the oldest event still held. The store is fed separately
//! and never loses an event; only a slow screen does.

use roadsight_core::{CameraId, Event, EventEnvelope, HealthState, Timestamp};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// The latest state of a camera, as its health events told it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CameraStatus {
    pub state: String,
    pub since: Timestamp,
    pub detail: Option<String>,
}

#[derive(Debug, Default)]
pub(crate) struct LiveCounters {
    pub(crate) published: AtomicU64,
    pub(crate) lagged: AtomicU64,
    pub(crate) clients: AtomicU64,
}

/// The publishing side (cheap to clone; the pipeline holds one).
#[derive(Debug, Clone)]
pub struct LiveFeed {
    sender: broadcast::Sender<Arc<EventEnvelope>>,
    cameras: Arc<Mutex<BTreeMap<String, CameraStatus>>>,
    pub(crate) counters: Arc<LiveCounters>,
}

impl LiveFeed {
    /// A feed holding up to `buffer` events for slow clients.
    pub fn new(buffer: usize) -> LiveFeed {
        let (sender, _) = broadcast::channel(buffer.max(16));
        LiveFeed {
            sender,
            cameras: Arc::new(Mutex::new(BTreeMap::new())),
            counters: Arc::new(LiveCounters::default()),
        }
    }

    /// Sends `event` to every client (never blocks) and keeps camera statuses current.
    pub fn publish(&self, event: &Event) {
        if let Event::CameraHealth(health) = event {
            let detail = match &health.state {
                HealthState::Connected => None,
                HealthState::Stalled { silent_for_ms } => {
                    Some(format!("no frame for {silent_for_ms} ms"))
                }
                HealthState::Reconnecting { cause, .. } | HealthState::Failed { cause } => {
                    Some(cause.clone())
                }
                HealthState::Finished { frames } => Some(format!("{frames} frames analysed")),
            };
            if let Ok(mut cameras) = self.cameras.lock() {
                cameras.insert(
                    health.camera.to_string(),
                    CameraStatus {
                        state: health.state.name().to_string(),
                        since: health.at,
                        detail,
                    },
                );
            }
        }
        self.counters.published.fetch_add(1, Ordering::Relaxed);
        // Nobody watching: nothing to copy. (A client subscribing between the check and the
        // send would not have seen this event anyway.)
        if self.sender.receiver_count() == 0 {
            return;
        }
        // A client leaving in between makes the send fail harmlessly.
        let _ = self
            .sender
            .send(Arc::new(EventEnvelope::from(event.clone())));
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<EventEnvelope>> {
        self.sender.subscribe()
    }

    /// The last status a health event gave `camera`.
    pub fn status(&self, camera: &CameraId) -> Option<CameraStatus> {
        self.cameras.lock().ok()?.get(camera.as_str()).cloned()
    }
}
