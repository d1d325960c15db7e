//! Inference with tract: load any ONNX graph tract runs once (every input's datatype and shape
//! declared from the graph, symbolic dimensions kept symbolic, optimised plan) and run it on
//! checked tensors. Recognises classifiers (labels and feature names from `metadata_props`).

mod flatten;
mod optimise;

use std::collections::HashMap;
use std::sync::Arc;

use tract_onnx::pb::tensor_shape_proto::dimension::Value as DimValue;
use tract_onnx::pb::type_proto;
use tract_onnx::prelude::*;

pub use crate::contract::{Task, TensorSpec};
use crate::contract::{BATCH_DIM, FEATURE_NAMES_KEY, LABELS_KEY, OUTPUT_NAME, TASK_KEY};
use crate::tensor::{self, DType};

/// Sets how many threads tract's matrix products use in this process: `1` runs them on the
/// calling thread; more run large products on a thread pool of that size.
///
/// Returns an error message when the pool cannot be started (the caller keeps one thread).
pub fn set_threads(threads: usize) -> Result<(), String> {
    use tract_linalg::multithread::{set_default_executor, Executor};
    if threads <= 1 || cfg!(not(feature = "native")) {
        set_default_executor(Executor::SingleThread);
        return Ok(());
    }
    #[cfg(feature = "native")]
    {
        return multithread(threads);
    }
    #[allow(unreachable_code)]
    Ok(())
}

/// Lets glibc keep freed buffers for reuse instead of returning each to the kernel, for work
/// that allocates the same large buffers over and over: training steps (gradients as large as
/// the weights) and explanations (tract's intermediate tensors for each chunk of coalitions).
///
/// Such buffers are above glibc's adaptive mmap threshold, so each was a fresh mmap, page
/// faults and munmap (BENCHMARKS.md: training and explanation throughput). Process-wide, and
/// it only raises two limits (mmap at most 32 MiB, glibc's ceiling; trim at 512 MiB): the
/// one-shot commands call it, not the long-lived servers, which keep memory returned.
pub fn keep_freed_buffers() {
    #[cfg(all(feature = "native", target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator parameters; both values are within glibc's range.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 32 << 20);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 512 << 20);
    }
}

/// tract's matrix products on a rayon pool of `threads` threads.
#[cfg(feature = "native")]
fn multithread(threads: usize) -> Result<(), String> {
    use tract_linalg::multithread::{set_default_executor, Executor};
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("maas-inference-{i}"))
        .num_threads(threads)
        .build()
        .map_err(|e| format!("cannot start {threads} inference threads: {e}"))?;
    set_default_executor(Executor::MultiThread(Arc::new(pool)));
    // tract threads a matrix-vector product from 2^21 multiply-adds (its default); a decoder's
    // attention projections at one token a step (GPT-2 small: 768 × 768, 2^19.2) then ran on
    // one thread, a third of the weights each step read at one core's bandwidth. A product of
    // 2^18 reads a megabyte of weights, far more time than a dispatch to the pool costs.
    tract_linalg::multithread::set_threading_mac_threshold(1 << 18);
    Ok(())
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    /// The bytes are not an ONNX model tract can read and type.
    #[error("not a loadable ONNX model: {0}")]
    Load(String),
    /// The model is valid ONNX but outside what maas serves (e.g. a STRING input).
    #[error("unsupported model: {0}")]
    Unsupported(String),
    /// Operators tract does not implement, all named.
    #[error("the model uses {}, which tract cannot run: re-export the model without {} (fold preprocessing into the network, use standard ONNX operators) or serve it with another runtime", .operators.join(", "), if .operators.len() == 1 { "it" } else { "them" })]
    UnsupportedOperators {
        /// `operator 'X' (domain)` for each.
        operators: Vec<String>,
    },
    /// Rows of another width than the model's input.
    #[error("the model expects {expected} features per row, got {got}")]
    FeatureCount {
        /// The model's feature count.
        expected: usize,
        /// The rows' width.
        got: usize,
    },
    /// A request tensor that does not fit the model's input (a client error).
    #[error("{0}")]
    Input(String),
    /// tract failed while running the model.
    #[error("model execution failed: {0}")]
    Run(String),
    /// Labels that do not match the class count.
    #[error("{given} labels were given but the model outputs {classes} classes")]
    LabelCount {
        /// Labels given.
        given: usize,
        /// Classes the model outputs.
        classes: usize,
    },
}

/// One dimension of a model input as the graph declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dim {
    Fixed(usize),
    /// A named symbol: inputs sharing it (the batch) must give it the same value.
    Symbol(String),
    /// An expression of symbols the graph names (`past_sequence_length + sequence_length`):
    /// its value follows from the symbols' values on the other inputs.
    Expr(String, TDim),
}

