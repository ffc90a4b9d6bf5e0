//! Own data end to end: each format `--data` reads (CSV, NumPy .npz and .npy, folders of
//! PNG images, IDX of any shape), what a run records of it, `eval` and `predict` on it, and
//! the data layer's rules (classes, normalisation fitted on the training rows, the held-out
//! test set), on files made inside each test or the iris table in tests/fixtures.

use crate::common::cli::*;
use serde_json::Value;
use std::path::{Path, PathBuf};

/// scikit-learn's iris table (150 rows, 4 features, 3 named classes) with a header.
fn iris() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/iris.csv")
}

fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// `train` with `args`, small and quick, into `out`; its stderr.
fn train(data: &Path, out: &Path, args: &[&str]) -> String {
    let mut cmd = bin();
    cmd.args(["train", "--data"])
        .arg(data)
        .arg("--out")
        .arg(out);
    cmd.args(["--hidden", "16", "--optimizer", "adam", "--lr", "0.01"]);
    run_ok_both(cmd.args(args)).1
}

/// `eval` of `run` gives its summary's test accuracy, and `predict` on `input` (the data's
/// own test part, `rows` labelled rows) a line a row and, on stderr, that accuracy again.
fn eval_and_predict_agree_with_the_run(run: &Path, input: &Path, rows: usize) {
    let s = json_file(&run.join("summary.json"));
    let e = run_ok(bin().args(["eval", "--json", "--model"]).arg(run));
    let e: Value = serde_json::from_str(&e).unwrap();
    assert_eq!(
        e["test_accuracy"],
        s["test_accuracy"],
        "eval of {}",
        run.display()
    );
    let (csv, log) = run_ok_both(bin().args(["predict", "--model"]).arg(run).arg(input));
    assert_eq!(csv.lines().count(), rows + 1, "{csv}");
    let accuracy = 100.0 * s["test_accuracy"].as_f64().unwrap();
    let says = format!("accuracy {accuracy:.2}% on {rows} labelled rows");
    assert!(log.contains(&says), "{says}: {log}");
}

/// The NPY (v1.0) file of an array: its dtype descr, shape and little-endian bytes.
fn npy(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend((header.len() as u16).to_le_bytes());
    out.extend(header.as_bytes());
    out.extend(data);
    out
}

