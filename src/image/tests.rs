// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const VIT: &str = r#"{"do_normalize": true, "do_rescale": true, "do_resize": true,
  "image_mean": [0.5, 0.5, 0.5], "image_processor_type": "ViTImageProcessor",
  "image_std": [0.5, 0.5, 0.5], "resample": 2, "rescale_factor": 0.00392156862745098,
  "size": {"height": 32, "width": 32}}"#;

const CLIP: &str = r#"{"crop_size": {"height": 24, "width": 24}, "do_center_crop": true,
  "do_convert_rgb": true, "do_normalize": true, "do_rescale": true, "do_resize": true,
  "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
  "resample": 3, "rescale_factor": 0.00392156862745098, "size": {"shortest_edge": 24}}"#;

fn spec(shape: Vec<i64>, dtype: &str) -> TensorSpec {
    TensorSpec {
        name: "pixel_values".into(),
        dtype: dtype.into(),
        shape,
        dim_names: vec![],
    }
}

/// A PNG of `width` × `height` RGB pixels, encoded by the `image` crate.
fn png(width: u32, height: u32) -> Vec<u8> {
    let pixels: Vec<u8> = (0..width * height * 3)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let image = image::RgbImage::from_raw(width, height, pixels).unwrap();
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).unwrap();
    out.into_inner()
}

