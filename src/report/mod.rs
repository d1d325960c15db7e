//! The training report: a model card in Markdown rendered from a manifest (`report.md` and
//! `maas models show` print the same text) and the pictures published beside it.

mod plots;

use std::fmt::Write;

pub use plots::{
    attribution_png, confusion_png, curves_png, fit_png, ATTRIBUTION_BARS, ATTRIBUTION_SIZE,
    CONFUSION_SIZE, CURVES_SIZE, FIT_MAX_TARGETS, FIT_ROW_SIZE,
};

use crate::contract::Task;
use crate::manifest::Manifest;
use crate::metrics::{Metrics, RegressionMetrics};

pub const REPORT_FILE: &str = "report.md";
pub const CURVES_FILE: &str = "curves.png";
pub const CONFUSION_FILE: &str = "confusion.png";
/// A regressor's predicted-vs-actual and residual plots.
pub const FIT_FILE: &str = "fit.png";

#[derive(Debug, thiserror::Error)]
pub enum ReportError {
    #[error("cannot draw the report picture: {0}")]
    Draw(String),
}

/// The model card of a published version; `store` is where it was published (`models`,
/// `s3://bucket/prefix`), for the examples of how to call it.
pub fn model_card(manifest: &Manifest, store: &str) -> String {
    let mut card = String::new();
    // writing to a String cannot fail
    let _ = write_card(&mut card, manifest, store);
    card
}