fn f32_bytes(v: &[f32]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

fn i64_bytes(v: &[i64]) -> Vec<u8> {
    v.iter().flat_map(|x| x.to_le_bytes()).collect()
}

/// An .npz archive of `arrays` (name, NPY bytes), deflated as np.savez_compressed writes
/// them or stored as np.savez does.
fn npz(path: &Path, arrays: &[(&str, Vec<u8>)], deflated: bool) {
    use std::io::Write;
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let method = if deflated {
        zip::CompressionMethod::Deflated
    } else {
        zip::CompressionMethod::Stored
    };
    let options = zip::write::SimpleFileOptions::default().compression_method(method);
    for (name, bytes) in arrays {
        zip.start_file(format!("{name}.npy"), options).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
}

/// Learnable samples of `inputs` values in `classes` classes: class c lights up input
/// c % inputs, plus noise in 0..60; as bytes and labels.
fn learnable(n: usize, inputs: usize, classes: usize, seed: u64) -> (Vec<u8>, Vec<i64>) {
    let mut rng = mlp_gpu::rng::Rng::new(seed);
    let labels: Vec<i64> = (0..n).map(|_| rng.below(classes) as i64).collect();
    let mut values = vec![0u8; n * inputs];
    for (i, &l) in labels.iter().enumerate() {
        for c in 0..inputs {
            let lit = c == l as usize % inputs;
            values[i * inputs + c] = if lit { 220 } else { rng.below(60) as u8 };
        }
    }
    (values, labels)
}

/// A CSV table trains (its batch larger than the training set: one batch, with a notice),
/// records its data, evaluates to its summary's accuracy, and predicts: CSV with a column
/// per class, with and without the label column, from a file or standard input, JSON lines,
/// the top k, into a file; the accuracy on stderr when the input has labels.
#[test]
fn a_csv_table_trains_evaluates_and_predicts() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let log = train(&iris(), &run, &["--epochs", "40", "--quiet"]);
    assert!(
        log.contains("notice: --batch-size 512 is larger than the training set (100 rows)"),
        "{log}"
    );
    let summary = json_file(&run.join("summary.json"));
    assert!(
        summary["test_accuracy"].as_f64().unwrap() > 0.8,
        "{summary}"
    );
    assert_eq!(
        summary["per_class_test_accuracy"].as_array().unwrap().len(),
        3
    );
    let config = json_file(&run.join("config.json"));
    let d = &config["dataset"];
    assert_eq!(d["format"], "csv");
    assert_eq!(
        d["classes"],
        serde_json::json!(["setosa", "versicolor", "virginica"])
    );
    assert_eq!(d["inputs"], 4);
    assert_eq!(d["dtype"], "f32");
    assert_eq!(d["normalize"]["mode"], "column");
    assert_eq!(d["test"]["held_out"]["fraction"], 0.2);
    assert!(d["fingerprint"].as_str().unwrap().starts_with("fnv1a64:"));
    // 150 rows: 30 (a fifth of each class) held out to test, a sixth of the rest validates
    assert_eq!(config["val_size"], 20);

    let e = run_ok(bin().args(["eval", "--json", "--model"]).arg(&run));
    let e: Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["test_accuracy"], summary["test_accuracy"]);

    // --config alone reruns on the data the run trained on, read as it read it
    let again = tmp.path().join("again");
    run_ok(
        bin()
            .args(["train", "--quiet", "--config"])
            .arg(run.join("config.json"))
            .arg("--out")
            .arg(&again),
    );
    let redo = json_file(&again.join("summary.json"));
    assert_eq!(redo["test_accuracy"], summary["test_accuracy"]);
    assert_eq!(json_file(&again.join("config.json"))["dataset"], *d);

    let predict = |args: &[&str]| {
        let mut cmd = bin();
        cmd.args(["predict", "--model"]).arg(&run);
        run_ok_both(cmd.args(args))
    };
    let iris_s = iris().to_str().unwrap().to_string();
    let (csv, log) = predict(&[&iris_s]);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "row,predicted,setosa,versicolor,virginica");
    assert_eq!(lines.len(), 151);
    for (r, line) in lines[1..].iter().enumerate() {
        let f: Vec<&str> = line.split(',').collect();
        assert_eq!(f[0], r.to_string());
        let p: Vec<f64> = f[2..].iter().map(|x| x.parse().unwrap()).collect();
        assert!((p.iter().sum::<f64>() - 1.0).abs() < 1e-5, "{line}");
        let best = (0..3).max_by(|&a, &b| p[a].total_cmp(&p[b])).unwrap();
        assert_eq!(f[1], ["setosa", "versicolor", "virginica"][best], "{line}");
    }
    let accuracy: f64 = log
        .lines()
        .find_map(|l| l.strip_prefix("accuracy "))
        .and_then(|l| l.split('%').next())
        .unwrap_or_else(|| panic!("the accuracy on stderr: {log}"))
        .parse()
        .unwrap();
    assert!(accuracy > 80.0, "{log}");

    // without the label column, and from standard input: the same rows, no accuracy
    let text = std::fs::read_to_string(iris()).unwrap();
    let unlabelled: String = text
        .lines()
        .map(|l| l.rsplit_once(',').unwrap().0.to_string() + "\n")
        .collect();
    let path = tmp.path().join("unlabelled.csv");
    std::fs::write(&path, &unlabelled).unwrap();
    let (again, log) = predict(&[path.to_str().unwrap()]);
    assert_eq!(again, csv);
    assert!(!log.contains("accuracy"), "{log}");
    let mut child = bin()
        .args(["predict", "--model"])
        .arg(&run)
        .arg("-")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(unlabelled.as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(o.status.success());
    assert_eq!(String::from_utf8(o.stdout).unwrap(), csv);

    let (json, _) = predict(&[&iris_s, "--json", "--top-k", "2"]);
    let first: Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    assert_eq!(first["row"], 0);
    let top = first["top"].as_array().unwrap();
    assert_eq!(top.len(), 2);
    assert_eq!(top[0]["class"], first["predicted"]);
    assert!(top[0]["probability"].as_f64() >= top[1]["probability"].as_f64());
    let out = tmp.path().join("predictions.csv");
    let (stdout, _) = predict(&[&iris_s, "--out", out.to_str().unwrap()]);
    assert_eq!(stdout, "");
    assert_eq!(std::fs::read_to_string(&out).unwrap(), csv);

    // the model file alone predicts the same: its metadata carries shape, classes and
    // normalisation
    let o = bin()
        .args(["predict", "--model"])
        .arg(run.join("model.safetensors"))
        .arg(iris())
        .output()
        .unwrap();
    assert_eq!(String::from_utf8(o.stdout).unwrap(), csv);
}

