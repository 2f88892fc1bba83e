//! Architecture descriptions, as a model card states them (serde) or code builds them (named
//! constructors mirroring mmaction2's model-zoo configs).
//!
//! Only what the weights cannot tell is required. Depth, widths, the stem's temporal kernel, the
//! per-block inflation and the fusion kernel are `Option`s: left out, they are read off the
//! checkpoint's tensor shapes; given, they are checked against it. Strides, pools and SlowFast's
//! τ/α leave no trace in the weights and must be right in the card.

use serde::{Deserialize, Serialize};

use super::block::BlockKind;

/// Which network to build.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Architecture {
    /// TSN: a 2-D ResNet on every segment, features averaged over segments (`Recognizer2D`).
    Tsn(ResNet2dConfig),
    /// `ResNet3d` / `ResNet3dSlowOnly` with `I3DHead` (I3D, SlowOnly).
    Resnet3d(ResNet3dConfig),
    /// `ResNet3dSlowFast` with `SlowFastHead` (boxed: two pathway configs).
    Slowfast(Box<SlowFastConfig>),
}

impl Architecture {
    /// What in this description no network can be built from, by its name in a model card: a
    /// stride or kernel of 0, or SlowFast's τ below α.
    pub fn problem(&self) -> Option<String> {
        match self {
            Architecture::Tsn(c) => {
                c.strides.contains(&0).then(|| "architecture.strides must be at least 1".into())
            }
            Architecture::Resnet3d(c) => c.problem("architecture"),
            Architecture::Slowfast(c) if c.speed_ratio == 0 || c.resample_rate < c.speed_ratio => {
                Some(format!(
                    "architecture.resample_rate ({}) must be at least architecture.speed_ratio ({}), and both \
                 at least 1",
                    c.resample_rate, c.speed_ratio
                ))
            }
            Architecture::Slowfast(c) if c.fusion_kernel == Some(0) => {
                Some("architecture.fusion_kernel must be at least 1".into())
            }
            Architecture::Slowfast(c) => {
                c.slow.problem("architecture.slow").or_else(|| c.fast.problem("architecture.fast"))
            }
        }
    }

    /// Why this network cannot take clips of `clip_len` frames, where a rule says so plainly:
    /// - SlowFast's slow pathway keeps every τ-th frame and its fast one every (τ/α)-th (both
    ///   rounding down, as PyTorch's nearest resampling does), and each lateral connection strides
    ///   the fast frames by α (rounding up, for the odd fusion kernels every published model has).
    ///   The pathways meet only where those counts agree, as on any multiple of τ.
    /// - I3D's temporal max pool after the first stage takes 2 frames, which the strides in time
    ///   before it (the stem's convolution and max pool, 2 each) leave only from 5 frames on.
    pub fn clip_len_problem(&self, clip_len: usize) -> Option<String> {
        let c = match self {
            Architecture::Tsn(_) => return None,
            Architecture::Resnet3d(c) => return c.pool2_problem(clip_len),
            Architecture::Slowfast(c) => c,
        };
        let (tau, alpha) = (c.resample_rate, c.speed_ratio);
        let every = |step: usize| (clip_len as f64 * (1.0 / step as f64)).floor() as usize;
        let slow = every(tau);
        let lateral = every(tau / alpha).div_ceil(alpha);
        (slow == 0 || slow != lateral).then(|| {
            format!(
                "SlowFast's slow pathway keeps {slow} of the {clip_len} frames (one in τ = {tau}), its \
                 lateral connections {lateral} (one in α = {alpha} of the fast pathway's); any multiple \
                 of τ makes them agree"
            )
        })
    }

    /// How views are laid out for this network: every frame its own image for TSN (`NCHW`),
    /// clips for the 3-D networks (`NCTHW`).
    pub fn input_layout(&self) -> crate::transform::Layout {
        match self {
            Architecture::Tsn(_) => crate::transform::Layout::Nchw,
            Architecture::Resnet3d(_) | Architecture::Slowfast(_) => crate::transform::Layout::Ncthw,
        }
    }
}

