//! Tracking accuracy against ground truth, as MOTChallenge scores it.
//!
//! - [`read_mot`] / [`write_mot`]: MOTChallenge text (`frame,id,x,y,w,h,conf,class,visibility`).
//! - [`drop_ignored`]: the devkit's preprocessing: ground-truth boxes under `min_visibility` are
//!   ignore regions; predictions that match them (IoU >= 0.5, optimal per frame) are removed too,
//!   then the ignored boxes.
//! - [`clear_mot`]: MOTA, ID switches and IDF1 with the rules of py-motmetrics: IoU >= 0.5 to
//!   match; a match from the previous frame is kept while it stays valid; the rest are assigned
//!   optimally; a switch is a ground-truth id matched to a different hypothesis than last time;
//!   IDF1 from the one-to-one id assignment that maximises the frames matched.

use crate::assignment::assign_edges;
use std::collections::{BTreeMap, HashMap};

/// One row of a MOTChallenge file.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MotRow {
    pub frame: u64,
    pub id: u64,
    pub bbox: [f64; 4],
    pub confidence: f64,
    pub visibility: f64,
}

/// Parses MOTChallenge text; malformed lines are reported by line number.
pub fn read_mot(text: &str) -> Result<Vec<MotRow>, String> {
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(n, line)| {
            let f: Vec<f64> = line
                .split(',')
                .map(|v| v.trim().parse::<f64>())
                .collect::<Result<_, _>>()
                .map_err(|e| format!("line {}: {e}: `{line}`", n + 1))?;
            if f.len() < 6 {
                return Err(format!(
                    "line {}: expected at least 6 fields: `{line}`",
                    n + 1
                ));
            }
            Ok(MotRow {
                frame: f[0] as u64,
                id: f[1] as u64,
                bbox: [f[2], f[3], f[4], f[5]],
                confidence: f.get(6).copied().unwrap_or(1.0),
                visibility: f.get(8).copied().unwrap_or(1.0),
            })
        })
        .collect()
}

/// MOTChallenge text of rows (`frame,id,x,y,w,h,conf,-1,visibility`).
pub fn write_mot(rows: &[MotRow]) -> String {
    rows.iter()
        .map(|r| {
            format!(
                "{},{},{:.3},{:.3},{:.3},{:.3},{:.4},-1,{:.4}\n",
                r.frame,
                r.id,
                r.bbox[0],
                r.bbox[1],
                r.bbox[2],
                r.bbox[3],
                r.confidence,
                r.visibility
            )
        })
        .collect()
}

/// Intersection over union of two boxes `[x, y, w, h]`, in f64 like py-motmetrics, whose
/// figures the scorer matches to 1e-9 ([`roadsight_core::geometry::iou`] is the f32 one the
/// stages use).
fn iou(a: [f64; 4], b: [f64; 4]) -> f64 {
    let w = ((a[0] + a[2]).min(b[0] + b[2]) - a[0].max(b[0])).max(0.0);
    let h = ((a[1] + a[3]).min(b[1] + b[3]) - a[1].max(b[1])).max(0.0);
    let intersection = w * h;
    let union = a[2] * a[3] + b[2] * b[3] - intersection;
    if union > 0.0 {
        intersection / union
    } else {
        0.0
    }
}

fn by_frame(rows: &[MotRow]) -> BTreeMap<u64, Vec<MotRow>> {
    let mut frames: BTreeMap<u64, Vec<MotRow>> = BTreeMap::new();
    for row in rows {
        frames.entry(row.frame).or_default().push(*row);
    }
    frames
}

/// Optimal IoU >= `min_iou` matching in one frame: `(gt index, hypothesis index)`.
fn match_frame(gt: &[MotRow], hyp: &[MotRow], min_iou: f64) -> Vec<(usize, usize)> {
    let mut edges = Vec::new();
    for (g, gt_row) in gt.iter().enumerate() {
        for (h, hyp_row) in hyp.iter().enumerate() {
            let distance = 1.0 - iou(gt_row.bbox, hyp_row.bbox);
            if distance <= 1.0 - min_iou {
                edges.push((g, h, distance));
            }
        }
    }
    // A limit just above the largest allowed distance keeps every valid pair matchable.
    assign_edges(gt.len(), hyp.len(), &edges, 2.0)
}

