//! Which frames a model sees: mmaction2's `SampleFrames` in test mode, as pure index maths.
//!
//! The reference samples by frame *index* (not timestamp), so the plan only needs the number of
//! decodable frames. Parity depends on the exact float64 formulas and rounding, which is why they
//! are spelled out here rather than "simplified" (see anchors §4.2 and pitfalls 6–7).

use serde::{Deserialize, Serialize};

/// `SampleFrames(clip_len, frame_interval, num_clips, test_mode=True)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SampleFrames {
    /// Frames per clip (`clip_len`); 1 selects the 2-D (TSN) segment formula.
    pub clip_len: usize,
    /// Distance between consecutive frames of a clip (`frame_interval`).
    pub frame_interval: usize,
    /// Number of clips spread over the video (`num_clips`).
    pub num_clips: usize,
}
