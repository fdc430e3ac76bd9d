#!/usr/bin/env python3
"""Independent scorer: py-motmetrics on MOTChallenge files.

  motmetrics_score.py GT.txt PRED.txt
Prints {"mota": ..., "idf1": ..., "num_switches": ...}. Both files should already be free of
ignore regions (roadsight eval tracking writes gt_eval.txt and pred_eval.txt for this).
"""
import json
import sys

import numpy as np

# motmetrics 1.4.0 (the current release) still calls np.asfarray, removed in NumPy 2.
if not hasattr(np, "asfarray"):
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)

import motmetrics as mm  # noqa: E402


def main():
    gt = mm.io.loadtxt(sys.argv[1], fmt="mot15-2D", min_confidence=-1)
    pred = mm.io.loadtxt(sys.argv[2], fmt="mot15-2D", min_confidence=-1)
    accumulator = mm.utils.compare_to_groundtruth(gt, pred, "iou", distth=0.5)
    summary = mm.metrics.create().compute(accumulator, metrics=["mota", "idf1", "num_switches"], name="run")
    print(json.dumps({k: float(summary[k].iloc[0]) for k in ["mota", "idf1", "num_switches"]}))


if __name__ == "__main__":
    main()
