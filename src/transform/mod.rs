//! From decoded RGB frames to the normalised tensor a model takes, exactly as mmaction2 builds it.
//!
//! The steps mirror the reference test pipeline: `Resize(scale=(-1, 256))` on uint8 frames
//! ([`resize`]), a crop mode ([`crop`]), `FormatShape` (views crop-major) and the data
//! preprocessor's `(x - mean) / std` in float32 ([`Views::tensor`]).

pub mod crop;
pub mod resize;

use std::borrow::Borrow;

use candle_core::{Device, Tensor};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
pub use crop::{CropWindow, crop_windows};
pub use resize::{Region, resize_bilinear_region, short_side_size};

/// Which spatial crops make the views of each clip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CropKind {
    /// `CenterCrop`: one view.
    Center,
    /// `ThreeCrop`: left/top, right/bottom, middle.
    Three,
    /// `TenCrop`: four corners and the centre, each followed by its horizontal flip.
    Ten,
}

/// A crop mode with its square size in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Crop {
    pub kind: CropKind,
    pub size: usize,
}

impl Crop {
    /// How many views each clip yields.
    pub fn views_per_clip(&self) -> usize {
        match self.kind {
            CropKind::Center => 1,
            CropKind::Three => 3,
            CropKind::Ten => 10,
        }
    }
}

/// Per-channel RGB normalisation `(x - mean) / std` applied to 0..255 pixel values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}

impl Normalize {
    /// mmaction2's ImageNet statistics on the 0..255 scale, used by every zoo model.
    pub const IMAGENET: Normalize =
        Normalize { mean: [123.675, 116.28, 103.53], std: [58.395, 57.12, 57.375] };

    /// `(x - mean) / std` for every byte value and channel, computed exactly as the reference
    /// does.
    fn table(&self) -> [[f32; 256]; 3] {
        std::array::from_fn(|c| std::array::from_fn(|x| (x as f32 - self.mean[c]) / self.std[c]))
    }
}

/// How views become a tensor (`FormatShape`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// `NCTHW`: `[views, 3, T, H, W]` for 3-D networks.
    #[serde(rename = "NCTHW")]
    Ncthw,
    /// `NCHW`: `[views * T, 3, H, W]` for 2-D networks (TSN), every frame its own image.
    #[serde(rename = "NCHW")]
    Nchw,
}

/// The cropped uint8 frames of every view, crop-major (`view = crop * clips + clip`).
#[derive(Clone, Debug)]
pub struct Views {
    /// `views[v][t]` is frame `t` of view `v`.
    pub frames: Vec<Vec<RgbFrame>>,
}

impl Views {
    /// Crops every clip (a list of equally sized, already resized frames) into views.
    pub fn from_clips<F: Borrow<RgbFrame>>(clips: &[Vec<F>], crop: Crop) -> Result<Views> {
        let first =
            clips.first().and_then(|c| c.first()).ok_or_else(|| Error::Usage("no frames to crop".into()))?;
        let first: &RgbFrame = first.borrow();
        let windows = crop_windows(first.width, first.height, crop)?;
        let mut frames = Vec::with_capacity(windows.len() * clips.len());
        for window in &windows {
            for clip in clips {
                frames.push(clip.iter().map(|f| apply_window(f.borrow(), window)).collect());
            }
        }
        Ok(Views { frames })
    }

    /// Number of views.
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// True when there are no views.
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    /// The normalised float32 tensor of views `range`, in `layout`.
    pub fn tensor(
        &self,
        range: std::ops::Range<usize>,
        normalize: &Normalize,
        layout: Layout,
        device: &Device,
    ) -> Result<Tensor> {
        let views = self.alike(range)?;
        let (t, h, w) = clip_shape(views);
        let plane = h * w;
        let mut data = vec![0f32; views.len() * 3 * t * plane];
        let table = normalize.table();
        // Each view owns a contiguous block in both layouts: fill the views in parallel.
        data.par_chunks_mut(3 * t * plane).zip(views).for_each(|(block, view)| {
            for (ti, frame) in view.iter().enumerate() {
                for (c, table) in table.iter().enumerate() {
                    // NCTHW: (c * T + t) * HW within the view; NCHW: (t * 3 + c) * HW.
                    let base = match layout {
                        Layout::Ncthw => (c * t + ti) * plane,
                        Layout::Nchw => (ti * 3 + c) * plane,
                    };
                    for (out, px) in block[base..base + plane].iter_mut().zip(frame.data.chunks_exact(3)) {
                        *out = table[px[c] as usize];
                    }
                }
            }
        });
        let shape = match layout {
            Layout::Ncthw => vec![views.len(), 3, t, h, w],
            Layout::Nchw => vec![views.len() * t, 3, h, w],
        };
        Ok(Tensor::from_vec(data, shape, device)?)
    }

    /// The normalised float32 views `range` channels-last, `[V, T, H, W, 3]`: the layout the
    /// networks run in, made straight from the frames' interleaved RGB instead of through
    /// [`Self::tensor`] and a transpose (one pass over a view's 25 MB at 256² instead of three).
    pub fn channels_last(
        &self,
        range: std::ops::Range<usize>,
        normalize: &Normalize,
        device: &Device,
    ) -> Result<Tensor> {
        let views = self.alike(range)?;
        let (t, h, w) = clip_shape(views);
        let per_view = t * h * w * 3;
        let table = normalize.table();
        let len = views.len() * per_view;
        let mut data: Vec<f32> = Vec::with_capacity(len);
        data.spare_capacity_mut()[..len].par_chunks_mut(per_view.max(1)).zip(views).for_each(
            |(block, view)| {
                for (out, frame) in block.chunks_mut((h * w * 3).max(1)).zip(view) {
                    for (out, rgb) in out.chunks_exact_mut(3).zip(frame.data.chunks_exact(3)) {
                        for ((out, &value), table) in out.iter_mut().zip(rgb).zip(&table) {
                            out.write(table[value as usize]);
                        }
                    }
                }
            },
        );
        // SAFETY: every view has `t` frames of `h · w · 3` values (asserted above), so the views'
        // blocks, each written whole, cover all `len` values.
        unsafe { data.set_len(len) };
        Ok(Tensor::from_vec(data, (views.len(), t, h, w, 3), device)?)
    }

