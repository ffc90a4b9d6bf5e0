//! NumPy arrays: an `.npz` archive (`np.savez`, compressed or not) or a directory of `.npy`
//! files, holding `x_train`, `y_train` and optionally `x_test`, `y_test` (Keras's
//! `mnist.npz` layout), or `x` and `y`. Samples may have any shape (a sample's inputs are
//! the product of its dimensions); uint8 values stay 8-bit, other integer and float dtypes
//! become f32; labels are integers.

use super::{bad, DataError, Fingerprint, RawLabels, Table, Values};
use npyz::{DType, NpyFile, TypeChar};
use std::io::Read;
use std::path::{Path, PathBuf};

/// The array names read, per part.
const TRAIN: [(&str, &str); 2] = [("x_train", "y_train"), ("x", "y")];
const TEST: (&str, &str) = ("x_test", "y_test");

/// An array's numbers: uint8 as they are, other integers as i64, floats as f64.
enum Numbers {
    U8(Vec<u8>),
    Ints(Vec<i64>),
    Floats(Vec<f64>),
}

/// Refuses a header whose length field claims more than the file holds (read as claimed,
/// it would be allocated before it failed).
fn header_fits(what: &Path, bytes: &[u8]) -> Result<(), DataError> {
    if !bytes.starts_with(b"\x93NUMPY") {
        return Err(bad(
            what,
            "not a NumPy array: it does not start as .npy files do",
        ));
    }
    let field = match bytes.get(6) {
        Some(1) => bytes
            .get(8..10)
            .map(|b| (10, u64::from(u16::from_le_bytes([b[0], b[1]])))),
        Some(_) => bytes
            .get(8..12)
            .map(|b| (12, u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])))),
        None => None,
    };
    match field {
        Some((start, len)) if start + len <= bytes.len() as u64 => Ok(()),
        Some((_, len)) => Err(bad(
            what,
            format!("not a NumPy array: its header claims {len} bytes, more than the file holds"),
        )),
        None => Err(bad(what, "not a NumPy array: too short for its header")),
    }
}

/// The numbers and shape of one .npy file's `bytes`; `what` names it.
fn numbers(what: &Path, bytes: &[u8]) -> Result<(Numbers, Vec<usize>), DataError> {
    // the first line of npyz's message (its parse errors draw the header beneath)
    let fail = |e: std::io::Error| {
        let e = e.to_string();
        bad(
            what,
            format!(
                "not a NumPy array: {}",
                e.lines().next().unwrap_or("").trim()
            ),
        )
    };
    header_fits(what, bytes)?;
    let npy = NpyFile::new(bytes).map_err(fail)?;
    if npy.order() == npyz::Order::Fortran {
        return Err(bad(
            what,
            "is in Fortran order; save it with np.ascontiguousarray(...) first",
        ));
    }
    let shape: Vec<usize> = npy.shape().iter().map(|&d| d as usize).collect();
    let DType::Plain(ts) = npy.dtype() else {
        return Err(bad(
            what,
            "is a structured array; mlp-gpu reads plain numbers",
        ));
    };
    // what the header claims, checked against what the file holds before any is read
    let claimed = npy
        .shape()
        .iter()
        .try_fold(ts.size_field(), |n, &d| n.checked_mul(d));
    if claimed.is_none_or(|n| n > bytes.len() as u64) {
        return Err(bad(
            what,
            format!(
                "its header claims {shape:?} values of {} bytes, more than its {} bytes hold",
                ts.size_field(),
                bytes.len()
            ),
        ));
    }
    macro_rules! read {
        ($kind:ident, $t:ty, $as:ty) => {{
            let v = npy.into_vec::<$t>().map_err(fail)?;
            Numbers::$kind(v.into_iter().map(|x| x as $as).collect())
        }};
    }
    let numbers = match (ts.type_char(), ts.size_field()) {
        (TypeChar::Uint, 1) => Numbers::U8(npy.into_vec::<u8>().map_err(fail)?),
        (TypeChar::Uint, 2) => read!(Ints, u16, i64),
        (TypeChar::Uint, 4) => read!(Ints, u32, i64),
        (TypeChar::Uint, 8) => read!(Ints, u64, i64),
        (TypeChar::Int, 1) => read!(Ints, i8, i64),
        (TypeChar::Int, 2) => read!(Ints, i16, i64),
        (TypeChar::Int, 4) => read!(Ints, i32, i64),
        (TypeChar::Int, 8) => read!(Ints, i64, i64),
        (TypeChar::Float, 4) => read!(Floats, f32, f64),
        (TypeChar::Float, 8) => read!(Floats, f64, f64),
        _ => {
            return Err(bad(
                what,
                format!("has dtype {ts}; mlp-gpu reads integer and float arrays"),
            ))
        }
    };
    Ok((numbers, shape))
}

/// The values (uint8 stays 8-bit, the rest f32) and shape of the .npy file `bytes`, which
/// messages call `what`.
pub fn decode_npy(what: &Path, bytes: &[u8]) -> Result<(Values, Vec<usize>), DataError> {
    let (n, shape) = numbers(what, bytes)?;
    let values = match n {
        Numbers::U8(v) => Values::U8(v),
        Numbers::Ints(v) => Values::F32(v.into_iter().map(|x| x as f32).collect()),
        Numbers::Floats(v) => Values::F32(v.into_iter().map(|x| x as f32).collect()),
    };
    Ok((values, shape))
}

/// An array of integer labels.
fn labels(what: &Path, bytes: &[u8]) -> Result<(Vec<i64>, Vec<usize>), DataError> {
    let (n, shape) = numbers(what, bytes)?;
    let labels = match n {
        Numbers::U8(v) => v.into_iter().map(i64::from).collect(),
        Numbers::Ints(v) => v,
        Numbers::Floats(_) => return Err(bad(what, "labels must be integers, not floats")),
    };
    Ok((labels, shape))
}

