//! Image preprocessing judged stage by stage by the reference implementation, Hugging Face
//! `transformers`' image processors (`tests/python/image_judge.py`), on real photographs that
//! ship with scikit-learn and scikit-image and on palette, grey, RGBA and EXIF-rotated files
//! made from them: decoding (PNG exact, JPEG within ±3 per channel: decoders differ), resizing
//! the same pixels (within ±1 of Pillow's), center crop (exact), rescale and normalise of the
//! same pixels (within 1e-6), and end to end from the file's bytes.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use base64::Engine;
use common::{python_json, scratch};
use maas::contract::TensorSpec;
use maas::image::{
    center_crop, decode, float_values, resize, ImageInput, Preprocessor, RgbPixels, Size,
    DEFAULT_MAX_IMAGE_PIXELS,
};
use serde_json::{json, Value};

fn bytes(value: &Value) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(value.as_str().unwrap())
        .unwrap()
}

fn pixels(stage: &Value) -> RgbPixels {
    RgbPixels::new(
        stage["width"].as_u64().unwrap() as u32,
        stage["height"].as_u64().unwrap() as u32,
        bytes(&stage["rgb"]),
    )
    .unwrap()
}

/// The largest difference between two equally sized images' channel values.
fn max_difference(ours: &RgbPixels, theirs: &RgbPixels, what: &str) -> u8 {
    assert_eq!(
        (ours.width(), ours.height()),
        (theirs.width(), theirs.height()),
        "{what}: sizes"
    );
    ours.bytes()
        .iter()
        .zip(theirs.bytes())
        .map(|(a, b)| a.abs_diff(*b))
        .max()
        .unwrap_or(0)
}

#[test]
fn every_stage_matches_transformers_image_processors() {
    let dir = scratch("images");
    let images: Vec<String> = serde_json::from_value(python_json(
        "image_judge.py",
        &["images", dir.join("files").to_str().unwrap()],
    ))
    .unwrap();
    assert!(images.len() >= 10, "{images:?}");
    let configs = [
        // ViT-style: a fixed size, bilinear, mean and std 0.5
        json!({"image_processor_type": "ViTImageProcessor", "do_resize": true,
               "size": {"height": 224, "width": 224}, "resample": 2, "do_rescale": true,
               "rescale_factor": 0.00392156862745098, "do_normalize": true,
               "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}),
        // CLIP-style: the shortest edge, bicubic, then a center crop (odd offsets included)
        json!({"image_processor_type": "CLIPImageProcessor", "do_resize": true,
               "size": {"shortest_edge": 201}, "resample": 3, "do_center_crop": true,
               "crop_size": {"height": 199, "width": 199}, "do_rescale": true,
               "rescale_factor": 0.00392156862745098, "do_normalize": true, "do_convert_rgb": true,
               "image_mean": [0.48145466, 0.4578275, 0.40821073],
               "image_std": [0.26862954, 0.26130258, 0.27577711]}),
    ];
    let mut report = Vec::new();
    for config in configs {
        let file = dir.join("preprocessor_config.json");
        std::fs::write(&file, config.to_string()).unwrap();
        let preprocessor = Preprocessor::parse(config.to_string().as_bytes()).unwrap();
        let (h, w) = preprocessor.output_size().unwrap();
        let spec = TensorSpec {
            name: "pixel_values".into(),
            dtype: "float32".into(),
            shape: vec![-1, 3, i64::from(h), i64::from(w)],
            dim_names: vec![],
        };
        let input = ImageInput::new(&spec, preprocessor.clone()).unwrap();
        let mut args = vec!["judge", file.to_str().unwrap()];
        args.extend(images.iter().map(String::as_str));
        let answers = python_json("image_judge.py", &args);
        let kind = config["image_processor_type"].as_str().unwrap();
        for (path, answer) in images.iter().zip(answers.as_array().unwrap()) {
            let what = format!("{kind} {path}");
            let file_bytes = std::fs::read(path).unwrap();

            let decoded = decode(&file_bytes, DEFAULT_MAX_IMAGE_PIXELS).unwrap();
            let theirs = pixels(&answer["decoded"]);
            let tolerance = if path.ends_with(".png") { 0 } else { 3 };
            let d = max_difference(&decoded, &theirs, &format!("{what}: decode"));
            assert!(d <= tolerance, "{what}: decoded pixels differ by {d}");

            // resize the pixels transformers decoded, so that only the resize is compared
            let (size, filter) = preprocessor.resize().unwrap();
            let (th, tw) = size.target(theirs.height(), theirs.width());
            let resized = resize(&theirs, th, tw, filter).unwrap();
            let their_resized = pixels(&answer["resized"]);
            let r = max_difference(&resized, &their_resized, &format!("{what}: resize"));
            assert!(r <= 1, "{what}: resized pixels differ by {r}");

            let their_final = match preprocessor.center_crop() {
                Some((ch, cw)) => {
                    let cropped = center_crop(&their_resized, ch, cw).unwrap();
                    let their_cropped = pixels(&answer["cropped"]);
                    assert_eq!(cropped, their_cropped, "{what}: center crop");
                    their_cropped
                }
                None => their_resized,
            };
            let values = float_values(&preprocessor, &their_final, false);
            let their_values: Vec<f32> = bytes(&answer["pixel_values"])
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            assert_eq!(values.len(), their_values.len(), "{what}: value count");
            let v = values
                .iter()
                .zip(&their_values)
                .map(|(a, b)| (a - b).abs())
                .fold(0f32, f32::max);
            assert!(v <= 1e-6, "{what}: normalised values differ by {v}");

            // end to end from the file's bytes: the decode and resize differences above, scaled
            let tensor = input
                .tensor(&[&file_bytes], DEFAULT_MAX_IMAGE_PIXELS)
                .unwrap();
            assert_eq!(tensor.shape(), &[1, 3, h as usize, w as usize]);
            let ours = tensor.to_f32().unwrap();
            let mean = ours
                .iter()
                .zip(&their_values)
                .map(|(a, b)| f64::from((a - b).abs()))
                .sum::<f64>()
                / ours.len() as f64;
            assert!(mean < 0.02, "{what}: end to end, mean difference {mean}");
            report.push(format!(
                "{what}: decode ±{d}, resize ±{r}, values {v:e}, end to end mean {mean:.2e}"
            ));
        }
    }
    eprintln!("{}", report.join("\n"));
    // the shortest-edge rule as transformers computes it
    assert_eq!(Size::ShortestEdge(201).target(427, 640), (201, 301));
}
