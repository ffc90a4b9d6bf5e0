//! Which rows a run trains, validates and tests on: the test set held out of a data set
//! that has none, and a run's train/validation split.

use crate::config::ConfigError;
use crate::rng::Rng;

/// Which rows a run trains, validates and tests on: indices into the training part (train
/// and validation) and into the test part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train_idx: Vec<u32>,
    pub val_idx: Vec<u32>,
    pub test_idx: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SplitSpec {
    pub split_seed: u64,
    pub val_size: usize,
    pub subset: Option<usize>,
    pub eval_subset: Option<usize>,
}

impl Split {
    /// A shuffle of the `n` training rows by `split_seed`: the last `val_size` are held
    /// out; `tests` test rows.
    pub fn new(n: usize, tests: usize, s: SplitSpec) -> Result<Split, ConfigError> {
        if s.val_size >= n {
            return Err(ConfigError::new(
                "--val-size",
                format!(
                    "--val-size {} leaves no training data (the training set has {n} rows)",
                    s.val_size
                ),
            ));
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        Rng::new(s.split_seed).shuffle(&mut order);
        let mut val_idx = order.split_off(n - s.val_size);
        let mut train_idx = order;
        let mut test_idx: Vec<u32> = (0..tests as u32).collect();
        if let Some(k) = s.subset {
            if k > train_idx.len() {
                return Err(ConfigError::new(
                    "--subset",
                    format!(
                        "--subset {k} is larger than the training part ({} rows)",
                        train_idx.len()
                    ),
                ));
            }
            train_idx.truncate(k);
        }
        if let Some(k) = s.eval_subset {
            val_idx.truncate(k);
            test_idx.truncate(k);
        }
        Ok(Split {
            train_idx,
            val_idx,
            test_idx,
        })
    }
}

/// `--val-size`: how many training rows are held out for validation, as a count or as a
/// fraction of the training rows.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ValSize {
    Count(usize),
    Fraction(f64),
}

impl ValSize {
    /// A sixth of the training rows: Fashion-MNIST's 10,000 of 60,000, and as much of any
    /// other data set.
    pub const DEFAULT: ValSize = ValSize::Fraction(1.0 / 6.0);

    /// The rows held out of `n` training rows.
    pub fn rows(self, n: usize) -> usize {
        match self {
            ValSize::Count(c) => c,
            ValSize::Fraction(f) => (f * n as f64).round() as usize,
        }
    }
}

impl std::str::FromStr for ValSize {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Ok(n) = s.parse::<usize>() {
            return Ok(ValSize::Count(n));
        }
        match s.parse::<f64>() {
            Ok(f) if f > 0.0 && f < 1.0 => Ok(ValSize::Fraction(f)),
            _ => Err(format!(
                "'{s}' is neither a count of rows nor a fraction in (0, 1), e.g. 10000 or 0.2"
            )),
        }
    }
}

/// The rows of a part kept and held out as a test set: `fraction` of each class's rows (at
/// least one of a class with two or more), drawn by `seed`; each list ascending, so the
/// rows keep the order they had.
pub fn hold_out(labels: &[u32], classes: usize, fraction: f64, seed: u64) -> (Vec<u32>, Vec<u32>) {
    let mut by_class: Vec<Vec<u32>> = vec![Vec::new(); classes];
    for (i, &y) in labels.iter().enumerate() {
        by_class[y as usize].push(i as u32);
    }
    // a stream of its own, so that the train/validation shuffle by the same seed is not it
    let mut rng = Rng::new(seed ^ 0x007E_575E_7D0F_u64);
    let (mut kept, mut held) = (Vec::new(), Vec::new());
    for mut rows in by_class {
        rng.shuffle(&mut rows);
        let mut k = (fraction * rows.len() as f64).round() as usize;
        if rows.len() >= 2 {
            k = k.clamp(1, rows.len() - 1);
        }
        held.extend_from_slice(&rows[..k]);
        kept.extend_from_slice(&rows[k..]);
    }
    kept.sort_unstable();
    held.sort_unstable();
    (kept, held)
}
