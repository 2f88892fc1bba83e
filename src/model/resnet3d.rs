//! mmaction2's `ResNet3d` (I3D), `ResNet3dSlowOnly` and the pathways of `ResNet3dSlowFast`.
//!
//! Stem: `conv1` (BN, ReLU) with "same" padding and spatial stride 2, then a (1,3,3) max pool with
//! spatial stride 2. Four stages of residual blocks; `pool2`, a (2,1,1) temporal max pool, follows
//! layer1 when enabled (I3D). A SlowFast slow pathway widens each stage's input by the channels its
//! lateral connection concatenates, which is why the builder takes `lateral_inplanes`.

use candle_core::Tensor;

use super::block::{Block, BlockKind, BlockSpec, infer_inflation, stage_layout};
use super::checkpoint::Params;
use super::config::{InflateStyle, ResNet3dConfig};
use super::conv_module::{ConvModule, ConvSpec, Rank};
use crate::Result;
use crate::nn::MaxPool3d;

/// A ResNet with every architectural choice fixed (config merged with what the weights say).
#[derive(Clone, Debug)]
pub(crate) struct ResNetSpec {
    pub kind: BlockKind,
    pub stage_blocks: [usize; 4],
    pub base_channels: usize,
    pub conv1_kernel: [usize; 3],
    pub conv1_stride_t: usize,
    /// Temporal stride of the stem max pool, or `None` without one.
    pub pool1_stride_t: Option<usize>,
    pub with_pool2: bool,
    pub inflate: Vec<Vec<bool>>,
    pub style: InflateStyle,
    pub spatial_strides: [usize; 4],
    pub temporal_strides: [usize; 4],
    /// Extra input channels of each stage (SlowFast laterals), zero elsewhere.
    pub lateral_inplanes: [usize; 4],
    pub rank: Rank,
}

impl ResNetSpec {
    /// Completes `cfg` from the checkpoint at backbone prefix `p`.
    pub fn resolve(cfg: &ResNet3dConfig, p: &Params) -> Result<Self> {
        let (kind, stage_blocks) = stage_layout(cfg.depth, p)?;
        let stem = || p.required_shape("conv1.conv.weight", 5);
        let base_channels = match cfg.base_channels {
            Some(c) => c,
            None => stem()?[0],
        };
        let conv1_kernel = match cfg.conv1_kernel {
            Some(k) => k,
            None => {
                let s = stem()?;
                [s[2], s[3], s[4]]
            }
        };
        let (inflate, style) = match (&cfg.inflate, cfg.inflate_style) {
            (Some(inflate), Some(style)) => (inflate.clone(), style),
            (given, style) => {
                let (found, found_style) = infer_inflation(p, kind, &stage_blocks)?;
                (given.clone().unwrap_or(found), style.unwrap_or(found_style))
            }
        };
        if inflate.iter().map(Vec::len).ne(stage_blocks.iter().copied()) {
            return Err(p.error(format!("inflate {inflate:?} does not match stage sizes {stage_blocks:?}")));
        }
        Ok(ResNetSpec {
            kind,
            stage_blocks,
            base_channels,
            conv1_kernel,
            conv1_stride_t: cfg.conv1_stride_t,
            pool1_stride_t: cfg.with_pool1.then_some(cfg.pool1_stride_t),
            with_pool2: cfg.with_pool2,
            inflate,
            style,
            spatial_strides: cfg.spatial_strides,
            temporal_strides: cfg.temporal_strides,
            lateral_inplanes: [0; 4],
            rank: Rank::Conv3d,
        })
    }

    /// Output channels of stage `i`.
    pub fn stage_channels(&self, i: usize) -> usize {
        self.base_channels * (1 << i) * self.kind.expansion()
    }
}

/// A loaded ResNet backbone on channels-last activations.
#[derive(Clone, Debug)]
pub struct ResNet3d {
    conv1: ConvModule,
    maxpool: Option<MaxPool3d>,
    layers: Vec<Vec<Block>>,
    pool2: Option<MaxPool3d>,
    out_channels: usize,
}

impl ResNet3d {
    /// Loads the backbone at prefix `p` (e.g. `backbone` or `backbone.slow_path`).
    pub(crate) fn load(spec: &ResNetSpec, p: &Params) -> Result<Self> {
        let stem = ConvSpec::same(3, spec.base_channels, spec.conv1_kernel, [spec.conv1_stride_t, 2, 2]);
        let conv1 = ConvModule::load(&p.pp("conv1"), stem, spec.rank, true)?;
        let maxpool = spec.pool1_stride_t.map(|t| MaxPool3d::new([1, 3, 3], [t, 2, 2], [0, 1, 1]));
        let mut inplanes = spec.base_channels;
        let mut layers = Vec::with_capacity(4);
        for (i, &n) in spec.stage_blocks.iter().enumerate() {
            let planes = spec.base_channels << i;
            let lp = p.pp(format!("layer{}", i + 1));
            let mut blocks = Vec::with_capacity(n);
            for j in 0..n {
                let first = j == 0;
                let block = BlockSpec {
                    kind: spec.kind,
                    inplanes: if first {
                        inplanes + spec.lateral_inplanes[i]
                    } else {
                        spec.stage_channels(i)
                    },
                    planes,
                    spatial_stride: if first { spec.spatial_strides[i] } else { 1 },
                    temporal_stride: if first { spec.temporal_strides[i] } else { 1 },
                    inflate: spec.inflate[i][j],
                    style: spec.style,
                    rank: spec.rank,
                };
                blocks.push(Block::load(&lp.pp(j), block)?);
            }
            layers.push(blocks);
            inplanes = spec.stage_channels(i);
        }
        let pool2 = spec.with_pool2.then(|| MaxPool3d::new([2, 1, 1], [2, 1, 1], [0, 0, 0]));
        Ok(ResNet3d { conv1, maxpool, layers, pool2, out_channels: inplanes })
    }

    /// Channels of the last stage's output.
    pub fn out_channels(&self) -> usize {
        self.out_channels
    }

    /// `conv1` then the stem max pool.
    pub fn stem(&self, x: &Tensor) -> Result<Tensor> {
        let x = self.conv1.forward(x)?;
        match &self.maxpool {
            Some(pool) => pool.forward(&x),
            None => Ok(x),
        }
    }

    /// Stage `i` (0-based: `layer{i+1}`).
    pub fn layer(&self, i: usize, x: &Tensor) -> Result<Tensor> {
        self.layers[i].iter().try_fold(x.clone(), |x, block| block.forward(&x))
    }

    /// `ResNet3d.forward`: stem, the four stages, `pool2` after the first.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut x = self.stem(x)?;
        for i in 0..self.layers.len() {
            x = self.layer(i, &x)?;
            if let (0, Some(pool2)) = (i, &self.pool2) {
                x = pool2.forward(&x)?;
            }
        }
        Ok(x)
    }
}
