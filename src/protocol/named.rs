//! Named tensors in JSON, the form every model takes: `{"name": nested or flat values, ...}` in,
//! `{"name": {"datatype", "shape", "data"}}` out. Shared by the native route and `maas predict`.

use serde::Serialize;
use serde_json::{Map, Value};

use super::InputError;
use crate::inference::LoadedModel;
use crate::tensor::{checked_elements, Tensor};

/// One output as the native route answers it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NamedOutput {
    /// The KServe datatype.
    pub datatype: &'static str,
    /// Its dimensions.
    pub shape: Vec<usize>,
    /// The values, nested by the shape.
    pub data: Value,
}

/// The dimensions of a nested JSON list, checked to be rectangular; a flat list is `[len]`.
fn nested_shape(value: &Value, name: &str) -> Result<Vec<usize>, InputError> {
    let mut shape = Vec::new();
    let mut level = value;
    while let Value::Array(items) = level {
        shape.push(items.len());
        match items.first() {
            Some(first) => level = first,
            None => break,
        }
    }
    // every branch must have the same lengths: walked once, bounded by the values present
    fn check(
        value: &Value,
        shape: &[usize],
        path: &mut String,
        name: &str,
    ) -> Result<(), InputError> {
        match (value, shape.split_first()) {
            (Value::Array(items), Some((&len, rest))) => {
                if items.len() != len {
                    return Err(InputError::Invalid(format!(
                        "input '{name}': {path} has {} items where its siblings have {len}; nested data must be rectangular",
                        items.len()
                    )));
                }
                for (i, item) in items.iter().enumerate() {
                    let at = path.len();
                    path.push_str(&format!("[{i}]"));
                    check(item, rest, path, name)?;
                    path.truncate(at);
                }
                Ok(())
            }
            (Value::Array(_), None) => Err(InputError::Invalid(format!(
                "input '{name}': {path} is nested deeper than its siblings"
            ))),
            (_, Some(_)) => Err(InputError::Invalid(format!(
                "input '{name}': {path} is a value where its siblings are lists"
            ))),
            (_, None) => Ok(()),
        }
    }
    check(value, &shape, &mut String::from("data"), name)?;
    Ok(shape)
}

/// The tensors of `{"name": values, ...}` in the model's input order. Nested values give their
/// shape; a flat list fills the model's shape, its one symbolic dimension (the batch) taken
/// from the length.
pub fn tensors_from_named(
    named: &Map<String, Value>,
    model: &LoadedModel,
    max_elements: usize,
) -> Result<Vec<Tensor>, InputError> {
    if let Some(unknown) = named
        .keys()
        .find(|k| !model.inputs().iter().any(|i| &i.name == *k))
    {
        return Err(InputError::Invalid(format!(
            "unknown input '{unknown}': the model's inputs are {}",
            model
                .inputs()
                .iter()
                .map(|i| format!("'{}'", i.name))
                .collect::<Vec<_>>()
                .join(", ")
        )));
    }
    let mut tensors = Vec::with_capacity(model.inputs().len());
    for (position, spec) in model.inputs().iter().enumerate() {
        let value = named.get(&spec.name).ok_or_else(|| {
            InputError::Invalid(format!(
                "missing input '{}' ({} {:?})",
                spec.name, spec.dtype, spec.shape
            ))
        })?;
        let nested = nested_shape(value, &spec.name)?;
        let shape: Vec<i64> = if nested.len() == spec.shape.len() || spec.shape.len() <= 1 {
            nested.iter().map(|&d| d as i64).collect()
        } else if nested.len() == 1 {
            // a flat list: the model's shape with its one open dimension from the length
            let fixed: Vec<i64> = spec.shape.iter().copied().filter(|&d| d > 0).collect();
            let open = spec.shape.len() - fixed.len();
            let per_item = fixed
                .iter()
                .try_fold(1usize, |acc, &d| acc.checked_mul(d as usize));
            match (open, per_item) {
                (1, Some(per_item)) if per_item > 0 && nested[0] % per_item == 0 => spec
                    .shape
                    .iter()
                    .map(|&d| if d > 0 { d } else { (nested[0] / per_item) as i64 })
                    .collect(),
                _ => {
                    return Err(InputError::Invalid(format!(
                        "input '{}': a flat list of {} values does not fill shape {:?}; send the values nested",
                        spec.name, nested[0], spec.shape
                    )))
                }
            }
        } else {
            nested.iter().map(|&d| d as i64).collect()
        };
        checked_elements(&spec.name, &shape, max_elements)?;
        tensors.push(Tensor::from_json(
            &spec.name,
            model.input_dtype(position),
            &shape,
            value,
            max_elements,
        )?);
    }
    Ok(tensors)
}

/// Nests flat values by `shape` (row-major): `[1, 2, 3, 4]` with `[2, 2]` is `[[1, 2], [3, 4]]`.
pub fn nest(values: Vec<Value>, shape: &[usize]) -> Value {
    fn build(values: &mut std::vec::IntoIter<Value>, shape: &[usize]) -> Value {
        match shape.split_first() {
            None => values.next().unwrap_or(Value::Null),
            Some((&n, rest)) => Value::Array((0..n).map(|_| build(values, rest)).collect()),
        }
    }
    build(&mut values.into_iter(), shape)
}

/// An output tensor in the native form.
pub fn named_output(tensor: &Tensor) -> NamedOutput {
    NamedOutput {
        datatype: tensor.dtype().kserve_name(),
        shape: tensor.shape().to_vec(),
        data: nest(tensor.json_data(), tensor.shape()),
    }
}
