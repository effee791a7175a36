# Versions of the tools scripts/setup.sh installs. wasm-bindgen-cli follows Cargo.lock.
TRUNK_VERSION=0.22.1
BINARYEN_VERSION=132.0.0
PLAYWRIGHT_VERSION=1.65.1
