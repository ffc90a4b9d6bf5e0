//! Data: every source (IDX, CSV, NumPy, folders of images) read into one host `Dataset`
//! (values as u8 for 8-bit sources or f32, labels as class indices, the classes and their
//! names), checked; the held-out test set, the split, the normalisation; and `DataInfo`,
//! what a run records of its data. Nothing below this module knows which data set it is.

pub mod idx;
pub mod images;
mod normalize;
pub mod numpy;
mod split;
pub mod table;

pub use idx::decode_idx;
pub use normalize::{Normalization, NormalizeMode};
pub use numpy::decode_npy;
pub use split::{hold_out, Split, SplitSpec, ValSize};
pub use table::decode_csv;

use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const HOW_TO_GET: &str =
    "get the data with `apt-get install dataset-fashion-mnist` or pass --data DIR";

#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("no Fashion-MNIST data found (looked in {looked}); {HOW_TO_GET}")]
    NotFound { looked: String },
    /// An IDX file that is not what it should be.
    #[error("{}: {problem}; {HOW_TO_GET}", .path.display())]
    Idx { path: PathBuf, problem: String },
    /// Any other file, or a folder, that cannot be read as data.
    #[error("{}: {problem}", .path.display())]
    Bad { path: PathBuf, problem: String },
}

/// A file or folder that cannot be read as data, and why, in one line (a line break in a
/// cell or label that the problem quotes is shown escaped).
pub(crate) fn bad(path: &Path, problem: impl Into<String>) -> DataError {
    DataError::Bad {
        path: path.to_path_buf(),
        problem: problem.into().replace('\n', "\\n").replace('\r', "\\r"),
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

/// The formats `--data` takes (`--format` names one when the path does not tell).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// a directory of IDX files (MNIST's format): train and test images and labels
    Idx,
    /// a CSV (or .tsv) file with a header row, one sample a row, one column its label
    Csv,
    /// a NumPy .npz archive: x_train, y_train[, x_test, y_test], or x, y
    Npz,
    /// a directory of .npy arrays named as in an .npz
    Npy,
    /// a directory of PNG images, one folder per class (or train/ and test/ above them)
    Images,
}

impl Format {
    pub fn name(self) -> &'static str {
        match self {
            Format::Idx => "idx",
            Format::Csv => "csv",
            Format::Npz => "npz",
            Format::Npy => "npy",
            Format::Images => "images",
        }
    }

    /// The format of `path`, from its name or what its directory holds.
    pub fn detect(path: &Path) -> Result<Format, DataError> {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().to_lowercase())
            .unwrap_or_default();
        let ends = |s: &str| name.ends_with(s) || name.ends_with(&format!("{s}.gz"));
        if path.is_dir() {
            let entries = list_dir(path)?;
            let has = |f: &dyn Fn(&str) -> bool| {
                entries.iter().any(|p| {
                    f(&p.file_name()
                        .unwrap_or_default()
                        .to_string_lossy()
                        .to_lowercase())
                })
            };
            if has(&|n| n.contains("ubyte")) {
                return Ok(Format::Idx);
            }
            if has(&|n| n.ends_with(".npy")) {
                return Ok(Format::Npy);
            }
            if has(&|n| n.ends_with(".png")) || entries.iter().any(|p| p.is_dir()) {
                return Ok(Format::Images);
            }
        } else if ends(".csv") || ends(".tsv") || path.as_os_str() == "-" {
            return Ok(Format::Csv);
        } else if name.ends_with(".npz") {
            return Ok(Format::Npz);
        } else if !path.exists() {
            // a directory that is not there: read as Fashion-MNIST's, whose files it names
            return Ok(Format::Idx);
        }
        Err(bad(
            path,
            "cannot tell the data's format from its name or contents; give --format idx|csv|npz|npy|images",
        ))
    }
}