/// A part from arrays x and y (y None: unlabelled, for `predict`).
fn part(x: (&Path, &[u8]), y: Option<(&Path, &[u8])>, origin: &Path) -> Result<Table, DataError> {
    let (values, shape) = decode_npy(x.0, x.1)?;
    let Some((&n, sample)) = shape.split_first() else {
        return Err(bad(x.0, "is a single number, not an array of samples"));
    };
    let labels = match y {
        Some((path, bytes)) => {
            let (l, lshape) = labels(path, bytes)?;
            if lshape.iter().product::<usize>() != n || lshape.first() != Some(&n) {
                return Err(bad(
                    path,
                    format!("holds labels of shape {lshape:?} for {n} samples"),
                ));
            }
            Some(RawLabels::Ints(l))
        }
        None => None,
    };
    Ok(Table {
        values,
        shape: if sample.is_empty() {
            vec![1]
        } else {
            sample.to_vec()
        },
        labels,
        names: None,
        columns: None,
        origin: origin.to_path_buf(),
        labels_origin: origin.to_path_buf(),
        first_row: 0,
        row_unit: "index",
    })
}

/// The arrays of an .npz archive by name.
fn npz_arrays(path: &Path, fp: &mut Fingerprint) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let raw = super::read_file(path, fp)?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(raw))
        .map_err(|e| bad(path, format!("not an .npz archive: {e}")))?;
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| bad(path, format!("cannot read the archive: {e}")))?;
        let name = f
            .name()
            .map_err(|e| bad(path, format!("cannot read the archive: {e}")))?
            .trim_end_matches(".npy")
            .to_string();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes)
            .map_err(|e| bad(path, format!("cannot read {name}: {e}")))?;
        out.push((name, bytes));
    }
    Ok(out)
}

/// The training part (and test part, if present) of named arrays `arrays` from `origin`.
fn parts(
    origin: &Path,
    arrays: &[(String, Vec<u8>)],
    labelled: bool,
) -> Result<(Table, Option<Table>), DataError> {
    let get = |name: &str| arrays.iter().find(|(n, _)| n == name).map(|(_, b)| &b[..]);
    let named = |name: &str| origin.join(format!("{name}.npy"));
    let names: Vec<&str> = arrays.iter().map(|(n, _)| n.as_str()).collect();
    let Some((x, y)) = TRAIN.iter().find(|(x, _)| get(x).is_some()) else {
        return Err(bad(
            origin,
            format!(
                "holds {}; mlp-gpu reads x_train and y_train (and x_test, y_test), or x and y",
                names.join(", ")
            ),
        ));
    };
    let with_labels = |y: &str| -> Result<Option<(PathBuf, &[u8])>, DataError> {
        match get(y) {
            Some(b) => Ok(Some((named(y), b))),
            None if !labelled => Ok(None),
            None => Err(bad(origin, format!("has {} but no {y} labels", x_name(y)))),
        }
    };
    let y_train = with_labels(y)?;
    let train = part(
        (&named(x), get(x).expect("found")),
        y_train.as_ref().map(|(p, b)| (p.as_path(), *b)),
        origin,
    )?;
    let test = match get(TEST.0) {
        Some(xt) if *x == "x_train" => {
            let y_test = with_labels(TEST.1)?;
            let y = y_test.as_ref().map(|(p, b)| (p.as_path(), *b));
            Some(part((&named(TEST.0), xt), y, origin)?)
        }
        _ => None,
    };
    Ok((train, test))
}

fn x_name(y: &str) -> String {
    y.replacen('y', "x", 1)
}

/// An .npz archive's training part and, if it has one, its test part.
pub fn read_npz(path: &Path, fp: &mut Fingerprint) -> Result<(Table, Option<Table>), DataError> {
    parts(path, &npz_arrays(path, fp)?, true)
}

/// A directory of .npy files, named as the arrays of an .npz.
pub fn read_dir(dir: &Path, fp: &mut Fingerprint) -> Result<(Table, Option<Table>), DataError> {
    parts(dir, &npy_arrays(dir, fp)?, true)
}

fn npy_arrays(dir: &Path, fp: &mut Fingerprint) -> Result<Vec<(String, Vec<u8>)>, DataError> {
    let mut out = Vec::new();
    for p in super::list_dir(dir)? {
        let name = p
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .to_string();
        if let Some(stem) = name.strip_suffix(".npy") {
            out.push((stem.to_string(), super::read_file(&p, fp)?));
        }
    }
    Ok(out)
}

/// One part of an .npz or a directory of .npy files, with its labels where it has them: its
/// x, else its x_test, else its x_train (a test set, or rows to predict).
pub fn read_inputs(path: &Path, fp: &mut Fingerprint) -> Result<Table, DataError> {
    let arrays = if path.is_dir() {
        npy_arrays(path, fp)?
    } else {
        npz_arrays(path, fp)?
    };
    let get = |name: &str| arrays.iter().find(|(n, _)| n == name);
    let pairs = [("x", "y"), TEST, TRAIN[0]];
    let Some(&(x, y)) = pairs.iter().find(|(x, _)| get(x).is_some()) else {
        return Err(bad(path, "holds no x, x_test or x_train array"));
    };
    let named = |name: &str| path.join(format!("{name}.npy"));
    let xp = named(x);
    let yp = named(y);
    part(
        (&xp, &get(x).expect("found").1),
        get(y).map(|(_, b)| (yp.as_path(), &b[..])),
        path,
    )
}
