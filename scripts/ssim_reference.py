#!/usr/bin/env python3
"""Writes tests/data/ssim-reference.json: scikit-image's SSIM on the two 32×32 pictures that
src/measure.rs's test builds, so a2x's SSIM is checked against an independent implementation.

    python3 -m pip install scikit-image==0.25.2 && python3 scripts/ssim_reference.py
"""
import json
import numpy as np
import skimage
from skimage.metrics import structural_similarity

size = 32
i = np.arange(size * size)
a = (((i % size) * 7 + (i // size) * 3) % 17).astype(np.float32) / np.float32(16.0)
b = np.minimum(a * np.float32(0.8) + np.float32(0.1) + np.where(i % 5 == 0, np.float32(0.05), np.float32(0.0)), np.float32(1.0)).astype(np.float32)
a, b = a.reshape(size, size).astype(np.float64), b.reshape(size, size).astype(np.float64)
cases = []
for name, x, y in [("a-b", a, b), ("b-a", b, a), ("a-a", a, a)]:
    value = structural_similarity(x, y, data_range=1.0, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    cases.append({"pair": name, "ssim": float(value)})
out = {"scikit-image": skimage.__version__, "cases": cases}
with open("tests/data/ssim-reference.json", "w") as f:
    json.dump(out, f, indent=2)
print(json.dumps(out))
