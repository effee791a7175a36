#!/usr/bin/env python3
"""Classical inpainting beside a2x's (issue #33's study tooling only; never part of the app):
for every inpainting record of `a2x task-study` (results.jsonl), OpenCV's Telea and
Navier–Stokes inpainting of the same photo and mask, and their mean squared error inside the hole
on [0, 1] values (all channels, as src/measure.rs's hole_mse), beside the record's own numbers.

    python3 -m pip install opencv-python-headless numpy
    python3 scripts/inpaint_baselines.py target/task-study/results.jsonl [radius]
"""
import json
import sys

import cv2
import numpy as np


def hole_mse(image, truth, hole):
    inside = hole > 0.5
    return float(np.mean(((image.astype(np.float64) - truth.astype(np.float64)) / 255.0)[inside] ** 2))


def main(path, radius):
    rows = []
    for line in open(path):
        r = json.loads(line)
        if r.get("task") != "inpaint" or "truth_png" not in r:
            continue
        truth = cv2.imread(r["truth_png"], cv2.IMREAD_COLOR)
        mask = (cv2.imread(r["mask_png"], cv2.IMREAD_GRAYSCALE) > 127).astype(np.uint8)
        telea = cv2.inpaint(truth, mask * 255, radius, cv2.INPAINT_TELEA)
        ns = cv2.inpaint(truth, mask * 255, radius, cv2.INPAINT_NS)
        row = {
            "setting": r["setting"], "seed": r["seed"], "mask": r["mask"], "half": r["half"],
            "telea": hole_mse(telea, truth, mask), "navier_stokes": hole_mse(ns, truth, mask),
            "mean_colour": r["mean_colour_hole_mse"], "diffusion_seed": r["start"]["hole_mse"],
            "a2x": r["a2x"]["hole_mse"], "pgd": r["pgd"]["hole_mse"],
        }
        rows.append(row)
        print(json.dumps(row))
    return rows


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "target/task-study/results.jsonl", int(sys.argv[2]) if len(sys.argv) > 2 else 3)
