//! model.safetensors: the trained network with PyTorch `nn.Sequential` state_dict names,
//! and in its `__metadata__`, under the one key `mlp_gpu` (one, so that the header's bytes
//! are the same every time), what a model alone needs to predict: a JSON object with the
//! format, the run's settings (`config`) and its data (`data`: input shape, class names,
//! normalisation).

use super::FolderError;
use crate::config::TrainConfig;
use crate::data::DataRecord;
use crate::gpu::network::Weights;
use crate::model::{state_dict, Home, NamedTensor, ParamLayout, StateLayout};
use safetensors::tensor::{Dtype, TensorView};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;

const KEY: &str = "mlp_gpu";
const FORMAT: &str = "mlp-gpu model 1";

/// What a model file says of itself: the run's settings and data (models from before 0.2
/// say nothing: their run's config.json says it instead).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct ModelMeta {
    pub format: String,
    pub config: TrainConfig,
    pub data: DataRecord,
}

/// A model's metadata: the run's settings and data.
pub fn metadata(c: &TrainConfig, data: &DataRecord) -> HashMap<String, String> {
    let meta = ModelMeta {
        format: FORMAT.into(),
        config: c.clone(),
        data: data.clone(),
    };
    let json = serde_json::to_string(&meta).expect("plain data");
    HashMap::from([(KEY.to_string(), json)])
}

/// The bytes of the model file at `path`, read once for its metadata and its tensors.
pub fn read(path: &Path) -> Result<Vec<u8>, FolderError> {
    std::fs::read(path).map_err(|e| FolderError::invalid(path, format!("cannot read: {e}")))
}

/// The metadata of model file `bytes` (read from `path`), if it has mlp-gpu's.
pub fn metadata_of(path: &Path, bytes: &[u8]) -> Result<Option<ModelMeta>, FolderError> {
    let fail = |problem: String| FolderError::invalid(path, problem);
    let (_, header) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| fail(format!("not a valid safetensors file: {e}")))?;
    let Some(json) = header.metadata().as_ref().and_then(|m| m.get(KEY)) else {
        return Ok(None);
    };
    let meta: ModelMeta =
        serde_json::from_str(json).map_err(|e| fail(format!("its metadata does not read: {e}")))?;
    if meta.format != FORMAT {
        return Err(fail(format!(
            "is a model of format {}, not {FORMAT}",
            meta.format
        )));
    }
    Ok(Some(meta))
}

/// The model as safetensors bytes: `weights` (parameters, saved state) after `batches`
/// steps, with `metadata`.
pub fn model_bytes(
    layout: &ParamLayout,
    state: &StateLayout,
    dropout: bool,
    weights: &Weights,
    batches: i64,
    metadata: HashMap<String, String>,
) -> Vec<u8> {
    let (params, st) = (&weights.0, &weights.1);
    let tracked = batches.to_le_bytes();
    let data: Vec<(String, Vec<u8>, Vec<usize>, Dtype)> = state_dict(layout, state, dropout)
        .into_iter()
        .map(|t| {
            let (bytes, dtype) = match t.home {
                Home::Steps => (tracked.to_vec(), Dtype::I64),
                Home::Params => (
                    bytemuck::cast_slice(&params[t.range()]).to_vec(),
                    Dtype::F32,
                ),
                Home::State => (bytemuck::cast_slice(&st[t.range()]).to_vec(), Dtype::F32),
            };
            (t.name, bytes, t.shape, dtype)
        })
        .collect();
    let views: Vec<(String, TensorView<'_>)> = data
        .iter()
        .map(|(name, bytes, shape, dtype)| {
            (
                name.clone(),
                TensorView::new(*dtype, shape.clone(), bytes).expect("sizes agree"),
            )
        })
        .collect();
    safetensors::serialize(views, Some(metadata)).expect("tensors serialise")
}

/// The little-endian f32 values of a safetensors F32 tensor's bytes.
pub fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().expect("4 bytes")))
        .collect()
}

/// Parameters and state (running statistics) from model file `bytes` (read from `path`)
/// made for this layout.
pub fn load_model(
    path: &Path,
    bytes: &[u8],
    layout: &ParamLayout,
    state: &StateLayout,
    dropout: bool,
) -> Result<(Vec<f32>, Vec<f32>), FolderError> {
    let fail = |problem: String| FolderError::invalid(path, problem);
    let file = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| fail(format!("not a valid safetensors file: {e}")))?;
    let mut params = vec![0.0f32; layout.len];
    let mut st = state.init(layout);
    let names = state_dict(layout, state, dropout);
    if file.len() != names.len() {
        return Err(fail(format!(
            "holds {} tensors but config.json describes a network with {}",
            file.len(),
            names.len()
        )));
    }
    for NamedTensor {
        name,
        shape,
        home,
        at,
    } in names
    {
        let t = file.tensor(&name).map_err(|_| {
            fail(format!(
                "has no tensor {name}; config.json and the weights are from different networks"
            ))
        })?;
        if t.shape() != shape.as_slice() {
            return Err(fail(format!(
                "tensor {name} has shape {:?}, the config needs {shape:?}",
                t.shape()
            )));
        }
        let dst = match home {
            Home::Steps => continue,
            Home::Params => &mut params,
            Home::State => &mut st,
        };
        if t.dtype() != Dtype::F32 {
            return Err(fail(format!(
                "tensor {name} is {:?}, expected F32",
                t.dtype()
            )));
        }
        let values = f32s(t.data());
        dst[at..at + values.len()].copy_from_slice(&values);
    }
    Ok((params, st))
}
