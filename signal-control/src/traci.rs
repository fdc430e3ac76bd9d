//! A small TraCI client (SUMO's TCP control protocol, API version 20 as in SUMO 1.15).
//!
//! Only what closed-loop signal control needs, and built for it: per-step values come back as
//! subscriptions inside the `simulationStep` answer (one round trip per step however many lanes
//! are watched), and signal commands are queued and sent together with the next step.
//!
//! Why not the `traci-rs` crate: it sends one command per round trip and has no subscriptions;
//! with 200 intersections and ~2,000 watched lanes that is thousands of round trips per
//! simulated second, where this client needs one.
//!
//! Wire format: a message is a big-endian `u32` length (itself included) and commands; a command
//! is a length byte (or 0 and a `u32` when longer than 255), a command id and its content.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// What can go wrong talking to SUMO.
#[derive(Debug, thiserror::Error)]
pub enum TraciError {
    #[error("TraCI connection to {address}: {source}")]
    Io {
        address: String,
        #[source]
        source: std::io::Error,
    },
    #[error("SUMO refused command 0x{command:02x}: {message}")]
    Refused { command: u8, message: String },
    #[error("malformed TraCI answer: {0}")]
    Malformed(String),
    #[error("SUMO speaks TraCI API {found}; this client needs {needed}")]
    Version { found: i32, needed: i32 },
}

const CMD_GETVERSION: u8 = 0x00;
const CMD_SIMSTEP: u8 = 0x02;
const CMD_CLOSE: u8 = 0x7f;
const CMD_SET_TL_VARIABLE: u8 = 0xc2;
const CMD_SUBSCRIBE_INDUCTIONLOOP_VARIABLE: u8 = 0xd0;
const CMD_SUBSCRIBE_LANE_VARIABLE: u8 = 0xd3;
const CMD_SUBSCRIBE_SIM_VARIABLE: u8 = 0xdb;
const CMD_SUBSCRIBE_LANEAREA_VARIABLE: u8 = 0xdd;
const RESPONSE_SUBSCRIBE_INDUCTIONLOOP_VARIABLE: u8 = 0xe0;
const RESPONSE_SUBSCRIBE_LANE_VARIABLE: u8 = 0xe3;
const RESPONSE_SUBSCRIBE_SIM_VARIABLE: u8 = 0xeb;
const RESPONSE_SUBSCRIBE_LANEAREA_VARIABLE: u8 = 0xed;

const TL_RED_YELLOW_GREEN_STATE: u8 = 0x20;
const TL_PROGRAM: u8 = 0x23;

/// Lane: vehicles on the lane in the last step.
pub const LANE_VEHICLE_NUMBER: u8 = 0x10;
/// Lane: vehicles slower than 0.1 m/s in the last step.
pub const LANE_HALTING_NUMBER: u8 = 0x14;
/// Lane area detector: vehicles in the area in the last step.
pub const AREA_VEHICLE_NUMBER: u8 = 0x10;
/// Lane area detector: vehicles slower than 0.1 m/s in the area in the last step.
pub const AREA_HALTING_NUMBER: u8 = 0x14;
/// Induction loop: ids of the vehicles on the loop in the last step.
pub const LOOP_VEHICLE_IDS: u8 = 0x12;
/// Simulation: vehicles that started a teleport in the last step.
pub const SIM_TELEPORT_STARTING: u8 = 0x75;
/// Simulation: vehicles that arrived in the last step.
pub const SIM_ARRIVED: u8 = 0x79;
/// Simulation: vehicles loaded or running that are still expected.
pub const SIM_MIN_EXPECTED: u8 = 0x7d;

const TYPE_INTEGER: u8 = 0x09;
const TYPE_DOUBLE: u8 = 0x0b;
const TYPE_STRING: u8 = 0x0c;
const TYPE_STRINGLIST: u8 = 0x0e;

/// The API version this client speaks.
pub const API_VERSION: i32 = 20;

