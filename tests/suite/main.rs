//! Every test but the readers' fuzzer (tests/reader_fuzz.rs, whose counting allocator must see no
//! other test's allocations), in one binary: one link, one device and one compile of the
//! kernels for all of them.

mod cli;
mod common;
mod context;
mod data;
mod deps;
mod faults;
mod halving;
mod kernels;
mod network;
mod pack;
mod pytorch;
mod rng;
mod shaders;
mod slurm;
mod sweep;
mod training;
