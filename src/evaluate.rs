//! A trained model read back (`Model`), and `mlp-gpu eval`: the model scored on its test
//! set, building only what scoring needs (`train::Scorer`: the test rows and the network,
//! no training rows, index lists or optimizer state on the GPU).

use crate::config::TrainConfig;
use crate::data::{self, DataRecord, Part};
use crate::error::Error;
use crate::gpu::network::Weights;
use crate::gpu::{Context, Kernels};
use crate::model::{ParamLayout, Spec, StateLayout};
use crate::rundir::{self, model_file, FolderError};
use crate::train::{Evaluation, Resident, Scorer};
use std::path::{Path, PathBuf};

/// A trained model: its settings, its data's record (shape, classes, normalisation), its
/// network and weights, and the data path its run trained on.
pub struct Model {
    pub config: TrainConfig,
    pub data: DataRecord,
    pub spec: Spec,
    pub weights: Weights,
    pub data_path: Option<PathBuf>,
}

impl Model {
    /// The model at `path`: a run folder (its config.json and model.safetensors), or a
    /// model.safetensors alone (its metadata says the rest).
    pub fn load(path: &Path) -> Result<Model, Error> {
        let (file, saved) = if path.is_dir() {
            let saved = rundir::read_config(path).map_err(model_error)?;
            (path.join(rundir::MODEL), Some(saved))
        } else {
            (path.to_path_buf(), None)
        };
        let bytes = model_file::read(&file)?;
        let meta = model_file::metadata_of(&file, &bytes)?;
        let (config, data, data_path) =
            match (meta, saved) {
                // config.json first: a run folder's files are the run's word
                (_, Some(s)) => {
                    let data = s.record();
                    (s.train, data, s.data)
                }
                (Some(m), None) => (m.config, m.data, None),
                (None, None) => return Err(FolderError::invalid(
                    &file,
                    "has no mlp-gpu metadata (written before 0.2); give the run's folder instead"
                        .into(),
                )
                .into()),
            };
        config.validate()?;
        let spec = config.spec(data.info.inputs, data.info.classes.len());
        let layout = ParamLayout::new(&spec);
        let state = StateLayout::new(&layout, 1);
        let (params, st) =
            model_file::load_model(&file, &bytes, &layout, &state, config.dropout > 0.0)?;
        Ok(Model {
            weights: (params, st[state.saved()].to_vec()),
            config,
            data,
            spec,
            data_path,
        })
    }

    /// A scorer of this model on `part` (its first `subset` rows), on `ctx`.
    pub fn scorer<'a>(
        &self,
        ctx: &'a Context,
        kernels: &'a Kernels,
        part: &Resident,
        subset: Option<usize>,
    ) -> Result<Scorer<'a>, Error> {
        let d = &self.data;
        let batch = self.config.batch_size;
        let scorer = Scorer::new(
            ctx,
            kernels,
            part,
            &self.spec,
            &d.normalize,
            &self.weights,
            batch,
            subset,
        );
        scorer.map_err(|e| ctx.explain(e).into())
    }
}

/// `--model`'s problem, saying what --model takes.
fn model_error(e: FolderError) -> Error {
    let message = format!(
        "{e}; --model takes a run directory made by `mlp-gpu train`, or its model.safetensors"
    );
    crate::config::ConfigError::new("--model", message).into()
}

/// The model in run folder `dir` on its test set: the test rows of `data` (else the data
/// its run trained on), all or the first `subset`, on `adapter`.
pub fn eval(
    dir: &Path,
    model: &Model,
    data: Option<&Path>,
    subset: Option<usize>,
    adapter: Option<&str>,
) -> Result<Evaluation, Error> {
    let path = data::find_dir(data.or(model.data_path.as_deref()))?;
    let (_, set) = data::load(&model.data.load_options(path))?;
    let fingerprint = &model.data.info.fingerprint;
    if data.is_none() && !fingerprint.is_empty() && *fingerprint != set.info.fingerprint {
        eprintln!(
            "warning: the data's files have changed since {} trained on them",
            dir.display()
        );
    }
    let test: &Part = &set.test;
    let ctx = Context::new(adapter)?;
    let kernels = Kernels::new(&ctx)?;
    let resident = Resident::upload(&ctx, &kernels, test).map_err(|e| ctx.explain(e))?;
    let subset = subset.or(model.config.eval_subset);
    let e = model.scorer(&ctx, &kernels, &resident, subset)?.evaluate();
    e.map_err(|e| ctx.explain(e).into())
}
