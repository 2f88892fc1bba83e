//! Kernels with both a temporal extent and a spatial window (3×3×3 inflation, and SlowFast's fast
//! stem where the CPU lacks [`super::direct`]'s instructions), computed frame by frame. I3D's
//! (5,7,7) stem, stride 2 in time, takes [`super::polyphase`] instead.
//!
//! Gathering the full `kt·kh·kw·C` window per output row would copy every input frame `kt`
//! times (SlowFast's fast stem: 1.2 GB per view), and a product per temporal tap has only `O`
//! columns (8 in the fast stem), too narrow for the GEMM kernels. Instead each task owns a tile of
//! output pixels and walks the *input* frames in order: it gathers a frame's spatial window once
//! and multiplies it by all the temporal taps that frame meets at once, `P_t = cols_t · [W_j | …]`.
//! With temporal stride `s` frame `t` meets only the taps `j ≡ t + p (mod s)`, so the taps are
//! stacked by that class (a stride-2 kernel of 5 taps: 3 or 2 taps a frame, not 5). Output frame `t` is
//! then the sum of column blocks `P_{t·s+j−p}[:, j]` over the taps `j`; a ring of `kt` products
//! holds the frames still needed.

use std::ops::Range;

use super::Dims;
use super::conv::{CpuConv, Epilogue};
use super::gemm::{MatRef, Weight, matmul};
use super::im2col::gather_frame;
use super::tiles::{run_tasks, tile_rows};
use crate::nn::Axis;

/// Rearranges the `[kt·S, O]` weight (S = kh·kw·C) into `[S, kt·O]`, the taps side by side in
/// [`tap_order`].
pub(crate) fn stack_taps(weight: &[f32], at: Axis, o: usize) -> Vec<f32> {
    let kt = at.kernel;
    let s = weight.len() / (kt * o);
    let mut out = vec![0f32; weight.len()];
    for (col, j) in tap_order(at).enumerate() {
        for r in 0..s {
            let src = &weight[(j * s + r) * o..(j * s + r + 1) * o];
            out[(r * kt + col) * o..(r * kt + col + 1) * o].copy_from_slice(src);
        }
    }
    out
}

/// The taps grouped by their class `j mod s` (`s` the temporal stride), in order within each:
/// an input frame meets exactly one class, a run of adjacent column blocks.
fn tap_order(at: Axis) -> impl Iterator<Item = usize> {
    (0..at.stride).flat_map(move |r| (r..at.kernel).step_by(at.stride))
}

/// One task: a sample, a tile of pixels, and those pixels' output rows in every frame.
type Task<'a> = (usize, Range<usize>, Vec<&'a mut [f32]>);

/// Convolves `x` into `out` (dims `od`, already allocated) with `conv`, whose temporal dilation
/// must be 1 so the frames one output reads are consecutive (and distinct modulo `kt`).
pub(crate) fn forward(conv: &CpuConv, x: &[f32], d: Dims, od: Dims, out: &mut [f32], epilogue: &Epilogue) {
    let o = conv.out_channels;
    let [at, ah, aw] = conv.axes;
    debug_assert_eq!(at.dilation, 1);
    let (kt, spatial) = (at.kernel, ah.kernel * aw.kernel * d.c);
    let pixels = od.h * od.w;
    let tile = tile_rows(spatial, kt * o).min(pixels);
    let tiles: Vec<Range<usize>> = (0..pixels).step_by(tile).map(|s| s..(s + tile).min(pixels)).collect();
    // One task per (sample, pixel tile): its output rows in every frame.
    let mut tasks: Vec<Task> =
        (0..od.n).flat_map(|n| tiles.iter().map(move |r| (n, r.clone(), Vec::new()))).collect();
    for (f, frame) in out.chunks_mut(pixels * o).enumerate() {
        let n = f / od.t;
        let mut rest = frame;
        for (i, r) in tiles.iter().enumerate() {
            let (head, tail) = rest.split_at_mut(r.len() * o);
            tasks[n * tiles.len() + i].2.push(head);
            rest = tail;
        }
    }
    // Class `r` of the taps: its first column block and its number of taps.
    let classes: Vec<(usize, usize)> = (0..at.stride)
        .scan(0, |first, r| {
            let count = (r..kt).step_by(at.stride).count();
            *first += count;
            Some((*first - count, count))
        })
        .collect();
    let run = |(n, pixels, frames): Task, threads: usize| {
        let m = pixels.len();
        let mut cols = vec![0f32; m * spatial];
        let mut ring = vec![0f32; kt * m * kt * o];
        let mut held = vec![usize::MAX; kt];
        for (to, y) in frames.into_iter().enumerate() {
            y.fill(0.0);
            for j in 0..kt {
                let Some(ti) = at.source(to, j, d.t) else {
                    continue;
                };
                // Frame `ti` meets the taps of class `j mod s`; tap `j` is block `j / s` of them.
                let (first, count) = classes[j % at.stride];
                let slot = ti % kt;
                let p = &mut ring[slot * m * kt * o..][..m * count * o];
                if held[slot] != ti {
                    gather_frame(x, d, od, (ah, aw), (n, ti), pixels.clone(), &mut cols);
                    let w = MatRef {
                        data: &conv.weight.raw()[first * o..],
                        rows: spatial,
                        cols: count * o,
                        stride: kt * o,
                    };
                    matmul(p, MatRef::dense(&cols, m, spatial), Weight::Dense(w), false, threads);
                    held[slot] = ti;
                }
                let q = j / at.stride;
                for (y, p) in y.chunks_exact_mut(o).zip(p.chunks_exact(count * o)) {
                    y.iter_mut().zip(&p[q * o..(q + 1) * o]).for_each(|(y, p)| *y += p);
                }
            }
            let first = (n * od.t + to) * od.h * od.w + pixels.start;
            epilogue.apply(y, first..first + m, o);
        }
    };
    run_tasks(tasks, 2 * super::threads(), run);
}
