//! Explanation requests and answers in each protocol's shape: native `/explain` and KServe
//! V1 `:explain` (rows and fields), KServe V2 `/explain` (a V2 request with `parameters`, an
//! answer of `attributions` `[rows, features, outputs]` and `base_value` tensors).

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::{Batch, InputError};
use crate::explain::{Background, Groups, Method, Outputs, RowExplanation, Settings, MAX_SAMPLES};
use crate::inference::LoadedModel;

/// What a caller may ask of an explanation: fields of the native and V1 requests, `parameters`
/// of a V2 request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct ExplainParameters {
    /// `exact` or `kernel` (default: exact up to 14 features or groups, kernel beyond).
    #[serde(default)]
    pub method: Option<Value>,
    /// KernelSHAP's coalitions (default `2 × features + 2048`).
    #[serde(default)]
    pub samples: Option<Value>,
    /// KernelSHAP's seed (default 0).
    #[serde(default)]
    pub seed: Option<Value>,
    /// Which outputs: a list of class labels or indices, or `"predicted"` (default: all).
    #[serde(default)]
    pub outputs: Option<Value>,
    /// Features gathered into groups: a list of lists of feature indices or names covering
    /// each feature once.
    #[serde(default)]
    pub groups: Option<Value>,
}

/// `POST /explain` and `POST /v1/models/{name}:explain`: rows and the parameters beside them.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RowsExplainRequest {
    /// Native: rows of features.
    #[serde(default)]
    pub inputs: Option<Value>,
    /// KServe V1: rows of features.
    #[serde(default)]
    pub instances: Option<Value>,
    #[serde(default)]
    pub method: Option<Value>,
    #[serde(default)]
    pub samples: Option<Value>,
    #[serde(default)]
    pub seed: Option<Value>,
    #[serde(default)]
    pub outputs: Option<Value>,
    #[serde(default)]
    pub groups: Option<Value>,
}

impl RowsExplainRequest {
    /// The rows, from `field` (`inputs` or `instances`), checked against the model's width.
    pub fn rows(&self, field: &str, features: usize) -> Result<Batch, InputError> {
        let value = match field {
            "instances" => &self.instances,
            _ => &self.inputs,
        };
        let other = if field == "instances" {
            &self.inputs
        } else {
            &self.instances
        };
        if other.is_some() {
            return Err(InputError::Invalid(format!(
                "send the rows as \"{field}\" on this route"
            )));
        }
        let value = value.as_ref().ok_or_else(|| {
            InputError::Invalid(format!(
                "the request has no \"{field}\": send rows of features"
            ))
        })?;
        Batch::from_json_rows(value, features, field)
    }

    /// The fields that set the explanation.
    pub fn parameters(&self) -> ExplainParameters {
        ExplainParameters {
            method: self.method.clone(),
            samples: self.samples.clone(),
            seed: self.seed.clone(),
            outputs: self.outputs.clone(),
            groups: self.groups.clone(),
        }
    }
}

impl ExplainParameters {
    /// A V2 request's `parameters` (other keys, such as `binary_data_output`, are left alone).
    pub fn from_v2(parameters: Option<&Map<String, Value>>) -> ExplainParameters {
        let get = |key: &str| parameters.and_then(|p| p.get(key)).cloned();
        ExplainParameters {
            method: get("method"),
            samples: get("samples"),
            seed: get("seed"),
            outputs: get("outputs"),
            groups: get("groups"),
        }
    }

    /// The settings these ask for, checked against the model.
    pub fn settings(&self, model: &LoadedModel, features: usize) -> Result<Settings, InputError> {
        let groups = match &self.groups {
            None | Some(Value::Null) => Groups::each(features),
            Some(value) => groups(&listish(value, "groups")?, model, features)?,
        };
        let players = groups.len();
        let method = match text(&self.method, "method")?.as_deref() {
            None => Method::for_features(players),
            Some("exact") => Method::Exact,
            Some("kernel") => Method::Kernel {
                samples: (2 * players + 2048).min(MAX_SAMPLES),
                seed: 0,
            },
            Some(other) => {
                return Err(InputError::Invalid(format!(
                    "unknown method \"{other}\": use \"exact\" or \"kernel\""
                )))
            }
        };
        let method = match method {
            Method::Kernel { samples, seed } => Method::Kernel {
                samples: whole(&self.samples, "samples")?
                    .map_or(samples, |n| usize::try_from(n).unwrap_or(usize::MAX)),
                seed: whole(&self.seed, "seed")?.unwrap_or(seed),
            },
            Method::Exact => {
                if self.samples.is_some() {
                    return Err(InputError::Invalid(
                        "samples set a KernelSHAP budget; the exact method evaluates every coalition (send method \"kernel\")".into(),
                    ));
                }
                Method::Exact
            }
        };
        method
            .check(players)
            .map_err(|e| InputError::Invalid(e.to_string()))?;
        let outputs = match &self.outputs {
            None | Some(Value::Null) => Outputs::All,
            Some(Value::String(s)) if s == "predicted" => Outputs::Predicted,
            Some(value) => Outputs::Chosen(
                listish(value, "outputs")?
                    .iter()
                    .map(|v| output_place(v, model))
                    .collect::<Result<_, _>>()?,
            ),
        };
        if matches!(&outputs, Outputs::Chosen(c) if c.is_empty()) {
            return Err(InputError::Invalid(
                "outputs is empty: name at least one output".into(),
            ));
        }
        Ok(Settings {
            method,
            groups,
            outputs,
        })
    }
}

