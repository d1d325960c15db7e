//! ONNX export of a trained network, written with `tract_onnx::pb` and prost.
//!
//! A classifier: `input [batch, F]` → (Gemm → Relu)* → Gemm → Softmax → `probabilities [batch, C]`;
//! a regressor ends at the last Gemm, `predictions [batch, T]` in the targets' units. The
//! training rows' standardisation is folded into the first Gemm's weights and bias, so callers
//! send raw features. Names and metadata keys follow [`crate::contract`].

use prost::Message;
use tract_onnx::pb;
use tract_onnx::pb::tensor_proto::DataType;

use crate::contract::{
    Task, BATCH_DIM, FEATURE_NAMES_KEY, INPUT_NAME, IR_VERSION, LABELS_KEY, OPSET, OUTPUT_NAME,
    REGRESSION_OUTPUT_NAME, TARGETS_KEY, TASK_KEY,
};
use crate::training::{DenseLayer, Standardizer, TrainedModel};

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error("the model has {model} classes but {labels} labels were given")]
    LabelCount { model: usize, labels: usize },
    #[error("the model has {model} targets but {names} target names were given")]
    TargetCount { model: usize, names: usize },
    #[error("the model has {model} features but {names} feature names were given")]
    FeatureCount { model: usize, names: usize },
}

/// Serialises `model` as ONNX bytes; the same model always gives the same bytes. `labels`
/// names a classifier's classes or a regressor's targets, in output order.
pub fn to_onnx(
    model: &TrainedModel,
    labels: &[String],
    feature_names: &[String],
) -> Result<Vec<u8>, ExportError> {
    let (f, c) = (model.n_features(), model.n_outputs());
    let regression = model.task == Task::Regression;
    if labels.len() != c {
        return Err(if regression {
            ExportError::TargetCount {
                model: c,
                names: labels.len(),
            }
        } else {
            ExportError::LabelCount {
                model: c,
                labels: labels.len(),
            }
        });
    }
    let output = if regression {
        REGRESSION_OUTPUT_NAME
    } else {
        OUTPUT_NAME
    };
    if feature_names.len() != f {
        return Err(ExportError::FeatureCount {
            model: f,
            names: feature_names.len(),
        });
    }
    let mut initializer = Vec::new();
    let mut node = Vec::new();
    let mut current = INPUT_NAME.to_string();
    let last = model.layers.len().saturating_sub(1);
    for (i, layer) in model.layers.iter().enumerate() {
        let (w, b) = (format!("dense{i}.weight"), format!("dense{i}.bias"));
        // the standardisation rides in the first layer: callers send raw features, and the
        // graph has no element-wise Sub/Div over every input value (a third of tract's time
        // at batch 256 when they were separate nodes)
        let (weight, bias) = if i == 0 {
            fold_standardizer(layer, &model.standardizer)
        } else {
            (layer.weight.clone(), layer.bias.clone())
        };
        initializer.push(float_tensor(&w, &[layer.inputs, layer.outputs], &weight));
        initializer.push(float_tensor(&b, &[layer.outputs], &bias));
        let out = if i == last {
            (if regression { output } else { "logits" }).to_string()
        } else {
            format!("dense{i}")
        };
        node.push(op("Gemm", &[&current, &w, &b], &out, vec![]));
        current = out;
        if i != last {
            let relu = format!("relu{i}");
            node.push(op("Relu", &[&current], &relu, vec![]));
            current = relu;
        }
    }
    if !regression {
        node.push(op(
            "Softmax",
            &[&current],
            OUTPUT_NAME,
            vec![pb::AttributeProto {
                name: "axis".into(),
                r#type: pb::attribute_proto::AttributeType::Int as i32,
                i: 1,
                ..Default::default()
            }],
        ));
    }

    let json = |v: &[String]| serde_json::to_string(v).unwrap_or_else(|_| "[]".into());
    let entry = |key: &str, value: String| pb::StringStringEntryProto {
        key: key.into(),
        value,
    };
    // a classifier's metadata stays as it was before maas trained regressors (no task key:
    // its `probabilities` output says what it is), so its bytes do not change
    let metadata_props = if regression {
        vec![
            entry(TASK_KEY, Task::Regression.to_string()),
            entry(TARGETS_KEY, json(labels)),
            entry(FEATURE_NAMES_KEY, json(feature_names)),
        ]
    } else {
        vec![
            entry(LABELS_KEY, json(labels)),
            entry(FEATURE_NAMES_KEY, json(feature_names)),
        ]
    };
    let hidden = model
        .layers
        .iter()
        .take(last)
        .map(|l| l.outputs.to_string())
        .collect::<Vec<_>>()
        .join(" -> ");
    let proto = pb::ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![pb::OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "maas".into(),
        producer_version: crate::MAAS_VERSION.into(),
        doc_string: if regression {
            format!("MLP regressor: {f} raw features (standardisation folded into the first layer) -> {hidden} -> {c} values in the targets' units")
        } else {
            format!("MLP classifier: {f} raw features (standardisation folded into the first layer) -> {hidden} -> {c} class probabilities")
        },
        graph: Some(pb::GraphProto {
            name: "maas_mlp".into(),
            node,
            initializer,
            input: vec![value_info(INPUT_NAME, f)],
            output: vec![value_info(output, c)],
            ..Default::default()
        }),
        metadata_props,
        ..Default::default()
    };
    Ok(proto.encode_to_vec())
}

