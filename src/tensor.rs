//! Tensors as requests carry them and models take them: a datatype (the KServe V2 names), a
//! shape and the values as little-endian bytes. Every way in checks the client's numbers
//! before anything is sized by them: JSON values (flat or nested, range-checked per datatype)
//! and the raw bytes of the KServe binary tensor extension.

use serde_json::{Number, Value};
use tract_onnx::prelude::{f16, DatumType};

/// The element types maas serves: every numeric type tract runs that KServe V2 names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DType {
    /// `BOOL`, one byte, 0 or 1.
    Bool,
    /// `UINT8`.
    U8,
    /// `UINT16`.
    U16,
    /// `UINT32`.
    U32,
    /// `UINT64`.
    U64,
    /// `INT8`.
    I8,
    /// `INT16`.
    I16,
    /// `INT32`.
    I32,
    /// `INT64`.
    I64,
    /// `FP16`, IEEE half precision.
    F16,
    /// `FP32`.
    F32,
    /// `FP64`.
    F64,
}

/// Every datatype, in the order the KServe V2 specification lists them.
pub const DTYPES: [DType; 12] = [
    DType::Bool,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::F16,
    DType::F32,
    DType::F64,
];

impl DType {
    /// The KServe V2 (and Triton) datatype name, e.g. `FP32`.
    pub fn kserve_name(self) -> &'static str {
        match self {
            DType::Bool => "BOOL",
            DType::U8 => "UINT8",
            DType::U16 => "UINT16",
            DType::U32 => "UINT32",
            DType::U64 => "UINT64",
            DType::I8 => "INT8",
            DType::I16 => "INT16",
            DType::I32 => "INT32",
            DType::I64 => "INT64",
            DType::F16 => "FP16",
            DType::F32 => "FP32",
            DType::F64 => "FP64",
        }
    }

    /// The ONNX-style name the manifest records, e.g. `float32`.
    pub fn onnx_name(self) -> &'static str {
        match self {
            DType::Bool => "bool",
            DType::U8 => "uint8",
            DType::U16 => "uint16",
            DType::U32 => "uint32",
            DType::U64 => "uint64",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::I64 => "int64",
            DType::F16 => "float16",
            DType::F32 => "float32",
            DType::F64 => "float64",
        }
    }

    /// The datatype a KServe name names.
    pub fn from_kserve_name(name: &str) -> Option<DType> {
        DTYPES.into_iter().find(|d| d.kserve_name() == name)
    }

    /// The datatype an ONNX-style name names.
    pub fn from_onnx_name(name: &str) -> Option<DType> {
        DTYPES.into_iter().find(|d| d.onnx_name() == name)
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            DType::Bool | DType::U8 | DType::I8 => 1,
            DType::U16 | DType::I16 | DType::F16 => 2,
            DType::U32 | DType::I32 | DType::F32 => 4,
            DType::U64 | DType::I64 | DType::F64 => 8,
        }
    }

    /// Whether the type holds floating-point numbers.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F16 | DType::F32 | DType::F64)
    }

    /// tract's datum type.
    pub fn to_tract(self) -> DatumType {
        match self {
            DType::Bool => DatumType::Bool,
            DType::U8 => DatumType::U8,
            DType::U16 => DatumType::U16,
            DType::U32 => DatumType::U32,
            DType::U64 => DatumType::U64,
            DType::I8 => DatumType::I8,
            DType::I16 => DatumType::I16,
            DType::I32 => DatumType::I32,
            DType::I64 => DatumType::I64,
            DType::F16 => DatumType::F16,
            DType::F32 => DatumType::F32,
            DType::F64 => DatumType::F64,
        }
    }

    /// The datatype of a tract datum type, `None` for strings, blobs, quantized and symbolic types.
    pub fn from_tract(dt: DatumType) -> Option<DType> {
        DTYPES.into_iter().find(|d| d.to_tract() == dt)
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.kserve_name())
    }
}

