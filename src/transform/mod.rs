//! From decoded RGB frames to the normalised tensor a model takes, exactly as mmaction2 builds it.

use serde::{Deserialize, Serialize};

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
pub struct Crop {
    pub kind: CropKind,
    pub size: usize,
}

/// Per-channel RGB normalisation `(x - mean) / std` applied to 0..255 pixel values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Normalize {
    pub mean: [f32; 3],
    pub std: [f32; 3],
}
