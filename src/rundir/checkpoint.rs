//! checkpoint.safetensors: all a run needs to go on exactly where it stopped, written
//! atomically after every epoch. The random streams need no state of their own: an epoch's
//! shuffle follows from (seed, epoch) and dropout masks from (seed, step), so the position
//! is the number of epochs and steps done.

use super::atomic::write_atomic;
use super::{EpochMetrics, FolderError};
use safetensors::tensor::{Dtype, TensorView};
use std::collections::HashMap;
use std::path::Path;

const FORMAT: &str = "mlp-gpu checkpoint 1";

#[derive(Clone, Debug, PartialEq)]
pub struct Checkpoint {
    pub epochs_done: usize,
    pub steps_done: u32,
    pub params: Vec<f32>,
    /// Optimizer moments and batch-norm running statistics (the state buffer before its
    /// per-step loss slots).
    pub state: Vec<f32>,
    pub metrics: Vec<EpochMetrics>,
}

pub fn save(path: &Path, c: &Checkpoint) -> Result<(), FolderError> {
    let metrics: Vec<String> = c
        .metrics
        .iter()
        .map(|m| serde_json::to_string(m).expect("plain data"))
        .collect();
    let meta = HashMap::from([
        ("format".to_string(), FORMAT.to_string()),
        ("epochs_done".to_string(), c.epochs_done.to_string()),
        ("steps_done".to_string(), c.steps_done.to_string()),
        ("metrics".to_string(), format!("[{}]", metrics.join(","))),
    ]);
    let tensors = [("params", &c.params), ("state", &c.state)].map(|(name, v)| {
        let view = TensorView::new(Dtype::F32, vec![v.len()], bytemuck::cast_slice(v))
            .expect("sizes agree");
        (name, view)
    });
    let bytes = safetensors::serialize(tensors, Some(meta)).expect("tensors serialise");
    write_atomic(path, &bytes)
}

/// The checkpoint at `path` if there is one, checked against the run's sizes.
pub fn load(path: &Path, params: usize, state: usize) -> Result<Option<Checkpoint>, FolderError> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(FolderError::invalid(path, format!("cannot read: {e}"))),
    };
    let bad = |problem: &str| {
        FolderError::invalid(path, format!("{problem}; delete it to start the run over"))
    };
    let (_, header) = safetensors::SafeTensors::read_metadata(&bytes)
        .map_err(|e| bad(&format!("not a valid checkpoint: {e}")))?;
    let file = safetensors::SafeTensors::deserialize(&bytes)
        .map_err(|e| bad(&format!("not a valid checkpoint: {e}")))?;
    let meta = header.metadata().clone().unwrap_or_default();
    if meta.get("format").map(String::as_str) != Some(FORMAT) {
        return Err(bad("not an mlp-gpu checkpoint"));
    }
    let number = |key: &str| {
        meta.get(key)
            .and_then(|v| v.parse::<u64>().ok())
            .ok_or_else(|| bad(&format!("no {key}")))
    };
    let tensor = |name: &str, len: usize| {
        let t = file
            .tensor(name)
            .map_err(|_| bad(&format!("no tensor {name}")))?;
        if t.dtype() != Dtype::F32 || t.shape() != [len] {
            return Err(bad(&format!(
                "tensor {name} does not fit this run's network; it is from another"
            )));
        }
        Ok(super::model_file::f32s(t.data()))
    };
    let metrics: Vec<EpochMetrics> = meta
        .get("metrics")
        .and_then(|m| serde_json::from_str(m).ok())
        .ok_or_else(|| bad("no metrics"))?;
    let epochs_done = number("epochs_done")? as usize;
    if metrics.len() != epochs_done {
        return Err(bad("its metrics do not match its epoch count"));
    }
    Ok(Some(Checkpoint {
        epochs_done,
        steps_done: u32::try_from(number("steps_done")?).map_err(|_| bad("bad steps_done"))?,
        params: tensor("params", params)?,
        state: tensor("state", state)?,
        metrics,
    }))
}

/// The epochs done by the checkpoint at `path`: 0 when there is none or it cannot be read
/// (resuming then reports why).
pub fn epochs_done(path: &Path) -> usize {
    let Ok(bytes) = std::fs::read(path) else {
        return 0;
    };
    safetensors::SafeTensors::read_metadata(&bytes)
        .ok()
        .and_then(|(_, h)| h.metadata().clone())
        .and_then(|m| m.get("epochs_done").and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}