/// One subscribed value as SUMO sent it.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i32),
    Double(f64),
    Text(String),
    TextList(Vec<String>),
}

impl Value {
    /// The value as a number (integers widened), if it is one.
    pub fn number(&self) -> Option<f64> {
        match self {
            Value::Int(value) => Some(f64::from(*value)),
            Value::Double(value) => Some(*value),
            _ => None,
        }
    }
}

/// Which kind of object a subscription watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Domain {
    Lane,
    /// A lane area detector (E2): the stretch of lane a camera zone covers.
    LaneArea,
    InductionLoop,
    Simulation,
}

/// One object's subscribed values after a step.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionResult {
    pub domain: Domain,
    pub object: String,
    /// `(variable id, value)` in the order subscribed.
    pub values: Vec<(u8, Value)>,
}

/// An open TraCI connection.
#[derive(Debug)]
pub struct TraciClient {
    stream: TcpStream,
    address: String,
    /// Commands waiting to go out with the next message, with their ids.
    pending: Vec<u8>,
    pending_ids: Vec<u8>,
}

impl TraciClient {
    /// Connects to SUMO at `address`, retrying until `patience` is spent (SUMO opens its port a
    /// moment after it starts), and checks the API version.
    pub fn connect(address: &str, patience: Duration) -> Result<TraciClient, TraciError> {
        let started = std::time::Instant::now();
        loop {
            match Self::try_connect(address) {
                // A connection reset during the handshake (SUMO still starting, or a socket
                // connected to itself and dropped) is tried again while patience lasts.
                Err(TraciError::Io { .. }) if started.elapsed() < patience => {
                    std::thread::sleep(Duration::from_millis(50));
                }
                result => return result,
            }
        }
    }

    /// One attempt: connect and check the API version.
    fn try_connect(address: &str) -> Result<TraciClient, TraciError> {
        let io_error = |source| TraciError::Io {
            address: address.to_string(),
            source,
        };
        let stream = TcpStream::connect(address).map_err(io_error)?;
        // Connecting to a loopback port nobody listens on yet can connect the socket to itself
        // (TCP simultaneous open, when the kernel picks the same port as source); such a socket
        // echoes our own messages and would never answer.
        if is_self_connected(&stream) {
            return Err(io_error(std::io::Error::new(
                std::io::ErrorKind::ConnectionRefused,
                "the socket connected to itself",
            )));
        }
        let _ = stream.set_nodelay(true);
        // SUMO answers every message; silence this long means it hung or died.
        stream
            .set_read_timeout(Some(ANSWER_TIMEOUT))
            .map_err(io_error)?;
        let mut client = TraciClient {
            stream,
            address: address.to_string(),
            pending: Vec::new(),
            pending_ids: Vec::new(),
        };
        client.queue(CMD_GETVERSION, &[]);
        let mut answer = client.exchange()?;
        let (command, mut content) = answer.command()?;
        if command != CMD_GETVERSION {
            return Err(TraciError::Malformed(format!(
                "version answer has id 0x{command:02x}"
            )));
        }
        let found = content.int()?;
        if found != API_VERSION {
            return Err(TraciError::Version {
                found,
                needed: API_VERSION,
            });
        }
        Ok(client)
    }

    /// Subscribes to `variables` of a lane for the rest of the run.
    pub fn subscribe(
        &mut self,
        domain: Domain,
        object: &str,
        variables: &[u8],
    ) -> Result<(), TraciError> {
        let command = match domain {
            Domain::Lane => CMD_SUBSCRIBE_LANE_VARIABLE,
            Domain::LaneArea => CMD_SUBSCRIBE_LANEAREA_VARIABLE,
            Domain::InductionLoop => CMD_SUBSCRIBE_INDUCTIONLOOP_VARIABLE,
            Domain::Simulation => CMD_SUBSCRIBE_SIM_VARIABLE,
        };
        let mut content = Vec::with_capacity(32 + object.len());
        content.extend_from_slice(&0f64.to_be_bytes());
        content.extend_from_slice(&1e9f64.to_be_bytes());
        put_string(&mut content, object);
        content.push(variables.len() as u8);
        content.extend_from_slice(variables);
        self.queue(command, &content);
        Ok(())
    }