impl Dim {
    /// The dimension as a person reads it: the number, or the symbol or expression.
    fn name(&self) -> Option<String> {
        match self {
            Dim::Fixed(_) => None,
            Dim::Symbol(s) | Dim::Expr(s, _) => Some(s.clone()),
        }
    }
}

/// How a model runs: one optimised plan for every batch size, or, for a graph tract can type
/// only with concrete input shapes, a plan per shape made on first use.
#[derive(Clone)]
enum Plans {
    Symbolic(Arc<TypedRunnableModel>),
    PerShape(Arc<ShapePlans>),
}

/// How many per-shape plans a model keeps (the least recently made goes first).
const SHAPE_PLANS: usize = 8;

/// The values of a model's symbolic dimensions, sorted by symbol: the key of a per-shape plan.
type ShapeKey = Vec<(String, usize)>;

/// tract's values of the graph's symbols, by name.
fn symbol_values<'a>(
    scope: &SymbolScope,
    values: impl IntoIterator<Item = (&'a str, usize)>,
) -> SymbolValues {
    let mut symbol_values = SymbolValues::default();
    for (name, value) in values {
        symbol_values.set(&scope.sym(name), value as i64);
    }
    symbol_values
}

/// The plans of a graph whose shape arithmetic tract cannot follow symbolically (Keras' Flatten
/// casts the input's shape to int32 and back before Reshape): the graph with every input's
/// datatype declared, typed again for each set of values of its symbolic dimensions.
struct ShapePlans {
    /// Why tract could not type the graph with symbolic dimensions.
    reason: String,
    model: InferenceModel,
    declared: Vec<(DType, Vec<Dim>)>,
    cache: std::sync::Mutex<Vec<(ShapeKey, Arc<TypedRunnableModel>)>>,
    built: std::sync::atomic::AtomicUsize,
}

impl ShapePlans {
    /// The graph typed for these symbol values.
    fn typed(&self, values: &HashMap<String, usize>) -> TractResult<TypedModel> {
        let mut model = self.model.clone();
        let symbol_values = symbol_values(
            &model.symbols,
            values.iter().map(|(name, value)| (name.as_str(), *value)),
        );
        for (i, (dtype, dims)) in self.declared.iter().enumerate() {
            let shape: TVec<usize> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => *n,
                    Dim::Symbol(s) => values.get(s).copied().unwrap_or(1),
                    Dim::Expr(_, e) => e
                        .eval(&symbol_values)
                        .to_i64()
                        .map_or(1, |n| n.max(0) as usize),
                })
                .collect();
            model.set_input_fact(i, InferenceFact::dt_shape(dtype.to_tract(), shape))?;
        }
        model.into_typed()
    }

    /// The plan for these symbol values, made and kept on first use.
    fn plan(&self, values: &HashMap<String, usize>) -> TractResult<Arc<TypedRunnableModel>> {
        let mut key: ShapeKey = values.iter().map(|(k, v)| (k.clone(), *v)).collect();
        key.sort();
        if let Ok(cache) = self.cache.lock() {
            if let Some((_, plan)) = cache.iter().find(|(k, _)| *k == key) {
                return Ok(Arc::clone(plan));
            }
        }
        let plan = self.typed(values)?.into_optimized()?.into_runnable()?;
        self.built
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        if let Ok(mut cache) = self.cache.lock() {
            if cache.len() >= SHAPE_PLANS {
                cache.remove(0);
            }
            cache.push((key, Arc::clone(&plan)));
        }
        Ok(plan)
    }
}

