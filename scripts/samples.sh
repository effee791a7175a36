#!/usr/bin/env bash
# Re-creates static/samples/ (the photos the app may ship) from the scikit-image wheel's
# skimage/data: CC0 or public-domain photos only, as static/samples/README.md lists.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/wheels.sh
WHEELS="${A2X_WHEELS:-$HOME/.cache/a2x/wheels}"
mkdir -p static/samples
unzip -q -o -j "$WHEELS"/scikit_image-0.25.2-*.whl \
  skimage/data/chelsea.png skimage/data/coffee.png skimage/data/rocket.jpg \
  skimage/data/astronaut.png skimage/data/camera.png skimage/data/hubble_deep_field.jpg \
  skimage/data/coins.png -d static/samples
sha256sum static/samples/*.png static/samples/*.jpg
