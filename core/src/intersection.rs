//! The intersection model: approaches, movements with their lanes and saturation flow, and
//! phases as compatible movement sets in sequence, with their timing limits. It is part of the
//! city config (`[[intersections]]`); signal control plans over it.

use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Where an approach comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Bearing {
    North,
    East,
    South,
    West,
}

impl Bearing {
    fn index(self) -> u8 {
        match self {
            Bearing::North => 0,
            Bearing::East => 1,
            Bearing::South => 2,
            Bearing::West => 3,
        }
    }

    /// The approach straight across.
    pub fn opposite(self) -> Bearing {
        match self {
            Bearing::North => Bearing::South,
            Bearing::East => Bearing::West,
            Bearing::South => Bearing::North,
            Bearing::West => Bearing::East,
        }
    }
}

/// Where a movement goes from its approach (right-hand traffic).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Turn {
    Left,
    Through,
    Right,
}

/// One movement: from an approach, a turn, over some lanes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Movement {
    pub id: String,
    pub from: Bearing,
    pub turn: Turn,
    pub lanes: u32,
    /// Saturation flow per lane, vehicles per hour of green (HCM base 1,900).
    #[serde(default = "default_saturation")]
    pub saturation_per_lane: f64,
}

fn default_saturation() -> f64 {
    1900.0
}

impl Movement {
    /// Saturation flow of the movement, vehicles per hour of green.
    pub fn saturation(&self) -> f64 {
        self.saturation_per_lane * f64::from(self.lanes)
    }
}

/// A phase: movements that may run together, and its timing limits (seconds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Phase {
    pub id: String,
    pub movements: Vec<String>,
    pub min_green_s: f64,
    pub max_green_s: f64,
    pub yellow_s: f64,
    pub all_red_s: f64,
    /// Shortest green that lets pedestrians cross alongside (0 when none).
    #[serde(default)]
    pub pedestrian_min_s: f64,
}

impl Phase {
    /// Time lost per cycle to this phase's change interval.
    pub fn lost_s(&self) -> f64 {
        self.yellow_s + self.all_red_s
    }

    /// The least green this phase may get.
    pub fn least_green_s(&self) -> f64 {
        self.min_green_s.max(self.pedestrian_min_s)
    }
}

/// One signalised intersection.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intersection {
    pub id: String,
    pub movements: Vec<Movement>,
    /// In the order they run.
    pub phases: Vec<Phase>,
    /// Cycle limits for planners, seconds.
    #[serde(default = "default_min_cycle")]
    pub min_cycle_s: f64,
    #[serde(default = "default_max_cycle")]
    pub max_cycle_s: f64,
}

fn default_min_cycle() -> f64 {
    40.0
}

fn default_max_cycle() -> f64 {
    150.0
}

/// A problem in an intersection's definition, with its path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {message}")]
pub struct ModelProblem {
    pub path: String,
    pub message: String,
}

/// True when two movements' paths cross or merge so they may not have green together
/// (right-hand traffic; right turns are taken as yielding to pedestrians only).
pub fn conflicting(a: &Movement, b: &Movement) -> bool {
    if a.from == b.from {
        return false;
    }
    let opposite = a.from.opposite() == b.from;
    match (a.turn, b.turn) {
        (Turn::Right, Turn::Right) => false,
        (Turn::Through, Turn::Through) => !opposite,
        // A protected left crosses every through and left except its own opposite left.
        (Turn::Left, Turn::Left) => !opposite,
        (Turn::Left, Turn::Through) | (Turn::Through, Turn::Left) => true,
        // A right turn merges with the through from its left and the opposite left.
        (Turn::Right, other) | (other, Turn::Right) => {
            let (right, other_movement) = if a.turn == Turn::Right {
                (a, b)
            } else {
                (b, a)
            };
            let from_left = (right.from.index() + 1) % 4 == other_movement.from.index();
            match other {
                Turn::Through => from_left,
                Turn::Left => right.from.opposite() == other_movement.from,
                Turn::Right => false,
            }
        }
    }
}