fn write_card(out: &mut String, m: &Manifest, store: &str) -> std::fmt::Result {
    let d = &m.description;
    let created = m
        .created_at
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default();
    let features = d.inputs.first().and_then(|i| i.shape.last()).copied();
    let features = features.filter(|f| *f > 0).map(|f| f as usize);
    writeln!(out, "# Model card: {} version {}\n", m.name, m.version)?;
    writeln!(
        out,
        "Published {created} by maas {} · `{}` {} bytes · sha256 `{}`\n",
        m.maas_version, m.model.file, m.model.size_bytes, m.model.sha256
    )?;

    writeln!(out, "## Intended use\n")?;
    let source = d
        .training
        .as_ref()
        .map(|t| format!("trained by maas on `{}`", t.data.source))
        .unwrap_or_else(|| "trained outside maas and published with `maas publish`".into());
    let task = d.task.unwrap_or(if d.labels.is_empty() {
        Task::Tensor
    } else {
        Task::Classifier
    });
    let width = |n: Option<usize>| {
        n.map(|f| f.to_string())
            .unwrap_or_else(|| "a fixed number of".into())
    };
    // a regressor trained by maas names its targets in its training record
    let targets: Vec<String> = match (&d.training, &d.regression_metrics) {
        (_, Some(m)) => m.per_target.iter().map(|t| t.name.clone()).collect(),
        (Some(t), None) => t.data.label_column.split(',').map(str::to_string).collect(),
        (None, None) => Vec::new(),
    };
    if task == Task::Regression && !targets.is_empty() {
        writeln!(
            out,
            "Predicts {} ({}) from a row of {} numeric features ({source}), in the targets' own \
             units. It answers for rows measured like its training data; it has not seen other \
             populations, and a prediction outside the range of the training targets is an \
             extrapolation. Check the residual plot before relying on extreme values.\n",
            if targets.len() == 1 {
                "one target".to_string()
            } else {
                format!("{} targets", targets.len())
            },
            abbreviate(&targets),
            width(features)
        )?;
    } else if task == Task::TextGeneration {
        writeln!(
            out,
            "Generates text continuing a prompt{} ({source}). Its text is only as good as its \
             training: check it on prompts like yours before relying on it, and do not take \
             what it writes for facts.\n",
            if d.generation.as_ref().is_some_and(|g| g.chat_template) {
                ", or a conversation through its chat template"
            } else {
                ""
            }
        )?;
    } else if task != Task::Classifier {
        writeln!(
            out,
            "A {task} model ({source}): it answers its outputs for inputs shaped and scaled like \
             its training data.\n"
        )?;
    } else {
        writeln!(
            out,
            "Classifies a row of {} numeric features into one of {} classes ({source}). \
         It answers for rows measured and scaled like its training data; it has not seen \
         other populations, and its probabilities are the network's softmax, not calibrated \
         risks. Check the per-class table before relying on a rare class.\n",
            features
                .map(|f| f.to_string())
                .unwrap_or_else(|| "a fixed number of".into()),
            d.labels.len()
        )?;
    }

    writeln!(out, "## Signature\n")?;
    writeln!(
        out,
        "Task: {task}{}\n",
        d.answer_output
            .as_ref()
            .map(|o| format!(", answering with `{o}`"))
            .unwrap_or_default()
    )?;
    writeln!(out, "| | name | datatype | shape |\n|---|---|---|---|")?;
    for (kind, specs) in [("input", &d.inputs), ("output", &d.outputs)] {
        for spec in specs.iter() {
            let shape = spec.dim_labels();
            writeln!(
                out,
                "| {kind} | `{}` | {} | [{}] |",
                spec.name,
                crate::protocol::kserve::datatype_of(&spec.dtype),
                shape.join(", ")
            )?;
        }
    }
    writeln!(out)?;

    if let Some(g) = &d.generation {
        writeln!(out, "## Text generation\n")?;
        writeln!(out, "| | |\n|---|---|")?;
        writeln!(out, "| vocabulary | {} tokens |", g.vocabulary_size)?;
        match g.context_length {
            Some(n) => writeln!(out, "| context | {n} tokens (prompt and completion) |")?,
            None => writeln!(out, "| context | not stated in config.json |")?,
        }
        let tokens: Vec<String> = g
            .special_tokens
            .iter()
            .map(|(role, token)| format!("{role} `{token}`"))
            .collect();
        writeln!(out, "| special tokens | {} |", tokens.join(", "))?;
        writeln!(out, "| end-of-text ids | {:?} |", g.eos_token_ids)?;
        writeln!(
            out,
            "| chat template | {} |\n",
            if g.chat_template { "yes" } else { "no" }
        )?;
    }

    if let Some(b) = &d.background {
        writeln!(out, "## Explanations\n")?;
        writeln!(
            out,
            "Shapley attributions (`maas explain`, `POST /explain`, `:explain`) are computed against `{}`: {} ({} rows).\n",
            b.file, b.source, b.rows
        )?;
    }

    writeln!(out, "## Data\n")?;
    writeln!(out, "| | |\n|---|---|")?;
    if let Some(t) = &d.training {
        let r = &t.data;
        writeln!(out, "| source | `{}` |", r.source)?;
        writeln!(out, "| sha256 | `{}` |", r.sha256)?;
        writeln!(out, "| label column | `{}` |", r.label_column)?;
        writeln!(
            out,
            "| rows | {} ({} training, {} validation, {} test) |",
            r.rows, r.training_rows, r.validation_rows, r.held_out_rows
        )?;
    }
    writeln!(
        out,
        "| features | {} |",
        match (features, d.feature_names.as_slice()) {
            (_, []) => features
                .map(|f| f.to_string())
                .unwrap_or_else(|| "-".into()),
            (_, names) => format!("{} ({})", names.len(), abbreviate(names)),
        }
    )?;
    if task == Task::Regression {
        writeln!(
            out,
            "| targets | {} ({}) |\n",
            targets.len(),
            abbreviate(&targets)
        )?;
    } else {
        writeln!(
            out,
            "| classes | {} ({}) |\n",
            d.labels.len(),
            abbreviate(&d.labels)
        )?;
    }

    if let Some(t) = &d.training {
        let h = &t.hyperparameters;
        writeln!(out, "## Training\n")?;
        writeln!(out, "| | |\n|---|---|")?;
        let hidden: Vec<String> = h.hidden.iter().map(|w| w.to_string()).collect();
        let (outputs, head) = if task == Task::Regression {
            (
                targets.len(),
                "linear (MSE on standardised targets, scale folded back)",
            )
        } else {
            (d.labels.len(), "softmax (cross-entropy)")
        };
        writeln!(
            out,
            "| network | {} → {} ReLU → {outputs} {head} |",
            features.map(|f| f.to_string()).unwrap_or_default(),
            hidden.join(" → "),
        )?;
        writeln!(
            out,
            "| optimiser | Adam, learning rate {}, schedule {} |",
            h.learning_rate, h.lr_schedule
        )?;
        writeln!(out, "| batch size | {} |", h.batch_size)?;
        writeln!(out, "| L1 / L2 | {} / {} |", h.l1, h.l2)?;
        writeln!(
            out,
            "| splits | {} of {} for test, {} of the rest for validation |",
            t.test_split,
            if task == Task::Regression {
                "the rows"
            } else {
                "each class"
            },
            t.validation_split
        )?;
        writeln!(out, "| seed | {} |", h.seed)?;
        let stopping = match h.patience {
            Some(p) => format!("on validation loss, patience {p}"),
            None => "off".into(),
        };
        writeln!(out, "| early stopping | {stopping} |")?;
        writeln!(
            out,
            "| epochs | {} run of {}; **kept epoch {}** |",
            t.epochs_run, h.epochs, t.kept_epoch
        )?;
        writeln!(
            out,
            "| export parity | max {} difference {:.2e} between tract on the ONNX file and the trainer |\n",
            if task == Task::Regression {
                "relative (absolute below 1)"
            } else {
                "abs"
            },
            t.export_parity_max_abs_diff
        )?;
        let accuracy = t.history.iter().any(|e| e.validation_accuracy.is_some());
        if accuracy {
            writeln!(
                out,
                "| epoch | learning rate | training loss | training accuracy | validation loss | validation accuracy |"
            )?;
            writeln!(out, "|---:|---:|---:|---:|---:|---:|")?;
        } else {
            writeln!(
                out,
                "Losses are the mean squared error of the standardised targets (1 is the error of \
                 always answering the training mean).\n"
            )?;
            writeln!(
                out,
                "| epoch | learning rate | training loss | validation loss |"
            )?;
            writeln!(out, "|---:|---:|---:|---:|")?;
        }
        for e in &t.history {
            let mark = if e.epoch == t.kept_epoch {
                " (kept)"
            } else {
                ""
            };
            let share = |v: Option<f32>| v.map(|v| format!(" {v:.4} |")).unwrap_or_default();
            writeln!(
                out,
                "| {}{mark} | {:.3e} | {:.4} |{} {:.4} |{}",
                e.epoch,
                e.learning_rate,
                e.train_loss,
                share(e.train_accuracy),
                e.validation_loss,
                share(e.validation_accuracy)
            )?;
        }
        writeln!(out)?;
    }

    writeln!(out, "## Metrics\n")?;
    match (&d.metrics, &d.regression_metrics) {
        (Some(metrics), _) => write_metrics(out, metrics)?,
        (None, Some(metrics)) => write_regression_metrics(out, metrics)?,
        (None, None) => writeln!(
            out,
            "None recorded. Measure them on labelled rows with \
             `maas eval --model {store}/{}@{} --data labelled.csv`.\n",
            m.name, m.version
        )?,
    }
    let pictures: Vec<&str> = m
        .attachments
        .iter()
        .filter(|a| a.media_type == "image/png")
        .map(|a| a.file.as_str())
        .collect();
    for picture in &pictures {
        writeln!(out, "![{picture}]({picture})")?;
    }
    if !pictures.is_empty() {
        writeln!(out)?;
    }

    writeln!(out, "## How to call it\n")?;
    let reference = format!("{store}/{}@{}", m.name, m.version);
    if task == Task::TextGeneration {
        writeln!(out, "```sh")?;
        writeln!(
            out,
            "maas generate --model {reference} --prompt 'Once upon a time' --max-tokens 64"
        )?;
        writeln!(out, "```\n")?;
        return Ok(());
    }
    // a whole row of zeros when it is short enough to paste
    let width = features.unwrap_or(1);
    let example: Vec<&str> = vec!["0"; width.min(64)];
    let ellipsis = if width > 64 { ", …" } else { "" };
    writeln!(out, "```sh")?;
    writeln!(
        out,
        "maas predict --model {reference} --input rows.csv   # CSV rows or {{\"inputs\": [[...]]}}"
    )?;
    let label_flag = if task == Task::Regression && !targets.is_empty() {
        format!(" --label-column {}", targets.join(","))
    } else {
        String::new()
    };
    writeln!(
        out,
        "maas eval --model {reference} --data labelled.csv{label_flag}"
    )?;
    writeln!(out, "maas serve --model {reference} --port 8080")?;
    writeln!(
        out,
        "curl -s localhost:8080/predict -H 'content-type: application/json' \\\n  -d '{{\"inputs\": [[{}{ellipsis}]]}}'",
        example.join(", ")
    )?;
    writeln!(out, "```\n")?;
    writeln!(
        out,
        "Each input row has {} numbers{}; the answer gives {}. The same API answers from the Lambda function \
         (`MAAS_MODEL={reference}`), and KServe V2 (`/v2/models/{}/infer`) and TF Serving \
         (`/v1/models/{}:predict`) clients work unchanged.",
        features
            .map(|f| f.to_string())
            .unwrap_or_else(|| "the model's".into()),
        if d.feature_names.is_empty() {
            String::new()
        } else {
            " in feature-name order".into()
        },
        match task {
            Task::Classifier => "each row's label and the probability of every class",
            Task::Regression if targets.len() > 1 => {
                "each row's `values`, one per target in the order above"
            }
            Task::Regression => "each row's `value`",
            Task::Tensor | Task::TextGeneration => "the model's outputs",
        },
        m.name,
        m.name
    )?;
    Ok(())
}

