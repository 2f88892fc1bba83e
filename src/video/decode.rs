//! The second pass: decode exactly the frames a sampling plan asks for, as RGB.
//!
//! Frames are matched to the plan by presentation timestamp, which the index pass recorded
//! for every frame number, or, where timestamps cannot tell frames apart, by counting the frames
//! the decoder puts out from the start. Between two wanted frames the decoder either keeps going
//! or, when the next wanted frame starts at a later key frame, seeks straight to that key frame
//! (only on seekable inputs: seeking a pipe scrambles the demuxer; a seek the demuxer refuses or
//! lands past sends the decode back to a fresh input, read forward). Frames that are not wanted
//! and that no other frame refers to (most B-frames) are not decoded at all: the decoder is told
//! to skip non-reference frames for their packets. Only wanted frames are converted to RGB with
//! swscale, the conversion decord uses (anchors.md §10); the colour matrix and range follow the
//! frame's tags as FFmpeg's `scale` filter does. Every frame comes out at the stream's declared
//! size, as decord's frames all have one shape: a stream that changes resolution part way (joined
//! transport streams) has its other frames scaled to it, so the clips stay uniform.

use std::collections::{BTreeMap, HashMap};

use ffmpeg::Discard;
use ffmpeg::codec::packet::Mut as _;
use ffmpeg::ffi;
use ffmpeg::software::scaling;
use ffmpeg_next as ffmpeg;

use super::index::PacketIndex;
use super::source::UrlReads;
use crate::error::{Error, Result};
use crate::frame::RgbFrame;

/// Decoded frames by frame number, and how many wanted frames could not be decoded.
pub(crate) struct Decoded<T> {
    pub frames: BTreeMap<usize, T>,
    pub lost: usize,
}

/// Decoder state for one pass over one input.
pub(crate) struct FrameDecoder<'a> {
    pub input: ffmpeg::format::context::Input,
    pub stream_index: usize,
    pub decoder: ffmpeg::decoder::Video,
    pub index: &'a PacketIndex,
    /// The size every frame is converted to (width, height): the stream's, which `Video::open`
    /// checked is not zero.
    pub size: (u32, u32),
    pub name: &'a str,
    /// `Some` for a URL: a download that breaks off fails the decode.
    pub url: Option<UrlReads>,
    /// Whether to seek to key frames: false for the fresh input opened after a seek went wrong.
    pub may_seek: bool,
}

