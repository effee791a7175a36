//! Entry point of the browser app (built by trunk).

#[cfg(target_arch = "wasm32")]
fn main() {
    a2x::web::run_static_constructors();
    a2x::web::start();
}

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    eprintln!("the web app is built for wasm32 by trunk: run `make serve`");
}
