//! # roadsight-broker
//!
//! The event bus between ingest workers (`roadsight worker`, a shard of cameras each) and the
//! central services (`roadsight central`), on NATS JetStream:
//!
//! - **Subjects.** Events go to `<prefix>.<camera>` (`roadsight.events.ben-thanh-north`), events
//!   of no camera (timing plans) to `<prefix>._city`, evidence images to `<prefix>._evidence`.
//!   One stream (default `ROADSIGHT`, file storage) holds them all.
//! - **At least once, exactly once in the store.** A [`Publisher`] waits for JetStream's
//!   acknowledgement of every message and sets `Nats-Msg-Id` to the event's id (the evidence's
//!   content address), so a worker that republishes after a failure is de-duplicated by the
//!   stream. A [`Consumer`] (durable, explicit acks) hands messages over; central acks them only
//!   after its store has committed, so a central killed mid-batch gets them again, and the
//!   store's idempotent appends drop what was already stored.
//! - **Bad messages** (not an event, not evidence) are handed over as [`Delivery::Malformed`]
//!   naming subject and stream sequence; the caller terminates them so they do not come back.
//!
//! The API is synchronous: each side owns a small tokio runtime, because the pipeline and the
//! store writer are plain threads.

use async_nats::jetstream::{self, consumer::pull, stream};
use futures_util::StreamExt;
use roadsight_core::{content_address, Event, EventEnvelope, Timestamp};
use std::time::Duration;

/// Where the bus is and how it is laid out (the city config's `[broker]`).
pub use roadsight_core::BrokerConfig;

/// What went wrong, naming the server and what was being done.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error("broker {url}: {operation}: {message}")]
    Nats {
        url: String,
        operation: String,
        message: String,
    },
    #[error("broker: cannot start its runtime: {0}")]
    Runtime(#[source] std::io::Error),
}

const EVIDENCE_SUFFIX: &str = "_evidence";
const CITY_SUFFIX: &str = "_city";
const MEDIA_TYPE_HEADER: &str = "Roadsight-Media-Type";
const TAKEN_AT_HEADER: &str = "Roadsight-Taken-At";

fn runtime() -> Result<tokio::runtime::Runtime, BrokerError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(BrokerError::Runtime)
}

fn failure(config: &BrokerConfig, operation: &str) -> impl Fn(String) -> BrokerError {
    let url = config.url.clone();
    let operation = operation.to_string();
    move |message| BrokerError::Nats {
        url: url.clone(),
        operation: operation.clone(),
        message,
    }
}

/// Subject-safe camera ids: NATS tokens may not hold `.`, `*`, `>` or spaces.
fn token(camera: &str) -> String {
    camera
        .chars()
        .map(|c| {
            if c == '.' || c == '*' || c == '>' || c.is_whitespace() {
                '_'
            } else {
                c
            }
        })
        .collect()
}

async fn connect(
    config: &BrokerConfig,
) -> Result<(async_nats::Client, jetstream::Context, stream::Stream), BrokerError> {
    let client = async_nats::ConnectOptions::new()
        .name("roadsight")
        .connection_timeout(Duration::from_secs(5))
        .connect(&config.url)
        .await
        .map_err(|e| failure(config, "connect")(e.to_string()))?;
    let context = jetstream::new(client.clone());
    let stream = context
        .get_or_create_stream(stream::Config {
            name: config.stream.clone(),
            subjects: vec![format!("{}.>", config.subject_prefix)],
            storage: stream::StorageType::File,
            max_age: Duration::from_secs_f64(config.max_age_days * 86_400.0),
            duplicate_window: Duration::from_secs(120),
            ..stream::Config::default()
        })
        .await
        .map_err(|e| failure(config, &format!("open stream {}", config.stream))(e.to_string()))?;
    Ok((client, context, stream))
}

/// Publishes events and evidence, each acknowledged by JetStream before it counts as sent.
pub struct Publisher {
    runtime: tokio::runtime::Runtime,
    context: jetstream::Context,
    config: BrokerConfig,
}

