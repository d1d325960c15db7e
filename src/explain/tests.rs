use super::*;

fn linear(w: Vec<f32>, bias: f32) -> impl FnMut(&[f32], usize) -> Result<Vec<f32>, String> {
    move |rows: &[f32], n: usize| {
        let m = w.len();
        Ok((0..n)
            .map(|r| bias + (0..m).map(|i| w[i] * rows[r * m + i]).sum::<f32>())
            .collect())
    }
}

fn background() -> Background {
    let rows: Vec<f32> = (0..5 * 4)
        .map(|i| ((i * 7 % 11) as f32) * 0.3 - 1.0)
        .collect();
    Background::new(rows, 4).unwrap()
}

fn closed_form(w: &[f32], x: &[f32], bg: &Background) -> Vec<f64> {
    (0..w.len())
        .map(|i| {
            let mean: f64 =
                (0..bg.len()).map(|r| bg.row(r)[i] as f64).sum::<f64>() / bg.len() as f64;
            w[i] as f64 * (x[i] as f64 - mean)
        })
        .collect()
}

/// A linear model's weights (one of them 0), a row and the background.
fn linear_case() -> (Vec<f32>, [f32; 4], Background) {
    (
        vec![0.5, -2.0, 0.0, 1.25],
        [1.0, 2.0, -3.0, 0.5],
        background(),
    )
}

fn assert_closed_form(e: &Explanation, w: &[f32], x: &[f32], bg: &Background) {
    for (i, want) in closed_form(w, x, bg).iter().enumerate() {
        let got = e.value(i, 0);
        assert!((got - want).abs() < 1e-5, "feature {i}: {got} vs {want}");
    }
}

#[test]
fn exact_values_of_a_linear_model_are_its_closed_form() {
    let (w, x, bg) = linear_case();
    let e = explain(&x, &bg, Method::Exact, 7, &mut linear(w.clone(), 0.3)).unwrap();
    assert_closed_form(&e, &w, &x, &bg);
    assert_eq!(
        e.value(2, 0),
        0.0,
        "a feature the model ignores gets nothing"
    );
    assert!(e.additivity_error() < 1e-9);
    assert_eq!(e.model_rows(), 16 * bg.len());
}

#[test]
fn an_interaction_is_shared_equally_and_a_constant_model_gets_zeros() {
    let bg = Background::new(vec![0.0, 0.0], 2).unwrap();
    let mut product =
        |rows: &[f32], n: usize| Ok((0..n).map(|r| rows[2 * r] * rows[2 * r + 1]).collect());
    let e = explain(&[2.0, 3.0], &bg, Method::Exact, 64, &mut product).unwrap();
    assert!(
        (e.value(0, 0) - 3.0).abs() < 1e-12 && (e.value(1, 0) - 3.0).abs() < 1e-12,
        "{e:?}"
    );
    let mut constant = |_: &[f32], n: usize| Ok(vec![4.0f32; n]);
    let e = explain(&[2.0, 3.0], &bg, Method::Exact, 64, &mut constant).unwrap();
    assert!(e.values().iter().all(|v| *v == 0.0), "{e:?}");
    assert_eq!(e.base(), &[4.0]);
}

/// Two outputs with interactions: `[x0 x1 + x2, tanh(x0 - x3) x2]`.
fn nonlinear(rows: &[f32], n: usize) -> Result<Vec<f32>, String> {
    Ok((0..n)
        .flat_map(|r| {
            let x = &rows[4 * r..4 * r + 4];
            [x[0] * x[1] + x[2], (x[0] - x[3]).tanh() * x[2]]
        })
        .collect())
}

#[test]
fn kernel_values_add_up_and_approach_the_exact_ones() {
    let (x, bg) = ([1.0, -0.5, 2.0, 0.25], background());
    let exact = explain(&x, &bg, Method::Exact, 50, &mut nonlinear).unwrap();
    let kernel = Method::Kernel {
        samples: 4000,
        seed: 3,
    };
    let approx = explain(&x, &bg, kernel, 50, &mut nonlinear).unwrap();
    assert_eq!(approx.outputs(), 2);
    assert!(
        approx.additivity_error() < 1e-9,
        "{}",
        approx.additivity_error()
    );
    for (a, b) in approx.values().iter().zip(exact.values()) {
        assert!((a - b).abs() < 0.05, "kernel {a} vs exact {b}");
    }
}

#[test]
fn kernel_is_exact_for_a_linear_model_and_repeats_with_its_seed() {
    let (w, x, bg) = linear_case();
    let kernel = Method::Kernel {
        samples: 8,
        seed: 9,
    };
    let e = explain(&x, &bg, kernel, 1, &mut linear(w.clone(), 0.0)).unwrap();
    assert_closed_form(&e, &w, &x, &bg);
    let run = |seed| {
        explain(
            &x,
            &bg,
            Method::Kernel { samples: 20, seed },
            13,
            &mut nonlinear,
        )
        .unwrap()
    };
    assert_eq!(run(1), run(1));
    assert_ne!(run(1).values(), run(2).values());
}