/// The entries of directory `dir`, sorted.
pub(crate) fn list_dir(dir: &Path) -> Result<Vec<PathBuf>, DataError> {
    let entries = std::fs::read_dir(dir).map_err(|e| bad(dir, format!("cannot read: {e}")))?;
    let mut out: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
    out.sort();
    Ok(out)
}

/// How the values of a data set are held, on the host and on the GPU.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// 8-bit values (images, and tables whose every value is an integer in 0-255): a
    /// quarter of f32's memory.
    U8,
    F32,
}

/// The values of a part, row-major, `inputs` a row.
#[derive(Clone, Debug, PartialEq)]
pub enum Values {
    U8(Vec<u8>),
    F32(Vec<f32>),
}

impl Values {
    pub fn len(&self) -> usize {
        match self {
            Values::U8(v) => v.len(),
            Values::F32(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bytes the values take in memory.
    pub fn bytes(&self) -> usize {
        match self {
            Values::U8(v) => v.len(),
            Values::F32(v) => 4 * v.len(),
        }
    }

    pub fn is_u8(&self) -> bool {
        matches!(self, Values::U8(_))
    }

    pub fn dtype(&self) -> Dtype {
        if self.is_u8() {
            Dtype::U8
        } else {
            Dtype::F32
        }
    }

    /// Value i as f32, not normalised.
    pub fn get(&self, i: usize) -> f32 {
        match self {
            Values::U8(v) => f32::from(v[i]),
            Values::F32(v) => v[i],
        }
    }

    /// Appends `v`: as a byte while every value is an integer in 0-255, else as f32 (the
    /// bytes so far widened once, at the first value that is not one).
    pub(crate) fn push(&mut self, v: f32) {
        match self {
            Values::U8(b) if (0.0..=255.0).contains(&v) && v.fract() == 0.0 => b.push(v as u8),
            Values::U8(b) => {
                let wide = b.iter().map(|&x| f32::from(x)).collect();
                *self = Values::F32(wide);
                self.push(v);
            }
            Values::F32(f) => f.push(v),
        }
    }

    /// The values as f32: 8-bit ones widened, f32 ones moved.
    pub fn into_f32(self) -> Values {
        match self {
            Values::U8(v) => Values::F32(v.iter().map(|&b| f32::from(b)).collect()),
            f32s => f32s,
        }
    }

    /// The rows `rows` (`inputs` values each), in that order.
    pub fn rows(&self, rows: &[u32], inputs: usize) -> Values {
        fn pick<T: Copy>(v: &[T], rows: &[u32], inputs: usize) -> Vec<T> {
            let mut out = Vec::with_capacity(rows.len() * inputs);
            for &r in rows {
                out.extend_from_slice(&v[r as usize * inputs..(r as usize + 1) * inputs]);
            }
            out
        }
        match self {
            Values::U8(v) => Values::U8(pick(v, rows, inputs)),
            Values::F32(v) => Values::F32(pick(v, rows, inputs)),
        }
    }

    /// Keeps only the rows `rows` (ascending), in place: no second copy of the data.
    fn keep_rows(&mut self, rows: &[u32], inputs: usize) {
        fn keep<T: Copy>(v: &mut Vec<T>, rows: &[u32], inputs: usize) {
            for (to, &r) in rows.iter().enumerate() {
                debug_assert!(to <= r as usize, "rows ascending");
                v.copy_within(r as usize * inputs..(r as usize + 1) * inputs, to * inputs);
            }
            v.truncate(rows.len() * inputs);
            v.shrink_to_fit();
        }
        match self {
            Values::U8(v) => keep(v, rows, inputs),
            Values::F32(v) => keep(v, rows, inputs),
        }
    }
}

/// Labels as a source gives them, before they are class indices.
#[derive(Clone, Debug, PartialEq)]
pub enum RawLabels {
    Ints(Vec<i64>),
    Text(Vec<String>),
}

impl RawLabels {
    pub fn len(&self) -> usize {
        match self {
            RawLabels::Ints(v) => v.len(),
            RawLabels::Text(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn text(&self, i: usize) -> String {
        match self {
            RawLabels::Ints(v) => v[i].to_string(),
            RawLabels::Text(v) => v[i].clone(),
        }
    }

    /// The distinct labels sorted as scikit-learn's `classes_`: integers by value, text
    /// as text.
    fn classes(&self) -> Vec<String> {
        match self {
            RawLabels::Ints(v) => {
                let mut s = v.clone();
                s.sort_unstable();
                s.dedup();
                s.iter().map(i64::to_string).collect()
            }
            RawLabels::Text(v) => {
                let mut s = v.clone();
                s.sort();
                s.dedup();
                s
            }
        }
    }
}

/// One part of a data set as a reader gives it.
#[derive(Clone, Debug)]
pub struct Table {
    pub values: Values,
    /// One sample's shape: [28, 28] for MNIST, [3, 32, 32] for RGB images (channels first,
    /// as torchvision's ToTensor), [4] for a table of four features.
    pub shape: Vec<usize>,
    pub labels: Option<RawLabels>,
    /// Each row's name where rows have one (an image's path), for `predict`.
    pub names: Option<Vec<String>>,
    /// The inputs' names where the data names them (a CSV's feature columns).
    pub columns: Option<Vec<String>>,
    /// Where the values and the labels come from (one file, but for IDX's pairs), what a
    /// row is called there and the number of the first (a CSV's first row is line 2, under
    /// its header), for messages about a row.
    pub origin: PathBuf,
    pub labels_origin: PathBuf,
    pub first_row: usize,
    pub row_unit: &'static str,
}

impl Table {
    pub fn rows(&self) -> usize {
        self.values.len().checked_div(self.inputs()).unwrap_or(0)
    }

    pub fn inputs(&self) -> usize {
        self.shape.iter().product()
    }

    /// Row r as a message names it.
    fn row_name(&self, r: usize) -> String {
        let (unit, n) = (self.row_unit, self.first_row + r);
        format!("{unit} {n} of {}", self.labels_origin.display())
    }
}

/// A fingerprint of the files a data set was read from: FNV-1a over their names and bytes.
/// `--resume` and a rerun sweep refuse data whose fingerprint changed.
#[derive(Clone, Debug)]
pub struct Fingerprint(u64);

impl Default for Fingerprint {
    fn default() -> Self {
        Fingerprint(0xcbf2_9ce4_8422_2325)
    }
}

impl Fingerprint {
    fn eat(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0100_0000_01b3);
        }
    }

    /// Takes in a file: its name (not its directory) and its bytes.
    pub fn add(&mut self, path: &Path, bytes: &[u8]) {
        let name = path.file_name().unwrap_or_default().to_string_lossy();
        self.add_named(&name, bytes);
    }

    /// Takes in a file by a name of its own (an image's path under its class folder, which
    /// is its label).
    pub fn add_named(&mut self, name: &str, bytes: &[u8]) {
        self.begin(name, bytes.len() as u64);
        self.eat(bytes);
    }

    /// Takes in a file's name and length, before its bytes.
    fn begin(&mut self, name: &str, len: u64) {
        self.eat(name.as_bytes());
        self.eat(&len.to_le_bytes());
    }

    pub fn hex(&self) -> String {
        format!("fnv1a64:{:016x}", self.0)
    }
}

/// Reads file `path` into the fingerprint.
pub(crate) fn read_file(path: &Path, fp: &mut Fingerprint) -> Result<Vec<u8>, DataError> {
    let bytes = std::fs::read(path).map_err(|e| bad(path, format!("cannot read: {e}")))?;
    fp.add(path, &bytes);
    Ok(bytes)
}

/// A file read as a stream, its name, length and bytes going into a fingerprint as they
/// pass: the fingerprint `read_file` gives, without holding the file whole. Unbuffered:
/// whoever reads it buffers.
pub(crate) struct Hashed<'a> {
    file: std::fs::File,
    fp: &'a mut Fingerprint,
}

impl<'a> Hashed<'a> {
    pub(crate) fn open(path: &Path, fp: &'a mut Fingerprint) -> Result<Hashed<'a>, DataError> {
        let cannot = |e: std::io::Error| bad(path, format!("cannot read: {e}"));
        let file = std::fs::File::open(path).map_err(cannot)?;
        let len = file.metadata().map_err(cannot)?.len();
        fp.begin(&path.file_name().unwrap_or_default().to_string_lossy(), len);
        Ok(Hashed { file, fp })
    }

    /// Reads what is left, so that the fingerprint covers the whole file.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        std::io::copy(&mut self, &mut std::io::sink()).map(drop)
    }
}

impl std::io::Read for Hashed<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.file.read(buf)?;
        self.fp.eat(&buf[..n]);
        Ok(n)
    }
}

/// Where a data set's test rows come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TestFrom {
    /// The data's own test part (IDX t10k files, an .npz's x_test, images under test/).
    Own,
    /// `--test-data PATH`.
    Data(PathBuf),
    /// `--test-size`: this fraction of each class of the training data, by the split seed.
    HeldOut { fraction: f64, split_seed: u64 },
}

