//! Image bytes to RGB pixels: JPEG, PNG and WebP by their signatures, the pixel count checked
//! from the header before anything is decoded whole, EXIF orientation applied (as PIL's
//! `ImageOps.exif_transpose`), and every other mode converted to RGB as PIL's
//! `convert("RGB")` does (grey replicated, palette looked up, alpha dropped).

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use super::ImageError;

/// Most pixels an image may have unless `MAAS_MAX_IMAGE_PIXELS` says otherwise: 25 million
/// (a 5000 × 5000 photograph; 75 MB as RGB), below PIL's own bomb warning at 89 million.
pub const DEFAULT_MAX_IMAGE_PIXELS: u64 = 25_000_000;

/// Shortest side taken: smaller images carry too little to classify, and a side of 1 or 3
/// pixels makes transformers' processors misread the channel axis, so they have no reference.
pub const MIN_IMAGE_SIDE: u32 = 4;

/// Decoded pixels, row-major RGB, three bytes a pixel; sides of at least [`MIN_IMAGE_SIDE`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbPixels {
    width: u32,
    height: u32,
    bytes: Vec<u8>,
}

impl RgbPixels {
    /// Pixels from their bytes (`width × height × 3` of them).
    pub fn new(width: u32, height: u32, bytes: Vec<u8>) -> Result<RgbPixels, ImageError> {
        if u64::from(width) * u64::from(height) * 3 != bytes.len() as u64 {
            return Err(ImageError::Corrupt(format!(
                "{} bytes cannot be a {width} × {height} RGB image",
                bytes.len()
            )));
        }
        if width < MIN_IMAGE_SIDE || height < MIN_IMAGE_SIDE {
            return Err(ImageError::TooSmall { width, height });
        }
        Ok(RgbPixels {
            width,
            height,
            bytes,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Row-major RGB bytes.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }
}

/// The format a body's first bytes announce.
pub fn sniff(bytes: &[u8]) -> Result<ImageFormat, ImageError> {
    if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Ok(ImageFormat::Jpeg)
    } else if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Ok(ImageFormat::Png)
    } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Ok(ImageFormat::WebP)
    } else if bytes.starts_with(b"GIF8") {
        Err(ImageError::Format("a GIF".into()))
    } else if bytes.starts_with(b"BM") {
        Err(ImageError::Format("a BMP".into()))
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        Err(ImageError::Format("a TIFF".into()))
    } else {
        Err(ImageError::Format("not an image".into()))
    }
}

/// Decodes `bytes` to RGB, refusing more than `max_pixels` pixels before decoding.
pub fn decode(bytes: &[u8], max_pixels: u64) -> Result<RgbPixels, ImageError> {
    let format = sniff(bytes)?;
    let reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut decoder = reader.into_decoder().map_err(|e| decoding(e, format))?;
    let (width, height) = decoder.dimensions();
    let pixels = u64::from(width) * u64::from(height);
    if pixels > max_pixels {
        return Err(ImageError::TooLarge {
            width,
            height,
            limit: max_pixels,
        });
    }
    // the decoder's own allocation bound: the RGBA buffer of the pixels just checked
    let mut limits = image::Limits::default();
    limits.max_alloc = Some(pixels.saturating_mul(8).max(1 << 20));
    decoder
        .set_limits(limits)
        .map_err(|e| decoding(e, format))?;
    let orientation = decoder.orientation().map_err(|e| decoding(e, format))?;
    let mut image = DynamicImage::from_decoder(decoder).map_err(|e| decoding(e, format))?;
    image.apply_orientation(orientation);
    let rgb = match image {
        DynamicImage::ImageRgb8(rgb) => rgb,
        // PIL's convert("RGB") drops alpha without compositing; 16-bit samples round to 8
        other => other.to_rgb8(),
    };
    let (width, height) = rgb.dimensions();
    RgbPixels::new(width, height, rgb.into_raw())
}

fn decoding(error: image::ImageError, format: ImageFormat) -> ImageError {
    let name = format!("{format:?}").to_uppercase();
    match error {
        image::ImageError::Limits(_) => ImageError::Corrupt(format!(
            "the {name} needs more memory to decode than its size allows"
        )),
        image::ImageError::Unsupported(e) => ImageError::Unsupported(format!("{name}: {e}")),
        other => ImageError::Corrupt(format!("{name}: {other}")),
    }
}