/// A model ready to answer: tract's optimised plan plus what callers need to know about it.
///
/// The fields are private: the answer output indexes `outputs` and the labels are one per
/// class of it, so they change only through [`LoadedModel::set_task`] and
/// [`LoadedModel::set_labels`], which check both:
///
/// ```compile_fail
/// # fn f(mut model: maas::inference::LoadedModel) {
/// model.answer = Some(99); // private: an index past the outputs cannot be set
/// # }
/// ```
#[derive(Clone)]
pub struct LoadedModel {
    plans: Plans,
    inputs: Vec<TensorSpec>,
    outputs: Vec<TensorSpec>,
    input_dims: Vec<Vec<Dim>>,
    input_dtypes: Vec<DType>,
    task: Task,
    answer: Option<usize>,
    labels: Vec<String>,
    feature_names: Vec<String>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("inputs", &self.inputs)
            .field("outputs", &self.outputs)
            .field("task", &self.task)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

/// The declared element type and dimensions of a graph input, from the ONNX proto.
fn declared_input(
    input: &tract_onnx::pb::ValueInfoProto,
    position: usize,
    scope: &SymbolScope,
) -> Result<(DType, Vec<Dim>), InferenceError> {
    let unsupported = |what: String| InferenceError::Unsupported(what);
    let Some(type_proto::Value::TensorType(tensor)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(unsupported(format!(
            "input '{}' is not a tensor; maas serves numeric tensors",
            input.name
        )));
    };
    let onnx_type = tract_onnx::pb::tensor_proto::DataType::try_from(tensor.elem_type).ok();
    let dtype = onnx_type.and_then(onnx_dtype).ok_or_else(|| {
        unsupported(format!(
            "input '{}' has element type {}; maas serves numeric tensors ({})",
            input.name,
            onnx_type.map_or_else(
                || tensor.elem_type.to_string(),
                |t| format!("{t:?}").to_uppercase()
            ),
            tensor::DTYPES.map(|d| d.kserve_name()).join(", ")
        ))
    })?;
    let dims = match &tensor.shape {
        Some(shape) => shape
            .dim
            .iter()
            .enumerate()
            .map(|(j, d)| match &d.value {
                Some(DimValue::DimValue(n)) if *n > 0 => Dim::Fixed(*n as usize),
                Some(DimValue::DimParam(p)) if !p.is_empty() && p != "?" => {
                    // tract's own reading of a dim_param: a plain name is a symbol, an
                    // expression (`past_sequence_length + sequence_length`) a TDim of them
                    match tract_onnx::dim_expr::parse_onnx_dim(scope, p) {
                        Ok(TDim::Sym(_)) | Err(_) => Dim::Symbol(p.clone()),
                        Ok(TDim::Val(n)) if n > 0 => Dim::Fixed(n as usize),
                        Ok(e) => Dim::Expr(p.clone(), e),
                    }
                }
                // exporters leave the batch unnamed (skl2onnx) or zero: the first dimension is
                // the shared batch, any other unnamed one is the input's own
                _ if j == 0 => Dim::Symbol(BATCH_DIM.to_string()),
                _ => Dim::Symbol(format!("{}_{position}_{j}", input.name)),
            })
            .collect(),
        None => {
            return Err(unsupported(format!(
                "input '{}' declares no shape; re-export the model with its input shapes",
                input.name
            )))
        }
    };
    Ok((dtype, dims))
}

/// The maas datatype of an ONNX element type.
fn onnx_dtype(t: tract_onnx::pb::tensor_proto::DataType) -> Option<DType> {
    use tract_onnx::pb::tensor_proto::DataType as T;
    Some(match t {
        T::Bool => DType::Bool,
        T::Uint8 => DType::U8,
        T::Uint16 => DType::U16,
        T::Uint32 => DType::U32,
        T::Uint64 => DType::U64,
        T::Int8 => DType::I8,
        T::Int16 => DType::I16,
        T::Int32 => DType::I32,
        T::Int64 => DType::I64,
        T::Float16 => DType::F16,
        T::Float => DType::F32,
        T::Double => DType::F64,
        _ => return None,
    })
}

fn spec_of(name: String, dtype: DType, dims: &[Dim]) -> TensorSpec {
    TensorSpec {
        name,
        dtype: dtype.onnx_name().to_string(),
        shape: dims
            .iter()
            .map(|d| match d {
                Dim::Fixed(n) => *n as i64,
                Dim::Symbol(_) | Dim::Expr(..) => -1,
            })
            .collect(),
        dim_names: dims.iter().map(Dim::name).collect(),
    }
}

/// The maas datatype of a typed output. tract types some integer outputs as `TDim` (values it
/// computes symbolically, such as skl2onnx's class labels through ArgMax and
/// ArrayFeatureExtractor); ONNX declares them int64, and they are answered as int64.
fn output_dtype(dt: DatumType) -> Option<DType> {
    match dt {
        DatumType::TDim => Some(DType::I64),
        dt => DType::from_tract(dt),
    }
}

/// The outputs of a typed graph; with `other` (the same graph typed for other input shapes), a
/// dimension that differs between the two is symbolic (`-1`).
fn output_specs(
    model: &TypedModel,
    other: Option<&TypedModel>,
) -> Result<Vec<TensorSpec>, InferenceError> {
    let load = |e: TractError| InferenceError::Load(format!("{e:#}"));
    let mut outputs = Vec::new();
    for (k, outlet) in model.output_outlets().map_err(load)?.iter().enumerate() {
        let name = model
            .outlet_label(*outlet)
            .unwrap_or(&model.node(outlet.node).name)
            .to_string();
        let fact = model.outlet_fact(*outlet).map_err(load)?;
        let dtype = output_dtype(fact.datum_type).ok_or_else(|| {
            InferenceError::Unsupported(format!(
                "output '{name}' is {:?}; maas serves numeric tensors",
                fact.datum_type
            ))
        })?;
        let other_shape: Option<Vec<i64>> = match other {
            Some(o) => {
                let outlet = o.output_outlets().map_err(load)?[k];
                let fact = o.outlet_fact(outlet).map_err(load)?;
                Some(
                    fact.shape
                        .iter()
                        .map(|d| d.as_i64().unwrap_or(-1))
                        .collect(),
                )
            }
            None => None,
        };
        let shape = fact
            .shape
            .iter()
            .enumerate()
            .map(
                |(j, d)| match (d.as_i64(), other_shape.as_ref().and_then(|s| s.get(j))) {
                    (Some(n), Some(&m)) if n != m => -1,
                    (Some(n), _) => n,
                    (None, _) => -1,
                },
            )
            .collect();
        // a graph typed symbolically names its outputs' dimensions by the inputs' symbols
        let dim_names = match other {
            Some(_) => Vec::new(),
            None => fact
                .shape
                .iter()
                .map(|d| d.as_i64().is_none().then(|| d.to_string()))
                .collect(),
        };
        outputs.push(TensorSpec {
            name,
            dtype: dtype.onnx_name().to_string(),
            shape,
            dim_names,
        });
    }
    Ok(outputs)
}

/// The ONNX protobuf decoded from bytes it may slice: prost takes each tensor's `raw_data` from
/// a `Bytes` without a copy and copies it once into the message. tract's `proto_model_for_read`
/// first copies the file into a buffer of its own, and decoding from a plain slice copies every
/// tensor twice: either way one more copy of the weights in fresh pages at every cold start
/// (BENCHMARKS.md, issue 18).
fn decode_proto(bytes: bytes::Bytes) -> Result<tract_onnx::pb::ModelProto, InferenceError> {
    use prost::Message;
    tract_onnx::pb::ModelProto::decode(bytes).map_err(|e| InferenceError::Load(e.to_string()))
}

impl LoadedModel {
    /// Parses, types and optimises an ONNX model: every input gets the datatype and shape the
    /// graph declares (symbolic dimensions stay symbolic), every numeric output is kept.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InferenceError> {
        let proto = decode_proto(bytes::Bytes::copy_from_slice(bytes))?;
        Self::from_proto(&flatten::onnx(), proto)
    }