impl std::fmt::Debug for Publisher {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Publisher")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl Publisher {
    /// Connects and makes sure the stream exists.
    pub fn connect(config: &BrokerConfig) -> Result<Publisher, BrokerError> {
        let runtime = runtime()?;
        let (_, context, _) = runtime.block_on(connect(config))?;
        Ok(Publisher {
            runtime,
            context,
            config: config.clone(),
        })
    }

    /// `nats://host:port`, for messages.
    pub fn describe(&self) -> String {
        format!("{} (stream {})", self.config.url, self.config.stream)
    }

    /// The subject an event goes to.
    pub fn subject(&self, event: &Event) -> String {
        match event.camera() {
            Some(camera) => format!("{}.{}", self.config.subject_prefix, token(camera.as_str())),
            None => format!("{}.{CITY_SUFFIX}", self.config.subject_prefix),
        }
    }

    /// Publishes `events` and waits for every acknowledgement; returns how many the stream
    /// reported as duplicates (already held).
    pub fn publish_events(&self, events: &[Event]) -> Result<usize, BrokerError> {
        let fail = failure(&self.config, "publish");
        self.runtime.block_on(async {
            let mut pending = Vec::with_capacity(events.len());
            for event in events {
                // The id and the payload from one serialisation of the event.
                let (id, payload) = event.wire();
                let message = jetstream::message::PublishMessage::build()
                    .payload(payload.into_bytes().into())
                    .message_id(id);
                let ack = self
                    .context
                    .send_publish(self.subject(event), message)
                    .await
                    .map_err(|e| fail(e.to_string()))?;
                pending.push(ack);
            }
            let mut duplicates = 0;
            for ack in pending {
                let ack = ack.await.map_err(|e| fail(e.to_string()))?;
                duplicates += usize::from(ack.duplicate);
            }
            Ok(duplicates)
        })
    }

    /// Publishes an image and waits for its acknowledgement; returns its content address.
    pub fn publish_evidence(
        &self,
        media_type: &str,
        bytes: &[u8],
        at: Timestamp,
    ) -> Result<String, BrokerError> {
        let fail = failure(&self.config, "publish evidence");
        let address = content_address(bytes);
        self.runtime.block_on(async {
            let message = jetstream::message::PublishMessage::build()
                .payload(bytes.to_vec().into())
                .message_id(&address)
                .header(MEDIA_TYPE_HEADER, media_type)
                .header(TAKEN_AT_HEADER, at.to_rfc3339().as_str());
            let ack = self
                .context
                .send_publish(
                    format!("{}.{EVIDENCE_SUFFIX}", self.config.subject_prefix),
                    message,
                )
                .await
                .map_err(|e| fail(e.to_string()))?;
            ack.await.map_err(|e| fail(e.to_string()))?;
            Ok(address)
        })
    }
}

/// What a message carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Delivery {
    Event(Box<Event>),
    Evidence {
        address: String,
        media_type: String,
        bytes: Vec<u8>,
        at: Timestamp,
    },
    /// Neither: named so it can be reported and terminated.
    Malformed {
        subject: String,
        sequence: u64,
        reason: String,
    },
}

/// A message handed over, to be acknowledged once its content is safe.
pub struct Received {
    pub delivery: Delivery,
    message: jetstream::Message,
}

impl std::fmt::Debug for Received {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Received")
            .field("delivery", &self.delivery)
            .finish_non_exhaustive()
    }
}

fn decode(message: &jetstream::Message, prefix: &str) -> Delivery {
    let subject = message.subject.to_string();
    let sequence = message.info().map(|info| info.stream_sequence).unwrap_or(0);
    let malformed = |reason: String| Delivery::Malformed {
        subject: subject.clone(),
        sequence,
        reason,
    };
    if subject == format!("{prefix}.{EVIDENCE_SUFFIX}") {
        let header = |name: &str| {
            message
                .headers
                .as_ref()
                .and_then(|headers| headers.get(name))
                .map(|value| value.as_str().to_string())
        };
        let (Some(media_type), Some(taken)) = (header(MEDIA_TYPE_HEADER), header(TAKEN_AT_HEADER))
        else {
            return malformed("evidence without its media type or time".into());
        };
        let Ok(at) = Timestamp::parse_rfc3339(&taken) else {
            return malformed(format!("evidence time {taken:?}"));
        };
        return Delivery::Evidence {
            address: content_address(&message.payload),
            media_type,
            bytes: message.payload.to_vec(),
            at,
        };
    }
    match serde_json::from_slice::<EventEnvelope>(&message.payload) {
        Ok(envelope) => Delivery::Event(Box::new(envelope.event)),
        Err(error) => malformed(format!("not an event: {error}")),
    }
}