/// What a run records of its data (config.json, and model.safetensors's metadata): enough
/// to read it again and to refuse it when it changed, and to predict with the model alone.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataInfo {
    pub format: Format,
    /// "fashion-mnist" when the data is Fashion-MNIST itself (its labels tell).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub inputs: usize,
    pub shape: Vec<usize>,
    pub dtype: Dtype,
    /// Class names in class-index order: the model's outputs.
    pub classes: Vec<String>,
    /// Each class's label as the data writes it ("0", "setosa", a folder's name), in
    /// class-index order: how labels become classes when the data is read again.
    pub labels: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_column: Option<String>,
    /// The inputs' names where the data names them (a CSV's feature columns): a test set
    /// or rows to predict must name them alike, in the same order.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub columns: Option<Vec<String>>,
    pub test: TestFrom,
    pub fingerprint: String,
}

impl DataInfo {
    pub fn is_fashion_mnist(&self) -> bool {
        self.name.as_deref() == Some(FASHION_MNIST)
    }
}

impl DataRecord {
    /// What runs from before 0.2 trained on, which recorded only their data's path:
    /// Fashion-MNIST's IDX files, normalised by `Normalization::fashion_legacy`.
    pub fn fashion_legacy() -> Self {
        DataRecord {
            info: DataInfo {
                format: Format::Idx,
                name: Some(FASHION_MNIST.into()),
                inputs: 784,
                shape: vec![28, 28],
                dtype: Dtype::U8,
                classes: CLASS_NAMES.map(String::from).to_vec(),
                labels: (0..10).map(|i: u32| i.to_string()).collect(),
                label_column: None,
                columns: None,
                test: TestFrom::Own,
                fingerprint: String::new(),
            },
            normalize: Normalization::fashion_legacy(),
        }
    }

