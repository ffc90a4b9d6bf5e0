//! mlp-gpu: fully-connected networks trained entirely in WGSL compute shaders.

pub mod bench;
pub mod check;
pub mod checkpoint;
pub mod data;
pub mod fault;
pub mod figures;
pub mod gpu;
pub mod lock;
pub mod model;
pub mod ops;
pub mod optim;
pub mod output;
pub mod reference;
pub mod report;
pub mod rng;
pub mod run;
pub mod study;
pub mod sweep;
pub mod train;
