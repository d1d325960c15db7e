//! The decoding loop: the prompt in one run (prefill), then one token per run with the key and
//! value cache the previous run answered; each token chosen by the [`Sampler`], turned into
//! text as its characters complete, checked against the stop strings and handed to the caller
//! (who may stop it: a client gone), until an end-of-text id, a stop string or `max_tokens`.

use super::chat::{ChatError, ChatMessage, ChatTemplate};
use super::config::{BadFile, ExportFiles, GenerationConfig};
use super::layout::{DecoderLayout, LayoutError};
use super::sampling::{BadOption, Sampler, SamplingOptions};
use super::stop::StopStrings;
use super::tokenizer::{IncrementalDecoder, TextTokenizer, TokenizerError};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Instant;
use crate::contract::Task;
use crate::inference::{InferenceError, LoadedModel};
use crate::manifest::{ModelDescription, TextDescription};
use tract_onnx::prelude::{DatumType, TValue, TVec, Tensor as TractTensor};

/// What a client asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Prompt {
    /// A plain text continued as it is (tokenized with the tokenizer's special tokens).
    Text(String),
    /// A conversation, rendered with the model's chat template and an assistant turn to come.
    Chat(Vec<ChatMessage>),
}

/// One generation request.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationRequest {
    pub prompt: Prompt,
    /// `None`: as many as the context leaves, up to the server's cap.
    pub max_tokens: Option<usize>,
    pub sampling: SamplingOptions,
    pub stop: Vec<String>,
}

/// Why text cannot be generated; the first group is the client's to fix (a 400).
#[derive(Debug, thiserror::Error)]
pub enum GenerationError {
    #[error("the prompt is empty: send some text to continue")]
    EmptyPrompt,
    #[error(transparent)]
    Option(#[from] BadOption),
    #[error("max_tokens is {0}: ask for at least 1 token")]
    NoTokens(usize),
    #[error("max_tokens is {asked}, over this server's cap of {cap} (MAAS_MAX_TOKENS)")]
    OverCap { asked: usize, cap: usize },
    #[error("prompt tokens ({prompt}) plus max_tokens ({asked}) are over the model's context of {context} tokens")]
    OverContext {
        prompt: usize,
        asked: usize,
        context: usize,
    },
    #[error("the prompt of {bytes} bytes is longer than the model's context of {context} tokens can hold")]
    PromptTooLong { bytes: usize, context: usize },
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    /// The caller stopped taking text (its client went away).
    #[error("the generation was stopped: its client went away")]
    Cancelled,
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

impl GenerationError {
    /// The request field at fault, named as the OpenAI API names it (its errors' `param`).
    pub fn field(&self) -> Option<&'static str> {
        match self {
            GenerationError::Option(bad) => Some(bad.field),
            GenerationError::NoTokens(_)
            | GenerationError::OverCap { .. }
            | GenerationError::OverContext { .. } => Some("max_tokens"),
            GenerationError::EmptyPrompt | GenerationError::PromptTooLong { .. } => Some("prompt"),
            GenerationError::Chat(_) => Some("messages"),
            _ => None,
        }
    }

    /// Whether the request, not the server, is at fault (HTTP 400).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            GenerationError::EmptyPrompt
                | GenerationError::Option(_)
                | GenerationError::NoTokens(_)
                | GenerationError::OverCap { .. }
                | GenerationError::OverContext { .. }
                | GenerationError::PromptTooLong { .. }
                | GenerationError::Chat(_)
                | GenerationError::Tokenizer(TokenizerError::Encode(_))
        )
    }
}

