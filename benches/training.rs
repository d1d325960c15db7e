//! One training epoch of the reference model (1000 → 512 ReLU → 10 softmax, Adam, batch 32)
//! on 2,000 generated rows, as `maas train` runs it (one thread, the CLI's default).
//!
//! The side-by-side comparison with Keras on the full reference data set is in
//! `benches/compare.sh`; this benchmark follows the training loop's own speed from change to
//! change.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use maas::training::{train, Silent, Targets, TrainConfig, TrainingData};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

const FEATURES: usize = 1000;
const CLASSES: usize = 10;
const ROWS: usize = 2000;
const VALIDATION_ROWS: usize = 200;

/// Rows scattered around one centre per class, like `maas datagen`.
fn rows(n: usize, rng: &mut ChaCha8Rng) -> (Vec<f32>, Vec<u32>) {
    let mut x = Vec::with_capacity(n * FEATURES);
    let mut y = Vec::with_capacity(n);
    for i in 0..n {
        let class = (i % CLASSES) as u32;
        for f in 0..FEATURES {
            let centre = if f % CLASSES == class as usize {
                2.0
            } else {
                0.0
            };
            x.push(centre + rng.random_range(-4.0f32..4.0));
        }
        y.push(class);
    }
    (x, y)
}

fn one_epoch(c: &mut Criterion) {
    // what `maas train --threads 1` sets before it starts
    std::env::set_var("RAYON_NUM_THREADS", "1");
    std::env::set_var("CANDLE_NUM_THREADS", "1");
    let mut rng = ChaCha8Rng::seed_from_u64(1);
    let (train_x, train_y) = rows(ROWS, &mut rng);
    let (validation_x, validation_y) = rows(VALIDATION_ROWS, &mut rng);
    let data = TrainingData {
        train_x: &train_x,
        validation_x: &validation_x,
        n_features: FEATURES,
        targets: Targets::Classes {
            train: &train_y,
            validation: &validation_y,
            n_classes: CLASSES,
        },
    };
    let config = TrainConfig {
        epochs: 1,
        ..TrainConfig::default()
    };
    let mut group = c.benchmark_group("training");
    group.sample_size(10);
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("epoch", |bench| {
        bench.iter(|| train(&data, &config, &mut Silent).expect("train"))
    });
    group.finish();
}

criterion_group!(training, one_epoch);
criterion_main!(training);