/// scikit-learn's digits (1,797 8x8 images, values 0-16, as Debian's python3-sklearn ships
/// them; scripts/sklearn_fixtures.sh writes the gzipped CSV): 8-bit data read from a .csv.gz
/// trains to a PyTorch MLP's accuracy (97.8 % over five seeds, scripts/pytorch_table_mlp.py;
/// mlp-gpu 97.7 %, 96.1-98.3 %).
#[test]
fn scikit_learns_digits_train_to_a_pytorch_mlps_accuracy() {
    let tmp = tempfile::tempdir().unwrap();
    let data = iris().with_file_name("digits.csv.gz");
    let run = tmp.path().join("digits");
    let mut cmd = bin();
    cmd.args(["train", "--data"])
        .arg(&data)
        .arg("--out")
        .arg(&run);
    cmd.args(["--optimizer", "adam", "--lr", "0.001", "--batch-size", "64"]);
    run_ok(cmd.args(["--epochs", "30", "--quiet"]));
    let c = json_file(&run.join("config.json"));
    assert_eq!(c["dataset"]["dtype"], "u8");
    assert_eq!(c["dataset"]["inputs"], 64);
    assert_eq!(c["dataset"]["classes"].as_array().unwrap().len(), 10);
    let s = json_file(&run.join("summary.json"));
    let accuracy = s["test_accuracy"].as_f64().unwrap();
    assert!(accuracy > 0.95, "{s}");
}

/// The label column by --label-column (a name in another case, or an index) or by its
/// name; --classes orders the classes; a test label the training set never had is an error
/// naming it and its line.
#[test]
fn label_columns_classes_and_unknown_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(iris()).unwrap();
    // the label first, named Class
    let moved: String = text
        .lines()
        .enumerate()
        .map(|(i, l)| {
            let (features, label) = l.rsplit_once(',').unwrap();
            let label = if i == 0 { "Class" } else { label };
            format!("{label},{features}\n")
        })
        .collect();
    let data = tmp.path().join("first.csv");
    std::fs::write(&data, &moved).unwrap();
    for (out, extra) in [
        ("named", vec![]),
        ("by-index", vec!["--label-column", "0"]),
        ("by-name", vec!["--label-column", "class"]),
    ] {
        let mut args = vec!["--epochs", "1", "--quiet"];
        args.extend(extra);
        train(&data, &tmp.path().join(out), &args);
        let c = json_file(&tmp.path().join(out).join("config.json"));
        assert_eq!(c["dataset"]["inputs"], 4, "{out}");
        assert_eq!(c["dataset"]["classes"][0], "setosa", "{out}");
    }
    let order = "virginica,setosa,versicolor";
    train(
        &data,
        &tmp.path().join("ordered"),
        &["--epochs", "1", "--quiet", "--classes", order],
    );
    let c = json_file(&tmp.path().join("ordered/config.json"));
    assert_eq!(
        c["dataset"]["classes"],
        serde_json::json!(["virginica", "setosa", "versicolor"])
    );
    let csv = run_ok(
        bin()
            .args(["predict", "--model"])
            .arg(tmp.path().join("ordered"))
            .arg(&data),
    );
    assert!(
        csv.starts_with("row,predicted,virginica,setosa,versicolor\n"),
        "{csv}"
    );

    let test = tmp.path().join("test.csv");
    let never = tmp.path().join("never");
    let args = [
        "train",
        "--data",
        data.to_str().unwrap(),
        "--test-data",
        test.to_str().unwrap(),
        "--out",
        never.to_str().unwrap(),
    ];
    let header = "Class,sepal_length,sepal_width,petal_length,petal_width";
    std::fs::write(&test, format!("{header}\nsetosa,1,2,3,4\nrose,1,2,3,4\n")).unwrap();
    let err = run_err(&args);
    assert!(
        err.contains("test.csv") && err.contains("label 'rose' at line 3"),
        "{err}"
    );
    // features named otherwise than the training data's are refused, not silently mixed
    std::fs::write(&test, "Class,a,b,c,d\nsetosa,1,2,3,4\n").unwrap();
    let err = run_err(&args);
    assert!(
        err.contains(
            "test.csv: feature column 1 is 'a' where the training data has 'sepal_length'"
        ),
        "{err}"
    );
    assert!(!tmp.path().join("never").exists());
    let err = run_err(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--classes",
        "setosa,setosa,virginica",
    ]);
    assert!(err.contains("--classes") && err.contains("setosa"), "{err}");
    let err = run_err(&[
        "train",
        "--data",
        data.to_str().unwrap(),
        "--label-column",
        "colour",
    ]);
    assert!(
        err.contains("--label-column colour: no such column"),
        "{err}"
    );
    let bad = tmp.path().join("bad.csv");
    std::fs::write(&bad, "x,label\n1,a\nhigh,b\n").unwrap();
    let err = run_err(&["train", "--data", bad.to_str().unwrap()]);
    assert!(
        err.contains("line 3, column x: 'high' is not a number"),
        "{err}"
    );
}

