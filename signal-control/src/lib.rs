//! # roadsight-signal-control
//!
//! From measured flows to signal timing plans. Pure: data and time in, plans out; controller
//! adapters (NTCIP over SNMP, SUMO over TraCI) live at the edges.
//!
//! - [`model`]: the intersection (movements with lanes and saturation flow, phases as compatible
//!   movement sets in sequence with green limits, yellow, all-red and pedestrian minimums) and
//!   its validation: conflicting movements in one phase, movements no phase serves, impossible
//!   timings, each named with its path.
//! - [`webster`]: Webster's fixed-time plan (`C0 = (1.5 L + 5) / (1 - Y)`, clamped; greens in
//!   proportion to the critical flow ratios, minimums respected).
//! - [`plan`]: [`TimingPlan`] and [`plan::validate`], run before anything is sent: phases as
//!   the intersection's, greens at least their minimum, greens plus change intervals equal to
//!   the cycle, every field within NTCIP's 0-255 s.

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
