//! CSV tables (`.csv`, `.csv.gz`, `.tsv`; `-` is standard input): a header row, one sample
//! a row, one column its label and every other a numeric feature. The label column is
//! `--label-column NAME|INDEX` (0-based), else the column named label, target, class or y
//! (any case), else the last. A table whose every feature is an integer in 0-255 (Kaggle's
//! MNIST and Fashion-MNIST exports) is 8-bit data; any other is f32.

use super::{bad, DataError, Fingerprint, Hashed, RawLabels, Table, Values};
use flate2::bufread::GzDecoder;
use std::io::{BufRead, BufReader, Read};
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

/// A table's bytes as read: a file's, fingerprinted as they pass, or standard input's
/// (read whole: its length comes first in the fingerprint).
enum Raw<'a> {
    File(Hashed<'a>),
    Stdin(std::io::Cursor<Vec<u8>>),
}

impl Raw<'_> {
    /// Reads the rest of a file into the fingerprint.
    fn finish(self) -> std::io::Result<()> {
        match self {
            Raw::File(h) => h.finish(),
            Raw::Stdin(_) => Ok(()),
        }
    }
}

impl Read for Raw<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Raw::File(h) => h.read(buf),
            Raw::Stdin(c) => c.read(buf),
        }
    }
}

/// A table's text: its bytes, gunzipped when they are gzip.
enum Text<'a> {
    Plain(BufReader<Raw<'a>>),
    Gz(GzDecoder<BufReader<Raw<'a>>>),
}

impl<'a> Text<'a> {
    /// `path`'s text (standard input for `-`), read as a stream.
    fn open(path: &Path, fp: &'a mut Fingerprint) -> Result<Text<'a>, DataError> {
        let raw = if path.as_os_str() == "-" {
            let mut v = Vec::new();
            std::io::stdin()
                .read_to_end(&mut v)
                .map_err(|e| bad(path, format!("cannot read standard input: {e}")))?;
            fp.add(path, &v);
            Raw::Stdin(std::io::Cursor::new(v))
        } else {
            Raw::File(Hashed::open(path, fp)?)
        };
        let mut bytes = BufReader::with_capacity(1 << 16, raw);
        let head = bytes
            .fill_buf()
            .map_err(|e| bad(path, format!("cannot read: {e}")))?;
        Ok(if head.starts_with(&[0x1f, 0x8b]) {
            Text::Gz(GzDecoder::new(bytes))
        } else {
            Text::Plain(bytes)
        })
    }

    /// Reads what is left of the file, so that the fingerprint covers all of it.
    fn finish(self) -> std::io::Result<()> {
        let bytes = match self {
            Text::Plain(b) => b,
            Text::Gz(d) => d.into_inner(),
        };
        bytes.into_inner().finish()
    }
}

impl Read for Text<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        match self {
            Text::Plain(b) => b.read(buf),
            Text::Gz(d) => d
                .read(buf)
                .map_err(|e| std::io::Error::new(e.kind(), format!("corrupt gzip: {e}"))),
        }
    }
}

/// A cell that is an integer in 0-255 written plainly (a pixel), read without f32's parser.
fn byte(cell: &[u8]) -> Option<u8> {
    if !(1..=3).contains(&cell.len()) || !cell.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = cell.iter().fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'));
    u8::try_from(n).ok()
}

/// A feature cell's number, or what is wrong with it.
fn number(cell: &[u8]) -> Result<f32, String> {
    const NUMERIC: &str = "every column but the label must be numeric";
    let text = String::from_utf8_lossy(cell);
    match text.parse::<f32>() {
        Ok(v) if v.is_finite() => Ok(v),
        Ok(_) => Err(format!("{text} is not finite")),
        Err(_) if text.is_empty() => Err(format!("is empty; {NUMERIC}")),
        Err(_) => Err(format!("'{text}' is not a number; {NUMERIC}")),
    }
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
    let mut text = Text::open(path, fp)?;
    let table = decode_csv(path, &mut text, wanted, inputs)?;
    text.finish()
        .map_err(|e| bad(path, format!("cannot read: {e}")))?;
    Ok(table)
}

/// The table `text` holds (tab-separated when `path`, which messages name, ends in .tsv or
/// .tsv.gz); `wanted` and `inputs` as `read_inputs` takes them.
pub fn decode_csv(
    path: &Path,
    text: impl Read,
    wanted: Option<&str>,
    inputs: Option<usize>,
) -> Result<Table, DataError> {
    let name = path.to_string_lossy().to_lowercase();
    let tabs = name.ends_with(".tsv") || name.ends_with(".tsv.gz");
    let mut reader = csv::ReaderBuilder::new()
        .delimiter(if tabs { b'\t' } else { b',' })
        .buffer_capacity(1 << 16)
        .from_reader(text);
    let not_read = |e: csv::Error| match e.kind() {
        csv::ErrorKind::Io(io) => bad(path, format!("cannot read: {io}")),
        _ => bad(path, format!("not a well-formed CSV table: {e}")),
    };
    let header: Vec<String> = match reader.headers() {
        Ok(h) => h.iter().map(|n| n.trim().to_string()).collect(),
        Err(e) => return Err(not_read(e)),
    };
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
    let mut values = Values::U8(Vec::new());
    let mut labels: Vec<String> = Vec::new();
    let mut record = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(not_read(e)),
        }
        let line = record.position().map_or(0, |p| p.line());
        let at = |c: usize| format!("line {line}, column {}", header[c]);
        for (c, cell) in record.iter().enumerate() {
            // spaces around a cell are not part of it (csv's own trim costs a pass a row)
            let cell = cell.trim_ascii();
            if Some(c) == label {
                let text = std::str::from_utf8(cell)
                    .map_err(|_| bad(path, format!("{}: the label is not UTF-8 text", at(c))))?;
                labels.push(text.to_string());
                continue;
            }
            match (byte(cell), &mut values) {
                (Some(b), Values::U8(bytes)) => bytes.push(b),
                _ => values.push(number(cell).map_err(|p| bad(path, format!("{}: {p}", at(c))))?),
            }
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
        values,
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
