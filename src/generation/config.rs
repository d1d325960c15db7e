//! What the files beside a Hugging Face export say about generating with it: the context
//! length (`config.json`), the ids that end a generation and the defaults
//! (`generation_config.json`), the special tokens and the chat template
//! (`tokenizer_config.json`, or `chat_template.jinja` beside it).

use serde_json::Value;

/// The names of the files a text-generation model carries beside `model.onnx`.
pub const TOKENIZER: &str = "tokenizer.json";
pub const TOKENIZER_CONFIG: &str = "tokenizer_config.json";
pub const CHAT_TEMPLATE: &str = "chat_template.jinja";
pub const GENERATION_CONFIG: &str = "generation_config.json";
pub const MODEL_CONFIG: &str = "config.json";
pub const SPECIAL_TOKENS_MAP: &str = "special_tokens_map.json";

/// Every file a text-generation version may hold beside its model, the tokenizer first.
pub const FILES: [&str; 6] = [
    TOKENIZER,
    TOKENIZER_CONFIG,
    CHAT_TEMPLATE,
    GENERATION_CONFIG,
    MODEL_CONFIG,
    SPECIAL_TOKENS_MAP,
];

/// The files of an export that generation reads, as bytes (`tokenizer.json` is required, the
/// rest optional).
#[derive(Debug, Clone, Default)]
pub struct ExportFiles {
    pub tokenizer: Option<Vec<u8>>,
    pub tokenizer_config: Option<Vec<u8>>,
    pub chat_template: Option<Vec<u8>>,
    pub generation_config: Option<Vec<u8>>,
    pub model_config: Option<Vec<u8>>,
}

impl ExportFiles {
    /// Where the file named `file` goes; `None` for a file generation does not read
    /// (`special_tokens_map.json`, anything else). Both readers, the export folder's and the
    /// store's, fill the files through this.
    pub fn slot(&mut self, file: &str) -> Option<&mut Option<Vec<u8>>> {
        match file {
            TOKENIZER => Some(&mut self.tokenizer),
            TOKENIZER_CONFIG => Some(&mut self.tokenizer_config),
            CHAT_TEMPLATE => Some(&mut self.chat_template),
            GENERATION_CONFIG => Some(&mut self.generation_config),
            MODEL_CONFIG => Some(&mut self.model_config),
            _ => None,
        }
    }
}

/// A file of an export that is not what it should be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file} is not valid: {message}")]
pub struct BadFile {
    pub file: &'static str,
    pub message: String,
}

/// What generation needs from the export's configuration files.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct GenerationConfig {
    /// Positions the model was trained for (`n_positions`, `max_position_embeddings`, …).
    pub context: Option<usize>,
    /// Ids that end a generation, from `generation_config.json`, else `config.json`.
    pub eos_ids: Vec<u32>,
    /// Special tokens by role (`bos_token` → `<|endoftext|>`), for the chat template.
    pub special_tokens: Vec<(String, String)>,
    /// The Jinja chat template, if the export has one.
    pub chat_template: Option<String>,
}

fn parse(file: &'static str, bytes: &Option<Vec<u8>>) -> Result<Option<Value>, BadFile> {
    bytes
        .as_deref()
        .map(|b| {
            serde_json::from_slice(b).map_err(|e| BadFile {
                file,
                message: e.to_string(),
            })
        })
        .transpose()
}

/// `eos_token_id` as a list: a number or a list of numbers.
fn ids(value: Option<&Value>) -> Vec<u32> {
    match value {
        Some(Value::Number(n)) => n.as_u64().map(|n| n as u32).into_iter().collect(),
        Some(Value::Array(list)) => list
            .iter()
            .filter_map(|v| v.as_u64().map(|n| n as u32))
            .collect(),
        _ => Vec::new(),
    }
}

/// A special token as tokenizer_config.json writes it: its text, or `{"content": text}`.
fn token_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Object(o) => o.get("content")?.as_str().map(str::to_string),
        _ => None,
    }
}

impl GenerationConfig {
    pub fn from_files(files: &ExportFiles) -> Result<GenerationConfig, BadFile> {
        let model = parse(MODEL_CONFIG, &files.model_config)?;
        let generation = parse(GENERATION_CONFIG, &files.generation_config)?;
        let tokenizer = parse(TOKENIZER_CONFIG, &files.tokenizer_config)?;
        let context = model.as_ref().and_then(|m| {
            [
                "max_position_embeddings",
                "n_positions",
                "n_ctx",
                "max_sequence_length",
                "seq_length",
            ]
            .iter()
            .find_map(|k| m.get(*k)?.as_u64())
            .map(|n| n as usize)
        });
        let mut eos_ids = ids(generation.as_ref().and_then(|g| g.get("eos_token_id")));
        if eos_ids.is_empty() {
            eos_ids = ids(model.as_ref().and_then(|m| m.get("eos_token_id")));
        }
        let special_tokens = tokenizer
            .as_ref()
            .and_then(Value::as_object)
            .map(|o| {
                ["bos_token", "eos_token", "pad_token", "unk_token"]
                    .iter()
                    .filter_map(|k| Some((k.to_string(), token_text(o.get(*k)?)?)))
                    .collect()
            })
            .unwrap_or_default();
        let chat_template = match &files.chat_template {
            Some(bytes) => Some(String::from_utf8(bytes.clone()).map_err(|_| BadFile {
                file: CHAT_TEMPLATE,
                message: "not UTF-8 text".into(),
            })?),
            None => tokenizer
                .as_ref()
                .and_then(|t| t.get("chat_template"))
                .and_then(|t| match t {
                    Value::String(s) => Some(s.clone()),
                    // a list of named templates: the default one
                    Value::Array(list) => list
                        .iter()
                        .find(|e| e.get("name").and_then(Value::as_str) == Some("default"))
                        .and_then(|e| e.get("template")?.as_str().map(str::to_string)),
                    _ => None,
                }),
        };
        Ok(GenerationConfig {
            context,
            eos_ids,
            special_tokens,
            chat_template,
        })
    }
}
