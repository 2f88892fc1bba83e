//! From a video to the views a model takes: sample → decode → resize → crop.
//!
//! This joins the pure steps ([`crate::sample`], [`crate::transform`]) to the decoder. Each
//! wanted frame is resized as soon as it is decoded, so a 1080p video never holds more than
//! one full-size frame in memory, and a frame used by several clips is decoded once. Only the
//! part of the resized frame that some crop reads is computed.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::sample::SampleFrames;
use crate::transform::{
    Crop, CropKind, CropWindow, Region, Views, crop_windows, resize_bilinear_region, short_side_size,
};
use crate::video::{CutShort, Video};

/// A test-time view protocol: which frames, at which size, cut into which crops.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ViewProtocol {
    /// Temporal sampling (`SampleFrames` in test mode).
    pub sample: SampleFrames,
    /// Short side after `Resize(scale=(-1, resize_short_side))`, keeping the aspect ratio.
    pub resize_short_side: usize,
    /// Spatial crops of every clip.
    pub crop: Crop,
}

impl ViewProtocol {
    /// Views per video: clips × crops.
    pub fn num_views(&self) -> usize {
        self.sample.num_clips * self.crop.views_per_clip()
    }

    /// The first count or size that is 0, by its name in a model card (`sample.num_clips`, …).
    pub fn zero_field(&self) -> Option<&'static str> {
        [
            (self.sample.num_clips, "sample.num_clips"),
            (self.sample.clip_len, "sample.clip_len"),
            (self.sample.frame_interval, "sample.frame_interval"),
            (self.crop.size, "crop.size"),
            (self.resize_short_side, "resize_short_side"),
        ]
        .into_iter()
        .find_map(|(value, name)| (value == 0).then_some(name))
    }

    /// Why this protocol cannot run, if it cannot (counts of 0 aside, which [`Self::zero_field`]
    /// names): a crop larger than the resized short side, a three-crop that does not span it, a
    /// short side over [`MAX_SHORT_SIDE`], a clip spanning more frames than can be counted, or
    /// views over [`MAX_VIEW_BYTES`] a video. Cards and command-line overrides go through the same
    /// check, so such a protocol is refused before any video is read; what depends on a video's
    /// size (its resized frames' memory) is [`prepare`]'s to refuse, for that video.
    pub fn problem(&self) -> Option<String> {
        let Crop { kind, size } = self.crop;
        let short = self.resize_short_side;
        let SampleFrames { clip_len, frame_interval, .. } = self.sample;
        let (clips, crops) = (self.sample.num_clips, self.crop.views_per_clip());
        let view_bytes = [clips, crops, clip_len, size, size, 3]
            .into_iter()
            .try_fold(1u64, |a, b| a.checked_mul(b as u64));
        if short > MAX_SHORT_SIDE {
            Some(format!("a short side of {short} is more than {MAX_SHORT_SIDE}"))
        } else if size > short {
            Some(format!("the crop ({size}) is larger than the resized short side ({short})"))
        } else if kind == CropKind::Three && size != short {
            Some(format!("a three-crop covers the short side, so its size ({size}) must be {short}"))
        } else if clip_len.saturating_sub(1).checked_mul(frame_interval).is_none_or(|s| s == usize::MAX) {
            Some(format!(
                "clips of {clip_len} frames {frame_interval} apart span more frames than any video has"
            ))
        } else if view_bytes.is_none_or(|bytes| bytes > MAX_VIEW_BYTES) {
            Some(format!(
                "{clips} clip(s) × {crops} crop(s) of {clip_len} frames of {size}×{size} pixels hold more \
                 than {} GiB",
                MAX_VIEW_BYTES >> 30
            ))
        } else {
            None
        }
    }
}

/// The largest short side a protocol may resize to (far beyond any model's).
pub const MAX_SHORT_SIDE: usize = 1 << 16;

/// The most bytes of cropped frames a protocol may ask for a video (SlowFast's 30 views take
/// 189 MB): clip counts or lengths beyond it are typing mistakes that would end the process.
pub const MAX_VIEW_BYTES: u64 = 4 << 30;

/// What a model will see of one video.
#[derive(Debug)]
pub struct PreparedInput {
    /// Frame numbers of every clip.
    pub frame_indices: Vec<Vec<usize>>,
    /// The cropped frames, crop-major.
    pub views: Views,
    /// Distinct wanted frames that failed to decode and were replaced by their nearest neighbour.
    pub lost_frames: usize,
    /// Set where the video was cut short (see [`Video::cut_short`]).
    pub cut_short: Option<CutShort>,
}

