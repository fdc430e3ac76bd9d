#!/usr/bin/env python3
"""Where a tracking run's misses are, from the files `roadsight eval tracking` leaves in each
scenario folder: gt/gt.txt, gt_eval.txt and pred_eval.txt (the scored boxes, ignore regions
removed) and det.txt (every raw detection with its score).

For each folder it prints:
- the missed ground-truth boxes (false negatives at IoU 0.5, as the scorer matches them) by
  kind: before the vehicle's first tracked frame, in a gap between tracked frames, after its
  last, or never tracked at all;
- misses and totals by box width;
- for each width band, the share of boxes a raw detection covers (IoU >= 0.5) at several
  score thresholds, and the share tracked;
- the precision of raw detections by score band (matched one-to-one to any ground-truth box,
  ignore regions included, greedily by score).

Usage: .deps/venv/bin/python scripts/tracking_misses.py /tmp/eval/dense-stop-and-go [...]
"""

import collections
import sys

import numpy as np
from scipy.optimize import linear_sum_assignment


def load(path):
    """MOTChallenge rows by frame: (id, x, y, w, h, score, visibility)."""
    frames = collections.defaultdict(list)
    with open(path) as f:
        for line in f:
            v = line.strip().split(",")
            if len(v) < 7:
                continue
            visibility = float(v[8]) if len(v) > 8 else -1.0
            frames[int(v[0])].append(
                (int(v[1]), float(v[2]), float(v[3]), float(v[4]), float(v[5]), float(v[6]), visibility)
            )
    return frames


def iou(a, b):
    w = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    h = max(0.0, min(a[2] + a[4], b[2] + b[4]) - max(a[2], b[2]))
    inter = w * h
    union = a[3] * a[4] + b[3] * b[4] - inter
    return inter / union if union > 0 else 0.0


def matched_pairs(gt, hyp):
    """(frame, gt id) -> hyp id, optimal per frame at IoU >= 0.5."""
    pairs = {}
    for frame, g in gt.items():
        h = hyp.get(frame, [])
        if not g or not h:
            continue
        cost = np.array([[1 - iou(a, b) for b in h] for a in g])
        for i, j in zip(*linear_sum_assignment(cost)):
            if cost[i, j] <= 0.5:
                pairs[(frame, g[i][0])] = h[j][0]
    return pairs


def band(width, step=40):
    return int(width // step) * step


def report(folder):
    gt = load(f"{folder}/gt_eval.txt")
    pred = load(f"{folder}/pred_eval.txt")
    det = load(f"{folder}/det.txt")
    tracked = matched_pairs(gt, pred)
    frames_of = collections.defaultdict(list)
    for frame, gid in tracked:
        frames_of[gid].append(frame)
    kinds = collections.Counter()
    missed = collections.Counter()
    total = collections.Counter()
    thresholds = [0.4, 0.3, 0.2, 0.1]
    covered = collections.defaultdict(lambda: [0] * len(thresholds))
    tracked_in_band = collections.Counter()
    for frame, boxes in gt.items():
        dets = det.get(frame, [])
        for box in boxes:
            b = band(box[3])
            total[b] += 1
            best = max((d[5] for d in dets if iou(box, d) >= 0.5), default=0.0)
            for i, t in enumerate(thresholds):
                covered[b][i] += best >= t
            if (frame, box[0]) in tracked:
                tracked_in_band[b] += 1
                continue
            missed[b] += 1
            seen = frames_of.get(box[0])
            if not seen:
                kinds["never tracked"] += 1
            elif frame < min(seen):
                kinds["before first"] += 1
            elif frame > max(seen):
                kinds["after last"] += 1
            else:
                kinds["in a gap"] += 1
    boxes = sum(total.values())
    print(f"{folder}: {boxes} boxes, {sum(kinds.values())} missed: {dict(kinds)}")
    for b in sorted(total):
        shares = " ".join(
            f">={t}: {covered[b][i] / total[b]:.2f}" for i, t in enumerate(thresholds)
        )
        print(
            f"  width {b}-{b + 40} px: missed {missed[b]}/{total[b]}, tracked "
            f"{tracked_in_band[b] / total[b]:.2f}, a raw detection at score {shares}"
        )
    everything = load(f"{folder}/gt/gt.txt")
    count = collections.Counter()
    right = collections.Counter()
    for frame, dets in det.items():
        used = set()
        for d in sorted(dets, key=lambda d: -d[5]):
            score_band = round(int(d[5] * 10) / 10, 1)
            count[score_band] += 1
            best, best_iou = None, 0.5
            for g in everything.get(frame, []):
                overlap = iou(g, d)
                if overlap >= best_iou and g[0] not in used:
                    best, best_iou = g[0], overlap
            if best is not None:
                used.add(best)
                right[score_band] += 1
    print(
        "  raw detection precision by score: "
        + ", ".join(f"{k:.1f}: {right[k] / count[k]:.2f} ({count[k]})" for k in sorted(count))
    )


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    for folder in sys.argv[1:]:
        report(folder)
