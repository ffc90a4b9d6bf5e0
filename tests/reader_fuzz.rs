//! Property tests of the data readers on generated inputs, valid and broken in every way
//! the generators know: IDX/gzip (bit flips, truncation, lying headers, trailing bytes,
//! broken gzip streams and CRCs), CSV (ragged rows, quotes, empty, non-numeric, non-finite
//! and non-UTF-8 cells, missing label columns) and NumPy .npy (lying shapes, dtypes
//! mlp-gpu does not read, Fortran order, broken headers). No reader panics, a refusal is one
//! line naming the file, and the memory a reader takes follows the bytes the file actually
//! holds, never what its header claims.

use mlp_gpu::data::{decode_csv, decode_idx, decode_npy, RawLabels, Values};
use mlp_gpu::rng::Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::panic::UnwindSafe;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// Counts the bytes in use and their peak. The tests of this binary take turns (`ONE`), so
/// no other test allocates while a case runs.
struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);
static ONE: Mutex<()> = Mutex::new(());

fn grow(by: usize) {
    let now = CURRENT.fetch_add(by, Ordering::SeqCst) + by;
    PEAK.fetch_max(now, Ordering::SeqCst);
}

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        grow(l.size());
        // SAFETY: forwarded unchanged to the system allocator.
        unsafe { System.alloc(l) }
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        CURRENT.fetch_sub(l.size(), Ordering::SeqCst);
        // SAFETY: as above.
        unsafe { System.dealloc(p, l) }
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        grow(new);
        CURRENT.fetch_sub(l.size(), Ordering::SeqCst);
        // SAFETY: as above.
        unsafe { System.realloc(p, l, new) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// What `f` gives, checking that it did not panic (the case fails naming its input) and
/// held at most `limit` bytes at once.
fn measured<T>(case: usize, input: &[u8], limit: usize, f: impl FnOnce() -> T + UnwindSafe) -> T {
    let before = CURRENT.load(Ordering::SeqCst);
    PEAK.store(before, Ordering::SeqCst);
    let result = std::panic::catch_unwind(f);
    let used = PEAK.load(Ordering::SeqCst) - before;
    let result = result.unwrap_or_else(|_| {
        let text = String::from_utf8_lossy(input);
        panic!("case {case} panicked on {input:?} ({text})")
    });
    assert!(
        used <= limit,
        "case {case}: {used} bytes held for {} bytes of input (limit {limit})",
        input.len()
    );
    result
}

/// A refusal is one line that starts with the file's name.
fn check_refusal(case: usize, name: &str, message: &str) {
    assert!(
        message.starts_with(&format!("{name}: ")),
        "case {case} names the file: {message}"
    );
    assert_eq!(message.lines().count(), 1, "case {case}: {message}");
}

/// Both outcomes are exercised, not only one.
fn check_coverage(what: &str, accepted: usize, refused: usize) {
    assert!(
        accepted > 1000 && refused > 1000,
        "the {what} generator covers both: {accepted} accepted, {refused} refused"
    );
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

/// What a file holds: its decompressed bytes (as far as they decode) or its raw bytes.
fn content_len(file: &[u8]) -> usize {
    if !file.starts_with(&[0x1f, 0x8b]) {
        return file.len();
    }
    let mut d = flate2::read::GzDecoder::new(file).take(1 << 30);
    let mut buf = [0u8; 4096];
    let mut n = 0;
    while let Ok(k) = d.read(&mut buf) {
        if k == 0 {
            break;
        }
        n += k;
    }
    n
}

fn flip_bits(rng: &mut Rng, v: &mut [u8]) {
    if v.is_empty() {
        return;
    }
    for _ in 0..1 + rng.below(4) {
        let i = rng.below(v.len());
        v[i] ^= 1 << rng.below(8);
    }
}

fn mutate(rng: &mut Rng, v: &mut Vec<u8>, header_words: usize) {
    match rng.below(6) {
        0 => {}
        1 => flip_bits(rng, v),
        2 => v.truncate(rng.below(v.len() + 1)),
        3 => {
            // header words claiming anything, up to 4 billion each: one, or all of them
            // (whose product overflows 64 bits)
            let all = rng.below(2) == 0;
            let first = if all { 1 } else { 1 + rng.below(header_words) };
            let last = if all { header_words } else { first };
            for w in first..=last {
                if v.len() >= 4 * w + 4 {
                    let claim = (rng.next_u64() >> 32) as u32;
                    v[4 * w..4 * w + 4].copy_from_slice(&claim.to_be_bytes());
                }
            }
        }
        4 => v.extend((0..1 + rng.below(64) as u64).map(|_| rng.next_u64() as u8)),
        _ => {
            *v = (0..rng.below(64) as u64)
                .map(|_| rng.next_u64() as u8)
                .collect()
        }
    }
}

#[test]
fn idx_reader_never_panics_and_allocates_by_content_not_claims() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(2024);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..12_000 {
        let images = rng.below(2) == 0;
        let n = rng.below(6) as u32;
        let (magic, dims): (u32, Vec<u32>) = if images {
            (0x803, vec![n, 28, 28])
        } else {
            (0x801, vec![n])
        };
        let mut file = magic.to_be_bytes().to_vec();
        for d in &dims {
            file.extend(d.to_be_bytes());
        }
        let body: usize = dims.iter().map(|&d| d as usize).product();
        file.extend((0..body).map(|_| rng.below(256) as u8));
        mutate(&mut rng, &mut file, dims.len());
        if rng.below(2) == 0 {
            file = gz(&file);
            if rng.below(2) == 0 {
                // the deflate stream, the CRC or the length in the trailer
                mutate(&mut rng, &mut file, 0);
            }
        }
        let holds = content_len(&file);
        // The body (at most twice what it holds, as a Vec grows) plus gzip's fixed state.
        let limit = 2 * holds + (256 << 10);
        let result = measured(case, &file, limit, || {
            decode_idx(Path::new("case.idx"), &file, magic, dims.len())
        });
        match result {
            Ok(idx) => {
                accepted += 1;
                let expected: usize = idx.dims.iter().product();
                assert_eq!(idx.body.len(), expected, "case {case}");
            }
            Err(e) => {
                refused += 1;
                check_refusal(case, "case.idx", &e.to_string());
            }
        }
    }
    check_coverage("IDX", accepted, refused);
}

/// A random cell: a pixel, a decimal, a word, nothing, a non-finite number, a quoted
/// field holding the separator or a line break, or bytes that are not UTF-8.
fn cell(rng: &mut Rng) -> Vec<u8> {
    match rng.below(12) {
        0..=4 => rng.below(256).to_string().into_bytes(),
        5 => format!("{:.3}", rng.uniform(10.0) - 5.0).into_bytes(),
        6 => ["cat", "dog", "bird"][rng.below(3)].as_bytes().to_vec(),
        7 => Vec::new(),
        8 => ["nan", "inf", "-inf", "1e99", " 7 ", "+3"][rng.below(6)]
            .as_bytes()
            .to_vec(),
        9 => b"\"a,b\"".to_vec(),
        10 => b"\"two\nlines\"".to_vec(),
        _ => vec![0xff, 0xfe, b'x'],
    }
}

/// A table of random width and length with a label column (named `label`, or the last):
/// half of them clean (numbers, three classes, every row the header's width), half messy.
fn csv_table(rng: &mut Rng) -> Vec<u8> {
    let width = 1 + rng.below(6);
    let label = rng.below(width);
    let mut names: Vec<String> = (0..width).map(|c| format!("f{c}")).collect();
    if label != width - 1 || rng.below(2) == 0 {
        names[label] = "label".into();
    }
    let messy = rng.below(2) == 0;
    let mut text = names.join(",").into_bytes();
    text.push(b'\n');
    for _ in 0..rng.below(12) {
        let cells = match (messy, rng.below(4)) {
            (true, 0) => width + 1,
            (true, 1) => width.saturating_sub(1),
            _ => width,
        };
        for c in 0..cells {
            if c > 0 {
                text.push(b',');
            }
            let odd = messy && rng.below(3) == 0;
            text.extend(match (c == label, odd) {
                (_, true) => cell(rng),
                (true, false) => ["a", "b", "c"][rng.below(3)].as_bytes().to_vec(),
                (false, false) if rng.below(4) == 0 => {
                    format!("{:.2}", rng.uniform(1.0)).into_bytes()
                }
                (false, false) => rng.below(256).to_string().into_bytes(),
            });
        }
        text.push(b'\n');
    }
    text
}

#[test]
fn csv_reader_never_panics_and_allocates_by_content() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let mut rng = Rng::new(2025);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..12_000 {
        let mut text = csv_table(&mut rng);
        if rng.below(4) == 0 {
            mutate(&mut rng, &mut text, 0);
        }
        let wanted = [None, Some("label"), Some("0"), Some("nope")][rng.below(4)];
        let inputs = [None, None, Some(2)][rng.below(3)];
        // Each cell (two bytes at least, with its separator) is an f32 or a label's
        // String, in Vecs that grow by doubling; csv's buffers are fixed.
        let limit = 32 * text.len() + (256 << 10);
        let result = measured(case, &text, limit, || {
            decode_csv(Path::new("case.csv"), &text[..], wanted, inputs)
        });
        match result {
            Ok(t) => {
                accepted += 1;
                let rows = t.labels.as_ref().map_or(0, RawLabels::len);
                let features: usize = t.shape.iter().product();
                if t.labels.is_some() {
                    assert_eq!(t.values.len(), rows * features, "case {case}");
                }
                assert_eq!(t.values.len() % features.max(1), 0, "case {case}");
            }
            Err(e) => {
                refused += 1;
                check_refusal(case, "case.csv", &e.to_string());
            }
        }
    }
    check_coverage("CSV", accepted, refused);
}