/// A list, or a string holding a JSON list or comma-separated items (V2 parameters are
/// scalars for some clients).
fn listish(value: &Value, what: &str) -> Result<Vec<Value>, InputError> {
    match value {
        Value::Array(items) => Ok(items.clone()),
        Value::String(s) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Array(items)) => Ok(items),
            _ => Ok(s
                .split(',')
                .map(|item| Value::String(item.trim().to_string()))
                .collect()),
        },
        other => Err(InputError::Invalid(format!(
            "{what} is {}, expected a list",
            super::json_kind(other)
        ))),
    }
}

fn text(value: &Option<Value>, what: &str) -> Result<Option<String>, InputError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(other) => Err(InputError::Invalid(format!(
            "{what} is {}, expected a string",
            super::json_kind(other)
        ))),
    }
}

fn whole(value: &Option<Value>, what: &str) -> Result<Option<u64>, InputError> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            .map(Some)
            .ok_or_else(|| InputError::Invalid(format!("{what} must be a whole number, got {v}"))),
    }
}

/// The place of an output named by label or index.
fn output_place(value: &Value, model: &LoadedModel) -> Result<usize, InputError> {
    let width = answer_width(model);
    let labels = output_names(model);
    let place = match value {
        Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
        Value::String(s) => labels.iter().position(|l| l == s),
        _ => None,
    };
    place.filter(|p| *p < width).ok_or_else(|| {
        InputError::Invalid(format!(
            "the model has no output {value}; its outputs are {}",
            labels.join(", ")
        ))
    })
}

/// Outputs of the model's answer: its classes, or its regression targets.
fn answer_width(model: &LoadedModel) -> usize {
    match model.n_classes() {
        0 => model
            .answer_output()
            .and_then(|o| o.shape.get(1).copied())
            .map_or(1, |w| w.max(1) as usize),
        classes => classes,
    }
}

/// The names of the answer's outputs: class labels, else the target indices.
pub fn output_names(model: &LoadedModel) -> Vec<String> {
    match model.labels() {
        [] => (0..answer_width(model)).map(|i| i.to_string()).collect(),
        labels => labels.to_vec(),
    }
}

/// The name of feature `i`.
fn feature_name(model: &LoadedModel, i: usize) -> String {
    model
        .feature_names()
        .get(i)
        .cloned()
        .unwrap_or_else(|| i.to_string())
}

fn groups(items: &[Value], model: &LoadedModel, features: usize) -> Result<Groups, InputError> {
    let mut members = Vec::with_capacity(items.len());
    for (g, item) in items.iter().enumerate() {
        let Value::Array(list) = item else {
            return Err(InputError::Invalid(format!(
                "groups[{g}] is {}, expected a list of feature indices or names",
                super::json_kind(item)
            )));
        };
        let mut group = Vec::with_capacity(list.len());
        for member in list {
            let place = match member {
                Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
                Value::String(s) => model.feature_names().iter().position(|f| f == s),
                _ => None,
            };
            group.push(place.ok_or_else(|| {
                InputError::Invalid(format!(
                    "groups[{g}] names {member}, which is not a feature of the model (0 to {})",
                    features.saturating_sub(1)
                ))
            })?);
        }
        members.push(group);
    }
    Groups::new(&members, features).map_err(|e| InputError::Invalid(e.to_string()))
}

/// The players' names: each feature's, or a group's members joined by `+`.
fn player_names(model: &LoadedModel, settings: &Settings) -> Vec<String> {
    let groups = &settings.groups;
    let mut names = vec![Vec::new(); groups.len()];
    for f in 0..groups.features() {
        if let Some(members) = names.get_mut(groups.of(f)) {
            members.push(feature_name(model, f));
        }
    }
    names.into_iter().map(|m| m.join("+")).collect()
}

