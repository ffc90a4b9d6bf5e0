//! Fashion-MNIST: IDX files (gzipped or not), validated, and the train/validation split.

use crate::rng::Rng;
use flate2::read::GzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

pub const IMAGE_BYTES: usize = 28 * 28;
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

/// Reads `<dir>/<stem>.gz` or `<dir>/<stem>`, decompressed (at most 64 MiB).
fn read_file(dir: &Path, stem: &str) -> Result<(PathBuf, Vec<u8>), DataError> {
    let plain = dir.join(stem);
    let gz = dir.join(format!("{stem}.gz"));
    let path = if gz.exists() { gz } else { plain };
    let raw = std::fs::read(&path).map_err(|e| bad(&path, format!("cannot read: {e}")))?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        // A decompressed IDX file of Fashion-MNIST is under 50 MB; cap what a bad file can cost.
        GzDecoder::new(&raw[..])
            .take(64 << 20)
            .read_to_end(&mut out)
            .map_err(|e| bad(&path, format!("corrupt gzip: {e}")))?;
        Ok((path, out))
    } else {
        Ok((path, raw))
    }
}

fn header(path: &Path, bytes: &[u8], magic: u32, dims: usize) -> Result<Vec<usize>, DataError> {
    let need = 4 + 4 * dims;
    if bytes.len() < need {
        return Err(bad(
            path,
            format!("too short for an IDX header ({} bytes)", bytes.len()),
        ));
    }
    let word = |i: usize| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().expect("4 bytes"));
    if word(0) != magic {
        return Err(bad(
            path,
            format!(
                "wrong magic number {:#010x}, expected {magic:#010x}",
                word(0)
            ),
        ));
    }
    Ok((1..=dims).map(|i| word(i) as usize).collect())
}

/// Reads and checks one pair of IDX files (`train` or `t10k`).
pub fn load(dir: &Path, prefix: &str) -> Result<Images, DataError> {
    let (ipath, ibytes) = read_file(dir, &format!("{prefix}-images-idx3-ubyte"))?;
    let (lpath, lbytes) = read_file(dir, &format!("{prefix}-labels-idx1-ubyte"))?;
    let d = header(&ipath, &ibytes, 0x0000_0803, 3)?;
    if d[1] != 28 || d[2] != 28 {
        return Err(bad(
            &ipath,
            format!("images are {}x{}, expected 28x28", d[1], d[2]),
        ));
    }
    let n = d[0];
    let body = &ibytes[16..];
    if body.len() != n * IMAGE_BYTES {
        return Err(bad(
            &ipath,
            format!(
                "header says {n} images but the file holds {} bytes of pixels, not {}",
                body.len(),
                n * IMAGE_BYTES
            ),
        ));
    }
    let ln = header(&lpath, &lbytes, 0x0000_0801, 1)?[0];
    let labels = &lbytes[8..];
    if labels.len() != ln {
        return Err(bad(
            &lpath,
            format!(
                "header says {ln} labels but the file holds {}",
                labels.len()
            ),
        ));
    }
    if ln != n {
        return Err(bad(
            &lpath,
            format!("{ln} labels for {n} images in {}", ipath.display()),
        ));
    }
    if let Some(i) = labels.iter().position(|&l| l > 9) {
        return Err(bad(
            &lpath,
            format!("label {} at index {i} is outside 0-9", labels[i]),
        ));
    }
    Ok(Images {
        pixels: body.to_vec(),
        labels: labels.to_vec(),
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
pub struct Split {
    pub train_idx: Vec<u32>,
    pub val_idx: Vec<u32>,
    pub test_idx: Vec<u32>,
}

#[derive(Clone, Copy, Debug)]
pub struct SplitSpec {
    pub split_seed: u64,
    pub val_size: usize,
    pub subset: Option<usize>,
    pub eval_subset: Option<usize>,
}

impl Split {
    /// A shuffle of the `n` training images by `split_seed`: the last `val_size` are held
    /// out; `tests` test images.
    pub fn new(n: usize, tests: usize, s: SplitSpec) -> Result<Split, String> {
        if s.val_size >= n {
            return Err(format!(
                "--val-size {} leaves no training data (the training set has {n} images)",
                s.val_size
            ));
        }
        let mut order: Vec<u32> = (0..n as u32).collect();
        Rng::new(s.split_seed).shuffle(&mut order);
        let mut val_idx = order.split_off(n - s.val_size);
        let mut train_idx = order;
        let mut test_idx: Vec<u32> = (0..tests as u32).collect();
        if let Some(k) = s.subset {
            if k > train_idx.len() {
                return Err(format!(
                    "--subset {k} is larger than the training part ({} images)",
                    train_idx.len()
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
