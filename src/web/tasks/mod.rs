//! The paper's applications on a2x's own robust CIFAR-10 model (section 5.2; issue #6): generate
//! an image of a class, inpaint a painted hole, turn a sketch into an image — A2X beside the
//! baseline it is compared with (Santurkar et al.'s targeted ℓ2 PGD at the same budget), both
//! stepped in turn so the two pictures change side by side.
//!
//! The page builds a `TaskRequest`, sends it to the engine's web worker and renders the session's
//! events (`web::engine_worker`); the session owns the sequence (the seed's fill, D̄ from the
//! target's Gaussian, A2X beside PGD, the judges), as it does for the CLI. One job a file:
//! `state`, `component`, `actions`, `restore`, `inputs` (sketch and inpainting picture), `models`,
//! `run`, `saved` (drawings and the run in progress across a reload), `view`.

mod actions;
mod component;
mod inputs;
mod models;
mod restore;
mod run;
mod saved;
mod state;
mod view;

pub use state::ImageTasks;