/// Removes ignore regions: ground truth under `min_visibility`, and the hypotheses matching it.
pub fn drop_ignored(
    gt: &[MotRow],
    hyp: &[MotRow],
    min_visibility: f64,
) -> (Vec<MotRow>, Vec<MotRow>) {
    let gt_frames = by_frame(gt);
    let hyp_frames = by_frame(hyp);
    let mut kept_gt = Vec::new();
    let mut kept_hyp = Vec::new();
    let empty = Vec::new();
    let frames: std::collections::BTreeSet<u64> =
        gt_frames.keys().chain(hyp_frames.keys()).copied().collect();
    for frame in frames {
        let g = gt_frames.get(&frame).unwrap_or(&empty);
        let h = hyp_frames.get(&frame).unwrap_or(&empty);
        let mut drop_hyp = vec![false; h.len()];
        for (gi, hi) in match_frame(g, h, 0.5) {
            if g[gi].visibility < min_visibility {
                drop_hyp[hi] = true;
            }
        }
        kept_gt.extend(g.iter().filter(|r| r.visibility >= min_visibility));
        kept_hyp.extend(h.iter().zip(drop_hyp).filter(|(_, d)| !d).map(|(r, _)| *r));
    }
    (kept_gt, kept_hyp)
}

/// CLEAR MOT and identity scores.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct MotScores {
    pub mota: f64,
    pub idf1: f64,
    pub id_switches: u64,
    pub false_negatives: u64,
    pub false_positives: u64,
    pub matches: u64,
    pub ground_truth: u64,
    pub idtp: u64,
}

