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
        let device = conv_weight.device();
        let per_channel = conv_weight.elem_count() / scale.len().max(1);
        // Plain loops rather than broadcast tensor ops: this runs for every layer at load time.
        let weight = if dtype == DType::F32 {
            // The f64 product rounded once to f32, as below, without f64 copies of the weight.
            let mut weight: Vec<f32> = conv_weight.flatten_all()?.to_vec1()?;
            for (w, &s) in weight.chunks_exact_mut(per_channel).zip(&scale) {
                w.iter_mut().for_each(|w| *w = (*w as f64 * s) as f32);
            }
            Tensor::from_vec(weight, conv_weight.shape(), device)?
        } else {
            let mut weight = f64(conv_weight)?;
            for (w, s) in weight.chunks_exact_mut(per_channel).zip(&scale) {
                w.iter_mut().for_each(|w| *w *= s);
            }
            Tensor::from_vec(weight, conv_weight.shape(), device)?.to_dtype(dtype)?
        };
        Ok((weight, Tensor::from_vec(bias, scale.len(), device)?.to_dtype(dtype)?))
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{DType, Device, Tensor};

    use super::BatchNorm;

    #[test]
    fn f32_fold_is_the_f64_fold_rounded_once() {
        let dev = Device::Cpu;
        let o = 6;
        let bn = BatchNorm {
            weight: Tensor::randn(1f32, 0.5, o, &dev).unwrap(),
            bias: Tensor::randn(0f32, 1.0, o, &dev).unwrap(),
            running_mean: Tensor::randn(0f32, 1.0, o, &dev).unwrap(),
            running_var: Tensor::rand(0.1f32, 2.0, o, &dev).unwrap(),
            eps: 1e-5,
        };
        let w = Tensor::randn(0f32, 1.0, (o, 4, 3, 3, 3), &dev).unwrap();
        let (w32, b32) = bn.fold_into(&w).unwrap();
        let (w64, b64) = bn.fold_into(&w.to_dtype(DType::F64).unwrap()).unwrap();
        let bits = |t: &Tensor| -> Vec<u32> {
            t.flatten_all().unwrap().to_vec1::<f32>().unwrap().iter().map(|v| v.to_bits()).collect()
        };
        assert_eq!(w32.dtype(), DType::F32);
        assert_eq!(bits(&w32), bits(&w64.to_dtype(DType::F32).unwrap()));
        assert_eq!(bits(&b32), bits(&b64.to_dtype(DType::F32).unwrap()));
    }
}
