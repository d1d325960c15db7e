//! Labelled tabular data: reading a CSV data set (numeric features and either one class label
//! column or numeric target columns), checking every cell, and splitting it into training and
//! held-out rows.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use sha2::{Digest, Sha256};

use crate::contract::Task;
use crate::features::FeatureColumns;

/// The UCI handwritten digits data set (1797 rows, 64 pixel features, 10 classes, CC BY 4.0),
/// compiled in so that `maas train` works on a fresh machine without any download.
pub const BUNDLED_DIGITS: &[u8] = include_bytes!("../tests/data/digits.csv");

/// What `--data` names when it is not given.
pub const BUNDLED_DIGITS_NAME: &str = "bundled:digits.csv";

/// How much memory a data set may take by default (`--max-data-mib`): 8 GiB of feature values.
pub const DEFAULT_MAX_DATA_MIB: usize = 8192;

/// A data set read into memory: features row-major as f32, and per row either a class index
/// (classification) or the values of the target columns (regression).
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Where the rows came from (a path, or the bundled data set's name).
    pub source: String,
    /// Hex sha256 of the source bytes: the fingerprint recorded in the manifest.
    pub fingerprint: String,
    /// [`Task::Classifier`] (one label column) or [`Task::Regression`] (numeric targets).
    pub task: Task,
    /// The class label column, or the regression target columns in order.
    pub label_columns: Vec<String>,
    /// Feature column names, in column order.
    pub feature_names: Vec<String>,
    /// Class labels, sorted (numerically when every label is an integer); empty for regression.
    pub classes: Vec<String>,
    /// `rows() × n_features()` values, row-major.
    pub features: Vec<f32>,
    /// Class index (into `classes`) of each row; empty for regression.
    pub targets: Vec<u32>,
    /// `rows() × label_columns.len()` target values, row-major; empty for classification.
    pub values: Vec<f32>,
}

/// Why a data set could not be read; every variant names the place to fix.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error(transparent)]
    Object(#[from] crate::objects::ObjectError),
    #[error("the data reader stopped: {0}")]
    Stopped(String),
    #[error("cannot read data file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("data file {path} is empty: expected a header line naming the columns")]
    Empty { path: String },
    #[error("data file {path} has a header but no data rows")]
    NoRows { path: String },
    #[error("{path}: no label column named '{column}'; the columns are: {columns}")]
    NoLabelColumn {
        path: String,
        column: String,
        columns: String,
    },
    #[error("{path}: the label columns ({column}) are all the columns; there are no features")]
    NoFeatures { path: String, column: String },
    #[error("{path}: the label column '{column}' is named twice")]
    RepeatedLabelColumn { path: String, column: String },
    #[error("a classifier learns one label column, {count} were given ({columns}); several numeric target columns make a regression (--task regression)")]
    SeveralLabelColumns { count: usize, columns: String },
    #[error("{path}, line {line}: expected {expected} fields like the header, found {found}")]
    Ragged {
        path: String,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("{path}, line {line}, column {column} ('{name}'): '{value}' is not a number")]
    NotNumeric {
        path: String,
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error("{path}, line {line}, column {column} ('{name}'): '{value}' is not a finite number")]
    NotFinite {
        path: String,
        line: u64,
        column: usize,
        name: String,
        value: String,
    },
    #[error("{path}, line {line}, column {column} ('{name}'): the label is empty")]
    EmptyLabel {
        path: String,
        line: u64,
        column: usize,
        name: String,
    },
    #[error("{path}: the label column '{column}' holds a single class ('{class}'); a classifier needs at least two")]
    SingleClass {
        path: String,
        column: String,
        class: String,
    },
    #[error("{path}, line {line}: malformed CSV: {message}")]
    Csv {
        path: String,
        line: u64,
        message: String,
    },
    #[error("{path} does not fit the memory limit of {limit_mib} MiB for its values (read {rows} rows so far; each value takes 4 bytes): train on a sample or raise --max-data-mib")]
    TooLarge {
        path: String,
        limit_mib: usize,
        rows: usize,
    },
    #[error("{what} split {split} leaves no {which} rows out of {rows}; use a split between 0 and 1 that keeps rows on both sides")]
    BadSplit {
        what: &'static str,
        split: f64,
        which: &'static str,
        rows: usize,
    },
}

