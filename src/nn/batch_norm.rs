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
        let f64 = |t: &Tensor| t.to_dtype(DType::F64);
        let scale = f64(&self.weight)?.div(&(f64(&self.running_var)? + self.eps)?.sqrt()?)?;
        let bias = f64(&self.bias)?.sub(&f64(&self.running_mean)?.mul(&scale)?)?;
        let mut shape = vec![1; conv_weight.rank()];
        shape[0] = scale.dim(0)?;
        let weight = f64(conv_weight)?.broadcast_mul(&scale.reshape(shape)?)?;
        Ok((weight.to_dtype(dtype)?, bias.to_dtype(dtype)?))
    }
}
