//! The output layer: what each command prints on stdout, as text tables or (with `--json`)
//! JSON only. `main.rs` writes these strings; nothing here prints.

use crate::bench::{BenchCase, LoadBench, MatmulRow};
use crate::check::Row;
use crate::predict::Predictions;
use crate::rundir::Summary;
use crate::sweep::Outcome;
use crate::train::Evaluation;
use std::fmt::Write as _;
use std::path::Path;

/// `value` as pretty JSON with a final newline.
pub fn json(value: &impl serde::Serialize) -> String {
    serde_json::to_string_pretty(value).expect("plain data") + "\n"
}

fn percent(x: f64) -> String {
    format!("{:.2}%", 100.0 * x)
}

/// "  <class> <accuracy>" per class (at most the first 50 classes, then how many more).
fn per_class(text: &mut String, classes: &[String], accuracies: &[f64]) {
    const SHOWN: usize = 50;
    let width = classes
        .iter()
        .take(SHOWN)
        .map(|c| c.len())
        .max()
        .unwrap_or(0)
        .max(12);
    for (name, acc) in classes.iter().zip(accuracies).take(SHOWN) {
        let _ = writeln!(text, "  {name:<width$} {}", percent(*acc));
    }
    if classes.len() > SHOWN {
        let _ = writeln!(
            text,
            "  ... {} more classes (--json lists them all)",
            classes.len() - SHOWN
        );
    }
}

/// A run's summary (`train`): its status, test results per class of `classes`, and its
/// folder.
pub fn summary(s: &Summary, dir: &Path, classes: &[String], as_json: bool) -> String {
    if as_json {
        return json(s);
    }
    let mut text = format!("status {}", s.status.name());
    if let (Some(loss), Some(acc)) = (s.test_loss, s.test_accuracy) {
        let _ = writeln!(
            text,
            "  test loss {loss:.4}  test accuracy {}",
            percent(acc)
        );
        per_class(&mut text, classes, &s.per_class_test_accuracy);
    } else {
        text.push('\n');
    }
    let _ = writeln!(text, "files in {}", dir.display());
    text
}

/// A saved model's test results per class of `classes` (`eval`).
pub fn evaluation(e: &Evaluation, classes: &[String], as_json: bool) -> String {
    if as_json {
        let v = serde_json::json!({"test_accuracy": e.accuracy, "test_loss": e.loss, "per_class": e.per_class});
        return v.to_string() + "\n";
    }
    let mut t = format!(
        "test loss {:.4}  test accuracy {}\n",
        e.loss,
        percent(e.accuracy)
    );
    per_class(&mut t, classes, &e.per_class);
    t
}

/// The `k` most probable classes of probabilities `probs`, most probable first.
fn top(probs: &[f32], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..probs.len()).collect();
    order.sort_by(|&a, &b| probs[b].total_cmp(&probs[a]).then(a.cmp(&b)));
    order.truncate(k);
    order
}

