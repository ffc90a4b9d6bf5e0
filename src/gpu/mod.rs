//! Everything that talks to wgpu: the device context, buffers, and one typed wrapper per
//! kernel family (`shaders/<name>.wgsl` <-> `src/gpu/<name>.rs`).

pub mod batch_norm;
pub mod buffers;
pub mod context;
pub mod cross_entropy;
pub mod dropout;
pub mod gather;
pub mod immediates;
pub mod kernels;
pub mod linear;
pub mod network;
pub mod optimizer;
pub mod profile;
pub mod shaders;

pub use buffers::{DataBuffers, ModelBuffers};
pub use context::{Context, GpuError};
pub use kernels::Kernels;
pub use shaders::MatmulVariant;
