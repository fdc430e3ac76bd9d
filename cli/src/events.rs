//! `roadsight run`'s events on their way to the store (or, in `roadsight worker`, to the
//! broker: the same queue, the same retries, another destination).
//!
//! A writer thread owns the destination. Events reach it over a bounded queue (`[store]
//! queue_depth`) whose policy is Block: a full queue holds the pipeline back, and no event is
//! ever dropped. The writer takes what is queued, up to `batch_size`, and stores it in one
//! transaction. When the store fails (a lost database), the same batch is retried with
//! backoff (1 s doubling to 30 s) and the failure is reported once per outage; when the run
//! ends, the writer keeps trying for `give_up_after` and then reports how many events it could
//! not store.
//!
//! Retention runs when the writer starts and then every [`RETENTION_EVERY`] of the clock, between
//! batches, so a run that stays up for months keeps only the policy's days.

use roadsight_core::{content_address, Clock, Event, Timestamp};
use roadsight_store::{EventStore, Retention, RetentionReport};
use serde::Serialize;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often a long run (or `roadsight central`) applies the retention policy again, in clock
/// time. A pass that finds nothing old is a few index reads.
pub const RETENTION_EVERY: Duration = Duration::from_secs(3600);

/// The longest an idle writer waits for an event before it looks at the clock again.
const IDLE_WAKE: Duration = Duration::from_secs(60);

/// When the next retention pass is due, and what the passes removed.
#[derive(Debug, Clone, Copy)]
pub struct RetentionSchedule {
    policy: Retention,
    next: Timestamp,
    removed: RetentionReport,
}

impl RetentionSchedule {
    /// Applies `policy` to `store` now, and schedules the next pass [`RETENTION_EVERY`] later.
    /// A store that cannot apply it at start is an error (the caller has not begun).
    pub fn start(
        store: &mut dyn EventStore,
        now: Timestamp,
        policy: Retention,
    ) -> Result<Self, roadsight_store::StoreError> {
        let removed = store.apply_retention(now, &policy)?;
        Ok(Self {
            policy,
            next: now.plus(RETENTION_EVERY),
            removed,
        })
    }

    /// How long from `now` until the next pass (zero when it is due).
    pub fn wait(&self, now: Timestamp) -> Duration {
        let nanos = self.next.as_nanos().saturating_sub(now.as_nanos());
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(0))
    }

    /// Applies the policy to `store` (named `name` on stderr) if a pass is due at `now`, and
    /// says what it removed, when anything, or why it failed. The next pass is due
    /// [`RETENTION_EVERY`] later whether this one succeeds or fails.
    pub fn run_if_due(&mut self, store: &mut dyn EventStore, name: &str, now: Timestamp) {
        if now < self.next {
            return;
        }
        self.next = now.plus(RETENTION_EVERY);
        match store.apply_retention(now, &self.policy) {
            Ok(pass) => {
                note_removed(name, &pass);
                self.removed += pass;
            }
            Err(error) => eprintln!(
                "store {name}: retention pass failed ({error}); the next is due in {} minutes",
                RETENTION_EVERY.as_secs() / 60
            ),
        }
    }

    /// What every pass so far removed, the one at start included.
    pub fn removed(&self) -> RetentionReport {
        self.removed
    }
}

/// What a retention pass removed, on stderr (nothing is not worth a line).
pub fn note_removed(store: &str, pass: &RetentionReport) {
    if *pass != RetentionReport::default() {
        eprintln!(
            "store {store}: retention removed {} events, {} sightings, {} counts, {} images and {} audit rows",
            pass.events, pass.sightings, pass.counts, pass.evidence, pass.audit
        );
    }
}

/// Where the writer puts events: the store, or the broker on the way to central's store.
pub enum Destination {
    Store(Box<dyn EventStore>),
    Broker(Box<roadsight_broker::Publisher>),
}