/// Scores hypotheses against ground truth (both already free of ignore regions).
pub fn clear_mot(gt: &[MotRow], hyp: &[MotRow]) -> MotScores {
    let gt_frames = by_frame(gt);
    let hyp_frames = by_frame(hyp);
    let frames: std::collections::BTreeSet<u64> =
        gt_frames.keys().chain(hyp_frames.keys()).copied().collect();
    let empty = Vec::new();
    let (mut fn_, mut fp, mut switches, mut matched) = (0u64, 0u64, 0u64, 0u64);
    let mut previous: HashMap<u64, u64> = HashMap::new(); // gt id -> hyp id matched last frame
    let mut last_match: HashMap<u64, u64> = HashMap::new(); // gt id -> hyp id matched last time
    let mut co_occurrence: HashMap<(u64, u64), u64> = HashMap::new();
    for frame in frames {
        let g = gt_frames.get(&frame).unwrap_or(&empty);
        let h = hyp_frames.get(&frame).unwrap_or(&empty);
        // Identity counts: every valid pair in this frame.
        for gt_row in g {
            for hyp_row in h {
                if iou(gt_row.bbox, hyp_row.bbox) >= 0.5 {
                    *co_occurrence.entry((gt_row.id, hyp_row.id)).or_default() += 1;
                }
            }
        }
        let mut gt_used = vec![false; g.len()];
        let mut hyp_used = vec![false; h.len()];
        let mut this_frame: HashMap<u64, u64> = HashMap::new();
        // Keep last frame's matches that are still valid.
        for (gi, gt_row) in g.iter().enumerate() {
            if let Some(&hyp_id) = previous.get(&gt_row.id) {
                if let Some(hi) = h.iter().position(|r| r.id == hyp_id) {
                    if !hyp_used[hi] && iou(gt_row.bbox, h[hi].bbox) >= 0.5 {
                        gt_used[gi] = true;
                        hyp_used[hi] = true;
                        this_frame.insert(gt_row.id, hyp_id);
                    }
                }
            }
        }
        let free_g: Vec<usize> = (0..g.len()).filter(|&i| !gt_used[i]).collect();
        let free_h: Vec<usize> = (0..h.len()).filter(|&i| !hyp_used[i]).collect();
        let sub_g: Vec<MotRow> = free_g.iter().map(|&i| g[i]).collect();
        let sub_h: Vec<MotRow> = free_h.iter().map(|&i| h[i]).collect();
        for (gi, hi) in match_frame(&sub_g, &sub_h, 0.5) {
            let (gt_id, hyp_id) = (sub_g[gi].id, sub_h[hi].id);
            gt_used[free_g[gi]] = true;
            hyp_used[free_h[hi]] = true;
            if last_match.get(&gt_id).is_some_and(|&last| last != hyp_id) {
                switches += 1;
            }
            this_frame.insert(gt_id, hyp_id);
        }
        matched += this_frame.len() as u64;
        for (gt_id, hyp_id) in &this_frame {
            last_match.insert(*gt_id, *hyp_id);
        }
        previous = this_frame;
        fn_ += gt_used.iter().filter(|u| !**u).count() as u64;
        fp += hyp_used.iter().filter(|u| !**u).count() as u64;
    }
    let ground_truth = gt.len() as u64;
    // IDF1: the one-to-one id pairing that maximises co-occurring frames.
    let gt_ids: Vec<u64> = {
        let mut ids: Vec<u64> = gt.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let hyp_ids: Vec<u64> = {
        let mut ids: Vec<u64> = hyp.iter().map(|r| r.id).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    };
    let index_g: HashMap<u64, usize> = gt_ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let index_h: HashMap<u64, usize> = hyp_ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
    let edges: Vec<(usize, usize, f64)> = co_occurrence
        .iter()
        .map(|((g, h), n)| (index_g[g], index_h[h], -(*n as f64)))
        .collect();
    let idtp: u64 = assign_edges(gt_ids.len(), hyp_ids.len(), &edges, 0.0)
        .iter()
        .map(|(g, h)| co_occurrence[&(gt_ids[*g], hyp_ids[*h])])
        .sum();
    let (idfn, idfp) = (ground_truth - idtp, hyp.len() as u64 - idtp);
    MotScores {
        mota: if ground_truth == 0 {
            0.0
        } else {
            1.0 - (fn_ + fp + switches) as f64 / ground_truth as f64
        },
        idf1: if idtp == 0 {
            0.0
        } else {
            2.0 * idtp as f64 / (2.0 * idtp as f64 + idfp as f64 + idfn as f64)
        },
        id_switches: switches,
        false_negatives: fn_,
        false_positives: fp,
        matches: matched,
        ground_truth,
        idtp,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(frame: u64, id: u64, x: f64) -> MotRow {
        MotRow {
            frame,
            id,
            bbox: [x, 0.0, 10.0, 10.0],
            confidence: 1.0,
            visibility: 1.0,
        }
    }

    #[test]
    fn perfect_tracking_scores_one() {
        let gt: Vec<MotRow> = (1..=5)
            .flat_map(|f| [row(f, 1, 0.0), row(f, 2, 50.0)])
            .collect();
        let scores = clear_mot(&gt, &gt);
        assert_eq!(
            (scores.mota, scores.idf1, scores.id_switches),
            (1.0, 1.0, 0)
        );
    }

    #[test]
    fn an_identity_swap_is_one_switch_and_lowers_idf1() {
        let gt: Vec<MotRow> = (1..=4).map(|f| row(f, 1, 0.0)).collect();
        let hyp = vec![
            row(1, 7, 0.0),
            row(2, 7, 0.0),
            row(3, 8, 0.0),
            row(4, 8, 0.0),
        ];
        let scores = clear_mot(&gt, &hyp);
        assert_eq!(scores.id_switches, 1);
        assert!((scores.mota - 0.75).abs() < 1e-12);
        // Best id pairing covers 2 of 4 frames: IDF1 = 2*2 / (2*2 + 2 + 2) = 0.5.
        assert!((scores.idf1 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn misses_and_false_positives_count_against_mota() {
        let gt = vec![row(1, 1, 0.0), row(2, 1, 0.0)];
        let hyp = vec![row(1, 5, 0.0), row(2, 6, 300.0)];
        let scores = clear_mot(&gt, &hyp);
        assert_eq!((scores.false_negatives, scores.false_positives), (1, 1));
        assert!((scores.mota - 0.0).abs() < 1e-12);
    }

    #[test]
    fn ignore_regions_remove_hidden_truth_and_the_hypotheses_on_it() {
        let mut hidden = row(1, 2, 100.0);
        hidden.visibility = 0.1;
        let gt = vec![row(1, 1, 0.0), hidden];
        let hyp = vec![row(1, 9, 0.0), row(1, 10, 100.0)];
        let (gt, hyp) = drop_ignored(&gt, &hyp, 0.3);
        assert_eq!(gt.len(), 1);
        assert_eq!(hyp.len(), 1);
        assert_eq!(clear_mot(&gt, &hyp).mota, 1.0);
    }

    #[test]
    fn mot_text_round_trips() {
        let rows = vec![row(3, 4, 1.5)];
        let back = read_mot(&write_mot(&rows)).unwrap();
        assert_eq!(back, rows);
        assert!(read_mot("1,2,3").unwrap_err().contains("line 1"));
    }
}
