//! Gathering the input values a convolution window reads into matrix rows ("im2col").
//!
//! Row `r` of the gathered matrix holds, for output position `r`, every tap of the window in
//! (t, h, w, c) order (zeros where it falls into the padding), so a product with the `[K, O]`
//! weight gives the convolution. In channels-last memory the taps along `w` at dilation 1 are
//! adjacent, so each (t, h) run of taps is one copy.

use std::ops::Range;

use super::Dims;
use crate::nn::Axis;

/// Fills `dst` (`kh·kw·C` values) with the spatial window of output pixel `(yo, xo)` in the input
/// frame whose first row is `frame_row`.
fn gather_window(
    x: &[f32],
    d: Dims,
    frame_row: usize,
    (ah, aw): (Axis, Axis),
    (yo, xo): (usize, usize),
    dst: &mut [f32],
) {
    let c = d.c;
    let span = aw.kernel * c;
    for (jh, dst) in dst.chunks_exact_mut(span).enumerate() {
        let Some(hi) = ah.source(yo, jh, d.h) else {
            dst.fill(0.0);
            continue;
        };
        let row = frame_row + hi * d.w;
        if aw.dilation == 1 {
            // Taps jw in [lo, hi) are in range and adjacent in memory: one copy.
            let first = (xo * aw.stride) as isize - aw.padding as isize;
            let lo = (-first).clamp(0, aw.kernel as isize) as usize;
            let hi = (d.w as isize - first).clamp(lo as isize, aw.kernel as isize) as usize;
            dst[..lo * c].fill(0.0);
            if hi > lo {
                let s = (row + (first + lo as isize) as usize) * c;
                dst[lo * c..hi * c].copy_from_slice(&x[s..s + (hi - lo) * c]);
            }
            dst[hi * c..].fill(0.0);
        } else {
            for (jw, out) in dst.chunks_exact_mut(c).enumerate() {
                match aw.source(xo, jw, d.w) {
                    Some(wi) => out.copy_from_slice(&x[(row + wi) * c..(row + wi + 1) * c]),
                    None => out.fill(0.0),
                }
            }
        }
    }
}

/// The whole window (`K = kt·kh·kw·C` values) of output rows `rows` (any rows of output dims
/// `od`) into `cols` (`rows.len() × K`).
pub(crate) fn gather(x: &[f32], d: Dims, od: Dims, axes: [Axis; 3], rows: Range<usize>, cols: &mut [f32]) {
    let [at, ah, aw] = axes;
    let spatial = ah.kernel * aw.kernel * d.c;
    for (r, dst) in rows.zip(cols.chunks_exact_mut(at.kernel * spatial)) {
        let (xo, yo) = (r % od.w, r / od.w % od.h);
        let (to, n) = (r / (od.w * od.h) % od.t, r / od.sample_rows());
        for (jt, dst) in dst.chunks_exact_mut(spatial).enumerate() {
            match at.source(to, jt, d.t) {
                Some(ti) => gather_window(x, d, (n * d.t + ti) * d.h * d.w, (ah, aw), (yo, xo), dst),
                None => dst.fill(0.0),
            }
        }
    }
}

/// The spatial window (`kh·kw·C` values) of output pixels `pixels` (indices `y·W' + x` within a
/// frame of output dims `od`) in input frame `ti` of sample `n`, into `cols`.
pub(crate) fn gather_frame(
    x: &[f32],
    d: Dims,
    od: Dims,
    (ah, aw): (Axis, Axis),
    (n, ti): (usize, usize),
    pixels: Range<usize>,
    cols: &mut [f32],
) {
    let frame_row = (n * d.t + ti) * d.h * d.w;
    let spatial = ah.kernel * aw.kernel * d.c;
    for (p, dst) in pixels.zip(cols.chunks_exact_mut(spatial)) {
        gather_window(x, d, frame_row, (ah, aw), (p / od.w, p % od.w), dst);
    }
}
