//! `preprocessor_config.json`: the Hugging Face image-processor form a model declares its
//! preprocessing in (the file ONNX exports on the Hub ship beside `model.onnx`), parsed into
//! the subset maas applies and checked key by key, so that a file asking for something else is
//! refused at publish rather than applied differently from training.

use serde_json::{Map, Value};

use super::decode::MIN_IMAGE_SIDE;
use super::PreprocessorError;

/// The attachment that holds a version's preprocessing.
pub const PREPROCESSOR_FILE: &str = "preprocessor_config.json";

/// Keys that describe the file rather than the preprocessing: read past.
const DESCRIPTIVE_KEYS: [&str; 4] = [
    "image_processor_type",
    "feature_extractor_type",
    "processor_class",
    "_processor_class",
];

/// The keys maas applies, in transformers' order of the steps.
pub(super) const APPLIED_KEYS: [&str; 11] = [
    "do_resize",
    "size",
    "resample",
    "do_center_crop",
    "crop_size",
    "do_rescale",
    "rescale_factor",
    "do_normalize",
    "image_mean",
    "image_std",
    "do_convert_rgb",
];

/// Resampling filters by PIL's numbering, as `resample` gives them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resample {
    /// 0.
    Nearest,
    /// 1 (PIL's `LANCZOS`, three lobes).
    Lanczos,
    /// 2.
    Bilinear,
    /// 3.
    Bicubic,
    /// 4.
    Box,
    /// 5.
    Hamming,
}

impl Resample {
    fn from_pil(code: u64) -> Option<Resample> {
        Some(match code {
            0 => Resample::Nearest,
            1 => Resample::Lanczos,
            2 => Resample::Bilinear,
            3 => Resample::Bicubic,
            4 => Resample::Box,
            5 => Resample::Hamming,
            _ => return None,
        })
    }

    /// Its name in messages and `maas models show`.
    pub fn name(self) -> &'static str {
        match self {
            Resample::Nearest => "nearest",
            Resample::Lanczos => "lanczos",
            Resample::Bilinear => "bilinear",
            Resample::Bicubic => "bicubic",
            Resample::Box => "box",
            Resample::Hamming => "hamming",
        }
    }
}

/// Where the resize goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// `{"height", "width"}`: exactly this size (the aspect ratio is not kept).
    Exact { height: u32, width: u32 },
    /// `{"shortest_edge"}`: the shorter side to this length, the longer in proportion
    /// (truncated, as transformers' `get_resize_output_image_size` does).
    ShortestEdge(u32),
}

impl Size {
    /// The size an image of `height` × `width` is resized to.
    pub fn target(self, height: u32, width: u32) -> (u32, u32) {
        match self {
            Size::Exact { height, width } => (height, width),
            Size::ShortestEdge(edge) => {
                let (short, long) = (height.min(width), height.max(width));
                // integer arithmetic is `int(edge * long / short)` without the float's rounding
                let scaled = (u64::from(edge) * u64::from(long) / u64::from(short.max(1))) as u32;
                if height <= width {
                    (edge, scaled)
                } else {
                    (scaled, edge)
                }
            }
        }
    }
}

/// The preprocessing a model declares: what `transformers`' image processors do, in their
/// order (convert to RGB, resize, center crop, rescale, normalise). Built only by
/// [`Preprocessor::parse`], which refuses what maas would not apply as declared.
#[derive(Debug, Clone, PartialEq)]
pub struct Preprocessor {
    resize: Option<(Size, Resample)>,
    center_crop: Option<(u32, u32)>,
    rescale: Option<f64>,
    normalize: Option<([f32; 3], [f32; 3])>,
    convert_rgb: bool,
    source: Value,
}

