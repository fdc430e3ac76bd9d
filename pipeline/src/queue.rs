//! The bounded hand-off between camera ingest and analysis.
//!
//! Each camera owns a lane of fixed capacity with one of two policies:
//!
//! - [`QueuePolicy::DropOldest`] (live cameras): a push never waits. When the lane is full the
//!   oldest frame is dropped and counted, so analysis always sees the newest picture and decode
//!   never stalls.
//! - [`QueuePolicy::Block`] (recorded footage): a push waits for room, so every frame is analysed
//!   and decoding runs at the speed of analysis.
//!
//! The consumer takes frames round-robin across lanes, so one busy camera cannot starve the
//! others, and each camera's frames leave in the order they came.

use roadsight_core::frame::Frame;
use roadsight_core::CameraId;
use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueuePolicy {
    Block,
    DropOldest,
}

/// What happened to a pushed frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pushed {
    Accepted,
    /// Accepted, and the lane's oldest frame was dropped to make room.
    AcceptedDroppingOldest,
    /// The mux is closed; the frame was discarded.
    Closed,
}

/// What a pop returned.
#[derive(Debug)]
pub enum Popped {
    Frame(Frame),
    /// Nothing arrived before the timeout.
    TimedOut,
    /// Every lane is finished and empty, or the mux was closed.
    Finished,
}

/// What a batch pop returned.
#[derive(Debug)]
pub enum PoppedBatch {
    /// One to `max` frames.
    Frames(Vec<Frame>),
    TimedOut,
    Finished,
}

/// Counters of one lane.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaneStats {
    pub camera: CameraId,
    pub policy: QueuePolicy,
    pub pushed: u64,
    pub dropped: u64,
    pub queued: usize,
    pub finished: bool,
}

#[derive(Debug)]
struct Lane {
    camera: CameraId,
    policy: QueuePolicy,
    frames: VecDeque<Frame>,
    pushed: u64,
    dropped: u64,
    finished: bool,
}

#[derive(Debug)]
struct MuxState {
    lanes: Vec<Lane>,
    next_lane: usize,
    closed: bool,
}

/// Per-camera bounded lanes feeding one consumer.
#[derive(Debug)]
pub struct FrameMux {
    capacity: usize,
    state: Mutex<MuxState>,
    frame_ready: Condvar,
    room_ready: Condvar,
}