/// `predict`'s rows: CSV with a header `row,predicted,<a probability column per class>`
/// (with `top_k`: `row,predicted,top1,p1,...`), or one JSON object a line.
pub fn predictions(p: &Predictions, as_json: bool, top_k: Option<usize>) -> String {
    let name = |c: usize| p.classes[c].as_str();
    let mut out = Vec::new();
    // a probability as f32 prints it, not as its f64 widening does
    let number = |v: f32| serde_json::Value::from(v.to_string().parse::<f64>().unwrap_or(0.0));
    if as_json {
        for r in 0..p.len() {
            let probs = p.row(r);
            let mut o =
                serde_json::json!({"row": p.name(r), "predicted": name(p.predicted[r] as usize)});
            match top_k {
                Some(k) => {
                    let best: Vec<_> = top(probs, k)
                        .into_iter()
                        .map(|c| serde_json::json!({"class": name(c), "probability": number(probs[c])}))
                        .collect();
                    o["top"] = best.into();
                }
                None => {
                    let all: serde_json::Map<String, serde_json::Value> = (0..probs.len())
                        .map(|c| (name(c).to_string(), number(probs[c])))
                        .collect();
                    o["probabilities"] = all.into();
                }
            }
            out.extend(o.to_string().into_bytes());
            out.push(b'\n');
        }
        return String::from_utf8(out).expect("JSON is UTF-8");
    }
    let mut w = csv::Writer::from_writer(out);
    let mut header = vec!["row".to_string(), "predicted".to_string()];
    match top_k {
        Some(k) => (1..=k).for_each(|i| header.extend([format!("top{i}"), format!("p{i}")])),
        None => header.extend(p.classes.iter().cloned()),
    }
    let _ = w.write_record(&header);
    for r in 0..p.len() {
        let probs = p.row(r);
        let row = match p.name(r) {
            serde_json::Value::String(s) => s,
            other => other.to_string(),
        };
        let mut fields = vec![row, name(p.predicted[r] as usize).to_string()];
        match top_k {
            Some(k) => top(probs, k)
                .into_iter()
                .for_each(|c| fields.extend([name(c).to_string(), probs[c].to_string()])),
            None => fields.extend(probs.iter().map(f32::to_string)),
        }
        let _ = w.write_record(&fields);
    }
    let bytes = w.into_inner().expect("writing to memory");
    String::from_utf8(bytes).expect("CSV of UTF-8 fields is UTF-8")
}

/// One row per run of a sweep (`sweep`, `reproduce`), or a JSON array.
pub fn runs(outcome: &Outcome, as_json: bool) -> String {
    if as_json {
        let rows: Vec<_> = outcome
            .runs
            .iter()
            .map(|(dir, s)| serde_json::json!({"dir": dir, "summary": s}))
            .chain(
                outcome
                    .busy
                    .iter()
                    .map(|dir| serde_json::json!({"dir": dir, "busy": true})),
            )
            .collect();
        return json(&rows);
    }
    let mut text = String::from(
        "| run | status | epochs | test accuracy | mean epoch s | pack |\n|---|---|---|---|---|---|\n",
    );
    for (dir, s) in &outcome.runs {
        let _ = writeln!(
            text,
            "| {} | {:?} | {} | {} | {:.3} | {} |",
            dir.display(),
            s.status,
            s.epochs_run,
            s.test_accuracy.map_or("–".into(), percent),
            s.mean_epoch_seconds,
            s.pack_size
        );
    }
    for dir in &outcome.busy {
        let _ = writeln!(text, "| {} | busy | – | – | – | – |", dir.display());
    }
    text
}

/// Every adapter, best first, with its matmul variant (`devices`).
pub fn devices(list: &[wgpu::Adapter]) -> String {
    let mut text = String::new();
    for (i, a) in list.iter().enumerate() {
        let info = a.get_info();
        let mark = if i == 0 { "  (default)" } else { "" };
        let _ = writeln!(
            text,
            "{i}: {:?}  {}  type {:?}  driver {} {}  matmul {}{mark}",
            info.backend,
            info.name,
            info.device_type,
            info.driver,
            info.driver_info,
            crate::gpu::MatmulVariant::for_adapter(&info, a.features()).name()
        );
    }
    text
}

/// `mlp-gpu check`: the adapter and driver, then a row per check.
pub fn checks(ctx: &crate::gpu::Context, rows: &[Row], as_json: bool) -> String {
    let info = &ctx.info;
    if as_json {
        return json(&serde_json::json!({
            "adapter": info.name,
            "backend": format!("{:?}", info.backend),
            "driver": info.driver,
            "driver_info": info.driver_info,
            "checks": rows,
            "passed": rows.iter().all(|r| r.pass),
        }));
    }
    let mut t = format!(
        "adapter {}, driver {} {}\n| op | variant | shape | max abs error | max rel error | tolerance | worst element | pass |\n|---|---|---|---|---|---|---|---|\n",
        ctx.adapter_name(),
        info.driver,
        info.driver_info
    );
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {:.2e} | {:.2e} | {} | {} | {} |",
            r.op,
            r.variant,
            r.shape,
            r.max_abs_error,
            r.max_rel_error,
            r.tolerance,
            r.worst_text(),
            if r.pass { "pass" } else { "FAIL" }
        );
    }
    t
}

