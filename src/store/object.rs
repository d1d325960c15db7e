//! What the store's backends answer, shared by the folder and S3 backends and their dispatch:
//! a downloaded model file with its hash, the answer of a conditional read, a listing, and the
//! read-modify-write callback of a compare-and-swap update.

use super::{sha256_hex, StoreError};

/// A model file as read from a backend, with the sha256 of its bytes (computed on the way in
/// where the backend streams them).
#[derive(Debug)]
pub(crate) struct Downloaded {
    pub bytes: Vec<u8>,
    pub sha256: String,
}

impl Downloaded {
    /// Bytes read whole, hashed now.
    pub(crate) fn hashed(bytes: Vec<u8>) -> Self {
        Downloaded {
            sha256: sha256_hex(&bytes),
            bytes,
        }
    }
}

/// The answer to a conditional read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Changed {
    /// The object still has the ETag the caller knows.
    Unchanged,
    Missing,
    /// The new content and its ETag.
    Changed(Vec<u8>, Option<String>),
}

/// Folders and files directly under a key prefix.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Listing {
    pub folders: Vec<String>,
    pub files: Vec<String>,
}

/// Computes an object's new content from its current one (`None` leaves it unchanged).
pub(crate) type Decide<'a> =
    dyn FnMut(Option<&[u8]>) -> Result<Option<Vec<u8>>, StoreError> + Send + 'a;
