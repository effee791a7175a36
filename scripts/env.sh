# Sourced by the Makefile's recipes and scripts: where a2x's tools live and how to reach them.
export A2X_TOOLS="${A2X_TOOLS:-$HOME/.cache/a2x/tools}"
# Builds live outside the clone so a fresh clone on the same machine (CI) reuses them.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/a2x/target}"
export PATH="$A2X_TOOLS/cargo/bin:$A2X_TOOLS/node/node_modules/.bin:$HOME/.cargo/bin:$PATH"

# For the wasm build only: Debian's rustc-web when rustup could not install the wasm32 target
# (shared/TOOLCHAIN.md §1): std built from source, linked by Debian's wasm-ld.
a2x_wasm_env() {
  if [ -f "$A2X_TOOLS/wasm-fallback" ]; then
    export PATH="$A2X_TOOLS/debian-rust:$PATH"
    export RUSTC_BOOTSTRAP=1
    export CARGO_UNSTABLE_BUILD_STD=std,panic_abort
    export CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER=wasm-ld-22
  fi
}
