//! Images as model inputs: a model's declared preprocessing (`preprocessor_config.json`, the
//! Hugging Face image-processor form), checked against its input at publish, and the bytes of
//! JPEG, PNG and WebP files turned into that input's tensor by the same code on every route.
//! No I/O: it builds for the edge worker too.

mod config;
mod decode;
mod transform;

#[cfg(test)]
mod tests;

pub use config::{Preprocessor, Resample, Size, PREPROCESSOR_FILE};
pub use decode::{decode, sniff, RgbPixels, DEFAULT_MAX_IMAGE_PIXELS, MIN_IMAGE_SIDE};
pub use transform::{center_crop, crop_offset, float_values, resize, resized_and_cropped};

use crate::contract::TensorSpec;
use crate::tensor::{DType, Tensor};

/// Why a preprocessing file cannot serve a model.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PreprocessorError {
    /// Not a JSON object.
    #[error("{PREPROCESSOR_FILE} is not valid JSON: {0}")]
    Json(String),
    /// A key maas does not apply (applying it differently from training would be silent).
    #[error("{PREPROCESSOR_FILE}: maas does not apply '{0}'; it applies {applied}: remove the key or preprocess on the client", applied = config::APPLIED_KEYS.join(", "))]
    UnsupportedKey(String),
    /// A key with a value of the wrong form.
    #[error("{PREPROCESSOR_FILE}: '{key}' must be {expected}")]
    Bad {
        /// The key.
        key: String,
        /// What it must be.
        expected: String,
    },
    /// The model's input cannot take what the preprocessing makes.
    #[error("{PREPROCESSOR_FILE} does not fit the model: {0}")]
    Input(String),
}

impl PreprocessorError {
    fn bad(key: &str, expected: &str) -> PreprocessorError {
        PreprocessorError::Bad {
            key: key.to_string(),
            expected: expected.to_string(),
        }
    }
}

/// Why an image cannot be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    /// Not JPEG, PNG or WebP.
    #[error("the body is {0}: send a JPEG, PNG or WebP image")]
    Format(String),
    /// Truncated or damaged.
    #[error("the image cannot be decoded: {0}")]
    Corrupt(String),
    /// A variant of the format the decoder lacks.
    #[error("the image uses a feature maas cannot decode: {0}")]
    Unsupported(String),
    /// More pixels than the limit, refused from the header.
    #[error("the image is {width} × {height} pixels, over the limit of {limit} pixels (MAAS_MAX_IMAGE_PIXELS); send a smaller image")]
    TooLarge {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
        /// The limit.
        limit: u64,
    },
    /// Smaller than [`MIN_IMAGE_SIDE`] on a side.
    #[error("the image is {width} × {height} pixels; maas takes images of at least {MIN_IMAGE_SIDE} × {MIN_IMAGE_SIDE}")]
    TooSmall {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
    /// Images of a batch that preprocess to different sizes, for a model of free size.
    #[error("image {index} is {height} × {width} after preprocessing and image 0 is {first_height} × {first_width}: the model's size is free, so send such images one per request")]
    SizesDiffer {
        /// The image that differs.
        index: usize,
        /// Its size.
        height: u32,
        /// Its size.
        width: u32,
        /// The first image's size.
        first_height: u32,
        /// The first image's size.
        first_width: u32,
    },
}

/// Where the channels are in the model's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// `[batch, channels, height, width]` (transformers' default, PyTorch's).
    ChannelsFirst,
    /// `[batch, height, width, channels]` (Keras').
    ChannelsLast,
}

/// A model input that takes images: its layout and type, and the preprocessing declared for
/// it. Built by [`ImageInput::new`], which checks that the one fits the other.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageInput {
    name: String,
    layout: Layout,
    dtype: DType,
    preprocessor: Preprocessor,
}

