//! mlp-gpu: fully-connected networks trained entirely in WGSL compute shaders.

pub mod gpu;
pub mod model;
pub mod ops;
pub mod optim;
pub mod reference;
pub mod rng;
pub mod data;
pub mod train;
pub mod output;
pub mod run;
pub mod bench;