    /// As [`LoadedModel::from_bytes`], releasing the file's bytes as soon as they are parsed so
    /// that they never sit in memory beside tract's copy of the weights.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, InferenceError> {
        // the bytes are released with the last slice of them, when decoding ends
        let proto = decode_proto(bytes::Bytes::from(bytes))?;
        Self::from_proto(&flatten::onnx(), proto)
    }

    fn from_proto(
        onnx: &tract_onnx::Onnx,
        proto: tract_onnx::pb::ModelProto,
    ) -> Result<Self, InferenceError> {
        let load = |e: TractError| InferenceError::Load(format!("{e:#}"));
        let metadata = |key: &str| -> Option<String> {
            proto
                .metadata_props
                .iter()
                .find(|p| p.key == key)
                .map(|p| p.value.clone())
        };
        let list = |key: &str| -> Vec<String> {
            metadata(key)
                .and_then(|v| serde_json::from_str(&v).ok())
                .unwrap_or_default()
        };
        let (labels, feature_names) = (list(LABELS_KEY), list(FEATURE_NAMES_KEY));
        let declared_task = metadata(TASK_KEY).and_then(|t| t.parse::<Task>().ok());
        // name every operator tract lacks up front, rather than tract's error for the first
        let mut missing: Vec<String> = Vec::new();
        for node in proto.graph.iter().flat_map(|g| &g.node) {
            if !onnx.op_register.0.contains_key(&node.op_type) {
                let domain = if node.domain.is_empty() {
                    "ai.onnx"
                } else {
                    &node.domain
                };
                let name = format!("operator '{}' ({domain})", node.op_type);
                if !missing.contains(&name) {
                    missing.push(name);
                }
            }
        }
        if !missing.is_empty() {
            return Err(InferenceError::UnsupportedOperators { operators: missing });
        }
        // the inputs as the graph declares them (initializers listed as inputs are weights)
        let graph_inputs: Vec<&tract_onnx::pb::ValueInfoProto> = match proto.graph.as_ref() {
            Some(graph) => {
                let initializers: Vec<&str> =
                    graph.initializer.iter().map(|t| t.name.as_str()).collect();
                graph
                    .input
                    .iter()
                    .filter(|i| !initializers.contains(&i.name.as_str()))
                    .collect()
            }
            None => Vec::new(),
        };
        let mut inference_model = onnx.model_for_proto_model(&proto).map_err(load)?;
        let mut declared = Vec::with_capacity(graph_inputs.len());
        for (position, input) in graph_inputs.iter().enumerate() {
            let dims = declared_input(input, position, &inference_model.symbols)?;
            declared.push((input.name.clone(), dims));
        }
        // tract holds its own copy of the weights from here on
        drop(proto);
        // Declaring every input's type and shape (with the graph's own symbols and expressions)
        // before typing lets tract type graphs whose shapes are computed from the input (Keras'
        // Flatten: Shape -> Reshape) and gives unnamed dimensions a symbol.
        let mut symbols: Vec<String> = Vec::new();
        for (i, (_, (dtype, dims))) in declared.iter().enumerate() {
            let shape: TVec<TDim> = dims
                .iter()
                .map(|d| match d {
                    Dim::Fixed(n) => TDim::from(*n as i64),
                    Dim::Symbol(s) => {
                        if !symbols.contains(s) {
                            symbols.push(s.clone());
                        }
                        TDim::from(inference_model.symbols.sym(s))
                    }
                    Dim::Expr(_, e) => e.clone(),
                })
                .collect();
            inference_model
                .set_input_fact(i, InferenceFact::dt_shape(dtype.to_tract(), shape))
                .map_err(load)?;
        }
        let declared_shapes: Vec<(DType, Vec<Dim>)> =
            declared.iter().map(|(_, d)| d.clone()).collect();
        // the weights are shared, not copied, by this clone: it is kept only if the graph
        // cannot be typed with symbolic dimensions
        // typed and optimised with symbolic dimensions if tract can; a graph whose typing or
        // optimisation needs concrete shapes gets a plan per shape instead
        let symbolic = inference_model.clone().into_typed().and_then(|model| {
            let outputs = output_specs(&model, None).map_err(|e| TractError::msg(e.to_string()))?;
            Ok((optimise::optimised(model)?.into_runnable()?, outputs))
        });
        let (plans, outputs) = match symbolic {
            Ok((plan, outputs)) => (Plans::Symbolic(plan), outputs),
            Err(symbolic) => {
                let shape_plans = ShapePlans {
                    reason: format!("{symbolic:#}"),
                    model: inference_model,
                    declared: declared_shapes,
                    cache: std::sync::Mutex::new(Vec::new()),
                    built: std::sync::atomic::AtomicUsize::new(0),
                };
                let with = |value: usize| -> HashMap<String, usize> {
                    symbols.iter().map(|k| (k.clone(), value)).collect()
                };
                let concrete = |e: TractError| {
                    InferenceError::Load(format!(
                        "{symbolic:#}; with concrete input shapes too: {e:#}"
                    ))
                };
                let one = shape_plans.typed(&with(1)).map_err(concrete)?;
                let two = shape_plans.typed(&with(2)).map_err(concrete)?;
                tracing::info!(error = %format!("{symbolic:#}"), "the graph types only with concrete input shapes: one plan per shape");
                let outputs = output_specs(&one, Some(&two))?;
                (Plans::PerShape(Arc::new(shape_plans)), outputs)
            }
        };
        let inputs: Vec<TensorSpec> = declared
            .iter()
            .map(|(name, (dtype, dims))| spec_of(name.clone(), *dtype, dims))
            .collect();
        let mut loaded = LoadedModel {
            plans,
            input_dtypes: declared.iter().map(|(_, (d, _))| *d).collect(),
            input_dims: declared.into_iter().map(|(_, (_, dims))| dims).collect(),
            inputs,
            outputs,
            task: Task::Tensor,
            answer: None,
            labels: Vec::new(),
            feature_names,
        };
        // a classifier is recognised by its probabilities output, a maas regressor by its
        // metadata; anything else answers plain tensors (`maas publish --task` says otherwise)
        let detected = match declared_task {
            Some(task) => Some((task, None)),
            None if loaded.outputs.iter().any(|o| o.name == OUTPUT_NAME) => {
                Some((Task::Classifier, Some(OUTPUT_NAME.to_string())))
            }
            None => None,
        };
        if let Some((task, output)) = detected {
            loaded.set_task(task, output.as_deref(), labels)?;
        }
        Ok(loaded)
    }

    /// Makes the model a classifier, regressor or plain tensor model answering with `output`
    /// (default: the only float output, or `probabilities`/`predictions` among several). A
    /// classifier's output must be float `[batch, classes]`; `labels` name the classes (default
    /// `0`…`C-1`). A regressor's output must be float `[batch, targets]`.
    pub fn set_task(
        &mut self,
        task: Task,
        output: Option<&str>,
        labels: Vec<String>,
    ) -> Result<(), InferenceError> {
        if matches!(task, Task::Tensor | Task::TextGeneration) {
            self.task = task;
            self.answer = None;
            self.labels = Vec::new();
            return Ok(());
        }
        let index = match output {
            Some(name) => self
                .outputs
                .iter()
                .position(|o| o.name == name)
                .ok_or_else(|| {
                    InferenceError::Unsupported(format!(
                        "the model has no output '{name}'; its outputs are {}",
                        self.output_names()
                    ))
                })?,
            None => {
                let floats: Vec<usize> = (0..self.outputs.len())
                    .filter(|&i| {
                        DType::from_onnx_name(&self.outputs[i].dtype).is_some_and(DType::is_float)
                    })
                    .collect();
                let preferred = ["probabilities", "predictions"];
                match floats.as_slice() {
                    [one] => *one,
                    _ => floats
                        .iter()
                        .copied()
                        .find(|&i| preferred.contains(&self.outputs[i].name.as_str()))
                        .ok_or_else(|| {
                            InferenceError::Unsupported(format!(
                                "name the output the {task} answers with (--output): the model's outputs are {}",
                                self.output_names()
                            ))
                        })?,
                }
            }
        };
        let spec = &self.outputs[index];
        let float = DType::from_onnx_name(&spec.dtype).is_some_and(DType::is_float);
        if !float || spec.shape.len() != 2 {
            return Err(InferenceError::Unsupported(format!(
                "a {task} answers with a float [batch, {}] output; '{}' is {} {:?}",
                if task == Task::Classifier {
                    "classes"
                } else {
                    "targets"
                },
                spec.name,
                spec.dtype,
                spec.shape
            )));
        }
        let width = match spec.shape[1] {
            w if w > 0 => w as usize,
            _ if task == Task::Classifier && !labels.is_empty() => labels.len(),
            _ => {
                return Err(InferenceError::Unsupported(format!(
                    "the output '{}' has shape {:?}; its width must be fixed",
                    spec.name, spec.shape
                )))
            }
        };
        self.labels = if task != Task::Classifier {
            Vec::new()
        } else if labels.len() == width {
            labels
        } else {
            (0..width).map(|i| i.to_string()).collect()
        };
        self.task = task;
        self.answer = Some(index);
        Ok(())
    }

    fn output_names(&self) -> String {
        self.outputs
            .iter()
            .map(|o| format!("'{}'", o.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// The description a store publishes for this model: its signature, task, answer output,
    /// labels and feature names (no metrics or training record).
    pub fn description(&self) -> crate::manifest::ModelDescription {
        crate::manifest::ModelDescription {
            inputs: self.inputs.clone(),
            outputs: self.outputs.clone(),
            task: Some(self.task),
            answer_output: self.answer_output().map(|o| o.name.clone()),
            labels: self.labels.clone(),
            feature_names: self.feature_names.clone(),
            metrics: None,
            regression_metrics: None,
            training: None,
            generation: None,
            background: None,
        }
    }

    /// Every graph input, in the graph's order (`-1` for a symbolic dimension).
    pub fn inputs(&self) -> &[TensorSpec] {
        &self.inputs
    }

    /// Every graph output, in the graph's order.
    pub fn outputs(&self) -> &[TensorSpec] {
        &self.outputs
    }

    /// What the model answers: class probabilities, regression values or plain tensors.
    pub fn task(&self) -> Task {
        self.task
    }

    /// For a classifier or regressor, the index in [`LoadedModel::outputs`] of the output it
    /// answers with.
    pub fn answer_index(&self) -> Option<usize> {
        self.answer
    }

    /// Class labels in output order (`"0"`, `"1"`, … when the model does not name them);
    /// empty unless the model is a classifier.
    pub fn labels(&self) -> &[String] {
        &self.labels
    }

    /// Feature names in input order, when the model carries them.
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// The class count of a classifier (0 otherwise).
    pub fn n_classes(&self) -> usize {
        self.labels.len()
    }

    /// The output a classifier or regressor answers with.
    pub fn answer_output(&self) -> Option<&TensorSpec> {
        self.answer.map(|i| &self.outputs[i])
    }

    /// The single input of a model that takes rows of float32 features: `(spec, features)`.
    /// Rows in JSON, CSV and TF Serving's row format need one.
    pub fn row_input(&self) -> Option<(&TensorSpec, usize)> {
        match (self.inputs.as_slice(), self.input_dims.as_slice()) {
            ([spec], [dims]) if self.input_dtypes[0] == DType::F32 => match dims.as_slice() {
                [Dim::Symbol(_), Dim::Fixed(f)] => Some((spec, *f)),
                _ => None,
            },
            _ => None,
        }
    }

    /// The feature count of a rows model (see [`LoadedModel::row_input`]).
    pub fn n_features(&self) -> Option<usize> {
        self.row_input().map(|(_, f)| f)
    }

    /// Names the classes (a manifest's labels, `--labels`): one label per output class.
    pub fn set_labels(&mut self, labels: Vec<String>) -> Result<(), InferenceError> {
        if labels.len() != self.n_classes() {
            return Err(InferenceError::LabelCount {
                given: labels.len(),
                classes: self.n_classes(),
            });
        }
        self.labels = labels;
        Ok(())
    }

    /// The datatype of input `i`.
    pub fn input_dtype(&self, i: usize) -> DType {
        self.input_dtypes[i]
    }

    /// Checks request tensors against the inputs (in the model's order): datatype, rank,
    /// every fixed dimension, one value for each symbol the inputs share (the batch), and the
    /// value of each dimension declared as an expression of them. A zero-length dimension is
    /// accepted anywhere but the first (an empty batch answers nothing): a decoder's first step
    /// has a past of length 0.
    pub fn check_inputs(
        &self,
        tensors: &[tensor::Tensor],
    ) -> Result<HashMap<String, usize>, InferenceError> {
        if tensors.len() != self.inputs.len() {
            return Err(InferenceError::Input(format!(
                "the model takes {} inputs ({}), got {}",
                self.inputs.len(),
                self.inputs
                    .iter()
                    .map(|i| i.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                tensors.len()
            )));
        }
        let mut bound: HashMap<&str, (usize, &str)> = HashMap::new();
        for ((tensor, spec), dims) in tensors.iter().zip(&self.inputs).zip(&self.input_dims) {
            let name = &spec.name;
            let shape = tensor.shape();
            let expected = DType::from_onnx_name(&spec.dtype);
            if Some(tensor.dtype()) != expected {
                return Err(InferenceError::Input(format!(
                    "input '{name}' is {} but the model takes {}",
                    tensor.dtype(),
                    expected.map_or("an unknown type", DType::kserve_name)
                )));
            }
            if shape.first() == Some(&0) {
                return Err(InferenceError::Input(format!(
                    "the batch is empty: input '{name}' has shape {shape:?}; send at least one row"
                )));
            }
            if shape.len() != dims.len() {
                return Err(InferenceError::Input(format!(
                    "input '{name}' has shape {shape:?} (rank {}) but the model takes rank {} [{}]",
                    shape.len(),
                    dims.len(),
                    spec.dim_labels().join(", ")
                )));
            }
            for (axis, (&got, dim)) in shape.iter().zip(dims).enumerate() {
                match dim {
                    Dim::Fixed(n) if got != *n => {
                        return Err(InferenceError::Input(format!(
                            "input '{name}' has shape {shape:?}; dimension {axis} must be {n} (the model takes [{}])",
                            spec.dim_labels().join(", ")
                        )))
                    }
                    Dim::Symbol(symbol) => match bound.get(symbol.as_str()) {
                        Some(&(value, other)) if value != got => {
                            return Err(InferenceError::Input(format!(
                                "input '{name}' has {got} along '{symbol}' (dimension {axis}) but input '{other}' has {value}: inputs sharing a dimension must agree"
                            )))
                        }
                        Some(_) => {}
                        None => {
                            bound.insert(symbol, (got, name));
                        }
                    },
                    Dim::Fixed(_) | Dim::Expr(..) => {}
                }
            }
        }
        self.check_expressions(tensors, &bound)?;
        Ok(bound
            .into_iter()
            .map(|(symbol, (value, _))| (symbol.to_string(), value))
            .collect())
    }

    /// Checks the dimensions declared as expressions (`past_sequence_length +
    /// sequence_length`) against the values the plain symbols took on the inputs; an
    /// expression of a symbol no input binds is left to tract.
    fn check_expressions(
        &self,
        tensors: &[tensor::Tensor],
        bound: &HashMap<&str, (usize, &str)>,
    ) -> Result<(), InferenceError> {
        let has_expressions = self
            .input_dims
            .iter()
            .flatten()
            .any(|d| matches!(d, Dim::Expr(..)));
        if !has_expressions {
            return Ok(());
        }
        let values = symbol_values(
            &self.symbol_scope(),
            bound.iter().map(|(symbol, (value, _))| (*symbol, *value)),
        );
        for ((tensor, spec), dims) in tensors.iter().zip(&self.inputs).zip(&self.input_dims) {
            for (axis, (&got, dim)) in tensor.shape().iter().zip(dims).enumerate() {
                let Dim::Expr(text, expr) = dim else { continue };
                let Ok(want) = expr.eval(&values).to_i64() else {
                    continue;
                };
                if want != got as i64 {
                    return Err(InferenceError::Input(format!(
                        "input '{}' has {got} along '{text}' (dimension {axis}) but the other inputs make it {want}",
                        spec.name
                    )));
                }
            }
        }
        Ok(())
    }

    /// The scope of the graph's symbols.
    fn symbol_scope(&self) -> SymbolScope {
        match &self.plans {
            Plans::Symbolic(plan) => plan.model().symbols.clone(),
            Plans::PerShape(plans) => plans.model.symbols.clone(),
        }
    }

    /// How many optimised plans loading and running this model has built: 1 for a graph tract
    /// types symbolically (one plan serves every shape), one per set of input shapes otherwise.
    pub fn plans_built(&self) -> usize {
        match &self.plans {
            Plans::Symbolic(_) => 1,
            Plans::PerShape(plans) => plans.built.load(std::sync::atomic::Ordering::Relaxed),
        }
    }

    /// Whether one optimised plan serves every input shape.
    pub fn is_symbolic(&self) -> bool {
        matches!(self.plans, Plans::Symbolic(_))
    }

    /// For a graph typed per input shape, what kept tract from typing it symbolically.
    pub fn per_shape_reason(&self) -> Option<&str> {
        match &self.plans {
            Plans::Symbolic(_) => None,
            Plans::PerShape(plans) => Some(&plans.reason),
        }
    }

    /// Runs the model on checked tensors (in the model's input order) and returns every output.
    pub fn run(&self, tensors: &[tensor::Tensor]) -> Result<Vec<tensor::Tensor>, InferenceError> {
        let symbols = self.check_inputs(tensors)?;
        let run = |e: TractError| InferenceError::Run(format!("{e:#}"));
        let plan = match &self.plans {
            Plans::Symbolic(plan) => Arc::clone(plan),
            Plans::PerShape(plans) => plans.plan(&symbols).map_err(run)?,
        };
        let inputs: TVec<TValue> = tensors
            .iter()
            .map(|t| t.to_tract().map(TValue::from))
            .collect::<Result<_, _>>()
            .map_err(run)?;
        let outputs = plan.run(inputs).map_err(run)?;
        outputs
            .iter()
            .zip(&self.outputs)
            .map(|(value, spec)| {
                let not_numeric = || {
                    InferenceError::Run(format!("output '{}' is not a numeric tensor", spec.name))
                };
                if value.datum_type() == DatumType::TDim {
                    // see output_dtype: answered as the int64 ONNX declares
                    let ints = value.cast_to::<i64>().map_err(|_| not_numeric())?;
                    return tensor::Tensor::from_tract(&ints).ok_or_else(not_numeric);
                }
                tensor::Tensor::from_tract(value).ok_or_else(not_numeric)
            })
            .collect()
    }

    /// Runs the model on tract values as they are, no copy in or out: a decoder's key and
    /// value cache goes from one step's outputs to the next step's inputs (a copy each way
    /// per step otherwise, tens of MB at GPT-2 small's size). For the crate's own callers,
    /// which build their inputs to the graph's signature: unlike [`LoadedModel::run`] nothing
    /// is checked here beyond what tract checks. A model typed per shape runs through
    /// [`LoadedModel::run`].
    #[cfg(feature = "generation")]
    pub(crate) fn run_values(&self, inputs: TVec<TValue>) -> Result<TVec<TValue>, InferenceError> {
        let run = |e: TractError| InferenceError::Run(format!("{e:#}"));
        if let Plans::Symbolic(plan) = &self.plans {
            return plan.run(inputs).map_err(run);
        }
        let tensors = inputs
            .iter()
            .zip(&self.inputs)
            .map(|(value, spec)| {
                tensor::Tensor::from_tract(value).ok_or_else(|| {
                    InferenceError::Input(format!("input '{}' is not numeric", spec.name))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        self.run(&tensors)?
            .iter()
            .map(|t| t.to_tract().map(TValue::from).map_err(run))
            .collect()
    }

    /// Class probabilities (or regression values) `[rows, width]` row-major for `rows` rows
    /// of raw float32 features: the answer output of a rows model.
    pub fn predict(&self, x: &[f32], rows: usize) -> Result<Vec<f32>, InferenceError> {
        let Some((_, features)) = self.row_input() else {
            return Err(InferenceError::Input(
                "this model does not take rows of float32 features; send its inputs by name".into(),
            ));
        };
        let Some(answer) = self.answer else {
            return Err(InferenceError::Input(
                "this model answers tensors, not labelled rows; send its inputs by name".into(),
            ));
        };
        if x.len() != rows * features {
            return Err(InferenceError::FeatureCount {
                expected: features,
                got: x.len() / rows.max(1),
            });
        }
        let input = tensor::Tensor::from_f32(&self.inputs[0].name, vec![rows, features], x)
            .map_err(|e| InferenceError::Input(e.to_string()))?;
        let mut outputs = self.run(std::slice::from_ref(&input))?;
        let values = outputs
            .swap_remove(answer)
            .to_f32()
            .ok_or_else(|| InferenceError::Run("the answer output is not a float tensor".into()))?;
        let width = self.outputs[answer].shape[1].max(1) as usize;
        let width = if self.task == Task::Classifier {
            self.n_classes()
        } else {
            width
        };
        if values.len() != rows * width {
            return Err(InferenceError::Run(format!(
                "the model returned {} values for {rows} rows of {width}",
                values.len(),
            )));
        }
        Ok(values)
    }
}

/// Index of the largest value of each row of row-major `probabilities` (`classes` wide);
/// the first one wins a tie.
pub fn argmax_rows(probabilities: &[f32], classes: usize) -> Vec<u32> {
    probabilities
        .chunks_exact(classes.max(1))
        .map(|row| {
            let mut best = 0;
            for (i, p) in row.iter().enumerate() {
                if *p > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_a_tie() {
        assert_eq!(argmax_rows(&[0.1, 0.8, 0.1, 0.5, 0.5, 0.0], 3), [1, 0]);
    }
}
