//! A run's settings (`TrainConfig`, saved as config.json), their one validation, and what the
//! runs of one pack must share (`PackShape`).

use crate::data::{NormalizeMode, Split, SplitSpec};
use crate::model::{Init, Spec};
use crate::optim::{Hyper, OptimizerKind};
use serde::{Deserialize, Serialize};

/// A setting refused: the flag, and the message naming it (with its value) and what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub flag: &'static str,
    pub message: String,
}

impl ConfigError {
    pub fn new(flag: &'static str, message: impl Into<String>) -> Self {
        ConfigError {
            flag,
            message: message.into(),
        }
    }
}

/// Every setting of a run; saved as config.json and accepted back by `--config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub hidden: Vec<usize>,
    pub optimizer: OptimizerKind,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    pub epochs: usize,
    pub batch_size: usize,
    pub dropout: f32,
    pub init: Init,
    pub batch_norm: bool,
    pub seed: u64,
    pub split_seed: u64,
    pub val_size: usize,
    pub subset: Option<usize>,
    pub eval_subset: Option<usize>,
    /// How inputs are normalised (fitted on the training split). Absent before 0.2: auto.
    #[serde(default)]
    pub normalize: NormalizeMode,
}

/// The defaults of every command: the study's baseline (SGD, lr 0.05) on the 784-200-200-200-10
/// network, 10 epochs of batches of 512, 10,000 training images held out for validation.
impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            hidden: vec![200, 200, 200],
            optimizer: OptimizerKind::Sgd,
            lr: 0.05,
            momentum: 0.0,
            weight_decay: 0.0,
            epochs: 10,
            batch_size: 512,
            dropout: 0.0,
            init: Init::Pytorch,
            batch_norm: false,
            seed: 0,
            split_seed: 1234,
            val_size: 10_000,
            subset: None,
            eval_subset: None,
            normalize: NormalizeMode::Auto,
        }
    }
}

/// Units per hidden layer above which sizes stop being a device question and overflow.
const MAX_HIDDEN: usize = 1 << 24;

impl TrainConfig {
    /// The network of these settings on data of `inputs` values and `classes` classes.
    pub fn spec(&self, inputs: usize, classes: usize) -> Spec {
        Spec::new(
            inputs,
            self.hidden.clone(),
            classes,
            self.batch_norm,
            self.dropout,
        )
    }

    pub fn hyper(&self) -> Hyper {
        Hyper {
            kind: self.optimizer,
            lr: self.lr,
            momentum: self.momentum,
            weight_decay: self.weight_decay,
        }
    }

    pub fn split_spec(&self) -> SplitSpec {
        SplitSpec {
            split_seed: self.split_seed,
            val_size: self.val_size,
            subset: self.subset,
            eval_subset: self.eval_subset,
        }
    }

    pub fn pack_shape(&self) -> PackShape {
        PackShape {
            hidden: self.hidden.clone(),
            batch_norm: self.batch_norm,
            batch_size: self.batch_size,
            epochs: self.epochs,
            split: self.split_spec(),
            normalize: self.normalize,
        }
    }

    /// Checks what clap cannot, once, where settings enter (the command line, a saved
    /// config.json); each message names the flag and what to do.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.lr.is_finite() && self.lr > 0.0) {
            return Err(ConfigError::new(
                "--lr",
                format!(
                    "--lr {}: the learning rate must be a positive finite number",
                    self.lr
                ),
            ));
        }
        if !(0.0..1.0).contains(&self.dropout) {
            let message = format!("--dropout {}: must be in [0, 1)", self.dropout);
            return Err(ConfigError::new("--dropout", message));
        }
        for (flag, v) in [
            ("--momentum", self.momentum),
            ("--weight-decay", self.weight_decay),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                let message = format!("{flag} {v}: must be finite and not negative");
                return Err(ConfigError::new(flag, message));
            }
        }
        if self.batch_size == 0 || self.epochs == 0 {
            return Err(ConfigError::new(
                "--batch-size",
                "--batch-size and --epochs must be at least 1",
            ));
        }
        if self.hidden.is_empty() || self.hidden.contains(&0) {
            return Err(ConfigError::new(
                "--hidden",
                "--hidden: give one or more positive layer sizes, e.g. --hidden 200,200,200",
            ));
        }
        if let Some(h) = self.hidden.iter().find(|&&h| h > MAX_HIDDEN) {
            return Err(ConfigError::new(
                "--hidden",
                format!("--hidden {h}: layers of more than {MAX_HIDDEN} units cannot fit any device's buffer limits; use fewer units"),
            ));
        }
        if self.subset == Some(0) || self.eval_subset == Some(0) {
            return Err(ConfigError::new(
                "--subset",
                "--subset and --eval-subset must be at least 1",
            ));
        }
        Ok(())
    }
}

/// What the runs of one pack share, so that they train in the same dispatches: the
/// network's shape, batch norm, batch size, epochs, split and normalisation. Sweeps group
/// runs by it, the trainer holds its members to it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PackShape {
    pub hidden: Vec<usize>,
    pub batch_norm: bool,
    pub batch_size: usize,
    pub epochs: usize,
    pub split: SplitSpec,
    pub normalize: NormalizeMode,
}

impl PackShape {
    /// The split of a training set of `train` and a test set of `test` rows for these
    /// runs, refused where batch norm would meet a batch of one row. A batch larger than
    /// the training set is the whole set (as PyTorch's DataLoader has it).
    pub fn split(&self, train: usize, test: usize) -> Result<Split, ConfigError> {
        let split = Split::new(train, test, self.split)?;
        let n = split.train_idx.len();
        let b = self.batch_size.min(n);
        // PyTorch refuses this too ("Expected more than 1 value per channel when training")
        if self.batch_norm && (b == 1 || n % b == 1) {
            return Err(ConfigError::new(
                "--batch-norm",
                format!("--batch-norm with --batch-size {b} leaves batches of one row ({n} training rows): batch norm needs at least 2; change --batch-size (or --subset, --val-size)"),
            ));
        }
        Ok(split)
    }
}

/// One line naming a run's network and settings, for progress messages.
pub fn describe(c: &TrainConfig, inputs: usize, classes: usize) -> String {
    let sizes: Vec<String> = std::iter::once(inputs)
        .chain(c.hidden.iter().copied())
        .chain(std::iter::once(classes))
        .map(|h| h.to_string())
        .collect();
    format!(
        "{} {} lr {}{}{}, init {}",
        sizes.join("-"),
        c.optimizer.name(),
        c.lr,
        if c.batch_norm { ", batch norm" } else { "" },
        if c.dropout > 0.0 {
            format!(", dropout {}", c.dropout)
        } else {
            String::new()
        },
        c.init.name()
    )
}

/// A short name of a run's settings that differ between a study's runs, e.g. "Adam 0.005,
/// dropout 0.2, Kaiming, BN".
pub fn label(c: &TrainConfig) -> String {
    let mut s = format!("{} {}", c.optimizer.title(), c.lr);
    if c.dropout > 0.0 {
        s.push_str(&format!(", dropout {}", c.dropout));
    }
    if c.init == Init::KaimingUniform {
        s.push_str(", Kaiming");
    }
    if c.batch_norm {
        s.push_str(", BN");
    }
    s
}
