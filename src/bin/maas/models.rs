//! `maas models`: list, show, promote and roll back published versions.

use anyhow::{bail, Result};
use clap::Subcommand;

use maas::report;
use maas::store::{ModelRef, Selector, Store};

#[derive(Subcommand)]
pub enum ModelsCommand {
    /// Versions of a model with created time, size, test score (a classifier's accuracy, a
    /// regressor's R², of its first target) and the aliases on each.
    List {
        /// `<store>/<name>`.
        reference: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The model card of a version (default: alias latest): data, training, metrics, usage.
    Show {
        /// `<store>/<name>[@version|@alias]`.
        reference: String,
        /// Print the manifest as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Point an alias at a version: `maas models promote models/digits@3 --alias prod`.
    Promote {
        /// `<store>/<name>@<version>`.
        reference: String,
        #[arg(long)]
        alias: String,
    },
    /// Copy a version into another store with its number, manifest, attachments and alias:
    /// `maas models copy models/digits@prod --to s3://bucket/models` (R2 too, through
    /// `AWS_ENDPOINT_URL_S3`). Copying again is a no-op; a different model under that number
    /// is refused.
    Copy {
        /// `<store>/<name>[@version|@alias]`.
        reference: String,
        /// The target store: a folder or `s3://bucket[/prefix]`.
        #[arg(long)]
        to: String,
    },
    /// Move an alias back to the version it held before its last move.
    Rollback {
        /// `<store>/<name>`.
        reference: String,
        #[arg(long)]
        alias: String,
    },
}

/// The store, name and selector of a stored-model reference (a bare file is refused).
fn stored(reference: &str) -> Result<(Store, String, Selector)> {
    match reference.parse::<ModelRef>()? {
        ModelRef::Stored {
            store,
            name,
            selector,
        } => Ok((Store::open(store), name, selector)),
        ModelRef::File(path) => bail!(
            "{} is a file; this command needs a stored model, <store>/<name>",
            path.display()
        ),
    }
}

pub async fn run(command: ModelsCommand) -> Result<()> {
    match command {
        ModelsCommand::List { reference, json } => {
            let (store, name, _) = stored(&reference)?;
            let versions = store.list(&name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
                return Ok(());
            }
            println!(
                "{:>7}  {:<20}  {:>12}  {:>13}  aliases",
                "version", "created", "bytes", "test score"
            );
            for v in versions {
                let m = &v.manifest;
                let created = m
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let d = &m.description;
                let score = match (&d.metrics, &d.regression_metrics) {
                    (Some(x), _) => format!("accuracy {:.4}", x.accuracy),
                    (None, Some(x)) => x
                        .per_target
                        .first()
                        .map(|t| format!("R² {:.4}", t.r2))
                        .unwrap_or_else(|| "-".into()),
                    (None, None) => "-".into(),
                };
                println!(
                    "{:>7}  {:<20}  {:>12}  {:>13}  {}",
                    m.version,
                    created.get(..19).unwrap_or(&created),
                    m.model.size_bytes,
                    score,
                    v.aliases.join(", ")
                );
            }
        }
        ModelsCommand::Show { reference, json } => {
            let (store, name, selector) = stored(&reference)?;
            let version = store.resolve(&name, &selector).await?;
            let manifest = store.manifest(&name, version).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&manifest)?);
            } else {
                print!(
                    "{}",
                    report::model_card(&manifest, &store.location().to_string())
                );
            }
        }
        ModelsCommand::Promote { reference, alias } => {
            let (store, name, selector) = stored(&reference)?;
            let Selector::Version(version) = selector else {
                bail!("promote needs a version: {reference} should end with @<version>");
            };
            store.set_alias(&name, &alias, version).await?;
            println!("{name}@{alias} -> version {version}");
        }
        ModelsCommand::Copy { reference, to } => {
            let (store, name, selector) = stored(&reference)?;
            let target = Store::open(to.parse()?);
            let copied = store.copy_to(&name, &selector, &target).await?;
            let aliases = if copied.aliases.is_empty() {
                String::new()
            } else {
                format!(" ({})", copied.aliases.join(", "))
            };
            let what = if copied.already_there {
                "already in"
            } else {
                "copied to"
            };
            println!(
                "{name} version {}{aliases} {what} {}",
                copied.version,
                target.location()
            );
        }
        ModelsCommand::Rollback { reference, alias } => {
            let (store, name, _) = stored(&reference)?;
            let version = store.rollback(&name, &alias).await?;
            println!("{name}@{alias} -> version {version} (rolled back)");
        }
    }
    Ok(())
}
