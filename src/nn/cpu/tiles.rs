//! Splitting an output of `rows × width` values into row tiles that threads fill independently.
//!
//! Tiles never cross a sample boundary (kernels that shift rows by whole frames rely on it), and
//! are sized so a tile's operands stay in the per-core cache while its epilogue runs.

use std::mem::MaybeUninit;
use std::ops::Range;

use rayon::prelude::*;

/// Rows per tile for a product with inner size `k` and `width` output columns: about 1 MiB of
/// operand and output rows, at least 64 rows so the GEMM micro-kernels stay efficient, and at
/// least 256 when the `[k, width]` weight is over 1 MiB: each product streams the whole weight
/// through the cache, which 64 rows do not pay for (SlowFast's 1280 → 2048 downsample: 80 →
/// 125–175 GFLOP/s).
pub(crate) fn tile_rows(k: usize, width: usize) -> usize {
    let floor = if k * width > 1 << 18 { 256 } else { 64 };
    ((1 << 18) / (k + width).max(1)).clamp(floor, 4096)
}

/// Runs `f(rows, out_tile, threads_inside)` over row tiles of `out` (`width` values a row),
/// `sample_rows` rows a sample, `tile` rows at most a tile, through [`run_tasks`] (in parallel
/// from two tiles a thread). The tiles cover `out` exactly, so an `f` that writes all of its tile
/// initialises all of `out`.
pub(crate) fn for_each_tile<F>(
    out: &mut [MaybeUninit<f32>],
    width: usize,
    sample_rows: usize,
    tile: usize,
    f: F,
) where
    F: Fn(Range<usize>, &mut [MaybeUninit<f32>], usize) + Sync,
{
    let rows = out.len() / width.max(1);
    let mut ranges = Vec::new();
    for start in (0..rows).step_by(sample_rows.max(1)) {
        let end = (start + sample_rows).min(rows);
        let count = (end - start).div_ceil(tile);
        // Equal tiles rather than a ragged last one.
        let size = (end - start).div_ceil(count.max(1));
        ranges.extend((start..end).step_by(size.max(1)).map(|s| s..(s + size).min(end)));
    }
    let mut chunks = Vec::with_capacity(ranges.len());
    let mut rest = out;
    for r in &ranges {
        let (head, tail) = rest.split_at_mut(r.len() * width);
        chunks.push((r.clone(), head));
        rest = tail;
    }
    run_tasks(chunks, 2 * super::threads(), |(r, chunk), threads| f(r, chunk, threads));
}

/// Runs `f(task, threads_inside)` on every task: in parallel, each single-threaded, when there
/// are at least `enough` of them; otherwise one after another, each told to use every thread.
pub(crate) fn run_tasks<T: Send>(tasks: Vec<T>, enough: usize, f: impl Fn(T, usize) + Sync) {
    if tasks.len() >= enough {
        tasks.into_par_iter().for_each(|task| f(task, 1));
    } else {
        let threads = super::threads();
        tasks.into_iter().for_each(|task| f(task, threads));
    }
}
