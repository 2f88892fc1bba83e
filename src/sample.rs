//! Which frames a model sees: mmaction2's `SampleFrames` in test mode, as pure index maths.
//!
//! The reference samples by frame *index* (not timestamp), so the plan only needs the number of
//! decodable frames. Parity depends on the exact float64 formulas and rounding, which is why they
//! are spelled out here rather than "simplified" (see anchors §4.2 and pitfalls 6–7).

use serde::{Deserialize, Serialize};

/// `SampleFrames(clip_len, frame_interval, num_clips, test_mode=True)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SampleFrames {
    /// Frames per clip (`clip_len`); 1 selects the 2-D (TSN) segment formula.
    pub clip_len: usize,
    /// Distance between consecutive frames of a clip (`frame_interval`).
    pub frame_interval: usize,
    /// Number of clips spread over the video (`num_clips`).
    pub num_clips: usize,
}

/// What to do with indices past the last frame (`out_of_bound_opt`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutOfBound {
    /// Wrap around: index `i` becomes `i mod N` (mmaction2's default, used by every zoo config).
    #[default]
    Loop,
    /// Replace with the clip's last in-range index.
    RepeatLast,
}

impl SampleFrames {
    /// Frames one clip spans in test mode: `(clip_len - 1) * frame_interval + 1`.
    pub fn clip_span(&self) -> usize {
        (self.clip_len.max(1) - 1) * self.frame_interval + 1
    }

    /// The frame indices of every clip, `num_clips` rows of `clip_len` indices, for a video of
    /// `total_frames` frames. Indices past the end wrap around as mmaction2's default does.
    pub fn frame_indices(&self, total_frames: usize) -> Vec<Vec<usize>> {
        self.frame_indices_with(total_frames, OutOfBound::Loop)
    }

    /// [`Self::frame_indices`] with an explicit out-of-bound rule.
    pub fn frame_indices_with(&self, total_frames: usize, out_of_bound: OutOfBound) -> Vec<Vec<usize>> {
        assert!(total_frames > 0, "a video without frames has no sampling plan");
        let clips = self.clip_offsets(total_frames).into_iter().map(|offset| {
            (0..self.clip_len.max(1)).map(|j| offset + j * self.frame_interval).collect::<Vec<_>>()
        });
        clips
            .map(|clip| match out_of_bound {
                OutOfBound::Loop => clip.into_iter().map(|i| i % total_frames).collect(),
                OutOfBound::RepeatLast => {
                    // mmaction2 takes max(in_range * index), so a clip with no in-range index repeats 0.
                    let last = clip.iter().copied().filter(|&i| i < total_frames).max().unwrap_or(0);
                    clip.into_iter().map(|i| if i < total_frames { i } else { last }).collect()
                }
            })
            .collect()
    }

    /// The first frame of every clip (`_get_test_clips`), before wrapping.
    fn clip_offsets(&self, total_frames: usize) -> Vec<usize> {
        let k = self.num_clips.max(1);
        if self.clip_len <= 1 {
            // 2-D (TSN) segments: the middle of each of K equal parts, truncated after a float64 mod N.
            let avg = total_frames as f64 / k as f64;
            return (0..k)
                .map(|i| {
                    let offset = i as f64 * avg + avg / 2.0;
                    (offset % total_frames as f64) as usize
                })
                .collect();
        }
        let max_offset = total_frames.saturating_sub(self.clip_span());
        if k == 1 {
            return vec![max_offset / 2];
        }
        let between = max_offset as f64 / (k - 1) as f64;
        // np.round rounds half to even.
        (0..k).map(|i| (i as f64 * between).round_ties_even() as usize).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(clip_len: usize, frame_interval: usize, num_clips: usize) -> SampleFrames {
        SampleFrames { clip_len, frame_interval, num_clips }
    }

    fn starts(p: SampleFrames, n: usize) -> Vec<usize> {
        p.frame_indices(n).iter().map(|c| c[0]).collect()
    }

    // Worked examples of anchors.md §4.2, computed by hand from mmaction2's formulas.
    #[test]
    fn slowfast_test_protocol_on_300_frames() {
        let p = plan(32, 2, 10);
        assert_eq!(starts(p, 300), [0, 26, 53, 79, 105, 132, 158, 184, 211, 237]);
        assert_eq!(p.frame_indices(300)[0], (0..64).step_by(2).collect::<Vec<_>>());
    }

    #[test]
    fn round_half_to_even_offsets() {
        // max_offset = 300 - 49 = 251, step 251/9 = 27.888…; 4x16: 139.44 → 139.
        assert_eq!(starts(plan(4, 16, 10), 300), [0, 28, 56, 84, 112, 139, 167, 195, 223, 251]);
        // max_offset = 5, two clips... 3 clips: step 2.5 → offsets 0, 2.5 → 2 (even), 5.
        assert_eq!(starts(plan(2, 1, 3), 7), [0, 2, 5]);
        // step 3.5: 0, 3.5 → 4, 7.
        assert_eq!(starts(plan(2, 1, 3), 9), [0, 4, 7]);
    }

    #[test]
    fn single_clip_is_centred_with_floor() {
        assert_eq!(plan(32, 2, 1).frame_indices(100), vec![(18..81).step_by(2).collect::<Vec<_>>()]);
        // max_offset = 101 - 63 = 38 → 19.
        assert_eq!(starts(plan(32, 2, 1), 101), [19]);
    }

    #[test]
    fn short_videos_loop() {
        let clips = plan(32, 2, 10).frame_indices(50);
        assert!(clips.iter().all(|c| c == &clips[0]));
        let expected: Vec<usize> = (0..32).map(|j| (j * 2) % 50).collect();
        assert_eq!(clips[0], expected);
        assert_eq!(&clips[0][25..], [0, 2, 4, 6, 8, 10, 12]);
    }

    #[test]
    fn repeat_last_keeps_the_clips_last_valid_frame() {
        let clips = plan(4, 4, 1).frame_indices_with(10, OutOfBound::RepeatLast);
        assert_eq!(clips, vec![vec![0, 4, 8, 8]]);
    }

    #[test]
    fn tsn_segments_truncate() {
        let p = plan(1, 1, 25);
        let expected: Vec<usize> = (0..25).map(|k| 12 * k + 6).collect();
        assert_eq!(starts(p, 300), expected);
        assert_eq!(
            starts(p, 10),
            [0, 0, 1, 1, 1, 2, 2, 3, 3, 3, 4, 4, 5, 5, 5, 6, 6, 7, 7, 7, 8, 8, 9, 9, 9]
        );
        assert_eq!(starts(plan(1, 1, 8), 280), [17, 52, 87, 122, 157, 192, 227, 262]);
    }

    #[test]
    fn one_frame_video() {
        assert_eq!(plan(4, 2, 2).frame_indices(1), vec![vec![0; 4], vec![0; 4]]);
        assert_eq!(plan(1, 1, 3).frame_indices(1), vec![vec![0], vec![0], vec![0]]);
    }
}
