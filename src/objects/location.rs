//! Where an object is: `s3://bucket/key` or a local path, parsed, printed and joined the same
//! way for both.

use std::path::PathBuf;

use super::ObjectError;

/// An object, or a prefix or folder of them: `s3://bucket/key` or a local path.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Location {
    S3 { bucket: String, key: String },
    File(PathBuf),
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Location::S3 { bucket, key } => write!(f, "s3://{bucket}/{key}"),
            Location::File(path) => write!(f, "{}", path.display()),
        }
    }
}

impl std::str::FromStr for Location {
    type Err = ObjectError;

    /// `s3://bucket/key` (the key may be empty or end in `/` for a prefix) or a path.
    fn from_str(text: &str) -> Result<Self, ObjectError> {
        match text.strip_prefix("s3://") {
            Some(rest) => {
                let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
                if bucket.is_empty() {
                    return Err(ObjectError::InvalidLocation {
                        location: text.to_string(),
                        reason: "an S3 location is s3://bucket/key or s3://bucket/prefix/".into(),
                    });
                }
                Ok(Location::S3 {
                    bucket: bucket.to_string(),
                    key: key.to_string(),
                })
            }
            None => Ok(Location::File(PathBuf::from(text))),
        }
    }
}

impl Location {
    /// The last part of its key or path.
    pub fn file_name(&self) -> String {
        match self {
            Location::S3 { key, .. } => key.rsplit('/').next().unwrap_or(key).to_string(),
            Location::File(path) => path
                .file_name()
                .map(|n| n.to_string_lossy().to_string())
                .unwrap_or_default(),
        }
    }

    /// This location with `suffix` appended to its key or path.
    pub fn with_suffix(&self, suffix: &str) -> Location {
        match self {
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: format!("{key}{suffix}"),
            },
            Location::File(path) => {
                let mut text = path.clone().into_os_string();
                text.push(suffix);
                Location::File(PathBuf::from(text))
            }
        }
    }

    /// `name` under this location taken as a folder or prefix (`a/b` under `s3://x/out/` is
    /// `s3://x/out/a/b`, and under `s3://x` it is `s3://x/a/b`).
    pub fn join(&self, name: &str) -> Location {
        match self {
            Location::S3 { bucket, key } => Location::S3 {
                bucket: bucket.clone(),
                key: if key.is_empty() || key.ends_with('/') {
                    format!("{key}{name}")
                } else {
                    format!("{key}/{name}")
                },
            },
            Location::File(path) => Location::File(path.join(name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse_print_and_join_alike_for_s3_and_folders() {
        let root: Location = "s3://bucket".parse().unwrap();
        assert_eq!(
            root.join("m/versions/1/model.onnx").to_string(),
            "s3://bucket/m/versions/1/model.onnx"
        );
        let prefixed: Location = "s3://bucket/store".parse().unwrap();
        assert_eq!(
            prefixed.join("m/aliases/").to_string(),
            "s3://bucket/store/m/aliases/"
        );
        let folder: Location = "/data/store".parse().unwrap();
        assert_eq!(folder.join("m").to_string(), "/data/store/m");
        assert_eq!(folder.join("m").file_name(), "m");
        assert_eq!(
            prefixed.join("a.csv").with_suffix(".errors").file_name(),
            "a.csv.errors"
        );
        assert!("s3:///key".parse::<Location>().is_err());
    }
}
