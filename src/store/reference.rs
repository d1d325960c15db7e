//! Model references and store locations: `<store>/<name>[@version|@alias]`, a bare `.onnx`
//! file, and stores that are folders or `s3://bucket[/prefix]`.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use super::{validate_name, StoreError, LATEST};

/// Where a store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// A folder on the local file system (the embedded default).
    Folder(PathBuf),
    /// A bucket and key prefix (no leading or trailing slash; may be empty).
    S3 { bucket: String, prefix: String },
}

impl fmt::Display for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Folder(p) => write!(f, "{}", p.display()),
            StoreLocation::S3 { bucket, prefix } if prefix.is_empty() => write!(f, "s3://{bucket}"),
            StoreLocation::S3 { bucket, prefix } => write!(f, "s3://{bucket}/{prefix}"),
        }
    }
}

impl FromStr for StoreLocation {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<Self, StoreError> {
        if let Some(rest) = s.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(StoreError::InvalidReference {
                    reference: s.into(),
                    reason: "an S3 store is s3://bucket[/prefix]".into(),
                });
            }
            return Ok(StoreLocation::S3 {
                bucket: bucket.to_string(),
                prefix: prefix.trim_matches('/').to_string(),
            });
        }
        if s.is_empty() {
            return Err(StoreError::InvalidReference {
                reference: s.into(),
                reason: "the store location is empty".into(),
            });
        }
        Ok(StoreLocation::Folder(PathBuf::from(s)))
    }
}

/// Which version of a model a reference means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    Version(u64),
    Alias(String),
}

impl fmt::Display for Selector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selector::Version(v) => write!(f, "{v}"),
            Selector::Alias(a) => write!(f, "{a}"),
        }
    }
}

/// A model reference: `<store>/<name>` (alias `latest`), `<store>/<name>@<n>`,
/// `<store>/<name>@<alias>`, or a path to a bare `.onnx` file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelRef {
    Stored {
        store: StoreLocation,
        name: String,
        selector: Selector,
    },
    File(PathBuf),
}

impl FromStr for ModelRef {
    type Err = StoreError;

    /// ```
    /// use maas::store::{ModelRef, Selector};
    /// let r: ModelRef = "models/digits@3".parse().unwrap();
    /// assert!(matches!(r, ModelRef::Stored { selector: Selector::Version(3), .. }));
    /// ```
    fn from_str(s: &str) -> Result<Self, StoreError> {
        let invalid = |reason: &str| StoreError::InvalidReference {
            reference: s.to_string(),
            reason: reason.to_string(),
        };
        if s.to_ascii_lowercase().ends_with(".onnx") {
            return Ok(ModelRef::File(PathBuf::from(s)));
        }
        let trimmed = s.trim_end_matches('/');
        let (store, last) = match trimmed.rfind('/') {
            Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
            None => (".", trimmed),
        };
        if last.is_empty() {
            return Err(invalid(
                "expected <store>/<name>[@version|@alias] or a .onnx file",
            ));
        }
        let (name, selector) = match last.split_once('@') {
            None => (last, Selector::Alias(LATEST.to_string())),
            Some((name, sel)) if !sel.is_empty() && sel.bytes().all(|b| b.is_ascii_digit()) => {
                let v: u64 = sel
                    .parse()
                    .map_err(|_| invalid("the version number is too large"))?;
                if v == 0 {
                    return Err(invalid("versions start at 1"));
                }
                (name, Selector::Version(v))
            }
            Some((name, alias)) => {
                validate_name("alias", alias)?;
                (name, Selector::Alias(alias.to_string()))
            }
        };
        validate_name("model name", name)?;
        let store = if store.is_empty() { "/" } else { store };
        Ok(ModelRef::Stored {
            store: store.parse()?,
            name: name.to_string(),
            selector,
        })
    }
}

impl ModelRef {
    /// The model name the reference implies: the stored name, or a bare file's stem.
    ///
    /// ```
    /// use maas::store::ModelRef;
    /// let stored: ModelRef = "s3://bucket/models/digits@prod".parse().unwrap();
    /// assert_eq!(stored.model_name(), "digits");
    /// let file: ModelRef = "onnx/iris.onnx".parse().unwrap();
    /// assert_eq!(file.model_name(), "iris");
    /// ```
    pub fn model_name(&self) -> String {
        match self {
            ModelRef::Stored { name, .. } => name.clone(),
            ModelRef::File(path) => path
                .file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("model")
                .to_string(),
        }
    }
}

impl fmt::Display for ModelRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ModelRef::Stored {
                store,
                name,
                selector,
            } => write!(f, "{store}/{name}@{selector}"),
            ModelRef::File(p) => write!(f, "{}", p.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::validate_name;

    #[test]
    fn parses_references() {
        let r: ModelRef = "models/digits".parse().unwrap();
        assert_eq!(
            r,
            ModelRef::Stored {
                store: StoreLocation::Folder("models".into()),
                name: "digits".into(),
                selector: Selector::Alias("latest".into())
            }
        );
        let r: ModelRef = "/tmp/x/m@prod".parse().unwrap();
        assert!(
            matches!(r, ModelRef::Stored { selector: Selector::Alias(ref a), .. } if a == "prod")
        );
        let r: ModelRef = "a/b.ONNX".parse().unwrap();
        assert_eq!(r, ModelRef::File("a/b.ONNX".into()));
        assert!("models/..".parse::<ModelRef>().is_err());
        assert!("models/d@0".parse::<ModelRef>().is_err());
        assert!("models/d@".parse::<ModelRef>().is_err());
    }

    #[test]
    fn parses_s3_references() {
        let r: ModelRef = "s3://bucket/models/team/digits@prod".parse().unwrap();
        assert_eq!(
            r,
            ModelRef::Stored {
                store: StoreLocation::S3 {
                    bucket: "bucket".into(),
                    prefix: "models/team".into()
                },
                name: "digits".into(),
                selector: Selector::Alias("prod".into())
            }
        );
        assert_eq!(r.to_string(), "s3://bucket/models/team/digits@prod");
        let r: ModelRef = "s3://bucket/digits@2".parse().unwrap();
        assert!(
            matches!(r, ModelRef::Stored { store: StoreLocation::S3 { ref prefix, .. }, selector: Selector::Version(2), .. } if prefix.is_empty())
        );
        assert!("s3:///digits".parse::<ModelRef>().is_err());
    }

    #[test]
    fn names_cannot_escape_the_store() {
        for bad in ["..", ".hidden", "a/b", "", "a b", "-x"] {
            assert!(validate_name("model name", bad).is_err(), "{bad}");
        }
        assert!(validate_name("alias", "42").is_err());
        assert!(validate_name("alias", "prod-eu.1").is_ok());
    }
}
