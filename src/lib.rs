//! mlp-gpu: fully-connected networks trained entirely in WGSL compute shaders.

pub mod bench;
pub mod check;
pub mod config;
pub mod data;
pub mod error;
pub mod evaluate;
pub mod fault;
pub mod figures;
pub mod gpu;
pub mod halving;
pub mod model;
pub mod ops;
pub mod optim;
pub mod output;
pub mod predict;
mod progress;
pub mod reference;
pub mod report;
pub mod rng;
pub mod run;
pub mod rundir;
pub mod session;
pub mod study;
pub mod sweep;
pub mod train;
