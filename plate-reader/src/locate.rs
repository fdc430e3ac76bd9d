//! Plate localisation post-processing: the HyperLPR3 `y5fu` output decoded into plates with
//! four corners and a row type, as pure functions.
//!
//! The model's output is `[N, 15]` per image: `cx, cy, w, h` (tensor pixels), objectness,
//! eight corner coordinates (TL, TR, BR, BL), and two class scores (one-row, two-row). The
//! score of a candidate is objectness times its best class score, as in HyperLPR3.

use crate::geometry::Quad;
use roadsight_core::geometry::iou;
use roadsight_core::Letterbox;

/// Values per candidate in the `y5fu` output.
pub const VALUES_PER_CANDIDATE: usize = 15;

/// A located plate, in whichever space its producer says (tensor or image pixels).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct LocatedPlate {
    /// Corners TL, TR, BR, BL.
    pub corners: Quad,
    /// Axis-aligned box `x, y, w, h`.
    pub bbox: [f32; 4],
    pub score: f32,
    /// 1 (one-row plate) or 2 (two-row plate).
    pub rows: u8,
}

/// Decodes candidates whose score reaches `score_threshold`, in tensor pixels.
pub fn decode_y5fu(output: &[f32], score_threshold: f32) -> Vec<LocatedPlate> {
    output
        .chunks_exact(VALUES_PER_CANDIDATE)
        .filter_map(|v| {
            let objectness = v[4];
            if objectness < score_threshold {
                return None;
            }
            let (one_row, two_row) = (v[13] * objectness, v[14] * objectness);
            let (score, rows) = if two_row > one_row {
                (two_row, 2)
            } else {
                (one_row, 1)
            };
            if score < score_threshold {
                return None;
            }
            let (cx, cy, w, h) = (v[0], v[1], v[2], v[3]);
            Some(LocatedPlate {
                corners: Quad([[v[5], v[6]], [v[7], v[8]], [v[9], v[10]], [v[11], v[12]]]),
                bbox: [cx - w / 2.0, cy - h / 2.0, w, h],
                score,
                rows,
            })
        })
        .collect()
}

/// Non-maximum suppression over boxes, highest score first.
pub fn suppress_overlaps(mut plates: Vec<LocatedPlate>, iou_threshold: f32) -> Vec<LocatedPlate> {
    plates.sort_by(|a, b| b.score.total_cmp(&a.score));
    let mut kept: Vec<LocatedPlate> = Vec::new();
    for plate in plates {
        if kept
            .iter()
            .all(|k| iou(k.bbox, plate.bbox) <= iou_threshold)
        {
            kept.push(plate);
        }
    }
    kept
}

/// Undoes the letterbox: tensor pixels to source-image pixels, corners clamped to the image.
pub fn to_image_space(plate: &LocatedPlate, letterbox: &Letterbox) -> LocatedPlate {
    let (width, height) = (
        letterbox.source_width as f32,
        letterbox.source_height as f32,
    );
    let map = |p: [f32; 2]| {
        let (x, y) = letterbox.image_from_tensor(p[0], p[1]);
        [x.clamp(0.0, width), y.clamp(0.0, height)]
    };
    let (x0, y0) = letterbox.image_from_tensor(plate.bbox[0], plate.bbox[1]);
    let (x1, y1) =
        letterbox.image_from_tensor(plate.bbox[0] + plate.bbox[2], plate.bbox[1] + plate.bbox[3]);
    let (x0, y0, x1, y1) = (
        x0.clamp(0.0, width),
        y0.clamp(0.0, height),
        x1.clamp(0.0, width),
        y1.clamp(0.0, height),
    );
    LocatedPlate {
        corners: Quad(plate.corners.0.map(map)),
        bbox: [x0, y0, (x1 - x0).max(0.0), (y1 - y0).max(0.0)],
        score: plate.score,
        rows: plate.rows,
    }
}

/// The row count a bare crop most likely has, from its shape: two-row plates are close to
/// square (Vietnamese motorbike plates are about 1.4 : 1), one-row plates are long (3.5-5 : 1).
pub fn rows_from_aspect(width: f32, height: f32) -> u8 {
    if height > 0.0 && width / height < 2.4 {
        2
    } else {
        1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(cx: f32, objectness: f32, one: f32, two: f32) -> [f32; 15] {
        [
            cx, 50.0, 40.0, 20.0, objectness, 80.0, 40.0, 120.0, 40.0, 120.0, 60.0, 80.0, 60.0,
            one, two,
        ]
    }

    #[test]
    fn decodes_score_rows_and_corners() {
        let mut output = Vec::new();
        output.extend(candidate(100.0, 0.9, 0.2, 0.8));
        output.extend(candidate(300.0, 0.2, 0.9, 0.1)); // objectness below threshold
        output.extend(candidate(500.0, 0.6, 0.9, 0.1));
        let plates = decode_y5fu(&output, 0.3);
        assert_eq!(plates.len(), 2);
        assert_eq!(plates[0].rows, 2);
        assert!((plates[0].score - 0.72).abs() < 1e-6);
        assert_eq!(plates[0].bbox, [80.0, 40.0, 40.0, 20.0]);
        assert_eq!(plates[0].corners.0[2], [120.0, 60.0]);
        assert_eq!(plates[1].rows, 1);
    }

    #[test]
    fn suppression_keeps_the_best_of_overlapping_plates() {
        let mut output = Vec::new();
        output.extend(candidate(100.0, 0.7, 0.9, 0.0));
        output.extend(candidate(102.0, 0.9, 0.9, 0.0));
        output.extend(candidate(300.0, 0.5, 0.9, 0.0));
        let kept = suppress_overlaps(decode_y5fu(&output, 0.3), 0.5);
        assert_eq!(kept.len(), 2);
        assert_eq!(kept[0].bbox[0], 82.0);
    }

    #[test]
    fn letterbox_is_undone() {
        let spec = roadsight_core::TensorSpec {
            width: 640,
            height: 640,
            channel_order: roadsight_core::ChannelOrder::Rgb,
            placement: roadsight_core::LetterboxPlacement::Centre,
            pad_value: 0,
        };
        let letterbox = Letterbox::fit(1280, 640, &spec); // scale 0.5, offset_y 160
        let plate = LocatedPlate {
            corners: Quad::from_rect(100.0, 200.0, 50.0, 20.0),
            bbox: [100.0, 200.0, 50.0, 20.0],
            score: 0.9,
            rows: 1,
        };
        let image = to_image_space(&plate, &letterbox);
        assert_eq!(image.bbox, [200.0, 80.0, 100.0, 40.0]);
        assert_eq!(image.corners.0[0], [200.0, 80.0]);
    }

    #[test]
    fn aspect_tells_rows() {
        assert_eq!(rows_from_aspect(190.0, 140.0), 2);
        assert_eq!(rows_from_aspect(470.0, 110.0), 1);
    }
}
