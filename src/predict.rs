//! `mlp-gpu predict`: a trained model's class probabilities for every row of an input in any
//! format `train` reads, with or without labels, batched on the GPU through the evaluation
//! kernels. Rows are named by their index, or by their path for images.

use crate::data::{self, Format, Part, Table};
use crate::error::Error;
use crate::evaluate::Model;
use crate::gpu::{Context, Kernels};
use crate::train::Resident;
use std::path::Path;

/// What predict found: each row's name where rows have them (images: their paths; else
/// their index names them), its probabilities (one per class), its predicted class, and its
/// label's class where the input has labels.
pub struct Predictions {
    pub classes: Vec<String>,
    pub names: Option<Vec<String>>,
    pub probs: Vec<f32>,
    pub predicted: Vec<u32>,
    pub labels: Option<Vec<u32>>,
}

impl Predictions {
    pub fn len(&self) -> usize {
        self.predicted.len()
    }

    pub fn is_empty(&self) -> bool {
        self.predicted.is_empty()
    }

    /// Row r's name (its index where rows have none).
    pub fn name(&self, r: usize) -> serde_json::Value {
        match &self.names {
            Some(n) => n[r].clone().into(),
            None => r.into(),
        }
    }

    /// Row r's probabilities.
    pub fn row(&self, r: usize) -> &[f32] {
        let c = self.classes.len();
        &self.probs[r * c..(r + 1) * c]
    }

    /// The share of labelled rows predicted right.
    pub fn accuracy(&self) -> Option<f64> {
        let labels = self.labels.as_ref()?;
        let right = labels
            .iter()
            .zip(&self.predicted)
            .filter(|(a, b)| a == b)
            .count();
        Some(right as f64 / labels.len().max(1) as f64)
    }
}

/// Reads `input` as `format` (else detected; `-` is CSV on standard input) for `model`.
fn read_input(model: &Model, input: &Path, format: Option<Format>) -> Result<Table, Error> {
    let info = &model.data.info;
    let mut fp = data::Fingerprint::default();
    let label_column = info.label_column.as_deref();
    let table = data::read_part(input, format, label_column, Some(info.inputs), &mut fp)?;
    if table.rows() == 0 {
        return Err(data::bad(input, "holds no rows to predict").into());
    }
    data::same_columns(&table, info.columns.as_deref())?;
    if table.inputs() != info.inputs {
        return Err(data::bad(
            input,
            format!(
                "holds samples of {} but the model takes {}",
                data::describe_sample(&table.shape, table.values.dtype()),
                data::describe_sample(&info.shape, info.dtype),
            ),
        )
        .into());
    }
    Ok(table)
}

/// `model`'s predictions for every row of `input`, on `adapter`.
pub fn predict(
    model: &Model,
    input: &Path,
    format: Option<Format>,
    adapter: Option<&str>,
) -> Result<Predictions, Error> {
    let table = read_input(model, input, format)?;
    let info = &model.data.info;
    let labels = match &table.labels {
        Some(l) => Some(data::indices(
            &table,
            l,
            &info.labels,
            "the model was trained on",
        )?),
        None => None,
    };
    let n = table.rows();
    let names = table.names.clone();
    let part = Part {
        labels: labels.clone().unwrap_or_else(|| vec![0; n]),
        values: table.values,
    };
    let ctx = Context::new(adapter)?;
    let kernels = Kernels::new(&ctx)?;
    let resident = Resident::upload(&ctx, &kernels, &part).map_err(|e| ctx.explain(e))?;
    let scorer = model.scorer(&ctx, &kernels, &resident, None)?;
    let (probs, predicted) = scorer.predict().map_err(|e| ctx.explain(e))?;
    Ok(Predictions {
        classes: info.classes.clone(),
        names,
        probs,
        predicted,
        labels,
    })
}
