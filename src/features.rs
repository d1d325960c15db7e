//! The one CSV feature reader, shared by training and evaluation (`data`), `maas predict`
//! (`protocol::Batch::from_csv`) and batch scoring (`batch::rows`): how CSV text is split
//! (cells trimmed, rows of any width read so the width is checked with a clear message),
//! whether a first line is a header, which columns of a header are a model's features, and a
//! record's feature cells read as finite float32 values (the rule in `number`).

use crate::number::{parse_f32, NotAFeature};

/// The reader settings every CSV of features is read with.
pub(crate) fn csv_reader(has_headers: bool) -> csv::ReaderBuilder {
    let mut builder = csv::ReaderBuilder::new();
    builder
        .has_headers(has_headers)
        .flexible(true)
        .trim(csv::Trim::All);
    builder
}

/// One line of CSV as a record (empty for an empty line).
pub(crate) fn split_line(line: &[u8]) -> Result<csv::StringRecord, csv::Error> {
    let mut record = csv::StringRecord::new();
    csv_reader(false)
        .from_reader(line)
        .read_record(&mut record)?;
    Ok(record)
}

/// Whether a first line is a header: some cell is not a number.
pub(crate) fn is_header(record: &csv::StringRecord) -> bool {
    record.iter().any(|cell| cell.parse::<f64>().is_err())
}

/// Why a header cannot give a model its features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum ColumnError {
    /// The model names its features and the header lacks this one.
    MissingFeature(String),
    /// The columns (besides the excluded ones) are not as many as the model's features.
    FeatureCount { found: usize, expected: usize },
}

/// A cell that is not a feature value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BadCell {
    /// 0-based column in the record.
    pub column: usize,
    /// 0-based place among the features.
    pub feature: usize,
    pub kind: NotAFeature,
}

/// Which columns of a record are the features, in the model's order, and how wide a record is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeatureColumns {
    picked: Vec<usize>,
    /// The header's name of each picked column (empty without a header).
    names: Vec<String>,
    width: usize,
}

impl FeatureColumns {
    /// Every column of a `width`-wide record but `excluded` (labels, kept columns), in order.
    pub fn except(width: usize, excluded: &[usize]) -> FeatureColumns {
        FeatureColumns {
            picked: (0..width).filter(|i| !excluded.contains(i)).collect(),
            names: Vec::new(),
            width,
        }
    }

    /// A model's features in a header: by name when the model names its features and the
    /// header has them all (so a labelled data file can be sent as it is); otherwise the
    /// columns besides `excluded`, which must be `n_features` many.
    pub fn for_model(
        header: &csv::StringRecord,
        n_features: usize,
        feature_names: &[String],
        excluded: &[usize],
    ) -> Result<FeatureColumns, ColumnError> {
        let by_name: Option<Vec<usize>> = (!feature_names.is_empty())
            .then(|| {
                feature_names
                    .iter()
                    .map(|f| header.iter().position(|c| c == f))
                    .collect()
            })
            .flatten();
        let named = |picked: Vec<usize>| FeatureColumns {
            names: picked.iter().map(|&c| header[c].to_string()).collect(),
            picked,
            width: header.len(),
        };
        if let Some(picked) = by_name {
            return Ok(named(picked));
        }
        let columns = FeatureColumns::except(header.len(), excluded);
        if columns.picked.len() == n_features {
            return Ok(named(columns.picked));
        }
        Err(
            match feature_names
                .iter()
                .find(|f| !header.iter().any(|c| c == *f))
            {
                Some(missing) => ColumnError::MissingFeature(missing.clone()),
                None => ColumnError::FeatureCount {
                    found: columns.picked.len(),
                    expected: n_features,
                },
            },
        )
    }

    /// Fields every record must have.
    pub fn width(&self) -> usize {
        self.width
    }

    /// How many features a record gives.
    pub fn len(&self) -> usize {
        self.picked.len()
    }

    /// The header's name of feature `feature` (0-based, in the model's order); `None` without
    /// a header.
    pub fn name(&self, feature: usize) -> Option<&str> {
        self.names.get(feature).map(String::as_str)
    }

    /// Where a bad cell sits, for messages: `column 3 ('b')`, or `column 3` without a header.
    pub fn place(&self, bad: &BadCell) -> String {
        match self.name(bad.feature) {
            Some(name) => format!("column {} ('{name}')", bad.column + 1),
            None => format!("column {}", bad.column + 1),
        }
    }

    /// Appends the record's feature values to `out`; on a bad cell nothing is appended. The
    /// caller has checked the record's width.
    pub fn read(&self, record: &csv::StringRecord, out: &mut Vec<f32>) -> Result<(), BadCell> {
        let start = out.len();
        for (feature, &column) in self.picked.iter().enumerate() {
            match parse_f32(record.get(column).unwrap_or_default()) {
                Ok(v) => out.push(v),
                Err(kind) => {
                    out.truncate(start);
                    return Err(BadCell {
                        column,
                        feature,
                        kind,
                    });
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(cells: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(cells.to_vec())
    }

    #[test]
    fn features_are_taken_by_name_else_by_position_around_excluded_columns() {
        let header = record(&["id", "b", "a", "label"]);
        let names = ["a".to_string(), "b".to_string()];
        let by_name = FeatureColumns::for_model(&header, 2, &names, &[]).unwrap();
        let mut out = Vec::new();
        by_name
            .read(&record(&["x", "2", "1", "7"]), &mut out)
            .unwrap();
        assert_eq!(out, [1.0, 2.0]);
        assert_eq!((by_name.name(0), by_name.name(1)), (Some("a"), Some("b")));
        let by_place = FeatureColumns::for_model(&header, 2, &[], &[0, 3]).unwrap();
        out.clear();
        by_place
            .read(&record(&["x", "2", "1", "7"]), &mut out)
            .unwrap();
        assert_eq!(out, [2.0, 1.0]);
        assert_eq!(
            FeatureColumns::for_model(&header, 2, &["c".to_string()], &[]),
            Err(ColumnError::MissingFeature("c".into()))
        );
        let after_id = FeatureColumns::for_model(&header, 3, &[], &[0]).unwrap();
        assert_eq!((after_id.len(), after_id.name(2)), (3, Some("label")));
        assert_eq!(
            FeatureColumns::for_model(&header, 2, &[], &[0]),
            Err(ColumnError::FeatureCount {
                found: 3,
                expected: 2
            })
        );
    }

    #[test]
    fn a_bad_cell_names_its_column_and_appends_nothing() {
        let columns = FeatureColumns::except(3, &[]);
        let mut out = vec![9.0];
        let bad = columns
            .read(&record(&["1", "nan", "x"]), &mut out)
            .unwrap_err();
        assert_eq!(
            bad,
            BadCell {
                column: 1,
                feature: 1,
                kind: NotAFeature::NotFinite
            }
        );
        assert_eq!(out, [9.0]);
        assert_eq!(columns.place(&bad), "column 2");
        assert!(is_header(&record(&["a", "1"])));
        assert!(!is_header(&split_line(b" 1, 2.5 \n").unwrap()));
        assert_eq!(split_line(b"1, 2\n").unwrap().len(), 2);
    }
}
