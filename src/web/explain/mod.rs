//! The explanation page (issue #5): pick a model and a class, edit the seed, choose D̄ and the
//! settings, run the engine live on the active backend, read the result and export it.
//!
//! The page builds a `RunRequest` and renders the session's `RunEvent`s; it holds no tensors.
//! The session still runs on the page's main thread, one iteration at a time: `Run::step` is
//! async, every readback awaits the GPU, and the driver (`page::pump`) yields to the browser before
//! each event, so the browser paints, scrolls and handles clicks between iterations
//! (ARCHITECTURE.md says why not a worker yet). Pause and cancel are flags the driver reads
//! before each event.
//!
//! One job a file: `state` (what the component holds and hears), `component` (messages into
//! changes), `actions` (models, runs, checks), `editing` (seed and settings), `restore` (share
//! links), `models`, `seed`, `settings` and `run` (the parts' own types), `view`.

mod actions;
mod component;
mod editing;
mod models;
mod restore;
mod run;
mod seed;
mod settings;
mod state;
mod view;

pub use state::Explain;
