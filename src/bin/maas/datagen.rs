//! `maas datagen`: a synthetic CSV data set of any shape.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use maas::datagen::{self as generator, DataSpec};

#[derive(Args)]
pub struct DatagenArgs {
    /// Where to write the CSV.
    #[arg(long)]
    pub output: PathBuf,
    #[arg(long, default_value_t = 20_000)]
    pub rows: usize,
    #[arg(long, default_value_t = 1000)]
    pub features: usize,
    #[arg(long, default_value_t = 10)]
    pub classes: usize,
    /// Noise around the class centres (higher is harder).
    #[arg(long, default_value_t = 4.0)]
    pub noise: f64,
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
}

pub fn run(args: DatagenArgs) -> Result<()> {
    let spec = DataSpec {
        rows: args.rows,
        features: args.features,
        classes: args.classes,
        noise: args.noise,
        seed: args.seed,
    };
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    let file = std::fs::File::create(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut out = std::io::BufWriter::new(file);
    generator::write_csv(&spec, &mut out)?;
    println!(
        "wrote {} rows × {} features, {} classes to {}",
        spec.rows,
        spec.features,
        spec.classes,
        args.output.display()
    );
    Ok(())
}
