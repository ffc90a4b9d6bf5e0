//! `mlp-gpu eval`: a saved model scored on its test set. It reads only the test images and
//! builds only what scoring needs (`train::Scorer`): no training set, index lists or
//! optimizer state on the GPU.

use crate::config::TrainConfig;
use crate::data;
use crate::error::Error;
use crate::gpu::{Context, Kernels};
use crate::model::{ParamLayout, StateLayout};
use crate::rundir::{self, model_file};
use crate::train::{Evaluation, Resident, Scorer};
use std::path::Path;

/// The model in run folder `dir`, trained with `c`, on the test images of `data` (else
/// where the data is found), on `adapter`.
pub fn eval(
    dir: &Path,
    c: &TrainConfig,
    data: Option<&Path>,
    adapter: Option<&str>,
) -> Result<Evaluation, Error> {
    let layout = ParamLayout::new(&c.spec());
    let state = StateLayout::new(&layout, 1);
    let path = dir.join(rundir::MODEL);
    let (params, st) = model_file::load_model(&path, &layout, &state, c.dropout > 0.0)?;
    let weights = (params, st[state.saved()].to_vec());
    let test = data::load(&data::find_dir(data)?, "t10k")?;
    let ctx = Context::new(adapter)?;
    let kernels = Kernels::new(&ctx)?;
    let score = || {
        let resident = Resident::upload(&ctx, &kernels, &test)?;
        Scorer::new(&ctx, &kernels, &resident, c, &weights, c.eval_subset)?.evaluate()
    };
    score().map_err(|e| ctx.explain(e).into())
}
