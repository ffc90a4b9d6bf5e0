//! Optimizer settings, PyTorch's defaults for the constants.

use serde::{Deserialize, Serialize};

/// The discriminants are the `kind` of optimizer.wgsl.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum OptimizerKind {
    Sgd = 0,
    Adam = 1,
    Rmsprop = 2,
}

impl OptimizerKind {
    pub const ALL: [OptimizerKind; 3] = [
        OptimizerKind::Sgd,
        OptimizerKind::Adam,
        OptimizerKind::Rmsprop,
    ];

    pub fn name(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "sgd",
            OptimizerKind::Adam => "adam",
            OptimizerKind::Rmsprop => "rmsprop",
        }
    }

    /// As papers write it: SGD, Adam, RMSProp.
    pub fn title(self) -> &'static str {
        match self {
            OptimizerKind::Sgd => "SGD",
            OptimizerKind::Adam => "Adam",
            OptimizerKind::Rmsprop => "RMSProp",
        }
    }
}

pub const ADAM_BETAS: (f32, f32) = (0.9, 0.999);
pub const RMSPROP_ALPHA: f32 = 0.99;
pub const EPS: f32 = 1e-8;

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Hyper {
    pub kind: OptimizerKind,
    pub lr: f32,
    pub momentum: f32,
    pub weight_decay: f32,
}

impl Hyper {
    /// Adam's bias corrections for 1-based step `t`: (1 - beta1^t, sqrt(1 - beta2^t)),
    /// computed in f64 and rounded once.
    pub fn bias_corrections(t: u32) -> (f32, f32) {
        let (b1, b2) = ADAM_BETAS;
        let t = t as i32;
        (
            (1.0 - f64::from(b1).powi(t)) as f32,
            (1.0 - f64::from(b2).powi(t)).sqrt() as f32,
        )
    }
}