/// An .npy file: its header (version 1 or 2) and data of `shape` in `descr`.
fn npy_file(rng: &mut Rng, descr: &str, fortran: bool, shape: &[u64], size: usize) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(u64::to_string).collect();
    let tuple = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let mut dict = format!(
        "{{'descr': '{descr}', 'fortran_order': {}, 'shape': {tuple}, }}",
        if fortran { "True" } else { "False" }
    );
    let v2 = rng.below(4) == 0;
    let prefix = if v2 { 12 } else { 10 };
    while (prefix + dict.len() + 1) % 64 != 0 {
        dict.push(' ');
    }
    dict.push('\n');
    let mut file = b"\x93NUMPY".to_vec();
    if v2 {
        file.extend([2, 0]);
        file.extend((dict.len() as u32).to_le_bytes());
    } else {
        file.extend([1, 0]);
        file.extend((dict.len() as u16).to_le_bytes());
    }
    file.extend(dict.as_bytes());
    // the data the shape says, but never more than a few kilobytes
    let n: u64 = shape.iter().product::<u64>().min(4096);
    file.extend((0..n as usize * size).map(|_| rng.below(256) as u8));
    file
}

#[test]
fn npy_reader_never_panics_and_allocates_by_content_not_claims() {
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let descrs: [(&str, usize); 12] = [
        ("|u1", 1),
        ("<u2", 2),
        ("<i4", 4),
        ("<i8", 8),
        (">i8", 8),
        ("<f4", 4),
        ("<f8", 8),
        ("<f2", 2),
        ("|b1", 1),
        ("<c8", 8),
        ("<U5", 20),
        ("|O", 8),
    ];
    let mut rng = Rng::new(2026);
    let (mut accepted, mut refused) = (0, 0);
    for case in 0..12_000 {
        let (descr, size) = descrs[if rng.below(2) == 0 {
            rng.below(7)
        } else {
            rng.below(12)
        }];
        let mut shape: Vec<u64> = (0..1 + rng.below(3)).map(|_| rng.below(6) as u64).collect();
        if rng.below(5) == 0 {
            // a shape claiming anything: up to 2^40 a dimension, whose product may overflow
            let d = rng.below(shape.len());
            shape[d] = rng.next_u64() >> 24;
        }
        let fortran = rng.below(10) == 0;
        let mut file = npy_file(&mut rng, descr, fortran, &shape, size);
        if rng.below(3) == 0 {
            mutate(&mut rng, &mut file, 0);
        }
        // the numbers read (up to 8 bytes each for 1, in a Vec that grows by doubling) and
        // their f32 copy
        let limit = 24 * file.len() + (64 << 10);
        let result = measured(case, &file, limit, || {
            decode_npy(Path::new("case.npy"), &file)
        });
        match result {
            Ok((values, shape)) => {
                accepted += 1;
                assert_eq!(values.len(), shape.iter().product::<usize>(), "case {case}");
                assert_eq!(
                    matches!(values, Values::U8(_)),
                    descr == "|u1",
                    "case {case}"
                );
            }
            Err(e) => {
                refused += 1;
                check_refusal(case, "case.npy", &e.to_string());
            }
        }
    }
    check_coverage("NPY", accepted, refused);
}