/// mmaction2's 2-D `ResNet` (TSN backbone), `style='pytorch'`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNet2dConfig {
    /// 18, 34, 50, 101 or 152; inferred from the number of blocks per stage when absent.
    #[serde(default)]
    pub depth: Option<usize>,
    /// Stem width (64 in mmaction2); inferred from `conv1` when absent.
    #[serde(default)]
    pub base_channels: Option<usize>,
    /// Spatial stride of each stage.
    #[serde(default = "default_spatial_strides")]
    pub strides: [usize; 4],
}

/// How an inflated block spreads its temporal kernel of 3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InflateStyle {
    /// Bottleneck `conv1` is (3,1,1), `conv2` (1,3,3). mmaction2's default.
    #[serde(rename = "3x1x1")]
    T3x1x1,
    /// Bottleneck `conv1` is (1,1,1), `conv2` (3,3,3).
    #[serde(rename = "3x3x3")]
    T3x3x3,
}

/// mmaction2's `ResNet3d` (and `ResNet3dSlowOnly`, and each SlowFast pathway), `style='pytorch'`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResNet3dConfig {
    /// 18, 34 (BasicBlock3d), 50, 101, 152 (Bottleneck3d); inferred when absent.
    #[serde(default)]
    pub depth: Option<usize>,
    /// Stem width (64; 8 for SlowFast's fast pathway); inferred when absent.
    #[serde(default)]
    pub base_channels: Option<usize>,
    /// Stem kernel `(t, h, w)`; inferred when absent. Padding is `(k−1)/2` per axis.
    #[serde(default)]
    pub conv1_kernel: Option<[usize; 3]>,
    /// Temporal stride of the stem convolution (2 for I3D).
    #[serde(default = "one")]
    pub conv1_stride_t: usize,
    /// Temporal stride of the stem max pool (2 for I3D).
    #[serde(default = "one")]
    pub pool1_stride_t: usize,
    /// Whether the (1,3,3) stem max pool exists.
    #[serde(default = "yes")]
    pub with_pool1: bool,
    /// Temporal (2,1,1) max pool after layer1 (I3D). mmaction2's class defaults to true, its
    /// SlowOnly subclass to false; here the default is false, so I3D cards set it. SlowFast never
    /// applies it.
    #[serde(default)]
    pub with_pool2: bool,
    /// Per stage, per block: whether the block is inflated (has a temporal kernel of 3). Inferred
    /// when absent.
    #[serde(default)]
    pub inflate: Option<Vec<Vec<bool>>>,
    /// Where an inflated Bottleneck3d puts its temporal kernel; inferred when absent.
    #[serde(default)]
    pub inflate_style: Option<InflateStyle>,
    /// Spatial stride of each stage.
    #[serde(default = "default_spatial_strides")]
    pub spatial_strides: [usize; 4],
    /// Temporal stride of each stage.
    #[serde(default = "default_temporal_strides")]
    pub temporal_strides: [usize; 4],
}

/// mmaction2's `ResNet3dSlowFast`: two `ResNet3d` pathways joined by lateral convolutions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowFastConfig {
    /// τ: the slow pathway sees every τ-th frame of the clip.
    pub resample_rate: usize,
    /// α: the fast pathway sees α times more frames; also the laterals' temporal stride.
    pub speed_ratio: usize,
    /// Temporal kernel of the lateral convolutions (5 for 4x16, 7 for 8x8); inferred when absent.
    #[serde(default)]
    pub fusion_kernel: Option<usize>,
    /// The slow pathway (with laterals).
    pub slow: ResNet3dConfig,
    /// The fast pathway.
    pub fast: ResNet3dConfig,
}

fn one() -> usize {
    1
}

fn yes() -> bool {
    true
}

fn default_spatial_strides() -> [usize; 4] {
    [1, 2, 2, 2]
}

fn default_temporal_strides() -> [usize; 4] {
    [1; 4]
}