impl Preprocessor {
    /// Reads `preprocessor_config.json`'s bytes.
    pub fn parse(bytes: &[u8]) -> Result<Preprocessor, PreprocessorError> {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| PreprocessorError::Json(e.to_string()))?;
        let Value::Object(fields) = &value else {
            return Err(PreprocessorError::Json("not a JSON object".into()));
        };
        for key in fields.keys() {
            let known =
                DESCRIPTIVE_KEYS.contains(&key.as_str()) || APPLIED_KEYS.contains(&key.as_str());
            if !known {
                return Err(PreprocessorError::UnsupportedKey(key.clone()));
            }
        }
        let resize = if flag(fields, "do_resize", true)? {
            let size = size_of(fields, "size")?;
            let resample = match fields.get("resample") {
                None => Resample::Bilinear,
                Some(v) => v.as_u64().and_then(Resample::from_pil).ok_or_else(|| {
                    PreprocessorError::bad(
                        "resample",
                        "a PIL filter number: 0 nearest, 1 lanczos, 2 bilinear, 3 bicubic, 4 box, 5 hamming",
                    )
                })?,
            };
            Some((size, resample))
        } else {
            None
        };
        let center_crop = if flag(fields, "do_center_crop", false)? {
            match size_of(fields, "crop_size")? {
                Size::Exact { height, width } => Some((height, width)),
                Size::ShortestEdge(_) => {
                    return Err(PreprocessorError::bad(
                        "crop_size",
                        "{\"height\": H, \"width\": W} (or one number for a square)",
                    ))
                }
            }
        } else {
            None
        };
        let rescale = if flag(fields, "do_rescale", true)? {
            let factor = match fields.get("rescale_factor") {
                None => 1.0 / 255.0,
                Some(v) => v
                    .as_f64()
                    .filter(|f| f.is_finite() && *f > 0.0)
                    .ok_or_else(|| PreprocessorError::bad("rescale_factor", "a positive number"))?,
            };
            Some(factor)
        } else {
            None
        };
        let normalize = if flag(fields, "do_normalize", true)? {
            let mean = triple(fields, "image_mean", false)?;
            let std = triple(fields, "image_std", true)?;
            Some((mean, std))
        } else {
            None
        };
        Ok(Preprocessor {
            resize,
            center_crop,
            rescale,
            normalize,
            convert_rgb: flag(fields, "do_convert_rgb", true)?,
            source: value,
        })
    }

    /// The resize: its size rule and filter.
    pub fn resize(&self) -> Option<(Size, Resample)> {
        self.resize
    }

    /// The center crop's height and width.
    pub fn center_crop(&self) -> Option<(u32, u32)> {
        self.center_crop
    }

    /// The factor pixel values are multiplied by.
    pub fn rescale(&self) -> Option<f64> {
        self.rescale
    }

    /// Per channel mean and standard deviation subtracted and divided by.
    pub fn normalize(&self) -> Option<([f32; 3], [f32; 3])> {
        self.normalize
    }

    /// `do_convert_rgb` as declared. Decoding converts every image to RGB (alpha dropped, as
    /// PIL's `convert("RGB")` does) whatever it says; refusing non-RGB images when it is
    /// false is still to do (issue 30).
    pub fn convert_rgb(&self) -> bool {
        self.convert_rgb
    }

    /// The file as it was given (published as is).
    pub fn source(&self) -> &Value {
        &self.source
    }

    /// The size every image has after preprocessing, when that does not depend on the image.
    pub fn output_size(&self) -> Option<(u32, u32)> {
        match (self.center_crop, self.resize) {
            (Some(crop), _) => Some(crop),
            (None, Some((Size::Exact { height, width }, _))) => Some((height, width)),
            _ => None,
        }
    }

    /// One line for `maas models show`.
    pub fn summary(&self) -> String {
        let mut steps = Vec::new();
        if self.convert_rgb {
            steps.push("RGB".to_string());
        }
        match self.resize {
            Some((Size::Exact { height, width }, r)) => {
                steps.push(format!("resize to {height}×{width} ({})", r.name()))
            }
            Some((Size::ShortestEdge(e), r)) => {
                steps.push(format!("resize the shortest edge to {e} ({})", r.name()))
            }
            None => {}
        }
        if let Some((h, w)) = self.center_crop {
            steps.push(format!("center crop {h}×{w}"));
        }
        if let Some(f) = self.rescale {
            steps.push(format!("rescale ×{f:.6}"));
        }
        if let Some((mean, std)) = self.normalize {
            steps.push(format!("normalise mean {mean:?} std {std:?}"));
        }
        steps.join(", ")
    }
}

fn flag(fields: &Map<String, Value>, key: &str, default: bool) -> Result<bool, PreprocessorError> {
    match fields.get(key) {
        None => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(_) => Err(PreprocessorError::bad(key, "true or false")),
    }
}

fn dimension(value: &Value, key: &str) -> Result<u32, PreprocessorError> {
    value
        .as_u64()
        .filter(|n| (u64::from(MIN_IMAGE_SIDE)..=16_384).contains(n))
        .map(|n| n as u32)
        .ok_or_else(|| {
            PreprocessorError::bad(
                key,
                &format!("whole numbers of pixels from {MIN_IMAGE_SIDE} to 16384"),
            )
        })
}

fn size_of(fields: &Map<String, Value>, key: &str) -> Result<Size, PreprocessorError> {
    let expected = "{\"height\": H, \"width\": W} or {\"shortest_edge\": S}";
    match fields.get(key) {
        None => Err(PreprocessorError::bad(key, &format!("present: {expected}"))),
        // a bare number is a square in crop_size; for size its meaning differs between
        // transformers' processors (a square for ViT, the shortest edge for CLIP): refused
        Some(n @ Value::Number(_)) if key == "crop_size" => {
            let side = dimension(n, key)?;
            Ok(Size::Exact {
                height: side,
                width: side,
            })
        }
        Some(Value::Object(size)) => {
            let keys: Vec<&str> = size.keys().map(String::as_str).collect();
            match keys.as_slice() {
                ["height", "width"] | ["width", "height"] => Ok(Size::Exact {
                    height: dimension(&size["height"], key)?,
                    width: dimension(&size["width"], key)?,
                }),
                ["shortest_edge"] => {
                    Ok(Size::ShortestEdge(dimension(&size["shortest_edge"], key)?))
                }
                _ => Err(PreprocessorError::bad(key, expected)),
            }
        }
        Some(_) => Err(PreprocessorError::bad(key, expected)),
    }
}

fn triple(
    fields: &Map<String, Value>,
    key: &str,
    positive: bool,
) -> Result<[f32; 3], PreprocessorError> {
    let what = if positive {
        "three positive numbers, one per channel (or one for all)"
    } else {
        "three numbers, one per channel (or one for all)"
    };
    let number = |v: &Value| {
        v.as_f64()
            .filter(|x| x.is_finite() && (!positive || *x > 0.0))
            .map(|x| x as f32)
    };
    let values: Option<Vec<f32>> = match fields.get(key) {
        Some(Value::Array(items)) => items.iter().map(number).collect(),
        Some(v) => number(v).map(|x| vec![x; 3]),
        None => None,
    };
    match values.as_deref() {
        Some([a, b, c]) => Ok([*a, *b, *c]),
        Some([a]) => Ok([*a; 3]),
        _ => Err(PreprocessorError::bad(key, what)),
    }
}
