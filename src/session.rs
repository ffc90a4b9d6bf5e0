//! What every run of one process shares: the device, the compiled kernels and the dataset
//! on the GPU; and the trainers made from them.

use crate::config::{ConfigError, PackShape, TrainConfig};
use crate::data::{self, Fashion, Split};
use crate::error::Error;
use crate::gpu::{Context, GpuError, Kernels, MatmulVariant};
use crate::train::{Dataset, Trainer};
use std::path::{Path, PathBuf};

/// What the runs of one `PackShape` train on and how many fit one pack.
pub struct ShapePlan {
    pub shape: PackShape,
    pub split: Split,
    pub cap: usize,
}

pub struct Session {
    pub ctx: Context,
    pub kernels: Kernels,
    pub data: Dataset,
    /// Where the images were read from.
    pub data_dir: PathBuf,
    train_len: usize,
    test_len: usize,
}

impl Session {
    /// Reads the data (first, so a bad file is reported before any GPU set-up), opens the
    /// adapter, compiles the kernels and uploads the images.
    /// `variant`: the matmul variant, if not the adapter's default.
    pub fn open(
        data_dir: Option<&Path>,
        adapter: Option<&str>,
        variant: Option<MatmulVariant>,
    ) -> Result<Session, Error> {
        let dir = data::find_dir(data_dir)?;
        let fashion = Fashion::load(&dir)?;
        let mut ctx = Context::new(adapter)?;
        ctx.variant = variant.unwrap_or(ctx.variant);
        let kernels = Kernels::new(&ctx)?;
        let data = Dataset::upload(&ctx, &kernels, &fashion)?;
        Ok(Session {
            ctx,
            kernels,
            data,
            data_dir: std::fs::canonicalize(&dir).unwrap_or(dir),
            train_len: fashion.train.len(),
            test_len: fashion.test.len(),
        })
    }

    pub fn adapter(&self) -> String {
        self.ctx.adapter_name()
    }

    /// The split of this data for runs of `shape`.
    pub fn split(&self, shape: &PackShape) -> Result<Split, ConfigError> {
        shape.split(self.train_len, self.test_len)
    }

    /// The split of `shape`'s runs and the most of them, up to `cap`, whose pack fits the
    /// device's limits; an error if not even one fits, or the split refuses the shape.
    pub fn plan(&self, shape: &PackShape, cap: usize) -> Result<ShapePlan, Error> {
        let split = self.split(shape)?;
        let fits = |k| Trainer::fits(&self.ctx, shape, &split, k);
        fits(1)?;
        let mut k = cap.max(1);
        while k > 1 && fits(k).is_err() {
            k /= 2;
        }
        Ok(ShapePlan {
            shape: shape.clone(),
            split,
            cap: k,
        })
    }

    /// A trainer of `configs` as one pack (they share their `PackShape`), with the faults
    /// MLP_GPU_FAULT names; refused, before anything is allocated, if it does not fit.
    pub fn trainer(&self, configs: Vec<TrainConfig>) -> Result<Trainer<'_>, Error> {
        let split = self.split(&configs[0].pack_shape())?;
        self.trainer_on(&split, configs)
    }

    /// `trainer` on a split already made (`ShapePlan::split`).
    pub fn trainer_on(
        &self,
        split: &Split,
        configs: Vec<TrainConfig>,
    ) -> Result<Trainer<'_>, Error> {
        let mut t = Trainer::new_pack(&self.ctx, &self.kernels, &self.data, configs, split)
            .map_err(|e| self.explain(e))?;
        t.set_faults(crate::fault::EpochFaults::from_env());
        Ok(t)
    }

    /// A GPU error, or device loss where that is what lies behind it.
    pub fn explain(&self, e: GpuError) -> GpuError {
        self.ctx.explain(e)
    }
}
