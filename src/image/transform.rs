//! The declared preprocessing applied to decoded pixels, in transformers' order and arithmetic:
//! resize on 8-bit pixels with PIL's convolution filters (fast_image_resize implements them),
//! center crop with transformers' offsets (zero padding where the image is smaller), then
//! rescale in f64 and normalise in f32, as its numpy code computes them.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

use super::config::{Preprocessor, Resample};
use super::decode::RgbPixels;
use super::ImageError;

/// Resizes to `height` × `width` with `filter` (a copy when the size does not change, as PIL
/// does). Two passes in Pillow's order, horizontal then vertical, each rounded and clipped to
/// 8 bits: fast_image_resize alone runs the vertical pass first on 8-bit images, which with
/// bicubic's negative lobes clips other intermediate values (measured up to ±5 from Pillow).
pub fn resize(
    pixels: &RgbPixels,
    height: u32,
    width: u32,
    filter: Resample,
) -> Result<RgbPixels, ImageError> {
    let algorithm = match filter {
        // one pass: nearest takes source pixels whatever the order
        Resample::Nearest => return one_pass(pixels, height, width, ResizeAlg::Nearest),
        Resample::Lanczos => ResizeAlg::Convolution(FilterType::Lanczos3),
        Resample::Bilinear => ResizeAlg::Convolution(FilterType::Bilinear),
        // PIL's bicubic is the cubic convolution with a = -0.5: Catmull-Rom
        Resample::Bicubic => ResizeAlg::Convolution(FilterType::CatmullRom),
        Resample::Box => ResizeAlg::Convolution(FilterType::Box),
        Resample::Hamming => ResizeAlg::Convolution(FilterType::Hamming),
    };
    let across = one_pass(pixels, pixels.height(), width, algorithm)?;
    one_pass(&across, height, width, algorithm)
}

/// One call of fast_image_resize; with one side unchanged it runs the other side's pass only.
fn one_pass(
    pixels: &RgbPixels,
    height: u32,
    width: u32,
    algorithm: ResizeAlg,
) -> Result<RgbPixels, ImageError> {
    if (pixels.height(), pixels.width()) == (height, width) {
        return Ok(pixels.clone());
    }
    // borrowed: no copy of the source pixels per pass
    let source = ImageRef::new(
        pixels.width(),
        pixels.height(),
        pixels.bytes(),
        PixelType::U8x3,
    )
    .map_err(|e| ImageError::Corrupt(e.to_string()))?;
    let mut target = Image::new(width, height, PixelType::U8x3);
    Resizer::new()
        .resize(
            &source,
            &mut target,
            &ResizeOptions::new().resize_alg(algorithm),
        )
        .map_err(|e| ImageError::Corrupt(format!("cannot resize: {e}")))?;
    RgbPixels::new(width, height, target.into_vec())
}

/// Top and left offsets of a `crop` out of `full` pixels: transformers' `(full - crop) // 2`,
/// floored, negative where the crop is larger (the image is padded there).
pub fn crop_offset(full: u32, crop: u32) -> i64 {
    (i64::from(full) - i64::from(crop)).div_euclid(2)
}

/// The center crop (zeros where it reaches past the image).
pub fn center_crop(pixels: &RgbPixels, height: u32, width: u32) -> Result<RgbPixels, ImageError> {
    let (top, left) = (
        crop_offset(pixels.height(), height),
        crop_offset(pixels.width(), width),
    );
    let mut out = vec![0u8; height as usize * width as usize * 3];
    let source = pixels.bytes();
    let row_bytes = pixels.width() as usize * 3;
    for y in 0..height as usize {
        let sy = y as i64 + top;
        if sy < 0 || sy >= i64::from(pixels.height()) {
            continue;
        }
        // the columns of the crop that fall inside the image
        let x0 = (-left).max(0) as usize;
        let x1 = (i64::from(pixels.width()) - left)
            .min(i64::from(width))
            .max(0) as usize;
        if x0 >= x1 {
            continue;
        }
        let sx0 = (x0 as i64 + left) as usize;
        let from = sy as usize * row_bytes + sx0 * 3;
        let to = y * width as usize * 3;
        out[to + x0 * 3..to + x1 * 3].copy_from_slice(&source[from..from + (x1 - x0) * 3]);
    }
    RgbPixels::new(width, height, out)
}

/// Resize then center crop, as declared: the 8-bit pixels a model's values are made from.
pub fn resized_and_cropped(
    preprocessor: &Preprocessor,
    pixels: RgbPixels,
) -> Result<RgbPixels, ImageError> {
    let pixels = match preprocessor.resize() {
        Some((size, filter)) => {
            let (h, w) = size.target(pixels.height(), pixels.width());
            resize(&pixels, h, w, filter)?
        }
        None => pixels,
    };
    match preprocessor.center_crop() {
        Some((h, w)) => center_crop(&pixels, h, w),
        None => Ok(pixels),
    }
}

/// Channel-first float values (`[3, height, width]`): rescaled and normalised as declared.
pub fn float_values(
    preprocessor: &Preprocessor,
    pixels: &RgbPixels,
    channels_last: bool,
) -> Vec<f32> {
    let plane = pixels.width() as usize * pixels.height() as usize;
    let mut out = vec![0f32; plane * 3];
    let normalize = preprocessor.normalize();
    for (i, pixel) in pixels.bytes().chunks_exact(3).enumerate() {
        for c in 0..3 {
            let mut v = match preprocessor.rescale() {
                // numpy: astype(float64) * scale, then astype(float32)
                Some(factor) => (f64::from(pixel[c]) * factor) as f32,
                None => f32::from(pixel[c]),
            };
            if let Some((mean, std)) = normalize {
                v = (v - mean[c]) / std[c];
            }
            let at = if channels_last {
                i * 3 + c
            } else {
                c * plane + i
            };
            out[at] = v;
        }
    }
    out
}