/// NumPy: an .npz in Keras's layout (uint8 images with their own test set, deflated) trains
/// as 8-bit data of their shape; a directory of .npy files of floats, x and y, holds out
/// its test set; 1,000 classes train.
#[test]
fn numpy_arrays_train_evaluate_and_predict_in_npz_and_npy_layouts() {
    let tmp = tempfile::tempdir().unwrap();
    let (x, y) = learnable(600, 36, 4, 1);
    let (xt, yt) = learnable(100, 36, 4, 2);
    let archive = tmp.path().join("mnist-like.npz");
    npz(
        &archive,
        &[
            ("x_train", npy("|u1", &[600, 6, 6], &x)),
            ("y_train", npy("<i8", &[600], &i64_bytes(&y))),
            ("x_test", npy("|u1", &[100, 6, 6], &xt)),
            ("y_test", npy("<i8", &[100], &i64_bytes(&yt))),
        ],
        true,
    );
    let run = tmp.path().join("npz");
    train(
        &archive,
        &run,
        &["--epochs", "8", "--batch-size", "50", "--quiet"],
    );
    let c = json_file(&run.join("config.json"));
    assert_eq!(c["dataset"]["format"], "npz");
    assert_eq!(c["dataset"]["shape"], serde_json::json!([6, 6]));
    assert_eq!(c["dataset"]["dtype"], "u8");
    assert_eq!(c["dataset"]["test"], "own");
    assert_eq!(c["dataset"]["normalize"]["mode"], "scalar");
    assert_eq!(c["dataset"]["normalize"]["divisor"], 255.0);
    let s = json_file(&run.join("summary.json"));
    assert!(s["test_accuracy"].as_f64().unwrap() > 0.9, "{s}");
    eval_and_predict_agree_with_the_run(&run, &archive, 100);

    let dir = tmp.path().join("arrays");
    std::fs::create_dir(&dir).unwrap();
    let xf: Vec<f32> = x.iter().map(|&v| f32::from(v) / 10.0).collect();
    std::fs::write(dir.join("x.npy"), npy("<f4", &[600, 36], &f32_bytes(&xf))).unwrap();
    std::fs::write(dir.join("y.npy"), npy("<i8", &[600], &i64_bytes(&y))).unwrap();
    let run = tmp.path().join("npy");
    train(
        &dir,
        &run,
        &["--epochs", "8", "--batch-size", "50", "--quiet"],
    );
    let c = json_file(&run.join("config.json"));
    assert_eq!(c["dataset"]["format"], "npy");
    assert_eq!(c["dataset"]["dtype"], "f32");
    assert_eq!(c["dataset"]["normalize"]["mode"], "column");
    assert_eq!(c["dataset"]["test"]["held_out"]["fraction"], 0.2);
    let s = json_file(&run.join("summary.json"));
    assert!(s["test_accuracy"].as_f64().unwrap() > 0.9, "{s}");

    // a thousand classes of four samples each
    let (x, _) = learnable(4000, 8, 1000, 3);
    let y: Vec<i64> = (0..4000).map(|i| i % 1000).collect();
    let archive = tmp.path().join("many.npz");
    npz(
        &archive,
        &[
            ("x", npy("|u1", &[4000, 8], &x)),
            ("y", npy("<i8", &[4000], &i64_bytes(&y))),
        ],
        false,
    );
    let run = tmp.path().join("many");
    train(&archive, &run, &["--epochs", "1", "--quiet"]);
    let c = json_file(&run.join("config.json"));
    assert_eq!(c["dataset"]["classes"].as_array().unwrap().len(), 1000);
    let s = json_file(&run.join("summary.json"));
    assert_eq!(s["status"], "completed");
    assert_eq!(s["per_class_test_accuracy"].as_array().unwrap().len(), 1000);
}

/// Writes a PNG of `channels` (1 or 3) at `path`, its values `v`.
fn png(path: &Path, w: u32, h: u32, channels: usize, v: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut e = png::Encoder::new(file, w, h);
    e.set_color(if channels == 1 {
        png::ColorType::Grayscale
    } else {
        png::ColorType::Rgb
    });
    e.set_depth(png::BitDepth::Eight);
    e.write_header().unwrap().write_image_data(v).unwrap();
}

