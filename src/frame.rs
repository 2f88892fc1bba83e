//! An RGB picture in memory: the unit that flows from the decoder to the transforms.
//!
//! Frames are 8-bit, interleaved RGB (`HWC`), tightly packed: FFmpeg's padded rows are
//! copied out row by row when a frame is made, so everything downstream can index
//! `data[(y * width + x) * 3 + c]` without knowing where the pixels came from.

/// An 8-bit interleaved RGB image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbFrame {
    pub width: usize,
    pub height: usize,
    /// `height * width * 3` bytes, row-major, RGB.
    pub data: Vec<u8>,
}

impl RgbFrame {
    /// Wraps packed RGB bytes.
    ///
    /// # Panics
    ///
    /// If `data.len()` is not `width * height * 3`.
    pub fn new(width: usize, height: usize, data: Vec<u8>) -> Self {
        assert_eq!(data.len(), width * height * 3, "RGB buffer does not match {width}x{height}");
        RgbFrame { width, height, data }
    }

    /// The three channel values of pixel (`x`, `y`).
    pub fn pixel(&self, x: usize, y: usize) -> [u8; 3] {
        let i = (y * self.width + x) * 3;
        [self.data[i], self.data[i + 1], self.data[i + 2]]
    }

    /// Rotates clockwise by a multiple of 90 degrees, as FFmpeg's autorotation does
    /// (`transpose=clock`, `hflip,vflip`, `transpose=cclock`).
    pub fn rotated_clockwise(&self, degrees: u32) -> RgbFrame {
        let (w, h) = (self.width, self.height);
        match degrees % 360 {
            90 => self.remap(h, w, |x, y| (y, h - 1 - x)),
            180 => self.remap(w, h, |x, y| (w - 1 - x, h - 1 - y)),
            270 => self.remap(h, w, |x, y| (w - 1 - y, x)),
            _ => self.clone(),
        }
    }

    /// Mirrors left to right.
    pub fn flipped_horizontally(&self) -> RgbFrame {
        let w = self.width;
        self.remap(w, self.height, |x, y| (w - 1 - x, y))
    }

    /// The `width`×`height` window whose top-left corner is (`left`, `top`).
    pub fn cropped(&self, left: usize, top: usize, width: usize, height: usize) -> RgbFrame {
        assert!(left + width <= self.width && top + height <= self.height, "crop outside the frame");
        let mut data = Vec::with_capacity(width * height * 3);
        for y in top..top + height {
            let start = (y * self.width + left) * 3;
            data.extend_from_slice(&self.data[start..start + width * 3]);
        }
        RgbFrame { width, height, data }
    }

    /// Builds a `width`×`height` frame whose pixel (x, y) is this frame's pixel `source(x, y)`.
    fn remap(
        &self,
        width: usize,
        height: usize,
        source: impl Fn(usize, usize) -> (usize, usize),
    ) -> RgbFrame {
        let mut data = Vec::with_capacity(width * height * 3);
        for y in 0..height {
            for x in 0..width {
                let (sx, sy) = source(x, y);
                data.extend_from_slice(&self.pixel(sx, sy));
            }
        }
        RgbFrame { width, height, data }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3×2 frame whose red channel numbers the pixels 0..6 in row-major order.
    fn numbered() -> RgbFrame {
        let data = (0..6u8).flat_map(|i| [i, 0, 0]).collect();
        RgbFrame::new(3, 2, data)
    }

    fn reds(f: &RgbFrame) -> Vec<u8> {
        f.data.chunks(3).map(|p| p[0]).collect()
    }

    #[test]
    fn rotations_move_pixels_like_ffmpeg_transpose() {
        // 0 1 2        clockwise 90:  3 0      180: 5 4 3     270: 2 5
        // 3 4 5                       4 1           2 1 0          1 4
        //                             5 2                          0 3
        let f = numbered();
        let r90 = f.rotated_clockwise(90);
        assert_eq!((r90.width, r90.height), (2, 3));
        assert_eq!(reds(&r90), [3, 0, 4, 1, 5, 2]);
        assert_eq!(reds(&f.rotated_clockwise(180)), [5, 4, 3, 2, 1, 0]);
        assert_eq!(reds(&f.rotated_clockwise(270)), [2, 5, 1, 4, 0, 3]);
        assert_eq!(f.rotated_clockwise(360), f);
    }

    #[test]
    fn flip_and_crop() {
        let f = numbered();
        assert_eq!(reds(&f.flipped_horizontally()), [2, 1, 0, 5, 4, 3]);
        assert_eq!(reds(&f.cropped(1, 0, 2, 2)), [1, 2, 4, 5]);
    }
}
