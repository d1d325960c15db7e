//! How a decoder-only ONNX graph takes its inputs, found from the names and shapes Hugging Face
//! optimum gives them (`optimum-cli export onnx --task text-generation-with-past`): the token
//! ids, the attention mask, optional position ids, and for each layer the key and value cache
//! of the tokens before (`past_key_values.{i}.key|value`, answered as `present.{i}.key|value`).

use crate::contract::TensorSpec;
use crate::inference::LoadedModel;

/// Why a graph is not a decoder maas can generate with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LayoutError {
    #[error("not a text-generation model: it has no input '{0}' (a decoder exported by optimum with --task text-generation-with-past takes input_ids, attention_mask and past_key_values.N.key|value)")]
    MissingInput(&'static str),
    #[error("not a text-generation model: it has no output '{0}'")]
    MissingOutput(String),
    #[error("not a text-generation model without a KV cache: it has no past_key_values.N.key|value inputs (export it with --task text-generation-with-past)")]
    NoCache,
    #[error("input '{name}' is {dtype} {shape:?}; a decoder takes {expected}")]
    BadInput {
        name: String,
        dtype: String,
        shape: Vec<i64>,
        expected: &'static str,
    },
    #[error("the cache inputs are not numbered 0 to {layers} with a key and a value each (found {found})")]
    Layers { layers: usize, found: String },
}

/// Where each input of a decoder sits in the model's input order, and the cache's shape.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderLayout {
    input_ids: usize,
    attention_mask: usize,
    position_ids: Option<usize>,
    /// Per layer, the input index of the past key and past value.
    past: Vec<(usize, usize)>,
    /// Per layer, the output index of the present key and present value.
    present: Vec<(usize, usize)>,
    logits: usize,
    kv_heads: usize,
    head_dim: usize,
    /// Float type of the cache (`float32` or `float16`).
    cache_dtype: String,
}

fn find(specs: &[TensorSpec], name: &str) -> Option<usize> {
    specs.iter().position(|s| s.name == name)
}

/// An int64 input of rank 2 (`[batch_size, length]`).
fn id_input(specs: &[TensorSpec], name: &'static str) -> Result<Option<usize>, LayoutError> {
    let Some(i) = find(specs, name) else {
        return Ok(None);
    };
    let spec = &specs[i];
    if spec.dtype != "int64" || spec.shape.len() != 2 {
        return Err(LayoutError::BadInput {
            name: spec.name.clone(),
            dtype: spec.dtype.clone(),
            shape: spec.shape.clone(),
            expected: "int64 [batch_size, sequence_length]",
        });
    }
    Ok(Some(i))
}

impl DecoderLayout {
    /// The layout of `model`, or what keeps it from being a decoder.
    pub fn detect(model: &LoadedModel) -> Result<DecoderLayout, LayoutError> {
        let (inputs, outputs) = (model.inputs(), model.outputs());
        let input_ids =
            id_input(inputs, "input_ids")?.ok_or(LayoutError::MissingInput("input_ids"))?;
        let attention_mask = id_input(inputs, "attention_mask")?
            .ok_or(LayoutError::MissingInput("attention_mask"))?;
        let position_ids = id_input(inputs, "position_ids")?;
        let logits =
            find(outputs, "logits").ok_or_else(|| LayoutError::MissingOutput("logits".into()))?;
        let cache: Vec<&TensorSpec> = inputs
            .iter()
            .filter(|s| s.name.starts_with("past_key_values."))
            .collect();
        if cache.is_empty() {
            return Err(LayoutError::NoCache);
        }
        let layers = cache.len() / 2;
        let mut past = Vec::with_capacity(layers);
        let mut present = Vec::with_capacity(layers);
        for layer in 0..layers {
            let key = find(inputs, &format!("past_key_values.{layer}.key"));
            let value = find(inputs, &format!("past_key_values.{layer}.value"));
            let (Some(key), Some(value)) = (key, value) else {
                return Err(LayoutError::Layers {
                    layers: layers.saturating_sub(1),
                    found: cache
                        .iter()
                        .map(|s| s.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            };
            past.push((key, value));
            let out = |kind: &str| {
                let name = format!("present.{layer}.{kind}");
                find(outputs, &name).ok_or(LayoutError::MissingOutput(name))
            };
            present.push((out("key")?, out("value")?));
        }
        if cache.len() != 2 * layers {
            return Err(LayoutError::Layers {
                layers: layers.saturating_sub(1),
                found: cache.len().to_string() + " cache inputs",
            });
        }
        // [batch_size, kv_heads, past_sequence_length, head_dim], heads and width fixed
        let first = &inputs[past[0].0];
        let fixed = |axis: usize| first.shape.get(axis).and_then(|&d| usize::try_from(d).ok());
        let (Some(kv_heads), Some(head_dim), true, true) = (
            fixed(1),
            fixed(3),
            first.shape.len() == 4,
            matches!(first.dtype.as_str(), "float32" | "float16"),
        ) else {
            return Err(LayoutError::BadInput {
                name: first.name.clone(),
                dtype: first.dtype.clone(),
                shape: first.shape.clone(),
                expected: "float32 [batch_size, heads, past_sequence_length, head_dim] with fixed heads and head_dim",
            });
        };
        Ok(DecoderLayout {
            input_ids,
            attention_mask,
            position_ids,
            past,
            present,
            logits,
            kv_heads,
            head_dim,
            cache_dtype: first.dtype.clone(),
        })
    }

    /// Transformer layers (key and value cache pairs).
    pub fn layers(&self) -> usize {
        self.past.len()
    }

    pub(crate) fn input_ids(&self) -> usize {
        self.input_ids
    }

    pub(crate) fn attention_mask(&self) -> usize {
        self.attention_mask
    }

    pub(crate) fn position_ids(&self) -> Option<usize> {
        self.position_ids
    }

    pub(crate) fn past(&self) -> &[(usize, usize)] {
        &self.past
    }

    pub(crate) fn present(&self) -> &[(usize, usize)] {
        &self.present
    }

    pub(crate) fn logits(&self) -> usize {
        self.logits
    }

    /// The cache's `[1, heads, 0, head_dim]` shape before the first token.
    pub(crate) fn empty_cache_shape(&self) -> Vec<usize> {
        vec![1, self.kv_heads, 0, self.head_dim]
    }

    pub(crate) fn cache_is_f16(&self) -> bool {
        self.cache_dtype == "float16"
    }
}
