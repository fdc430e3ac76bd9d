//! # roadsight-signal-control
//!
//! From measured flows to signal timing. The planners and controllers are pure (data and time
//! in, plans or signal states out); the adapters to controllers and to SUMO live at the edges.
//!
//! - [`model`]: the intersection model (defined in `roadsight-core`, since it is city config):
//!   movements with lanes and saturation flow, phases as compatible movement sets in sequence
//!   with green limits, yellow, all-red and pedestrian minimums, validated with paths.
//! - [`webster`]: Webster's fixed-time plan (`C0 = (1.5 L + 5) / (1 - Y)`, clamped; greens in
//!   proportion to the critical flow ratios, minimums respected), and [`webster::split_cycle`]
//!   for a given cycle.
//! - [`plan`]: [`TimingPlan`] and [`plan::validate`], run before anything is sent.
//! - [`planning`]: [`planning::CityPlanner`], the main job's planner: demand per movement from
//!   the cameras' counts, staleness and fallback, corridor coordination, one round at a time.
//! - [`control`]: per-second phase controllers for closed-loop control ([`control::MaxPressure`],
//!   [`control::RoadsightAdaptive`], fixed and Webster cycles) over lane readings.
//! - [`ntcip`]: a plan as an NTCIP 1202 pattern over SNMP v2c, written, selected and read back;
//!   [`dispatch`]: which plan goes when, with backoff after a refusal.
//! - [`sumo_net`], [`traci`], [`simulate`]: SUMO networks, a TraCI client built on
//!   subscriptions, and closed-loop runs with RESCO's delay metric.

pub mod control;
pub mod dispatch;
pub mod model;
pub mod ntcip;
pub mod plan;
pub mod planning;
pub mod simulate;
pub mod sumo_net;
pub mod traci;
pub mod webster;

pub use model::{Bearing, Intersection, ModelProblem, Movement, Phase, Turn};
pub use plan::{validate, PlanError, Split, TimingPlan};
pub use webster::{optimum_cycle, webster_plan};
