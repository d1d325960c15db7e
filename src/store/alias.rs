//! What an alias holds: the version it names and the earlier ones `rollback` walks back to.

use serde::{Deserialize, Serialize};

/// How many earlier versions an alias remembers for `rollback`.
pub(super) const ALIAS_HISTORY: usize = 20;

/// Content of `aliases/<alias>.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasRecord {
    pub version: u64,
    /// Versions the alias pointed at before, most recent last.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<u64>,
}
