//! Aliases: named pointers to versions (`latest`, `prod`, …) with the history `rollback` walks,
//! moved by compare-and-swap so racing writers never lose an update.

use super::super::alias::{AliasRecord, ALIAS_HISTORY};
use super::super::{parse_document, to_json, validate_name, Selector, StoreError, LATEST};
use super::Store;
use crate::objects::{self, Changed};

impl Store {
    fn alias_key(name: &str, alias: &str) -> String {
        format!("{name}/aliases/{alias}.json")
    }

    /// Points `alias` of `name` at a published `version`, remembering where it pointed before.
    pub async fn set_alias(&self, name: &str, alias: &str, version: u64) -> Result<(), StoreError> {
        self.manifest(name, version).await?;
        self.update_alias(name, alias, |_| Some(version)).await
    }

    /// Moves `alias` back to the version it held before the last move; returns that version.
    pub async fn rollback(&self, name: &str, alias: &str) -> Result<u64, StoreError> {
        validate_name("model name", name)?;
        validate_name("alias", alias)?;
        let key = Self::alias_key(name, alias);
        let path = self.at(&key).to_string();
        let mut restored = None;
        let (name_owned, alias_owned) = (name.to_string(), alias.to_string());
        objects::update(&self.at(&key), &mut |current| {
            let Some(bytes) = current else {
                return Err(StoreError::NoSuchAlias {
                    store: self.location.to_string(),
                    name: name_owned.clone(),
                    alias: alias_owned.clone(),
                });
            };
            let mut record: AliasRecord = parse_document(&path, bytes)?;
            let previous = record
                .history
                .pop()
                .ok_or_else(|| StoreError::NothingToRollBack {
                    name: name_owned.clone(),
                    alias: alias_owned.clone(),
                })?;
            record.version = previous;
            restored = Some(previous);
            Ok(Some(to_json(&path, &record)?))
        })
        .await?;
        restored.ok_or_else(|| StoreError::NothingToRollBack {
            name: name.into(),
            alias: alias.into(),
        })
    }

    /// Reads the alias and writes the version `decide` returns (nothing for `None`), pushing
    /// the old version onto its history, as one atomic exchange.
    pub(super) async fn update_alias(
        &self,
        name: &str,
        alias: &str,
        decide: impl Fn(Option<u64>) -> Option<u64> + Send + Sync,
    ) -> Result<(), StoreError> {
        validate_name("alias", alias)?;
        let key = Self::alias_key(name, alias);
        let path = self.at(&key).to_string();
        objects::update(&self.at(&key), &mut |current| {
            let current: Option<AliasRecord> = match current {
                Some(bytes) => Some(parse_document(&path, bytes)?),
                None => None,
            };
            let Some(version) = decide(current.as_ref().map(|r| r.version)) else {
                return Ok(None);
            };
            let mut history = Vec::new();
            if let Some(old) = current {
                history = old.history;
                if old.version != version && alias != LATEST {
                    history.push(old.version);
                }
                let excess = history.len().saturating_sub(ALIAS_HISTORY);
                history.drain(..excess);
            }
            Ok(Some(to_json(&path, &AliasRecord { version, history })?))
        })
        .await
    }

    /// The aliases of `name` and what they hold, sorted by alias.
    pub async fn aliases(&self, name: &str) -> Result<Vec<(String, AliasRecord)>, StoreError> {
        let listing = self.children(&format!("{name}/aliases/")).await?;
        let mut aliases = Vec::new();
        for file in listing.files {
            let Some(alias) = file.strip_suffix(".json") else {
                continue;
            };
            let key = Self::alias_key(name, alias);
            if let Some(bytes) = objects::get(&self.at(&key)).await? {
                aliases.push((
                    alias.to_string(),
                    parse_document(&self.at(&key).to_string(), &bytes)?,
                ));
            }
        }
        aliases.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(aliases)
    }

    /// The version a selector names.
    pub async fn resolve(&self, name: &str, selector: &Selector) -> Result<u64, StoreError> {
        validate_name("model name", name)?;
        match selector {
            Selector::Version(v) => Ok(*v),
            Selector::Alias(alias) => {
                let key = Self::alias_key(name, alias);
                match objects::get(&self.at(&key)).await? {
                    Some(bytes) => {
                        let record: AliasRecord =
                            parse_document(&self.at(&key).to_string(), &bytes)?;
                        Ok(record.version)
                    }
                    None if !self.model_exists(name).await? => Err(self.no_such_model(name)),
                    None => Err(StoreError::NoSuchAlias {
                        store: self.location.to_string(),
                        name: name.into(),
                        alias: alias.clone(),
                    }),
                }
            }
        }
    }

    /// The version an alias names, read with a conditional GET on `etag`: `None` while the
    /// alias is unchanged, else the version and the alias document's new ETag.
    pub async fn resolve_if_changed(
        &self,
        name: &str,
        alias: &str,
        etag: Option<&str>,
    ) -> Result<Option<(u64, Option<String>)>, StoreError> {
        validate_name("model name", name)?;
        let key = Self::alias_key(name, alias);
        match objects::get_if_changed(&self.at(&key), etag).await? {
            Changed::Unchanged => Ok(None),
            Changed::Changed(bytes, tag) => {
                let record: AliasRecord = parse_document(&self.at(&key).to_string(), &bytes)?;
                Ok(Some((record.version, tag)))
            }
            Changed::Missing => Err(StoreError::NoSuchAlias {
                store: self.location.to_string(),
                name: name.into(),
                alias: alias.into(),
            }),
        }
    }
}