impl FrameDecoder<'_> {
    /// Decodes the frames numbered in `wanted` and hands each to `convert` as RGB. `None` when
    /// a seek went wrong (the demuxer refused it, or landed past the key frame): its read position
    /// is then unknown (a raw MJPEG stream's is at the end), so the caller decodes again from a
    /// fresh input without seeking.
    pub(crate) fn decode<T>(
        self,
        wanted: &[usize],
        mut convert: impl FnMut(RgbFrame) -> T,
    ) -> Result<Option<Decoded<T>>> {
        let FrameDecoder { mut input, stream_index, mut decoder, index, size, name, url, may_seek } = self;
        let mut frame_numbers: Vec<usize> = wanted.to_vec();
        frame_numbers.sort_unstable();
        frame_numbers.dedup();
        // Frames are found by timestamp, or by their number in the decoder's output (which
        // `frame_pts` then gives).
        let in_order = index.in_output_order;
        let targets: Vec<i64> = frame_numbers.iter().map(|&i| index.frame_pts(i)).collect();
        let starts: Vec<usize> = frame_numbers.iter().map(|&i| index.start_for(i)).collect();
        let position_of: HashMap<i64, usize> =
            index.packets.iter().enumerate().rev().map(|(d, p)| (p.pts, d)).collect();

        let mut matcher = Matcher { targets: &targets, next: 0, lost: 0 };
        let mut found = BTreeMap::new();
        let mut scaler = Scaler::default();
        // Frames put out so far, and packets the decoder refused (each would have been one).
        let frames_out = std::cell::Cell::new(0i64);
        let mut on_frame = |frame: &ffmpeg::frame::Video, matcher: &mut Matcher| -> Result<()> {
            let key = if in_order { Some(frames_out.get()) } else { frame.timestamp() };
            frames_out.set(frames_out.get() + 1);
            if let Some(slot) = key.and_then(|key| matcher.offer(key)) {
                let rgb = scaler.convert(frame, size).map_err(|e| Error::video(name, e))?;
                found.insert(frame_numbers[slot], convert(rgb));
            }
            Ok(())
        };

        // Numbering by output order counts every frame from the first.
        let can_seek = may_seek && !in_order && is_seekable(&input);
        let mut last_position: Option<usize> = None;
        // Key frames are sought in increasing order only: a demuxer that lands early is simply
        // decoded forward from there, never asked again.
        let mut last_seek: Option<usize> = None;
        // After a seek, the decode position the demuxer is expected to land at or before.
        let mut landing: Option<usize> = None;
        let mut frame = ffmpeg::frame::Video::empty();
        let mut packet = ffmpeg::Packet::empty();
        while matcher.next < targets.len() {
            let start = starts[matcher.next];
            let here = last_position.map_or(0, |d| d + 1);
            if can_seek && start > here && last_seek.is_none_or(|s| start > s) {
                drain(&mut decoder, &mut frame, &mut matcher, &mut on_frame)?;
                last_seek = Some(start);
                if !seek_to_packet(&mut input, stream_index, index, start) {
                    return Ok(None);
                }
                landing = Some(start);
                last_position = start.checked_sub(1);
                continue;
            }
            match packet.read(&mut input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(ffmpeg::Error::InvalidData) => continue,
                Err(e) => match url {
                    Some(url) => return Err(Error::video(name, url.read_failed(&e))),
                    None => break,
                },
            }
            if packet.stream() != stream_index {
                continue;
            }
            let position = packet.pts().and_then(|ts| position_of.get(&ts)).filter(|_| !in_order);
            if let Some(&d) = position {
                if landing.take().is_some_and(|expected| d > expected) {
                    // The demuxer overshot the key frame (imprecise index).
                    return Ok(None);
                }
                last_position = Some(d);
            }
            // A packet whose frame is not wanted is decoded only if it is a reference frame
            // (the decoder tells from the bitstream). Packets without a timestamp are decoded.
            let wanted = in_order || packet.pts().is_none_or(|ts| targets.binary_search(&ts).is_ok());
            decoder.skip_frame(if wanted { Discard::Default } else { Discard::NonReference });
            // An MP4 edit list that starts mid-GOP marks the frames before its start for discarding,
            // and FFmpeg's decoder then drops them; but they are frames of the index (decord counts
            // their packets), so they are decoded like the others.
            // SAFETY: `packet` holds a packet just read; only its flags change.
            unsafe { (*packet.as_mut_ptr()).flags &= !ffi::AV_PKT_FLAG_DISCARD };
            // Corrupt packets are skipped; frames they held count as lost (numbered in output
            // order, the refused packet's frame keeps its number, so later frames keep theirs).
            if decoder.send_packet(&packet).is_ok() {
                while decoder.receive_frame(&mut frame).is_ok() {
                    on_frame(&frame, &mut matcher)?;
                }
            } else if in_order {
                frames_out.set(frames_out.get() + 1);
            }
        }
        drain(&mut decoder, &mut frame, &mut matcher, &mut on_frame)?;
        let lost = matcher.lost + (targets.len() - matcher.next);
        Ok(Some(Decoded { frames: found, lost }))
    }
}

/// Flushes frames still inside the decoder, then resets it for more packets.
fn drain(
    decoder: &mut ffmpeg::decoder::Video,
    frame: &mut ffmpeg::frame::Video,
    matcher: &mut Matcher,
    on_frame: &mut impl FnMut(&ffmpeg::frame::Video, &mut Matcher) -> Result<()>,
) -> Result<()> {
    if decoder.send_eof().is_ok() {
        while decoder.receive_frame(frame).is_ok() {
            on_frame(frame, matcher)?;
        }
    }
    decoder.flush();
    Ok(())
}

/// Seeks the demuxer to the key frame at decode position `position`; false if it refused.
fn seek_to_packet(
    input: &mut ffmpeg::format::context::Input,
    stream_index: usize,
    index: &PacketIndex,
    position: usize,
) -> bool {
    let ts = index.packets[position].pts;
    // SAFETY: the context pointer is valid for the lifetime of `input`; seeking with a stream
    // index takes timestamps in that stream's time base and lands at or before `ts` (demuxers
    // that index by decode time may land a key frame early, which only costs decoding).
    let status =
        unsafe { ffi::avformat_seek_file(input.as_mut_ptr(), stream_index as i32, i64::MIN, ts, ts, 0) };
    status >= 0
}

/// Pairs decoded frames, which arrive in presentation order, with the wanted timestamps.
struct Matcher<'t> {
    targets: &'t [i64],
    next: usize,
    lost: usize,
}