/// A reader that hashes what passes through it, so a data set is fingerprinted while it streams.
struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Labelled CSV rows read one at a time, every cell checked: what [`Dataset`] collects and
/// what `maas eval` streams through a model without holding the file.
pub struct CsvRows<R: Read> {
    csv: csv::Reader<HashingReader<R>>,
    path: String,
    header: csv::StringRecord,
    /// Column index of each label column, in the order they were named.
    label_indices: Vec<usize>,
    /// The other columns: the features.
    columns: FeatureColumns,
    feature_names: Vec<String>,
    record: csv::StringRecord,
}

impl<R: Read> CsvRows<R> {
    /// Reads and checks the header; `source` names the data in errors. One label column.
    pub fn new(reader: R, source: &str, label_column: &str) -> Result<Self, DataError> {
        Self::with_labels(reader, source, &[label_column.to_string()])
    }

    /// [`CsvRows::new`] with several label columns (regression targets), in the given order.
    pub fn with_labels(
        reader: R,
        source: &str,
        label_columns: &[String],
    ) -> Result<Self, DataError> {
        let path = source.to_string();
        let hashing = HashingReader {
            inner: reader,
            hasher: Sha256::new(),
        };
        let mut csv = crate::features::csv_reader(true).from_reader(hashing);
        let header = csv.headers().map_err(|e| csv_error(e, &path))?.clone();
        if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
            return Err(DataError::Empty { path });
        }
        let mut label_indices: Vec<usize> = Vec::with_capacity(label_columns.len());
        for column in label_columns {
            let index = header
                .iter()
                .position(|name| name == column)
                .ok_or_else(|| DataError::NoLabelColumn {
                    path: path.clone(),
                    column: column.clone(),
                    columns: header.iter().collect::<Vec<_>>().join(", "),
                })?;
            if label_indices.contains(&index) {
                return Err(DataError::RepeatedLabelColumn {
                    path,
                    column: column.clone(),
                });
            }
            label_indices.push(index);
        }
        if header.len() <= label_indices.len() {
            return Err(DataError::NoFeatures {
                path,
                column: label_columns.join(", "),
            });
        }
        let feature_names = header
            .iter()
            .enumerate()
            .filter(|(i, _)| !label_indices.contains(i))
            .map(|(_, name)| name.to_string())
            .collect();
        Ok(CsvRows {
            csv,
            path,
            columns: FeatureColumns::except(header.len(), &label_indices),
            header,
            label_indices,
            feature_names,
            record: csv::StringRecord::new(),
        })
    }

    /// Feature column names, in column order (in the model's order after
    /// `pick_features`, for `maas eval`).
    pub fn feature_names(&self) -> &[String] {
        &self.feature_names
    }

    /// Reads only a model's features from now on, as `features::FeatureColumns::for_model`
    /// matches them: by name when the model names its features and the data has them all,
    /// else every column but the labels, which must be `n_features` many.
    pub(crate) fn pick_features(
        &mut self,
        n_features: usize,
        model_features: &[String],
    ) -> Result<(), crate::features::ColumnError> {
        self.columns = FeatureColumns::for_model(
            &self.header,
            n_features,
            model_features,
            &self.label_indices,
        )?;
        self.feature_names = (0..self.columns.len())
            .filter_map(|f| self.columns.name(f).map(str::to_string))
            .collect();
        Ok(())
    }

    /// Appends the next row's features to `features` and returns its (first) label; `None` at
    /// the end. On an error nothing is appended.
    pub fn next_row(&mut self, features: &mut Vec<f32>) -> Result<Option<&str>, DataError> {
        let Some(line) = self.read_features(features)? else {
            return Ok(None);
        };
        let start = features.len() - self.feature_names.len();
        let index = self.label_indices[0];
        if self.record[index].is_empty() {
            features.truncate(start);
            return Err(DataError::EmptyLabel {
                path: self.path.clone(),
                line,
                column: index + 1,
                name: self.header[index].to_string(),
            });
        }
        Ok(Some(&self.record[index]))
    }

    /// Appends the next row's features to `features` and its label columns, read as numbers,
    /// to `targets`; `false` at the end. On an error nothing is appended.
    pub fn next_values(
        &mut self,
        features: &mut Vec<f32>,
        targets: &mut Vec<f32>,
    ) -> Result<bool, DataError> {
        let Some(line) = self.read_features(features)? else {
            return Ok(false);
        };
        let (start, targets_start) = (features.len() - self.feature_names.len(), targets.len());
        for &index in &self.label_indices {
            match crate::number::parse_f32(&self.record[index]) {
                Ok(v) => targets.push(v),
                Err(kind) => {
                    features.truncate(start);
                    targets.truncate(targets_start);
                    return Err(self.cell_error(kind, line, index));
                }
            }
        }
        Ok(true)
    }

    /// Reads the next record and appends its feature cells; the record's line, `None` at the end.
    fn read_features(&mut self, features: &mut Vec<f32>) -> Result<Option<u64>, DataError> {
        match self.csv.read_record(&mut self.record) {
            Ok(true) => {}
            Ok(false) => return Ok(None),
            Err(e) => return Err(csv_error(e, &self.path)),
        }
        let line = self.record.position().map(|p| p.line()).unwrap_or(0);
        if self.record.len() != self.header.len() {
            return Err(DataError::Ragged {
                path: self.path.clone(),
                line,
                expected: self.header.len(),
                found: self.record.len(),
            });
        }
        self.columns
            .read(&self.record, features)
            .map_err(|bad| self.cell_error(bad.kind, line, bad.column))?;
        Ok(Some(line))
    }

    /// The error for the cell of column `index` on `line`.
    fn cell_error(&self, kind: crate::number::NotAFeature, line: u64, index: usize) -> DataError {
        let (path, column, name, value) = (
            self.path.clone(),
            index + 1,
            self.header[index].to_string(),
            self.record[index].to_string(),
        );
        match kind {
            crate::number::NotAFeature::NotNumeric => DataError::NotNumeric {
                path,
                line,
                column,
                name,
                value,
            },
            crate::number::NotAFeature::NotFinite => DataError::NotFinite {
                path,
                line,
                column,
                name,
                value,
            },
        }
    }

    /// Hex sha256 of the bytes read so far (all of them once `next_row` gave `None`).
    pub fn fingerprint(self) -> String {
        hex::encode(self.csv.into_inner().hasher.finalize())
    }
}

