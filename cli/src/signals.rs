//! Signal control inside `roadsight run`: the cameras' counts feed the city planner, a round of
//! timing plans goes out every `[signals] plan_interval_s` of capture time (and once more when a
//! recorded run ends), and plans for intersections with an `ntcip` controller are pushed to it
//! from a thread of their own.
//!
//! Queue: plans travel to the controller thread over a bounded channel (256). When it is full
//! the plan is dropped and counted: the dispatcher only ever sends an intersection's newest
//! plan, and the next round brings a fresh one, so nothing is lost that matters.

use roadsight_core::counting::CrossingDirection;
use roadsight_core::{CameraHealth, CityConfig, Clock, HealthState, Timestamp};
use roadsight_pipeline::AnalyticsEvents;
use roadsight_signal_control::dispatch::{Backoff, DispatchOutcome, Dispatcher};
use roadsight_signal_control::ntcip::{ControllerTarget, NtcipController, PatternWrite};
use roadsight_signal_control::planning::{CityPlanner, PlanBasis, PlanDecision, PlannerSettings};
use roadsight_signal_control::{Intersection, TimingPlan};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// What signal control did in a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SignalCounters {
    pub rounds: u64,
    pub plans: u64,
    pub plans_on_counts: u64,
    pub fallbacks: u64,
    /// Plans a controller took (after its read-back matched).
    pub sent: u64,
    /// Sends that failed (each retried with backoff).
    pub send_failures: u64,
    /// Plans dropped because the controller thread's queue was full.
    pub dropped: u64,
}

/// One controller: its session and how to turn a plan into its pattern.
struct Controller {
    session: NtcipController,
    model: Intersection,
    pattern: u8,
    phase_numbers: Vec<u8>,
}

/// The planner and the controller thread of a run.
pub struct Signals {
    planner: CityPlanner,
    interval: Duration,
    next_round: Option<Timestamp>,
    pcu: roadsight_core::PcuWeights,
    counters: Arc<Mutex<SignalCounters>>,
    to_controllers: Option<SyncSender<TimingPlan>>,
    controllers: Option<JoinHandle<()>>,
}

impl Signals {
    /// Signal control for `config`, or `None` when it has no intersections.
    pub fn start(config: &CityConfig, clock: Arc<dyn Clock>) -> anyhow::Result<Option<Signals>> {
        if config.intersections.is_empty() {
            return Ok(None);
        }
        let planner = CityPlanner::new(
            &config.intersections,
            &config.corridors,
            PlannerSettings {
                smoothing_s: config.signals.smoothing_s,
                stale_after_s: config.signals.stale_after_s,
                plan_interval_s: config.signals.plan_interval_s,
            },
        );
        let counters = Arc::new(Mutex::new(SignalCounters::default()));
        let mut controllers = HashMap::new();
        for intersection in &config.intersections {
            if let Some(ntcip) = &intersection.ntcip {
                let session = NtcipController::open(ControllerTarget {
                    address: ntcip.address.clone(),
                    community: ntcip.community.clone(),
                    timeout: Duration::from_millis(ntcip.timeout_ms),
                })
                .map_err(|e| anyhow::anyhow!("intersection {}: {e}", intersection.id))?;
                controllers.insert(
                    intersection.id.clone(),
                    Controller {
                        session,
                        model: intersection.model(),
                        pattern: ntcip.pattern,
                        phase_numbers: ntcip.phase_numbers.clone(),
                    },
                );
            }
        }
        let (to_controllers, thread) = if controllers.is_empty() {
            (None, None)
        } else {
            let (sender, receiver) = std::sync::mpsc::sync_channel(256);
            let backoff = Backoff {
                initial: Duration::from_secs_f64(config.signals.retry_initial_s),
                max: Duration::from_secs_f64(config.signals.retry_max_s),
            };
            let counters = Arc::clone(&counters);
            let thread = std::thread::Builder::new()
                .name("signal-controllers".into())
                .spawn(move || push_plans(receiver, controllers, backoff, clock, counters))?;
            (Some(sender), Some(thread))
        };
        Ok(Some(Signals {
            planner,
            interval: Duration::from_secs_f64(config.signals.plan_interval_s),
            next_round: None,
            pcu: config.runtime.pcu,
            counters,
            to_controllers,
            controllers: thread,
        }))
    }

    pub fn on_health(&mut self, record: &CameraHealth) {
        let healthy = matches!(
            record.state,
            HealthState::Connected | HealthState::Finished { .. }
        );
        self.planner.on_camera_health(&record.camera, healthy);
    }

    /// A camera's analysed frame at `at` and what its analytics made of it.
    pub fn on_frame(
        &mut self,
        camera: &roadsight_core::CameraId,
        at: Timestamp,
        events: &AnalyticsEvents,
    ) {
        if !self.planner.watches(camera) {
            return;
        }
        self.planner.on_frame(camera, at);
        for crossing in &events.crossings {
            let direction = Some(crossing.direction);
            self.planner.on_count(
                camera,
                &crossing.line,
                direction,
                self.pcu.of(crossing.class),
                crossing.at,
            );
        }
        for done in &events.movements {
            self.planner.on_count(
                camera,
                &done.movement,
                None::<CrossingDirection>,
                self.pcu.of(done.class),
                done.at,
            );
        }
        for count in &events.counts {
            self.planner.on_flow_count(count);
        }
        for zone in &events.zones {
            self.planner.on_zone(zone);
        }
    }

