//! Webster's fixed-time plan (HCM form): optimum cycle `C0 = (1.5 L + 5) / (1 - Y)`, clamped to
//! the intersection's cycle limits, and effective green shared in proportion to each phase's
//! critical flow ratio.

use crate::model::Intersection;
use crate::plan::{Split, TimingPlan};
use roadsight_core::Timestamp;
use std::collections::HashMap;

/// Highest total critical flow ratio planned for; above it the cycle is the maximum.
pub const Y_SATURATED: f64 = 0.95;

/// Webster's optimum cycle for lost time `lost_s` and total critical flow ratio `y`, seconds,
/// before clamping. `None` when the intersection is over-saturated (`y >= 1`).
pub fn optimum_cycle(lost_s: f64, y: f64) -> Option<f64> {
    (y < 1.0).then(|| (1.5 * lost_s + 5.0) / (1.0 - y))
}

/// The critical flow ratio of each phase: the largest `flow / saturation` among its movements.
/// `flows` are vehicles per hour per movement id; a movement without a flow counts as zero.
pub fn critical_ratios(intersection: &Intersection, flows: &HashMap<String, f64>) -> Vec<f64> {
    intersection
        .phases
        .iter()
        .map(|phase| {
            phase
                .movements
                .iter()
                .filter_map(|id| intersection.movements.iter().find(|m| &m.id == id))
                .map(|m| flows.get(&m.id).copied().unwrap_or(0.0).max(0.0) / m.saturation())
                .fold(0.0, f64::max)
        })
        .collect()
}

/// A Webster plan for `flows` (vehicles per hour per movement), valid from `at`.
///
/// The cycle is rounded to whole seconds and clamped to `[min_cycle_s, max_cycle_s]`; over
/// saturation takes the maximum. Effective green `C - L` is shared in proportion to the critical
/// ratios (evenly when there is no demand), then each phase is raised to its least green, taken
/// from the others above their minimum, and capped at its maximum; rounding keeps the sum exact.
pub fn webster_plan(
    intersection: &Intersection,
    flows: &HashMap<String, f64>,
    at: Timestamp,
) -> TimingPlan {
    let ratios = critical_ratios(intersection, flows);
    let y: f64 = ratios.iter().sum();
    let lost = intersection.lost_time_s();
    let least: f64 = intersection.phases.iter().map(|p| p.least_green_s()).sum();
    let floor = (lost + least).max(intersection.min_cycle_s);
    let cycle = match optimum_cycle(lost, y.min(Y_SATURATED)) {
        Some(c) if y < Y_SATURATED => c.round(),
        _ => intersection.max_cycle_s,
    }
    .clamp(floor.ceil(), intersection.max_cycle_s.max(floor.ceil()));
    split_cycle(intersection, &ratios, cycle, at)
}

