//! The intersection model lives in `roadsight-core` (it is part of the city config); this module
//! re-exports it for signal control.

pub use roadsight_core::intersection::{
    conflicting, Bearing, Intersection, ModelProblem, Movement, Phase, Turn,
};

#[cfg(test)]
pub(crate) mod tests {
    pub(crate) use roadsight_core::intersection::examples::two_phase;
}