/// A CSV error as a data error: an I/O failure or a malformed line.
fn csv_error(e: csv::Error, path: &str) -> DataError {
    match e.kind() {
        csv::ErrorKind::Io(_) => DataError::Read {
            path: path.to_string(),
            source: std::io::Error::other(e.to_string()),
        },
        _ => DataError::Csv {
            path: path.to_string(),
            line: e.position().map(|p| p.line()).unwrap_or(0),
            message: e.to_string(),
        },
    }
}

impl Dataset {
    /// Reads a CSV file with a header line; `label_column` names the label column.
    pub fn from_path(path: &Path, label_column: &str) -> Result<Self, DataError> {
        Self::from_path_within(path, label_column, DEFAULT_MAX_DATA_MIB)
    }

    /// [`Dataset::from_path`] refusing, as soon as it is clear, a data set whose values need
    /// more than `max_mib` MiB. The file streams through: only the parsed values are kept.
    pub fn from_path_within(
        path: &Path,
        label_column: &str,
        max_mib: usize,
    ) -> Result<Self, DataError> {
        let shown = path.display().to_string();
        let file = std::fs::File::open(path).map_err(|source| DataError::Read {
            path: shown.clone(),
            source,
        })?;
        Self::from_reader_within(std::io::BufReader::new(file), &shown, label_column, max_mib)
    }

    /// The bundled digits data set.
    pub fn bundled_digits() -> Result<Self, DataError> {
        Self::from_reader(BUNDLED_DIGITS, BUNDLED_DIGITS_NAME, "label")
    }

    /// Reads CSV from any reader; `source` names it in errors and in the manifest.
    pub fn from_reader<R: Read>(
        reader: R,
        source: &str,
        label_column: &str,
    ) -> Result<Self, DataError> {
        Self::from_reader_within(reader, source, label_column, DEFAULT_MAX_DATA_MIB)
    }

