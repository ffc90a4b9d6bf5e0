//! Fashion-MNIST: IDX files (gzipped or not), validated, and the train/validation split.

use crate::config::ConfigError;
use crate::rng::Rng;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

const HOW_TO_GET: &str =
    "get the data with `apt-get install dataset-fashion-mnist` or pass --data DIR";

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("no Fashion-MNIST data found (looked in {looked}); {HOW_TO_GET}")]
    NotFound { looked: String },
    #[error("{path}: {problem}; {HOW_TO_GET}")]
    Bad { path: PathBuf, problem: String },
}

fn bad(path: &Path, problem: impl Into<String>) -> DataError {
    DataError::Bad {
        path: path.to_path_buf(),
        problem: problem.into(),
    }
}

/// Fashion-MNIST's classes, in label order.
pub const CLASS_NAMES: [&str; 10] = [
    "t-shirt/top",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "ankle boot",
];

/// Images as u8 rows of 784 and their labels 0-9.
#[derive(Clone, Debug, Default)]
pub struct Images {
    pub pixels: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Images {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// The directories searched, in order: `--data`, `$FASHION_MNIST_DIR`,
/// `./data/fashion-mnist`, `/usr/share/datasets/fashion-mnist`.
pub fn find_dir(flag: Option<&Path>) -> Result<PathBuf, DataError> {
    if let Some(dir) = flag {
        // An explicit directory is used as given, so its problems are reported.
        return Ok(dir.to_path_buf());
    }
    if let Some(env) = std::env::var_os("FASHION_MNIST_DIR") {
        return Ok(PathBuf::from(env));
    }
    let candidates = ["data/fashion-mnist", "/usr/share/datasets/fashion-mnist"].map(PathBuf::from);
    if let Some(dir) = candidates.iter().find(|c| {
        c.join("train-images-idx3-ubyte.gz").exists() || c.join("train-images-idx3-ubyte").exists()
    }) {
        return Ok(dir.clone());
    }
    Err(DataError::NotFound {
        looked: candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Reads `<dir>/<stem>.gz` or `<dir>/<stem>` and decodes it as an IDX file.
fn read_idx(dir: &Path, stem: &str, magic: u32, dims: usize) -> Result<Idx, DataError> {
    let plain = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    let path = if gz.exists() { gz } else { plain };
    let raw = std::fs::read(&path).map_err(|e| bad(&path, format!("cannot read: {e}")))?;
    decode_idx(&path, &raw, magic, dims)
}

/// The largest IDX body read (Fashion-MNIST's largest is 47 MB): a small gzip file can
/// expand to far more than memory holds, so claims above this are refused up front.
const MAX_BODY: u64 = 1 << 30;

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
        _ => format!("{dims:?}"),
    }
}

/// Reads and checks one pair of IDX files (`train` or `t10k`).
pub fn load(dir: &Path, prefix: &str) -> Result<Images, DataError> {
    let images = format!("{prefix}-images-idx3-ubyte");
    let labels = format!("{prefix}-labels-idx1-ubyte");
    let i = read_idx(dir, &images, 0x0000_0803, 3)?;
    let l = read_idx(dir, &labels, 0x0000_0801, 1)?;
    check_pair(i, l)
}

/// Images and labels that belong together: 28x28 images, as many labels, labels 0-9.
pub fn check_pair(i: Idx, l: Idx) -> Result<Images, DataError> {
    let (ipath, lpath) = (&i.path, &l.path);
    if i.dims[1] != 28 || i.dims[2] != 28 {
        return Err(bad(
            ipath,
            format!("images are {}x{}, expected 28x28", i.dims[1], i.dims[2]),
        ));
    }
    let (n, ln) = (i.dims[0], l.dims[0]);
    if ln != n {
        return Err(bad(
            lpath,
            format!("{ln} labels for {n} images in {}", ipath.display()),
        ));
    }
    if let Some(k) = l.body.iter().position(|&x| x > 9) {
        return Err(bad(
            lpath,
            format!("label {} at index {k} is outside 0-9", l.body[k]),
        ));
    }
    Ok(Images {
        pixels: i.body,
        labels: l.body,
    })
}

/// Fashion-MNIST's two parts, as read from a directory.
pub struct Fashion {
    pub train: Images,
    pub test: Images,
}

impl Fashion {
    pub fn load(dir: &Path) -> Result<Fashion, DataError> {
        Ok(Fashion {
            train: load(dir, "train")?,
            test: load(dir, "t10k")?,
        })
    }
}

/// Which images a run trains, validates and tests on: indices into the training images
/// (train and validation) and into the test images.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Split {
    pub train_idx: Vec<u32>,
    pub val_idx: Vec<u32>,
    pub test_idx: Vec<u32>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SplitSpec {
    pub split_seed: u64,
    pub val_size: usize,
    pub subset: Option<usize>,
    pub eval_subset: Option<usize>,
}

impl Split {
    /// A shuffle of the `n` training images by `split_seed`: the last `val_size` are held
    /// out; `tests` test images.
    pub fn new(n: usize, tests: usize, s: SplitSpec) -> Result<Split, ConfigError> {
        if s.val_size >= n {
            return Err(ConfigError::new(
                "--val-size",
                format!(
                    "--val-size {} leaves no training data (the training set has {n} images)",
                    s.val_size
                ),
            ));
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        Rng::new(s.split_seed).shuffle(&mut order);
        let mut val_idx = order.split_off(n - s.val_size);
        let mut train_idx = order;
        let mut test_idx: Vec<u32> = (0..tests as u32).collect();
        if let Some(k) = s.subset {
            if k > train_idx.len() {
                return Err(ConfigError::new(
                    "--subset",
                    format!(
                        "--subset {k} is larger than the training part ({} images)",
                        train_idx.len()
                    ),
                ));
            }
            train_idx.truncate(k);
        }
        if let Some(k) = s.eval_subset {
            val_idx.truncate(k);
            test_idx.truncate(k);
        }
        Ok(Split {
            train_idx,
            val_idx,
            test_idx,
        })
    }
}
