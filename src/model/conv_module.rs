//! mmcv's `ConvModule` at inference: convolution (no bias) → BatchNorm → optional ReLU, with the
//! BatchNorm folded into the convolution when the weights are loaded.
//!
//! Keys: `<prefix>.conv.weight` and `<prefix>.bn.{weight,bias,running_mean,running_var}`. 2-D
//! ResNets store `[O, C, kh, kw]` weights; they become 3-D kernels of temporal size 1, so one code
//! path (and one set of tests) serves TSN and the video networks.

use candle_core::Tensor;

use super::checkpoint::Params;
use crate::Result;
use crate::nn::{BatchNorm, Conv3d, Conv3dParams};

/// PyTorch's BatchNorm default, used by every mmaction2 backbone here.
const BN_EPS: f64 = 1e-5;

/// Whether a checkpoint stores this layer as `Conv2d` or `Conv3d` weights.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Rank {
    Conv2d,
    Conv3d,
}

/// Geometry of one convolution, all `(t, h, w)`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ConvSpec {
    pub in_channels: usize,
    pub out_channels: usize,
    pub kernel: [usize; 3],
    pub stride: [usize; 3],
    pub padding: [usize; 3],
}

impl ConvSpec {
    /// A kernel with "same" padding `(k−1)/2` on each axis.
    pub fn same(in_channels: usize, out_channels: usize, kernel: [usize; 3], stride: [usize; 3]) -> Self {
        let padding = kernel.map(|k| (k - 1) / 2);
        ConvSpec { in_channels, out_channels, kernel, stride, padding }
    }

    /// The checkpoint shape of this convolution's weight.
    pub fn weight_shape(&self, rank: Rank) -> Vec<usize> {
        let [kt, kh, kw] = self.kernel;
        match rank {
            Rank::Conv2d => vec![self.out_channels, self.in_channels, kh, kw],
            Rank::Conv3d => vec![self.out_channels, self.in_channels, kt, kh, kw],
        }
    }

    fn params(&self) -> Conv3dParams {
        Conv3dParams::new(self.stride, self.padding)
    }
}

/// Convolution with folded BatchNorm, then ReLU if `relu`.
#[derive(Clone, Debug)]
pub(crate) struct ConvModule {
    conv: Conv3d,
    relu: bool,
}

impl ConvModule {
    /// Loads `<p>.conv.weight` and `<p>.bn.*` for `spec`.
    pub fn load(p: &Params, spec: ConvSpec, rank: Rank, relu: bool) -> Result<Self> {
        let weight = load_weight(&p.pp("conv"), &spec, rank)?;
        let bn_p = p.pp("bn");
        let c = [spec.out_channels];
        let running_var = bn_p.get("running_var", &c)?;
        // Its square root divides the weights: a negative one would make them NaN, which the
        // ReLUs then turn into zeros, silently.
        if crate::nn::with_slice(&running_var, |v| v.iter().any(|&v| v < 0.0))? {
            let key = bn_p.key("running_var");
            return Err(
                bn_p.error(format!("{key}: a negative variance, which no BatchNorm learns (damaged?)"))
            );
        }
        let bn = BatchNorm {
            weight: bn_p.get("weight", &c)?,
            bias: bn_p.get("bias", &c)?,
            running_mean: bn_p.get("running_mean", &c)?,
            running_var,
            eps: BN_EPS,
        };
        let (w, b) = bn.fold_into(&weight)?;
        let device = p.device();
        let conv = Conv3d::new(&w.to_device(device)?, Some(&b.to_device(device)?), spec.params())?;
        Ok(ConvModule { conv, relu })
    }

    /// A bare convolution `<p>.conv.weight`: no BatchNorm, no bias, no ReLU (`norm_cfg=None,
    /// act_cfg=None`, as SlowFast's default laterals).
    pub fn load_bare(p: &Params, spec: ConvSpec, rank: Rank) -> Result<Self> {
        let w = load_weight(&p.pp("conv"), &spec, rank)?.to_device(p.device())?;
        Ok(ConvModule { conv: Conv3d::new(&w, None, spec.params())?, relu: false })
    }

    /// Applies the layer to channels-last `[N, T, H, W, C]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.conv.forward_fused(x, None, self.relu)
    }

    /// `relu(layer(x) + residual)` in one pass (the layer must have no ReLU of its own): how a
    /// residual block ends.
    pub fn forward_residual_relu(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        debug_assert!(!self.relu, "the ReLU comes after the addition");
        self.conv.forward_fused(x, Some(residual), true)
    }
}

/// `<p>.weight` as a 5-D kernel.
fn load_weight(p: &Params, spec: &ConvSpec, rank: Rank) -> Result<Tensor> {
    let w = p.get("weight", &spec.weight_shape(rank))?;
    Ok(match rank {
        Rank::Conv2d => w.unsqueeze(2)?,
        Rank::Conv3d => w,
    })
}