/// Folders of images by class, under train/ and test/ (grayscale: one channel, the 2-D
/// shape), and flat (colour: three channels first); predict names rows by their paths.
#[test]
fn image_folders_train_evaluate_and_predict_by_path() {
    let tmp = tempfile::tempdir().unwrap();
    let (w, h) = (5, 4);
    let classes = ["cat", "dog", "owl"];
    let (x, y) = learnable(240, (w * h) as usize, 3, 4);
    let root = tmp.path().join("gray");
    for (i, &label) in y.iter().enumerate() {
        let part = if i < 200 { "train" } else { "test" };
        let class = classes[label as usize];
        let file = root.join(part).join(class).join(format!("{i:03}.png"));
        png(&file, w, h, 1, &x[i * 20..(i + 1) * 20]);
    }
    let run = tmp.path().join("run");
    train(
        &root,
        &run,
        &["--epochs", "10", "--batch-size", "20", "--quiet"],
    );
    let c = json_file(&run.join("config.json"));
    assert_eq!(c["dataset"]["format"], "images");
    assert_eq!(c["dataset"]["shape"], serde_json::json!([4, 5]));
    assert_eq!(c["dataset"]["classes"], serde_json::json!(classes));
    assert_eq!(c["dataset"]["test"], "own");
    let s = json_file(&run.join("summary.json"));
    assert!(s["test_accuracy"].as_f64().unwrap() > 0.8, "{s}");
    eval_and_predict_agree_with_the_run(&run, &root.join("test"), 40);
    let (csv, _) = run_ok_both(
        bin()
            .args(["predict", "--model"])
            .arg(&run)
            .arg(root.join("test")),
    );
    let second = csv.lines().nth(1).unwrap();
    assert!(
        second.starts_with("cat/") || second.starts_with("dog/") || second.starts_with("owl/"),
        "{csv}"
    );

    // flat colour images: three channels, stored channels first
    let flat = tmp.path().join("flat");
    let rgb: Vec<u8> = (0..w * h * 3).map(|i| i as u8).collect();
    png(&flat.join("a/x.png"), w, h, 3, &rgb);
    png(&flat.join("b/y.png"), w, h, 3, &rgb);
    let err = run_err(&[
        "predict",
        "--model",
        run.to_str().unwrap(),
        flat.join("a").to_str().unwrap(),
    ]);
    assert!(
        err.contains("3x4x5 8-bit values") && err.contains("4x5 8-bit values"),
        "{err}"
    );
    png(&flat.join("b/z.png"), w + 1, h, 3, &[0; 6 * 4 * 3]);
    let err = run_err(&["train", "--data", flat.to_str().unwrap()]);
    assert!(
        err.contains("z.png") && err.contains("every image must be one size"),
        "{err}"
    );
}

/// IDX files of any 8-bit shape, found by names that say train or test and images or
/// labels (EMNIST's), with labels that are not 0-9.
#[test]
fn idx_files_of_any_shape_under_emnist_names_train_evaluate_and_predict() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("emnist");
    std::fs::create_dir(&dir).unwrap();
    for (part, n, seed) in [("train", 400, 5), ("test", 80, 6)] {
        let (x, y) = learnable(n, 10 * 12, 5, seed);
        let labels: Vec<u8> = y.iter().map(|&l| l as u8 + 1).collect();
        let stem = format!("emnist-letters-{part}");
        std::fs::write(
            dir.join(format!("{stem}-images-idx3-ubyte.gz")),
            gz(&idx(0x803, &[n as u32, 10, 12], &x)),
        )
        .unwrap();
        std::fs::write(
            dir.join(format!("{stem}-labels-idx1-ubyte")),
            idx(0x801, &[n as u32], &labels),
        )
        .unwrap();
    }
    let run = tmp.path().join("run");
    train(
        &dir,
        &run,
        &["--epochs", "6", "--batch-size", "40", "--quiet"],
    );
    let c = json_file(&run.join("config.json"));
    assert_eq!(c["dataset"]["format"], "idx");
    assert_eq!(c["dataset"]["shape"], serde_json::json!([10, 12]));
    assert_eq!(
        c["dataset"]["classes"],
        serde_json::json!(["1", "2", "3", "4", "5"])
    );
    assert!(c["dataset"].get("name").is_none(), "not Fashion-MNIST: {c}");
    let s = json_file(&run.join("summary.json"));
    assert!(s["test_accuracy"].as_f64().unwrap() > 0.9, "{s}");
    eval_and_predict_agree_with_the_run(&run, &dir, 80);
    // reproduce is the Fashion-MNIST study: other data is refused before any work
    let out = tmp.path().join("study");
    let err = run_err(&[
        "reproduce",
        "--data",
        dir.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert!(
        err.contains("--data") && err.contains("Fashion-MNIST study only"),
        "{err}"
    );
    assert!(!out.exists());
}

/// A run records its data's fingerprint: `--resume` and a rerun sweep refuse the data once
/// its files change.
#[test]
fn changed_data_is_refused_by_resume_and_a_rerun_sweep() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("iris.csv");
    std::fs::copy(iris(), &data).unwrap();
    let out = tmp.path().join("sweep");
    let sweep = |extra: &[&str]| {
        let mut cmd = bin();
        cmd.args(["sweep", "--data"])
            .arg(&data)
            .arg("--out")
            .arg(&out);
        cmd.args([
            "--hidden",
            "8",
            "--lr",
            "0.01,0.05",
            "--epochs",
            "2",
            "--quiet",
        ]);
        cmd.args(extra).output().unwrap()
    };
    assert!(sweep(&[]).status.success());
    let run = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.is_dir())
        .unwrap();
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let text = std::fs::read_to_string(&data).unwrap();
    std::fs::write(&data, text.replacen("5.1,3.5", "5.2,3.5", 1)).unwrap();
    let o = sweep(&[]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("trained on data whose files have changed"),
        "{err}"
    );
    let err = run_err(&["train", "--resume", run.to_str().unwrap()]);
    assert!(
        err.contains("trained on data whose files have changed"),
        "{err}"
    );
}