    /// How to read this data again from `path`: same format, columns, classes and test set.
    pub fn load_options(&self, path: PathBuf) -> LoadOptions {
        let (test_data, test_size, split_seed) = match &self.info.test {
            TestFrom::Own => (None, TEST_SIZE, 0),
            TestFrom::Data(p) => (Some(p.clone()), TEST_SIZE, 0),
            TestFrom::HeldOut {
                fraction,
                split_seed,
            } => (None, *fraction, *split_seed),
        };
        LoadOptions {
            path: Some(path),
            format: Some(self.info.format),
            test_data,
            label_column: self.info.label_column.clone(),
            classes: Some(self.info.labels.clone()),
            names: Some(self.info.classes.clone()),
            test_size,
            split_seed,
        }
    }
}

pub const FASHION_MNIST: &str = "fashion-mnist";

/// What a run records of its data (config.json's `dataset`, model.safetensors's metadata):
/// the data set, and the normalisation fitted for the run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DataRecord {
    #[serde(flatten)]
    pub info: DataInfo,
    pub normalize: Normalization,
}

/// A part of a data set: its values and its labels as class indices.
#[derive(Clone, Debug, PartialEq)]
pub struct Part {
    pub values: Values,
    pub labels: Vec<u32>,
}

impl Part {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }
}