/// Why an export cannot serve text.
#[derive(Debug, thiserror::Error)]
pub enum TextModelError {
    #[error(transparent)]
    Layout(#[from] LayoutError),
    #[error(transparent)]
    File(#[from] BadFile),
    #[error(transparent)]
    Tokenizer(#[from] TokenizerError),
    #[error(transparent)]
    Chat(#[from] ChatError),
    #[error("a bare .onnx file has no tokenizer: point --hf-dir at the export folder, or publish it with `maas publish --hf-dir`")]
    BareFile,
    #[error("{name} version {version} is a {task} model, not a text-generation one: publish an optimum export folder with `maas publish --hf-dir`")]
    NotTextGeneration {
        name: String,
        version: u64,
        task: String,
    },
    #[error(transparent)]
    Inference(#[from] InferenceError),
}

/// Why the generation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FinishReason {
    /// An end-of-text id or a stop string.
    Stop,
    /// `max_tokens` (or the context) ran out.
    Length,
}

impl FinishReason {
    /// As OpenAI and KServe name it.
    pub fn as_str(self) -> &'static str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
        }
    }
}

/// A finished generation.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    /// The generated ids (an end-of-text id included when one ended it).
    pub tokens: Vec<u32>,
    pub finish_reason: FinishReason,
    pub prompt_tokens: usize,
    pub timings: Timings,
}

/// How long a generation's steps took (for time-to-first-token and per-token metrics).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Timings {
    /// From the start of [`TextModel::generate`] to the first token chosen: the prompt's run.
    pub first_token: Duration,
    /// Each later token's step, in order.
    pub per_token: Vec<Duration>,
}

impl Timings {
    /// Decoding speed: the tokens after the first per second of their steps (0 when there
    /// were none).
    pub fn tokens_per_second(&self) -> f64 {
        Self::rate(&self.per_token)
    }

    /// Steps per second of `steps` (0 when there are none).
    pub fn rate(steps: &[Duration]) -> f64 {
        let seconds: f64 = steps.iter().map(Duration::as_secs_f64).sum();
        if seconds > 0.0 {
            steps.len() as f64 / seconds
        } else {
            0.0
        }
    }
}

/// A checked request, ready to run: what [`TextModel::prepare`] makes before a slot is taken.
#[derive(Debug)]
pub struct Prepared {
    ids: Vec<u32>,
    sampler: Sampler,
    max_tokens: usize,
    stop: StopStrings,
}

impl Prepared {
    /// The prompt's token ids (after the chat template, when there was one).
    pub fn prompt_ids(&self) -> &[u32] {
        &self.ids
    }

    /// The most tokens the generation may produce.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }
}

/// A decoder with its tokenizer and configuration: what serves text.
pub struct TextModel {
    model: Arc<LoadedModel>,
    layout: DecoderLayout,
    tokenizer: TextTokenizer,
    config: GenerationConfig,
    chat: Option<ChatTemplate>,
    vocabulary: Option<usize>,
}

impl std::fmt::Debug for TextModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextModel")
            .field("layers", &self.layout.layers())
            .field("context", &self.config.context)
            .finish_non_exhaustive()
    }
}

impl TextModel {
    /// A decoder and the files of its export; refused naming what is missing or broken (a
    /// chat template that cannot render a conversation included).
    pub fn new(mut model: LoadedModel, files: &ExportFiles) -> Result<TextModel, TextModelError> {
        let layout = DecoderLayout::detect(&model)?;
        model.set_task(Task::TextGeneration, None, Vec::new())?;
        let tokenizer =
            TextTokenizer::from_json(files.tokenizer.as_deref().ok_or(TokenizerError::Missing)?)?;
        let config = GenerationConfig::from_files(files)?;
        let chat = match &config.chat_template {
            Some(source) => {
                let template = ChatTemplate::new(source, config.special_tokens.clone())?;
                template.check()?;
                Some(template)
            }
            None => None,
        };
        let vocabulary = model.outputs()[layout.logits()]
            .shape
            .get(2)
            .and_then(|&v| usize::try_from(v).ok());
        Ok(TextModel {
            model: Arc::new(model),
            layout,
            tokenizer,
            config,
            chat,
            vocabulary,
        })
    }

    pub fn model(&self) -> &LoadedModel {
        &self.model
    }

    /// The model, to serve its tensors beside its text (one copy of the weights).
    pub fn shared_model(&self) -> &Arc<LoadedModel> {
        &self.model
    }

    pub fn tokenizer(&self) -> &TextTokenizer {
        &self.tokenizer
    }

    pub fn config(&self) -> &GenerationConfig {
        &self.config
    }

    /// The description a store publishes: the graph's signature, `task: text-generation` and
    /// what the tokenizer and configuration files say.
    pub fn description(&self) -> ModelDescription {
        let mut description = self.model.description();
        description.generation = Some(TextDescription {
            vocabulary_size: self.vocabulary_size(),
            context_length: self.config.context,
            eos_token_ids: self.config.eos_ids.clone(),
            special_tokens: self.config.special_tokens.iter().cloned().collect(),
            chat_template: self.chat.is_some(),
        });
        description
    }

