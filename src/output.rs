//! The output layer: what each command prints on stdout, as text tables or (with `--json`)
//! JSON only. `main.rs` writes these strings; nothing here prints.

use crate::bench::{BenchCase, MatmulRow};
use crate::check::Row;
use crate::data::CLASS_NAMES;
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

/// "  <class> <accuracy>" per class.
fn per_class(text: &mut String, accuracies: &[f64]) {
    for (name, acc) in CLASS_NAMES.iter().zip(accuracies) {
        let _ = writeln!(text, "  {name:<12} {}", percent(*acc));
    }
}

/// A run's summary (`train`): its status, test results per class, and its folder.
pub fn summary(s: &Summary, dir: &Path, as_json: bool) -> String {
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
        per_class(&mut text, &s.per_class_test_accuracy);
    } else {
        text.push('\n');
    }
    let _ = writeln!(text, "files in {}", dir.display());
    text
}

/// A saved model's test results (`eval`).
pub fn evaluation(e: &Evaluation, as_json: bool) -> String {
    if as_json {
        let v = serde_json::json!({"test_accuracy": e.accuracy, "test_loss": e.loss, "per_class": e.per_class});
        return v.to_string() + "\n";
    }
    let mut t = format!(
        "test loss {:.4}  test accuracy {}\n",
        e.loss,
        percent(e.accuracy)
    );
    per_class(&mut t, &e.per_class);
    t
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

/// Epoch times per case, then each profiled case's kernels (`bench`).
pub fn bench(cases: &[BenchCase], as_json: bool) -> String {
    if as_json {
        return json(&cases);
    }
    let mut t = String::from("| adapter | batch | bn+dropout | pack | epoch s (median) | per member | samples/s | GFLOP/s | dispatches/step | submits/epoch | waits/epoch | encode s/epoch | GPU MB | matmul |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for c in cases {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.0} | {:.2} | {:.0} | {} | {} | {:.3} | {:.1} | {} |",
            c.adapter,
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
