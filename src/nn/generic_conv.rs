//! 3-D convolution from candle's own operations (matrix products and `conv2d`), for devices and
//! dtypes the CPU kernels do not cover (CUDA, f16/f64). It works on frame-major `[N, T, C, H, W]`,
//! the layout candle's `conv2d` wants; [`super::Conv3d`] permutes to and from channels-last.
//!
//! Three plans, chosen once when the layer is built:
//! * **GEMM**: every tap of the kernel (temporal and spatial) is gathered into the channel axis,
//!   so the convolution is one batched product `W[O, K·C] × X[K·C, H·W]` per frame. A 1×1×1 kernel
//!   gathers nothing and is exactly a matrix product; (k,1,1) kernels (the inflated bottleneck's
//!   `conv1`, SlowFast's laterals) cost one product instead of k products and k−1 additions.
//! * **conv2d, taps into channels**: when the spatial window is larger than 1×1 and has the same
//!   stride and dilation on both axes (every ResNet 3×3 and 7×7), the temporal taps are gathered
//!   into channels and a single candle `conv2d` runs over all output frames at once.
//! * **conv2d, taps into outputs**: the same windows, but `conv2d` runs once per *input* frame
//!   with every temporal tap's filters stacked as output channels, and each output frame then sums
//!   its taps' slices. candle's `conv2d` unfolds its input (im2col) into `frames · H'·W' ·
//!   C·kh·kw` elements, which for the previous plan means `kt` times every input frame; when the
//!   outputs are few (SlowFast's fast stem: 8 channels, 5×7×7) unfolding each frame once and
//!   shifting `kt·O` channels is several times less memory traffic. [`Plan::for_window`] picks by
//!   that count. SlowFast's fast stem over 30 views of 32 frames at 256², on an H100: 227 → 88 ms
//!   (the I3D stem, 64 outputs at temporal stride 2, stays with taps into channels).
//!
//! Anything else (unequal spatial strides or dilations) falls back to the GEMM plan, which handles
//! every geometry.
//!
//! candle's CUDA unfold kernel numbers its threads in 32 bits: past 2³² elements it silently leaves
//! part of the buffer unwritten. A 5×7×7 stem over 30 views of 32 frames at 256² needs 11.6 G
//! elements with taps in channels, so `conv2d` runs over as many frames at a time as keep the
//! unfolded input within [`UNFOLD_LIMIT`] (which also bounds its memory).

use candle_core::Tensor;

use super::taps::{Axis, gather_own_taps, gather_taps};
use crate::Result;

/// The most elements one `conv2d` call may unfold: 2³⁰ (4 GiB of f32), well inside the 32-bit
/// thread numbering of candle's CUDA im2col kernel.
const UNFOLD_LIMIT: usize = 1 << 30;

/// The most stacked tap outputs (`T·kt·O·H'·W'` a sample) the taps-into-outputs plan holds at
/// once: 2²⁸ (1 GiB of f32). They are copied twice more (reordered, then padded along time), so
/// SlowFast's 30 views (2.5 GiB of them) run in three groups of samples rather than needing
/// 7.5 GiB of GPU memory for the stem alone.
const STACKED_LIMIT: usize = 1 << 28;

#[derive(Clone, Debug)]
enum Plan {
    /// Weight `[O, kt·kh·kw·C]`, taps in (t, h, w) order with channels innermost.
    Gemm { weight: Tensor },
    /// Weight `[O, kt·C, kh, kw]`: the temporal taps gathered into channels, then one `conv2d`.
    TapsIntoChannels(Spatial),
    /// Weight `[kt·O, C, kh, kw]`: one `conv2d` per input frame, then each tap's outputs shifted
    /// along time and summed.
    TapsIntoOutputs(Spatial),
}

/// candle `conv2d` with PyTorch's per-axis padding, run in chunks of frames (see [`UNFOLD_LIMIT`]).
#[derive(Clone, Debug)]
struct Spatial {
    weight: Tensor,
    padding_hw: [usize; 2],
    stride: usize,
    dilation: usize,
}

impl Spatial {
    fn new(weight: Tensor, [_, h, w]: [Axis; 3]) -> Self {
        Spatial { weight, padding_hw: [h.padding, w.padding], stride: h.stride, dilation: h.dilation }
    }