/// Why a request tensor was refused; each names the tensor and the rule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TensorError {
    /// A shape with a negative dimension.
    #[error("input '{name}': shape {shape:?} has a negative dimension")]
    NegativeDimension {
        /// The tensor.
        name: String,
        /// The shape as sent.
        shape: Vec<i64>,
    },
    /// A shape whose element count does not fit in memory's numbers.
    #[error("input '{name}': shape {shape:?} has more elements than can be counted")]
    ShapeOverflow {
        /// The tensor.
        name: String,
        /// The shape as sent.
        shape: Vec<i64>,
    },
    /// More elements than a request may carry.
    #[error("input '{name}': shape {shape:?} has {elements} elements, more than the limit of {limit} per request")]
    TooManyElements {
        /// The tensor.
        name: String,
        /// The shape as sent.
        shape: Vec<i64>,
        /// Its element count.
        elements: u64,
        /// The limit.
        limit: usize,
    },
    /// The data holds another number of values than the shape.
    #[error("input '{name}' has {found} values but its shape {shape:?} needs {needed}")]
    Count {
        /// The tensor.
        name: String,
        /// Values found (counting stops once past `needed`).
        found: String,
        /// The shape as sent.
        shape: Vec<i64>,
        /// The shape's element count.
        needed: usize,
    },
    /// A value of the wrong kind or out of range for the datatype.
    #[error("input '{name}', {path}: {problem}")]
    Value {
        /// The tensor.
        name: String,
        /// Where the value sits, e.g. `data[0][3]`.
        path: String,
        /// What is wrong with it.
        problem: String,
    },
    /// Binary data of another length than the shape needs.
    #[error("input '{name}': {found} bytes of binary data but shape {shape:?} of {dtype} needs {needed}")]
    ByteCount {
        /// The tensor.
        name: String,
        /// Bytes sent.
        found: usize,
        /// The shape as sent.
        shape: Vec<i64>,
        /// The datatype.
        dtype: DType,
        /// Bytes the shape needs.
        needed: usize,
    },
}

/// A tensor with checked shape and values: `shape`'s product elements of `dtype`, stored as
/// little-endian bytes (tract's own layout on the little-endian machines Lambda runs on).
///
/// The fields are private: [`Tensor::to_tract`] hands the bytes to tract unchecked, so every
/// constructor checks that they hold exactly the shape's element count and that BOOL bytes are
/// 0 or 1, and nothing can change the datatype or the shape afterwards:
///
/// ```compile_fail
/// let mut t = maas::tensor::Tensor::from_f32("x", vec![2], &[1.0, 2.0]).unwrap();
/// t.shape = vec![1 << 20]; // private: a shape larger than the bytes cannot be set
/// ```
///
/// ```compile_fail
/// let mut t = maas::tensor::Tensor::from_f32("x", vec![4], &[1.0, 2.0, 3.0, 4.0]).unwrap();
/// t.dtype = maas::tensor::DType::Bool; // private: f32 bytes cannot be relabelled as BOOL
/// ```
///
/// ```
/// use maas::tensor::{DType, Tensor};
/// // the constructors refuse what to_tract could not take
/// assert!(Tensor::from_f32("x", vec![4], &[1.0, 2.0]).is_err());
/// assert!(Tensor::from_le_bytes("m", DType::Bool, &[4], &[0, 1, 7, 0], 1 << 20).is_err());
/// assert!(Tensor::from_le_bytes("x", DType::F32, &[2], &[0; 4], 1 << 20).is_err());
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    dtype: DType,
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

/// The element count of a client's shape, checked: no negative dimension, no overflow, within
/// `limit`. Nothing is allocated from a shape before this passes.
pub fn checked_elements(name: &str, shape: &[i64], limit: usize) -> Result<usize, TensorError> {
    // counted in u64 whatever the target: a 32-bit usize (the edge worker's wasm32) must give
    // the same answers as a 64-bit server
    let mut elements: u64 = 1;
    for &d in shape {
        let d = u64::try_from(d).map_err(|_| TensorError::NegativeDimension {
            name: name.to_string(),
            shape: shape.to_vec(),
        })?;
        elements = elements
            .checked_mul(d)
            .ok_or_else(|| TensorError::ShapeOverflow {
                name: name.to_string(),
                shape: shape.to_vec(),
            })?;
    }
    match usize::try_from(elements) {
        Ok(counted) if counted <= limit => Ok(counted),
        _ => Err(TensorError::TooManyElements {
            name: name.to_string(),
            shape: shape.to_vec(),
            elements,
            limit,
        }),
    }
}

