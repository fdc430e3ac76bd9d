#!/usr/bin/env python3
"""Reference vehicle detector in Python onnxruntime: the peer for parity tests and benchmarks.

It does what roadsight's detector does, written independently with numpy: letterbox (bilinear,
half-pixel centres, top-left, pad 114, BGR; roadsight's 8-bit fixed point for parity, or OpenCV's
INTER_LINEAR with --resize cv2 as the benchmark peer), YOLOX grid decode (strides 8/16/32), the best
vehicle class (COCO 1, 2, 3, 5, 7), score = objectness x class, class-agnostic NMS, boxes back
in image pixels.

  reference_detect.py --model M.onnx IMAGE...            one JSON line per image
  reference_detect.py --model M.onnx --bench N IMAGE...  timing of N passes, one JSON object
"""
import argparse
import json
import os
import sys
import time

import numpy as np
import onnxruntime as ort
from PIL import Image

VEHICLES = {1: "bicycle", 2: "car", 3: "motorcycle", 5: "bus", 7: "truck"}
VEHICLE_INDICES = np.array(sorted(VEHICLES))


def taps(dest, source):
    ratio = np.float32(source) / np.float32(dest)
    position = np.maximum((np.arange(dest, dtype=np.float32) + np.float32(0.5)) * ratio - np.float32(0.5), np.float32(0))
    left = np.minimum(np.floor(position).astype(np.int64), source - 1)
    right = np.minimum(left + 1, source - 1)
    weight = np.round((position - left.astype(np.float32)) * np.float32(256)).astype(np.int32)
    weight[right == left] = 0
    return left, right, weight


def resize_fixed_point(rgb, new_w, new_h):
    """roadsight's bilinear: 8-bit fixed point, rows blended first, then columns."""
    height, width = rgb.shape[:2]
    x0, x1, wx = taps(new_w, width)
    y0, y1, wy = taps(new_h, height)
    image = rgb.astype(np.int32)
    rows = (image[y0] * (256 - wy)[:, None, None] + image[y1] * wy[:, None, None] + 128) >> 8
    return ((rows[:, x0] * (256 - wx)[None, :, None] + rows[:, x1] * wx[None, :, None] + 128) >> 8).astype(np.uint8)


def letterbox(rgb, size, resize="roadsight", pad=114):
    height, width = rgb.shape[:2]
    scale = min(size / width, size / height)
    new_w = min(max(int(round(width * scale)), 1), size)
    new_h = min(max(int(round(height * scale)), 1), size)
    if resize == "cv2":
        import cv2  # the ordinary, fastest choice in Python; bilinear like roadsight's
        resized = cv2.resize(rgb, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    else:
        resized = resize_fixed_point(rgb, new_w, new_h)
    canvas = np.full((size, size, 3), pad, dtype=np.uint8)
    canvas[:new_h, :new_w] = resized
    bgr = canvas[:, :, ::-1].transpose(2, 0, 1)
    return np.ascontiguousarray(bgr[None], dtype=np.float32), scale


def decode_yolox(output, size, score_threshold):
    grids, strides = [], []
    for stride in (8, 16, 32):
        n = size // stride
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full((n * n, 1), stride))
    grid = np.concatenate(grids).astype(np.float32)
    stride = np.concatenate(strides).astype(np.float32)
    xy = (output[:, :2] + grid) * stride
    wh = np.exp(output[:, 2:4]) * stride
    objectness = output[:, 4]
    vehicle_scores = output[:, 5 + VEHICLE_INDICES]
    best = vehicle_scores.argmax(axis=1)
    score = objectness * vehicle_scores[np.arange(len(best)), best]
    keep = (objectness >= score_threshold) & (score >= score_threshold)
    boxes = np.concatenate([xy - wh / 2, xy + wh / 2], axis=1)[keep]
    return boxes, score[keep], VEHICLE_INDICES[best[keep]]


def nms(boxes, scores, iou_threshold):
    order = np.argsort(-scores, kind="stable")
    kept = []
    for i in order:
        ok = True
        for k in kept:
            w = max(0.0, min(boxes[i, 2], boxes[k, 2]) - max(boxes[i, 0], boxes[k, 0]))
            h = max(0.0, min(boxes[i, 3], boxes[k, 3]) - max(boxes[i, 1], boxes[k, 1]))
            inter = w * h
            area_i = (boxes[i, 2] - boxes[i, 0]) * (boxes[i, 3] - boxes[i, 1])
            area_k = (boxes[k, 2] - boxes[k, 0]) * (boxes[k, 3] - boxes[k, 1])
            union = area_i + area_k - inter
            if union > 0 and inter / union > iou_threshold:
                ok = False
                break
        if ok:
            kept.append(i)
    return kept


def detect(session, rgb, size, score_threshold, iou_threshold, resize="roadsight"):
    started = time.perf_counter()
    tensor, scale = letterbox(rgb, size, resize)
    prepared = time.perf_counter()
    output = session.run(None, {session.get_inputs()[0].name: tensor})[0][0]
    inferred = time.perf_counter()
    boxes, scores, classes = decode_yolox(output, size, score_threshold)
    height, width = rgb.shape[:2]
    detections = []
    for i in nms(boxes, scores, iou_threshold):
        x0, y0, x1, y1 = (boxes[i] / scale).tolist()
        x0, x1 = min(max(x0, 0.0), width), min(max(x1, 0.0), width)
        y0, y1 = min(max(y0, 0.0), height), min(max(y1, 0.0), height)
        if x1 > x0 and y1 > y0:
            detections.append({"class": VEHICLES[int(classes[i])], "score": float(scores[i]), "bbox": [x0, y0, x1 - x0, y1 - y0]})
    done = time.perf_counter()
    return detections, (prepared - started, inferred - prepared, done - inferred)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", required=True)
    parser.add_argument("--size", type=int, default=416)
    parser.add_argument("--score", type=float, default=0.1)
    parser.add_argument("--nms-iou", type=float, default=0.45)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--bench", type=int, default=0, help="passes over the images to time")
    parser.add_argument("--resize", choices=["roadsight", "cv2"], default="roadsight",
                        help="roadsight: the same fixed-point bilinear as roadsight (parity); cv2: OpenCV INTER_LINEAR (benchmark peer)")
    parser.add_argument("images", nargs="+")
    args = parser.parse_args()

    options = ort.SessionOptions()
    options.intra_op_num_threads = args.threads
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(args.model, options, providers=["CPUExecutionProvider"])
    pictures = [(path, np.asarray(Image.open(path).convert("RGB"))) for path in args.images]

    if args.bench:
        detect(session, pictures[0][1], args.size, args.score, args.nms_iou, args.resize)  # warm-up
        totals = np.zeros(3)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        count = 0
        for _ in range(args.bench):
            for _, rgb in pictures:
                totals += detect(session, rgb, args.size, args.score, args.nms_iou, args.resize)[1]
                count += 1
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        print(json.dumps({
            "images": count, "cpu_seconds": cpu, "wall_seconds": wall,
            "pre_seconds": totals[0], "inference_seconds": totals[1], "post_seconds": totals[2],
            "onnxruntime": ort.__version__, "threads": args.threads, "resize": args.resize,
        }))
        return 0
    for path, rgb in pictures:
        detections, _ = detect(session, rgb, args.size, args.score, args.nms_iou)
        print(json.dumps({"image": path, "detections": detections}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
