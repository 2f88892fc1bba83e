//! Temporal nearest-neighbour resampling, as `F.interpolate(mode='nearest', scale_factor=(s,1,1))`.
//!
//! SlowFast builds its slow pathway input this way inside the backbone (anchors §1.4). PyTorch's
//! legacy `nearest` computes the output length in double, `floor(T·s)`, and the source index in
//! float, `min(floor(o · (float)(1/s)), T−1)`, with shortcuts for equal and doubled lengths. The
//! same arithmetic is repeated here so odd ratios pick the same frames.

use candle_core::Tensor;

use crate::Result;

/// Resamples `x: [N, T, …]` along `T` (dim 1) by `scale`.
pub fn nearest_temporal(x: &Tensor, scale: f64) -> Result<Tensor> {
    let len = x.dim(1)?;
    let out = (len as f64 * scale).floor() as usize;
    if out == len {
        return Ok(x.clone());
    }
    let step = (1.0 / scale) as f32;
    let idx: Vec<u32> = (0..out)
        .map(|o| if out == 2 * len { o / 2 } else { ((o as f32 * step).floor() as usize).min(len - 1) })
        .map(|i| i as u32)
        .collect();
    Ok(x.index_select(&Tensor::new(idx, x.device())?, 1)?)
}
