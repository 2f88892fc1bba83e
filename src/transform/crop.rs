//! `CenterCrop`, `ThreeCrop` and `TenCrop` with mmaction2's offsets and view order.
//!
//! The offsets are integer divisions of the slack (`(W - c) // 2`, `// 4`), so for odd slack the
//! "right" crop of `ThreeCrop` is not flush with the border. The order of the windows is part of
//! the contract: views are laid out crop-major, and view averaging does not care, but the dumped
//! input tensor and `--views` reporting do.

use super::{Crop, CropKind};
use crate::error::{Error, Result};

/// One crop window on a frame of known size, optionally mirrored afterwards.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CropWindow {
    pub left: usize,
    pub top: usize,
    pub size: usize,
    /// Mirror the crop left to right (`TenCrop`'s second view of each window).
    pub flip: bool,
}

/// The crop windows for a `width`×`height` frame, in mmaction2's order.
pub fn crop_windows(width: usize, height: usize, crop: Crop) -> Result<Vec<CropWindow>> {
    let size = crop.size;
    if size == 0 || size > width || size > height {
        return Err(Error::Usage(format!("a {size}-pixel crop does not fit a {width}x{height} frame")));
    }
    let window = |left, top, flip| CropWindow { left, top, size, flip };
    Ok(match crop.kind {
        CropKind::Center => vec![window((width - size) / 2, (height - size) / 2, false)],
        CropKind::Three => {
            // ThreeCrop asserts that the crop spans one full side; landscape is checked first.
            if size == height {
                let step = (width - size) / 2;
                vec![window(0, 0, false), window(2 * step, 0, false), window(step, 0, false)]
            } else if size == width {
                let step = (height - size) / 2;
                vec![window(0, 0, false), window(0, 2 * step, false), window(0, step, false)]
            } else {
                return Err(Error::Usage(format!(
                    "three-crop needs the crop ({size}) to equal the short side of the resized \
                     {width}x{height} frame"
                )));
            }
        }
        CropKind::Ten => {
            let (w_step, h_step) = ((width - size) / 4, (height - size) / 4);
            let corners = [
                (0, 0),
                (4 * w_step, 0),
                (0, 4 * h_step),
                (4 * w_step, 4 * h_step),
                (2 * w_step, 2 * h_step),
            ];
            corners.into_iter().flat_map(|(x, y)| [window(x, y, false), window(x, y, true)]).collect()
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lefts(w: usize, h: usize, kind: CropKind, size: usize) -> Vec<(usize, usize, bool)> {
        crop_windows(w, h, Crop { kind, size }).unwrap().iter().map(|c| (c.left, c.top, c.flip)).collect()
    }

    #[test]
    fn three_crop_is_left_right_middle_and_not_flush_for_odd_slack() {
        // 455 - 256 = 199, step 99: right crop starts at 198, one pixel short of flush.
        assert_eq!(lefts(455, 256, CropKind::Three, 256), [(0, 0, false), (198, 0, false), (99, 0, false)]);
        assert_eq!(lefts(256, 455, CropKind::Three, 256), [(0, 0, false), (0, 198, false), (0, 99, false)]);
        assert_eq!(lefts(256, 256, CropKind::Three, 256), [(0, 0, false); 3]);
        assert!(crop_windows(340, 256, Crop { kind: CropKind::Three, size: 224 }).is_err());
    }

    #[test]
    fn center_crop_floors() {
        assert_eq!(lefts(341, 256, CropKind::Center, 224), [(58, 16, false)]);
    }

    #[test]
    fn ten_crop_corners_centre_and_flips() {
        // 340 - 224 = 116 → step 29; 256 - 224 = 32 → step 8.
        let got = lefts(340, 256, CropKind::Ten, 224);
        let corners = [(0, 0), (116, 0), (0, 32), (116, 32), (58, 16)];
        let expected: Vec<_> = corners.iter().flat_map(|&(x, y)| [(x, y, false), (x, y, true)]).collect();
        assert_eq!(got, expected);
    }

    #[test]
    fn crop_larger_than_frame_is_an_error() {
        assert!(crop_windows(200, 150, Crop { kind: CropKind::Center, size: 224 }).is_err());
    }
}