/// A run folder from before own data (config.json without its data record, a model without
/// metadata) still resumes, evaluates and reports.
#[test]
fn run_folders_from_before_own_data_resume_evaluate_and_report() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    write_dataset(&data, 600, 50);
    let run = tmp.path().join("old");
    train(
        &data,
        &run,
        &["--epochs", "2", "--val-size", "100", "--quiet"],
    );
    // as 0.1 wrote it: no dataset in config.json, no metadata in the model, no summary
    let mut config = json_file(&run.join("config.json"));
    config.as_object_mut().unwrap().remove("dataset");
    config.as_object_mut().unwrap().remove("normalize");
    config["epochs"] = 3.into();
    std::fs::write(run.join("config.json"), config.to_string()).unwrap();
    std::fs::remove_file(run.join("summary.json")).unwrap();
    let o = run_ok(bin().args(["train", "--json", "--resume"]).arg(&run));
    let s: Value = serde_json::from_str(&o).unwrap();
    assert_eq!(s["status"], "completed");
    assert_eq!(s["epochs_run"], 3);
    let config = json_file(&run.join("config.json"));
    assert!(
        config.get("dataset").is_none(),
        "a resumed run keeps its config.json"
    );
    strip_metadata(&run.join("model.safetensors"));
    let e = run_ok(bin().args(["eval", "--json", "--model"]).arg(&run));
    let e: Value = serde_json::from_str(&e).unwrap();
    assert_eq!(e["test_accuracy"], s["test_accuracy"]);
    run_ok(bin().arg("report").arg(tmp.path()));
    assert!(tmp.path().join("report.md").exists());
}

/// Rewrites a model file without its metadata, as models were before 0.2.
fn strip_metadata(path: &Path) {
    let bytes = std::fs::read(path).unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let tensors: Vec<(String, safetensors::tensor::TensorView)> = st.tensors();
    let out = safetensors::serialize(tensors, None).unwrap();
    std::fs::write(path, out).unwrap();
}

