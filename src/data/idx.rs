//! IDX files (MNIST's format, gzipped or not): a directory holding a pair of 8-bit images
//! and labels for training and, optionally, for testing. Fashion-MNIST's names
//! (`train-images-idx3-ubyte[.gz]`, `t10k-...`) or any whose names say train or test and
//! images or labels (EMNIST's `emnist-letters-train-images-idx3-ubyte`).

use super::{list_dir, read_file, DataError, Fingerprint, RawLabels, Table, Values};
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

fn bad(path: &Path, problem: impl Into<String>) -> DataError {
    DataError::Idx {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// The largest IDX body read (Fashion-MNIST's largest is 47 MB): a small gzip file can
/// expand to far more than memory holds, so claims above this are refused up front.
const MAX_BODY: u64 = 1 << 30;

/// IDX magic numbers: unsigned bytes, with the dimension count in the last byte.
const UBYTE: u32 = 0x0000_0800;

/// An IDX file's dimensions and its body.
#[derive(Debug)]
pub struct Idx {
    pub path: PathBuf,
    pub dims: Vec<usize>,
    pub body: Vec<u8>,
}

/// Decodes an IDX file (gzipped or not; `path` is for messages): checks the magic number,
/// then reads exactly the body the header announces. Memory follows the bytes actually
/// present, never the header's claim, so a lying header costs nothing.
pub fn decode_idx(path: &Path, raw: &[u8], magic: u32, dims: usize) -> Result<Idx, DataError> {
    let mut reader: Box<dyn Read + '_> = if raw.starts_with(&[0x1f, 0x8b]) {
        Box::new(GzDecoder::new(raw))
    } else {
        Box::new(raw)
    };
    let corrupt = |e: std::io::Error| bad(path, format!("corrupt gzip: {e}"));
    let mut header = vec![0u8; 4 + 4 * dims];
    let mut got = 0;
    while got < header.len() {
        match reader.read(&mut header[got..]).map_err(corrupt)? {
            0 => {
                return Err(bad(
                    path,
                    format!("too short for an IDX header ({got} bytes)"),
                ))
            }
            n => got += n,
        }
    }
    let word = |i: usize| u32::from_be_bytes(header[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    if word(0) != magic {
        return Err(bad(
            path,
            format!(
                "wrong magic number {:#010x}, expected {magic:#010x}",
                word(0)
            ),
        ));
    }
    let dims: Vec<usize> = (1..=dims).map(|i| word(i) as usize).collect();
    let expected = dims
        .iter()
        .try_fold(1u64, |n, &d| n.checked_mul(d as u64))
        .filter(|&n| n <= MAX_BODY)
        .ok_or_else(|| {
            bad(
                path,
                format!(
                    "header says {}, more than the {} MiB mlp-gpu reads from one file",
                    describe_dims(&dims),
                    MAX_BODY >> 20
                ),
            )
        })?;
    let mut body = Vec::new();
    reader
        .take(expected + 1)
        .read_to_end(&mut body)
        .map_err(corrupt)?;
    if body.len() as u64 != expected {
        let holds = if body.len() as u64 > expected {
            "more".to_string()
        } else {
            body.len().to_string()
        };
        return Err(bad(
            path,
            format!(
                "header says {} but the file holds {holds} bytes after the header, not {expected}",
                describe_dims(&dims)
            ),
        ));
    }
    Ok(Idx {
        path: path.to_path_buf(),
        dims,
        body,
    })
}

fn describe_dims(dims: &[usize]) -> String {
    match dims {
        [n] => format!("{n} labels"),
        [n, h, w] => format!("{n} images of {h}x{w}"),
        [n, rest @ ..] => format!("{n} samples of {rest:?}"),
        [] => "no dimensions".into(),
    }
}

/// The dimension count an IDX file's magic number declares (its raw or gunzipped fourth
/// byte); 3 when it cannot be read (decode_idx then says what is wrong).
fn declared_dims(raw: &[u8]) -> usize {
    let mut head = [0u8; 4];
    let got = if raw.starts_with(&[0x1f, 0x8b]) {
        GzDecoder::new(raw).read_exact(&mut head).is_ok()
    } else {
        raw.len() >= 4 && {
            head.copy_from_slice(&raw[..4]);
            true
        }
    };
    if got && head[..3] == [0, 0, 8] && head[3] >= 2 {
        usize::from(head[3])
    } else {
        3
    }
}

/// The roles of a directory's IDX files, as Fashion-MNIST names them.
const ROLES: [(&str, &str, &str); 4] = [
    ("train", "images", "train-images-idx3-ubyte"),
    ("train", "labels", "train-labels-idx1-ubyte"),
    ("test", "images", "t10k-images-idx3-ubyte"),
    ("test", "labels", "t10k-labels-idx1-ubyte"),
];

/// Which file of `files` plays `(part, kind)`: the one whose name says both (test: "test"
/// or "t10k"). An error if several do.
fn find_role(
    dir: &Path,
    files: &[PathBuf],
    part: &str,
    kind: &str,
) -> Result<Option<PathBuf>, DataError> {
    let matches: Vec<&PathBuf> = files
        .iter()
        .filter(|p| {
            let n = p
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .to_lowercase();
            let says_part = match part {
                "train" => n.contains("train"),
                _ => n.contains("test") || n.contains("t10k"),
            };
            n.contains("ubyte") && n.contains(kind) && says_part
        })
        .collect();
    // a file beside its gzipped copy (after gunzip -k): the gzipped one
    let stem = |p: &PathBuf| p.to_string_lossy().trim_end_matches(".gz").to_string();
    let gz = |p: &&PathBuf| p.extension().is_some_and(|e| e == "gz");
    let matches: Vec<&PathBuf> = match matches[..] {
        [a, b] if stem(a) == stem(b) => vec![if gz(&a) { a } else { b }],
        _ => matches,
    };
    match matches[..] {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        _ => Err(super::bad(
            dir,
            format!(
                "several IDX files could be the {part} {kind} ({}); give --data a directory with one of each",
                matches
                    .iter()
                    .map(|p| p.file_name().unwrap_or_default().to_string_lossy())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )),
    }
}

/// Each role's file in `dir` (Err: the name Fashion-MNIST gives it, which is not there).
type Roles = Vec<Result<PathBuf, PathBuf>>;

fn roles(dir: &Path) -> Result<Roles, DataError> {
    let files = list_dir(dir).map_err(|_| {
        bad(
            &dir.join(ROLES[0].2),
            "cannot read: No such file or directory",
        )
    })?;
    let mut found = Vec::new();
    for (part, kind, standard) in ROLES {
        let path = find_role(dir, &files, part, kind)?;
        found.push(path.ok_or_else(|| dir.join(standard)));
    }
    Ok(found)
}

/// One part of directory `dir` (a test set, or rows to predict): its test images and
/// labels, else its training ones.
pub fn read_part(dir: &Path, fp: &mut Fingerprint) -> Result<Table, DataError> {
    let found = roles(dir)?;
    match (&found[2], &found[3], &found[0], &found[1]) {
        (Ok(i), Ok(l), _, _) | (_, _, Ok(i), Ok(l)) => pair(i, l, fp),
        (Err(p), ..) | (_, Err(p), ..) => Err(bad(
            p,
            "cannot read: No such file or directory (os error 2)",
        )),
    }
}

/// The training images and labels of directory `dir` and, if it has them, its test ones.
pub fn read_dir(dir: &Path, fp: &mut Fingerprint) -> Result<(Table, Option<Table>), DataError> {
    let found = roles(dir)?;
    let missing = |p: &PathBuf| bad(p, "cannot read: No such file or directory (os error 2)");
    let train = match (&found[0], &found[1]) {
        (Ok(i), Ok(l)) => pair(i, l, fp)?,
        (Err(p), _) | (_, Err(p)) => return Err(missing(p)),
    };
    let test = match (&found[2], &found[3]) {
        (Ok(i), Ok(l)) => Some(pair(i, l, fp)?),
        (Err(_), Err(_)) => None,
        (Err(p), _) | (_, Err(p)) => return Err(missing(p)),
    };
    Ok((train, test))
}

/// Reads and checks one pair of IDX files: 8-bit samples of any shape, as many labels.
fn pair(images: &Path, labels: &Path, fp: &mut Fingerprint) -> Result<Table, DataError> {
    let raw = read_file(images, fp).map_err(|e| bad(images, reason(e)))?;
    let i = decode_idx(
        images,
        &raw,
        UBYTE | declared_dims(&raw) as u32,
        declared_dims(&raw),
    )?;
    let raw = read_file(labels, fp).map_err(|e| bad(labels, reason(e)))?;
    let l = decode_idx(labels, &raw, UBYTE | 1, 1)?;
    let (n, ln) = (i.dims[0], l.dims[0]);
    if ln != n {
        return Err(bad(
            labels,
            format!("{ln} labels for {n} images in {}", images.display()),
        ));
    }
    Ok(Table {
        values: Values::U8(i.body),
        shape: i.dims[1..].to_vec(),
        labels: Some(RawLabels::Ints(
            l.body.iter().map(|&b| i64::from(b)).collect(),
        )),
        names: None,
        columns: None,
        origin: images.to_path_buf(),
        labels_origin: labels.to_path_buf(),
        first_row: 0,
        row_unit: "index",
    })
}

/// The problem part of a read error, so that it is said once, as an IDX error.
fn reason(e: DataError) -> String {
    match e {
        DataError::Bad { problem, .. } | DataError::Idx { problem, .. } => problem,
        other => other.to_string(),
    }
}