impl Destination {
    fn describe(&self) -> String {
        match self {
            Destination::Store(store) => store.describe(),
            Destination::Broker(publisher) => format!("broker {}", publisher.describe()),
        }
    }

    /// Writes the images, then the events; returns `(new, duplicates)`.
    fn write(
        &mut self,
        images: &[(&'static str, Vec<u8>, Timestamp)],
        events: &[Event],
    ) -> Result<(usize, usize), String> {
        match self {
            Destination::Store(store) => {
                for (media_type, bytes, at) in images {
                    store
                        .put_evidence(media_type, bytes, *at)
                        .map_err(|e| e.to_string())?;
                }
                let appended = store.append(events).map_err(|e| e.to_string())?;
                Ok((appended.inserted, appended.duplicates))
            }
            Destination::Broker(publisher) => {
                for (media_type, bytes, at) in images {
                    publisher
                        .publish_evidence(media_type, bytes, *at)
                        .map_err(|e| e.to_string())?;
                }
                let duplicates = publisher
                    .publish_events(events)
                    .map_err(|e| e.to_string())?;
                Ok((events.len() - duplicates, duplicates))
            }
        }
    }
}

enum Item {
    Event(Box<Event>),
    Evidence {
        media_type: &'static str,
        bytes: Vec<u8>,
        at: Timestamp,
    },
}

/// What the writer did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreReport {
    pub store: String,
    /// Events stored, and events already there (a replay).
    pub events: u64,
    pub duplicates: u64,
    pub evidence: u64,
    /// Writes that failed and were retried.
    pub write_failures: u64,
    /// Events given up on when the run ended with the store still failing.
    pub not_stored: u64,
    /// What retention removed: the pass at start, and one every [`RETENTION_EVERY`] after.
    pub retention: RetentionReport,
}

/// The run's side of the queue (and of the live feed, when the API runs).
pub struct EventSink {
    sender: Option<SyncSender<Item>>,
    writer: Option<JoinHandle<StoreReport>>,
    store: String,
    live: Option<roadsight_server::LiveFeed>,
}

impl EventSink {
    /// Applies the retention policy (to a store) and starts the writer, which applies it again
    /// every [`RETENTION_EVERY`] of `clock`.
    pub fn start(
        mut destination: Destination,
        retention: Retention,
        queue_depth: usize,
        batch_size: usize,
        clock: Arc<dyn Clock>,
        give_up_after: Duration,
    ) -> anyhow::Result<EventSink> {
        let name = destination.describe();
        let schedule = match &mut destination {
            Destination::Store(store) => Some(RetentionSchedule::start(
                store.as_mut(),
                clock.now(),
                retention,
            )?),
            Destination::Broker(_) => None,
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel(queue_depth.max(1));
        let report = StoreReport {
            store: name.clone(),
            retention: schedule.map(|s| s.removed()).unwrap_or_default(),
            ..StoreReport::default()
        };
        let writer = std::thread::Builder::new()
            .name("event-store".into())
            .spawn(move || {
                write_events(
                    destination,
                    receiver,
                    batch_size.max(1),
                    give_up_after,
                    report,
                    schedule.map(|schedule| (schedule, clock)),
                )
            })?;
        Ok(EventSink {
            sender: Some(sender),
            writer: Some(writer),
            store: name,
            live: None,
        })
    }

    /// Also publishes every event to the API's live feed (which never blocks).
    pub fn with_live(mut self, live: roadsight_server::LiveFeed) -> EventSink {
        self.live = Some(live);
        self
    }

    /// Publishes an event live and queues it for the store; blocks while the queue is full.
    pub fn event(&self, event: Event) -> anyhow::Result<()> {
        if let Some(live) = &self.live {
            live.publish(&event);
        }
        self.send(Item::Event(Box::new(event)))
    }

    /// Queues an evidence image and returns its content address (known at once).
    pub fn evidence(
        &self,
        media_type: &'static str,
        bytes: Vec<u8>,
        at: Timestamp,
    ) -> anyhow::Result<String> {
        let address = content_address(&bytes);
        self.send(Item::Evidence {
            media_type,
            bytes,
            at,
        })?;
        Ok(address)
    }

    fn send(&self, item: Item) -> anyhow::Result<()> {
        let sender = self
            .sender
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("store {}: the writer has finished", self.store))?;
        sender
            .send(item)
            .map_err(|_| anyhow::anyhow!("store {}: the writer stopped", self.store))
    }

