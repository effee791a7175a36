//! Entry point of the engine's web worker (built by trunk beside the app; `web/worker.rs`).

#[cfg(target_arch = "wasm32")]
fn main() {
    a2x::web::run_static_constructors();
    a2x::web::worker::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the engine's web worker is built for wasm32 by trunk: run `make serve`");
}