impl Default for ResNet3dConfig {
    /// Everything inferred from the weights, stem and stage strides as in the SlowOnly/SlowFast
    /// pathways: temporal strides 1, pool1 present, no pool2.
    fn default() -> Self {
        ResNet3dConfig {
            depth: None,
            base_channels: None,
            conv1_kernel: None,
            conv1_stride_t: 1,
            pool1_stride_t: 1,
            with_pool1: true,
            with_pool2: false,
            inflate: None,
            inflate_style: None,
            spatial_strides: default_spatial_strides(),
            temporal_strides: default_temporal_strides(),
        }
    }
}

impl ResNet3dConfig {
    /// [`Architecture::problem`] for one network, whose fields sit under `table` in a card.
    fn problem(&self, table: &str) -> Option<String> {
        let strides = [
            ("conv1_stride_t", &[self.conv1_stride_t][..]),
            ("pool1_stride_t", &[self.pool1_stride_t]),
            ("spatial_strides", &self.spatial_strides),
            ("temporal_strides", &self.temporal_strides),
        ];
        if let Some((field, _)) = strides.iter().find(|(_, values)| values.contains(&0)) {
            return Some(format!("{table}.{field} must be at least 1"));
        }
        self.conv1_kernel
            .filter(|kernel| kernel.contains(&0))
            .map(|_| format!("{table}.conv1_kernel: sizes must be at least 1"))
    }

    /// Why `pool2`, a (2,1,1) max pool, gets too few of a clip's `clip_len` frames. Each stride
    /// in time before it (the stem's convolution and max pool, the first stage) keeps one frame
    /// in s, rounding up (their kernels are odd and padded to keep every frame's neighbourhood).
    fn pool2_problem(&self, clip_len: usize) -> Option<String> {
        let pool1_stride_t = if self.with_pool1 { self.pool1_stride_t } else { 1 };
        let stride = self.conv1_stride_t * pool1_stride_t * self.temporal_strides[0];
        let reaching = clip_len.div_ceil(stride);
        (self.with_pool2 && reaching < 2).then(|| {
            format!(
                "the temporal max pool after the first stage takes 2 frames at a time, but the strides \
                 in time before it keep one frame in {stride}, so a clip of {clip_len} leaves it {reaching}; \
                 clips of {} frames or more fit",
                stride + 1
            )
        })
    }
}

/// Blocks per stage of a depth-50 network.
fn r50_stages() -> [usize; 4] {
    BlockKind::for_depth(50).expect("ResNet-50 is a known depth").1
}

/// `inflate=(0, 0, 1, 1)` expanded for a depth-50 network.
fn slow_inflate_r50() -> Vec<Vec<bool>> {
    r50_stages().iter().enumerate().map(|(i, &n)| vec![i >= 2; n]).collect()
}

impl ResNet2dConfig {
    /// TSN's ImageNet ResNet-50 (`configs/_base_/models/tsn_r50.py`).
    pub fn r50() -> Self {
        ResNet2dConfig { depth: Some(50), base_channels: Some(64), strides: default_spatial_strides() }
    }
}

impl ResNet3dConfig {
    /// I3D R50 (`configs/_base_/models/i3d_r50.py`): (5,7,7) stem with temporal stride 2, pool1
    /// temporal stride 2, pool2, alternating 3x1x1 inflation.
    pub fn i3d_r50() -> Self {
        let inflate = [&[1, 1, 1][..], &[1, 0, 1, 0], &[1, 0, 1, 0, 1, 0], &[0, 1, 0]];
        ResNet3dConfig {
            depth: Some(50),
            base_channels: Some(64),
            conv1_kernel: Some([5, 7, 7]),
            conv1_stride_t: 2,
            pool1_stride_t: 2,
            with_pool2: true,
            inflate: Some(inflate.iter().map(|s| s.iter().map(|&b| b == 1).collect()).collect()),
            inflate_style: Some(InflateStyle::T3x1x1),
            ..Self::default()
        }
    }

    /// SlowOnly R50 (`configs/_base_/models/slowonly_r50.py`): (1,7,7) stem, inflation in the
    /// last two stages only, no temporal downsampling.
    pub fn slowonly_r50() -> Self {
        ResNet3dConfig {
            depth: Some(50),
            base_channels: Some(64),
            conv1_kernel: Some([1, 7, 7]),
            inflate: Some(slow_inflate_r50()),
            inflate_style: Some(InflateStyle::T3x1x1),
            ..Self::default()
        }
    }
}