/// CRC-32 as PNG chunks carry it, to forge a header below.
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in bytes {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn the_hugging_face_forms_parse_and_say_what_they_make() {
    let vit = Preprocessor::parse(VIT.as_bytes()).unwrap();
    assert_eq!(
        vit.resize(),
        Some((
            Size::Exact {
                height: 32,
                width: 32
            },
            Resample::Bilinear
        ))
    );
    assert_eq!(vit.output_size(), Some((32, 32)));
    let clip = Preprocessor::parse(CLIP.as_bytes()).unwrap();
    assert_eq!(
        clip.resize(),
        Some((Size::ShortestEdge(24), Resample::Bicubic))
    );
    assert_eq!(clip.output_size(), Some((24, 24)));
    assert!(
        clip.summary().contains("center crop 24×24"),
        "{}",
        clip.summary()
    );
}

#[test]
fn keys_maas_does_not_apply_and_bad_values_are_refused_by_name() {
    let refused = |text: &str| {
        Preprocessor::parse(text.as_bytes())
            .unwrap_err()
            .to_string()
    };
    let message = refused(
        r#"{"size": {"height": 8, "width": 8}, "image_mean": 0.5, "image_std": 0.5, "do_pad": true}"#,
    );
    assert!(message.contains("'do_pad'"), "{message}");
    let message = refused(
        r#"{"size": {"height": 8, "width": 8}, "resample": 9, "image_mean": 0.5, "image_std": 0.5}"#,
    );
    assert!(message.contains("'resample'"), "{message}");
    let message = refused(r#"{"size": 224, "image_mean": 0.5, "image_std": 0.5}"#);
    assert!(message.contains("'size'"), "{message}");
    let message = refused(
        r#"{"size": {"height": 8, "width": 8}, "image_mean": [0.5, 0.5], "image_std": 0.5}"#,
    );
    assert!(message.contains("'image_mean'"), "{message}");
    let message = refused(
        r#"{"size": {"height": 8, "width": 8}, "image_mean": 0.5, "image_std": [1, 0, 1]}"#,
    );
    assert!(message.contains("'image_std'"), "{message}");
    let message =
        refused(r#"{"size": {"height": 2, "width": 8}, "image_mean": 0.5, "image_std": 0.5}"#);
    assert!(
        message.contains("'size'") && message.contains("from 4"),
        "{message}"
    );
    assert!(refused("[1]").contains("not a JSON object"));
}

#[test]
fn the_shortest_edge_scales_the_other_by_truncation() {
    assert_eq!(Size::ShortestEdge(224).target(480, 640), (224, 298));
    assert_eq!(Size::ShortestEdge(224).target(640, 480), (298, 224));
    assert_eq!(Size::ShortestEdge(10).target(7, 7), (10, 10));
}

#[test]
fn crop_offsets_floor_as_transformers_does_and_pad_with_zeros() {
    assert_eq!(crop_offset(299, 224), 37);
    assert_eq!(crop_offset(5, 8), -2);
    let pixels = RgbPixels::new(5, 5, (0..75).map(|i| i as u8).collect()).unwrap();
    let cropped = center_crop(&pixels, 4, 4).unwrap();
    // offset (0, 0) for 5 → 4: the first row starts at pixel 0
    assert_eq!(&cropped.bytes()[..3], &[0, 1, 2]);
    let padded = center_crop(&pixels, 8, 8).unwrap();
    // two rows and two columns of zeros, then pixel (0, 0)
    assert!(padded.bytes()[..2 * 8 * 3].iter().all(|&b| b == 0));
    let row2 = &padded.bytes()[2 * 8 * 3..3 * 8 * 3];
    assert_eq!(&row2[..6], &[0; 6]);
    assert_eq!(&row2[6..9], &[0, 1, 2]);
}

#[test]
fn formats_are_told_by_their_signature_and_others_refused() {
    assert!(matches!(sniff(&png(4, 4)), Ok(image::ImageFormat::Png)));
    assert!(sniff(b"GIF89a....")
        .unwrap_err()
        .to_string()
        .contains("GIF"));
    assert!(sniff(b"hello")
        .unwrap_err()
        .to_string()
        .contains("not an image"));
    let truncated = &png(16, 16)[..60];
    assert!(matches!(
        decode(truncated, 1 << 20),
        Err(ImageError::Corrupt(_))
    ));
    let mut bad_crc = png(16, 16);
    let last = bad_crc.len() - 20;
    bad_crc[last] ^= 0xff;
    assert!(decode(&bad_crc, 1 << 20).is_err());
    assert!(matches!(
        decode(&png(1, 1), 1 << 20),
        Err(ImageError::TooSmall {
            width: 1,
            height: 1
        })
    ));
}

#[test]
fn a_huge_header_is_refused_before_any_pixel_is_decoded() {
    let mut ihdr = b"IHDR".to_vec();
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend(100_000u32.to_be_bytes());
    ihdr.extend([8, 2, 0, 0, 0]);
    let mut file = b"\x89PNG\r\n\x1a\n".to_vec();
    file.extend(13u32.to_be_bytes());
    file.extend(&ihdr);
    file.extend(crc32(&ihdr).to_be_bytes());
    // a few bytes of pixel data follow, as in a real bomb: the decoder reads the header only
    for (kind, data) in [
        (&b"IDAT"[..], &[0x78, 0x9c, 0x03, 0x00][..]),
        (b"IEND", &[]),
    ] {
        let mut chunk = kind.to_vec();
        chunk.extend_from_slice(data);
        file.extend((data.len() as u32).to_be_bytes());
        file.extend(&chunk);
        file.extend(crc32(&chunk).to_be_bytes());
    }
    let error = decode(&file, DEFAULT_MAX_IMAGE_PIXELS).unwrap_err();
    assert!(
        matches!(
            error,
            ImageError::TooLarge {
                width: 100_000,
                height: 100_000,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn the_model_input_must_take_what_the_preprocessing_makes() {
    let vit = Preprocessor::parse(VIT.as_bytes()).unwrap();
    let input = ImageInput::new(&spec(vec![-1, 3, 32, 32], "float32"), vit.clone()).unwrap();
    assert_eq!(input.layout(), Layout::ChannelsFirst);
    let last = ImageInput::new(&spec(vec![-1, 32, 32, 3], "float32"), vit.clone()).unwrap();
    assert_eq!(last.layout(), Layout::ChannelsLast);
    let message = ImageInput::new(&spec(vec![-1, 3, 224, 224], "float32"), vit.clone())
        .unwrap_err()
        .to_string();
    assert!(
        message.contains("'size'") && message.contains("224"),
        "{message}"
    );
    let message = ImageInput::new(&spec(vec![-1, 3, 32, 32], "uint8"), vit.clone())
        .unwrap_err()
        .to_string();
    assert!(message.contains("'do_rescale'"), "{message}");
    let message = ImageInput::new(&spec(vec![-1, 64], "float32"), vit)
        .unwrap_err()
        .to_string();
    assert!(message.contains("four dimensions"), "{message}");
}

#[test]
fn images_become_one_tensor_in_the_models_layout() {
    let vit = Preprocessor::parse(VIT.as_bytes()).unwrap();
    let input = ImageInput::new(&spec(vec![-1, 3, 32, 32], "float32"), vit).unwrap();
    let (a, b) = (png(40, 30), png(16, 16));
    let tensor = input.tensor(&[&a, &b], 1 << 20).unwrap();
    assert_eq!(tensor.shape(), &[2, 3, 32, 32]);
    let values = tensor.to_f32().unwrap();
    assert!(values.iter().all(|v| (-1.0..=1.0).contains(v)));
    // a 32 × 32 image is not resized: its first red value is (p / 255 - 0.5) / 0.5
    let c = png(32, 32);
    let one = input.tensor(&[&c], 1 << 20).unwrap().to_f32().unwrap();
    let expected = ((0f64 / 255.0) as f32 - 0.5) / 0.5;
    assert_eq!(one[0], expected);
    let expected_green = ((7f64 * (1.0 / 255.0)) as f32 - 0.5) / 0.5;
    assert!((one[32 * 32] - expected_green).abs() < 1e-6);
}