/// A shape already checked by [`checked_elements`], as `usize` dimensions.
fn dims(shape: &[i64]) -> Vec<usize> {
    shape.iter().map(|&d| d.max(0) as usize).collect()
}

impl Tensor {
    /// A tensor from little-endian bytes, e.g. the KServe binary extension's, checked against
    /// the shape's size (a BOOL byte must be 0 or 1).
    pub fn from_le_bytes(
        name: &str,
        dtype: DType,
        shape: &[i64],
        bytes: &[u8],
        limit: usize,
    ) -> Result<Tensor, TensorError> {
        let elements = checked_elements(name, shape, limit)?;
        let needed = elements * dtype.size();
        if bytes.len() != needed {
            return Err(TensorError::ByteCount {
                name: name.to_string(),
                found: bytes.len(),
                shape: shape.to_vec(),
                dtype,
                needed,
            });
        }
        if dtype == DType::Bool {
            if let Some(i) = bytes.iter().position(|&b| b > 1) {
                return Err(TensorError::Value {
                    name: name.to_string(),
                    path: format!("element {i}"),
                    problem: format!("byte {} is not a BOOL (0 or 1)", bytes[i]),
                });
            }
        }
        Ok(Tensor {
            dtype,
            shape: dims(shape),
            bytes: bytes.to_vec(),
        })
    }

    /// A tensor from a JSON list of values, flat or nested in any way (row-major), each
    /// checked for the datatype: integers must be whole and in range, floats finite and within
    /// the type's range, BOOL `true` or `false`. Counting stops as soon as the data holds more
    /// values than the shape, so a long list allocates no more than the shape allows.
    pub fn from_json(
        name: &str,
        dtype: DType,
        shape: &[i64],
        data: &Value,
        limit: usize,
    ) -> Result<Tensor, TensorError> {
        let elements = checked_elements(name, shape, limit)?;
        // the shape is the client's claim: the buffer grows with the values actually sent
        let mut bytes = Vec::with_capacity(elements.min(4096) * dtype.size());
        let mut count = 0usize;
        let mut path = String::from("data");
        let mut context = JsonContext {
            name,
            dtype,
            needed: elements,
            shape,
        };
        context.flatten(data, &mut path, &mut bytes, &mut count)?;
        if count != elements {
            return Err(context.count_error(count.to_string()));
        }
        Ok(Tensor {
            dtype,
            shape: dims(shape),
            bytes,
        })
    }

    /// A tensor from tract's output (`None` for a datatype maas does not serve).
    pub fn from_tract(tensor: &tract_onnx::prelude::Tensor) -> Option<Tensor> {
        let dtype = DType::from_tract(tensor.datum_type())?;
        let bytes = tensor.as_bytes();
        // tract's tensors hold their shape's elements; checked all the same, as to_tract relies
        // on it
        let elements: Option<usize> = tensor
            .shape()
            .iter()
            .try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements?.checked_mul(dtype.size())? != bytes.len()
            || (dtype == DType::Bool && bytes.iter().any(|&b| b > 1))
        {
            return None;
        }
        Some(Tensor {
            dtype,
            shape: tensor.shape().to_vec(),
            bytes: bytes.to_vec(),
        })
    }

    /// The element type.
    pub fn dtype(&self) -> DType {
        self.dtype
    }

    /// The dimensions.
    pub fn shape(&self) -> &[usize] {
        &self.shape
    }

