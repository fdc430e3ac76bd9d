#!/usr/bin/env python3
"""The tracker peer: supervision's ByteTrack over detections roadsight wrote, timed in CPU seconds.

  peer_track.py DETECTIONS.json
DETECTIONS.json: {"frame_rate": 10, "lost_seconds": 1.0, "high_score": 0.5,
                  "frames": [[[x, y, w, h, score], ...], ...]}
Prints one JSON object: {"updates": N, "cpu_seconds": S, "updates_per_s": R, "supervision": V}.
The detections are converted to sv.Detections before timing starts, so only tracking is timed.
"""
import json
import sys
import time

import numpy as np
import supervision as sv


def main():
    spec = json.load(open(sys.argv[1]))
    frame_rate = int(spec["frame_rate"])
    tracker = sv.ByteTrack(
        track_activation_threshold=float(spec["high_score"]),
        lost_track_buffer=int(round(spec["lost_seconds"] * frame_rate)),
        minimum_matching_threshold=0.8,
        frame_rate=frame_rate,
    )
    frames = []
    for boxes in spec["frames"]:
        array = np.array(boxes, dtype=np.float32).reshape(-1, 5)
        xyxy = np.stack([array[:, 0], array[:, 1], array[:, 0] + array[:, 2], array[:, 1] + array[:, 3]], axis=1)
        frames.append(sv.Detections(xyxy=xyxy, confidence=array[:, 4], class_id=np.full(len(array), 2)))
    started = time.process_time()
    for detections in frames:
        tracker.update_with_detections(detections)
    cpu = time.process_time() - started
    print(json.dumps({"updates": len(frames), "cpu_seconds": cpu, "updates_per_s": len(frames) / max(cpu, 1e-9),
                      "supervision": sv.__version__}))


if __name__ == "__main__":
    main()
