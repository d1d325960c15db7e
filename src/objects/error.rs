//! What can go wrong reading or writing an object, each message naming the object and what
//! to check.

/// Why an object could not be read, written or listed.
#[derive(Debug, thiserror::Error)]
pub enum ObjectError {
    #[error("invalid location '{location}': {reason}")]
    InvalidLocation { location: String, reason: String },
    #[error("{path} not found")]
    NotFound { path: String },
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("no such bucket: {bucket}")]
    NoSuchBucket { bucket: String },
    #[error("access denied to {action} {path} ({code}): check the credentials and the IAM policy")]
    AccessDenied {
        action: &'static str,
        path: String,
        code: String,
    },
    #[error("cannot reach the S3 endpoint {endpoint} after {attempts} attempts: {detail}")]
    Unreachable {
        endpoint: String,
        attempts: u32,
        detail: String,
    },
    #[error("{path} keeps changing under concurrent writers; try again")]
    Contended { path: String },
}

impl ObjectError {
    /// An I/O failure of `action` on `path`, from any error.
    pub(crate) fn io(action: &'static str, path: impl ToString, error: impl ToString) -> Self {
        ObjectError::Io {
            action,
            path: path.to_string(),
            source: std::io::Error::other(error.to_string()),
        }
    }
}
