//! Max pooling on channels-last `f32` activations: each output row is the elementwise maximum of
//! the `C`-vectors its window covers. Padding never wins (PyTorch pads with −∞).

use rayon::prelude::*;

use super::Dims;
use crate::nn::Axis;

/// Pools `x` (dims `d`) with window `axes`, giving the output and its dims.
pub(crate) fn max_pool(x: &[f32], d: Dims, axes: [Axis; 3]) -> crate::Result<(Vec<f32>, Dims)> {
    let [at, ah, aw] = axes;
    let od = Dims { n: d.n, t: at.out_len(d.t)?, h: ah.out_len(d.h)?, w: aw.out_len(d.w)?, c: d.c };
    let c = d.c;
    let mut out = vec![f32::NEG_INFINITY; od.rows() * c];
    let src = |a: Axis, o: usize, len: usize| (0..a.kernel).filter_map(move |j| a.source(o, j, len));
    out.par_chunks_mut(od.w * c).enumerate().for_each(|(line, y)| {
        let (ho, to, n) = (line % od.h, line / od.h % od.t, line / (od.h * od.t));
        for (wo, y) in y.chunks_exact_mut(c).enumerate() {
            for ti in src(at, to, d.t) {
                for hi in src(ah, ho, d.h) {
                    for wi in src(aw, wo, d.w) {
                        let s = (((n * d.t + ti) * d.h + hi) * d.w + wi) * c;
                        y.iter_mut().zip(&x[s..s + c]).for_each(|(y, &v)| *y = y.max(v));
                    }
                }
            }
        }
    });
    Ok((out, od))
}