    /// Sends the queued subscriptions and reads their first answers (discarded: the values
    /// arrive with every step from now on).
    pub fn flush(&mut self) -> Result<(), TraciError> {
        if self.pending_ids.is_empty() {
            return Ok(());
        }
        let _ = self.exchange()?;
        Ok(())
    }

    /// Queues a red/yellow/green state for a signal (sent with the next step).
    pub fn set_signal_state(&mut self, signal: &str, state: &str) {
        let mut content = Vec::with_capacity(16 + signal.len() + state.len());
        content.push(TL_RED_YELLOW_GREEN_STATE);
        put_string(&mut content, signal);
        content.push(TYPE_STRING);
        put_string(&mut content, state);
        self.queue(CMD_SET_TL_VARIABLE, &content);
    }

    /// Queues a program switch for a signal (sent with the next step).
    pub fn set_program(&mut self, signal: &str, program: &str) {
        let mut content = Vec::with_capacity(16 + signal.len() + program.len());
        content.push(TL_PROGRAM);
        put_string(&mut content, signal);
        content.push(TYPE_STRING);
        put_string(&mut content, program);
        self.queue(CMD_SET_TL_VARIABLE, &content);
    }

    /// Sends the queued commands and advances the simulation to `target_s`; returns the
    /// subscribed values after the step.
    pub fn step(&mut self, target_s: f64) -> Result<Vec<SubscriptionResult>, TraciError> {
        self.queue(CMD_SIMSTEP, &target_s.to_be_bytes());
        let mut answer = self.exchange()?;
        // The set commands have only statuses (read by `exchange`); the step has its results.
        let count = answer.int()?;
        let mut results = Vec::with_capacity(count.max(0) as usize);
        for _ in 0..count {
            let (response, mut content) = answer.command()?;
            let domain = match response {
                RESPONSE_SUBSCRIBE_LANE_VARIABLE => Domain::Lane,
                RESPONSE_SUBSCRIBE_LANEAREA_VARIABLE => Domain::LaneArea,
                RESPONSE_SUBSCRIBE_INDUCTIONLOOP_VARIABLE => Domain::InductionLoop,
                RESPONSE_SUBSCRIBE_SIM_VARIABLE => Domain::Simulation,
                other => {
                    return Err(TraciError::Malformed(format!(
                        "unexpected subscription answer 0x{other:02x}"
                    )))
                }
            };
            let object = content.string()?;
            let variables = content.byte()?;
            let mut values = Vec::with_capacity(usize::from(variables));
            for _ in 0..variables {
                let variable = content.byte()?;
                let status = content.byte()?;
                let value = content.value()?;
                if status != 0 {
                    return Err(TraciError::Refused {
                        command: response,
                        message: format!("variable 0x{variable:02x} of {object}: {value:?}"),
                    });
                }
                values.push((variable, value));
            }
            results.push(SubscriptionResult {
                domain,
                object,
                values,
            });
        }
        Ok(results)
    }

    /// Ends the simulation (SUMO writes its outputs and exits).
    pub fn close(mut self) -> Result<(), TraciError> {
        self.queue(CMD_CLOSE, &[]);
        let _ = self.exchange()?;
        Ok(())
    }

    fn queue(&mut self, command: u8, content: &[u8]) {
        let length = content.len() + 2;
        if length <= 255 {
            self.pending.push(length as u8);
        } else {
            self.pending.push(0);
            self.pending
                .extend_from_slice(&((length + 4) as u32).to_be_bytes());
        }
        self.pending.push(command);
        self.pending.extend_from_slice(content);
        self.pending_ids.push(command);
    }

