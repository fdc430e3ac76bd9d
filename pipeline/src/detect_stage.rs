//! The detection stage: frames of many cameras batched into shared inference runs.
//!
//! ```text
//! FrameMux --pop_batch (full or timeout)--> batcher --[bounded, Block]--> N workers (own Detector)
//!   --> reorder (batches back in issue order) --[bounded, Block]--> DetectedFrame per frame
//! ```
//!
//! - A batch mixes cameras, like DeepStream's stream muxer: it goes when `batch_size` frames are
//!   in, or `batch_timeout` after its first frame.
//! - Each worker owns its session (`Session::run` takes `&mut self`).
//! - Batches leave in the order they were formed, so each camera's frames stay in order however
//!   the workers interleave.
//! - A failed inference is counted and its frames leave with no detections and the error; the
//!   stage goes on.

use crate::queue::{FrameMux, PoppedBatch};
use roadsight_core::{CameraId, Detection, Frame, Timestamp};
use roadsight_models::Detector;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Batching and threading of the stage.
#[derive(Debug, Clone, Copy)]
pub struct DetectStageSettings {
    pub batch_size: usize,
    pub batch_timeout: Duration,
    /// Detected frames buffered for the consumer (a full buffer blocks the stage).
    pub output_depth: usize,
}

/// The detector's result for one frame.
#[derive(Debug, Clone)]
pub struct DetectedFrame {
    pub camera: CameraId,
    pub seq: u64,
    pub captured_at: Timestamp,
    pub detections: Vec<Detection>,
    /// The full-resolution picture, when ingest kept it.
    pub source: Option<std::sync::Arc<dyn roadsight_core::SourcePicture>>,
    /// From the batch being formed to its results.
    pub latency: Duration,
    /// Set when inference failed for this frame's batch.
    pub error: Option<String>,
}

/// What [`DetectStage::next`] returned.
#[derive(Debug)]
pub enum Next {
    Frame(DetectedFrame),
    TimedOut,
    Finished,
}

#[derive(Debug, Default)]
struct Counters {
    frames_in: AtomicU64,
    batches: AtomicU64,
    errors: AtomicU64,
    latency_micros_sum: AtomicU64,
    latency_micros_max: AtomicU64,
}

/// Counters of the stage, readable while it runs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct DetectStageMetrics {
    pub frames_in: u64,
    pub batches: u64,
    /// Mean frames per batch, over the batch size.
    pub batch_fill: f64,
    pub mean_latency_ms: f64,
    pub max_latency_ms: f64,
    pub errors: u64,
}

