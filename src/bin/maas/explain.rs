//! `maas explain`: Shapley attributions of rows (JSON or CSV, as `maas predict` reads them)
//! against the model's background, printed as a table per row (or the `/explain` JSON), with
//! a waterfall picture per row and output on request.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use serde_json::Value;

use maas::explain::{self, Outputs};
use maas::protocol::explain::{self as wire, ExplainParameters};
use maas::protocol::Batch;
use maas::store::ModelRef;

use crate::progress::TransferBar;

#[derive(Args)]
pub struct ExplainArgs {
    /// `<store>/<name>[@<version>|@<alias>]`: a published version with a background.
    #[arg(long)]
    pub model: String,
    /// JSON `{"inputs": [[...], ...]}` or CSV rows of features (`-` reads standard input).
    #[arg(long)]
    pub input: PathBuf,
    /// `exact` (every coalition; up to 14 features or groups) or `kernel` (KernelSHAP).
    /// Default: exact when the features are few enough.
    #[arg(long)]
    pub method: Option<String>,
    /// KernelSHAP's coalitions (default 2 × features + 2048).
    #[arg(long)]
    pub samples: Option<u64>,
    /// KernelSHAP's seed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Outputs to explain: class labels (or indices), comma-separated, or `predicted` (each
    /// row's most probable class). Default: all.
    #[arg(long)]
    pub outputs: Option<String>,
    /// Features explained together, as JSON: a list of lists of feature names or indices
    /// that covers every feature once, e.g. `[["age","sex"],["bmi"],…]`.
    #[arg(long, value_name = "JSON")]
    pub groups: Option<String>,
    /// Print the `/explain` route's JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Write a waterfall picture per row and output into this folder
    /// (`row-<r>-<output>.png`).
    #[arg(long, value_name = "DIR")]
    pub plot: Option<PathBuf>,
    /// Features listed per row and output, largest attributions first.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
}

pub async fn run(args: ExplainArgs) -> Result<()> {
    let reference: ModelRef = args.model.parse()?;
    let served = maas::loader::load_with_progress(&reference, TransferBar::for_terminal()).await?;
    let model = &served.model;
    let (Some(features), Some(_)) = (model.n_features(), model.answer_index()) else {
        bail!("explanations need a classifier or regressor with one [batch, features] float32 input; {reference} answers tensors");
    };
    let Some(background) = &served.background else {
        bail!(
            "{reference} has no background to explain against: publish it again with `maas publish --onnx FILE --background ROWS.csv` (a few dozen representative rows), or train it with maas, which stores a sample of its training rows"
        );
    };
    let text = crate::predict::read_input(&args.input)?;
    let batch = if text.trim_start().starts_with('{') {
        let request: Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not valid JSON", args.input.display()))?;
        let rows = request.get("inputs").with_context(|| {
            format!(
                "{} has no \"inputs\": expected {{\"inputs\": [[number, ...], ...]}}",
                args.input.display()
            )
        })?;
        Batch::from_json_rows(rows, features, "inputs")?
    } else {
        Batch::from_csv(&text, features, model.feature_names())?
    };
    let parameters = ExplainParameters {
        method: args.method.clone().map(Value::String),
        samples: args.samples.map(Value::from),
        seed: args.seed.map(Value::from),
        outputs: args.outputs.clone().map(Value::String),
        groups: args
            .groups
            .as_deref()
            .map(serde_json::from_str)
            .transpose()
            .context(
                "--groups is not JSON: expected a list of lists of feature names or indices",
            )?,
    };
    let settings = parameters.settings(model, features)?;
    if settings.outputs == Outputs::All && model.n_classes() > 4 && !args.json {
        eprintln!(
            "note: explaining all {} classes; --outputs predicted explains each row's most probable class only",
            model.n_classes()
        );
    }
    // the limits and threads `maas serve` would use (MAAS_MAX_ROWS chunks the coalitions)
    let config = maas::server::state::ServerConfig::from_env()?;
    if let Err(e) = maas::inference::set_threads(config.inference_threads) {
        tracing::warn!("{e}; inference runs on one thread");
    }
    maas::inference::keep_freed_buffers();
    let rows = explain::explain_rows(
        model,
        background,
        &batch.values,
        batch.rows,
        &settings,
        config.max_rows,
    )?;
    let answer = wire::native_response(
        model,
        &served.name,
        served.version,
        &settings,
        background,
        &rows,
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&answer)?);
    } else {
        print_tables(&answer, &batch, args.top);
    }
    if let Some(dir) = &args.plot {
        plot(dir, &answer, &batch)?;
    }
    Ok(())
}

