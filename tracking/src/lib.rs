//! # roadsight-tracking
//!
//! Stable vehicle identities per camera. Pure: detections and capture time in, tracks out; no
//! video, no ONNX Runtime, no clock.
//!
//! - [`Tracker`]: ByteTrack-class multi-object tracker: constant-velocity Kalman filter in image
//!   space ([`kalman`]), two-stage association (high-score boxes, then low-score boxes) with an
//!   optimal assignment ([`assignment`]), and a tentative / confirmed / lost life cycle in which
//!   lost tracks expire by time. Step it on every analysed frame, empty ones included.
//! - [`routes`]: routes across cameras from plate sightings (exact plates, and one-edit
//!   misreads over links whose travel time fits), travel times and origin-destination matrices.
//! - [`mot`]: MOTChallenge files, ignore regions, and CLEAR MOT / IDF1 scores (py-motmetrics rules).

pub mod assignment;
pub mod kalman;
pub mod mot;
pub mod routes;
pub mod tracker;

pub use tracker::{Tracker, TrackerCounters, TrackerSettings};
