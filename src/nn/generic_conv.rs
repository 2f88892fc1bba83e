//! 3-D convolution from candle's own operations (matrix products and `conv2d`), for devices and
//! dtypes the CPU kernels do not cover (CUDA, f16/f64). It works on frame-major `[N, T, C, H, W]`,
//! the layout candle's `conv2d` wants; [`super::Conv3d`] permutes to and from channels-last.
//!
//! Two plans, chosen once when the layer is built:
//! * **GEMM**: every tap of the kernel (temporal and spatial) is gathered into the channel axis,
//!   so the convolution is one batched product `W[O, K·C] × X[K·C, H·W]` per frame. A 1×1×1 kernel
//!   gathers nothing and is exactly a matrix product; (k,1,1) kernels (the inflated bottleneck's
//!   `conv1`, SlowFast's laterals) cost one product instead of k products and k−1 additions.
//! * **conv2d**: when the spatial window is larger than 1×1 and has the same stride and dilation
//!   on both axes (every ResNet 3×3 and 7×7), the temporal taps are gathered into channels and a
//!   single candle `conv2d` runs over all output frames at once.
//!
//! Anything else (unequal spatial strides or dilations) falls back to the GEMM plan, which handles
//! every geometry.
//!
//! candle's `conv2d` unfolds its input (im2col) into `frames · H'·W' · C·kh·kw` elements, and its
//! CUDA unfold kernel numbers its threads in 32 bits: past 2³² elements it silently leaves part of
//! the buffer unwritten. A 5×7×7 stem over 30 views of 32 frames at 256² needs 11.6 G elements, so
//! the conv2d plan runs over as many frames at a time as keep the unfolded input within
//! [`UNFOLD_LIMIT`] (which also bounds its memory).

use candle_core::Tensor;

use super::taps::{Axis, gather_taps};
use crate::Result;

/// The most elements one `conv2d` call may unfold: 2³⁰ (4 GiB of f32), well inside the 32-bit
/// thread numbering of candle's CUDA im2col kernel.
const UNFOLD_LIMIT: usize = 1 << 30;

#[derive(Clone, Debug)]
enum Plan {
    /// Weight `[O, kt·kh·kw·C]`, taps in (t, h, w) order with channels innermost.
    Gemm { weight: Tensor },
    /// Weight `[O, kt·C, kh, kw]`; candle conv2d does the spatial window.
    Conv2d { weight: Tensor, padding_hw: [usize; 2], stride: usize, dilation: usize },
}

/// A 3-D convolution (cross-correlation, like PyTorch) with an optional bias.
#[derive(Clone, Debug)]
pub(crate) struct GenericConv {
    axes: [Axis; 3],
    out_channels: usize,
    plan: Plan,
    /// `[1, O, 1]`, ready to broadcast over `[N·T, O, H·W]`.
    bias: Option<Tensor>,
}

impl GenericConv {
    /// A convolution with PyTorch's weight layout `[O, C, kt, kh, kw]` and an optional bias `[O]`.
    pub fn new(weight: &Tensor, bias: Option<&Tensor>, axes: [Axis; 3]) -> Result<Self> {
        let (out_channels, in_channels, kt, kh, kw) = weight.dims5()?;
        let [_, h, w] = axes;
        let spatial_window = kh > 1 || kw > 1;
        let plan = if spatial_window && h.stride == w.stride && h.dilation == w.dilation {
            let weight =
                weight.permute((0, 2, 1, 3, 4))?.reshape((out_channels, kt * in_channels, kh, kw))?;
            Plan::Conv2d {
                weight: weight.contiguous()?,
                padding_hw: [h.padding, w.padding],
                stride: h.stride,
                dilation: h.dilation,
            }
        } else {
            let weight =
                weight.permute((0, 2, 3, 4, 1))?.reshape((out_channels, kt * kh * kw * in_channels))?;
            Plan::Gemm { weight: weight.contiguous()? }
        };
        let bias = bias.map(|b| b.reshape((1, out_channels, 1))).transpose()?;
        Ok(GenericConv { axes, out_channels, plan, bias })
    }

