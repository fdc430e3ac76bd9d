//! Axis-aligned box arithmetic the stages share. A box is `[x, y, w, h]` in pixels (the
//! detector's, the tracker's and the plate locator's convention) unless its name says corners,
//! `[x0, y0, x1, y1]`.

/// The corners `[x0, y0, x1, y1]` of a box `[x, y, w, h]`.
pub fn corners(bbox: [f32; 4]) -> [f32; 4] {
    [bbox[0], bbox[1], bbox[0] + bbox[2], bbox[1] + bbox[3]]
}

/// Intersection over union of two boxes given by their corners; 0 when their union is empty.
/// A box whose corners are inverted has no area.
pub fn iou_corners(a: [f32; 4], b: [f32; 4]) -> f32 {
    let area = |c: [f32; 4]| (c[2] - c[0]).max(0.0) * (c[3] - c[1]).max(0.0);
    let w = (a[2].min(b[2]) - a[0].max(b[0])).max(0.0);
    let h = (a[3].min(b[3]) - a[1].max(b[1])).max(0.0);
    let intersection = w * h;
    let union = area(a) + area(b) - intersection;
    if union > 0.0 {
        intersection / union
    } else {
        0.0
    }
}

/// Intersection over union of two boxes `[x, y, w, h]`; 0 when their union is empty.
pub fn iou(a: [f32; 4], b: [f32; 4]) -> f32 {
    iou_corners(corners(a), corners(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_identical_disjoint_half_overlapping_and_empty_boxes() {
        let a = [0.0, 0.0, 10.0, 10.0];
        assert_eq!(iou(a, a), 1.0);
        assert_eq!(iou(a, [20.0, 0.0, 10.0, 10.0]), 0.0);
        // 5x10 shared of 150 covered.
        assert!((iou(a, [5.0, 0.0, 10.0, 10.0]) - 1.0 / 3.0).abs() < 1e-6);
        assert_eq!(iou([0.0; 4], [0.0; 4]), 0.0);
        assert_eq!(
            iou_corners(corners(a), corners([5.0, 0.0, 10.0, 10.0])),
            iou(a, [5.0, 0.0, 10.0, 10.0])
        );
        // Inverted corners have no area: nothing overlaps them.
        assert_eq!(iou_corners([10.0, 10.0, 0.0, 0.0], corners(a)), 0.0);
    }
}