/// A data set as mlp-gpu trains on it: a training and a test part of one shape, labels
/// as class indices, and what a run records of it.
#[derive(Clone, Debug)]
pub struct Dataset {
    pub train: Part,
    pub test: Part,
    pub info: DataInfo,
}

/// How `--data` and its companion flags say to read a data set.
#[derive(Clone, Debug, Default)]
pub struct LoadOptions {
    pub path: Option<PathBuf>,
    pub format: Option<Format>,
    pub test_data: Option<PathBuf>,
    pub label_column: Option<String>,
    pub classes: Option<Vec<String>>,
    /// The classes' names, where they are not their labels (a run's data read again).
    pub names: Option<Vec<String>>,
    /// The fraction held out as the test set when the data has none and no --test-data.
    pub test_size: f64,
    pub split_seed: u64,
}

/// `--test-size`'s default: a fifth of the data.
pub const TEST_SIZE: f64 = 0.2;

/// The directories searched without --data, in order: `$FASHION_MNIST_DIR`,
/// `./data/fashion-mnist`, `/usr/share/datasets/fashion-mnist`.
pub fn find_dir(flag: Option<&Path>) -> Result<PathBuf, DataError> {
    if let Some(dir) = flag {
        // An explicit path is used as given, so its problems are reported.
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

/// Reads `path` as `format` (detected if None): its training table, its own test table if
/// it has one.
pub fn read(
    path: &Path,
    format: Option<Format>,
    label_column: Option<&str>,
    fp: &mut Fingerprint,
) -> Result<(Format, Table, Option<Table>), DataError> {
    let format = match format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    let (train, test) = match format {
        Format::Idx => idx::read_dir(path, fp)?,
        Format::Csv => (table::read(path, label_column, fp)?, None),
        Format::Npz => numpy::read_npz(path, fp)?,
        Format::Npy => numpy::read_dir(path, fp)?,
        Format::Images => images::read(path, fp)?,
    };
    Ok((format, train, test))
}

/// One part of the data at `path` read as `format` (detected if None; `-` is CSV on
/// standard input), with its labels where it has them: a test set (`--test-data`), or rows
/// to predict (a CSV of `inputs` features may then lack its label column). The data's own
/// test part where it has one: IDX test files, an .npz's x (else x_test), images under
/// test/.
pub fn read_part(
    path: &Path,
    format: Option<Format>,
    label_column: Option<&str>,
    inputs: Option<usize>,
    fp: &mut Fingerprint,
) -> Result<Table, DataError> {
    let format = match format {
        Some(f) => f,
        None => Format::detect(path)?,
    };
    match format {
        Format::Idx => idx::read_part(path, fp),
        Format::Csv => table::read_inputs(path, label_column, inputs, fp),
        Format::Npz | Format::Npy => numpy::read_inputs(path, fp),
        Format::Images => images::read_inputs(path, fp),
    }
}

/// Reads the data set `o` names, checks it, and makes its labels class indices.
pub fn load(o: &LoadOptions) -> Result<(PathBuf, Dataset), DataError> {
    let path = find_dir(o.path.as_deref())?;
    let mut fp = Fingerprint::default();
    let (format, mut train, own_test) = read(&path, o.format, o.label_column.as_deref(), &mut fp)?;
    let test_table = match &o.test_data {
        Some(t) => {
            let table = read_part(t, Some(format), o.label_column.as_deref(), None, &mut fp)?;
            let t = std::fs::canonicalize(t).unwrap_or_else(|_| t.clone());
            Some((table, TestFrom::Data(t)))
        }
        None => own_test.map(|t| (t, TestFrom::Own)),
    };
    if let Some((t, _)) = &test_table {
        same_shape(&train, t)?;
    }
    let train_labels = labels_of(&train)?;
    let (classes, what) = match &o.classes {
        Some(given) => (given.clone(), "--classes gives"),
        None => (
            train_labels.classes(),
            "the training data has; fix the label or give --classes",
        ),
    };
    if let Some(twice) = classes
        .iter()
        .enumerate()
        .find(|(i, c)| classes[..*i].contains(c))
    {
        return Err(bad(
            &train.labels_origin,
            format!("--classes names '{}' twice; give each class once", twice.1),
        ));
    }
    if classes.len() < 2 {
        return Err(bad(
            &train.labels_origin,
            format!(
                "every label is {}: a classifier needs at least two classes",
                classes.first().map_or("missing", String::as_str)
            ),
        ));
    }
    let labels = indices(&train, train_labels, &classes, what)?;
    // moved, not copied: a data set is held once while it loads
    let mut train_part = Part {
        labels,
        values: std::mem::replace(&mut train.values, Values::U8(Vec::new())),
    };
    let (train_part, test_part, test) = match test_table {
        Some((t, from)) => {
            let labels = labels_of(&t)?;
            let mut part = Part {
                labels: indices(&t, labels, &classes, what)?,
                values: t.values,
            };
            // one part 8-bit, the other not (a table of integers beside one of decimals):
            // both f32
            if part.values.is_u8() != train_part.values.is_u8() {
                part.values = part.values.into_f32();
                train_part.values = train_part.values.into_f32();
            }
            (train_part, part, from)
        }
        None => held_out(train_part, train.inputs(), classes.len(), o)?,
    };
    let mut info = DataInfo {
        format,
        name: None,
        inputs: train.inputs(),
        shape: train.shape.clone(),
        dtype: train_part.values.dtype(),
        labels: classes.clone(),
        classes,
        label_column: o.label_column.clone(),
        columns: train.columns.clone(),
        test,
        fingerprint: fp.hex(),
    };
    if is_fashion_mnist(&info, &train_part, &test_part) {
        info.name = Some(FASHION_MNIST.into());
        info.classes = CLASS_NAMES.map(String::from).to_vec();
    }
    if let Some(names) = &o.names {
        info.classes = names.clone();
    }
    Ok((
        std::fs::canonicalize(&path).unwrap_or(path),
        Dataset {
            train: train_part,
            test: test_part,
            info,
        },
    ))
}

/// The training rows split into a training and a held-out test part (`--test-size`).
fn held_out(
    all: Part,
    inputs: usize,
    classes: usize,
    o: &LoadOptions,
) -> Result<(Part, Part, TestFrom), DataError> {
    let (kept, held) = hold_out(&all.labels, classes, o.test_size, o.split_seed);
    let labels = |rows: &[u32]| rows.iter().map(|&r| all.labels[r as usize]).collect();
    let test = Part {
        values: all.values.rows(&held, inputs),
        labels: labels(&held),
    };
    let train_labels = labels(&kept);
    let mut values = all.values;
    values.keep_rows(&kept, inputs);
    let train = Part {
        values,
        labels: train_labels,
    };
    let from = TestFrom::HeldOut {
        fraction: o.test_size,
        split_seed: o.split_seed,
    };
    Ok((train, test, from))
}

fn labels_of(t: &Table) -> Result<&RawLabels, DataError> {
    t.labels.as_ref().ok_or_else(|| {
        bad(
            &t.origin,
            "has no labels; training needs a label for every row",
        )
    })
}

/// The class index of every label of `t` by the classes' `labels` (the training data's, or
/// `--classes`; `what` says which in messages); a label that is no class is an error naming
/// it and its row.
pub(crate) fn indices(
    t: &Table,
    labels: &RawLabels,
    classes: &[String],
    what: &str,
) -> Result<Vec<u32>, DataError> {
    let index: HashMap<&str, u32> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    (0..labels.len())
        .map(|r| {
            let text = labels.text(r);
            index.get(text.as_str()).copied().ok_or_else(|| {
                bad(
                    &t.labels_origin,
                    format!(
                        "label '{text}' at {} is not one of the {} classes {what} ({})",
                        t.row_name(r),
                        classes.len(),
                        preview(classes)
                    ),
                )
            })
        })
        .collect()
}

/// The first few class names, for messages.
fn preview(classes: &[String]) -> String {
    let mut s: Vec<&str> = classes.iter().take(6).map(String::as_str).collect();
    if classes.len() > 6 {
        s.push("...");
    }
    s.join(", ")
}

/// "28x28 8-bit values", "4 f32 values".
pub fn describe_sample(shape: &[usize], dtype: Dtype) -> String {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let kind = match dtype {
        Dtype::U8 => "8-bit",
        Dtype::F32 => "f32",
    };
    format!("{} {kind} values", dims.join("x"))
}

/// Refuses `t` when its columns are named otherwise than `columns` (the training data's):
/// its values would be taken for other inputs.
pub(crate) fn same_columns(t: &Table, columns: Option<&[String]>) -> Result<(), DataError> {
    let (Some(want), Some(have)) = (columns, t.columns.as_deref()) else {
        return Ok(());
    };
    match want.iter().zip(have).position(|(a, b)| a != b) {
        None => Ok(()),
        Some(i) => Err(bad(
            &t.origin,
            format!(
                "feature column {} is '{}' where the training data has '{}'; give the columns in the training data's order",
                i + 1,
                have[i],
                want[i]
            ),
        )),
    }
}

fn same_shape(train: &Table, test: &Table) -> Result<(), DataError> {
    same_columns(test, train.columns.as_deref())?;
    if train.shape != test.shape {
        return Err(bad(
            &train.origin,
            format!(
                "samples are {} but those of the test data {} are {}; both parts need one shape",
                describe_sample(&train.shape, train.values.dtype()),
                test.origin.display(),
                describe_sample(&test.shape, test.values.dtype())
            ),
        ));
    }
    Ok(())
}

/// Fashion-MNIST's labels, by FNV-1a 64 of their bytes: its 60,000 training and 10,000 test
/// labels (as Debian's dataset-fashion-mnist and Zalando's files hold them).
const FASHION_LABELS: (u64, u64) = (0xb9f7_1c71_bae5_f277, 0x25bd_f812_3f06_fac3);

fn label_hash(labels: &[u32]) -> u64 {
    let mut f = Fingerprint::default();
    let bytes: Vec<u8> = labels.iter().map(|&l| l as u8).collect();
    f.eat(&bytes);
    f.0
}

/// Whether the data is Fashion-MNIST itself: IDX, 28x28, its labels to the last one.
fn is_fashion_mnist(info: &DataInfo, train: &Part, test: &Part) -> bool {
    info.format == Format::Idx
        && info.shape == [28, 28]
        && info.labels.len() == 10
        && info
            .labels
            .iter()
            .enumerate()
            .all(|(i, c)| *c == i.to_string())
        && (label_hash(&train.labels), label_hash(&test.labels)) == FASHION_LABELS
}

/// Random 8-bit samples of `inputs` values with labels of `classes` classes, `train` and
/// `test` rows: data of any width for timing (`bench --inputs`); nothing to learn.
pub fn synthetic(inputs: usize, train: usize, test: usize, classes: usize) -> Dataset {
    let mut rng = crate::rng::Rng::new(1);
    let mut part = |n: usize| Part {
        values: Values::U8((0..n * inputs).map(|_| rng.next_u64() as u8).collect()),
        labels: (0..n).map(|_| rng.below(classes) as u32).collect(),
    };
    let (train, test) = (part(train), part(test));
    let classes: Vec<String> = (0..classes).map(|c| c.to_string()).collect();
    Dataset {
        train,
        test,
        info: DataInfo {
            format: Format::Idx,
            name: None,
            inputs,
            shape: vec![inputs],
            dtype: Dtype::U8,
            labels: classes.clone(),
            classes,
            label_column: None,
            columns: None,
            test: TestFrom::Own,
            fingerprint: String::new(),
        },
    }
}
