//! Residual blocks shared by the 2-D and 3-D ResNets: mmaction2's `BasicBlock3d`/`Bottleneck3d`
//! (and `BasicBlock`/`Bottleneck`, which are the same blocks with temporal kernel 1), `style='pytorch'`.
//!
//! Also what a stage's keys say about its blocks: the block type (a `conv3` exists only in
//! bottlenecks), the number of blocks, and which blocks are inflated (temporal kernel 3 on `conv1`
//! for 3x1x1, on `conv2` for 3x3x3).

use candle_core::Tensor;

use super::checkpoint::Params;
use super::config::InflateStyle;
use super::conv_module::{ConvModule, ConvSpec, Rank};
use crate::Result;

/// Residual block type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum BlockKind {
    /// Two 3×3 convolutions, expansion 1 (depths 18, 34).
    Basic,
    /// 1×1 → 3×3 → 1×1, expansion 4 (depths 50, 101, 152).
    Bottleneck,
}

impl BlockKind {
    pub fn expansion(self) -> usize {
        match self {
            BlockKind::Basic => 1,
            BlockKind::Bottleneck => 4,
        }
    }

    /// mmaction2's `arch_settings`: block type and blocks per stage of a depth.
    pub fn for_depth(depth: usize) -> Option<(BlockKind, [usize; 4])> {
        Some(match depth {
            18 => (BlockKind::Basic, [2, 2, 2, 2]),
            34 => (BlockKind::Basic, [3, 4, 6, 3]),
            50 => (BlockKind::Bottleneck, [3, 4, 6, 3]),
            101 => (BlockKind::Bottleneck, [3, 4, 23, 3]),
            152 => (BlockKind::Bottleneck, [3, 8, 36, 3]),
            _ => return None,
        })
    }

    /// The block type of a backbone's checkpoint (`p` at the backbone prefix).
    pub fn infer(p: &Params) -> BlockKind {
        if p.has("layer1.0.conv3.conv.weight") { BlockKind::Bottleneck } else { BlockKind::Basic }
    }
}

/// Block types and stage sizes: from `depth` when given, else counted in the checkpoint.
pub(crate) fn stage_layout(depth: Option<usize>, p: &Params) -> Result<(BlockKind, [usize; 4])> {
    if let Some(d) = depth {
        return BlockKind::for_depth(d).ok_or_else(|| p.error(format!("unsupported ResNet depth {d}")));
    }
    let kind = BlockKind::infer(p);
    let blocks = std::array::from_fn(|i| p.pp(format!("layer{}", i + 1)).count("conv1.conv.weight"));
    if let Some(i) = blocks.iter().position(|&n| n == 0) {
        return Err(p.misfit(format!("missing key {}", p.key(format!("layer{}.0.conv1.conv.weight", i + 1)))));
    }
    Ok((kind, blocks))
}

/// Per-block inflation and its style, read from the temporal kernel sizes in the checkpoint.
pub(crate) fn infer_inflation(
    p: &Params,
    kind: BlockKind,
    blocks: &[usize; 4],
) -> Result<(Vec<Vec<bool>>, InflateStyle)> {
    let temporal = |key: String| -> Result<usize> { Ok(p.required_shape(&key, 5)?[2]) };
    let mut styles = Vec::new();
    let mut inflate = Vec::new();
    for (i, &n) in blocks.iter().enumerate() {
        let mut stage = Vec::with_capacity(n);
        for j in 0..n {
            let block = format!("layer{}.{j}", i + 1);
            let k1 = temporal(format!("{block}.conv1.conv.weight"))?;
            let inflated = match kind {
                BlockKind::Basic => k1 > 1,
                BlockKind::Bottleneck => {
                    let k2 = temporal(format!("{block}.conv2.conv.weight"))?;
                    if k1 > 1 {
                        styles.push(InflateStyle::T3x1x1);
                    }
                    if k2 > 1 {
                        styles.push(InflateStyle::T3x3x3);
                    }
                    k1 > 1 || k2 > 1
                }
            };
            stage.push(inflated);
        }
        inflate.push(stage);
    }
    styles.dedup();
    match styles[..] {
        [] | [_] => Ok((inflate, styles.first().copied().unwrap_or(InflateStyle::T3x1x1))),
        _ => Err(p.error("blocks mix 3x1x1 and 3x3x3 inflation")),
    }
}

/// Everything that fixes one block's layers.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BlockSpec {
    pub kind: BlockKind,
    pub inplanes: usize,
    pub planes: usize,
    pub spatial_stride: usize,
    pub temporal_stride: usize,
    pub inflate: bool,
    pub style: InflateStyle,
    pub rank: Rank,
}

/// A residual block: its convolutions in order (ReLU on all but the last), the optional
/// downsample of the identity, then ReLU after the addition.
#[derive(Clone, Debug)]
pub(crate) struct Block {
    convs: Vec<ConvModule>,
    downsample: Option<ConvModule>,
}

impl Block {
    /// Loads block `p` (e.g. `backbone.layer2.0`).
    pub fn load(p: &Params, s: BlockSpec) -> Result<Self> {
        let (ts, ss) = (s.temporal_stride, s.spatial_stride);
        let kt = |on: bool| if on { 3 } else { 1 };
        let out = s.planes * s.kind.expansion();
        let specs = match s.kind {
            // BasicBlock3d strides conv1 whatever the style, and inflates both convs to (3,3,3).
            BlockKind::Basic => vec![
                ConvSpec::same(s.inplanes, s.planes, [kt(s.inflate), 3, 3], [ts, ss, ss]),
                ConvSpec::same(s.planes, s.planes, [kt(s.inflate), 3, 3], [1, 1, 1]),
            ],
            BlockKind::Bottleneck => {
                let k1 = kt(s.inflate && s.style == InflateStyle::T3x1x1);
                let k2 = kt(s.inflate && s.style == InflateStyle::T3x3x3);
                vec![
                    ConvSpec::same(s.inplanes, s.planes, [k1, 1, 1], [1, 1, 1]),
                    ConvSpec::same(s.planes, s.planes, [k2, 3, 3], [ts, ss, ss]),
                    ConvSpec::same(s.planes, out, [1, 1, 1], [1, 1, 1]),
                ]
            }
        };
        let last = specs.len() - 1;
        let convs = specs
            .into_iter()
            .enumerate()
            .map(|(i, spec)| ConvModule::load(&p.pp(format!("conv{}", i + 1)), spec, s.rank, i != last))
            .collect::<Result<_>>()?;
        // `make_res_layer`: a temporal stride alone does not add a downsample.
        let downsample = (ss != 1 || s.inplanes != out)
            .then(|| {
                let spec = ConvSpec::same(s.inplanes, out, [1, 1, 1], [ts, ss, ss]);
                ConvModule::load(&p.pp("downsample"), spec, s.rank, false)
            })
            .transpose()?;
        Ok(Block { convs, downsample })
    }

    /// Channels-last `[N, T, H, W, C]` in and out. The last convolution adds the identity and
    /// applies the final ReLU in its epilogue.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let identity = match &self.downsample {
            Some(d) => d.forward(x)?,
            None => x.clone(),
        };
        let (last, rest) = self.convs.split_last().expect("a block has convolutions");
        let mut out = x.clone();
        for conv in rest {
            out = conv.forward(&out)?;
        }
        last.forward_residual_relu(&out, &identity)
    }
}
