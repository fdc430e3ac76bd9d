//! Timing plans: what signal control issues for an intersection, and on what basis.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// One phase's share of the cycle.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    pub phase: String,
    /// Green time, seconds (yellow and all-red come after it).
    pub green_s: f64,
}

/// A timing plan for one intersection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimingPlan {
    pub intersection: String,
    pub cycle_s: f64,
    /// Start of the first phase's green relative to the corridor's common reference.
    pub offset_s: f64,
    /// In phase order.
    pub splits: Vec<Split>,
    pub valid_from: Timestamp,
}

/// What a plan stands on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PlanBasis {
    /// Webster on the counted demand.
    Counts,
    /// The last valid plan, re-issued.
    LastValid,
    /// Even splits at the minimum cycle: no valid plan yet.
    FixedTime,
}

/// One intersection's plan in a round.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlanDecision {
    pub plan: TimingPlan,
    pub basis: PlanBasis,
    /// The corridor whose common cycle and offset it runs, if any.
    pub corridor: Option<String>,
    /// Why it fell back, when it did.
    pub reason: Option<String>,
    /// The demand planned for: PCU per hour per movement.
    pub flows_pcu_h: Vec<(String, f64)>,
    /// The last closed counting interval's flow, PCU per hour, of each movement that has one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub interval_flows_pcu_h: Vec<(String, f64)>,
}