    /// Entries of the logits: the model's vocabulary.
    pub fn vocabulary_size(&self) -> usize {
        self.vocabulary
            .unwrap_or_else(|| self.tokenizer.vocabulary_size())
    }

    /// Checks a request and tokenizes its prompt; `cap` is the server's `MAAS_MAX_TOKENS`.
    pub fn prepare(
        &self,
        request: &GenerationRequest,
        cap: usize,
    ) -> Result<Prepared, GenerationError> {
        let sampler = Sampler::new(request.sampling.clone())?;
        let too_long = |text: &str| match self.config.context {
            Some(context) if self.tokenizer.surely_over(text, context) => {
                Err(GenerationError::PromptTooLong {
                    bytes: text.len(),
                    context,
                })
            }
            _ => Ok(()),
        };
        let ids = match &request.prompt {
            Prompt::Text(text) => {
                too_long(text)?;
                self.tokenizer.encode(text, true)?
            }
            Prompt::Chat(messages) => {
                let chat = self.chat.as_ref().ok_or(ChatError::NoTemplate)?;
                let text = chat.render(messages, true)?;
                too_long(&text)?;
                self.tokenizer.encode(&text, false)?
            }
        };
        if ids.is_empty() {
            return Err(GenerationError::EmptyPrompt);
        }
        let room = self
            .config
            .context
            .map_or(usize::MAX, |c| c.saturating_sub(ids.len()));
        let max_tokens = match request.max_tokens {
            Some(0) => return Err(GenerationError::NoTokens(0)),
            Some(asked) if asked > cap => return Err(GenerationError::OverCap { asked, cap }),
            Some(asked) if asked > room => {
                return Err(GenerationError::OverContext {
                    prompt: ids.len(),
                    asked,
                    context: self.config.context.unwrap_or(usize::MAX),
                })
            }
            Some(asked) => asked,
            None if room == 0 => {
                return Err(GenerationError::OverContext {
                    prompt: ids.len(),
                    asked: 1,
                    context: self.config.context.unwrap_or(usize::MAX),
                })
            }
            None => room.min(cap),
        };
        Ok(Prepared {
            ids,
            sampler,
            max_tokens,
            stop: StopStrings::new(request.stop.iter().cloned()),
        })
    }

    /// Generates, handing each settled piece of text to `emit` (which returns `false` to stop:
    /// the generation then ends with [`GenerationError::Cancelled`] within a token).
    pub fn generate(
        &self,
        prepared: Prepared,
        emit: &mut dyn FnMut(&str) -> bool,
    ) -> Result<Completion, GenerationError> {
        let Prepared {
            ids,
            mut sampler,
            max_tokens,
            stop,
        } = prepared;
        let mut cache = self.empty_cache()?;
        let mut context = ids.clone();
        let mut step_ids = ids.clone();
        let mut past = 0usize;
        let mut decoder = IncrementalDecoder::default();
        let mut text = String::new();
        let (mut emitted, mut checked) = (0usize, 0usize);
        let mut tokens = Vec::new();
        let mut finish = FinishReason::Length;
        let mut stopped_at = None;
        let mut timings = Timings::default();
        while tokens.len() < max_tokens {
            let step_started = Instant::now();
            let (mut logits, next_cache) = self.step(&step_ids, past, cache)?;
            cache = next_cache;
            past += step_ids.len();
            let token = sampler.next(&mut logits, &context);
            if tokens.is_empty() {
                timings.first_token = step_started.elapsed();
            } else {
                timings.per_token.push(step_started.elapsed());
            }
            tokens.push(token);
            context.push(token);
            if self.config.eos_ids.contains(&token) {
                finish = FinishReason::Stop;
                break;
            }
            text.push_str(&decoder.push(&self.tokenizer, token)?);
            if let Some(at) = stop.find(&text, checked) {
                stopped_at = Some(at);
                finish = FinishReason::Stop;
                break;
            }
            checked = text.len();
            let settled = text.len() - stop.held_back(&text);
            if settled > emitted {
                if !emit(&text[emitted..settled]) {
                    return Err(GenerationError::Cancelled);
                }
                emitted = settled;
            }
            step_ids = vec![token];
        }
        if stopped_at.is_none() {
            text.push_str(&decoder.finish(&self.tokenizer)?);
            stopped_at = stop.find(&text, checked);
            if stopped_at.is_some() {
                finish = FinishReason::Stop;
            }
        }
        if let Some(at) = stopped_at {
            text.truncate(at);
        }
        if text.len() > emitted && !emit(&text[emitted..]) {
            return Err(GenerationError::Cancelled);
        }
        Ok(Completion {
            text,
            tokens,
            finish_reason: finish,
            prompt_tokens: ids.len(),
            timings,
        })
    }

