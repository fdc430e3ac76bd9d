//! Which plan goes to which controller when: the newest valid plan per intersection, and a
//! refused or unanswered one retried with exponential backoff. Pure: the caller sends and tells
//! the outcome, with the time.

use crate::plan::TimingPlan;
use roadsight_core::Timestamp;
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::Duration;

/// Retry timing after a failed send.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    pub initial: Duration,
    pub max: Duration,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(120),
        }
    }
}

impl Backoff {
    /// The wait after the `failures`-th failure in a row (1 = first): doubling, capped.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(30);
        self.initial.saturating_mul(1u32 << doublings).min(self.max)
    }
}

#[derive(Debug, Clone)]
struct Pending {
    plan: TimingPlan,
    failures: u32,
    due: Timestamp,
}

/// What happened to a send, for the event stream and the logs.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum DispatchOutcome {
    Sent {
        intersection: String,
        attempts: u32,
    },
    Failed {
        intersection: String,
        attempt: u32,
        error: String,
        retry_at: Timestamp,
    },
}

/// The plans waiting to reach their controllers.
#[derive(Debug, Clone, Default)]
pub struct Dispatcher {
    backoff: Backoff,
    pending: BTreeMap<String, Pending>,
}

impl Dispatcher {
    pub fn new(backoff: Backoff) -> Dispatcher {
        Dispatcher {
            backoff,
            pending: BTreeMap::new(),
        }
    }

    /// Queues `plan` to go now; it replaces an older plan of the same intersection still
    /// waiting (only the newest plan matters), and starts its backoff afresh.
    pub fn submit(&mut self, plan: TimingPlan, now: Timestamp) {
        self.pending.insert(
            plan.intersection.clone(),
            Pending {
                plan,
                failures: 0,
                due: now,
            },
        );
    }

    /// The plans due at `now`.
    pub fn due(&self, now: Timestamp) -> Vec<&TimingPlan> {
        self.pending
            .values()
            .filter(|pending| pending.due <= now)
            .map(|pending| &pending.plan)
            .collect()
    }

    /// Plans waiting, due or not.
    pub fn waiting(&self) -> usize {
        self.pending.len()
    }

    /// Records how sending `intersection`'s plan went at `now`.
    pub fn report(
        &mut self,
        intersection: &str,
        result: Result<(), String>,
        now: Timestamp,
    ) -> Option<DispatchOutcome> {
        let pending = self.pending.get_mut(intersection)?;
        match result {
            Ok(()) => {
                let attempts = pending.failures + 1;
                self.pending.remove(intersection);
                Some(DispatchOutcome::Sent {
                    intersection: intersection.to_string(),
                    attempts,
                })
            }
            Err(error) => {
                pending.failures += 1;
                pending.due = now.plus(self.backoff.delay(pending.failures));
                Some(DispatchOutcome::Failed {
                    intersection: intersection.to_string(),
                    attempt: pending.failures,
                    error,
                    retry_at: pending.due,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Split;

    fn plan(intersection: &str, cycle_s: f64) -> TimingPlan {
        TimingPlan {
            intersection: intersection.into(),
            cycle_s,
            offset_s: 0.0,
            splits: vec![Split {
                phase: "a".into(),
                green_s: cycle_s - 3.0,
            }],
            valid_from: Timestamp::UNIX_EPOCH,
        }
    }

    fn at(seconds: u64) -> Timestamp {
        Timestamp::UNIX_EPOCH.plus(Duration::from_secs(seconds))
    }

    #[test]
    fn a_refused_plan_is_retried_with_doubling_backoff_until_it_is_sent() {
        let mut dispatcher = Dispatcher::new(Backoff {
            initial: Duration::from_secs(2),
            max: Duration::from_secs(10),
        });
        dispatcher.submit(plan("x", 60.0), at(0));
        assert_eq!(dispatcher.due(at(0)).len(), 1);
        let mut retry_times = Vec::new();
        let mut now = at(0);
        for _ in 0..4 {
            match dispatcher.report("x", Err("refused".into()), now) {
                Some(DispatchOutcome::Failed { retry_at, .. }) => {
                    retry_times.push(retry_at.duration_since(now).as_secs());
                    assert!(dispatcher.due(now).is_empty(), "not due before its backoff");
                    now = retry_at;
                    assert_eq!(dispatcher.due(now).len(), 1);
                }
                other => panic!("expected a failure, got {other:?}"),
            }
        }
        assert_eq!(retry_times, vec![2, 4, 8, 10]);
        assert_eq!(
            dispatcher.report("x", Ok(()), now),
            Some(DispatchOutcome::Sent {
                intersection: "x".into(),
                attempts: 5
            })
        );
        assert_eq!(dispatcher.waiting(), 0);
    }

    #[test]
    fn a_newer_plan_replaces_one_still_waiting() {
        let mut dispatcher = Dispatcher::default();
        dispatcher.submit(plan("x", 60.0), at(0));
        let _ = dispatcher.report("x", Err("down".into()), at(0));
        dispatcher.submit(plan("x", 80.0), at(1));
        let due = dispatcher.due(at(1));
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].cycle_s, 80.0);
        assert_eq!(dispatcher.report("unknown", Ok(()), at(1)), None);
    }
}