/// Per row and output: the base, the prediction and the largest attributions with the
/// feature's value.
fn print_tables(answer: &Value, batch: &Batch, top: usize) {
    let method = answer["method"].as_str().unwrap_or_default();
    let settings = match method {
        "kernel" => format!(
            "KernelSHAP, {} samples, seed {}",
            answer["samples"], answer["seed"]
        ),
        _ => "exact".to_string(),
    };
    println!(
        "{} version {}: {settings}, against {} background rows",
        answer["model_name"].as_str().unwrap_or_default(),
        answer["model_version"],
        answer["background_rows"]
    );
    let features = batch.values.len() / batch.rows.max(1);
    for (r, row) in answer["explanations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let names: Vec<&str> = row["features"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let values = &batch.values[r * features..(r + 1) * features];
        for (k, output) in row["outputs"].as_array().into_iter().flatten().enumerate() {
            let attribution = |i: usize| row["attributions"][i][k].as_f64().unwrap_or(0.0);
            let mut order: Vec<usize> = (0..names.len()).collect();
            order.sort_by(|&a, &b| attribution(b).abs().total_cmp(&attribution(a).abs()));
            println!(
                "\nrow {r}, output {}: prediction {:.6} = base {:.6} + attributions (additivity error {:.1e}, {} model rows)",
                output.as_str().unwrap_or_default(),
                row["prediction"][k].as_f64().unwrap_or(0.0),
                row["base_value"][k].as_f64().unwrap_or(0.0),
                row["additivity_error"].as_f64().unwrap_or(0.0),
                row["model_rows"]
            );
            println!("  {:<24} {:>12} {:>14}", "feature", "value", "attribution");
            for &i in order.iter().take(top) {
                let value = if names.len() == features {
                    format!("{:.4}", values[i])
                } else {
                    "(group)".to_string()
                };
                println!("  {:<24} {:>12} {:>+14.6}", names[i], value, attribution(i));
            }
            if order.len() > top {
                let rest: f64 = order[top..].iter().map(|&i| attribution(i)).sum();
                println!(
                    "  {:<24} {:>12} {:>+14.6}",
                    format!("({} others)", order.len() - top),
                    "",
                    rest
                );
            }
        }
    }
}

/// A waterfall per row and output, `row-<r>-<output>.png`.
fn plot(dir: &std::path::Path, answer: &Value, batch: &Batch) -> Result<()> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let features = batch.values.len() / batch.rows.max(1);
    let mut written = 0;
    for (r, row) in answer["explanations"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let names: Vec<&str> = row["features"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let values = &batch.values[r * features..(r + 1) * features];
        for (k, output) in row["outputs"].as_array().into_iter().flatten().enumerate() {
            let output = output.as_str().unwrap_or_default();
            let named: Vec<(String, f64)> = names
                .iter()
                .enumerate()
                .map(|(i, name)| {
                    let label = if names.len() == features {
                        format!("{name} = {:.3}", values[i])
                    } else {
                        name.to_string()
                    };
                    (label, row["attributions"][i][k].as_f64().unwrap_or(0.0))
                })
                .collect();
            let png = maas::report::attribution_png(
                &named,
                row["base_value"][k].as_f64().unwrap_or(0.0),
                row["prediction"][k].as_f64().unwrap_or(0.0),
                &format!(
                    "{} row {r}, output {output}",
                    answer["model_name"].as_str().unwrap_or_default()
                ),
            )?;
            let safe: String = output
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let path = dir.join(format!("row-{r}-{safe}.png"));
            std::fs::write(&path, png)
                .with_context(|| format!("cannot write {}", path.display()))?;
            written += 1;
        }
    }
    eprintln!("wrote {written} pictures to {}", dir.display());
    Ok(())
}