/// A regressor's metrics table: one row per target.
fn write_regression_metrics(out: &mut String, metrics: &RegressionMetrics) -> std::fmt::Result {
    writeln!(
        out,
        "On {} held-out test rows, in the targets' units.\n",
        metrics.rows
    )?;
    writeln!(
        out,
        "| target | MSE | RMSE | MAE | R² |\n|---|---:|---:|---:|---:|"
    )?;
    for t in &metrics.per_target {
        writeln!(
            out,
            "| {} | {:.4} | {:.4} | {:.4} | {:.4} |",
            t.name, t.mse, t.rmse, t.mae, t.r2
        )?;
    }
    writeln!(out)
}

/// The metrics tables: overall, per class and the confusion matrix.
fn write_metrics(out: &mut String, metrics: &Metrics) -> std::fmt::Result {
    writeln!(out, "On {} held-out test rows.\n", metrics.rows)?;
    writeln!(
        out,
        "| accuracy | macro precision | macro recall | macro F1 |\n|---:|---:|---:|---:|"
    )?;
    writeln!(
        out,
        "| {:.4} | {:.4} | {:.4} | {:.4} |\n",
        metrics.accuracy, metrics.macro_precision, metrics.macro_recall, metrics.macro_f1
    )?;
    writeln!(
        out,
        "| class | precision | recall | F1 | support |\n|---|---:|---:|---:|---:|"
    )?;
    for c in &metrics.per_class {
        writeln!(
            out,
            "| {} | {:.4} | {:.4} | {:.4} | {} |",
            c.label, c.precision, c.recall, c.f1, c.support
        )?;
    }
    writeln!(
        out,
        "\nConfusion matrix (rows: true class, columns: predicted):\n"
    )?;
    let labels: Vec<&str> = metrics.per_class.iter().map(|c| c.label.as_str()).collect();
    writeln!(out, "| | {} |", labels.join(" | "))?;
    writeln!(out, "|---|{}", "---:|".repeat(labels.len()))?;
    for (label, row) in labels.iter().zip(&metrics.confusion_matrix) {
        let cells: Vec<String> = row.iter().map(|c| c.to_string()).collect();
        writeln!(out, "| **{label}** | {} |", cells.join(" | "))?;
    }
    writeln!(out)
}

/// All of up to twelve names; the first four and the last of more.
fn abbreviate(names: &[String]) -> String {
    if names.len() <= 12 {
        return names.join(", ");
    }
    format!("{}, …, {}", names[..4].join(", "), names[names.len() - 1])
}
