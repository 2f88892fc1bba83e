//! 3-D max pooling with PyTorch's padding and floor rounding, and global average pooling, on
//! channels-last `[N, T, H, W, C]` activations. CPU `f32` input takes [`super::cpu::pool`];
//! anything else candle's own operations on a frame-major copy.

use candle_core::Tensor;

use super::cpu::{self, Dims};
use super::taps::{Axis, gather_taps, max_all};
use crate::Result;

/// `torch.nn.MaxPool3d(kernel, stride, padding)` (floor mode, no dilation): padding is −∞, so it
/// never wins a window, whatever the sign of the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MaxPool3d {
    /// Per-axis `(t, h, w)` window.
    pub axes: [Axis; 3],
}

impl MaxPool3d {
    /// Kernel, stride and padding per axis `(t, h, w)`.
    pub fn new(kernel: [usize; 3], stride: [usize; 3], padding: [usize; 3]) -> Self {
        MaxPool3d { axes: std::array::from_fn(|i| Axis::new(kernel[i], stride[i], padding[i])) }
    }

    /// Pools channels-last `x: [N, T, H, W, C]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if self.axes.iter().any(|a| 2 * a.padding > a.kernel) {
            let msg = format!("max pool padding must be at most half the kernel: {:?}", self.axes);
            return Err(candle_core::Error::Msg(msg).into());
        }
        if cpu::applies(x) {
            let d = Dims::of(x)?;
            let (data, od) = cpu::with_slice(x, |x| cpu::pool::max_pool(x, d, self.axes))??;
            return cpu::tensor(data, od);
        }
        let y = self.forward_frame_major(&x.permute((0, 1, 4, 2, 3))?.contiguous()?)?;
        Ok(y.permute((0, 1, 3, 4, 2))?.contiguous()?)
    }

    /// Pools frame-major `x: [N, T, C, H, W]` with candle's operations.
    fn forward_frame_major(&self, x: &Tensor) -> Result<Tensor> {
        let [t, h, w] = self.axes;
        // Spatial window: pad with −∞ by hand, then candle's unpadded 2-D max pool over all frames.
        let (n, frames, c, _, _) = x.dims5()?;
        let mut y = x.clone();
        for (dim, axis) in [(3, h), (4, w)] {
            if axis.padding > 0 {
                let mut shape = y.dims().to_vec();
                shape[dim] = axis.padding;
                let pad = Tensor::full(f32::NEG_INFINITY, shape, y.device())?.to_dtype(y.dtype())?;
                y = Tensor::cat(&[&pad, &y, &pad], dim)?;
            }
        }
        let (_, _, _, hp, wp) = y.dims5()?;
        if h.kernel > 1 || w.kernel > 1 || h.stride > 1 || w.stride > 1 {
            // The output lengths must be PyTorch's; `out_len` also rejects windows that do not fit.
            let (ho, wo) = (h.out_len(hp - 2 * h.padding)?, w.out_len(wp - 2 * w.padding)?);
            y = y
                .reshape((n * frames, c, hp, wp))?
                .max_pool2d_with_stride((h.kernel, w.kernel), (h.stride, w.stride))?
                .reshape((n, frames, c, ho, wo))?;
        }
        max_all(gather_taps(&y, 1, t, f64::NEG_INFINITY)?)
    }
}

/// `AdaptiveAvgPool3d(1)` followed by a flatten: the mean over `T, H, W` of channels-last
/// `x: [N, T, H, W, C]`, giving `[N, C]`.
pub fn global_avg_pool(x: &Tensor) -> Result<Tensor> {
    let (n, t, h, w, c) = x.dims5()?;
    Ok((x.reshape((n, t * h * w, c))?.sum(1)? / (t * h * w) as f64)?)
}
