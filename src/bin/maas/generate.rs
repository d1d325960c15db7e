//! `maas generate`: text from a decoder-only model, printed as it is generated.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use maas::generation::{ChatMessage, GenerationRequest, Prompt, SamplingOptions};
use maas::server::state::ServerConfig;
use maas::store::ModelRef;

use crate::progress::TransferBar;

#[derive(Args)]
pub struct GenerateArgs {
    /// A text-generation model published with `maas publish --hf-dir`:
    /// `<store>/<name>[@version|@alias]`.
    #[arg(long, required_unless_present = "hf_dir", conflicts_with = "hf_dir")]
    pub model: Option<String>,
    /// A folder as `optimum-cli export onnx --task text-generation-with-past` writes it
    /// (model.onnx, tokenizer.json and their configuration files).
    #[arg(long)]
    pub hf_dir: Option<PathBuf>,
    /// The text to continue (with --chat: the user's message).
    #[arg(long)]
    pub prompt: String,
    /// Send the prompt as a user message through the model's chat template.
    #[arg(long)]
    pub chat: bool,
    /// Tokens to generate at most (default: what the context leaves, up to MAAS_MAX_TOKENS).
    #[arg(long)]
    pub max_tokens: Option<usize>,
    /// 0 is greedy (the most likely token each time).
    #[arg(long, default_value_t = 1.0)]
    pub temperature: f32,
    #[arg(long, default_value_t = 1.0)]
    pub top_p: f32,
    /// 0 keeps every token.
    #[arg(long, default_value_t = 0)]
    pub top_k: usize,
    /// The same seed gives the same text.
    #[arg(long)]
    pub seed: Option<u64>,
    /// End the text before this string (repeatable).
    #[arg(long)]
    pub stop: Vec<String>,
    /// Print the generated token ids and the timings (time to the first token, decoding
    /// tokens per second) as one JSON line on standard error after the text.
    #[arg(long)]
    pub print_tokens: bool,
}

pub async fn run(args: GenerateArgs) -> Result<()> {
    let model = match (&args.model, &args.hf_dir) {
        (_, Some(dir)) => std::sync::Arc::new(maas::loader::load_export_folder(dir).await?),
        (Some(reference), None) => {
            let reference: ModelRef = reference.parse()?;
            maas::loader::load_text(&reference, TransferBar::for_terminal()).await?
        }
        (None, None) => bail!("name the model: --model REF or --hf-dir DIR"),
    };
    let prompt = if args.chat {
        Prompt::Chat(vec![ChatMessage {
            role: "user".into(),
            content: args.prompt.clone(),
        }])
    } else {
        Prompt::Text(args.prompt.clone())
    };
    let request = GenerationRequest {
        prompt,
        max_tokens: args.max_tokens,
        sampling: SamplingOptions {
            temperature: args.temperature,
            top_p: args.top_p,
            top_k: args.top_k,
            seed: args.seed,
            ..Default::default()
        },
        stop: args.stop.clone(),
    };
    let config = ServerConfig::from_env()?;
    if let Err(e) = maas::inference::set_threads(config.inference_threads) {
        tracing::warn!("{e}; inference runs on one thread");
    }
    let cap = config.max_tokens;
    let prepared = model.prepare(&request, cap)?;
    let prompt_ids = prepared.prompt_ids().to_vec();
    // the one-shot command's runtime has nothing else to run while the model generates
    let mut out = std::io::stdout().lock();
    let completion = model
        .generate(prepared, &mut |piece| {
            out.write_all(piece.as_bytes()).is_ok() && out.flush().is_ok()
        })
        .context("generation failed")?;
    drop(out);
    println!();
    if args.print_tokens {
        let timings = &completion.timings;
        eprintln!(
            "{}",
            serde_json::json!({
                "tokens": completion.tokens,
                "finish_reason": completion.finish_reason.as_str(),
                "prompt_tokens": completion.prompt_tokens,
                "prompt_ids": prompt_ids,
                "time_to_first_token_ms": timings.first_token.as_secs_f64() * 1e3,
                "decode_tokens_per_second": timings.tokens_per_second(),
            })
        );
    }
    Ok(())
}
