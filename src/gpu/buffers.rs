//! The GPU buffers of a model and of a dataset, and reading them back.

use super::{Context, GpuError};
use crate::data::Values;
use wgpu::util::DeviceExt;
use wgpu::{BindGroup, BindGroupLayout, Buffer, BufferUsages};

const STORAGE: BufferUsages = BufferUsages::STORAGE
    .union(BufferUsages::COPY_SRC)
    .union(BufferUsages::COPY_DST);

/// Every storage buffer's length is a multiple of this many bytes (and never 0, which is
/// not a valid binding): the vec4 matmul forms read and write whole vec4s, and a backend
/// that clamps out-of-range indices (Metal, Vulkan without robustness2) would otherwise
/// move the last partial vec4 of a buffer onto other elements.
pub const BUFFER_ALIGN: usize = 16;

fn storage(ctx: &Context, label: &str, bytes: &[u8]) -> Buffer {
    let len = bytes.len().div_ceil(BUFFER_ALIGN).max(1) * BUFFER_ALIGN;
    let mut contents = bytes.to_vec();
    contents.resize(len, 0);
    ctx.device
        .create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(label),
            contents: &contents,
            usage: STORAGE,
        })
}

fn entries<'a>(buffers: &[&'a Buffer]) -> Vec<wgpu::BindGroupEntry<'a>> {
    buffers
        .iter()
        .enumerate()
        .map(|(i, b)| wgpu::BindGroupEntry {
            binding: i as u32,
            resource: b.as_entire_binding(),
        })
        .collect()
}

/// Group 0 of `common.wgsl`.
pub struct ModelBuffers {
    pub params: Buffer,
    pub acts: Buffer,
    pub grads: Buffer,
    pub state: Buffer,
    pub ints: Buffer,
    pub bind_group: BindGroup,
}

impl ModelBuffers {
    /// Buffers with the given contents; `acts_len`, `ints_len` are zero-filled. The sizes
    /// are checked against the limits first by `GpuNetwork::fits`.
    pub fn new(
        ctx: &Context,
        layout: &BindGroupLayout,
        params: &[f32],
        acts_len: usize,
        state: &[f32],
        ints_len: usize,
    ) -> Result<Self, GpuError> {
        let params_buf = storage(ctx, "params", bytemuck::cast_slice(params));
        let acts = storage(ctx, "acts", &vec![0u8; 4 * acts_len]);
        let grads = storage(ctx, "grads", &vec![0u8; 4 * params.len()]);
        let state = storage(ctx, "state", bytemuck::cast_slice(state));
        let ints = storage(ctx, "ints", &vec![0u8; 4 * ints_len]);
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("model"),
            layout,
            entries: &entries(&[&params_buf, &acts, &grads, &state, &ints]),
        });
        Ok(ModelBuffers {
            params: params_buf,
            acts,
            grads,
            state,
            ints,
            bind_group,
        })
    }

    pub fn bytes(&self) -> u64 {
        [
            &self.params,
            &self.acts,
            &self.grads,
            &self.state,
            &self.ints,
        ]
        .iter()
        .map(|b| b.size())
        .sum()
    }
}

/// Group 1 of `common.wgsl`: a data set resident on the GPU.
pub struct DataBuffers {
    pub values: Buffer,
    pub labels: Buffer,
    pub indices: Buffer,
    pub bind_group: BindGroup,
}

/// Packs bytes four to a u32 (little end first), zero-padding the tail.
pub fn pack_u8(bytes: &[u8]) -> Vec<u32> {
    bytes
        .chunks(4)
        .map(|c| {
            let mut w = [0u8; 4];
            w[..c.len()].copy_from_slice(c);
            u32::from_le_bytes(w)
        })
        .collect()
}