impl FrameMux {
    /// One lane per `(camera, policy)`, each holding at most `capacity` frames (at least 1).
    pub fn new(lanes: Vec<(CameraId, QueuePolicy)>, capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            state: Mutex::new(MuxState {
                lanes: lanes
                    .into_iter()
                    .map(|(camera, policy)| Lane {
                        camera,
                        policy,
                        frames: VecDeque::new(),
                        pushed: 0,
                        dropped: 0,
                        finished: false,
                    })
                    .collect(),
                next_lane: 0,
                closed: false,
            }),
            frame_ready: Condvar::new(),
            room_ready: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, MuxState> {
        // A panic while holding the lock leaves plain counters and queues behind: still usable.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a frame to lane `lane` under that lane's policy.
    pub fn push(&self, lane: usize, frame: Frame) -> Pushed {
        let mut state = self.lock();
        loop {
            if state.closed {
                return Pushed::Closed;
            }
            let capacity = self.capacity;
            let Some(target) = state.lanes.get_mut(lane) else {
                return Pushed::Closed;
            };
            if target.frames.len() < capacity {
                target.frames.push_back(frame);
                target.pushed += 1;
                drop(state);
                self.frame_ready.notify_one();
                return Pushed::Accepted;
            }
            match target.policy {
                QueuePolicy::DropOldest => {
                    target.frames.pop_front();
                    target.dropped += 1;
                    target.frames.push_back(frame);
                    target.pushed += 1;
                    drop(state);
                    self.frame_ready.notify_one();
                    return Pushed::AcceptedDroppingOldest;
                }
                QueuePolicy::Block => {
                    state = self
                        .room_ready
                        .wait(state)
                        .unwrap_or_else(|poisoned| poisoned.into_inner());
                }
            }
        }
    }

    /// Marks a lane as finished: its queued frames are still delivered.
    pub fn finish_lane(&self, lane: usize) {
        let mut state = self.lock();
        if let Some(target) = state.lanes.get_mut(lane) {
            target.finished = true;
        }
        drop(state);
        self.frame_ready.notify_all();
    }

    /// Closes the mux: pushes are refused, waiting producers and consumers wake up.
    pub fn close(&self) {
        self.lock().closed = true;
        self.frame_ready.notify_all();
        self.room_ready.notify_all();
    }

    /// Takes the next frame, round-robin across lanes, waiting up to `timeout`.
    pub fn pop(&self, timeout: Duration) -> Popped {
        let deadline = Instant::now() + timeout;
        let mut state = self.lock();
        loop {
            if state.closed {
                return Popped::Finished;
            }
            let lane_count = state.lanes.len();
            for step in 0..lane_count {
                let index = (state.next_lane + step) % lane_count;
                if let Some(frame) = state.lanes[index].frames.pop_front() {
                    state.next_lane = (index + 1) % lane_count;
                    drop(state);
                    self.room_ready.notify_all();
                    return Popped::Frame(frame);
                }
            }
            if state.lanes.iter().all(|lane| lane.finished) {
                return Popped::Finished;
            }
            let now = Instant::now();
            if now >= deadline {
                return Popped::TimedOut;
            }
            state = self
                .frame_ready
                .wait_timeout(state, deadline - now)
                .map(|(guard, _)| guard)
                .unwrap_or_else(|poisoned| poisoned.into_inner().0);
        }
    }

    /// Takes up to `max` frames for one batch, round-robin across cameras (a camera may give
    /// several). Waits up to `first_wait` for the first frame; once one is in, waits at most
    /// `fill_wait` for the batch to fill (the stream muxer's "full or timeout").
    pub fn pop_batch(&self, max: usize, first_wait: Duration, fill_wait: Duration) -> PoppedBatch {
        let mut batch = Vec::with_capacity(max);
        let first = match self.pop(first_wait) {
            Popped::Frame(frame) => frame,
            Popped::TimedOut => return PoppedBatch::TimedOut,
            Popped::Finished => return PoppedBatch::Finished,
        };
        batch.push(first);
        let deadline = Instant::now() + fill_wait;
        while batch.len() < max {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            match self.pop(deadline - now) {
                Popped::Frame(frame) => batch.push(frame),
                Popped::TimedOut | Popped::Finished => break,
            }
        }
        PoppedBatch::Frames(batch)
    }

    /// True while lane `lane` holds `capacity` frames (a blocking producer is waiting).
    pub fn lane_is_full(&self, lane: usize) -> bool {
        let capacity = self.capacity;
        self.lock()
            .lanes
            .get(lane)
            .is_some_and(|l| l.frames.len() >= capacity)
    }

    pub fn stats(&self) -> Vec<LaneStats> {
        self.lock()
            .lanes
            .iter()
            .map(|lane| LaneStats {
                camera: lane.camera.clone(),
                policy: lane.policy,
                pushed: lane.pushed,
                dropped: lane.dropped,
                queued: lane.frames.len(),
                finished: lane.finished,
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roadsight_core::frame::{
        ChannelOrder, Letterbox, LetterboxPlacement, TensorImage, TensorSpec,
    };
    use roadsight_core::Timestamp;
    use std::sync::Arc;

    fn frame(camera: &str, seq: u64) -> Frame {
        let spec = TensorSpec {
            width: 2,
            height: 2,
            channel_order: ChannelOrder::Rgb,
            placement: LetterboxPlacement::TopLeft,
            pad_value: 0,
        };
        Frame {
            camera: CameraId::new(camera),
            seq,
            pts: None,
            captured_at: Timestamp::from_nanos(seq as i64),
            image: TensorImage {
                spec,
                letterbox: Letterbox::fit(2, 2, &spec),
                planes: roadsight_core::PlaneBuffer::unpooled(vec![0; 12]),
            },
            source: None,
        }
    }

    fn seq_of(popped: Popped) -> (String, u64) {
        match popped {
            Popped::Frame(f) => (f.camera.to_string(), f.seq),
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    #[test]
    fn drop_oldest_keeps_the_newest_frames_and_counts_drops() {
        let mux = FrameMux::new(vec![(CameraId::new("live"), QueuePolicy::DropOldest)], 2);
        for seq in 0..5 {
            mux.push(0, frame("live", seq));
        }
        assert_eq!(seq_of(mux.pop(Duration::ZERO)), ("live".into(), 3));
        assert_eq!(seq_of(mux.pop(Duration::ZERO)), ("live".into(), 4));
        let stats = &mux.stats()[0];
        assert_eq!((stats.pushed, stats.dropped), (5, 3));
    }

    #[test]
    fn block_waits_for_room_and_loses_nothing() {
        let mux = Arc::new(FrameMux::new(
            vec![(CameraId::new("file"), QueuePolicy::Block)],
            1,
        ));
        let producer = {
            let mux = Arc::clone(&mux);
            std::thread::spawn(move || {
                for seq in 0..50 {
                    assert_eq!(mux.push(0, frame("file", seq)), Pushed::Accepted);
                }
                mux.finish_lane(0);
            })
        };
        let mut seen = Vec::new();
        loop {
            match mux.pop(Duration::from_secs(5)) {
                Popped::Frame(f) => seen.push(f.seq),
                Popped::Finished => break,
                Popped::TimedOut => panic!("producer stuck"),
            }
        }
        producer.join().unwrap();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert_eq!(mux.stats()[0].dropped, 0);
    }

    #[test]
    fn lanes_are_served_round_robin_in_order() {
        let mux = FrameMux::new(
            vec![
                (CameraId::new("a"), QueuePolicy::Block),
                (CameraId::new("b"), QueuePolicy::Block),
            ],
            4,
        );
        for seq in 0..3 {
            mux.push(0, frame("a", seq));
        }
        mux.push(1, frame("b", 0));
        let order: Vec<_> = (0..4).map(|_| seq_of(mux.pop(Duration::ZERO))).collect();
        assert_eq!(
            order,
            vec![
                ("a".into(), 0),
                ("b".into(), 0),
                ("a".into(), 1),
                ("a".into(), 2)
            ]
        );
        assert!(matches!(mux.pop(Duration::ZERO), Popped::TimedOut));
        mux.finish_lane(0);
        mux.finish_lane(1);
        assert!(matches!(mux.pop(Duration::ZERO), Popped::Finished));
    }

    #[test]
    fn pop_batch_mixes_cameras_and_returns_a_partial_batch_on_timeout() {
        let mux = FrameMux::new(
            vec![
                (CameraId::new("a"), QueuePolicy::Block),
                (CameraId::new("b"), QueuePolicy::Block),
            ],
            4,
        );
        mux.push(0, frame("a", 0));
        mux.push(0, frame("a", 1));
        mux.push(1, frame("b", 0));
        let PoppedBatch::Frames(batch) =
            mux.pop_batch(4, Duration::from_millis(10), Duration::from_millis(20))
        else {
            panic!("expected frames");
        };
        let got: Vec<_> = batch
            .iter()
            .map(|f| (f.camera.to_string(), f.seq))
            .collect();
        assert_eq!(got, vec![("a".into(), 0), ("b".into(), 0), ("a".into(), 1)]);
        assert!(matches!(
            mux.pop_batch(4, Duration::from_millis(10), Duration::ZERO),
            PoppedBatch::TimedOut
        ));
    }

    #[test]
    fn close_releases_a_blocked_producer() {
        let mux = Arc::new(FrameMux::new(
            vec![(CameraId::new("file"), QueuePolicy::Block)],
            1,
        ));
        mux.push(0, frame("file", 0));
        let producer = {
            let mux = Arc::clone(&mux);
            std::thread::spawn(move || mux.push(0, frame("file", 1)))
        };
        std::thread::sleep(Duration::from_millis(50));
        mux.close();
        assert_eq!(producer.join().unwrap(), Pushed::Closed);
    }
}
