//! How inputs are normalised before the first layer: fitted on a run's training rows only
//! (as scikit-learn's StandardScaler is), recorded with the run and its model, and applied
//! by the gather kernel (`shaders/gather.wgsl`) and its CPU twin.

use super::Values;
use serde::{Deserialize, Serialize};

/// `--normalize`: what to fit.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum NormalizeMode {
    /// scalar for 8-bit data, column for the rest
    #[default]
    Auto,
    /// one mean and standard deviation over every value (after /255 for 8-bit data)
    Scalar,
    /// a mean and standard deviation per input (a constant input gets 1)
    Column,
    /// the values as they are
    None,
}

/// A fitted normalisation: input c becomes (v / divisor - mean[c]) / std[c], with one mean
/// and std for every input (scalar) or one per input (column).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalization {
    pub mode: NormalizeMode,
    /// 255 for 8-bit data that is normalised (its values to [0, 1] first), else 1.
    pub divisor: f32,
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
}

/// Mean and population standard deviation of `values`, in f64; a constant gets std 1.
fn moments(values: impl Iterator<Item = f64> + Clone) -> (f64, f64) {
    let n = values.clone().count().max(1) as f64;
    let mean = values.clone().sum::<f64>() / n;
    let var = values.map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    let std = var.sqrt();
    (mean, if std > 0.0 { std } else { 1.0 })
}

impl Normalization {
    /// What runs trained before normalisation was fitted used: Fashion-MNIST's pixel mean
    /// and standard deviation over its 60,000 training images, after /255.
    pub fn fashion_legacy() -> Self {
        Normalization {
            mode: NormalizeMode::Scalar,
            divisor: 255.0,
            mean: vec![0.2860],
            std: vec![0.3530],
        }
    }

    /// `mode` fitted on `rows` of `values` (`inputs` per row).
    pub fn fit(mode: NormalizeMode, values: &Values, inputs: usize, rows: &[u32]) -> Self {
        let mode = match mode {
            NormalizeMode::Auto if values.is_u8() => NormalizeMode::Scalar,
            NormalizeMode::Auto => NormalizeMode::Column,
            m => m,
        };
        let divisor = if values.is_u8() && mode != NormalizeMode::None {
            255.0
        } else {
            1.0
        };
        let d = f64::from(divisor);
        let at = |r: u32, c: usize| values.get(r as usize * inputs + c) as f64 / d;
        let (mean, std) = match mode {
            NormalizeMode::None => (vec![0.0], vec![1.0]),
            NormalizeMode::Scalar => {
                let all = rows
                    .iter()
                    .flat_map(|&r| (0..inputs).map(move |c| at(r, c)));
                let (m, s) = moments(all);
                (vec![m as f32], vec![s as f32])
            }
            _ => (0..inputs)
                .map(|c| {
                    let (m, s) = moments(rows.iter().map(|&r| at(r, c)));
                    (m as f32, s as f32)
                })
                .unzip(),
        };
        Normalization {
            mode,
            divisor,
            mean,
            std,
        }
    }

    /// Whether each input has its own mean and std.
    pub fn per_column(&self) -> bool {
        self.mean.len() > 1
    }

    /// Input c's mean and 1 / std, as the kernels take them.
    pub fn column(&self, c: usize) -> (f32, f32) {
        let i = if self.per_column() { c } else { 0 };
        (self.mean[i], 1.0 / self.std[i])
    }

    /// Value v of input c, normalised: the gather kernel's arithmetic, operation for
    /// operation.
    pub fn apply(&self, v: f32, c: usize) -> f32 {
        let (mean, inv_std) = self.column(c);
        (v / self.divisor - mean) * inv_std
    }
}
