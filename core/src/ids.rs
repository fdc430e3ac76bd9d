//! Typed identifiers.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::sync::Arc;

/// A camera's id, as written in the city config (`cameras[].id`).
///
/// Cheap to clone: frames carry it through every stage.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CameraId(Arc<str>);

impl CameraId {
    pub fn new(id: &str) -> Self {
        Self(Arc::from(id))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for CameraId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CameraId({})", self.0)
    }
}

impl From<&str> for CameraId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}