/// The method's fields as answers echo them.
fn method_fields(settings: &Settings, background: &Background) -> Map<String, Value> {
    let mut fields = Map::new();
    match settings.method {
        Method::Exact => {
            fields.insert("method".into(), json!("exact"));
        }
        Method::Kernel { samples, seed } => {
            fields.insert("method".into(), json!("kernel"));
            fields.insert("samples".into(), json!(samples));
            fields.insert("seed".into(), json!(seed));
        }
    }
    fields.insert("background_rows".into(), json!(background.len()));
    fields
}

/// One row's explanation as the native and V1 answers give it.
fn row_json(model: &LoadedModel, names: &[String], row: &RowExplanation) -> Value {
    let e = &row.explanation;
    let labels = output_names(model);
    let attributions: Vec<Vec<f64>> = (0..e.features())
        .map(|i| (0..e.outputs()).map(|k| e.value(i, k)).collect())
        .collect();
    json!({
        "outputs": row.outputs.iter().map(|&p| labels.get(p).cloned().unwrap_or_else(|| p.to_string())).collect::<Vec<_>>(),
        "prediction": e.prediction(),
        "base_value": e.base(),
        "features": names,
        "attributions": attributions,
        "additivity_error": e.additivity_error(),
        "model_rows": e.model_rows(),
    })
}

/// The native `/explain` answer.
pub fn native_response(
    model: &LoadedModel,
    model_name: &str,
    model_version: Option<u64>,
    settings: &Settings,
    background: &Background,
    rows: &[RowExplanation],
) -> Value {
    let names = player_names(model, settings);
    let mut answer = Map::new();
    answer.insert("model_name".into(), json!(model_name));
    answer.insert("model_version".into(), json!(model_version));
    answer.extend(method_fields(settings, background));
    answer.insert(
        "explanations".into(),
        rows.iter().map(|r| row_json(model, &names, r)).collect(),
    );
    Value::Object(answer)
}

/// KServe V1's `:explain` answer: `predictions` (each row's answer, as `:predict` gives it)
/// and `explanations`.
pub fn v1_response(
    model: &LoadedModel,
    settings: &Settings,
    background: &Background,
    predictions: Vec<Vec<f32>>,
    rows: &[RowExplanation],
) -> Value {
    let names = player_names(model, settings);
    let mut answer = Map::new();
    answer.insert("predictions".into(), json!(predictions));
    answer.extend(method_fields(settings, background));
    answer.insert(
        "explanations".into(),
        rows.iter().map(|r| row_json(model, &names, r)).collect(),
    );
    Value::Object(answer)
}

/// KServe V2's `/explain` answer: `attributions` FP64 `[rows, features, outputs]`,
/// `base_value` and `prediction` FP64 `[rows, outputs]`, `output_index` INT64 `[rows,
/// outputs]` (the answer's places explained); `parameters` echo the method, the background's
/// rows, the features' names, the largest additivity error and the model rows evaluated.
pub fn v2_response(
    model: &LoadedModel,
    model_name: &str,
    model_version: Option<u64>,
    id: Option<String>,
    settings: &Settings,
    background: &Background,
    rows: &[RowExplanation],
) -> Value {
    let n = rows.len();
    let players = settings.groups.len();
    let outputs = rows.first().map_or(0, |r| r.explanation.outputs());
    let mut attributions = Vec::with_capacity(n * players * outputs);
    let (mut base, mut prediction, mut places) = (Vec::new(), Vec::new(), Vec::new());
    for row in rows {
        attributions.extend_from_slice(row.explanation.values());
        base.extend_from_slice(row.explanation.base());
        prediction.extend_from_slice(row.explanation.prediction());
        places.extend(row.outputs.iter().map(|&p| p as i64));
    }
    let mut parameters = method_fields(settings, background);
    parameters.insert(
        "additivity_error".into(),
        json!(rows
            .iter()
            .map(|r| r.explanation.additivity_error())
            .fold(0.0, f64::max)),
    );
    parameters.insert(
        "model_rows".into(),
        json!(rows
            .iter()
            .map(|r| r.explanation.model_rows())
            .sum::<usize>()),
    );
    parameters.insert(
        "features".into(),
        json!(player_names(model, settings).join(",")),
    );
    let tensor = |name: &str, datatype: &str, shape: Vec<usize>, data: Value| json!({"name": name, "datatype": datatype, "shape": shape, "data": data});
    let mut answer = json!({
        "model_name": model_name,
        "model_version": model_version.map(|v| v.to_string()),
        "parameters": parameters,
        "outputs": [
            tensor("attributions", "FP64", vec![n, players, outputs], json!(attributions)),
            tensor("base_value", "FP64", vec![n, outputs], json!(base)),
            tensor("prediction", "FP64", vec![n, outputs], json!(prediction)),
            tensor("output_index", "INT64", vec![n, outputs], json!(places)),
        ],
    });
    if let (Some(id), Some(object)) = (id, answer.as_object_mut()) {
        object.insert("id".into(), json!(id));
    }
    answer
}