/// GFLOP/s of each matmul product (`bench --matmul`).
pub fn matmul(rows: &[MatmulRow]) -> String {
    let mut text = String::from(
        "| shape | variant | forward GFLOP/s | backward data | backward weight |\n|---|---|---|---|---|\n",
    );
    for r in rows {
        let s = r.shape;
        let [f, dx, dw] = r.gflops;
        let _ = writeln!(
            text,
            "| {}x{}x{} | {} | {f:.2} | {dx:.2} | {dw:.2} |",
            s.rows, s.inputs, s.outputs, r.variant
        );
    }
    text
}

/// `bench --load`: the read's speed and memory, a line.
pub fn load_bench(b: &LoadBench, as_json: bool) -> String {
    if as_json {
        return json(b);
    }
    let peak = match (b.peak_bytes, b.peak_over_data) {
        (Some(p), Some(r)) => format!("; peak memory {:.1} MB, {r:.2}x the data", p as f64 / 1e6),
        _ => String::new(),
    };
    format!(
        "{} {} rows of {}: {:.1} MB of files in {:.3} s ({:.0} MB/s, median of 3), {:.1} MB in memory{peak}\n",
        b.format,
        b.rows,
        crate::data::describe_sample(&[b.inputs], b.dtype),
        b.file_bytes as f64 / 1e6,
        b.seconds,
        b.megabytes_per_second,
        b.data_bytes as f64 / 1e6,
    )
}

/// Epoch times per case, then each profiled case's kernels (`bench`).
pub fn bench(cases: &[BenchCase], as_json: bool) -> String {
    if as_json {
        return json(&cases);
    }
    let mut t = String::from("| adapter | network | batch | bn+dropout | pack | epoch s (median) | per member | samples/s | GFLOP/s | dispatches/step | submits/epoch | waits/epoch | encode s/epoch | GPU MB | matmul |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for c in cases {
        let sizes: Vec<String> = std::iter::once(c.inputs)
            .chain(c.hidden.iter().copied())
            .map(|n| n.to_string())
            .collect();
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.2} | {:.0} | {} | {} | {:.3} | {:.1} | {} |",
            c.adapter,
            sizes.join("-"),
            c.batch_size,
            c.batch_norm,
            c.pack_size,
            c.epoch_seconds_median,
            c.member_epoch_seconds_median,
            c.samples_per_second,
            c.gflops,
            c.dispatches_per_step,
            c.submits_per_epoch,
            c.host_waits_per_epoch,
            c.encode_seconds_per_epoch,
            c.peak_gpu_bytes as f64 / 1e6,
            c.matmul_variant
        );
    }
    for c in cases.iter().filter(|c| c.profile.is_some()) {
        let rows = c.profile.as_deref().unwrap_or_default();
        let bn = if c.batch_norm {
            ", batch norm + dropout 0.2"
        } else {
            ""
        };
        let _ = writeln!(
            t,
            "\nProfile, batch {}{bn}: kernels sum to {:.0}% of the epoch's wall time",
            c.batch_size,
            100.0 * c.profile_coverage.unwrap_or(0.0)
        );
        t.push_str(
            "| kernel | GPU s/epoch | share | GFLOP/s | dispatches |\n|---|---|---|---|---|\n",
        );
        for r in rows {
            let _ = writeln!(
                t,
                "| {} | {:.3} | {:.1}% | {:.2} | {} |",
                r.kernel,
                r.seconds,
                100.0 * r.share,
                r.gflops,
                r.dispatches
            );
        }
    }
    t
}
