//! Property test of the IDX/gzip reader on 12,000 generated inputs, valid and broken in
//! every way the generator knows (bit flips, truncation, lying headers, trailing bytes,
//! broken gzip streams and CRCs): it never panics, and the memory it takes follows the
//! bytes the file actually holds, never what its header claims.

use mlp_gpu::data::decode_idx;
use mlp_gpu::rng::Rng;
use std::alloc::{GlobalAlloc, Layout, System};
use std::io::{Read, Write};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Counts the bytes in use and their peak (this binary has a single test, so no other
/// thread allocates while a case runs).
struct Counting;
static CURRENT: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

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
        let before = CURRENT.load(Ordering::SeqCst);
        PEAK.store(before, Ordering::SeqCst);
        let result = std::panic::catch_unwind(|| {
            decode_idx(Path::new("case.idx"), &file, magic, dims.len())
        });
        let used = PEAK.load(Ordering::SeqCst) - before;
        let result = result.unwrap_or_else(|_| panic!("case {case} panicked on {file:?}"));
        // The body (at most twice what it holds, as a Vec grows) plus gzip's fixed state.
        let limit = 2 * holds + (256 << 10);
        assert!(
            used <= limit,
            "case {case}: {used} bytes for a file holding {holds}"
        );
        match result {
            Ok(idx) => {
                accepted += 1;
                let expected: usize = idx.dims.iter().product();
                assert_eq!(idx.body.len(), expected, "case {case}");
            }
            Err(e) => {
                refused += 1;
                let message = e.to_string();
                assert!(
                    message.starts_with("case.idx: "),
                    "names the file: {message}"
                );
                assert_eq!(message.lines().count(), 1, "{message}");
            }
        }
    }
    assert!(
        accepted > 1000 && refused > 1000,
        "the generator covers both: {accepted} accepted, {refused} refused"
    );
}
