//! The host RNG: seeded shuffles and the dropout threshold.

use mlp_gpu::rng::{dropout_threshold, Rng};

#[test]
fn shuffle_is_a_permutation_and_seeded() {
    let mut a: Vec<usize> = (0..1000).collect();
    let mut b = a.clone();
    Rng::new(7).shuffle(&mut a);
    Rng::new(7).shuffle(&mut b);
    assert_eq!(a, b);
    assert_ne!(a, (0..1000).collect::<Vec<_>>());
    let mut sorted = a.clone();
    sorted.sort();
    assert_eq!(sorted, (0..1000).collect::<Vec<_>>());
}

#[test]
fn dropout_threshold_edges() {
    assert_eq!(dropout_threshold(0.0), 0);
    assert_eq!(dropout_threshold(0.5), 1 << 31);
    assert!(dropout_threshold(0.999_999_9) > 4_294_966_000);
}