#[test]
fn chunking_does_not_change_the_answer() {
    let (x, bg) = ([1.0, -0.5, 2.0, 0.25], background());
    let one = explain(&x, &bg, Method::Exact, 1, &mut nonlinear).unwrap();
    let many = explain(&x, &bg, Method::Exact, 10_000, &mut nonlinear).unwrap();
    assert_eq!(one, many);
}

#[test]
fn bad_requests_are_refused_by_name() {
    let bg = background();
    let mut model = linear(vec![1.0; 4], 0.0);
    let err = |r: Result<Explanation, ExplainError>| r.unwrap_err();
    assert_eq!(
        err(explain(&[1.0; 3], &bg, Method::Exact, 8, &mut model)),
        ExplainError::FeatureCount {
            expected: 4,
            got: 3
        }
    );
    assert_eq!(
        err(explain(&[f32::NAN; 4], &bg, Method::Exact, 8, &mut model)),
        ExplainError::NotFinite("the row")
    );
    let kernel = |samples| Method::Kernel { samples, seed: 0 };
    assert_eq!(
        err(explain(&[1.0; 4], &bg, kernel(0), 8, &mut model)),
        ExplainError::Samples { got: 0, min: 4 }
    );
    assert!(matches!(
        err(explain(
            &[1.0; 4],
            &bg,
            kernel(MAX_SAMPLES + 1),
            8,
            &mut model
        )),
        ExplainError::Samples { .. }
    ));
    let wide = Background::new(vec![0.0; 20], 20).unwrap();
    let mut wide_model = linear(vec![1.0; 20], 0.0);
    assert_eq!(
        err(explain(
            &[1.0; 20],
            &wide,
            Method::Exact,
            8,
            &mut wide_model
        )),
        ExplainError::TooManyForExact { features: 20 }
    );
    assert_eq!(
        Method::for_features(20),
        Method::Kernel {
            samples: 2088,
            seed: 0
        }
    );
    assert_eq!(
        Background::new(vec![], 4).unwrap_err(),
        ExplainError::EmptyBackground
    );
    assert_eq!(
        Background::new(vec![0.0; 6], 4).unwrap_err(),
        ExplainError::BackgroundShape {
            values: 6,
            features: 4
        }
    );
    assert_eq!(
        Background::new(vec![0.0; 4 * 101], 4).unwrap_err(),
        ExplainError::BackgroundTooLarge { rows: 101 }
    );
    let mut broken = |_: &[f32], _: usize| Err("the plan failed".to_string());
    assert_eq!(
        err(explain(&[1.0; 4], &bg, Method::Exact, 8, &mut broken)),
        ExplainError::Model("the plan failed".into())
    );
}

#[test]
fn a_group_gets_its_members_share_and_groups_must_partition_the_features() {
    let (w, x, bg) = linear_case();
    let groups = Groups::new(&[vec![0, 3], vec![1], vec![2]], 4).unwrap();
    let mut model = linear(w.clone(), 0.0);
    let e = explain_grouped(&x, &bg, Method::Exact, &groups, 8, &mut model).unwrap();
    let single = closed_form(&w, &x, &bg);
    assert_eq!(e.features(), 3);
    assert!(
        (e.value(0, 0) - (single[0] + single[3])).abs() < 1e-5,
        "{e:?}"
    );
    assert!((e.value(1, 0) - single[1]).abs() < 1e-5);
    assert_eq!(e.model_rows(), 8 * bg.len(), "2^3 coalitions of groups");
    for bad in [
        vec![vec![0, 1], vec![2]],
        vec![vec![0, 1, 2, 3], vec![3]],
        vec![vec![0, 1, 2, 9]],
    ] {
        assert!(
            matches!(Groups::new(&bad, 4), Err(ExplainError::Groups(_))),
            "{bad:?}"
        );
    }
}

#[test]
fn a_feature_that_never_differs_from_the_row_gets_zero_and_no_coalitions() {
    // feature 1 is 2.0 in the row and in every background row
    let bg = Background::new(vec![0.0, 2.0, 1.0, 5.0, 2.0, -1.0], 3).unwrap();
    let x = [1.0, 2.0, 3.0];
    let mut model = |rows: &[f32], n: usize| {
        Ok((0..n)
            .map(|r| rows[3 * r] * rows[3 * r + 1] + rows[3 * r + 2])
            .collect())
    };
    let e = explain(&x, &bg, Method::Exact, 8, &mut model).unwrap();
    assert_eq!(e.value(1, 0), 0.0);
    assert_eq!(
        e.model_rows(),
        4 * bg.len(),
        "2^2 coalitions of the two that vary"
    );
    assert!(e.additivity_error() < 1e-9);
    // a background that is the row itself: nothing to attribute
    let same = Background::new(x.to_vec(), 3).unwrap();
    let e = explain(&x, &same, Method::Exact, 8, &mut model).unwrap();
    assert!(e.values().iter().all(|v| *v == 0.0) && e.values().len() == 3);
    assert_eq!(e.base(), e.prediction());
}