    /// tract's tensor of the same values.
    pub fn to_tract(&self) -> tract_onnx::prelude::TractResult<tract_onnx::prelude::Tensor> {
        // SAFETY: `bytes` holds exactly the shape's element count of `dtype` (every constructor
        // checks it and the fields are private), every bit pattern is a valid value of the
        // numeric types, and BOOL bytes were checked to be 0 or 1 when the tensor was made.
        unsafe {
            tract_onnx::prelude::Tensor::from_raw_dt(
                self.dtype.to_tract(),
                &self.shape,
                &self.bytes,
            )
        }
    }

    /// The element count.
    pub fn len(&self) -> usize {
        self.bytes.len() / self.dtype.size()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// The values as little-endian bytes, as the binary extension sends them.
    pub fn le_bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The values as a flat JSON list (BOOL as `true`/`false`, FP16 widened to a JSON number).
    pub fn json_data(&self) -> Vec<Value> {
        let size = self.dtype.size();
        self.bytes
            .chunks_exact(size)
            .map(|b| element_json(self.dtype, b))
            .collect()
    }

    /// The values as f32 (what classifiers and regressors answer in), when the tensor holds
    /// floats.
    pub fn to_f32(&self) -> Option<Vec<f32>> {
        let size = self.dtype.size();
        let chunks = self.bytes.chunks_exact(size);
        match self.dtype {
            DType::F32 => Some(
                chunks
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect(),
            ),
            DType::F64 => Some(
                chunks
                    .map(|b| {
                        f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]) as f32
                    })
                    .collect(),
            ),
            DType::F16 => Some(
                chunks
                    .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
                    .collect(),
            ),
            _ => None,
        }
    }

    /// An int64 tensor of `values` (row-major) with `shape`, refused when the shape's element
    /// count is not the number of values: token ids, masks and positions.
    pub fn from_i64(
        shape: Vec<usize>,
        values: impl IntoIterator<Item = i64>,
    ) -> Result<Tensor, TensorError> {
        let bytes: Vec<u8> = values.into_iter().flat_map(i64::to_le_bytes).collect();
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements.and_then(|e| e.checked_mul(8)) != Some(bytes.len()) {
            return Err(TensorError::Count {
                name: "int64 tensor".to_string(),
                found: (bytes.len() / 8).to_string(),
                shape: shape.iter().map(|&d| d as i64).collect(),
                needed: elements.unwrap_or(usize::MAX),
            });
        }
        Ok(Tensor {
            dtype: DType::I64,
            shape,
            bytes,
        })
    }

    /// A float32 tensor of `values` (row-major) with `shape`, refused when the shape's
    /// element count is not the number of values.
    pub fn from_f32(name: &str, shape: Vec<usize>, values: &[f32]) -> Result<Tensor, TensorError> {
        let elements = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d));
        if elements != Some(values.len()) {
            return Err(TensorError::Count {
                name: name.to_string(),
                found: values.len().to_string(),
                shape: shape.iter().map(|&d| d as i64).collect(),
                needed: elements.unwrap_or(usize::MAX),
            });
        }
        Ok(Tensor {
            dtype: DType::F32,
            shape,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        })
    }
}

/// How a JSON value is named in an error message: `a string`, `a list`, …
pub(crate) fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// One element's bytes as JSON.
fn element_json(dtype: DType, b: &[u8]) -> Value {
    let float = |v: f64| Number::from_f64(v).map_or(Value::Null, Value::Number);
    match dtype {
        DType::Bool => Value::Bool(b[0] != 0),
        DType::U8 => Value::from(b[0]),
        DType::I8 => Value::from(b[0] as i8),
        DType::U16 => Value::from(u16::from_le_bytes([b[0], b[1]])),
        DType::I16 => Value::from(i16::from_le_bytes([b[0], b[1]])),
        DType::U32 => Value::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        DType::I32 => Value::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]])),
        DType::U64 => Value::from(u64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ])),
        DType::I64 => Value::from(i64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ])),
        DType::F16 => float(f16::from_le_bytes([b[0], b[1]]).to_f64()),
        DType::F32 => float(f32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f64),
        DType::F64 => float(f64::from_le_bytes([
            b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
        ])),
    }
}

/// What flattening one tensor's JSON data needs to know.
struct JsonContext<'a> {
    name: &'a str,
    dtype: DType,
    needed: usize,
    shape: &'a [i64],
}