    /// The round due at capture time `now`, if one is (the first comes one interval after the
    /// first frame, so it stands on counts).
    pub fn due_round(&mut self, now: Timestamp) -> Vec<PlanDecision> {
        let next = *self
            .next_round
            .get_or_insert_with(|| now.plus(self.interval));
        if now < next {
            return Vec::new();
        }
        self.next_round = Some(first_after(next, now, self.interval));
        self.round(now)
    }

    /// A round now, whatever the schedule (the end of a recorded run).
    pub fn round(&mut self, now: Timestamp) -> Vec<PlanDecision> {
        let decisions = self.planner.plan_round(now);
        if let Ok(mut counters) = self.counters.lock() {
            counters.rounds += 1;
            counters.plans += decisions.len() as u64;
            for decision in &decisions {
                match decision.basis {
                    PlanBasis::Counts => counters.plans_on_counts += 1,
                    PlanBasis::LastValid | PlanBasis::FixedTime => counters.fallbacks += 1,
                }
            }
        }
        if let Some(sender) = &self.to_controllers {
            for decision in &decisions {
                match sender.try_send(decision.plan.clone()) {
                    Ok(()) => {}
                    Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                        if let Ok(mut counters) = self.counters.lock() {
                            counters.dropped += 1;
                        }
                    }
                }
            }
        }
        decisions
    }

    /// Waits (at most `patience`) for the controller thread to send what it holds, then stops.
    pub fn finish(mut self, patience: Duration) -> SignalCounters {
        drop(self.to_controllers.take());
        if let Some(thread) = self.controllers.take() {
            let deadline = Instant::now() + patience;
            while !thread.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            if thread.is_finished() {
                let _ = thread.join();
            } else {
                eprintln!("signals: controllers still retrying after {patience:?}; plans not sent are dropped");
            }
        }
        self.counters.lock().map(|c| c.clone()).unwrap_or_default()
    }
}

/// The controller thread: newest plan per intersection, sent, read back, retried with backoff.
/// It ends when the planner's side hangs up and nothing is waiting, or has waited a full
/// maximum backoff since the hang-up.
fn push_plans(
    plans: Receiver<TimingPlan>,
    mut controllers: HashMap<String, Controller>,
    backoff: Backoff,
    clock: Arc<dyn Clock>,
    counters: Arc<Mutex<SignalCounters>>,
) {
    let mut dispatcher = Dispatcher::new(backoff);
    let mut hung_up_at: Option<Instant> = None;
    loop {
        match plans.recv_timeout(Duration::from_millis(100)) {
            Ok(plan) => {
                if controllers.contains_key(&plan.intersection) {
                    dispatcher.submit(plan, clock.now());
                }
                continue;
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => {
                hung_up_at.get_or_insert_with(Instant::now);
            }
        }
        let now = clock.now();
        let due: Vec<TimingPlan> = dispatcher.due(now).into_iter().cloned().collect();
        for plan in due {
            let Some(controller) = controllers.get_mut(&plan.intersection) else {
                continue;
            };
            let result = PatternWrite::from_plan(
                &plan,
                &controller.model,
                controller.pattern,
                &controller.phase_numbers,
            )
            .map_err(|what| format!("controller {}: {what}", controller.session.address()))
            .and_then(|write| {
                controller
                    .session
                    .send(&write)
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            });
            match dispatcher.report(&plan.intersection, result, clock.now()) {
                Some(DispatchOutcome::Sent { .. }) => {
                    if let Ok(mut counters) = counters.lock() {
                        counters.sent += 1;
                    }
                }
                Some(DispatchOutcome::Failed {
                    intersection,
                    attempt,
                    error,
                    retry_at,
                }) => {
                    eprintln!(
                        "signals: intersection {intersection}: plan not taken (attempt {attempt}): {error}; retry at {}",
                        retry_at.to_rfc3339()
                    );
                    if let Ok(mut counters) = counters.lock() {
                        counters.send_failures += 1;
                    }
                }
                None => {}
            }
        }
        if let Some(since) = hung_up_at {
            if dispatcher.waiting() == 0 || since.elapsed() > backoff.max {
                return;
            }
        }
    }
}

/// The first time of the schedule `next`, `next + interval`, ... that is after `now`: a gap
/// in the capture time (a stalled camera, a jump in a recording) skips the rounds it missed
/// instead of running them one after another.
fn first_after(next: Timestamp, now: Timestamp, interval: Duration) -> Timestamp {
    let step = interval.as_nanos().max(1);
    let behind = now.duration_since(next).as_nanos();
    let missed = u32::try_from(behind / step + 1).unwrap_or(u32::MAX);
    next.plus(interval.saturating_mul(missed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_next_round_is_the_first_scheduled_time_after_now() {
        let at = |s: i64| Timestamp::from_nanos(s * 1_000_000_000);
        let ten = Duration::from_secs(10);
        assert_eq!(first_after(at(100), at(100), ten), at(110));
        assert_eq!(first_after(at(100), at(105), ten), at(110));
        assert_eq!(first_after(at(100), at(110), ten), at(120));
        // Five intervals missed: one round now, the next on the schedule after now.
        assert_eq!(first_after(at(100), at(157), ten), at(160));
    }
}
