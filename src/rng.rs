//! Random numbers: the dropout hash shared bit for bit with `shaders/common.wgsl`, and a
//! small seeded generator for initialisation and shuffles on the host.

/// PCG hash (Jarzynski & Olano 2020); twin of `pcg_hash` in common.wgsl.
pub fn pcg_hash(v: u32) -> u32 {
    let s = v.wrapping_mul(747_796_405).wrapping_add(2_891_336_453);
    let w = ((s >> ((s >> 28) + 4)) ^ s).wrapping_mul(277_803_737);
    (w >> 22) ^ w
}

/// Whether dropout keeps element `e` of `layer` at `step`; twin of `dropout_keep` in WGSL.
pub fn dropout_keep(seed: u32, step: u32, layer: u32, e: u32, threshold: u32) -> bool {
    pcg_hash(e ^ pcg_hash(step ^ pcg_hash(layer ^ pcg_hash(seed)))) >= threshold
}

/// The hash threshold for drop probability `p` in [0, 1): an element is kept when its hash
/// is at least `p * 2^32`, so p = 0 keeps all and the kept share is 1 - p.
pub fn dropout_threshold(p: f32) -> u32 {
    (f64::from(p) * 4_294_967_296.0).min(4_294_967_295.0) as u32
}

/// SplitMix64: tiny, fast, and the same sequence on every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 random bits.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [-bound, bound).
    pub fn uniform(&mut self, bound: f32) -> f32 {
        ((self.next_f64() * 2.0 - 1.0) * f64::from(bound)) as f32
    }

    /// Uniform integer in [0, n), n > 0 (Lemire's multiply, bias below 2^-32 for our n).
    pub fn below(&mut self, n: usize) -> usize {
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// Fisher-Yates shuffle.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}