/// The first layer's weights and bias for raw features: with `x' = (x - mean) / scale`,
/// `x' · W + b = x · (W / scale) + (b - (mean / scale) · W)`, computed in f64 and rounded once.
fn fold_standardizer(layer: &DenseLayer, standardizer: &Standardizer) -> (Vec<f32>, Vec<f32>) {
    let outputs = layer.outputs;
    let mut weight = Vec::with_capacity(layer.weight.len());
    let mut shift = vec![0f64; outputs];
    for ((row, &mean), &scale) in layer
        .weight
        .chunks_exact(outputs)
        .zip(&standardizer.mean)
        .zip(&standardizer.scale)
    {
        let (mean, scale) = (mean as f64, scale as f64);
        for (w, s) in row.iter().zip(shift.iter_mut()) {
            let folded = *w as f64 / scale;
            weight.push(folded as f32);
            *s += mean * folded;
        }
    }
    let bias = layer
        .bias
        .iter()
        .zip(&shift)
        .map(|(&b, s)| (b as f64 - s) as f32)
        .collect();
    (weight, bias)
}

fn op(
    op_type: &str,
    inputs: &[&str],
    output: &str,
    attribute: Vec<pb::AttributeProto>,
) -> pb::NodeProto {
    pb::NodeProto {
        name: output.to_string(),
        op_type: op_type.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.to_string()],
        attribute,
        ..Default::default()
    }
}

/// A float32 initializer stored as little-endian `raw_data`.
fn float_tensor(name: &str, dims: &[usize], values: &[f32]) -> pb::TensorProto {
    pb::TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: DataType::Float as i32,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

/// A float32 `[batch, width]` graph input or output.
fn value_info(name: &str, width: usize) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let dim = |value| Dimension {
        value: Some(value),
        ..Default::default()
    };
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type: DataType::Float as i32,
                shape: Some(pb::TensorShapeProto {
                    dim: vec![
                        dim(Value::DimParam(BATCH_DIM.into())),
                        dim(Value::DimValue(width as i64)),
                    ],
                }),
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inference::LoadedModel;
    use crate::training::{tiny_model, tiny_regressor};

    #[test]
    fn export_reloads_with_its_metadata_and_matches_the_trainer() {
        let model = tiny_model();
        let labels = vec!["no".to_string(), "yes".to_string()];
        let names = vec!["a".to_string(), "b".to_string()];
        let onnx = to_onnx(&model, &labels, &names).unwrap();
        assert_eq!(onnx, to_onnx(&model, &labels, &names).unwrap());
        let loaded = LoadedModel::from_bytes(&onnx).unwrap();
        assert_eq!(loaded.labels(), labels);
        assert_eq!(loaded.feature_names(), names);
        assert_eq!(loaded.inputs()[0].shape, [-1, 2]);
        assert_eq!(loaded.outputs()[0].name, OUTPUT_NAME);
        let x = [1.0, 2.0, 9.0, 3.0, 4.0, 10.0];
        let reference = model.predict(&x).unwrap();
        let exported = loaded.predict(&x, 3).unwrap();
        assert_eq!(exported.len(), reference.len());
        for (a, b) in exported.iter().zip(&reference) {
            assert!((a - b).abs() <= 1e-5, "{exported:?} vs {reference:?}");
        }
    }

    #[test]
    fn a_regressor_exports_its_values_in_the_targets_units() {
        let model = tiny_regressor();
        let targets = vec!["price".to_string(), "rate".to_string()];
        let names = vec!["a".to_string(), "b".to_string()];
        let onnx = to_onnx(&model, &targets, &names).unwrap();
        let loaded = LoadedModel::from_bytes(&onnx).unwrap();
        assert_eq!(loaded.task(), Task::Regression);
        assert_eq!(loaded.outputs().len(), 1);
        assert_eq!(loaded.outputs()[0].name, REGRESSION_OUTPUT_NAME);
        assert_eq!(loaded.outputs()[0].shape, [-1, 2]);
        assert!(loaded.labels().is_empty());
        let x = [1.0, 2.0, 9.0, 3.0];
        let reference = model.predict(&x).unwrap();
        let exported = loaded.predict(&x, 2).unwrap();
        // the first target is in the hundreds: answered unscaled, not standardised
        assert!(reference[0] > 100.0, "{reference:?}");
        for (a, b) in exported.iter().zip(&reference) {
            assert!(
                (a - b).abs() <= 1e-5 * b.abs().max(1.0),
                "{exported:?} vs {reference:?}"
            );
        }
        let err = to_onnx(&model, &targets[..1], &names).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the model has 2 targets but 1 target names were given"
        );
    }

    #[test]
    fn a_label_count_that_disagrees_with_the_model_is_refused() {
        let model = tiny_model();
        let labels = vec!["no".to_string()];
        let names = vec!["a".to_string(), "b".to_string()];
        let err = to_onnx(&model, &labels, &names).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the model has 2 classes but 1 labels were given"
        );
    }
}
