//! Conversion of PyTorch's channels-first clips `[N, C, T, H, W]` into the channels-last layout
//! every layer here works on.
//!
//! candle's strided copy for this permutation moves one element at a time through a 5-D index
//! (about 0.1 s per 256² SlowFast view); for CPU `f32` it is done here as a plain transpose of
//! each `[C, T·H·W]` plane instead.

use candle_core::Tensor;

use super::cpu::{self, Dims};
use crate::Result;

/// `[N, C, T, H, W]` → `[N, T, H, W, C]`.
pub fn channels_last(x: &Tensor) -> Result<Tensor> {
    let (n, c, t, h, w) = x.dims5()?;
    if !cpu::applies(x) {
        return Ok(x.permute((0, 2, 3, 4, 1))?.contiguous()?);
    }
    let plane = t * h * w;
    let data = cpu::with_slice(x, |x| {
        let mut out = vec![0f32; x.len()];
        for (src, dst) in x.chunks_exact(c * plane).zip(out.chunks_exact_mut(c * plane)) {
            for (ci, channel) in src.chunks_exact(plane).enumerate() {
                dst.iter_mut().skip(ci).step_by(c).zip(channel).for_each(|(d, &s)| *d = s);
            }
        }
        out
    })?;
    cpu::tensor(data, Dims { n, t, h, w, c })
}