    /// Views `range`, which must lie within them and share one clip shape: `prepare` makes them
    /// so, but the fields are public and views built by hand may differ.
    fn alike(&self, range: std::ops::Range<usize>) -> Result<&[Vec<RgbFrame>]> {
        let fail = |what: String| -> crate::Error { candle_core::Error::Msg(what).into() };
        let count = self.frames.len();
        let views =
            self.frames.get(range.clone()).ok_or_else(|| fail(format!("views {range:?} of {count}")))?;
        let (t, h, w) = clip_shape(views);
        let alike = |f: &RgbFrame| f.height == h && f.width == w && f.data.len() == h * w * 3;
        if !views.iter().all(|v| v.len() == t && v.iter().all(alike)) {
            return Err(fail("the views differ in length or in frame size".into()));
        }
        Ok(views)
    }
}

/// Frames a view and their height and width, read from the first view's first frame (zeros when
/// there is none).
fn clip_shape(views: &[Vec<RgbFrame>]) -> (usize, usize, usize) {
    let t = views.first().map_or(0, |v| v.len());
    let (h, w) = views.first().and_then(|v| v.first()).map_or((0, 0), |f| (f.height, f.width));
    (t, h, w)
}

fn apply_window(frame: &RgbFrame, window: &CropWindow) -> RgbFrame {
    let cropped = frame.cropped(window.left, window.top, window.size, window.size);
    if window.flip { cropped.flipped_horizontally() } else { cropped }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame whose every pixel is (value, value + 1, value + 2).
    fn frame(w: usize, h: usize, value: u8) -> RgbFrame {
        RgbFrame::new(w, h, (0..w * h).flat_map(|_| [value, value + 1, value + 2]).collect())
    }

    #[test]
    fn views_built_by_hand_that_differ_are_errors() {
        let norm = Normalize { mean: [0.0; 3], std: [1.0; 3] };
        let tensors = |views: &Views, range: std::ops::Range<usize>| {
            let ncthw = views.tensor(range.clone(), &norm, Layout::Ncthw, &Device::Cpu);
            let last = views.channels_last(range, &norm, &Device::Cpu);
            [ncthw.map(|_| ()), last.map(|_| ())].map(|r| r.unwrap_err().to_string())
        };
        let sizes = Views { frames: vec![vec![frame(6, 4, 0)], vec![frame(4, 4, 0)]] };
        assert!(tensors(&sizes, 0..2).iter().all(|e| e.contains("differ in length or in frame size")));
        let lengths = Views { frames: vec![vec![frame(4, 4, 0)], vec![frame(4, 4, 0); 2]] };
        assert!(tensors(&lengths, 0..2).iter().all(|e| e.contains("differ in length or in frame size")));
        assert!(tensors(&lengths, 0..5).iter().all(|e| e.contains("views 0..5 of 2")));
        // Each view alone is fine.
        assert!(lengths.tensor(1..2, &norm, Layout::Ncthw, &Device::Cpu).is_ok());
    }

    #[test]
    fn views_are_crop_major_and_normalised() {
        let clips = vec![vec![frame(6, 4, 10), frame(6, 4, 20)], vec![frame(6, 4, 30), frame(6, 4, 40)]];
        let views = Views::from_clips(&clips, Crop { kind: CropKind::Three, size: 4 }).unwrap();
        assert_eq!(views.len(), 6);
        // view 1 = crop 0 of clip 1, view 2 = crop 1 of clip 0.
        assert_eq!(views.frames[1][0].data[0], 30);
        assert_eq!(views.frames[2][1].data[0], 20);

        let norm = Normalize { mean: [10.0, 0.0, 0.0], std: [2.0, 1.0, 1.0] };
        let t = views.tensor(0..6, &norm, Layout::Ncthw, &Device::Cpu).unwrap();
        assert_eq!(t.dims(), [6, 3, 2, 4, 4]);
        let values = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let at = |v: usize, c: usize, ti: usize, y: usize, x: usize| {
            values[(((v * 3 + c) * 2 + ti) * 4 + y) * 4 + x]
        };
        // View 1 is crop 0 of clip 1: frame 1 has value 40 → (40 - 10) / 2; its blue channel is 32.
        assert_eq!(at(1, 0, 1, 0, 0), 15.0);
        assert_eq!(at(1, 2, 0, 3, 3), 32.0);

        let flat = views.tensor(0..2, &norm, Layout::Nchw, &Device::Cpu).unwrap();
        assert_eq!(flat.dims(), [4, 3, 4, 4]);
        // Image 3 is view 1, frame 1.
        assert_eq!(flat.flatten_all().unwrap().to_vec1::<f32>().unwrap()[3 * 48], 15.0);

        // Channels-last: the same values as the channels-first tensor, transposed, for any range.
        let last = views.channels_last(1..5, &norm, &Device::Cpu).unwrap();
        assert_eq!(last.dims(), [4, 2, 4, 4, 3]);
        let want = t.narrow(0, 1, 4).unwrap().permute((0, 2, 3, 4, 1)).unwrap();
        let diff = (last - want).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
        assert_eq!(diff.to_scalar::<f32>().unwrap(), 0.0);
    }
}
