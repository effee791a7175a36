//! The paper's applications (section 5.2): generate an image of a class, inpaint a painted hole,
//! turn a sketch into an image — A2X beside the baseline it is compared with (targeted ℓ2 PGD at
//! the same budget), both stepped in turn so the two pictures change side by side. On an ImageNet
//! model of the zoo at its own size for any of the 1000 classes (issue #33, shown first), or on
//! a2x's own robust CIFAR-10 model at 32×32 (issue #6, one switch away): `set` says what differs.
//!
//! The page builds a `TaskRequest`, sends it to the engine's web worker and renders the session's
//! events (`web::engine_worker`); the session owns the sequence (the seed's fill, D̄ from the
//! target's Gaussian, A2X beside PGD, the judges), as it does for the CLI. One job a file:
//! `state`, `component`, `actions`, `restore`, `inputs` (sketch and inpainting picture), `models`,
//! `run`, `saved` (drawings and the run in progress across a reload), `set` (which models), `view`.

mod actions;
mod component;
mod inputs;
mod models;
mod restore;
mod run;
mod saved;
mod set;
mod state;
mod view;

pub use set::TaskSet;
pub use state::ImageTasks;
