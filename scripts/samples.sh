#!/usr/bin/env bash
# Re-creates static/samples/ (the photos the app may ship), as static/samples/README.md lists:
# - the seven photos of the first set, as they are, from the scikit-image wheel's skimage/data
#   (CC0 or public domain);
# - the wider set of issue #21 under static/samples/wide/: photos from the scikit-image,
#   scikit-learn and matplotlib wheels (PyPI) and from Debian's mate-backgrounds and
#   plasma-workspace-wallpapers packages, each resized so its shorter side is 256 px and saved as
#   JPEG (scripts/samples.py), so the page's download stays small.
# Every source is pinned by sha256. Needs python3 with Pillow (installed into ~/.cache/a2x/venv).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/wheels.sh
WHEELS="${A2X_WHEELS:-$HOME/.cache/a2x/wheels}"
SOURCES="$WHEELS/samples"
mkdir -p static/samples/wide "$SOURCES"

unzip -q -o -j "$WHEELS"/scikit_image-0.25.2-*.whl \
  skimage/data/chelsea.png skimage/data/coffee.png skimage/data/rocket.jpg \
  skimage/data/astronaut.png skimage/data/camera.png skimage/data/hubble_deep_field.jpg \
  skimage/data/coins.png -d static/samples

# file  sha256  how to fetch it
PINS=(
  "scikit_learn-1.6.1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl 25fc636bdaf1cc2f4a124a116312d837148b5e10872147bdaf4887926b8c03d8 pip:scikit-learn==1.6.1"
  "matplotlib-3.10.3-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl fdfa07c0ec58035242bc8b2c8aae37037c9a886370eef6850703d7583e19964b pip:matplotlib==3.10.3"
  "mate-backgrounds_1.26.0-1_all.deb 7bf4c2209f34b4f61ba6d24c8b58c28b361e82e4b943aae6d42c030169af9e04 apt:mate-backgrounds=1.26.0-1"
  "plasma-workspace-wallpapers_4%3a5.27.5-2_all.deb 32cd18b71c8c938a18b3b351f217c02ac590e323caa3cf322fbb875ce8892f8b apt:plasma-workspace-wallpapers=4:5.27.5-2"
)
for pin in "${PINS[@]}"; do
  read -r file sha how <<<"$pin"
  if [ ! -f "$SOURCES/$file" ] || ! echo "$sha  $SOURCES/$file" | sha256sum -c --quiet 2>/dev/null; then
    rm -f "$SOURCES/$file"
    case "$how" in
      pip:*) python3 -m pip download --quiet --no-deps --only-binary=:all: --platform manylinux2014_x86_64 --python-version 3.11 -d "$SOURCES" "${how#pip:}" ;;
      apt:*) (cd "$SOURCES" && apt-get download "${how#apt:}") ;;
    esac
    echo "$sha  $SOURCES/$file" | sha256sum -c --quiet || { echo "error: $file does not match its pinned sha256" >&2; exit 1; }
  fi
done

extract="$SOURCES/extracted"
rm -rf "$extract" && mkdir -p "$extract"
unzip -q -o -j "$WHEELS"/scikit_image-0.25.2-*.whl skimage/data/brick.png skimage/data/grass.png skimage/data/gravel.png -d "$extract"
unzip -q -o -j "$SOURCES"/scikit_learn-1.6.1-*.whl sklearn/datasets/images/china.jpg sklearn/datasets/images/flower.jpg -d "$extract"
unzip -q -o -j "$SOURCES"/matplotlib-3.10.3-*.whl matplotlib/mpl-data/sample_data/grace_hopper.jpg -d "$extract"
for deb in "$SOURCES"/mate-backgrounds_*.deb "$SOURCES"/plasma-workspace-wallpapers_*.deb; do
  dpkg-deb -x "$deb" "$extract/deb"
done

venv="$HOME/.cache/a2x/venv"
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c 'import PIL' 2>/dev/null || "$venv/bin/pip" install --quiet pillow==11.3.0
"$venv/bin/python" scripts/samples.py "$extract" static/samples/wide
sha256sum static/samples/*.png static/samples/*.jpg static/samples/wide/*.jpg
