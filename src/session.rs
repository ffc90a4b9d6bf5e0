//! What every run of one process shares: the device, the compiled kernels and the data set
//! (on the host, where normalisations are fitted, and on the GPU); and the trainers made
//! from them.

use crate::config::{ConfigError, PackShape, TrainConfig};
use crate::data::{self, DataInfo, DataRecord, Dataset, LoadOptions, Normalization, Split};
use crate::error::Error;
use crate::gpu::{Context, GpuError, Kernels, MatmulVariant};
use crate::train::{GpuData, Trainer};
use std::path::PathBuf;

pub struct Session {
    pub ctx: Context,
    pub kernels: Kernels,
    pub data: GpuData,
    /// The data set on the host: its values fit each pack's normalisation.
    pub host: Dataset,
    /// Where the data was read from.
    pub data_dir: PathBuf,
}

/// What the runs of one `PackShape` train on: their split and their inputs' normalisation,
/// fitted on the split's training rows.
#[derive(Clone, Debug)]
pub struct Prepared {
    pub split: Split,
    pub norm: Normalization,
}

/// A shape's `Prepared`, and how many of its runs fit one pack.
pub struct ShapePlan {
    pub shape: PackShape,
    pub prepared: Prepared,
    pub cap: usize,
}

impl Session {
    /// Reads the data (first, so a bad file is reported before any GPU set-up), opens the
    /// adapter, compiles the kernels and uploads the data set.
    /// `variant`: the matmul variant, if not the adapter's default.
    pub fn open(
        o: &LoadOptions,
        adapter: Option<&str>,
        variant: Option<MatmulVariant>,
    ) -> Result<Session, Error> {
        let (dir, host) = data::load(o)?;
        Self::with_data(dir, host, adapter, variant)
    }

    /// A session on a data set already read (`host`, from `dir`).
    pub fn with_data(
        dir: PathBuf,
        host: Dataset,
        adapter: Option<&str>,
        variant: Option<MatmulVariant>,
    ) -> Result<Session, Error> {
        let mut ctx = Context::new(adapter)?;
        ctx.variant = variant.unwrap_or(ctx.variant);
        let kernels = Kernels::new(&ctx)?;
        let data = GpuData::upload(&ctx, &kernels, &host)?;
        Ok(Session {
            ctx,
            kernels,
            data,
            host,
            data_dir: dir,
        })
    }

    pub fn adapter(&self) -> String {
        self.ctx.adapter_name()
    }

    pub fn info(&self) -> &DataInfo {
        &self.host.info
    }

    /// The data as a run folder's check of it sees it: where it is read from, and what it is.
    pub fn seen(&self) -> crate::rundir::DataSeen<'_> {
        crate::rundir::DataSeen {
            dir: &self.data_dir,
            info: self.info(),
        }
    }

    /// Rows of the training part (before the validation split).
    pub fn train_rows(&self) -> usize {
        self.host.train.len()
    }

    /// What a run records of its data, normalised by `norm`.
    pub fn record(&self, norm: &Normalization) -> DataRecord {
        DataRecord {
            info: self.host.info.clone(),
            normalize: norm.clone(),
        }
    }

    /// The split of this data for runs of `shape`.
    pub fn split(&self, shape: &PackShape) -> Result<Split, ConfigError> {
        shape.split(self.host.train.len(), self.host.test.len())
    }

    /// The split and the normalisation for runs of `shape`: `fitted` (a resumed run's), else
    /// fitted on the split's training rows; a notice when a batch is larger than the
    /// training set.
    pub fn prepare(
        &self,
        shape: &PackShape,
        fitted: Option<Normalization>,
    ) -> Result<Prepared, ConfigError> {
        let split = self.split(shape)?;
        let n = split.train_idx.len();
        if shape.batch_size > n {
            eprintln!(
                "notice: --batch-size {} is larger than the training set ({n} rows): each epoch trains on the whole set as one batch",
                shape.batch_size
            );
        }
        let norm = fitted.unwrap_or_else(|| {
            let (values, inputs) = (&self.host.train.values, self.host.info.inputs);
            Normalization::fit(shape.normalize, values, inputs, &split.train_idx)
        });
        Ok(Prepared { split, norm })
    }

    /// `shape`'s runs prepared, and the most of them, up to `cap`, whose pack fits the
    /// device's limits; an error if not even one fits, or the split refuses the shape.
    pub fn plan(&self, shape: &PackShape, cap: usize) -> Result<ShapePlan, Error> {
        let prepared = self.prepare(shape, None)?;
        let fits = |k| Trainer::fits(&self.ctx, &self.data, shape, &prepared.split, k);
        fits(1)?;
        let mut k = cap.max(1);
        while k > 1 && fits(k).is_err() {
            k /= 2;
        }
        Ok(ShapePlan {
            shape: shape.clone(),
            prepared,
            cap: k,
        })
    }

    /// A trainer of `configs` as one pack (they share their `PackShape`), with the faults
    /// MLP_GPU_FAULT names; normalised by `norm` if given (a run resumed from before
    /// normalisations were fitted), else as fitted on the split. Refused, before anything is
    /// allocated, if it does not fit.
    pub fn trainer(
        &self,
        configs: Vec<TrainConfig>,
        norm: Option<Normalization>,
    ) -> Result<Trainer<'_>, Error> {
        let prepared = self.prepare(&configs[0].pack_shape(), norm)?;
        self.trainer_on(&prepared, configs)
    }

    /// `trainer` on a shape already prepared (`ShapePlan::prepared`).
    pub fn trainer_on(
        &self,
        p: &Prepared,
        configs: Vec<TrainConfig>,
    ) -> Result<Trainer<'_>, Error> {
        let (ctx, k, data) = (&self.ctx, &self.kernels, &self.data);
        let mut t = Trainer::new_pack(ctx, k, data, configs, &p.split, &p.norm)
            .map_err(|e| self.explain(e))?;
        t.set_faults(crate::fault::EpochFaults::from_env());
        Ok(t)
    }

    /// A GPU error, or device loss where that is what lies behind it.
    pub fn explain(&self, e: GpuError) -> GpuError {
        self.ctx.explain(e)
    }
}
