//! Classification heads: pooled features → `fc_cls` logits (dropout is the identity at inference).
//!
//! * `I3DHead` (I3D, SlowOnly): global average pool of the last stage, then `fc_cls`.
//! * `SlowFastHead`: pool each pathway and concatenate **fast first** (`cat(x_fast, x_slow)`), so
//!   `fc_cls` columns `0..C_fast` weigh the fast features.
//! * `TSNHead`: pool every segment, average over **all** segments of the video (`AvgConsensus`),
//!   then `fc_cls` — one row of logits per video.

use candle_core::Tensor;

use super::checkpoint::Params;
use crate::Result;
use crate::nn::global_avg_pool;

/// `nn.Linear` stored as `<p>.weight [K, F]` and `<p>.bias [K]`.
#[derive(Clone, Debug)]
pub(crate) struct Linear {
    weight_t: Tensor,
    bias: Tensor,
}

impl Linear {
    /// Loads `fc_cls` of head prefix `p`; the class count comes from the weights, the input width
    /// must be `in_features`.
    pub fn load(p: &Params, in_features: usize) -> Result<Self> {
        let fc = p.pp("fc_cls");
        let classes = fc.required_shape("weight", 2)?[0];
        let device = p.device();
        let weight_t = fc.get("weight", &[classes, in_features])?.t()?.contiguous()?.to_device(device)?;
        let bias = fc.get("bias", &[classes])?.to_device(device)?;
        Ok(Linear { weight_t, bias })
    }

    /// Number of outputs.
    pub fn out_features(&self) -> usize {
        self.bias.dims()[0]
    }

    /// `[N, F]` → `[N, K]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (rows, features) = x.dims2()?;
        crate::nn::counters::add_direct_macs((rows * features * self.out_features()) as u64);
        Ok(x.matmul(&self.weight_t)?.broadcast_add(&self.bias)?)
    }
}

/// `I3DHead` features, and each segment's features in `TSNHead`: `[N, T, H, W, C]` → `[N, C]`.
pub(crate) fn pool(x: &Tensor) -> Result<Tensor> {
    global_avg_pool(x)
}

/// `SlowFastHead` features: `[N, C_fast + C_slow]`, fast first.
pub(crate) fn slowfast_features(slow: &Tensor, fast: &Tensor) -> Result<Tensor> {
    Ok(Tensor::cat(&[&global_avg_pool(fast)?, &global_avg_pool(slow)?], 1)?)
}

/// `TSNHead`'s `AvgConsensus`: the pooled segments `[S, C]` of one video → `[1, C]`.
pub(crate) fn tsn_consensus(segments: &Tensor) -> Result<Tensor> {
    Ok(segments.mean_keepdim(0)?)
}