    /// The cache of no tokens: a `[1, heads, 0, head_dim]` key and value per layer.
    fn empty_cache(&self) -> Result<Vec<TValue>, GenerationError> {
        let dtype = if self.layout.cache_is_f16() {
            DatumType::F16
        } else {
            DatumType::F32
        };
        let empty = TValue::from(
            TractTensor::zero_dt(dtype, &self.layout.empty_cache_shape())
                .map_err(|e| InferenceError::Input(format!("{e:#}")))?,
        );
        Ok(vec![empty; 2 * self.layout.layers()])
    }

    /// One run: `ids` after `past` cached tokens; the last position's logits and the new
    /// cache (key, value per layer, in layer order), handed on without a copy.
    fn step(
        &self,
        ids: &[u32],
        past: usize,
        cache: Vec<TValue>,
    ) -> Result<(Vec<f32>, Vec<TValue>), GenerationError> {
        let n = ids.len();
        let int64 = |values: Vec<i64>| -> Result<TValue, InferenceError> {
            let len = values.len();
            TractTensor::from_shape(&[1, len], &values)
                .map(TValue::from)
                .map_err(|e| InferenceError::Input(format!("{e:#}")))
        };
        let mut slots: Vec<Option<TValue>> = vec![None; self.model.inputs().len()];
        slots[self.layout.input_ids()] = Some(int64(ids.iter().map(|&i| i64::from(i)).collect())?);
        slots[self.layout.attention_mask()] = Some(int64(vec![1; past + n])?);
        if let Some(p) = self.layout.position_ids() {
            slots[p] = Some(int64((past..past + n).map(|p| p as i64).collect())?);
        }
        let mut cache = cache.into_iter();
        for &(key, value) in self.layout.past() {
            slots[key] = cache.next();
            slots[value] = cache.next();
        }
        let inputs: TVec<TValue> = slots
            .into_iter()
            .enumerate()
            .map(|(i, t)| {
                t.ok_or_else(|| {
                    InferenceError::Input(format!(
                        "the decoder's input '{}' has no value",
                        self.model.inputs()[i].name
                    ))
                })
            })
            .collect::<Result<_, _>>()?;
        let mut outputs: Vec<Option<TValue>> = self
            .model
            .run_values(inputs)?
            .into_iter()
            .map(Some)
            .collect();
        let logits = outputs
            .get_mut(self.layout.logits())
            .and_then(Option::take)
            .ok_or_else(|| InferenceError::Run("the decoder answered no logits".into()))?;
        let logits = logits
            .cast_to::<f32>()
            .map_err(|_| InferenceError::Run("the decoder answered no float logits".into()))?;
        let view = logits
            .to_plain_array_view::<f32>()
            .map_err(|_| InferenceError::Run("the decoder answered no float logits".into()))?;
        let count = view.len();
        let vocabulary = count / n.max(1);
        if vocabulary == 0 || count != n * vocabulary {
            return Err(InferenceError::Run(format!(
                "the decoder answered {count} logits for {n} tokens"
            ))
            .into());
        }
        // the last position's row: tract's outputs are contiguous, read in place
        let last = match view.as_slice() {
            Some(all) => all[(n - 1) * vocabulary..].to_vec(),
            None => view.iter().skip((n - 1) * vocabulary).copied().collect(),
        };
        let mut next = Vec::with_capacity(2 * self.layout.layers());
        for &(key, value) in self.layout.present() {
            for index in [key, value] {
                next.push(
                    outputs
                        .get_mut(index)
                        .and_then(Option::take)
                        .ok_or_else(|| {
                            InferenceError::Run("the decoder answered no cache".into())
                        })?,
                );
            }
        }
        Ok((last, next))
    }
}