impl DataBuffers {
    /// A data set's `values` and class-index `labels`, and `indices`, the index buffer's
    /// first contents (normalisation statistics and index lists, rewritten per epoch).
    pub fn new(
        ctx: &Context,
        layout: &BindGroupLayout,
        values: &Values,
        labels: &[u32],
        indices: &[u32],
    ) -> Result<Self, GpuError> {
        // 8-bit values packed four to a word; f32 ones uploaded as they are
        let packed;
        let bytes: &[u8] = match values {
            Values::U8(v) => {
                packed = pack_u8(v);
                bytemuck::cast_slice(&packed)
            }
            Values::F32(v) => bytemuck::cast_slice(v),
        };
        ctx.check_binding(
            "the data set's values",
            bytes.len() as u64,
            "use fewer rows or inputs",
        )?;
        let values = storage(ctx, "values", bytes);
        let labels = storage(ctx, "labels", bytemuck::cast_slice(labels));
        let indices = storage(ctx, "indices", bytemuck::cast_slice(indices));
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("data"),
            layout,
            entries: &entries(&[&values, &labels, &indices]),
        });
        Ok(DataBuffers {
            values,
            labels,
            indices,
            bind_group,
        })
    }

    /// The same values and labels (shared, not copied) with an index buffer of its own.
    pub fn with_indices(
        &self,
        ctx: &Context,
        layout: &BindGroupLayout,
        indices: &[u32],
    ) -> Result<Self, GpuError> {
        ctx.check_binding(
            "the index list",
            4 * indices.len() as u64,
            "use fewer images",
        )?;
        let indices = storage(ctx, "indices", bytemuck::cast_slice(indices));
        let bind_group = ctx.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("data"),
            layout,
            entries: &entries(&[&self.values, &self.labels, &indices]),
        });
        Ok(DataBuffers {
            values: self.values.clone(),
            labels: self.labels.clone(),
            indices,
            bind_group,
        })
    }

    pub fn bytes(&self) -> u64 {
        self.values.size() + self.labels.size() + self.indices.size()
    }
}

/// Copies `len` 4-byte words from `buffer` at word `offset` to the host and waits: for
/// tests, epoch ends and checkpoints, never inside an epoch.
pub fn read_words<T: bytemuck::Pod>(
    ctx: &Context,
    buffer: &Buffer,
    offset: usize,
    len: usize,
) -> Result<Vec<T>, GpuError> {
    assert_eq!(std::mem::size_of::<T>(), 4);
    if len == 0 {
        return Ok(Vec::new());
    }
    let bytes = 4 * len as u64;
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: bytes,
        usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 4 * offset as u64, &staging, 0, bytes);
    let submitted = ctx.queue.submit([encoder.finish()]);
    read_mapped(ctx, &staging, submitted)
}

/// Copies the regions (buffer, word offset, length) to the host with one submit and one
/// wait: what an epoch reads of every member of a pack, read as one. Words come back as
/// u32; `bytemuck::cast_slice` gives the f32s.
pub fn read_regions(
    ctx: &Context,
    regions: &[(&Buffer, usize, usize)],
) -> Result<Vec<Vec<u32>>, GpuError> {
    let total: usize = regions.iter().map(|r| r.2).sum();
    if total == 0 {
        return Ok(regions.iter().map(|_| Vec::new()).collect());
    }
    let staging = ctx.device.create_buffer(&wgpu::BufferDescriptor {
        label: Some("readback"),
        size: 4 * total as u64,
        usage: BufferUsages::MAP_READ | BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = ctx.device.create_command_encoder(&Default::default());
    let mut at = 0u64;
    for &(buffer, offset, len) in regions {
        let bytes = 4 * len as u64;
        encoder.copy_buffer_to_buffer(buffer, 4 * offset as u64, &staging, at, bytes);
        at += bytes;
    }
    let submitted = ctx.queue.submit([encoder.finish()]);
    let all: Vec<u32> = read_mapped(ctx, &staging, submitted)?;
    let mut rest = &all[..];
    Ok(regions
        .iter()
        .map(|&(_, _, len)| {
            let (head, tail) = rest.split_at(len);
            rest = tail;
            head.to_vec()
        })
        .collect())
}

/// Maps a MAP_READ buffer whose copy went in submission `submitted`, waits for that
/// submission only, and reads the buffer.
pub fn read_mapped<T: bytemuck::Pod>(
    ctx: &Context,
    staging: &Buffer,
    submitted: wgpu::SubmissionIndex,
) -> Result<Vec<T>, GpuError> {
    let (tx, rx) = std::sync::mpsc::channel();
    staging.map_async(wgpu::MapMode::Read, .., move |r| {
        let _ = tx.send(r);
    });
    ctx.device
        .poll(wgpu::PollType::Wait {
            submission_index: Some(submitted),
            timeout: None,
        })
        .map_err(|e| GpuError::Device(e.to_string()))?;
    rx.recv()
        .map_err(|e| GpuError::Device(e.to_string()))?
        .map_err(|e| GpuError::Device(format!("reading back a buffer: {e}")))?;
    let view = staging
        .get_mapped_range(..)
        .map_err(|e| GpuError::Device(e.to_string()))?;
    let out = bytemuck::cast_slice(&view).to_vec();
    drop(view);
    staging.unmap();
    Ok(out)
}