/// Greens for a given whole-second `cycle`: effective green `C - L` shared in proportion to the
/// phases' critical `ratios` (evenly when all are zero), each phase raised to its least green
/// with the time taken from those above theirs, rounded to whole seconds with the remainder on
/// the largest. Used by Webster's plan and to fit a plan to a corridor's common cycle.
pub fn split_cycle(
    intersection: &Intersection,
    ratios: &[f64],
    cycle: f64,
    at: Timestamp,
) -> TimingPlan {
    let lost = intersection.lost_time_s();
    let y: f64 = ratios.iter().sum();
    let effective = cycle - lost;
    let shares: Vec<f64> = if y > 0.0 {
        ratios.iter().map(|r| r / y).collect()
    } else {
        vec![1.0 / ratios.len().max(1) as f64; ratios.len()]
    };
    let mut greens: Vec<f64> = shares.iter().map(|s| s * effective).collect();
    // Raise phases below their least green, taking the time from those with room.
    for _ in 0..intersection.phases.len() {
        let deficit: f64 = greens
            .iter()
            .zip(&intersection.phases)
            .map(|(g, p)| (p.least_green_s() - g).max(0.0))
            .sum();
        if deficit <= 1e-9 {
            break;
        }
        let room: f64 = greens
            .iter()
            .zip(&intersection.phases)
            .map(|(g, p)| (g - p.least_green_s()).max(0.0))
            .sum();
        for (g, p) in greens.iter_mut().zip(&intersection.phases) {
            if *g < p.least_green_s() {
                *g = p.least_green_s();
            } else if room > 0.0 {
                *g -= (*g - p.least_green_s()) / room * deficit;
            }
        }
    }
    // Whole seconds, with the rounding remainder on the largest phase.
    let mut rounded: Vec<f64> = greens.iter().map(|g| g.floor()).collect();
    let remainder = effective - rounded.iter().sum::<f64>();
    if let Some((largest, _)) = greens.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)) {
        rounded[largest] += remainder;
    }
    TimingPlan {
        intersection: intersection.id.clone(),
        cycle_s: cycle,
        offset_s: 0.0,
        splits: intersection
            .phases
            .iter()
            .zip(rounded)
            .map(|(p, green_s)| Split {
                phase: p.id.clone(),
                green_s,
            })
            .collect(),
        valid_from: at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::two_phase;
    use crate::plan::validate;

    #[test]
    fn worked_examples_of_the_optimum_cycle() {
        // Y = 0.5, L = 16 s: (1.5 * 16 + 5) / 0.5 = 58 s.
        assert_eq!(optimum_cycle(16.0, 0.5).map(f64::round), Some(58.0));
        // Y = 0.7, L = 12 s: (1.5 * 12 + 5) / 0.3 = 76.7, so 77 s.
        assert_eq!(optimum_cycle(12.0, 0.7).map(f64::round), Some(77.0));
        assert_eq!(optimum_cycle(12.0, 1.0), None);
    }

    #[test]
    fn greens_follow_the_critical_ratios_and_the_plan_is_valid() {
        let x = two_phase(); // L = 8 s, saturation 1,900 veh/h per movement
        let flows: HashMap<String, f64> =
            [("nt", 760.0), ("st", 570.0), ("et", 380.0), ("wt", 190.0)]
                .iter()
                .map(|(k, v)| (k.to_string(), *v))
                .collect();
        // y_ns = 0.4, y_ew = 0.2, Y = 0.6: C0 = (12 + 5) / 0.4 = 42.5 -> 43 s, 35 s of green 2:1.
        let plan = webster_plan(&x, &flows, Timestamp::UNIX_EPOCH);
        assert_eq!(plan.cycle_s, 43.0);
        let greens: Vec<f64> = plan.splits.iter().map(|s| s.green_s).collect();
        assert_eq!(greens, vec![24.0, 11.0]);
        assert_eq!(validate(&plan, &x), Ok(()));
    }

    #[test]
    fn saturation_and_no_demand_still_give_valid_plans() {
        let x = two_phase();
        let heavy: HashMap<String, f64> = [("nt", 1800.0), ("et", 1800.0)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let plan = webster_plan(&x, &heavy, Timestamp::UNIX_EPOCH);
        assert_eq!(plan.cycle_s, x.max_cycle_s);
        assert_eq!(validate(&plan, &x), Ok(()));
        let none = webster_plan(&x, &HashMap::new(), Timestamp::UNIX_EPOCH);
        assert_eq!(none.cycle_s, x.min_cycle_s);
        assert_eq!(validate(&none, &x), Ok(()));
        // A phase with almost no demand still gets its minimum green.
        let lopsided: HashMap<String, f64> = [("nt", 1500.0), ("et", 5.0)]
            .iter()
            .map(|(k, v)| (k.to_string(), *v))
            .collect();
        let plan = webster_plan(&x, &lopsided, Timestamp::UNIX_EPOCH);
        assert!(plan.splits[1].green_s >= 7.0, "{plan:?}");
        assert_eq!(validate(&plan, &x), Ok(()));
    }
}