impl SlowFastConfig {
    fn r50(resample_rate: usize, speed_ratio: usize, fusion_kernel: usize) -> Self {
        let fast_inflate = r50_stages().iter().map(|&n| vec![true; n]).collect();
        SlowFastConfig {
            resample_rate,
            speed_ratio,
            fusion_kernel: Some(fusion_kernel),
            slow: ResNet3dConfig::slowonly_r50(),
            fast: ResNet3dConfig {
                base_channels: Some(8),
                conv1_kernel: Some([5, 7, 7]),
                inflate: Some(fast_inflate),
                ..ResNet3dConfig::slowonly_r50()
            },
        }
    }

    /// SlowFast R50 4x16 (τ=8, α=8, fusion kernel 5).
    pub fn r50_4x16() -> Self {
        Self::r50(8, 8, 5)
    }

    /// SlowFast R50 8x8 (τ=4, α=4, fusion kernel 7).
    pub fn r50_8x8() -> Self {
        Self::r50(4, 4, 7)
    }

    /// SlowFast R101 8x8: both pathways depth 101 (inflation left to the weights).
    pub fn r101_8x8() -> Self {
        let mut cfg = Self::r50_8x8();
        for p in [&mut cfg.slow, &mut cfg.fast] {
            p.depth = Some(101);
            p.inflate = None;
        }
        cfg
    }

    /// SlowFast R101-R50 4x16: a depth-101 slow pathway with a depth-50 fast pathway.
    pub fn r101_r50_4x16() -> Self {
        let mut cfg = Self::r50_4x16();
        cfg.slow.depth = Some(101);
        cfg.slow.inflate = None;
        cfg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slowfast_clip_lengths_are_told_by_what_each_pathway_keeps() {
        // τ = 8, α = 2: the fast pathway keeps one frame in 4, its laterals one of those in 2.
        let arch = Architecture::Slowfast(Box::new(SlowFastConfig::r50(8, 2, 7)));
        let fits = |clip_len| arch.clip_len_problem(clip_len).is_none();
        assert!([8, 16, 18, 24].into_iter().all(fits), "the slow and lateral counts agree");
        // 12: slow 1, fast 3, laterals 2; 4: nothing for the slow pathway.
        let twelve = arch.clip_len_problem(12).unwrap();
        assert!(
            twelve.contains("keeps 1 of the 12 frames (one in τ = 8), its lateral connections 2"),
            "{twelve}"
        );
        assert!(!fits(4) && !fits(20));
        // The published τ = α cards: exactly the multiples of τ.
        let r50_4x16 = Architecture::Slowfast(Box::new(SlowFastConfig::r50(8, 8, 7)));
        let fitting: Vec<usize> = (1..=40).filter(|&n| r50_4x16.clip_len_problem(n).is_none()).collect();
        assert_eq!(fitting, [8, 16, 24, 32, 40]);
        assert!(Architecture::Tsn(Default::default()).clip_len_problem(1).is_none());
    }

    #[test]
    fn i3d_clip_lengths_are_told_by_what_reaches_its_temporal_pool() {
        // Strides 2 (stem convolution) × 2 (stem max pool) before the (2,1,1) pool: 5 frames
        // leave 2, 4 leave 1.
        let i3d = Architecture::Resnet3d(ResNet3dConfig::i3d_r50());
        let fitting: Vec<usize> = (1..=9).filter(|&n| i3d.clip_len_problem(n).is_none()).collect();
        assert_eq!(fitting, [5, 6, 7, 8, 9]);
        let four = i3d.clip_len_problem(4).unwrap();
        assert!(four.contains("keep one frame in 4, so a clip of 4 leaves it 1;"), "{four}");
        assert!(four.ends_with("clips of 5 frames or more fit"), "{four}");
        // SlowOnly has no such pool: any length.
        let slowonly = Architecture::Resnet3d(ResNet3dConfig::slowonly_r50());
        assert!(slowonly.clip_len_problem(1).is_none());
    }
}
