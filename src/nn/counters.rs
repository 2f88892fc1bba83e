//! A process-wide count of the multiply-adds the convolutions would do by direct convolution.
//!
//! Benchmarks divide this by wall time to get "effective GFLOP/s" (2 FLOPs per multiply-add), the
//! figure mmaction2's FLOP counts use; the count is the same whatever algorithm (GEMM, Winograd)
//! actually runs, so a faster algorithm shows up as a higher effective rate.

use std::sync::atomic::{AtomicU64, Ordering};

static DIRECT_MACS: AtomicU64 = AtomicU64::new(0);

/// Adds one convolution's multiply-adds.
pub(crate) fn add_direct_macs(macs: u64) {
    DIRECT_MACS.fetch_add(macs, Ordering::Relaxed);
}

/// Multiply-adds counted since the process started (convolutions and the classifier).
pub fn direct_macs() -> u64 {
    DIRECT_MACS.load(Ordering::Relaxed)
}
