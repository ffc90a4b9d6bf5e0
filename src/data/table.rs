//! CSV tables (`.csv`, `.csv.gz`, `.tsv`; `-` is standard input): a header row, one sample
//! a row, one column its label and every other a numeric feature. The label column is
//! `--label-column NAME|INDEX` (0-based), else the column named label, target, class or y
//! (any case), else the last. A table whose every feature is an integer in 0-255 (Kaggle's
//! MNIST and Fashion-MNIST exports) is 8-bit data; any other is f32.

use super::{bad, DataError, Fingerprint, RawLabels, Table, Values};
use std::io::Read;
use std::path::Path;

/// Names a label column goes by, in any case.
const LABEL_NAMES: [&str; 4] = ["label", "target", "class", "y"];

/// Which column of `header` holds the labels; `inputs` (what a model takes) allows a table
/// without one, for `predict`: None when the table has exactly `inputs` columns.
fn label_column(
    path: &Path,
    header: &[String],
    wanted: Option<&str>,
    inputs: Option<usize>,
) -> Result<Option<usize>, DataError> {
    let named = |name: &str| {
        let exact = header.iter().position(|h| h == name);
        exact.or_else(|| header.iter().position(|h| h.eq_ignore_ascii_case(name)))
    };
    if inputs == Some(header.len()) {
        return Ok(None);
    }
    let found = match wanted {
        Some(w) => named(w).or_else(|| w.parse::<usize>().ok().filter(|&i| i < header.len())),
        None => LABEL_NAMES
            .iter()
            .find_map(|n| named(n))
            .or(Some(header.len() - 1)),
    };
    match found {
        Some(i) => Ok(Some(i)),
        None => Err(bad(
            path,
            format!(
                "--label-column {}: no such column (the header has {})",
                wanted.unwrap_or(""),
                header.join(", ")
            ),
        )),
    }
}

/// The bytes of `path` (gunzipped if .gz; standard input for `-`).
fn contents(path: &Path, fp: &mut Fingerprint) -> Result<Vec<u8>, DataError> {
    let raw = if path.as_os_str() == "-" {
        let mut v = Vec::new();
        std::io::stdin()
            .read_to_end(&mut v)
            .map_err(|e| bad(path, format!("cannot read standard input: {e}")))?;
        fp.add(path, &v);
        v
    } else {
        super::read_file(path, fp)?
    };
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(&raw[..])
        .read_to_end(&mut out)
        .map_err(|e| bad(path, format!("corrupt gzip: {e}")))?;
    Ok(out)
}

/// Reads a labelled table for training: the label column must be there.
pub fn read(path: &Path, wanted: Option<&str>, fp: &mut Fingerprint) -> Result<Table, DataError> {
    read_inputs(path, wanted, None, fp)
}

/// Reads a table of `inputs` features a row, with or without its label column (`predict`);
/// `inputs` None: the label column must be there.
pub fn read_inputs(
    path: &Path,
    wanted: Option<&str>,
    inputs: Option<usize>,
    fp: &mut Fingerprint,
) -> Result<Table, DataError> {
    let bytes = contents(path, fp)?;
    let name = path.to_string_lossy().to_lowercase();
    let tabs = name.ends_with(".tsv") || name.ends_with(".tsv.gz");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if tabs { b'\t' } else { b',' })
        .trim(csv::Trim::All)
        .from_reader(&bytes[..]);
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| bad(path, format!("not a CSV table: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if header.len() < 2 && inputs.is_none() {
        return Err(bad(
            path,
            "needs a header row and at least two columns: features and a label",
        ));
    }
    let label = label_column(path, &header, wanted, inputs)?;
    let features = header.len() - usize::from(label.is_some());
    if let Some(n) = inputs.filter(|&n| n != features) {
        return Err(bad(
            path,
            format!("has {features} feature columns; the model takes {n}"),
        ));
    }
    let mut values: Vec<f32> = Vec::new();
    let mut labels: Vec<String> = Vec::new();
    let mut record = csv::StringRecord::new();
    let mut line = 1;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(bad(path, format!("not a well-formed CSV table: {e}"))),
        }
        line = record.position().map_or(line + 1, |p| p.line() as usize);
        for (c, field) in record.iter().enumerate() {
            if Some(c) == label {
                labels.push(field.to_string());
                continue;
            }
            let v: f32 = field.parse().map_err(|_| {
                bad(
                    path,
                    format!(
                        "line {line}, column {}: '{field}' is not a number; every column but the label must be numeric",
                        header[c]
                    ),
                )
            })?;
            if !v.is_finite() {
                return Err(bad(
                    path,
                    format!("line {line}, column {}: {field} is not finite", header[c]),
                ));
            }
            values.push(v);
        }
    }
    if values.is_empty() && labels.is_empty() {
        return Err(bad(path, "has a header but no rows"));
    }
    let ints: Option<Vec<i64>> = labels.iter().map(|l| l.parse().ok()).collect();
    let labels = label.map(|_| match ints {
        Some(v) => RawLabels::Ints(v),
        None => RawLabels::Text(labels),
    });
    let columns = header
        .iter()
        .enumerate()
        .filter(|(c, _)| Some(*c) != label)
        .map(|(_, h)| h.clone())
        .collect();
    Ok(Table {
        values: eight_bit(values),
        shape: vec![features],
        labels,
        names: None,
        columns: Some(columns),
        origin: path.to_path_buf(),
        labels_origin: path.to_path_buf(),
        first_row: 2,
        row_unit: "line",
    })
}

/// `values` as 8-bit data when every one is an integer in 0-255.
fn eight_bit(values: Vec<f32>) -> Values {
    let byte = |v: &f32| *v >= 0.0 && *v <= 255.0 && v.fract() == 0.0;
    if values.iter().all(byte) {
        Values::U8(values.iter().map(|&v| v as u8).collect())
    } else {
        Values::F32(values)
    }
}
