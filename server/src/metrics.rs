//! Counters for Prometheus (`GET /metrics`, text format 0.0.4).

use crate::live::LiveCounters;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// `(method, route template, status)` to requests.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    pub(crate) audit_records: AtomicU64,
    pub(crate) store_errors: AtomicU64,
}

impl Metrics {
    pub(crate) fn request(&self, method: &str, route: &str, status: u16) {
        if let Ok(mut requests) = self.requests.lock() {
            *requests
                .entry((method.to_string(), route.to_string(), status))
                .or_default() += 1;
        }
    }

    pub(crate) fn render(&self, live: &LiveCounters) -> String {
        let mut text = String::new();
        text.push_str(
            "# HELP roadsight_http_requests_total HTTP requests by method, route and status.\n",
        );
        text.push_str("# TYPE roadsight_http_requests_total counter\n");
        if let Ok(requests) = self.requests.lock() {
            for ((method, route, status), count) in requests.iter() {
                let _ = writeln!(
                    text,
                    "roadsight_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {count}",
                    route.replace('\\', "\\\\").replace('"', "\\\"")
                );
            }
        }
        let gauges = [
            (
                "roadsight_live_events_total",
                "counter",
                "Events published to the live feed.",
                live.published.load(Ordering::Relaxed),
            ),
            (
                "roadsight_live_lagged_events_total",
                "counter",
                "Events live clients missed by falling behind.",
                live.lagged.load(Ordering::Relaxed),
            ),
            (
                "roadsight_live_clients",
                "gauge",
                "Live feed clients connected.",
                live.clients.load(Ordering::Relaxed),
            ),
            (
                "roadsight_audit_records_total",
                "counter",
                "Audit rows written for plate and evidence questions.",
                self.audit_records.load(Ordering::Relaxed),
            ),
            (
                "roadsight_store_errors_total",
                "counter",
                "Requests the store could not answer.",
                self.store_errors.load(Ordering::Relaxed),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                text,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        text
    }
}
