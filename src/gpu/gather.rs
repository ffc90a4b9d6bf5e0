//! Wrapper for `shaders/gather.wgsl`.

use super::immediates::{word, Gather, Pack};
use super::Kernels;
use crate::ops::{PIXEL_MEAN, PIXEL_STD};

impl Kernels {
    /// acts[x..] <- normalised images `indices[index_off..index_off + rows]` of the bound
    /// dataset, [rows, 784], x a multiple of 4; ints[labels..] <- their labels; for each
    /// member of `pack`.
    pub fn gather(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        x: usize,
        labels: usize,
        index_off: usize,
        rows: usize,
        pack: &Pack,
    ) {
        assert!(
            x.is_multiple_of(4),
            "the batch starts 4-aligned (model::align4)"
        );
        let imm = Gather {
            rows: word(rows),
            index_off: word(index_off),
            out_off: word(x),
            label_off: word(labels),
            mean: PIXEL_MEAN,
            inv_std: 1.0 / PIXEL_STD,
            index_ms: pack.indices,
            acts_ms: pack.acts,
            ints_ms: pack.ints,
        };
        self.dispatch(
            pass,
            &self.gather,
            &imm,
            word(rows * crate::model::INPUTS / 4),
            pack,
        );
    }
}
