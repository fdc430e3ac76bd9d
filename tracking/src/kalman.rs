//! Constant-velocity Kalman filter in image space, on `(centre x, centre y, aspect w/h, height)`.
//!
//! ByteTrack's filter with diagonal process and measurement noise scaled by the box height. With
//! diagonal noise the 8-state filter separates exactly into four independent (position, velocity)
//! filters, which is how it is written here. Time is passed in: predictions take the elapsed
//! seconds, and noise grows with the number of nominal frame intervals elapsed, so a camera
//! analysed at 5 fps and one at 25 fps behave alike.

/// Noise weights (ByteTrack's defaults) relative to the box height, per nominal frame interval.
const STD_POSITION: f64 = 1.0 / 20.0;
const STD_VELOCITY: f64 = 1.0 / 160.0;

/// One coordinate: position and velocity (per nominal interval) with their covariance.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Axis {
    position: f64,
    velocity: f64,
    var_p: f64,
    cov_pv: f64,
    var_v: f64,
}

impl Axis {
    fn new(position: f64, std_p: f64, std_v: f64) -> Self {
        Self {
            position,
            velocity: 0.0,
            var_p: std_p * std_p,
            cov_pv: 0.0,
            var_v: std_v * std_v,
        }
    }

    /// Moves `steps` nominal intervals ahead (steps may be fractional).
    fn predict(&mut self, steps: f64, q_p: f64, q_v: f64) {
        self.position += self.velocity * steps;
        self.var_p += 2.0 * steps * self.cov_pv + steps * steps * self.var_v + q_p * steps;
        self.cov_pv += steps * self.var_v;
        self.var_v += q_v * steps;
    }

    fn update(&mut self, measured: f64, r: f64) {
        let s = self.var_p + r;
        if s <= 0.0 || !s.is_finite() {
            return;
        }
        let (k_p, k_v) = (self.var_p / s, self.cov_pv / s);
        let innovation = measured - self.position;
        self.position += k_p * innovation;
        self.velocity += k_v * innovation;
        let (var_p, cov_pv, var_v) = (self.var_p, self.cov_pv, self.var_v);
        self.var_p = var_p - k_p * var_p;
        self.cov_pv = cov_pv - k_p * cov_pv;
        self.var_v = var_v - k_v * cov_pv;
    }
}

/// A box's filter state.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BoxFilter {
    x: Axis,
    y: Axis,
    aspect: Axis,
    height: Axis,
}

/// `[x, y, w, h]` (top-left corner and size) to `(cx, cy, aspect, height)`.
fn to_xyah(bbox: [f32; 4]) -> [f64; 4] {
    let [x, y, w, h] = bbox.map(f64::from);
    [x + w / 2.0, y + h / 2.0, w / h.max(1e-6), h]
}

impl BoxFilter {
    /// A filter started at a measured box `[x, y, w, h]`, at rest.
    pub fn new(bbox: [f32; 4]) -> Self {
        let [cx, cy, a, h] = to_xyah(bbox);
        let (p, v) = (2.0 * STD_POSITION * h, 10.0 * STD_VELOCITY * h);
        Self {
            x: Axis::new(cx, p, v),
            y: Axis::new(cy, p, v),
            aspect: Axis::new(a, 1e-2, 1e-5),
            height: Axis::new(h, p, v),
        }
    }

    /// Advances by `steps` nominal frame intervals.
    pub fn predict(&mut self, steps: f64) {
        let h = self.height.position.max(1.0);
        let (q_p, q_v) = ((STD_POSITION * h).powi(2), (STD_VELOCITY * h).powi(2));
        self.x.predict(steps, q_p, q_v);
        self.y.predict(steps, q_p, q_v);
        self.aspect.predict(steps, 1e-4, 1e-10);
        self.height.predict(steps, q_p, q_v);
    }

    /// Corrects with a measured box `[x, y, w, h]`.
    pub fn update(&mut self, bbox: [f32; 4]) {
        let [cx, cy, a, h] = to_xyah(bbox);
        let r = (STD_POSITION * self.height.position.max(1.0)).powi(2);
        self.x.update(cx, r);
        self.y.update(cy, r);
        self.aspect.update(a, 1e-2);
        self.height.update(h, r);
    }

    /// The current box `[x, y, w, h]`.
    pub fn bbox(&self) -> [f32; 4] {
        let h = self.height.position.max(1e-3);
        let w = (self.aspect.position * h).max(1e-3);
        [
            (self.x.position - w / 2.0) as f32,
            (self.y.position - h / 2.0) as f32,
            w as f32,
            h as f32,
        ]
    }

    /// Centre velocity in pixels per nominal interval.
    pub fn velocity_per_interval(&self) -> [f32; 2] {
        [self.x.velocity as f32, self.y.velocity as f32]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn learns_a_constant_velocity_and_predicts_ahead() {
        let mut filter = BoxFilter::new([0.0, 100.0, 40.0, 20.0]);
        for step in 1..=20 {
            filter.predict(1.0);
            filter.update([step as f32 * 5.0, 100.0, 40.0, 20.0]);
        }
        let [vx, vy] = filter.velocity_per_interval();
        assert!((vx - 5.0).abs() < 0.2, "vx {vx}");
        assert!(vy.abs() < 0.2, "vy {vy}");
        filter.predict(2.0);
        let [x, y, w, h] = filter.bbox();
        assert!((x - 110.0).abs() < 1.5, "x {x}");
        assert!((y - 100.0).abs() < 0.5 && (w - 40.0).abs() < 0.5 && (h - 20.0).abs() < 0.5);
    }

    #[test]
    fn uncertainty_grows_while_predicting_without_measurements() {
        let mut filter = BoxFilter::new([0.0, 0.0, 10.0, 10.0]);
        let before = filter.x.var_p;
        filter.predict(3.0);
        assert!(filter.x.var_p > before);
        let after_predict = filter.x.var_p;
        filter.update([0.0, 0.0, 10.0, 10.0]);
        assert!(filter.x.var_p < after_predict);
    }
}