    /// `[F, C, H, W]` → `[F, O, H', W']`.
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let [ph, pw] = self.padding_hw;
        // conv2d pads both axes alike; pad by hand when they differ.
        let (x, padding) = if ph == pw {
            (x.clone(), ph)
        } else {
            (x.pad_with_zeros(2, ph, ph)?.pad_with_zeros(3, pw, pw)?, 0)
        };
        let (_, c, h, w) = x.dims4()?;
        let (_, _, kh, kw) = self.weight.dims4()?;
        let axis = |kernel| Axis { kernel, stride: self.stride, padding, dilation: self.dilation };
        let unfolded_per_frame = axis(kh).out_len(h)? * axis(kw).out_len(w)? * c * kh * kw;
        let conv = |x: &Tensor| Ok(x.conv2d(&self.weight, padding, self.stride, self.dilation, 1)?);
        in_chunks(&x, unfolded_per_frame, UNFOLD_LIMIT, conv)
    }
}

impl Plan {
    /// The cheaper `conv2d` plan for a window: the one that unfolds and moves fewer values per
    /// output frame, which takes `st` input frames (the temporal stride). Taps into channels unfold
    /// `kt·C·kh·kw` per output frame; taps into outputs unfold `C·kh·kw` per input frame, and
    /// write, reorder and gather `kt·O` channels.
    fn for_window(weight: &Tensor, axes: [Axis; 3]) -> Result<Plan> {
        let (o, c, kt, kh, kw) = weight.dims5()?;
        let into_channels = kt * c * kh * kw;
        let into_outputs = axes[0].stride * (c * kh * kw + 3 * kt * o) + 2 * kt * o;
        if kt > 1 && into_outputs < into_channels {
            Plan::taps_into_outputs(weight, axes)
        } else {
            Plan::taps_into_channels(weight, axes)
        }
    }

    fn taps_into_channels(weight: &Tensor, axes: [Axis; 3]) -> Result<Plan> {
        let (o, c, kt, kh, kw) = weight.dims5()?;
        let weight = weight.permute((0, 2, 1, 3, 4))?.reshape((o, kt * c, kh, kw))?;
        Ok(Plan::TapsIntoChannels(Spatial::new(weight.contiguous()?, axes)))
    }

    fn taps_into_outputs(weight: &Tensor, axes: [Axis; 3]) -> Result<Plan> {
        let (o, c, kt, kh, kw) = weight.dims5()?;
        let weight = weight.permute((2, 0, 1, 3, 4))?.reshape((kt * o, c, kh, kw))?;
        Ok(Plan::TapsIntoOutputs(Spatial::new(weight.contiguous()?, axes)))
    }
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
            Plan::for_window(weight, axes)?
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
        let (n, t, _, h, w) = x.dims5()?;
        let [t_axis, h_axis, w_axis] = self.axes;
        let o = self.out_channels;
        let y = match &self.plan {
            Plan::Gemm { weight } => {
                let mut taps = Vec::new();
                for f in &gather_taps(x, 1, t_axis, 0.0)? {
                    for row in gather_taps(f, 3, h_axis, 0.0)? {
                        taps.extend(gather_taps(&row, 4, w_axis, 0.0)?);
                    }
                }
                let cols = cat_channels(&taps)?;
                let (_, t_out, kc, ho, wo) = cols.dims5()?;
                weight.broadcast_matmul(&cols.reshape((n * t_out, kc, ho * wo))?)?
            }
            Plan::TapsIntoChannels(spatial) => {
                let cols = cat_channels(&gather_taps(x, 1, t_axis, 0.0)?)?;
                let (_, t_out, kc, _, _) = cols.dims5()?;
                let y = spatial.forward(&cols.reshape((n * t_out, kc, h, w))?)?;
                let (_, _, ho, wo) = y.dims4()?;
                y.reshape((n * t_out, o, ho * wo))?
            }
            Plan::TapsIntoOutputs(spatial) => {
                let stacked_per_sample = t * t_axis.kernel * o * h_axis.out_len(h)? * w_axis.out_len(w)?;
                let taps_summed = |x: &Tensor| self.taps_summed(spatial, x);
                let y = in_chunks(x, stacked_per_sample, STACKED_LIMIT, taps_summed)?;
                let (_, t_out, _, pixels) = y.dims4()?;
                y.reshape((n * t_out, o, pixels))?
            }
        };
        let y = match &self.bias {
            Some(b) => y.broadcast_add(b)?,
            None => y,
        };
        let frames = y.dim(0)?;
        Ok(y.reshape((n, frames / n, o, h_axis.out_len(h)?, w_axis.out_len(w)?))?)
    }

    /// The taps-into-outputs plan on `x: [N, T, C, H, W]`, giving `[N, T', O, H'·W']`.
    fn taps_summed(&self, spatial: &Spatial, x: &Tensor) -> Result<Tensor> {
        let (n, t, c, h, w) = x.dims5()?;
        let t_axis = self.axes[0];
        let (kt, o) = (t_axis.kernel, self.out_channels);
        let z = spatial.forward(&x.reshape((n * t, c, h, w))?)?;
        let (_, _, ho, wo) = z.dims4()?;
        // Tap-major, so that each tap's outputs are one contiguous tensor to gather from.
        let z = z.reshape((n, t, kt, o, ho * wo))?.permute((2, 0, 1, 3, 4))?.contiguous()?;
        let taps = gather_own_taps(&z, 1, t_axis, 0.0)?;
        Ok(taps[1..].iter().try_fold(taps[0].clone(), |acc, tap| acc + tap)?)
    }
}