/// Normalisation is fitted on a run's training rows only: the recorded means are the
/// training split's, not the whole data's; a constant input gets std 1; scalar and none.
#[test]
fn normalisation_is_fitted_on_the_training_rows_only() {
    use mlp_gpu::data::{Normalization, NormalizeMode, Values};
    let values = Values::F32(vec![1.0, 5.0, 3.0, 5.0, 100.0, 5.0]);
    let train_rows = [0, 1];
    let n = Normalization::fit(NormalizeMode::Column, &values, 2, &train_rows);
    assert_eq!(
        (n.mean.clone(), n.std.clone()),
        (vec![2.0, 5.0], vec![1.0, 1.0])
    );
    let s = Normalization::fit(NormalizeMode::Scalar, &values, 2, &train_rows);
    assert_eq!((s.mean[0], s.divisor), (3.5, 1.0));
    let bytes = Values::U8(vec![0, 255, 255, 0]);
    let auto = Normalization::fit(NormalizeMode::Auto, &bytes, 2, &[0, 1]);
    assert_eq!(
        (auto.mode, auto.divisor, auto.mean.clone()),
        (NormalizeMode::Scalar, 255.0, vec![0.5])
    );
    let none = Normalization::fit(NormalizeMode::None, &bytes, 2, &[0, 1]);
    assert_eq!(none.apply(255.0, 1), 255.0);

    // through the command: the recorded column means are those of the training split
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    train(
        &iris(),
        &run,
        &["--epochs", "1", "--val-size", "40", "--quiet"],
    );
    let c = json_file(&run.join("config.json"));
    let o = mlp_gpu::data::LoadOptions {
        path: Some(iris()),
        test_size: 0.2,
        split_seed: 1234,
        ..Default::default()
    };
    let (_, set) = mlp_gpu::data::load(&o).unwrap();
    let spec = mlp_gpu::data::SplitSpec {
        split_seed: 1234,
        val_size: 40,
        subset: None,
        eval_subset: None,
    };
    let split = mlp_gpu::data::Split::new(set.train.len(), set.test.len(), spec).unwrap();
    let fitted = Normalization::fit(
        NormalizeMode::Column,
        &set.train.values,
        4,
        &split.train_idx,
    );
    let recorded: Vec<f32> = c["dataset"]["normalize"]["mean"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    assert_eq!(recorded, fitted.mean);
    let all: Vec<u32> = (0..set.train.len() as u32).collect();
    let whole = Normalization::fit(NormalizeMode::Column, &set.train.values, 4, &all);
    assert_ne!(recorded, whole.mean, "the validation rows are left out");
}

/// The held-out test set: a fraction of each class, drawn by the seed, disjoint from the
/// training rows and together all of them.
#[test]
fn held_out_test_set_is_stratified_and_seeded() {
    let labels: Vec<u32> = (0..300)
        .map(|i| if i < 200 { 0 } else { 1 + i % 2 })
        .collect();
    let (kept, held) = mlp_gpu::data::hold_out(&labels, 3, 0.2, 7);
    let count = |rows: &[u32], c: u32| rows.iter().filter(|&&r| labels[r as usize] == c).count();
    assert_eq!(
        (count(&held, 0), count(&held, 1), count(&held, 2)),
        (40, 10, 10)
    );
    let mut all = [kept.clone(), held.clone()].concat();
    all.sort_unstable();
    assert_eq!(all, (0..300).collect::<Vec<u32>>());
    assert_eq!(
        mlp_gpu::data::hold_out(&labels, 3, 0.2, 7),
        (kept, held.clone())
    );
    assert_ne!(mlp_gpu::data::hold_out(&labels, 3, 0.2, 8).1, held);
}

/// Data the adapter cannot hold is refused before training, naming both sizes: f32 values
/// past lavapipe's 128 MiB storage binding.
#[test]
fn data_the_adapter_cannot_hold_is_refused_naming_both_sizes() {
    let tmp = tempfile::tempdir().unwrap();
    // 8,400 x 4,000 f32 is 134.4 MB, past 128 MiB; a test set of two rows of its own
    let (n, inputs) = (8400, 4000);
    let x = npy("<f4", &[n, inputs], &vec![0u8; 4 * n * inputs]);
    let y: Vec<i64> = (0..n as i64).map(|i| i % 2).collect();
    let archive = tmp.path().join("big.npz");
    npz(
        &archive,
        &[
            ("x_train", x),
            ("y_train", npy("<i8", &[n], &i64_bytes(&y))),
            ("x_test", npy("<f4", &[2, inputs], &vec![0u8; 8 * inputs])),
            ("y_test", npy("<i8", &[2], &i64_bytes(&[0, 1]))),
        ],
        false,
    );
    let out = tmp.path().join("never");
    let err = run_err(&[
        "train",
        "--data",
        archive.to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    let limit = crate::common::ctx().limits.max_storage_buffer_binding_size;
    assert!(
        err.contains("the data set's values needs") && err.contains(&limit.to_string()),
        "{err}"
    );
    assert!(!out.exists());
}

/// Runs on other data than Fashion-MNIST report without any of the study's text; bench
/// times epochs on them.
#[test]
fn report_and_bench_on_other_data() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("sweep");
    let mut cmd = bin();
    cmd.args(["sweep", "--data"])
        .arg(iris())
        .arg("--out")
        .arg(&out);
    cmd.args([
        "--optimizer",
        "sgd,adam",
        "--lr",
        "0.05,0.005",
        "--epochs",
        "3",
        "--quiet",
    ]);
    run_ok(&mut cmd);
    run_ok(bin().arg("report").arg(&out));
    let md = std::fs::read_to_string(out.join("report.md")).unwrap();
    for study in ["Fashion-MNIST", "Table 1", "the report's", "85.16"] {
        assert!(!md.contains(study), "{study}: {md}");
    }
    assert!(
        md.contains("## Runs") && md.contains("figures/curves.svg"),
        "{md}"
    );
    let cases = run_ok(
        bin()
            .args([
                "bench",
                "--json",
                "--epochs",
                "1",
                "--batch-size",
                "32",
                "--data",
            ])
            .arg(iris()),
    );
    let cases: Vec<Value> = serde_json::from_str(&cases).unwrap();
    assert_eq!(cases.len(), 2);
    assert!(cases
        .iter()
        .all(|c| c["epoch_seconds_median"].as_f64().unwrap() > 0.0));
}

/// A bad input in `dir`: its file (or folder) and what the one error line must say.
struct BadInput {
    data: PathBuf,
    says: &'static str,
}

/// The bad inputs of each format, written into `dir`.
fn bad_inputs(dir: &Path) -> Vec<BadInput> {
    let mut out = Vec::new();
    let mut csv = |name: &str, text: &[u8], says: &'static str| {
        let data = dir.join(name);
        std::fs::write(&data, text).unwrap();
        out.push(BadInput { data, says });
    };
    csv("ragged.csv", b"a,b,label\n1,2,x\n1,2\n", "line: 3");
    csv(
        "empty-cell.csv",
        b"a,label\n1,x\n,y\n",
        "line 3, column a: is empty",
    );
    csv(
        "nan.csv",
        b"a,label\n1,x\nNaN,y\n",
        "line 3, column a: NaN is not finite",
    );
    csv(
        "inf.csv",
        b"a,label\n1,x\n2,y\n-inf,x\n",
        "line 4, column a: -inf is not finite",
    );
    csv(
        "text.csv",
        b"a,label\n1,x\ntwo,y\n",
        "line 3, column a: 'two' is not a number",
    );
    csv(
        "empty.csv",
        b"",
        "needs a header row and at least two columns",
    );
    csv("header.csv", b"a,label\n", "has a header but no rows");
    csv("one-class.csv", b"a,label\n1,x\n2,x\n", "every label is x");
    csv("broken.csv.gz", b"\x1f\x8bnot gzip at all", "corrupt gzip");

    let mut npz_of = |name: &str, arrays: &[(&str, Vec<u8>)], says: &'static str| {
        let data = dir.join(name);
        npz(&data, arrays, false);
        out.push(BadInput { data, says });
    };
    let x = npy("|u1", &[10, 4], &[7; 40]);
    let y10 = npy("<i8", &[10], &i64_bytes(&[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]));
    let y9 = npy("<i8", &[9], &i64_bytes(&[0; 9]));
    npz_of(
        "rows.npz",
        &[("x", x.clone()), ("y", y9)],
        "labels of shape [9] for 10 samples",
    );
    npz_of(
        "strings.npz",
        &[("x", npy("<U1", &[10, 1], &[0; 40])), ("y", y10.clone())],
        "has dtype <U1",
    );
    npz_of(
        "complex.npz",
        &[("x", npy("<c8", &[10, 1], &[0; 80])), ("y", y10.clone())],
        "has dtype <c8",
    );
    npz_of(
        "objects.npz",
        &[("x", npy("|O", &[10, 1], &[0; 80])), ("y", y10)],
        "has dtype |O",
    );
    npz_of(
        "names.npz",
        &[("images", x.clone()), ("classes", x)],
        "holds images, classes; mlp-gpu reads x_train and y_train",
    );

    let mut images = |name: &str, write: &dyn Fn(&Path), says: &'static str| {
        let data = dir.join(name);
        png(&data.join("a/1.png"), 3, 3, 1, &[0; 9]);
        png(&data.join("b/1.png"), 3, 3, 1, &[9; 9]);
        write(&data);
        out.push(BadInput { data, says });
    };
    images(
        "corrupt",
        &|d| std::fs::write(d.join("b/2.png"), b"\x89PNG\r\n\x1a\nbroken").unwrap(),
        "2.png: not a PNG image mlp-gpu reads",
    );
    images(
        "text-as-png",
        &|d| std::fs::write(d.join("a/notes.png"), "a note, not an image").unwrap(),
        "notes.png: not a PNG image mlp-gpu reads",
    );
    images(
        "jpeg",
        &|d| std::fs::write(d.join("a/2.jpg"), [0xff, 0xd8, 0xff]).unwrap(),
        "2.jpg: mlp-gpu reads PNG images only",
    );
    images(
        "sizes",
        &|d| png(&d.join("a/2.png"), 4, 3, 1, &[0; 12]),
        "every image must be one size",
    );
    out
}