impl ImageInput {
    /// The model input `spec` fed by `preprocessor`: a rank-4 input with 3 channels first or
    /// last, float32 (or uint8 for models that take raw pixels, with no rescale or normalise),
    /// whose fixed height and width equal what the preprocessing makes.
    pub fn new(
        spec: &TensorSpec,
        preprocessor: Preprocessor,
    ) -> Result<ImageInput, PreprocessorError> {
        let input = |message: String| PreprocessorError::Input(message);
        let shape = &spec.shape;
        if shape.len() != 4 {
            return Err(input(format!(
                "input '{}' has shape {shape:?}; an image input has four dimensions, [batch, channels, height, width] or [batch, height, width, channels]",
                spec.name
            )));
        }
        let (layout, height, width) = if shape[1] == 3 {
            (Layout::ChannelsFirst, shape[2], shape[3])
        } else if shape[3] == 3 {
            (Layout::ChannelsLast, shape[1], shape[2])
        } else {
            return Err(input(format!(
                "input '{}' has shape {shape:?}: neither its second nor its last dimension is 3 (RGB channels)",
                spec.name
            )));
        };
        let dtype = match spec.dtype.as_str() {
            "float32" => DType::F32,
            "uint8" => {
                for (key, on) in [
                    ("do_rescale", preprocessor.rescale().is_some()),
                    ("do_normalize", preprocessor.normalize().is_some()),
                ] {
                    if on {
                        return Err(input(format!(
                            "input '{}' takes uint8 pixels, so '{key}' must be false",
                            spec.name
                        )));
                    }
                }
                DType::U8
            }
            other => {
                return Err(input(format!(
                    "input '{}' is {other}; image inputs are float32 or uint8",
                    spec.name
                )))
            }
        };
        match preprocessor.output_size() {
            Some((h, w)) => {
                for (what, fixed, made) in [("height", height, h), ("width", width, w)] {
                    if fixed > 0 && fixed != i64::from(made) {
                        let key = if preprocessor.center_crop().is_some() {
                            "crop_size"
                        } else {
                            "size"
                        };
                        return Err(input(format!(
                            "'{key}' makes images {h} × {w} but input '{}' takes a {what} of {fixed}",
                            spec.name
                        )));
                    }
                }
            }
            None if height > 0 || width > 0 => {
                return Err(input(format!(
                    "input '{}' takes {height} × {width} images but the preprocessing keeps each image's own size (no resize to {{height, width}} and no center crop)",
                    spec.name
                )))
            }
            None => {}
        }
        Ok(ImageInput {
            name: spec.name.clone(),
            layout,
            dtype,
            preprocessor,
        })
    }

    /// The input's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its channels are.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The declared preprocessing.
    pub fn preprocessor(&self) -> &Preprocessor {
        &self.preprocessor
    }

    /// The tensor of `images` (each a file's bytes), decoded and preprocessed, stacked on the
    /// batch axis.
    pub fn tensor(&self, images: &[&[u8]], max_pixels: u64) -> Result<Tensor, ImageError> {
        let mut first = None;
        let mut floats = Vec::new();
        let mut bytes = Vec::new();
        let channels_last = self.layout == Layout::ChannelsLast;
        for (index, image) in images.iter().enumerate() {
            let pixels = resized_and_cropped(&self.preprocessor, decode(image, max_pixels)?)?;
            let size = (pixels.height(), pixels.width());
            let (first_height, first_width) = *first.get_or_insert(size);
            if size != (first_height, first_width) {
                return Err(ImageError::SizesDiffer {
                    index,
                    height: size.0,
                    width: size.1,
                    first_height,
                    first_width,
                });
            }
            if self.dtype == DType::U8 {
                append_u8(&mut bytes, &pixels, channels_last);
            } else {
                floats.extend(float_values(&self.preprocessor, &pixels, channels_last));
            }
        }
        let (h, w) = first.map_or((0, 0), |(h, w)| (h as usize, w as usize));
        let shape = match self.layout {
            Layout::ChannelsFirst => vec![images.len(), 3, h, w],
            Layout::ChannelsLast => vec![images.len(), h, w, 3],
        };
        let made = if self.dtype == DType::U8 {
            let dims: Vec<i64> = shape.iter().map(|&d| d as i64).collect();
            Tensor::from_le_bytes(&self.name, DType::U8, &dims, &bytes, usize::MAX)
        } else {
            Tensor::from_f32(&self.name, shape, &floats)
        };
        made.map_err(|e| ImageError::Corrupt(e.to_string()))
    }
}

fn append_u8(out: &mut Vec<u8>, pixels: &RgbPixels, channels_last: bool) {
    if channels_last {
        out.extend_from_slice(pixels.bytes());
        return;
    }
    for c in 0..3 {
        out.extend(pixels.bytes().iter().skip(c).step_by(3));
    }
}
