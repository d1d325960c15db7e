//! `--task`, `--output` and `--labels`: what a bare ONNX file answers, as `maas publish` and
//! `maas eval` take it.

use anyhow::{bail, Context, Result};

use maas::contract::Task;
use maas::inference::LoadedModel;

/// Makes `model` the classifier, regressor or tensor model the flags say (labels alone rename
/// a classifier's classes); `--output` needs `--task`.
pub fn apply(
    model: &mut LoadedModel,
    task: Option<Task>,
    output: Option<&str>,
    labels: Option<Vec<String>>,
) -> Result<()> {
    if output.is_some() && task.is_none() {
        bail!("--output names the output a classifier or regressor answers with: give --task too");
    }
    match (task, labels) {
        (Some(task), labels) => {
            let labels = labels.unwrap_or_else(|| model.labels().to_vec());
            model.set_task(task, output, labels).context("--task")?
        }
        (None, Some(labels)) => model.set_labels(labels).context("--labels")?,
        (None, None) => {}
    }
    Ok(())
}
