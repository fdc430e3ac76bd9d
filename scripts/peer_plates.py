#!/usr/bin/env python3
"""The plate-reading peer for `roadsight bench plates`: rapidocr-onnxruntime (PP-OCRv4 text
detector, angle classifier and recogniser) reading the same plate crops, one at a time, as a
general-purpose OCR reads a plate.

Prints one JSON object: plates, CPU and wall seconds of reading (decoding excluded),
plates per CPU-second, and exact normalised matches against the labels.

    python scripts/peer_plates.py --crops-dir ../shared/data/plates-vn --count 200 --threads 1
"""
import argparse
import csv
import json
import os
import re
import time

import numpy as np
from PIL import Image


def normalise(text):
    return re.sub(r"[^0-9A-Z]", "", text.upper().replace("Đ", "D"))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--crops-dir", required=True)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--passes", type=int, default=1)
    args = parser.parse_args()

    from rapidocr_onnxruntime import RapidOCR

    threads = {
        "intra_op_num_threads": args.threads,
        "inter_op_num_threads": 1,
        "det_intra_op_num_threads": args.threads,
        "det_inter_op_num_threads": 1,
        "cls_intra_op_num_threads": args.threads,
        "cls_inter_op_num_threads": 1,
        "rec_intra_op_num_threads": args.threads,
        "rec_inter_op_num_threads": 1,
    }
    engine = RapidOCR(**threads)
    with open(os.path.join(args.crops_dir, "labels.csv")) as handle:
        rows = list(csv.DictReader(handle))[: args.count]
    images, truths = [], []
    for row in rows:
        try:
            image = Image.open(os.path.join(args.crops_dir, "images", row["image"])).convert("RGB")
        except OSError:
            continue
        images.append(np.asarray(image)[:, :, ::-1].copy())  # BGR, as cv2 would load it
        truths.append(normalise(row["text"]))
    engine(images[0])  # warm-up

    exact = 0
    cpu_started, wall_started = time.process_time(), time.perf_counter()
    for pass_index in range(args.passes):
        for image, truth in zip(images, truths):
            result, _ = engine(image)
            boxes = result or []
            # Reading order: top to bottom, then left to right.
            boxes.sort(key=lambda b: (round(min(p[1] for p in b[0]) / 10), min(p[0] for p in b[0])))
            text = normalise("".join(b[1] for b in boxes))
            if pass_index == 0 and text == truth:
                exact += 1
    cpu = time.process_time() - cpu_started
    wall = time.perf_counter() - wall_started
    plates = len(images) * args.passes
    print(json.dumps({
        "peer": "rapidocr-onnxruntime 1.4.4 (PP-OCRv4 det + cls + rec)",
        "plates": plates,
        "cpu_seconds": cpu,
        "wall_seconds": wall,
        "plates_per_cpu_s": plates / max(cpu, 1e-9),
        "exact": exact,
        "accuracy": exact / max(len(images), 1),
    }))


if __name__ == "__main__":
    main()