impl JsonContext<'_> {
    fn count_error(&self, found: String) -> TensorError {
        TensorError::Count {
            name: self.name.to_string(),
            found,
            shape: self.shape.to_vec(),
            needed: self.needed,
        }
    }

    fn value_error(&self, path: &str, problem: String) -> TensorError {
        TensorError::Value {
            name: self.name.to_string(),
            path: path.to_string(),
            problem,
        }
    }

    fn flatten(
        &mut self,
        value: &Value,
        path: &mut String,
        out: &mut Vec<u8>,
        count: &mut usize,
    ) -> Result<(), TensorError> {
        let Value::Array(items) = value else {
            return Err(self.value_error(
                path,
                format!("is {}, expected a list of values", json_kind(value)),
            ));
        };
        for (i, item) in items.iter().enumerate() {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            if item.is_array() {
                self.flatten(item, path, out, count)?;
            } else {
                if *count == self.needed {
                    return Err(self.count_error(format!("more than {}", self.needed)));
                }
                self.push(item, path, out)?;
                *count += 1;
            }
            path.truncate(len);
        }
        Ok(())
    }

    /// Appends one JSON value as the datatype's bytes, or says why it does not fit.
    fn push(&self, item: &Value, path: &str, out: &mut Vec<u8>) -> Result<(), TensorError> {
        let dtype = self.dtype;
        if dtype == DType::Bool {
            return match item {
                Value::Bool(b) => {
                    out.push(*b as u8);
                    Ok(())
                }
                other => Err(self.value_error(
                    path,
                    format!("is {}, expected true or false (BOOL)", json_kind(other)),
                )),
            };
        }
        let Value::Number(n) = item else {
            return Err(self.value_error(
                path,
                format!("is {}, expected a number ({dtype})", json_kind(item)),
            ));
        };
        if dtype.is_float() {
            let v = n.as_f64().unwrap_or(f64::NAN);
            let fits = match dtype {
                DType::F16 => f16::from_f64(v).is_finite(),
                DType::F32 => (v as f32).is_finite(),
                _ => v.is_finite(),
            };
            if !fits {
                return Err(self.value_error(path, format!("{n} is not a finite {dtype} number")));
            }
            match dtype {
                DType::F16 => out.extend_from_slice(&f16::from_f64(v).to_le_bytes()),
                DType::F32 => out.extend_from_slice(&(v as f32).to_le_bytes()),
                _ => out.extend_from_slice(&v.to_le_bytes()),
            }
            return Ok(());
        }
        // integers: whole numbers within the type's range; 2.0 is taken as 2, 1.5 is refused
        let whole: Option<i128> = if let Some(i) = n.as_i64() {
            Some(i as i128)
        } else if let Some(u) = n.as_u64() {
            Some(u as i128)
        } else {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1.8e19)
                .map(|f| f as i128)
        };
        let Some(whole) = whole else {
            return Err(self.value_error(path, format!("{n} is not a whole number ({dtype})")));
        };
        let out_of_range = || self.value_error(path, format!("{n} is out of range for {dtype}"));
        macro_rules! put {
            ($t:ty) => {
                out.extend_from_slice(
                    &<$t>::try_from(whole)
                        .map_err(|_| out_of_range())?
                        .to_le_bytes(),
                )
            };
        }
        match dtype {
            DType::U8 => put!(u8),
            DType::U16 => put!(u16),
            DType::U32 => put!(u32),
            DType::U64 => put!(u64),
            DType::I8 => put!(i8),
            DType::I16 => put!(i16),
            DType::I32 => put!(i32),
            DType::I64 => put!(i64),
            DType::Bool | DType::F16 | DType::F32 | DType::F64 => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const LIMIT: usize = 1 << 20;

    #[test]
    fn names_round_trip() {
        for d in DTYPES {
            assert_eq!(DType::from_kserve_name(d.kserve_name()), Some(d));
            assert_eq!(DType::from_onnx_name(d.onnx_name()), Some(d));
            assert_eq!(DType::from_tract(d.to_tract()), Some(d));
        }
        assert_eq!(DType::from_kserve_name("BYTES"), None);
    }

    #[test]
    fn json_values_are_checked_for_their_type() {
        let t =
            Tensor::from_json("x", DType::I64, &[2, 2], &json!([[1, 2], [3, 4.0]]), LIMIT).unwrap();
        assert_eq!(t.json_data(), vec![json!(1), json!(2), json!(3), json!(4)]);
        let e = Tensor::from_json("ids", DType::I64, &[1], &json!([1.5]), LIMIT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 'ids', data[0]: 1.5 is not a whole number (INT64)"
        );
        let e = Tensor::from_json("ids", DType::I32, &[1], &json!([1e30]), LIMIT).unwrap_err();
        assert!(
            e.to_string().contains("is not a whole number")
                || e.to_string().contains("out of range"),
            "{e}"
        );
        let e = Tensor::from_json("b", DType::U8, &[2], &json!([1, 256]), LIMIT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 'b', data[1]: 256 is out of range for UINT8"
        );
        let e = Tensor::from_json("x", DType::F32, &[1], &json!([1e39]), LIMIT).unwrap_err();
        assert!(e.to_string().contains("is not a finite FP32 number"), "{e}");
        let e = Tensor::from_json("m", DType::Bool, &[1], &json!([1]), LIMIT).unwrap_err();
        assert!(e.to_string().contains("expected true or false"), "{e}");
        let t = Tensor::from_json("m", DType::Bool, &[2], &json!([true, false]), LIMIT).unwrap();
        assert_eq!(t.le_bytes(), [1, 0]);
        let t = Tensor::from_json("h", DType::F16, &[1], &json!([0.5]), LIMIT).unwrap();
        assert_eq!(t.json_data(), vec![json!(0.5)]);
    }

    #[test]
    fn shapes_are_checked_before_anything_is_sized_by_them() {
        let e = Tensor::from_json(
            "x",
            DType::F32,
            &[4294967296, 4294967296, 16],
            &json!([]),
            usize::MAX,
        )
        .unwrap_err();
        assert!(matches!(e, TensorError::ShapeOverflow { .. }), "{e}");
        let e = Tensor::from_json("x", DType::F32, &[1 << 40], &json!([]), LIMIT).unwrap_err();
        assert!(matches!(e, TensorError::TooManyElements { .. }), "{e}");
        let e = Tensor::from_json("x", DType::F32, &[-1, 2], &json!([]), LIMIT).unwrap_err();
        assert!(matches!(e, TensorError::NegativeDimension { .. }), "{e}");
        let e = Tensor::from_json("x", DType::F32, &[2], &json!([1, 2, 3]), LIMIT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 'x' has more than 2 values but its shape [2] needs 2"
        );
        let e = Tensor::from_json("x", DType::F32, &[3], &json!([1, 2]), LIMIT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 'x' has 2 values but its shape [3] needs 3"
        );
    }

    #[test]
    fn raw_bytes_are_checked_and_reach_tract_unchanged() {
        let values = [1.5f32, -2.0, 3.25, 4.0];
        let bytes: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        let t = Tensor::from_le_bytes("x", DType::F32, &[2, 2], &bytes, LIMIT).unwrap();
        let tract = t.to_tract().unwrap();
        assert_eq!(tract.shape(), [2, 2]);
        let view = tract.to_plain_array_view::<f32>().unwrap();
        assert_eq!(view.iter().copied().collect::<Vec<_>>(), values);
        assert_eq!(Tensor::from_tract(&tract).unwrap(), t);
        let e = Tensor::from_le_bytes("x", DType::F32, &[2, 2], &bytes[..15], LIMIT).unwrap_err();
        assert_eq!(
            e.to_string(),
            "input 'x': 15 bytes of binary data but shape [2, 2] of FP32 needs 16"
        );
        let e = Tensor::from_le_bytes("m", DType::Bool, &[2], &[1, 7], LIMIT).unwrap_err();
        assert!(e.to_string().contains("byte 7 is not a BOOL"), "{e}");
    }
}
