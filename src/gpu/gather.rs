//! Wrapper for `shaders/gather.wgsl`.

use super::immediates::{word, Gather, Pack};
use super::Kernels;
use crate::data::{Dtype, Normalization};

/// How the gather kernel reads and normalises a data set's samples: their width and kind,
/// the normalisation (one mean and std for every input in the immediates, or one per input
/// at the head of the index buffer, `stats_words`), and whether it can go four values at a
/// time.
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub inputs: usize,
    pub dtype: Dtype,
    pub norm: Normalization,
}

/// The per-input means then 1 / stds as u32 words, for the head of the index buffer; none
/// for a normalisation with one of each.
pub fn stats_words(norm: &Normalization, inputs: usize) -> Vec<u32> {
    if !norm.per_column() {
        return Vec::new();
    }
    let column = |c| norm.column(c);
    let means = (0..inputs).map(|c| column(c).0.to_bits());
    let inv_stds = (0..inputs).map(|c| column(c).1.to_bits());
    means.chain(inv_stds).collect()
}

impl Kernels {
    /// acts[x..] <- normalised samples `indices[index_off..index_off + rows]` of the bound
    /// data set, [rows, inputs], x a multiple of 4; ints[labels..] <- their labels; for each
    /// member of `pack`.
    #[allow(clippy::too_many_arguments)]
    pub fn gather(
        &self,
        pass: &mut wgpu::ComputePass<'_>,
        x: usize,
        labels: usize,
        index_off: usize,
        rows: usize,
        input: &Input,
        pack: &Pack,
    ) {
        assert!(
            x.is_multiple_of(4),
            "the batch starts 4-aligned (model::align4)"
        );
        let wide = input.inputs.is_multiple_of(4);
        let (mean, inv_std) = input.norm.column(0);
        let imm = Gather {
            rows: word(rows),
            index_off: word(index_off),
            out_off: word(x),
            label_off: word(labels),
            inputs: word(input.inputs),
            f32_values: u32::from(input.dtype == Dtype::F32),
            wide: u32::from(wide),
            columns: u32::from(input.norm.per_column()),
            divisor: input.norm.divisor,
            mean,
            inv_std,
            index_ms: pack.indices,
            acts_ms: pack.acts,
            ints_ms: pack.ints,
        };
        let per = if wide { 4 } else { 1 };
        let invocations = word(rows * input.inputs / per);
        self.dispatch(pass, &self.gather, &imm, invocations, pack);
    }
}
