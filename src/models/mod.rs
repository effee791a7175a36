//! Classifiers that implement the engine's [`Classifier`](crate::engine::Classifier) trait.

pub mod tiny;
