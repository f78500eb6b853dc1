//! Pictures for the demos: a colour map and a PNG writer, shared by
//! `examples/nbody` and `examples/stencil` through `#[path]`.

#![allow(dead_code)] // each demo uses its own part

use std::fs::File;
use std::io::BufWriter;
use std::path::Path;

/// An image in the [`inferno`] colour map, 256 levels, row-major, top row
/// first. Saved as an indexed PNG: a third of the size of RGB.
pub struct Picture {
    pub width: u32,
    pub height: u32,
    levels: Vec<u8>,
}

impl Picture {
    /// A black picture (level 0).
    pub fn new(width: u32, height: u32) -> Picture {
        Picture {
            width,
            height,
            levels: vec![0; (width * height) as usize],
        }
    }

    /// Sets one pixel to the colour of `t` in [0, 1] (clamped); outside
    /// the picture, nothing.
    pub fn set(&mut self, x: u32, y: u32, t: f64) {
        if x < self.width && y < self.height {
            let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
            self.levels[(y * self.width + x) as usize] = (t * 255.0).round() as u8;
        }
    }

    /// Writes an 8-bit indexed PNG with the colour map as its palette.
    ///
    /// # Errors
    /// The file cannot be created or written.
    pub fn save(&self, path: &Path) -> Result<(), String> {
        let fail = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
        let file = File::create(path).map_err(|e| fail(&e))?;
        let mut encoder = png::Encoder::new(BufWriter::new(file), self.width, self.height);
        encoder.set_color(png::ColorType::Indexed);
        encoder.set_depth(png::BitDepth::Eight);
        let palette: Vec<u8> = (0..=255u8)
            .flat_map(|level| inferno(f64::from(level) / 255.0))
            .collect();
        encoder.set_palette(palette);
        let mut writer = encoder.write_header().map_err(|e| fail(&e))?;
        writer
            .write_image_data(&self.levels)
            .map_err(|e| fail(&e))?;
        writer.finish().map_err(|e| fail(&e))
    }
}

/// A dark-to-bright colour map (black, violet, red, orange, pale yellow,
/// close to matplotlib's "inferno"): brightness grows monotonically with `t`
/// in [0, 1], so it reads in grey too. Values outside are clamped.
pub fn inferno(t: f64) -> [u8; 3] {
    const STOPS: [[f64; 3]; 6] = [
        [0.0, 0.0, 4.0],
        [40.0, 11.0, 84.0],
        [101.0, 21.0, 110.0],
        [188.0, 55.0, 84.0],
        [249.0, 142.0, 9.0],
        [252.0, 255.0, 164.0],
    ];
    let t = if t.is_nan() { 0.0 } else { t.clamp(0.0, 1.0) };
    let scaled = t * (STOPS.len() - 1) as f64;
    let i = (scaled.floor() as usize).min(STOPS.len() - 2);
    let f = scaled - i as f64;
    [0, 1, 2].map(|c| (STOPS[i][c] + f * (STOPS[i + 1][c] - STOPS[i][c])).round() as u8)
}

/// 3×5 pixel glyphs for the characters numbers are written with; each row
/// is 3 bits, most significant on the left.
fn glyph(c: char) -> Option<[u8; 5]> {
    Some(match c {
        '0' => [0b111, 0b101, 0b101, 0b101, 0b111],
        '1' => [0b010, 0b110, 0b010, 0b010, 0b111],
        '2' => [0b111, 0b001, 0b111, 0b100, 0b111],
        '3' => [0b111, 0b001, 0b111, 0b001, 0b111],
        '4' => [0b101, 0b101, 0b111, 0b001, 0b001],
        '5' => [0b111, 0b100, 0b111, 0b001, 0b111],
        '6' => [0b111, 0b100, 0b111, 0b101, 0b111],
        '7' => [0b111, 0b001, 0b010, 0b010, 0b010],
        '8' => [0b111, 0b101, 0b111, 0b101, 0b111],
        '9' => [0b111, 0b101, 0b111, 0b001, 0b111],
        '.' => [0b000, 0b000, 0b000, 0b000, 0b010],
        '-' => [0b000, 0b000, 0b111, 0b000, 0b000],
        '+' => [0b000, 0b010, 0b111, 0b010, 0b000],
        'e' => [0b000, 0b111, 0b111, 0b100, 0b111],
        ' ' => [0; 5],
        _ => return None,
    })
}

impl Picture {
    /// Writes `text` (digits, `.`, `-`, `+`, `e`, space) with its top-left
    /// corner at (x, y), each font pixel `scale` pixels wide, in the
    /// brightest colour. Characters without a glyph are skipped.
    pub fn text(&mut self, x: u32, y: u32, text: &str, scale: u32) {
        let mut left = x;
        for rows in text.chars().filter_map(glyph) {
            for (row, bits) in rows.iter().enumerate() {
                for column in 0..3u32 {
                    if bits & (0b100 >> column) != 0 {
                        for dy in 0..scale {
                            for dx in 0..scale {
                                self.set(
                                    left + column * scale + dx,
                                    y + row as u32 * scale + dy,
                                    1.0,
                                );
                            }
                        }
                    }
                }
            }
            left += 4 * scale;
        }
    }
}
