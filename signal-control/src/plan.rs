//! Timing plans and their validation before anything is sent to a controller.

use crate::model::Intersection;
pub use roadsight_core::signal::{Split, TimingPlan};

/// Why a plan may not be sent.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PlanError {
    #[error(
        "plan for {intersection}: phases {actual:?} do not match the intersection's {expected:?}"
    )]
    Phases {
        intersection: String,
        expected: Vec<String>,
        actual: Vec<String>,
    },
    #[error("plan for {intersection}: greens plus change intervals sum to {sum:.2} s, the cycle is {cycle:.2} s")]
    Sum {
        intersection: String,
        sum: f64,
        cycle: f64,
    },
    #[error(
        "plan for {intersection}: phase {phase} gets {green:.2} s, its least green is {least:.2} s"
    )]
    BelowMinimum {
        intersection: String,
        phase: String,
        green: f64,
        least: f64,
    },
    #[error(
        "plan for {intersection}: {field} is {value}, outside 0-255 s (NTCIP fields are one byte)"
    )]
    OutOfRange {
        intersection: String,
        field: String,
        value: f64,
    },
}

/// Tolerance on the cycle sum, seconds (controllers take whole seconds; planners round).
pub const SUM_TOLERANCE_S: f64 = 0.5;

/// Checks a plan against its intersection: the same phases in order, every green at least the
/// phase's minimum (and pedestrian minimum), greens plus change intervals equal to the cycle,
/// and every field representable in NTCIP's one-byte seconds.
pub fn validate(plan: &TimingPlan, intersection: &Intersection) -> Result<(), PlanError> {
    let name = || plan.intersection.clone();
    let expected: Vec<String> = intersection.phases.iter().map(|p| p.id.clone()).collect();
    let actual: Vec<String> = plan.splits.iter().map(|s| s.phase.clone()).collect();
    if expected != actual {
        return Err(PlanError::Phases {
            intersection: name(),
            expected,
            actual,
        });
    }
    let byte = |field: String, value: f64| {
        if value.is_finite() && (0.0..=255.0).contains(&value) {
            Ok(())
        } else {
            Err(PlanError::OutOfRange {
                intersection: name(),
                field,
                value,
            })
        }
    };
    byte("cycle_s".into(), plan.cycle_s)?;
    byte("offset_s".into(), plan.offset_s)?;
    if plan.offset_s >= plan.cycle_s && plan.cycle_s > 0.0 {
        return Err(PlanError::OutOfRange {
            intersection: name(),
            field: "offset_s (must be below the cycle)".into(),
            value: plan.offset_s,
        });
    }
    for (split, phase) in plan.splits.iter().zip(&intersection.phases) {
        byte(format!("splits[{}].green_s", split.phase), split.green_s)?;
        if split.green_s + 1e-9 < phase.least_green_s() {
            return Err(PlanError::BelowMinimum {
                intersection: name(),
                phase: phase.id.clone(),
                green: split.green_s,
                least: phase.least_green_s(),
            });
        }
    }
    let sum: f64 = plan.splits.iter().map(|s| s.green_s).sum::<f64>() + intersection.lost_time_s();
    if (sum - plan.cycle_s).abs() > SUM_TOLERANCE_S {
        return Err(PlanError::Sum {
            intersection: name(),
            sum,
            cycle: plan.cycle_s,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::two_phase;
    use roadsight_core::Timestamp;

    fn plan(greens: &[f64], cycle: f64) -> TimingPlan {
        TimingPlan {
            intersection: "x".into(),
            cycle_s: cycle,
            offset_s: 0.0,
            splits: ["ns", "ew"]
                .iter()
                .zip(greens)
                .map(|(p, g)| Split {
                    phase: p.to_string(),
                    green_s: *g,
                })
                .collect(),
            valid_from: Timestamp::UNIX_EPOCH,
        }
    }

    #[test]
    fn a_consistent_plan_passes() {
        assert_eq!(validate(&plan(&[30.0, 22.0], 60.0), &two_phase()), Ok(()));
    }

    #[test]
    fn each_kind_of_bad_plan_is_refused() {
        let x = two_phase();
        assert!(matches!(
            validate(&plan(&[30.0, 30.0], 60.0), &x),
            Err(PlanError::Sum { .. })
        ));
        assert!(matches!(
            validate(&plan(&[49.0, 3.0], 60.0), &x),
            Err(PlanError::BelowMinimum { .. })
        ));
        assert!(matches!(
            validate(&plan(&[200.0, 60.0], 268.0), &x),
            Err(PlanError::OutOfRange { .. })
        ));
        let mut wrong_order = plan(&[30.0, 22.0], 60.0);
        wrong_order.splits.reverse();
        assert!(matches!(
            validate(&wrong_order, &x),
            Err(PlanError::Phases { .. })
        ));
        let mut late = plan(&[30.0, 22.0], 60.0);
        late.offset_s = 60.0;
        assert!(matches!(
            validate(&late, &x),
            Err(PlanError::OutOfRange { .. })
        ));
        let mut nan = plan(&[30.0, 22.0], 60.0);
        nan.splits[0].green_s = f64::NAN;
        assert!(validate(&nan, &x).is_err());
    }
}