    /// Closes the queue and waits for the writer to store what is queued.
    pub fn finish(mut self) -> StoreReport {
        drop(self.sender.take());
        match self.writer.take().map(JoinHandle::join) {
            Some(Ok(report)) => report,
            _ => StoreReport {
                store: self.store.clone(),
                ..StoreReport::default()
            },
        }
    }
}

fn write_events(
    mut destination: Destination,
    items: Receiver<Item>,
    batch_size: usize,
    give_up_after: Duration,
    mut report: StoreReport,
    mut retention: Option<(RetentionSchedule, Arc<dyn Clock>)>,
) -> StoreReport {
    let mut closed = false;
    let mut batch: Vec<Event> = Vec::with_capacity(batch_size);
    let mut images: Vec<(&'static str, Vec<u8>, Timestamp)> = Vec::new();
    let mut outage: Option<(Instant, Duration)> = None;
    let mut closed_at: Option<Instant> = None;
    loop {
        // Retention, between batches, when it is due (a failed pass waits for the next).
        if let (Some((schedule, clock)), Destination::Store(store)) =
            (retention.as_mut(), &mut destination)
        {
            schedule.run_if_due(store.as_mut(), &report.store, clock.now());
            report.retention = schedule.removed();
        }
        // Gather: wait for the first item (waking for retention when it is due), then take
        // what is already queued.
        if batch.is_empty() && images.is_empty() && !closed {
            let wait = retention.as_ref().map_or(IDLE_WAKE, |(schedule, clock)| {
                schedule
                    .wait(clock.now())
                    .clamp(Duration::from_millis(1), IDLE_WAKE)
            });
            match items.recv_timeout(wait) {
                Ok(item) => push(item, &mut batch, &mut images),
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => closed = true,
            }
        }
        while batch.len() < batch_size && !closed {
            match items.recv_timeout(Duration::from_millis(if batch.is_empty() { 0 } else { 20 })) {
                Ok(item) => push(item, &mut batch, &mut images),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => closed = true,
            }
        }
        if batch.is_empty() && images.is_empty() {
            if closed {
                return report;
            }
            continue;
        }
        // Evidence first, so a stored plate never points at a missing image.
        let result = destination.write(&images, &batch);
        match result {
            Ok((inserted, duplicates)) => {
                if let Some((since, _)) = outage.take() {
                    eprintln!(
                        "store {}: writing again after {:.0} s; nothing was lost",
                        report.store,
                        since.elapsed().as_secs_f64()
                    );
                }
                report.events += inserted as u64;
                report.duplicates += duplicates as u64;
                report.evidence += images.len() as u64;
                batch.clear();
                images.clear();
            }
            Err(error) => {
                report.write_failures += 1;
                let wait = match outage {
                    None => {
                        eprintln!(
                            "store {}: {error}; {} events wait and are retried (none is dropped)",
                            report.store,
                            batch.len()
                        );
                        Duration::from_secs(1)
                    }
                    Some((_, wait)) => (wait * 2).min(Duration::from_secs(30)),
                };
                outage = Some((outage.map_or_else(Instant::now, |(since, _)| since), wait));
                if closed {
                    let since = *closed_at.get_or_insert_with(Instant::now);
                    if since.elapsed() >= give_up_after {
                        let queued: u64 = items
                            .try_iter()
                            .filter(|item| matches!(item, Item::Event(_)))
                            .count() as u64;
                        report.not_stored = batch.len() as u64 + queued;
                        eprintln!(
                            "store {}: still failing {:.0} s after the run ended; {} events were not stored",
                            report.store,
                            give_up_after.as_secs_f64(),
                            report.not_stored
                        );
                        return report;
                    }
                }
                std::thread::sleep(wait);
            }
        }
    }
}

fn push(item: Item, batch: &mut Vec<Event>, images: &mut Vec<(&'static str, Vec<u8>, Timestamp)>) {
    match item {
        Item::Event(event) => batch.push(*event),
        Item::Evidence {
            media_type,
            bytes,
            at,
        } => images.push((media_type, bytes, at)),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used, clippy::unwrap_used)] // Test code: a failed expect is a failed test.
    use super::*;
    use roadsight_core::{CameraHealth, CameraId, HealthState, ManualClock};
    use roadsight_store::{EventQuery, SqliteStore};

    const HOUR: Duration = Duration::from_secs(3600);

    fn health(at: Timestamp) -> Event {
        Event::CameraHealth(CameraHealth {
            camera: CameraId::new("north"),
            at,
            state: HealthState::Connected,
        })
    }

    fn a_day_kept() -> Retention {
        Retention {
            events_days: 1.0,
            sightings_days: 1.0,
            counts_days: 1.0,
            evidence_days: 1.0,
            audit_days: 1.0,
        }
    }

    #[test]
    fn a_long_run_forgets_what_the_policy_no_longer_keeps_once_an_hour() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("store.db");
        let t0 = Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap();
        SqliteStore::open(&path)
            .unwrap()
            .append(&[health(t0)])
            .unwrap();
        // The run starts 12 hours later: the event is within the day kept.
        let clock = Arc::new(ManualClock::starting_at(t0.plus(12 * HOUR)));
        let store = SqliteStore::open(&path).unwrap();
        let sink = EventSink::start(
            Destination::Store(Box::new(store)),
            a_day_kept(),
            16,
            4,
            Arc::clone(&clock) as Arc<dyn Clock>,
            Duration::from_secs(1),
        )
        .unwrap();
        // A day and an hour later the first event is past the policy, and a pass is due.
        clock.advance(25 * HOUR);
        sink.event(health(clock.now())).unwrap();
        let report = sink.finish();
        assert_eq!(report.events, 1);
        assert_eq!(report.retention.events, 1, "{report:?}");
        let left = SqliteStore::open(&path)
            .unwrap()
            .events(&EventQuery {
                limit: 10,
                ..EventQuery::default()
            })
            .unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(left[0].envelope.event.at(), t0.plus(37 * HOUR));
    }

    #[test]
    fn a_pass_is_due_an_hour_after_the_last_whether_or_not_it_removed_anything() {
        let directory = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(&directory.path().join("store.db")).unwrap();
        let t0 = Timestamp::parse_rfc3339("2026-11-23T08:00:00Z").unwrap();
        store.append(&[health(t0)]).unwrap();
        let mut schedule = RetentionSchedule::start(&mut store, t0, a_day_kept()).unwrap();
        assert_eq!(schedule.removed().events, 0, "the event is new");
        // Half an hour on: not due (the next pass stays where it was).
        schedule.run_if_due(&mut store, "test", t0.plus(HOUR / 2));
        assert_eq!(schedule.wait(t0.plus(HOUR / 2)), HOUR / 2);
        // An hour on: a pass runs (the next is an hour later) and removes nothing.
        schedule.run_if_due(&mut store, "test", t0.plus(HOUR));
        assert_eq!(
            schedule.removed().events,
            0,
            "an hour old is within the day kept"
        );
        assert_eq!(schedule.wait(t0.plus(HOUR)), HOUR);
        let later = t0.plus(26 * HOUR);
        schedule.run_if_due(&mut store, "test", later);
        assert_eq!(schedule.removed().events, 1);
        // Not due again at the same time.
        schedule.run_if_due(&mut store, "test", later);
        assert_eq!(schedule.removed().events, 1);
        assert_eq!(schedule.wait(later), HOUR);
    }
}
