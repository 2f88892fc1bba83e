//! 3-D convolution with per-axis kernel, stride, padding and dilation on channels-last
//! activations, with the bias, a residual addition and a ReLU fused into it.
//!
//! Weights on the CPU in `f32` take the hand-written kernels of [`super::cpu`]; anything else
//! (CUDA, other dtypes) takes candle's generic operations ([`super::generic_conv`]), which permute
//! to frame-major and back. Both give the same results up to summation order.

use std::sync::Arc;

use candle_core::{DType, Tensor};

use super::Axis;
use super::cpu::{self, Dims, conv::CpuConv, conv::Epilogue};
use super::generic_conv::GenericConv;
use crate::Result;

/// Stride, padding and dilation per axis `(t, h, w)`, as in `torch.nn.Conv3d`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv3dParams {
    pub stride: [usize; 3],
    pub padding: [usize; 3],
    pub dilation: [usize; 3],
}

impl Default for Conv3dParams {
    fn default() -> Self {
        Conv3dParams { stride: [1; 3], padding: [0; 3], dilation: [1; 3] }
    }
}

impl Conv3dParams {
    /// Given stride and padding, dilation 1.
    pub fn new(stride: [usize; 3], padding: [usize; 3]) -> Self {
        Conv3dParams { stride, padding, dilation: [1; 3] }
    }
}

/// PyTorch's `[O, C, taps]` weight as the `[taps · C, O]` matrix the CPU kernels multiply by,
/// transposed in cache-sized blocks: element by element, every write of a 1×1 weight landed in a
/// different cache line (13 % of SlowFast's load time).
fn weight_matrix(w: &[f32], out_channels: usize, in_channels: usize, taps: usize) -> Vec<f32> {
    const BLOCK: usize = 16;
    let mut matrix = vec![0f32; w.len()];
    for o0 in (0..out_channels).step_by(BLOCK) {
        let os = o0..(o0 + BLOCK).min(out_channels);
        for c0 in (0..in_channels).step_by(BLOCK) {
            for tap in 0..taps {
                for c in c0..(c0 + BLOCK).min(in_channels) {
                    let row = &mut matrix[(tap * in_channels + c) * out_channels..][..out_channels];
                    for o in os.clone() {
                        row[o] = w[(o * in_channels + c) * taps + tap];
                    }
                }
            }
        }
    }
    matrix
}

#[derive(Clone, Debug)]
enum Imp {
    /// The `[K, O]` weight and the `[O]` bias, shared by clones.
    Cpu(Arc<CpuConv>, Option<Arc<[f32]>>),
    Generic(GenericConv),
}

/// A 3-D convolution (cross-correlation, like PyTorch) with an optional bias.
#[derive(Clone, Debug)]
pub struct Conv3d {
    axes: [Axis; 3],
    in_channels: usize,
    out_channels: usize,
    imp: Imp,
}

impl Conv3d {
    /// A convolution with PyTorch's weight layout `[O, C, kt, kh, kw]` and an optional bias `[O]`.
    pub fn new(weight: &Tensor, bias: Option<&Tensor>, params: Conv3dParams) -> Result<Self> {
        let (out_channels, in_channels, kt, kh, kw) = weight.dims5()?;
        let kernel = [kt, kh, kw];
        let axes: [Axis; 3] = std::array::from_fn(|i| Axis {
            kernel: kernel[i],
            stride: params.stride[i],
            padding: params.padding[i],
            dilation: params.dilation[i],
        });
        let imp = if cpu::applies(weight) {
            let matrix =
                cpu::with_slice(weight, |w| weight_matrix(w, out_channels, in_channels, kt * kh * kw))?;
            let bias = bias.map(|b| b.to_dtype(DType::F32)?.to_vec1::<f32>()).transpose()?;
            Imp::Cpu(Arc::new(CpuConv::new(matrix, axes, in_channels, out_channels)), bias.map(Arc::from))
        } else {
            Imp::Generic(GenericConv::new(weight, bias, axes)?)
        };
        Ok(Conv3d { axes, in_channels, out_channels, imp })
    }

