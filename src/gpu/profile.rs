//! GPU time per kernel from timestamp queries written around every dispatch
//! (`mlp-gpu bench --profile`). Only made when asked for; training never pays for it.

use super::buffers::read_words;
use super::{Context, GpuError};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Timestamps one chunk can hold: two per dispatch.
pub const CAPACITY: u32 = wgpu::QUERY_SET_MAX_QUERIES;

pub struct Profiler {
    query_set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    /// Kernel name and multiply-add count of each dispatch of the current chunk.
    pending: Mutex<Vec<(&'static str, f64)>>,
    /// Per kernel: seconds, FLOPs, dispatches, over everything collected.
    totals: Mutex<BTreeMap<&'static str, (f64, f64, u64)>>,
    period_ns: f64,
}

/// The features profiling needs, or the name of the first one missing.
pub fn missing_feature(features: wgpu::Features) -> Option<&'static str> {
    if !features.contains(wgpu::Features::TIMESTAMP_QUERY) {
        Some("TIMESTAMP_QUERY")
    } else if !features.contains(wgpu::Features::TIMESTAMP_QUERY_INSIDE_PASSES) {
        Some("TIMESTAMP_QUERY_INSIDE_PASSES")
    } else {
        None
    }
}

impl Profiler {
    pub fn new(ctx: &Context) -> Result<Self, GpuError> {
        if let Some(f) = missing_feature(ctx.device.features()) {
            return Err(GpuError::Unsupported {
                adapter: ctx.adapter_name(),
                what: format!("the {f} feature needed for --profile"),
            });
        }
        let query_set = ctx.device.create_query_set(&wgpu::QuerySetDescriptor {
            label: Some("profile"),
            ty: wgpu::QueryType::Timestamp,
            count: CAPACITY,
        });
        let resolve = ctx.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("profile"),
            size: 8 * u64::from(CAPACITY),
            usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let period_ns = f64::from(ctx.queue.get_timestamp_period());
        Ok(Profiler {
            query_set,
            resolve,
            pending: Mutex::new(Vec::new()),
            totals: Mutex::new(BTreeMap::new()),
            period_ns,
        })
    }

    /// Timestamp before a dispatch of `name`; returns the query index for after it.
    pub(crate) fn begin(&self, pass: &mut wgpu::ComputePass<'_>, name: &'static str) -> u32 {
        let mut p = self.pending.lock().expect("profiler lock");
        let at = 2 * p.len() as u32;
        assert!(
            at + 2 <= CAPACITY,
            "profile chunks hold at most {} dispatches",
            CAPACITY / 2
        );
        p.push((name, 0.0));
        pass.write_timestamp(&self.query_set, at);
        at + 1
    }

    pub(crate) fn end(&self, pass: &mut wgpu::ComputePass<'_>, at: u32) {
        pass.write_timestamp(&self.query_set, at);
    }

    /// Counts `flops` to the last dispatch.
    pub(crate) fn add_flops(&self, flops: f64) {
        if let Some(last) = self.pending.lock().expect("profiler lock").last_mut() {
            last.1 += flops;
        }
    }

    /// Resolves this chunk's timestamps; call after its pass, before submitting.
    pub fn resolve(&self, encoder: &mut wgpu::CommandEncoder) {
        let n = 2 * self.pending.lock().expect("profiler lock").len() as u32;
        if n > 0 {
            encoder.resolve_query_set(&self.query_set, 0..n, &self.resolve, 0);
        }
    }

    /// Reads this chunk's timestamps (a host wait) and adds them to the totals.
    pub fn collect(&self, ctx: &Context) -> Result<(), GpuError> {
        let pending = std::mem::take(&mut *self.pending.lock().expect("profiler lock"));
        let ticks: Vec<u32> = read_words(ctx, &self.resolve, 0, 4 * pending.len())?;
        let mut totals = self.totals.lock().expect("profiler lock");
        for (i, (name, flops)) in pending.iter().enumerate() {
            let at = |q: usize| u64::from(ticks[2 * q]) | (u64::from(ticks[2 * q + 1]) << 32);
            let seconds = at(2 * i + 1).saturating_sub(at(2 * i)) as f64 * self.period_ns * 1e-9;
            let e = totals.entry(name).or_insert((0.0, 0.0, 0));
            *e = (e.0 + seconds, e.1 + flops, e.2 + 1);
        }
        Ok(())
    }

    /// (kernel, seconds, FLOPs, dispatches) collected since the last call, most time first.
    pub fn take(&self) -> Vec<(&'static str, f64, f64, u64)> {
        let totals = std::mem::take(&mut *self.totals.lock().expect("profiler lock"));
        let mut rows: Vec<_> = totals.iter().map(|(n, t)| (*n, t.0, t.1, t.2)).collect();
        rows.sort_by(|a, b| b.1.total_cmp(&a.1));
        rows
    }
}