    /// [`Dataset::from_reader`] within a memory limit for the values, in MiB.
    pub fn from_reader_within<R: Read>(
        reader: R,
        source: &str,
        label_column: &str,
        max_mib: usize,
    ) -> Result<Self, DataError> {
        Self::from_reader_as(
            reader,
            source,
            Task::Classifier,
            &[label_column.to_string()],
            max_mib,
        )
    }

    /// Reads CSV for `task`: a classifier's one label column, or a regression's numeric target
    /// columns (one or more, in the order given), keeping at most `max_mib` MiB of values.
    pub fn from_reader_as<R: Read>(
        reader: R,
        source: &str,
        task: Task,
        label_columns: &[String],
        max_mib: usize,
    ) -> Result<Self, DataError> {
        let regression = task == Task::Regression;
        if !regression && label_columns.len() != 1 {
            return Err(DataError::SeveralLabelColumns {
                count: label_columns.len(),
                columns: label_columns.join(", "),
            });
        }
        let mut rows = CsvRows::with_labels(reader, source, label_columns)?;
        let width = rows.feature_names().len();
        // features, plus one class id or the targets per row: 4 bytes each
        let per_row = if regression { label_columns.len() } else { 1 };
        let max_values = max_mib.saturating_mul(1 << 20) / 4;
        let mut features: Vec<f32> = Vec::new();
        let mut values: Vec<f32> = Vec::new();
        // each distinct label once; rows hold its first-seen id (4 bytes, not a String a row)
        let mut label_ids: HashMap<String, u32> = HashMap::new();
        let mut label_names: Vec<String> = Vec::new();
        let mut row_labels: Vec<u32> = Vec::new();
        loop {
            // grow the value buffer by hand, so that it never holds more than the limit
            let held = row_labels.len() + values.len();
            let needed = features.len() + width;
            if needed + held + per_row > max_values {
                return Err(DataError::TooLarge {
                    path: source.to_string(),
                    limit_mib: max_mib,
                    rows: features.len() / width.max(1),
                });
            }
            if needed > features.capacity() {
                let target = (features.capacity() * 2)
                    .max(needed)
                    .min(max_values.saturating_sub(held + per_row));
                features.reserve_exact(target - features.len());
            }
            if regression {
                if !rows.next_values(&mut features, &mut values)? {
                    break;
                }
                continue;
            }
            let Some(label) = rows.next_row(&mut features)? else {
                break;
            };
            let id = match label_ids.get(label) {
                Some(&id) => id,
                None => {
                    let id = label_names.len() as u32;
                    label_ids.insert(label.to_string(), id);
                    label_names.push(label.to_string());
                    id
                }
            };
            row_labels.push(id);
        }
        if features.is_empty() {
            return Err(DataError::NoRows {
                path: source.to_string(),
            });
        }
        let classes = sorted_classes(&label_names);
        let class_of_id: Vec<u32> = label_names
            .iter()
            .map(|label| class_index(&classes, label))
            .collect();
        let targets = row_labels
            .iter()
            .map(|&id| class_of_id[id as usize])
            .collect();
        let feature_names = rows.feature_names().to_vec();
        Ok(Dataset {
            source: source.to_string(),
            fingerprint: rows.fingerprint(),
            task: if regression {
                Task::Regression
            } else {
                Task::Classifier
            },
            label_columns: label_columns.to_vec(),
            feature_names,
            classes,
            features,
            targets,
            values,
        })
    }

