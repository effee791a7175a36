//! The explanation page (issue #5): pick a model and a class, edit the seed, choose D̄ and the
//! settings, run the engine live on the active backend, read the result and export it.
//!
//! The page builds a `RunRequest`, sends it to the engine's web worker (`web::engine_worker`) and
//! renders the session's `RunEvent`s as they come, p's pictures drawn in the worker. Pause and
//! Cancel go to the worker, which reads them before each event. What the page computes between
//! runs goes to the same worker as jobs (the model's load and warm-up, the seed's top five, a
//! failed run's, the cross-model check, the benchmark): the page holds no model.
//!
//! One job a file: `state` (what the component holds and hears), `component` (messages into
//! changes), `actions` (models, runs, checks), `editing` (seed and settings), `restore` (share
//! links), `saved` (the seed, settings and run in progress kept across a reload), `models`,
//! `seed`, `settings`, `run` and `kept` (the parts' own types), `view`.

mod actions;
mod component;
mod editing;
mod kept;
mod models;
mod restore;
mod run;
mod saved;
mod seed;
mod settings;
mod state;
mod view;

pub use state::Explain;
