#!/usr/bin/env bash
# `make onnx-testdata`: re-creates tests/data/onnx (issue #34) from PyPI packages only.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${A2X_ONNX_VENV:-$HOME/.cache/a2x/onnx-venv}"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# Versions the committed data was made with (2026-12-08).
"$venv/bin/pip" install --quiet torch==2.15.0 torchvision==0.29.2 onnx==1.23.2 onnxruntime==1.32.0 numpy==2.4.6
"$venv/bin/python" scripts/onnx_testdata.py tests/data/onnx
for model in squeezenet lite0; do
  cargo run --release --bin a2x -- export-onnx target/$model-zoo.onnx --model $model
  "$venv/bin/python" scripts/onnx_testdata.py tests/data/onnx --zoo target/$model-zoo.onnx --name $model
done
