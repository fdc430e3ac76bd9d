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

use roadsight_core::{content_address, Clock, Event, Timestamp};
use roadsight_store::{EventStore, Retention, RetentionReport};
use serde::Serialize;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

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
    /// What the retention pass at start removed.
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
    /// Applies the retention policy (to a store) and starts the writer.
    pub fn start(
        mut destination: Destination,
        retention: Retention,
        queue_depth: usize,
        batch_size: usize,
        clock: Arc<dyn Clock>,
        give_up_after: Duration,
    ) -> anyhow::Result<EventSink> {
        let name = destination.describe();
        let removed = match &mut destination {
            Destination::Store(store) => store.apply_retention(clock.now(), &retention)?,
            Destination::Broker(_) => RetentionReport::default(),
        };
        let (sender, receiver) = std::sync::mpsc::sync_channel(queue_depth.max(1));
        let report = StoreReport {
            store: name.clone(),
            retention: removed,
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
) -> StoreReport {
    let mut closed = false;
    let mut batch: Vec<Event> = Vec::with_capacity(batch_size);
    let mut images: Vec<(&'static str, Vec<u8>, Timestamp)> = Vec::new();
    let mut outage: Option<(Instant, Duration)> = None;
    let mut closed_at: Option<Instant> = None;
    loop {
        // Gather: block for the first item, then take what is already queued.
        if batch.is_empty() && images.is_empty() && !closed {
            match items.recv() {
                Ok(item) => push(item, &mut batch, &mut images),
                Err(_) => closed = true,
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
