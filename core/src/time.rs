//! Capture time and clocks.
//!
//! Every record carries the time its frame was captured, as a [`Timestamp`]. No stage reads the
//! wall clock: the edge that creates records (ingest) is handed a [`Clock`], and tests hand it a
//! [`ManualClock`].

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

/// A point in time: nanoseconds since the Unix epoch, UTC.
///
/// On the wire (JSON) it is an RFC 3339 string with nanoseconds, e.g.
/// `2026-11-23T08:00:00.040000000Z`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp {
    nanos_since_epoch: i64,
}

impl Timestamp {
    pub const UNIX_EPOCH: Timestamp = Timestamp {
        nanos_since_epoch: 0,
    };

    pub const fn from_nanos(nanos_since_epoch: i64) -> Self {
        Self { nanos_since_epoch }
    }

    pub const fn as_nanos(self) -> i64 {
        self.nanos_since_epoch
    }

    pub fn as_secs_f64(self) -> f64 {
        self.nanos_since_epoch as f64 / 1e9
    }

    /// Parses an RFC 3339 time such as `2026-11-23T08:00:00Z`.
    pub fn parse_rfc3339(text: &str) -> Result<Self, String> {
        let parsed = DateTime::parse_from_rfc3339(text).map_err(|e| e.to_string())?;
        parsed
            .with_timezone(&Utc)
            .timestamp_nanos_opt()
            .map(Self::from_nanos)
            .ok_or_else(|| format!("{text} is outside the representable range (1677..2262)"))
    }

    pub fn to_rfc3339(self) -> String {
        Utc.timestamp_nanos(self.nanos_since_epoch)
            .to_rfc3339_opts(SecondsFormat::Nanos, true)
    }

    /// This time moved forward by `duration` (saturating).
    pub fn plus(self, duration: Duration) -> Self {
        let nanos = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        Self::from_nanos(self.nanos_since_epoch.saturating_add(nanos))
    }

    /// This time moved back by `duration` (saturating).
    pub fn minus(self, duration: Duration) -> Self {
        let nanos = i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX);
        Self::from_nanos(self.nanos_since_epoch.saturating_sub(nanos))
    }

    /// `self - earlier`, or zero when `earlier` is later.
    pub fn duration_since(self, earlier: Timestamp) -> Duration {
        let nanos = self
            .nanos_since_epoch
            .saturating_sub(earlier.nanos_since_epoch);
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_rfc3339())
    }
}

impl fmt::Debug for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Timestamp({})", self.to_rfc3339())
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text).map_err(serde::de::Error::custom)
    }
}

/// Where "now" comes from. Only edges (ingest, adapters) hold one.
pub trait Clock: Send + Sync + fmt::Debug {
    fn now(&self) -> Timestamp;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        let nanos = Utc::now().timestamp_nanos_opt().unwrap_or(i64::MAX);
        Timestamp::from_nanos(nanos)
    }
}

/// A clock that moves only when told to; for tests.
#[derive(Debug, Default)]
pub struct ManualClock {
    nanos_since_epoch: AtomicI64,
}

impl ManualClock {
    pub fn starting_at(start: Timestamp) -> Self {
        Self {
            nanos_since_epoch: AtomicI64::new(start.as_nanos()),
        }
    }

    pub fn advance(&self, by: Duration) {
        let nanos = i64::try_from(by.as_nanos()).unwrap_or(i64::MAX);
        self.nanos_since_epoch.fetch_add(nanos, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_nanos(self.nanos_since_epoch.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trip_keeps_nanoseconds() {
        let t = Timestamp::parse_rfc3339("2026-11-23T08:00:00.123456789Z").unwrap();
        assert_eq!(t.to_rfc3339(), "2026-11-23T08:00:00.123456789Z");
        let json = serde_json::to_string(&t).unwrap();
        let back: Timestamp = serde_json::from_str(&json).unwrap();
        assert_eq!(back, t);
    }

    #[test]
    fn offsets_are_normalised_to_utc() {
        let t = Timestamp::parse_rfc3339("2026-11-23T15:00:00+07:00").unwrap();
        assert_eq!(t, Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap());
    }

    #[test]
    fn manual_clock_moves_only_when_told() {
        let clock = ManualClock::starting_at(Timestamp::from_nanos(5));
        assert_eq!(clock.now(), Timestamp::from_nanos(5));
        clock.advance(Duration::from_nanos(10));
        assert_eq!(clock.now(), Timestamp::from_nanos(15));
    }

    #[test]
    fn duration_since_saturates_at_zero() {
        let early = Timestamp::from_nanos(100);
        let late = Timestamp::from_nanos(300);
        assert_eq!(late.duration_since(early), Duration::from_nanos(200));
        assert_eq!(early.duration_since(late), Duration::ZERO);
    }
}
