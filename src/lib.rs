//! a2x: explain deep image classifiers by attacking them (Jalwana et al., "Attack to Explain Deep
//! Representation", CVPR 2020), on WebGPU in the browser or natively.
//!
//! The library is shared by the browser app (`src/bin/web.rs`, built by trunk) and the native
//! command-line tool (`src/bin/a2x.rs`). See ARCHITECTURE.md for the map.

pub mod bench;
pub mod bundled;
pub mod clock;
pub mod device;
pub mod distribution;
pub mod drawing;
pub mod engine;
pub mod imaging;
pub mod link;
pub mod measure;
pub mod models;
pub mod probe;
pub mod session;
#[cfg(not(target_arch = "wasm32"))]
pub mod train;

#[cfg(target_arch = "wasm32")]
pub mod web;
