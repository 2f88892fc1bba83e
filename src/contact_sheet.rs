//! The PNG grid `vidclass inspect --contact-sheet` writes: every view's frames, labelled.
//!
//! One row per view (crop-major, as the model sees them), one column per frame of the clip, or,
//! for clips of one frame, one row per crop and a column per clip (the caller arranges the rows);
//! each tile captioned with the frame number and its time. Captions use a tiny built-in
//! bitmap font so the sheet needs no font files.

use std::path::Path;

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::transform::resize::resize_bilinear;

/// Largest tile edge in pixels; bigger crops are scaled down to keep sheets viewable.
const MAX_TILE: usize = 128;
/// Height of the caption band under each tile (7-pixel glyphs at scale 2, plus margins).
const CAPTION: usize = 18;
const GAP: usize = 2;

/// One tile of the sheet: a view's frame and its caption.
pub struct Tile<'a> {
    pub frame: &'a RgbFrame,
    pub caption: String,
}

/// Draws `rows` of tiles into a PNG at `path`.
pub fn write(path: &Path, rows: &[Vec<Tile>]) -> Result<()> {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let first = rows.iter().flatten().next().ok_or_else(|| Error::Usage("nothing to draw".into()))?;
    let scale = (MAX_TILE as f64 / first.frame.width.max(first.frame.height) as f64).min(1.0);
    let tile_w = ((first.frame.width as f64 * scale).round() as usize).max(1);
    let tile_h = ((first.frame.height as f64 * scale).round() as usize).max(1);
    let (cell_w, cell_h) = (tile_w + GAP, tile_h + CAPTION + GAP);
    let mut sheet = image::RgbImage::new((columns * cell_w + GAP) as u32, (rows.len() * cell_h + GAP) as u32);
    for (r, row) in rows.iter().enumerate() {
        for (c, tile) in row.iter().enumerate() {
            let small = resize_bilinear(tile.frame, tile_w, tile_h);
            let (x0, y0) = (GAP + c * cell_w, GAP + r * cell_h);
            for (i, px) in small.data.chunks_exact(3).enumerate() {
                let (x, y) = (x0 + i % tile_w, y0 + i / tile_w);
                sheet.put_pixel(x as u32, y as u32, image::Rgb([px[0], px[1], px[2]]));
            }
            draw_text(&mut sheet, x0, y0 + tile_h + 2, &tile.caption, tile_w);
        }
    }
    crate::writable::write_whole(path, |scratch| {
        sheet.save(scratch).map_err(|e| Error::io(path, std::io::Error::other(e)))
    })
}

/// Draws `text` in white within `width` pixels: at scale 2 where it fits, else at scale 1, and
/// characters that would still cross into the next tile are left out (a caption such as
/// `#10093 403.72s` is wider than a small tile). Characters without a glyph are left blank.
fn draw_text(img: &mut image::RgbImage, x: usize, y: usize, text: &str, width: usize) {
    // A character takes 6 columns of the scale (5 of glyph, 1 of space), the last one 5.
    let fits = |scale: usize| text.chars().count() * 6 * scale <= width + scale;
    let scale = if fits(2) { 2 } else { 1 };
    let shown = (width + scale) / (6 * scale);
    for (i, ch) in text.chars().take(shown).enumerate() {
        let Some(rows) = glyph(ch) else { continue };
        for (gy, bits) in rows.iter().enumerate() {
            for gx in 0..5 {
                if bits & (0b10000 >> gx) == 0 {
                    continue;
                }
                for (dx, dy) in (0..scale).flat_map(|dy| (0..scale).map(move |dx| (dx, dy))) {
                    let (px, py) = (x + i * 6 * scale + gx * scale + dx, y + gy * scale + dy);
                    if px < img.width() as usize && py < img.height() as usize {
                        img.put_pixel(px as u32, py as u32, image::Rgb([255, 255, 255]));
                    }
                }
            }
        }
    }
}

/// 5×7 glyphs, one byte per row, high bit on the left.
fn glyph(ch: char) -> Option<[u8; 7]> {
    Some(match ch {
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        's' => [0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        ' ' => [0; 7],
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sheet_has_one_cell_per_tile_and_keeps_pixels() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sheet.png");
        let red = RgbFrame::new(8, 8, [200u8, 10, 10].repeat(64));
        let blue = RgbFrame::new(8, 8, [10u8, 10, 200].repeat(64));
        let rows = vec![
            vec![
                Tile { frame: &red, caption: "#1 0.04s".into() },
                Tile { frame: &blue, caption: "#2".into() },
            ],
            vec![Tile { frame: &blue, caption: "#3".into() }],
        ];
        write(&path, &rows).unwrap();
        let img = image::open(&path).unwrap().to_rgb8();
        assert_eq!(
            img.dimensions(),
            (2 * (8 + GAP) as u32 + GAP as u32, 2 * (8 + CAPTION + GAP) as u32 + GAP as u32)
        );
        assert_eq!(img.get_pixel(GAP as u32 + 3, GAP as u32 + 3).0, [200, 10, 10]);
        assert_eq!(img.get_pixel((2 * GAP + 8) as u32 + 3, GAP as u32 + 3).0, [10, 10, 200]);
        // The caption band under the first tile has white glyph pixels.
        let band = (0..(8 + GAP) as u32)
            .flat_map(|x| (10..(8 + CAPTION) as u32).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == [255, 255, 255])
            .count();
        assert!(band > 10);
    }

    /// The white pixels' columns and rows in `img`.
    fn white(img: &image::RgbImage) -> Vec<(u32, u32)> {
        img.enumerate_pixels().filter(|(_, _, p)| p.0 == [255, 255, 255]).map(|(x, y, _)| (x, y)).collect()
    }

    #[test]
    fn captions_shrink_and_stop_at_their_tile() {
        // Fits at scale 2 (5 characters, 59 columns): glyphs 14 rows tall.
        let mut img = image::RgbImage::new(200, 20);
        draw_text(&mut img, 0, 0, "#1 2s", 60);
        let drawn = white(&img);
        assert!(drawn.iter().any(|&(_, y)| y >= 7) && drawn.iter().all(|&(x, _)| x < 60));
        // Too wide at scale 2, fits at scale 1: glyphs 7 rows tall.
        let mut img = image::RgbImage::new(200, 20);
        draw_text(&mut img, 0, 0, "#1093 43.72s", 72);
        let drawn = white(&img);
        assert!(drawn.iter().all(|&(x, y)| x < 72 && y < 7));
        assert!(drawn.iter().any(|&(x, _)| x >= 66), "the last character is drawn");
        // Too wide even at scale 1: only the characters that fit.
        let mut img = image::RgbImage::new(200, 20);
        draw_text(&mut img, 0, 0, "#1093 43.72s", 40);
        assert!(white(&img).iter().all(|&(x, _)| x < 40));
    }
}