impl Intersection {
    /// Every problem: unknown or conflicting movements in a phase, movements no phase serves,
    /// impossible timings.
    pub fn validate(&self, path: &str) -> Vec<ModelProblem> {
        let mut problems = Vec::new();
        let problem = |at: String, message: String| ModelProblem { path: at, message };
        if self.phases.is_empty() {
            problems.push(problem(
                format!("{path}.phases"),
                "at least one phase is required".into(),
            ));
        }
        let mut ids = HashSet::new();
        for (i, movement) in self.movements.iter().enumerate() {
            if !ids.insert(movement.id.as_str()) {
                problems.push(problem(
                    format!("{path}.movements[{i}].id"),
                    format!("duplicate movement `{}`", movement.id),
                ));
            }
            if movement.lanes == 0
                || movement.saturation_per_lane.is_nan()
                || movement.saturation_per_lane <= 0.0
            {
                problems.push(problem(
                    format!("{path}.movements[{i}]"),
                    "lanes and saturation_per_lane must be positive".into(),
                ));
            }
        }
        let mut served = HashSet::new();
        for (p, phase) in self.phases.iter().enumerate() {
            let at = format!("{path}.phases[{p}]");
            let mut members = Vec::new();
            for id in &phase.movements {
                match self.movements.iter().find(|m| &m.id == id) {
                    Some(m) => {
                        served.insert(id.as_str());
                        members.push(m);
                    }
                    None => problems.push(problem(
                        format!("{at}.movements"),
                        format!("unknown movement `{id}`"),
                    )),
                }
            }
            for (i, a) in members.iter().enumerate() {
                for b in &members[i + 1..] {
                    if conflicting(a, b) {
                        problems.push(problem(
                            format!("{at}.movements"),
                            format!(
                                "`{}` and `{}` conflict and cannot have green together",
                                a.id, b.id
                            ),
                        ));
                    }
                }
            }
            let numbers = [
                ("min_green_s", phase.min_green_s),
                ("max_green_s", phase.max_green_s),
                ("yellow_s", phase.yellow_s),
                ("all_red_s", phase.all_red_s),
                ("pedestrian_min_s", phase.pedestrian_min_s),
            ];
            for (field, value) in numbers {
                if !(0.0..=255.0).contains(&value) {
                    problems.push(problem(
                        format!("{at}.{field}"),
                        format!("must be within 0-255 s, found {value}"),
                    ));
                }
            }
            if phase.least_green_s() > phase.max_green_s {
                problems.push(problem(
                    format!("{at}.max_green_s"),
                    format!(
                        "{} is below the least green {} (min_green_s or pedestrian_min_s)",
                        phase.max_green_s,
                        phase.least_green_s()
                    ),
                ));
            }
            if phase.yellow_s < 3.0 {
                problems.push(problem(
                    format!("{at}.yellow_s"),
                    format!("must be at least 3 s, found {}", phase.yellow_s),
                ));
            }
        }
        for (i, movement) in self.movements.iter().enumerate() {
            if !served.contains(movement.id.as_str()) {
                problems.push(problem(
                    format!("{path}.movements[{i}]"),
                    format!("movement `{}` is in no phase", movement.id),
                ));
            }
        }
        if !(self.min_cycle_s > 0.0
            && self.min_cycle_s <= self.max_cycle_s
            && self.max_cycle_s <= 255.0)
        {
            problems.push(problem(
                format!("{path}.min_cycle_s"),
                format!(
                    "need 0 < min_cycle_s <= max_cycle_s <= 255, found {} and {}",
                    self.min_cycle_s, self.max_cycle_s
                ),
            ));
        }
        problems
    }