/// A running detection stage.
#[derive(Debug)]
pub struct DetectStage {
    output: Receiver<DetectedFrame>,
    counters: Arc<Counters>,
    batch_size: usize,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

type Work = (u64, Instant, Vec<Frame>);
type Done = (u64, Vec<DetectedFrame>);

impl DetectStage {
    /// Starts the stage on `frames` with one worker per detector.
    pub fn start(
        frames: Arc<FrameMux>,
        detectors: Vec<Detector>,
        settings: DetectStageSettings,
    ) -> std::io::Result<Self> {
        let workers = detectors.len().max(1);
        let batch_size = settings.batch_size.max(1);
        let counters = Arc::new(Counters::default());
        let stop = Arc::new(AtomicBool::new(false));
        // One batch waiting per worker keeps them busy without hoarding frames.
        let (work_tx, work_rx) = sync_channel::<Work>(workers);
        let work_rx = Arc::new(std::sync::Mutex::new(work_rx));
        let (done_tx, done_rx) = sync_channel::<Done>(workers * 2);
        let (out_tx, output) = sync_channel::<DetectedFrame>(settings.output_depth.max(1));
        let mut threads = Vec::new();

        {
            let counters = Arc::clone(&counters);
            let stop = Arc::clone(&stop);
            threads.push(
                std::thread::Builder::new()
                    .name("detect-batcher".into())
                    .spawn(move || {
                        let mut next_batch = 0u64;
                        while !stop.load(Ordering::SeqCst) {
                            match frames.pop_batch(
                                batch_size,
                                Duration::from_millis(100),
                                settings.batch_timeout,
                            ) {
                                PoppedBatch::Frames(batch) => {
                                    counters
                                        .frames_in
                                        .fetch_add(batch.len() as u64, Ordering::Relaxed);
                                    counters.batches.fetch_add(1, Ordering::Relaxed);
                                    if work_tx.send((next_batch, Instant::now(), batch)).is_err() {
                                        break;
                                    }
                                    next_batch += 1;
                                }
                                PoppedBatch::TimedOut => {}
                                PoppedBatch::Finished => break,
                            }
                        }
                    })?,
            );
        }
        for (index, mut detector) in detectors.into_iter().enumerate() {
            let work_rx = Arc::clone(&work_rx);
            let done_tx = done_tx.clone();
            let counters = Arc::clone(&counters);
            threads.push(
                std::thread::Builder::new()
                    .name(format!("detect-worker-{index}"))
                    .spawn(move || loop {
                        let job = match work_rx.lock() {
                            Ok(receiver) => receiver.recv(),
                            Err(_) => break,
                        };
                        let Ok((batch_seq, formed, frames)) = job else {
                            break;
                        };
                        let pictures: Vec<_> = frames.iter().map(|f| &f.image).collect();
                        let outcome = detector.detect(&pictures);
                        let latency = formed.elapsed();
                        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
                        counters
                            .latency_micros_sum
                            .fetch_add(micros * frames.len() as u64, Ordering::Relaxed);
                        counters
                            .latency_micros_max
                            .fetch_max(micros, Ordering::Relaxed);
                        let (mut per_frame, error) = match outcome {
                            Ok(results) => (results, None),
                            Err(e) => {
                                counters.errors.fetch_add(1, Ordering::Relaxed);
                                (Vec::new(), Some(e.to_string()))
                            }
                        };
                        per_frame.resize(frames.len(), Vec::new());
                        let detected = frames
                            .iter()
                            .zip(per_frame)
                            .map(|(frame, detections)| DetectedFrame {
                                camera: frame.camera.clone(),
                                seq: frame.seq,
                                captured_at: frame.captured_at,
                                detections,
                                source: frame.source.clone(),
                                latency,
                                error: error.clone(),
                            })
                            .collect();
                        if done_tx.send((batch_seq, detected)).is_err() {
                            break;
                        }
                    })?,
            );
        }
        drop(done_tx);
        threads.push(
            std::thread::Builder::new()
                .name("detect-reorder".into())
                .spawn(move || {
                    let mut pending: BTreeMap<u64, Vec<DetectedFrame>> = BTreeMap::new();
                    let mut next = 0u64;
                    'receive: for (batch_seq, detected) in done_rx {
                        pending.insert(batch_seq, detected);
                        while let Some(ready) = pending.remove(&next) {
                            for frame in ready {
                                if out_tx.send(frame).is_err() {
                                    break 'receive;
                                }
                            }
                            next += 1;
                        }
                    }
                })?,
        );
        Ok(Self {
            output,
            counters,
            batch_size,
            stop,
            threads,
        })
    }

    /// The next detected frame, per camera in capture order.
    pub fn next(&self, timeout: Duration) -> Next {
        match self.output.recv_timeout(timeout) {
            Ok(frame) => Next::Frame(frame),
            Err(RecvTimeoutError::Timeout) => Next::TimedOut,
            Err(RecvTimeoutError::Disconnected) => Next::Finished,
        }
    }

    pub fn metrics(&self) -> DetectStageMetrics {
        let frames_in = self.counters.frames_in.load(Ordering::Relaxed);
        let batches = self.counters.batches.load(Ordering::Relaxed);
        let done_frames = frames_in.max(1) as f64;
        DetectStageMetrics {
            frames_in,
            batches,
            batch_fill: if batches == 0 {
                0.0
            } else {
                frames_in as f64 / (batches as f64 * self.batch_size as f64)
            },
            mean_latency_ms: self.counters.latency_micros_sum.load(Ordering::Relaxed) as f64
                / done_frames
                / 1000.0,
            max_latency_ms: self.counters.latency_micros_max.load(Ordering::Relaxed) as f64
                / 1000.0,
            errors: self.counters.errors.load(Ordering::Relaxed),
        }
    }

    /// Stops taking frames; the consumer should drain [`Self::next`] until `Finished`.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

impl Drop for DetectStage {
    fn drop(&mut self) {
        self.stop();
        // Drain so no thread stays blocked on a full output channel.
        while !self.threads.iter().all(|t| t.is_finished()) {
            while self.output.try_recv().is_ok() {}
            std::thread::sleep(Duration::from_millis(5));
        }
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}
