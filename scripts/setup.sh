#!/usr/bin/env bash
# Installs every tool a2x needs to build for the browser and to run its tests, on a fresh
# Debian 12 machine with rustup. Each step checks first and skips what is already there, so a
# second run installs nothing. Nothing here downloads a prebuilt binary: tools are built from
# crates.io, taken from Debian's packages or from the npm registry.
#
#   scripts/setup.sh            tools for building and serving the app
#   scripts/setup.sh --test     also Chromium and playwright-core for the end-to-end tests
#
# Tools land in $A2X_TOOLS (default ~/.cache/a2x/tools), outside the clone, so that a fresh clone
# on the same machine (CI) reuses them. `scripts/env.sh` puts them on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/versions.sh
. scripts/env.sh

want_test=0
[ "${1:-}" = "--test" ] && want_test=1

log() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

apt_install() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  log "apt-get install ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# 1. The wasm32 standard library: rustup's target first; Debian's rustc-web + build-std otherwise
#    (the recipe of shared/TOOLCHAIN.md §1). The fallback writes $A2X_TOOLS/wasm-fallback, which
#    scripts/env.sh reads to switch the wasm build to Debian's toolchain.
if [ -f "$A2X_TOOLS/wasm-fallback" ]; then
  log "wasm32: Debian rustc-web fallback already set up"
elif rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  :
elif rustup target add wasm32-unknown-unknown; then
  log "wasm32: rustup target installed"
else
  log "wasm32: rustup could not download the target; falling back to Debian's rustc-web"
  apt_install rustc-web cargo-web rust-web-src lld-22
  mkdir -p "$A2X_TOOLS/debian-rust"
  for t in cargo rustc rustdoc; do ln -sf "/usr/bin/$t" "$A2X_TOOLS/debian-rust/$t"; done
  touch "$A2X_TOOLS/wasm-fallback"
fi

# 2. wasm-bindgen-cli at exactly the version of the wasm-bindgen crate in Cargo.lock.
lock_version=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3; exit}' Cargo.lock)
[ -n "$lock_version" ] || { echo "no wasm-bindgen in Cargo.lock" >&2; exit 1; }
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$lock_version" ]; then
  log "cargo install wasm-bindgen-cli $lock_version (about 4 minutes)"
  # Not --locked: its lockfile pins a crate version the registry mirror here lacks.
  cargo install --root "$A2X_TOOLS/cargo" wasm-bindgen-cli --version "=$lock_version"
fi

# 3. trunk. 0.22.1 needs rustc >= 1.96.1, so it is built with the nightly toolchain.
if [ "$(trunk --version 2>/dev/null | awk '{print $2}')" != "$TRUNK_VERSION" ]; then
  if ! rustup run nightly rustc --version >/dev/null 2>&1; then
    log "rustup toolchain install nightly (to build trunk)"
    rustup toolchain install nightly --profile minimal
  fi
  # trunk's own release profile asks for fat LTO in one codegen unit: the slowest build there is,
  # for a tool that spends its time waiting on cargo and wasm-bindgen. No LTO, parallel codegen and
  # opt-level 1 instead (8 min 21 s at opt-level 3 here, 6 min 56 s at 1).
  log "cargo +nightly install trunk $TRUNK_VERSION (about 7 minutes)"
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_OPT_LEVEL=1 \
    cargo +nightly install --locked --root "$A2X_TOOLS/cargo" trunk --version "=$TRUNK_VERSION"
fi

# 4. wasm-opt: Debian's binaryen is too old for current rustc output; npm's JS build works.
#    playwright-core drives Debian's Chromium in the end-to-end tests (never its own browser).
if ! command -v npm >/dev/null 2>&1; then
  apt_install nodejs npm
fi
npm_dir="$A2X_TOOLS/node"
need_npm=0
[ "$(cat "$npm_dir/.versions" 2>/dev/null)" = "$BINARYEN_VERSION $PLAYWRIGHT_VERSION" ] || need_npm=1
if [ $need_npm = 1 ]; then
  log "npm install binaryen@$BINARYEN_VERSION playwright-core@$PLAYWRIGHT_VERSION"
  mkdir -p "$npm_dir"
  (cd "$npm_dir" && [ -f package.json ] || echo '{"private":true}' > package.json)
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --prefix "$npm_dir" --no-audit --no-fund \
    "binaryen@$BINARYEN_VERSION" "playwright-core@$PLAYWRIGHT_VERSION"
  echo "$BINARYEN_VERSION $PLAYWRIGHT_VERSION" > "$npm_dir/.versions"
fi

# 5. Chromium for the end-to-end tests (Debian's package, with SwiftShader for WebGPU and Vulkan).
if [ $want_test = 1 ]; then
  apt_install chromium fonts-dejavu-core
fi
log "tools ready in $A2X_TOOLS"