impl PreparedInput {
    /// What a user should know about how the input was read (a file cut short, frames replaced),
    /// one sentence each, without the input's name.
    pub fn warnings(&self) -> Vec<String> {
        let lost = (self.lost_frames > 0).then(|| {
            format!(
                "{} sampled frame(s) could not be decoded and were replaced by their neighbours",
                self.lost_frames
            )
        });
        let cut = self.cut_short.map(|CutShort { frames, announced }| {
            format!(
                "its header announces {announced} frames, but only {frames} could be read (a file cut \
                 short?); the clips are sampled from those"
            )
        });
        cut.into_iter().chain(lost).collect()
    }

    /// How many different frames were decoded (clips may share frames).
    pub fn distinct_frames(&self) -> usize {
        distinct_frames(&self.frame_indices)
    }
}

/// How many different frames `frame_indices` name (clips may share frames).
fn distinct_frames(frame_indices: &[Vec<usize>]) -> usize {
    let mut frames: Vec<usize> = frame_indices.concat();
    frames.sort_unstable();
    frames.dedup();
    frames.len()
}

/// The smallest region holding every crop window.
fn covering(windows: &[CropWindow]) -> Region {
    let x = windows.iter().map(|c| c.left).min().unwrap_or(0)
        ..windows.iter().map(|c| c.left + c.size).max().unwrap_or(0);
    let y = windows.iter().map(|c| c.top).min().unwrap_or(0)
        ..windows.iter().map(|c| c.top + c.size).max().unwrap_or(0);
    Region { x, y }
}

/// The most bytes of resized frames a video may hold while its views are cut from them, one frame
/// and all of them: resizing computes only the crops' region but holds the whole frame, and a
/// short side of 100 000 asked for 40 GB and ended the process (6000 on SlowFast's 30 views, 61 GB
/// in 320 frames of 192 MB).
const MAX_RESIZED_FRAME: u64 = 1 << 28;
const MAX_RESIZED_FRAMES: u64 = 8 << 30;

/// Why `distinct` frames of `width` × `height` resized to a short side of `short` are too large
/// to hold, if they are: one frame over [`MAX_RESIZED_FRAME`], or all over
/// [`MAX_RESIZED_FRAMES`].
fn frames_too_large(width: usize, height: usize, short: usize, distinct: usize) -> Option<String> {
    let (w, h) = short_side_size(width, height, short);
    let frame_bytes = (w as u64).saturating_mul(h as u64).saturating_mul(3);
    let all_bytes = frame_bytes.saturating_mul(distinct as u64);
    if frame_bytes > MAX_RESIZED_FRAME {
        Some(format!(
            "{} MiB a frame, more than the {} MiB allowed",
            frame_bytes >> 20,
            MAX_RESIZED_FRAME >> 20
        ))
    } else if all_bytes > MAX_RESIZED_FRAMES {
        Some(format!(
            "{distinct} of them would take {} MiB, more than the {} GiB allowed",
            all_bytes >> 20,
            MAX_RESIZED_FRAMES >> 30
        ))
    } else {
        None
    }
}

/// Samples, decodes, resizes and crops `video` according to `protocol`.
pub fn prepare(video: &Video, protocol: &ViewProtocol) -> Result<PreparedInput> {
    let info = video.info();
    let frame_indices = protocol.sample.frame_indices(info.frame_count);
    let wanted: Vec<usize> = frame_indices.iter().flatten().copied().collect();
    let (w, h) = short_side_size(info.width, info.height, protocol.resize_short_side);
    let distinct = distinct_frames(&frame_indices);
    if let Some(too_large) = frames_too_large(info.width, info.height, protocol.resize_short_side, distinct) {
        let fitting = (1..protocol.resize_short_side)
            .rev()
            .find(|&short| frames_too_large(info.width, info.height, short, distinct).is_none());
        let advice = match fitting {
            Some(short) if short < protocol.crop.size => {
                format!("; use --short-side {short} or less, with a --crop-size no larger")
            }
            Some(short) => format!("; use --short-side {short} or less"),
            None => String::new(),
        };
        return Err(Error::video(
            video.name(),
            format!(
                "a short side of {} makes its {}×{} frames {w}×{h}: {too_large}{advice}",
                protocol.resize_short_side, info.width, info.height
            ),
        ));
    }
    // Every frame comes out of the decoder at the video's size, so all are resized alike. A crop
    // that does not fit is reported by `Views::from_clips` below.
    let region = crop_windows(w, h, protocol.crop).map_or(Region::whole(w, h), |c| covering(&c));
    let decoded = video
        .decode(&wanted, |frame| std::sync::Arc::new(resize_bilinear_region(&frame, w, h, region.clone())))?;
    let mut frames = decoded.frames.into_iter();
    let clips: Vec<Vec<_>> = frame_indices
        .iter()
        .map(|clip| clip.iter().map(|_| frames.next().expect("one frame per index")).collect())
        .collect();
    let views = Views::from_clips(&clips, protocol.crop)?;
    Ok(PreparedInput { frame_indices, views, lost_frames: decoded.lost, cut_short: video.cut_short() })
}