/// A durable consumer of the stream.
pub struct Consumer {
    runtime: tokio::runtime::Runtime,
    consumer: jetstream::consumer::Consumer<pull::Config>,
    config: BrokerConfig,
}

impl std::fmt::Debug for Consumer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("Consumer")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl Consumer {
    /// Connects to (or creates) the durable consumer `config.durable`, explicit acks, redelivery
    /// after `ack_wait`.
    pub fn connect(config: &BrokerConfig, ack_wait: Duration) -> Result<Consumer, BrokerError> {
        let runtime = runtime()?;
        let consumer = runtime.block_on(async {
            let (_, _, stream) = connect(config).await?;
            stream
                .get_or_create_consumer(
                    &config.durable,
                    pull::Config {
                        durable_name: Some(config.durable.clone()),
                        ack_policy: jetstream::consumer::AckPolicy::Explicit,
                        ack_wait,
                        max_ack_pending: 20_000,
                        ..pull::Config::default()
                    },
                )
                .await
                .map_err(|e| {
                    failure(config, &format!("open consumer {}", config.durable))(e.to_string())
                })
        })?;
        Ok(Consumer {
            runtime,
            consumer,
            config: config.clone(),
        })
    }

    pub fn describe(&self) -> String {
        format!(
            "{} (stream {}, consumer {})",
            self.config.url, self.config.stream, self.config.durable
        )
    }

    /// Up to `max` messages, waiting at most `wait` for the first.
    pub fn fetch(&mut self, max: usize, wait: Duration) -> Result<Vec<Received>, BrokerError> {
        let fail = failure(&self.config, "fetch");
        let prefix = self.config.subject_prefix.clone();
        self.runtime.block_on(async {
            let mut batch = self
                .consumer
                .batch()
                .max_messages(max)
                .expires(wait)
                .messages()
                .await
                .map_err(|e| fail(e.to_string()))?;
            let mut received = Vec::new();
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| fail(e.to_string()))?;
                received.push(Received {
                    delivery: decode(&message, &prefix),
                    message,
                });
            }
            Ok(received)
        })
    }

    /// Acknowledges `received` (their content is safe); waits for the server to confirm.
    pub fn ack(&self, received: &[Received]) -> Result<(), BrokerError> {
        let fail = failure(&self.config, "ack");
        self.runtime.block_on(async {
            for item in received {
                item.message
                    .double_ack()
                    .await
                    .map_err(|e| fail(e.to_string()))?;
            }
            Ok(())
        })
    }

    /// Tells the server never to deliver `received` again (a malformed message).
    pub fn terminate(&self, received: &Received) -> Result<(), BrokerError> {
        let fail = failure(&self.config, "terminate");
        self.runtime.block_on(async {
            received
                .message
                .ack_with(jetstream::AckKind::Term)
                .await
                .map_err(|e| fail(e.to_string()))
        })
    }
}

/// Deletes the stream (and its consumers); `Ok(false)` when there was none. For tests and for
/// an operator resetting a bus.
pub fn remove_stream(config: &BrokerConfig) -> Result<bool, BrokerError> {
    let runtime = runtime()?;
    runtime.block_on(async {
        let client = async_nats::connect(&config.url)
            .await
            .map_err(|e| failure(config, "connect")(e.to_string()))?;
        let context = jetstream::new(client);
        match context.delete_stream(&config.stream).await {
            Ok(status) => Ok(status.success),
            Err(error) if error.to_string().contains("not found") => Ok(false),
            Err(error) => Err(failure(config, "delete stream")(error.to_string())),
        }
    })
}