    /// Output channels.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// Applies the convolution to channels-last `x: [N, T, H, W, C]`, giving `[N, T', H', W', O]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_fused(x, None, false)
    }

    /// `relu?(conv(x) + bias + residual?)` in one pass over the output; `residual` has the
    /// output's shape.
    pub fn forward_fused(&self, x: &Tensor, residual: Option<&Tensor>, relu: bool) -> Result<Tensor> {
        let y = match &self.imp {
            Imp::Cpu(conv, bias) if cpu::applies(x) && residual.is_none_or(cpu::applies) => {
                let d = Dims::of(x)?;
                // The kernels read the residual by output row: one of another shape would be
                // misread, where the generic path's addition fails.
                if let Some(r) = residual {
                    let out = conv.out_dims(d)?.to_shape();
                    if r.dims5()? != out {
                        return Err(candle_core::Error::Msg(format!(
                            "the residual {:?} does not match the convolution's output {out:?}",
                            r.dims()
                        ))
                        .into());
                    }
                }
                let run = |x: &[f32], residual: Option<&[f32]>| {
                    let epilogue = Epilogue { bias: bias.as_deref(), residual, relu };
                    conv.forward(x, d, &epilogue)
                };
                let (data, od) = match residual {
                    Some(r) => cpu::with_slice(x, |x| cpu::with_slice(r, |r| run(x, Some(r))))???,
                    None => cpu::with_slice(x, |x| run(x, None))??,
                };
                cpu::tensor(data, od)?
            }
            Imp::Cpu(..) => {
                return Err(candle_core::Error::Msg("CPU f32 weights need CPU f32 input".into()).into());
            }
            Imp::Generic(conv) => {
                let y = conv.forward(&x.permute((0, 1, 4, 2, 3))?.contiguous()?)?;
                let mut y = y.permute((0, 1, 3, 4, 2))?.contiguous()?;
                if let Some(r) = residual {
                    y = (y + r)?;
                }
                if relu { y.relu()? } else { y }
            }
        };
        let (n, t, h, w, _) = y.dims5()?;
        let kernel: usize = self.axes.iter().map(|a| a.kernel).product();
        super::counters::add_direct_macs(
            (n * t * h * w * self.out_channels * self.in_channels * kernel) as u64,
        );
        Ok(y)
    }
}

#[cfg(test)]
mod tests {
    use candle_core::{Device, Tensor};

    use super::{Conv3d, Conv3dParams, weight_matrix};

    #[test]
    fn a_residual_of_another_shape_is_an_error() {
        // A 1×1×1 convolution with temporal stride 2: 4 frames in, 2 out.
        let weight = Tensor::ones((8, 3, 1, 1, 1), candle_core::DType::F32, &Device::Cpu).unwrap();
        let conv = Conv3d::new(&weight, None, Conv3dParams::new([2, 1, 1], [0, 0, 0])).unwrap();
        let x = Tensor::ones((1, 4, 5, 5, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let identity = Tensor::ones((1, 4, 5, 5, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
        let error = conv.forward_fused(&x, Some(&identity), true).unwrap_err().to_string();
        assert!(error.contains("does not match"), "{error}");
        let halved = identity.narrow(1, 0, 2).unwrap();
        let y = conv.forward_fused(&x, Some(&halved), true).unwrap();
        // Three input channels of ones, plus the residual's one.
        assert_eq!(y.flatten_all().unwrap().to_vec1::<f32>().unwrap(), vec![4.0; 2 * 5 * 5 * 8]);
    }

    #[test]
    fn weight_matrix_puts_tap_and_channel_on_rows_and_output_on_columns() {
        // Sizes that are not multiples of the transposition block.
        let (o, c, taps) = (19, 21, 3);
        let w: Vec<f32> = (0..o * c * taps).map(|i| i as f32).collect();
        let m = weight_matrix(&w, o, c, taps);
        for oi in 0..o {
            for ci in 0..c {
                for tap in 0..taps {
                    assert_eq!(m[(tap * c + ci) * o + oi], w[(oi * c + ci) * taps + tap]);
                }
            }
        }
    }
}
