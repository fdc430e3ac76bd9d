//! The intersection model lives in `roadsight-core` (it is part of the city config); this module
//! re-exports it for signal control.

pub use roadsight_core::intersection::{
    conflicting, Bearing, Intersection, ModelProblem, Movement, Phase, Turn,
};

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn movement(id: &str, from: Bearing, turn: Turn) -> Movement {
        Movement {
            id: id.into(),
            from,
            turn,
            lanes: 1,
            saturation_per_lane: 1900.0,
        }
    }

    /// A four-leg intersection with two phases (north-south, east-west), through and right;
    /// 3 s yellow and 1 s all-red each.
    pub(crate) fn two_phase() -> Intersection {
        let phase = |id: &str, movements: &[&str]| Phase {
            id: id.into(),
            movements: movements.iter().map(|m| m.to_string()).collect(),
            min_green_s: 7.0,
            max_green_s: 60.0,
            yellow_s: 3.0,
            all_red_s: 1.0,
            pedestrian_min_s: 0.0,
        };
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
