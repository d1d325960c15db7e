//! The model's tokenizer (`tokenizer.json`, read with the Hugging Face `tokenizers` crate) and
//! the incremental decoding of generated tokens: byte-level BPE splits characters across
//! tokens, so text is released only once its characters are whole, and the pieces always
//! concatenate to the decoding of all the tokens at once.

/// Why a tokenizer could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TokenizerError {
    #[error("the export has no tokenizer.json (optimum writes it beside model.onnx)")]
    Missing,
    #[error("tokenizer.json cannot be read: {0}")]
    Load(String),
    #[error("the prompt cannot be tokenized: {0}")]
    Encode(String),
    #[error("the tokens cannot be decoded: {0}")]
    Decode(String),
}

/// A loaded tokenizer.
pub struct TextTokenizer {
    inner: tokenizers::Tokenizer,
    /// Bytes of the longest vocabulary entry as written: no token covers more of a text, so a
    /// text longer than this times the context cannot fit it, whatever it encodes to.
    longest_token: usize,
}

impl std::fmt::Debug for TextTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TextTokenizer")
            .field("vocabulary", &self.vocabulary_size())
            .finish()
    }
}

impl TextTokenizer {
    /// From the bytes of a `tokenizer.json`.
    pub fn from_json(bytes: &[u8]) -> Result<TextTokenizer, TokenizerError> {
        let inner = tokenizers::Tokenizer::from_bytes(bytes)
            .map_err(|e| TokenizerError::Load(e.to_string()))?;
        let longest_token = inner
            .get_vocab(true)
            .keys()
            .map(String::len)
            .max()
            .unwrap_or(1)
            .max(1);
        Ok(TextTokenizer {
            inner,
            longest_token,
        })
    }

    /// The ids of `text`; `special` adds what the tokenizer's post-processor adds (a BOS), as
    /// transformers does for a plain prompt (a rendered chat template brings its own).
    pub fn encode(&self, text: &str, special: bool) -> Result<Vec<u32>, TokenizerError> {
        self.inner
            .encode(text, special)
            .map(|e| e.get_ids().to_vec())
            .map_err(|e| TokenizerError::Encode(e.to_string()))
    }

    /// The text of `ids`, special tokens left out (`skip_special_tokens=True`).
    pub fn decode(&self, ids: &[u32]) -> Result<String, TokenizerError> {
        self.inner
            .decode(ids, true)
            .map_err(|e| TokenizerError::Decode(e.to_string()))
    }

    /// Whether `text` is too long to encode to `tokens` tokens or fewer, known without
    /// encoding it (a 1 MB prompt for a 1024-token context is refused at once).
    pub fn surely_over(&self, text: &str, tokens: usize) -> bool {
        text.len() / self.longest_token > tokens
    }

    /// Entries in the vocabulary, added tokens included.
    pub fn vocabulary_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// Generated tokens turned into text piece by piece (the windowed decoding text-generation
/// servers use: decode a few tokens before the new ones and release what they add).
#[derive(Debug, Default)]
pub struct IncrementalDecoder {
    ids: Vec<u32>,
    /// Start of the window decoded for context.
    prefix: usize,
    /// Tokens up to here are released as text.
    read: usize,
}

impl IncrementalDecoder {
    /// Adds a token; the text it completes (empty while a character is still incomplete).
    pub fn push(&mut self, tokenizer: &TextTokenizer, id: u32) -> Result<String, TokenizerError> {
        self.ids.push(id);
        let before = tokenizer.decode(&self.ids[self.prefix..self.read])?;
        let now = tokenizer.decode(&self.ids[self.prefix..])?;
        if now.len() > before.len() && !now.ends_with('\u{FFFD}') && now.starts_with(&before) {
            let piece = now[before.len()..].to_string();
            self.prefix = self.read;
            self.read = self.ids.len();
            Ok(piece)
        } else {
            Ok(String::new())
        }
    }

    /// What is left once generation ends (an incomplete character is released as decoded).
    pub fn finish(&mut self, tokenizer: &TextTokenizer) -> Result<String, TokenizerError> {
        let before = tokenizer.decode(&self.ids[self.prefix..self.read])?;
        let now = tokenizer.decode(&self.ids[self.prefix..])?;
        self.prefix = self.ids.len();
        self.read = self.ids.len();
        Ok(now.get(before.len()..).unwrap_or_default().to_string())
    }
}