    /// Sends the pending message, reads the answer and checks one status per command sent.
    /// Returns the answer positioned after the statuses... except that a step's results and a
    /// version answer follow their own status, so statuses are read in order and the reader is
    /// left just after the last one.
    fn exchange(&mut self) -> Result<Reader, TraciError> {
        let mut message = Vec::with_capacity(self.pending.len() + 4);
        message.extend_from_slice(&((self.pending.len() + 4) as u32).to_be_bytes());
        message.append(&mut self.pending);
        let ids = std::mem::take(&mut self.pending_ids);
        let io = |source| TraciError::Io {
            address: self.address.clone(),
            source,
        };
        self.stream.write_all(&message).map_err(io)?;
        let mut length = [0u8; 4];
        self.stream.read_exact(&mut length).map_err(io)?;
        let length = u32::from_be_bytes(length) as usize;
        if length < 4 {
            return Err(TraciError::Malformed(format!("message length {length}")));
        }
        let mut body = vec![0u8; length - 4];
        self.stream.read_exact(&mut body).map_err(io)?;
        let mut answer = Reader { bytes: body, at: 0 };
        for (index, sent) in ids.iter().enumerate() {
            let (command, mut content) = answer.command()?;
            let result = content.byte()?;
            let message = content.string()?;
            if command != *sent {
                return Err(TraciError::Malformed(format!(
                    "status for 0x{command:02x} where 0x{sent:02x} was sent"
                )));
            }
            if result != 0 {
                return Err(TraciError::Refused { command, message });
            }
            // A subscription's first values follow its status; skip them.
            let subscribed = matches!(
                *sent,
                CMD_SUBSCRIBE_LANE_VARIABLE
                    | CMD_SUBSCRIBE_LANEAREA_VARIABLE
                    | CMD_SUBSCRIBE_INDUCTIONLOOP_VARIABLE
                    | CMD_SUBSCRIBE_SIM_VARIABLE
            );
            if subscribed {
                let _ = answer.command()?;
            }
            let _ = index;
        }
        Ok(answer)
    }
}

/// The longest SUMO may take to answer one message (a step of a large network takes well under
/// a second).
const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

fn is_self_connected(stream: &TcpStream) -> bool {
    matches!((stream.local_addr(), stream.peer_addr()), (Ok(local), Ok(peer)) if local == peer)
}

fn put_string(buffer: &mut Vec<u8>, text: &str) {
    buffer.extend_from_slice(&(text.len() as u32).to_be_bytes());
    buffer.extend_from_slice(text.as_bytes());
}

/// Reads big-endian TraCI values from an answer.
#[derive(Debug)]
struct Reader {
    bytes: Vec<u8>,
    at: usize,
}

impl Reader {
    fn take(&mut self, count: usize) -> Result<&[u8], TraciError> {
        let end = self
            .at
            .checked_add(count)
            .filter(|end| *end <= self.bytes.len());
        let Some(end) = end else {
            return Err(TraciError::Malformed(format!(
                "answer ends at byte {} where {count} more were expected",
                self.bytes.len()
            )));
        };
        let slice = &self.bytes[self.at..end];
        self.at = end;
        Ok(slice)
    }

    fn byte(&mut self) -> Result<u8, TraciError> {
        Ok(self.take(1)?[0])
    }

    fn int(&mut self) -> Result<i32, TraciError> {
        let raw = self.take(4)?;
        Ok(i32::from_be_bytes([raw[0], raw[1], raw[2], raw[3]]))
    }

    fn double(&mut self) -> Result<f64, TraciError> {
        let raw = self.take(8)?;
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(raw);
        Ok(f64::from_be_bytes(bytes))
    }

    fn string(&mut self) -> Result<String, TraciError> {
        let length = self.int()?;
        let length = usize::try_from(length)
            .map_err(|_| TraciError::Malformed(format!("string length {length}")))?;
        let raw = self.take(length)?;
        Ok(String::from_utf8_lossy(raw).into_owned())
    }