    /// Refuses a data set a classifier cannot be trained on: one with a single class.
    /// (Evaluating on one class is fine, and a regression has no classes.)
    pub fn check_trainable(&self) -> Result<(), DataError> {
        match (self.task, self.classes.as_slice()) {
            (Task::Classifier, [only]) => Err(DataError::SingleClass {
                path: self.source.clone(),
                column: self.label_columns.join(","),
                class: only.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// The label columns as the manifest records them: comma-separated.
    pub fn label_column(&self) -> String {
        self.label_columns.join(",")
    }

    /// Regression targets per row (1 for a classifier's label).
    pub fn n_targets(&self) -> usize {
        self.label_columns.len()
    }

    pub fn rows(&self) -> usize {
        // every data set has at least one feature column
        self.features.len() / self.n_features().max(1)
    }

    pub fn n_features(&self) -> usize {
        self.feature_names.len()
    }

    /// The features of row `i`.
    pub fn row(&self, i: usize) -> &[f32] {
        let f = self.n_features();
        &self.features[i * f..(i + 1) * f]
    }

    /// Features and targets of the given rows, in the given order.
    pub fn gather(&self, indices: &[usize]) -> (Vec<f32>, Vec<u32>) {
        let mut x = Vec::with_capacity(indices.len() * self.n_features());
        let mut y = Vec::with_capacity(indices.len());
        for &i in indices {
            x.extend_from_slice(self.row(i));
            y.push(self.targets[i]);
        }
        (x, y)
    }

    /// Features and regression targets of the given rows, in the given order.
    pub fn gather_values(&self, indices: &[usize]) -> (Vec<f32>, Vec<f32>) {
        let t = self.n_targets();
        let mut x = Vec::with_capacity(indices.len() * self.n_features());
        let mut y = Vec::with_capacity(indices.len() * t);
        for &i in indices {
            x.extend_from_slice(self.row(i));
            y.extend_from_slice(&self.values[i * t..(i + 1) * t]);
        }
        (x, y)
    }

    /// A stratified split of all rows (a plain random one for regression): each class gives `fraction` of its rows (rounded) to
    /// the second side, chosen by a generator seeded with `seed`. Both sides come back sorted.
    /// `what` names the second side in errors ("test", "validation").
    pub fn split(
        &self,
        what: &'static str,
        fraction: f64,
        seed: u64,
    ) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        let all: Vec<usize> = (0..self.rows()).collect();
        self.split_rows(&all, what, fraction, seed)
    }

    /// [`Dataset::split`] of the given rows only.
    pub fn split_rows(
        &self,
        rows: &[usize],
        what: &'static str,
        fraction: f64,
        seed: u64,
    ) -> Result<(Vec<usize>, Vec<usize>), DataError> {
        let bad = |which| DataError::BadSplit {
            what,
            split: fraction,
            which,
            rows: rows.len(),
        };
        if !(fraction > 0.0 && fraction < 1.0) {
            return Err(bad(if fraction <= 0.0 { what } else { "training" }));
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let mut kept = Vec::new();
        let mut taken = Vec::new();
        // regression rows form one group; a classifier's are grouped by class
        let group = |i: usize| self.targets.get(i).copied().unwrap_or(0);
        for class in 0..self.classes.len().max(1) as u32 {
            let mut members: Vec<usize> = rows
                .iter()
                .copied()
                .filter(|&i| group(i) == class)
                .collect();
            members.shuffle(&mut rng);
            let n_taken = (members.len() as f64 * fraction).round() as usize;
            taken.extend_from_slice(&members[..n_taken]);
            kept.extend_from_slice(&members[n_taken..]);
        }
        if kept.is_empty() {
            return Err(bad("training"));
        }
        if taken.is_empty() {
            return Err(bad(what));
        }
        kept.sort_unstable();
        taken.sort_unstable();
        Ok((kept, taken))
    }
}

/// Distinct labels, sorted numerically when all are integers ("2" before "10"), else as text.
fn sorted_classes(labels: &[String]) -> Vec<String> {
    let distinct: BTreeSet<&str> = labels.iter().map(String::as_str).collect();
    let mut classes: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    if classes.iter().all(|c| c.parse::<i64>().is_ok()) {
        classes.sort_by_key(|c| c.parse::<i64>().unwrap_or_default());
    }
    classes
}

fn class_index(classes: &[String], label: &str) -> u32 {
    classes.iter().position(|c| c == label).unwrap_or(0) as u32
}

/// Opens a data file, a local path or an `s3://bucket/key` URL, as a blocking reader for a
/// blocking task: an S3 object streams through, it is never held whole.
pub async fn open_source(source: &str) -> Result<Box<dyn Read + Send>, DataError> {
    if source.starts_with("s3://") {
        let location: crate::objects::Location = source.parse()?;
        let stream = crate::objects::open(&location, 0).await?;
        return Ok(Box::new(tokio_util::io::SyncIoBridge::new(stream)));
    }
    let file = std::fs::File::open(source).map_err(|e| DataError::Read {
        path: source.to_string(),
        source: e,
    })?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

/// Reads a labelled data set for `task` from a path or an `s3://` URL, streaming it through the
/// parser on a blocking thread and keeping at most `max_mib` MiB of values.
pub async fn read_dataset(
    source: &str,
    task: Task,
    label_columns: &[String],
    max_mib: usize,
) -> Result<Dataset, DataError> {
    let reader = open_source(source).await?;
    let (source, label_columns) = (source.to_string(), label_columns.to_vec());
    tokio::task::spawn_blocking(move || {
        Dataset::from_reader_as(reader, &source, task, &label_columns, max_mib)
    })
    .await
    .map_err(|e| DataError::Stopped(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(text: &str) -> Result<Dataset, DataError> {
        Dataset::from_reader(text.as_bytes(), "t.csv", "label")
    }

    #[test]
    fn reads_labels_and_features() {
        let d = read("a,label,b\n1,10,2\n3,2,4\n5,10,6\n").unwrap();
        assert_eq!(d.feature_names, ["a", "b"]);
        assert_eq!(d.classes, ["2", "10"]);
        assert_eq!(d.targets, [1, 0, 1]);
        assert_eq!(d.row(1), [3.0, 4.0]);
    }

    #[test]
    fn errors_name_line_and_column() {
        let e = read("label,a,b\n0,1,2\n1,x,2\n").unwrap_err().to_string();
        assert_eq!(e, "t.csv, line 3, column 2 ('a'): 'x' is not a number");
        let e = read("label,a,b\n0,1,2\n1,2\n").unwrap_err().to_string();
        assert_eq!(
            e,
            "t.csv, line 3: expected 3 fields like the header, found 2"
        );
        let e = read("label,a\n0,1\n1,inf\n").unwrap_err().to_string();
        assert!(
            e.contains("line 3, column 2 ('a'): 'inf' is not a finite number"),
            "{e}"
        );
    }

    #[test]
    fn regression_reads_several_numeric_targets_in_the_order_named() {
        let text = "a,y1,b,y2\n1,0.5,2,10\n3,1.5,4,20\n5,2.5,6,30\n";
        let columns = ["y2".to_string(), "y1".to_string()];
        let d = Dataset::from_reader_as(text.as_bytes(), "t.csv", Task::Regression, &columns, 64)
            .unwrap();
        assert_eq!(d.feature_names, ["a", "b"]);
        assert_eq!(d.rows(), 3);
        assert_eq!(d.values, [10.0, 0.5, 20.0, 1.5, 30.0, 2.5]);
        assert!(d.classes.is_empty() && d.targets.is_empty());
        assert_eq!(
            d.gather_values(&[2, 0]),
            (vec![5.0, 6.0, 1.0, 2.0], vec![30.0, 2.5, 10.0, 0.5])
        );
        let (train, held) = d.split("test", 0.34, 1).unwrap();
        assert_eq!((train.len(), held.len()), (2, 1));

        let bad = "a,y\n1,2\n3,high\n";
        let e =
            Dataset::from_reader_as(bad.as_bytes(), "t.csv", Task::Regression, &["y".into()], 64)
                .unwrap_err()
                .to_string();
        assert_eq!(e, "t.csv, line 3, column 2 ('y'): 'high' is not a number");
        let e = Dataset::from_reader_as(text.as_bytes(), "t.csv", Task::Classifier, &columns, 64)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--task regression"), "{e}");
        let twice = ["y1".to_string(), "y1".to_string()];
        let e = Dataset::from_reader_as(text.as_bytes(), "t.csv", Task::Regression, &twice, 64)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "t.csv: the label column 'y1' is named twice");
    }

    #[test]
    fn split_is_stratified_and_seeded() {
        let mut text = String::from("label,a\n");
        for i in 0..100 {
            text.push_str(&format!("{},{}\n", i % 2, i));
        }
        let d = read(&text).unwrap();
        let (train, held) = d.split("test", 0.2, 7).unwrap();
        assert_eq!((train.len(), held.len()), (80, 20));
        assert_eq!(held.iter().filter(|&&i| d.targets[i] == 0).count(), 10);
        assert_eq!(d.split("test", 0.2, 7).unwrap().1, held);
        assert_ne!(d.split("test", 0.2, 8).unwrap().1, held);
    }
}
