//! Inference-mode batch normalisation, folded into the convolution before it.
//!
//! With running statistics BN is a per-channel affine map `y = x·α + β`, `α = γ/√(σ²+ε)`,
//! `β = b − μ·α`, so `BN(conv(x, W)) = conv(x, W·α) + β`. Folding once at load time removes a full
//! pass over every activation. The fold is computed in f64, so the folded weights are at least as
//! accurate as PyTorch's own f32 evaluation of `x·α + β`.

use candle_core::{DType, Tensor};

use crate::Result;

/// `torch.nn.BatchNorm{2,3}d` in eval mode.
#[derive(Clone, Debug)]
pub struct BatchNorm {
    pub weight: Tensor,
    pub bias: Tensor,
    pub running_mean: Tensor,
    pub running_var: Tensor,
    /// PyTorch's default is 1e-5.
    pub eps: f64,
}

impl BatchNorm {
    /// Folds this normalisation into a convolution weight `[O, …]` without bias, giving the new
    /// weight (same shape and dtype) and the bias `[O]` to add after the convolution.
    pub fn fold_into(&self, conv_weight: &Tensor) -> Result<(Tensor, Tensor)> {
        let dtype = conv_weight.dtype();
        let f64 = |t: &Tensor| -> Result<Vec<f64>> { Ok(t.to_dtype(DType::F64)?.flatten_all()?.to_vec1()?) };
        let (gamma, beta, mean, var) =
            (f64(&self.weight)?, f64(&self.bias)?, f64(&self.running_mean)?, f64(&self.running_var)?);
        let scale: Vec<f64> = gamma.iter().zip(&var).map(|(g, v)| g / (v + self.eps).sqrt()).collect();
        let bias: Vec<f64> = beta.iter().zip(&mean).zip(&scale).map(|((b, m), s)| b - m * s).collect();
        // Plain loops rather than broadcast tensor ops: this runs for every layer at load time.
        let mut weight = f64(conv_weight)?;
        let per_channel = weight.len() / scale.len().max(1);
        for (w, s) in weight.chunks_exact_mut(per_channel).zip(&scale) {
            w.iter_mut().for_each(|w| *w *= s);
        }
        let device = conv_weight.device();
        let weight = Tensor::from_vec(weight, conv_weight.shape(), device)?.to_dtype(dtype)?;
        Ok((weight, Tensor::from_vec(bias, scale.len(), device)?.to_dtype(dtype)?))
    }
}