    fn value(&mut self) -> Result<Value, TraciError> {
        match self.byte()? {
            TYPE_INTEGER => Ok(Value::Int(self.int()?)),
            TYPE_DOUBLE => Ok(Value::Double(self.double()?)),
            TYPE_STRING => Ok(Value::Text(self.string()?)),
            TYPE_STRINGLIST => {
                let count = self.int()?;
                let mut items = Vec::with_capacity(count.clamp(0, 1024) as usize);
                for _ in 0..count {
                    items.push(self.string()?);
                }
                Ok(Value::TextList(items))
            }
            other => Err(TraciError::Malformed(format!("value type 0x{other:02x}"))),
        }
    }

    /// One command: its id and a reader over its content.
    fn command(&mut self) -> Result<(u8, Reader), TraciError> {
        let short = self.byte()?;
        let content_length = if short == 0 {
            let long = self.int()?;
            usize::try_from(long)
                .ok()
                .and_then(|long| long.checked_sub(6))
                .ok_or_else(|| TraciError::Malformed(format!("command length {long}")))?
        } else {
            usize::from(short)
                .checked_sub(2)
                .ok_or_else(|| TraciError::Malformed(format!("command length {short}")))?
        };
        let id = self.byte()?;
        let content = self.take(content_length)?.to_vec();
        Ok((
            id,
            Reader {
                bytes: content,
                at: 0,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_round_trip_through_the_reader_in_both_length_forms() {
        let mut client_bytes = Vec::new();
        for content_length in [3usize, 400] {
            let content = vec![7u8; content_length];
            let length = content.len() + 2;
            if length <= 255 {
                client_bytes.push(length as u8);
            } else {
                client_bytes.push(0);
                client_bytes.extend_from_slice(&((length + 4) as u32).to_be_bytes());
            }
            client_bytes.push(0x42);
            client_bytes.extend_from_slice(&content);
        }
        let mut reader = Reader {
            bytes: client_bytes,
            at: 0,
        };
        for expected in [3usize, 400] {
            let (id, content) = reader.command().expect("command");
            assert_eq!(id, 0x42);
            assert_eq!(content.bytes.len(), expected);
        }
        assert!(reader.command().is_err(), "nothing left");
    }

    #[test]
    fn a_connection_dropped_during_the_handshake_is_tried_again() {
        use std::net::TcpListener;
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let address = listener.local_addr().expect("address").to_string();
        let server = std::thread::spawn(move || {
            // The first client is dropped before it gets an answer, as a starting SUMO may.
            drop(listener.accept().expect("first accept"));
            // The second gets the version handshake.
            let (mut stream, _) = listener.accept().expect("second accept");
            let mut length = [0u8; 4];
            stream.read_exact(&mut length).expect("request length");
            let mut request = vec![0u8; u32::from_be_bytes(length) as usize - 4];
            stream.read_exact(&mut request).expect("request");
            let mut version = API_VERSION.to_be_bytes().to_vec();
            put_string(&mut version, "stand-in");
            // Status (length, command, result, empty description), then the version answer.
            let mut body = vec![7, CMD_GETVERSION, 0, 0, 0, 0, 0];
            body.push((version.len() + 2) as u8);
            body.push(CMD_GETVERSION);
            body.extend_from_slice(&version);
            let mut message = ((body.len() + 4) as u32).to_be_bytes().to_vec();
            message.extend_from_slice(&body);
            stream.write_all(&message).expect("answer");
        });
        let connected = TraciClient::connect(&address, Duration::from_secs(10));
        // Checked before joining: without a second attempt the stand-in would wait forever.
        assert!(connected.is_ok(), "{:?}", connected.err());
        server.join().expect("stand-in server");
    }

    #[test]
    fn truncated_values_are_malformed_not_panics() {
        let mut reader = Reader {
            bytes: vec![TYPE_STRING, 0, 0, 0, 9, b'a'],
            at: 0,
        };
        assert!(matches!(reader.value(), Err(TraciError::Malformed(_))));
    }
}
