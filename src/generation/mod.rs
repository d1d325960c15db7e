//! Text generation with decoder-only language models in the layout Hugging Face optimum
//! exports (`layout`), with the files beside them (`config`): the tokenizer and incremental
//! decoding (`tokenizer`), chat templates (`chat`), sampling (`sampling`), stop strings
//! (`stop`) and the decoding loop with the KV cache (`engine`). No I/O: the protocols and the
//! CLI hand it a loaded model and the export's files.

mod chat;
pub mod config;
mod engine;
mod layout;
mod sampling;
mod stop;
mod tokenizer;

pub use chat::{ChatError, ChatMessage, ChatTemplate};
pub use config::{ExportFiles, GenerationConfig};
pub use engine::{
    Completion, FinishReason, GenerationError, GenerationRequest, Prepared, Prompt, TextModel,
    TextModelError, Timings,
};
pub use layout::{DecoderLayout, LayoutError};
pub use sampling::{argmax, BadOption, Sampler, SamplingOptions};
pub use stop::StopStrings;
pub use tokenizer::{IncrementalDecoder, TextTokenizer, TokenizerError};
