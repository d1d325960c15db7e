//! What can go wrong in the store, each with a message that says what to fix, and the rule
//! for model names and aliases (they become path segments).

use crate::manifest::MANIFEST_FORMAT;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Reading, writing or listing the store's objects failed (the I/O needs `native`).
    #[cfg(feature = "native")]
    #[error(transparent)]
    Object(#[from] crate::objects::ObjectError),
    #[error("invalid model reference '{reference}': {reason}")]
    InvalidReference { reference: String, reason: String },
    #[error("invalid {what} '{value}': use 1 to 128 letters, digits, '.', '_' or '-', not starting with '.' or '-'{extra}")]
    InvalidName {
        what: &'static str,
        value: String,
        extra: &'static str,
    },
    #[error("no model named '{name}' in store {store}")]
    NoSuchModel { store: String, name: String },
    #[error("model '{name}' in store {store} has no version {version}")]
    NoSuchVersion {
        store: String,
        name: String,
        version: u64,
    },
    #[error("model '{name}' in store {store} has no alias '{alias}'")]
    NoSuchAlias {
        store: String,
        name: String,
        alias: String,
    },
    #[error("model file {path} not found")]
    NoSuchFile { path: String },
    #[error("{name} version {version} has no attached file '{file}' (attached: {listed})")]
    NoSuchAttachment {
        name: String,
        version: u64,
        file: String,
        listed: String,
    },
    #[error("{path} is not a valid maas document: {message}")]
    BadDocument { path: String, message: String },
    #[error("{path} was written by a newer maas (manifest format {found}, maas {maas_version}); this maas {ours} reads format {MANIFEST_FORMAT} at most: upgrade maas")]
    NewerManifest {
        path: String,
        found: u32,
        maas_version: String,
        ours: &'static str,
    },
    #[error("checksum mismatch for {name} version {version}: the manifest says sha256 {expected}, the file {file} has {actual}; refusing to use it")]
    ChecksumMismatch {
        name: String,
        file: String,
        version: u64,
        expected: String,
        actual: String,
    },
    #[error("store {store} already holds {name} version {version} with another model (sha256 {theirs}, copying {ours}); copy into another store or model name")]
    VersionTaken {
        store: String,
        name: String,
        version: u64,
        theirs: String,
        ours: String,
    },
    #[error("alias '{alias}' of model '{name}' has no earlier version to roll back to")]
    NothingToRollBack { name: String, alias: String },
}

/// Checks a model name or alias: it becomes a path segment, so no separators or dot-dot.
pub fn validate_name(what: &'static str, value: &str) -> Result<(), StoreError> {
    let ok = !value.is_empty()
        && value.len() <= 128
        && !value.starts_with('.')
        && !value.starts_with('-')
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    let all_digits = value.bytes().all(|b| b.is_ascii_digit());
    if !ok || (what == "alias" && all_digits) {
        return Err(StoreError::InvalidName {
            what,
            value: value.to_string(),
            extra: if what == "alias" {
                "; an alias cannot be a number"
            } else {
                ""
            },
        });
    }
    Ok(())
}