    /// Lost time per cycle: every phase's yellow and all-red.
    pub fn lost_time_s(&self) -> f64 {
        self.phases.iter().map(Phase::lost_s).sum()
    }
}

/// Worked examples, for tests and documentation.
pub mod examples {
    use super::{Bearing, Intersection, Movement, Phase, Turn};

    /// A one-lane movement at 1,900 vehicles per hour of green.
    pub fn movement(id: &str, from: Bearing, turn: Turn) -> Movement {
        Movement {
            id: id.into(),
            from,
            turn,
            lanes: 1,
            saturation_per_lane: 1900.0,
        }
    }

    fn phase(id: &str, movements: &[&str]) -> Phase {
        Phase {
            id: id.into(),
            movements: movements.iter().map(|m| m.to_string()).collect(),
            min_green_s: 7.0,
            max_green_s: 60.0,
            yellow_s: 3.0,
            all_red_s: 1.0,
            pedestrian_min_s: 0.0,
        }
    }

    /// A four-leg intersection with two phases (north-south with north's right turn,
    /// east-west), one lane of 1,900 veh/h per movement, 3 s yellow and 1 s all-red each.
    pub fn two_phase() -> Intersection {
        Intersection {
            id: "x".into(),
            movements: vec![
                movement("nt", Bearing::North, Turn::Through),
                movement("st", Bearing::South, Turn::Through),
                movement("et", Bearing::East, Turn::Through),
                movement("wt", Bearing::West, Turn::Through),
                movement("nr", Bearing::North, Turn::Right),
            ],
            phases: vec![phase("ns", &["nt", "st", "nr"]), phase("ew", &["et", "wt"])],
            min_cycle_s: 40.0,
            max_cycle_s: 120.0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use super::examples::{movement, two_phase};

    #[test]
    fn crossing_throughs_conflict_and_opposing_ones_do_not() {
        let nt = movement("nt", Bearing::North, Turn::Through);
        let st = movement("st", Bearing::South, Turn::Through);
        let et = movement("et", Bearing::East, Turn::Through);
        let nl = movement("nl", Bearing::North, Turn::Left);
        let sl = movement("sl", Bearing::South, Turn::Left);
        assert!(!conflicting(&nt, &st));
        assert!(conflicting(&nt, &et));
        assert!(conflicting(&nl, &st), "a left crosses the opposing through");
        assert!(
            !conflicting(&nl, &sl),
            "opposite protected lefts run together"
        );
        // North's right turn (heading west) merges with the through from its left (east).
        let nr = movement("nr", Bearing::North, Turn::Right);
        let wt = movement("wt", Bearing::West, Turn::Through);
        assert!(conflicting(&nr, &et));
        assert!(!conflicting(&nr, &wt));
        assert!(!conflicting(&nr, &st));
    }

    #[test]
    fn a_sound_intersection_has_no_problems() {
        assert_eq!(two_phase().validate("intersections[0]"), vec![]);
        assert_eq!(two_phase().lost_time_s(), 8.0);
    }

    #[test]
    fn conflicts_gaps_and_bad_timings_are_named_with_their_paths() {
        let mut bad = two_phase();
        bad.phases[0].movements.push("et".into()); // east through with north-south
        bad.phases[1].movements = vec!["wt".into(), "zz".into()];
        bad.phases[1].max_green_s = 5.0;
        bad.movements
            .push(movement("sl", Bearing::South, Turn::Left)); // in no phase
        let problems = bad.validate("intersections[3]");
        let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert!(
            text.iter()
                .any(|p| p
                    .starts_with("intersections[3].phases[0].movements: `nt` and `et` conflict")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|p| p.contains("unknown movement `zz`")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|p| p.starts_with("intersections[3].phases[1].max_green_s")),
            "{text:?}"
        );
        assert!(
            text.iter()
                .any(|p| p
                    .starts_with("intersections[3].movements[5]: movement `sl` is in no phase")),
            "{text:?}"
        );
    }
}