/// Every bad input the readers know is one error line naming the file and what is wrong
/// (the row and column where there is one), a non-zero exit, and no run folder.
#[test]
fn every_bad_input_is_one_line_naming_the_file_and_writes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    for (i, case) in bad_inputs(tmp.path()).iter().enumerate() {
        let out = tmp.path().join(format!("run{i}"));
        let data = case.data.to_str().unwrap();
        let err = run_err(&["train", "--data", data, "--out", out.to_str().unwrap()]);
        let errors: Vec<&str> = err.lines().filter(|l| l.starts_with("error")).collect();
        assert_eq!(errors.len(), 1, "{data}: {err}");
        let name = case.data.file_name().unwrap().to_str().unwrap();
        assert!(
            errors[0].contains(name) && errors[0].contains(case.says),
            "{data}: expected '{}': {err}",
            case.says
        );
        assert!(!out.exists(), "{data}: nothing written");
    }
    // a note beside the images is not an image and is skipped, as ImageFolder skips it
    let ok = tmp.path().join("with-note");
    for i in 0..3u8 {
        png(&ok.join(format!("a/{i}.png")), 3, 3, 1, &[i; 9]);
        png(&ok.join(format!("b/{i}.png")), 3, 3, 1, &[9 + i; 9]);
    }
    std::fs::write(ok.join("a/README.txt"), "taken on a Tuesday").unwrap();
    let run = tmp.path().join("noted");
    train(&ok, &run, &["--epochs", "1", "--quiet"]);
    assert_eq!(
        json_file(&run.join("config.json"))["dataset"]["format"],
        "images"
    );
}