impl Matcher<'_> {
    /// The slot of the wanted frame with timestamp `ts`, if it is the next one wanted. Wanted
    /// timestamps the decoder went past without producing are counted as lost.
    fn offer(&mut self, ts: i64) -> Option<usize> {
        while self.next < self.targets.len() && self.targets[self.next] < ts {
            self.lost += 1;
            self.next += 1;
        }
        if self.next < self.targets.len() && self.targets[self.next] == ts {
            self.next += 1;
            return Some(self.next - 1);
        }
        None
    }
}

fn is_seekable(input: &ffmpeg::format::context::Input) -> bool {
    // SAFETY: reading the `pb` field of a valid, opened format context.
    unsafe {
        let pb = (*input.as_ptr()).pb;
        !pb.is_null() && (*pb).seekable != 0
    }
}

/// What a swscale context was built for: pixel format, input and output size, colour matrix and
/// range.
type ScalerKey = (ffmpeg::format::Pixel, u32, u32, u32, u32, i32, i32);

/// swscale to packed RGB24, rebuilt when the frame format or the size changes.
#[derive(Default)]
struct Scaler {
    context: Option<(scaling::Context, ScalerKey)>,
}

impl Scaler {
    /// Converts `frame` to RGB at `size`.
    fn convert(
        &mut self,
        frame: &ffmpeg::frame::Video,
        size: (u32, u32),
    ) -> std::result::Result<RgbFrame, String> {
        let (format, width, height) = (frame.format(), frame.width(), frame.height());
        if format == ffmpeg::format::Pixel::None || width == 0 || height == 0 {
            return Err("decoder produced a frame without pixel format or size".into());
        }
        let (out_width, out_height) = size;
        // SAFETY: reading plain fields of a valid frame.
        let (space, range) =
            unsafe { ((*frame.as_ptr()).colorspace as i32, (*frame.as_ptr()).color_range as i32) };
        let key = (format, width, height, out_width, out_height, space, range);
        if self.context.as_ref().is_none_or(|(_, k)| *k != key) {
            let mut context = scaling::Context::get(
                format,
                width,
                height,
                ffmpeg::format::Pixel::RGB24,
                out_width,
                out_height,
                scaling::Flags::BILINEAR,
            )
            .map_err(|e| format!("cannot convert {format:?} to RGB: {e}"))?;
            set_colorspace(&mut context, space, range);
            self.context = Some((context, key));
        }
        let (context, _) = self.context.as_mut().expect("scaler was just built");
        let mut rgb = ffmpeg::frame::Video::empty();
        context.run(frame, &mut rgb).map_err(|e| format!("RGB conversion failed: {e}"))?;
        let (w, h, stride) = (out_width as usize, out_height as usize, rgb.stride(0));
        let plane = rgb.data(0);
        let mut data = Vec::with_capacity(w * h * 3);
        for y in 0..h {
            data.extend_from_slice(&plane[y * stride..y * stride + w * 3]);
        }
        Ok(RgbFrame::new(w, h, data))
    }
}

/// Uses the frame's colour matrix and range, as FFmpeg's `scale` filter does with its default
/// `in_color_matrix=auto` (untagged video falls back to BT.601, swscale's default).
fn set_colorspace(context: &mut scaling::Context, space: i32, range: i32) {
    // SAFETY: the swscale context is valid; the coefficient tables are static in libswscale.
    unsafe {
        let ctx = context.as_mut_ptr();
        let (mut inv_table, mut src_full, mut table, mut dst_full) =
            (std::ptr::null_mut(), 0, std::ptr::null_mut(), 0);
        let (mut brightness, mut contrast, mut saturation) = (0, 0, 0);
        if ffi::sws_getColorspaceDetails(
            ctx,
            &mut inv_table,
            &mut src_full,
            &mut table,
            &mut dst_full,
            &mut brightness,
            &mut contrast,
            &mut saturation,
        ) < 0
        {
            return;
        }
        let coefficients = ffi::sws_getCoefficients(space);
        if range != ffi::AVColorRange::AVCOL_RANGE_UNSPECIFIED as i32 {
            src_full = (range == ffi::AVColorRange::AVCOL_RANGE_JPEG as i32) as i32;
        }
        ffi::sws_setColorspaceDetails(
            ctx,
            coefficients,
            src_full,
            coefficients,
            dst_full,
            brightness,
            contrast,
            saturation,
        );
    }
}