/// Runs `conv` over the items along dim 0 of `x` (frames or samples) in chunks of as many items as
/// take at most `limit` elements of working memory, `per_item` each (at least one item), and
/// concatenates the results.
fn in_chunks(
    x: &Tensor,
    per_item: usize,
    limit: usize,
    conv: impl Fn(&Tensor) -> Result<Tensor>,
) -> Result<Tensor> {
    let frames = x.dim(0)?;
    let chunk = (limit / per_item.max(1)).max(1);
    if frames <= chunk {
        return conv(x);
    }
    let parts = (0..frames)
        .step_by(chunk)
        .map(|start| conv(&x.narrow(0, start, chunk.min(frames - start))?))
        .collect::<Result<Vec<_>>>()?;
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

    use super::{Axis, GenericConv, Plan, in_chunks};

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
                Ok(x.conv2d(&w, 1, 2, 1, 1)?)
            };
            let chunked = in_chunks(&x, per_frame, limit, conv).unwrap();
            assert_eq!((chunked.dims(), made.get()), (whole.dims(), calls), "limit {limit}");
            let diff: f32 =
                (&chunked - &whole).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
            assert_eq!(diff, 0.0, "limit {limit}");
        }
    }

    /// Both `conv2d` plans give the same convolution, on geometries with temporal stride, dilation
    /// and padding, unequal spatial padding, and spatial stride and dilation.
    #[test]
    fn taps_into_outputs_equals_taps_into_channels() {
        let dev = Device::Cpu;
        // (C, O, [kt, kh, kw], [st, ss], [pt, ph, pw], [dt, ds], [T, H, W])
        let cases = [
            (3, 8, [5, 7, 7], [1, 2], [2, 3, 3], [1, 1], [6, 15, 13]), // SlowFast fast stem
            (3, 5, [5, 7, 7], [2, 2], [2, 3, 3], [1, 1], [9, 13, 12]), // I3D stem
            (4, 3, [3, 3, 3], [2, 1], [0, 1, 2], [2, 1], [9, 8, 7]),   // strided, dilated time
            (2, 6, [2, 3, 5], [1, 1], [1, 2, 0], [1, 2], [4, 10, 11]), // dilated space, ph != pw
        ];
        for (i, (c, o, [kt, kh, kw], [st, ss], [pt, ph, pw], [dt, ds], [t, h, w])) in
            cases.into_iter().enumerate()
        {
            let weight = Tensor::randn(0f64, 1.0, (o, c, kt, kh, kw), &dev).unwrap();
            let x = Tensor::randn(0f64, 1.0, (2, t, c, h, w), &dev).unwrap();
            let axes = [
                Axis { kernel: kt, stride: st, padding: pt, dilation: dt },
                Axis { kernel: kh, stride: ss, padding: ph, dilation: ds },
                Axis { kernel: kw, stride: ss, padding: pw, dilation: ds },
            ];
            let conv = |plan: Plan| GenericConv { axes, out_channels: o, plan, bias: None };
            let a = conv(Plan::taps_into_channels(&weight, axes).unwrap()).forward(&x).unwrap();
            let into_outputs = conv(Plan::taps_into_outputs(&weight, axes).unwrap());
            let b = into_outputs.forward(&x).unwrap();
            assert_eq!(a.dims(), b.dims(), "case {i}");
            let diff: f64 = (&a - &b).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
            assert!(diff < 1e-12, "case {i}: max diff {diff}");
            // One sample at a time, as a batch beyond STACKED_LIMIT runs, gives the same values.
            let Plan::TapsIntoOutputs(spatial) = &into_outputs.plan else { unreachable!() };
            let whole = into_outputs.taps_summed(spatial, &x).unwrap();
            let taps_summed = |x: &Tensor| into_outputs.taps_summed(spatial, x);
            let by_sample = in_chunks(&x, 1, 1, taps_summed).unwrap();
            let diff: f64 =
                (&whole - &by_sample).unwrap().abs().unwrap().max_all().unwrap().to_scalar().unwrap();
            assert_eq!(diff, 0.0, "case {i}: by sample");
        }
    }
}