    /// Applies the convolution to frame-major `x: [N, T, C, H, W]`, giving `[N, T', O, H', W']`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let (n, _, _, _, _) = x.dims5()?;
        let [t_axis, h_axis, w_axis] = self.axes;
        let frames = gather_taps(x, 1, t_axis, 0.0)?;
        let t_out = frames[0].dim(1)?;
        let out = match &self.plan {
            Plan::Gemm { weight } => {
                let mut taps = Vec::with_capacity(frames.len() * h_axis.kernel * w_axis.kernel);
                for f in &frames {
                    for row in gather_taps(f, 3, h_axis, 0.0)? {
                        taps.extend(gather_taps(&row, 4, w_axis, 0.0)?);
                    }
                }
                let cols = cat_channels(&taps)?;
                let (_, _, kc, ho, wo) = cols.dims5()?;
                let cols = cols.reshape((n * t_out, kc, ho * wo))?;
                let y = weight.broadcast_matmul(&cols)?;
                (y, ho, wo)
            }
            Plan::Conv2d { weight, padding_hw, stride, dilation } => {
                let cols = cat_channels(&frames)?;
                let (_, _, kc, h, w) = cols.dims5()?;
                let mut cols = cols.reshape((n * t_out, kc, h, w))?;
                // conv2d pads both axes alike; pad by hand when they differ.
                let padding = if padding_hw[0] == padding_hw[1] {
                    padding_hw[0]
                } else {
                    cols = cols.pad_with_zeros(2, padding_hw[0], padding_hw[0])?;
                    cols = cols.pad_with_zeros(3, padding_hw[1], padding_hw[1])?;
                    0
                };
                let unfolded_per_frame =
                    h_axis.out_len(h)? * w_axis.out_len(w)? * weight.elem_count() / self.out_channels;
                let conv = |x: &Tensor| x.conv2d(weight, padding, *stride, *dilation, 1);
                let y = in_frame_chunks(&cols, unfolded_per_frame, UNFOLD_LIMIT, conv)?;
                let (_, o, ho, wo) = y.dims4()?;
                (y.reshape((n * t_out, o, ho * wo))?, ho, wo)
            }
        };
        let (y, ho, wo) = out;
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        Ok(y.reshape((n, t_out, self.out_channels, ho, wo))?)
    }
}

/// Runs `conv` over the frames (dim 0) of `x` in chunks of as many frames as unfold to at most
/// `limit` elements (at least one frame), and concatenates the results.
fn in_frame_chunks(
    x: &Tensor,
    unfolded_per_frame: usize,
    limit: usize,
    conv: impl Fn(&Tensor) -> candle_core::Result<Tensor>,
) -> Result<Tensor> {
    let frames = x.dim(0)?;
    let chunk = (limit / unfolded_per_frame.max(1)).max(1);
    if frames <= chunk {
        return Ok(conv(x)?);
    }
    let parts = (0..frames)
        .step_by(chunk)
        .map(|start| conv(&x.narrow(0, start, chunk.min(frames - start))?))
        .collect::<candle_core::Result<Vec<_>>>()?;
    Ok(Tensor::cat(&parts, 0)?)
}

/// Concatenates gathered taps along the channel axis (dim 2), without a copy for a single tap.
fn cat_channels(taps: &[Tensor]) -> Result<Tensor> {
    Ok(match taps {
        [one] => one.contiguous()?,
        many => Tensor::cat(many, 2)?,
    })
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use candle_core::{Device, Tensor};

    use super::in_frame_chunks;

    #[test]
    fn chunked_conv2d_equals_one_call() {
        let dev = Device::Cpu;
        let x = Tensor::randn(0f32, 1.0, (7, 3, 9, 9), &dev).unwrap();
        let w = Tensor::randn(0f32, 1.0, (4, 3, 3, 3), &dev).unwrap();
        let whole = x.conv2d(&w, 1, 2, 1, 1).unwrap();
        // 5×5 outputs × 27 values per frame: a limit of 2.5 frames runs chunks of 2, 2, 2 and 1.
        let per_frame = 5 * 5 * 27;
        for (limit, calls) in [(per_frame * 5 / 2, 4), (1, 7), (usize::MAX, 1)] {
            let made = Cell::new(0);
            let conv = |x: &Tensor| {
                made.set(made.get() + 1);
                x.conv2d(&w, 1, 2, 1, 1)
            };
            let chunked = in_frame_chunks(&x, per_frame, limit, conv).unwrap();
            assert_eq!((chunked.dims(), made.get()), (whole.dims(), calls), "limit {limit}");
            let diff: f32 =
                (&chunked - &whole).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
            assert_eq!(diff, 0.0, "limit {limit}");
        }
    }
}
