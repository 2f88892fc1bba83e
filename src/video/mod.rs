//! Video input through FFmpeg: open anything FFmpeg reads, count frames as decord does, and
//! decode only the frames a sampling plan needs, upright and in RGB.
//!
//! A [`Video`] is opened in one pass that reads the container's packets without decoding
//! them (module `index`); [`Video::decode`] then decodes the wanted frame numbers (module `decode`),
//! applies the stream's rotation, and hands each frame to a caller's function, so a
//! pipeline can shrink a 1080p frame to 256 pixels before the next one is decoded.

mod decode;
mod index;
mod segments;
mod source;
mod tls;

pub use segments::print_log_lines_with;

use std::collections::BTreeMap;
use std::time::Duration;

use ffmpeg_next as ffmpeg;

use crate::error::{Error, Result};
use crate::frame::RgbFrame;
use crate::inputs::Input;
use index::PacketIndex;
use source::Reopenable;

/// How much of FFmpeg's own logging reaches stderr.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FfmpegLog {
    /// Nothing (the `vidclass` binary's choice without `-v`: it reports problems itself).
    Quiet,
    /// FFmpeg's errors and warnings (`-v`).
    Warnings,
    /// What FFmpeg says at its verbose level and above (`-vv`): which decoder and pixel format
    /// each stream gets, bytes read, and so on.
    Verbose,
    /// Everything, FFmpeg's debugging output included (`-vvv`: a lot per frame).
    Debug,
}

/// Initialises FFmpeg once per process and sets its log level, which is the whole process's
/// (FFmpeg's own default prints its warnings and notices on stderr). [`Video::open`] initialises
/// FFmpeg itself where this was not called, and then leaves the log level as it is.
pub fn init(log: FfmpegLog) {
    initialise_once();
    ffmpeg::util::log::set_level(match log {
        FfmpegLog::Quiet => ffmpeg::util::log::Level::Quiet,
        FfmpegLog::Warnings => ffmpeg::util::log::Level::Warning,
        FfmpegLog::Verbose => ffmpeg::util::log::Level::Verbose,
        FfmpegLog::Debug => ffmpeg::util::log::Level::Debug,
    });
}

/// FFmpeg's registration, and the log watch that notices playlist segments FFmpeg skipped (see
/// `segments`): once per process, whoever asks first.
fn initialise_once() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        // Registering codecs cannot fail on supported FFmpeg versions.
        let _ = ffmpeg::init();
        segments::watch_log();
    });
}

/// `ticks` of `time_base` in seconds, with one rounding, in the division: 70 ticks of 1/25 s read
/// 2.8, not 2.8000000000000003 (as multiplying by the time base's inexact binary value gives).
fn seconds(ticks: f64, time_base: ffmpeg::Rational) -> f64 {
    ticks * f64::from(time_base.numerator()) / f64::from(time_base.denominator())
}

/// Decoder settings.
#[derive(Clone, Copy, Debug)]
pub struct DecodeOptions {
    /// Decoder threads; 0 lets FFmpeg choose.
    pub threads: usize,
    /// How long a URL's server may send nothing before the input fails.
    pub url_timeout: Duration,
}

impl DecodeOptions {
    /// The default of [`DecodeOptions::url_timeout`].
    pub const DEFAULT_URL_TIMEOUT: Duration = Duration::from_secs(30);
}

impl Default for DecodeOptions {
    fn default() -> Self {
        DecodeOptions { threads: 0, url_timeout: Self::DEFAULT_URL_TIMEOUT }
    }
}

/// A file cut short (a copy or download that stopped): its header announces more frames than its
/// packets hold, and its last frame comes well before its announced duration ends (see
/// [`Video::cut_short`]). Frames are counted from the packets, as decord counts them, so the clips
/// are sampled from the part that is there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CutShort {
    /// Frames the packets hold.
    pub frames: usize,
    /// Frames the header announces.
    pub announced: u64,
}

/// What the container says about the video, and the frame count sampling works from.
#[derive(Clone, Debug, PartialEq)]
pub struct VideoInfo {
    /// Container format (FFmpeg's short name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`).
    pub container: String,
    /// Codec name (e.g. `h264`).
    pub codec: String,
    /// Pixel format as decoded (e.g. `yuv420p`).
    pub pixel_format: String,
    /// Size of the decoded pictures, before rotation.
    pub coded_width: usize,
    pub coded_height: usize,
    /// Clockwise rotation from the display matrix, applied to every frame (0, 90, 180, 270).
    pub rotation: u32,
    /// Size of the frames vidclass hands out (after rotation).
    pub width: usize,
    pub height: usize,
    /// Average frame rate from the container (0 when unknown).
    pub fps: f64,
    /// Frames in the video, counted as decord counts them (one per video packet).
    pub frame_count: usize,
    /// The frame count the header claims, if any: often missing or wrong.
    pub header_frame_count: Option<u64>,
    /// Duration in seconds, if known.
    pub duration: Option<f64>,
    /// Packets the demuxer had to skip as corrupt while counting frames.
    pub damaged_packets: usize,
    /// Frame *i* is the *i*-th frame the decoder puts out, because the stream's timestamps cannot
    /// tell frames apart (a raw stream, an MPEG program stream, repeated times); otherwise the
    /// frame with the *i*-th smallest timestamp, as decord numbers them.
    pub numbered_by_decoder_output: bool,
}

/// An opened, indexed video.
pub struct Video {
    input: Reopenable,
    index: PacketIndex,
    info: VideoInfo,
    stream_index: usize,
    time_base: ffmpeg::Rational,
    start_pts: i64,
    options: DecodeOptions,
}

/// Frames decoded for a plan.
#[derive(Debug)]
pub struct DecodedFrames<T> {
    /// One value per wanted frame number (`frames[i]` for the i-th wanted number, duplicates
    /// included). Frames that failed to decode are replaced by the nearest decoded one.
    pub frames: Vec<T>,
    /// How many distinct wanted frames could not be decoded (corrupt data) and were replaced.
    pub lost: usize,
}

impl Video {
    /// Opens `source`, reads its packet index and checks that its video stream can be decoded.
    pub fn open(source: Input, options: DecodeOptions) -> Result<Video> {
        // Without the log watch a playlist that lost a segment would read as a shorter video.
        initialise_once();
        let name = source.name();
        let input = Reopenable::new(source, options.url_timeout)?;
        let (opened, skipped_opening) = segments::skipped_while(|| input.open());
        let mut ictx = opened?;
        let best = best_video_stream(&mut ictx).ok_or_else(|| Error::video(&name, "no video stream"))?;
        let stream = ictx.stream(best).expect("FFmpeg names one of its streams");
        // A one-frame cover picture ranks below any video, so it is chosen only where there is none.
        if stream.disposition().contains(ffmpeg::format::stream::Disposition::ATTACHED_PIC) {
            return Err(Error::video(&name, "no video stream, only a still picture (cover art)"));
        }
        let stream_index = stream.index();
        let time_base = stream.time_base();
        let rotation = rotation_of(&stream);
        let header_frames = u64::try_from(stream.frames()).ok().filter(|&n| n > 0);
        // Raw streams have no average rate, only the codec's.
        let fps =
            [stream.avg_frame_rate(), stream.rate()].into_iter().map(rate).find(|&r| r > 0.0).unwrap_or(0.0);
        let start_time = stream.start_time();
        // Only checked and asked for its properties; `decode` opens its own with `options`, so
        // this one need not start FFmpeg's frame threads.
        let decoder = open_decoder(&stream, DecodeOptions { threads: 1, ..options }, &name)?;
        // The video stream's own length where the container tells it (another stream may run
        // longer), else the container's.
        let duration =
            (stream.duration() > 0).then(|| seconds(stream.duration() as f64, time_base)).or_else(|| {
                let microseconds = ffmpeg::Rational::new(1, ffmpeg::ffi::AV_TIME_BASE);
                (ictx.duration() > 0).then(|| seconds(ictx.duration() as f64, microseconds))
            });
        let codec = stream.parameters().id().name().to_string();
        let container = ictx.format().name().to_string();
        // A playlist without an end is a live stream: FFmpeg would wait for it to end, forever.
        if segmented(&container) && duration.is_none() {
            return Err(Error::video(
                &name,
                "a live stream (its playlist has no end): record a piece of it first (e.g. `ffmpeg -i URL -t \
                 30 -c copy clip.mp4`)",
            ));
        }

        // Closed in the count too: a playlist's demuxer closes its last segment only with itself.
        let (index, skipped) = segments::skipped_while(|| {
            let index = PacketIndex::read(&mut ictx, stream_index, &name, input.url_reads());
            drop(ictx);
            index
        });
        let index = index?;
        if let Some(problem) = skipped_segments(&container, skipped_opening + skipped, "") {
            return Err(Error::video(&name, problem));
        }
        if index.frame_count() == 0 {
            return Err(Error::video(&name, "the video stream has no frames"));
        }
        let (coded_width, coded_height) = (decoder.width() as usize, decoder.height() as usize);
        let (width, height) =
            if rotation % 180 == 90 { (coded_height, coded_width) } else { (coded_width, coded_height) };
        let start_pts =
            if start_time == ffmpeg::ffi::AV_NOPTS_VALUE { index.frame_pts(0) } else { start_time };
        let info = VideoInfo {
            container,
            // The format's name (`av1`), not the decoder's (`libdav1d`).
            codec,
            pixel_format: format!("{:?}", decoder.format()).to_lowercase(),
            coded_width,
            coded_height,
            rotation,
            width,
            height,
            fps,
            frame_count: index.frame_count(),
            header_frame_count: header_frames,
            duration,
            damaged_packets: index.unreadable,
            numbered_by_decoder_output: index.in_output_order,
        };
        Ok(Video { input, index, info, stream_index, time_base, start_pts, options })
    }

    /// The video's properties.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }

    /// The input's name as given by the user.
    pub fn name(&self) -> String {
        self.input.source().name()
    }

    /// The name's exact bytes where [`Self::name`] had to replace some (see
    /// [`Input::name_bytes`](crate::inputs::Input::name_bytes)).
    pub fn name_bytes(&self) -> Option<Vec<u8>> {
        self.input.source().name_bytes()
    }

    /// Whether the file was cut short: its header announces more frames than its packets hold,
    /// and its last frame comes well before the end of its announced duration. Counts alone would
    /// also take an AVI whose muxer dropped frames (it counts them in the header, leaving no
    /// packet) for a file cut short; there the last frame still comes at the end.
    pub fn cut_short(&self) -> Option<CutShort> {
        let info = &self.info;
        let announced = info.header_frame_count.filter(|&announced| announced > info.frame_count as u64)?;
        let (duration, last) = (info.duration?, self.timestamp(info.frame_count.checked_sub(1)?));
        // More than two frames' time at the announced rate: room for the last frame's own length.
        (duration - last > 2.0 * duration / announced as f64)
            .then_some(CutShort { frames: info.frame_count, announced })
    }

    /// Presentation time of frame `i` in seconds from the start of the stream (from the frame
    /// rate where the stream's timestamps cannot tell frames apart).
    ///
    /// # Panics
    ///
    /// If `i` is not below [`VideoInfo::frame_count`].
    pub fn timestamp(&self, i: usize) -> f64 {
        if self.index.in_output_order {
            return if self.info.fps > 0.0 { i as f64 / self.info.fps } else { 0.0 };
        }
        // In i128, as a damaged file's timestamps may be any two i64s.
        let ticks = (i128::from(self.index.frame_pts(i)) - i128::from(self.start_pts)) as f64;
        seconds(ticks, self.time_base)
    }

    /// Decodes the frames numbered in `wanted` (any order, repeats allowed), rotates them upright
    /// and passes each distinct frame through `convert`: once, or twice for those decoded before a
    /// seek went wrong and the decode started over.
    pub fn decode<T: Clone>(
        &self,
        wanted: &[usize],
        mut convert: impl FnMut(RgbFrame) -> T,
    ) -> Result<DecodedFrames<T>> {
        let name = self.name();
        if let Some(&bad) = wanted.iter().find(|&&i| i >= self.info.frame_count) {
            return Err(Error::video(
                &name,
                format!("frame {bad} asked for, the video has {}", self.info.frame_count),
            ));
        }
        let rotation = self.info.rotation;
        let mut convert =
            |rgb: RgbFrame| convert(if rotation == 0 { rgb } else { rgb.rotated_clockwise(rotation) });
        let mut may_seek = true;
        let decoded = loop {
            let (opened, skipped_opening) = segments::skipped_while(|| self.input.open());
            let mut ictx = opened?;
            let stream =
                ictx.stream(self.stream_index).ok_or_else(|| Error::video(&name, "video stream vanished"))?;
            let decoder = open_decoder(&stream, self.options, &name)?;
            discard_other_streams(&mut ictx, self.stream_index);
            let frame_decoder = decode::FrameDecoder {
                input: ictx,
                stream_index: self.stream_index,
                decoder,
                index: &self.index,
                size: (self.info.coded_width as u32, self.info.coded_height as u32),
                name: &name,
                url: self.input.url_reads(),
                may_seek,
            };
            let (attempt, skipped) = segments::skipped_while(|| frame_decoder.decode(wanted, &mut convert));
            // Segments there for the index and gone now: frames the answer would lack.
            let again = " when it was read again to decode the frames";
            if let Some(problem) = skipped_segments(&self.info.container, skipped_opening + skipped, again) {
                return Err(Error::video(&name, problem));
            }
            match attempt? {
                Some(decoded) => break decoded,
                // Without seeking, a decode always finishes.
                None => may_seek = false,
            }
        };
        if decoded.frames.is_empty() {
            let sampled = wanted.iter().collect::<std::collections::BTreeSet<_>>().len();
            return Err(Error::video(
                &name,
                format!("none of the {sampled} sampled frames could be decoded (corrupt or missing data)"),
            ));
        }
        Ok(DecodedFrames {
            frames: wanted.iter().map(|&i| nearest(&decoded.frames, i).clone()).collect(),
            lost: decoded.lost,
        })
    }
}

/// Whether FFmpeg's demuxer `container` fetches the video in segments (HLS, DASH).
fn segmented(container: &str) -> bool {
    matches!(container, "hls" | "dash")
}

/// Why an input in `container` fails whose playlist FFmpeg logged `skipped` failed segments for
/// (as many lines as attempts, so no count of segments) while reading it `when`, if it did. (Other
/// inputs FFmpeg reads over HTTP fail on the read error that follows such a line.)
fn skipped_segments(container: &str, skipped: usize, when: &str) -> Option<String> {
    (segmented(container) && skipped > 0).then(|| {
        if segments::refused_a_certificate() {
            return source::REFUSED_CERTIFICATE.to_owned();
        }
        format!(
            "a segment of its playlist failed to download or broke off{when}, and FFmpeg skipped it (-v shows \
             what FFmpeg fetched)"
        )
    })
}

/// The video stream decord reads: FFmpeg's best, ranked as FFmpeg 4 (decord's) ranks streams,
/// by frames seen while probing (up to 5), then bit rate, then frames. FFmpeg 5.1 ranks a stream
/// flagged "default" first, which took a one-frame picture flagged so over the file's video; the
/// flags are set aside for the choice.
fn best_video_stream(ictx: &mut ffmpeg::format::context::Input) -> Option<usize> {
    // The constant's type differs between FFmpeg versions' bindings; the field is a C int.
    #[allow(clippy::unnecessary_cast)]
    let default = ffmpeg::ffi::AV_DISPOSITION_DEFAULT as libc::c_int;
    // SAFETY: the context is open; its `nb_streams` stream pointers are valid, and only their
    // `disposition` fields are changed, and set back before the context is used again.
    unsafe {
        let ctx = ictx.as_mut_ptr();
        if (*ctx).nb_streams == 0 {
            return None;
        }
        let streams = std::slice::from_raw_parts((*ctx).streams, (*ctx).nb_streams as usize);
        let flags: Vec<i32> = streams.iter().map(|&st| (*st).disposition).collect();
        streams.iter().for_each(|&st| (*st).disposition &= !default);
        let best = ffmpeg::ffi::av_find_best_stream(
            ctx,
            ffmpeg::ffi::AVMediaType::AVMEDIA_TYPE_VIDEO,
            -1,
            -1,
            std::ptr::null_mut(),
            0,
        );
        streams.iter().zip(flags).for_each(|(&st, flags)| (*st).disposition = flags);
        usize::try_from(best).ok()
    }
}

/// The decoded frame numbered `i`, or the closest one before it, or after it.
fn nearest<T>(frames: &BTreeMap<usize, T>, i: usize) -> &T {
    frames
        .range(..=i)
        .next_back()
        .or_else(|| frames.range(i..).next())
        .map(|(_, v)| v)
        .expect("at least one frame")
}

fn rate(r: ffmpeg::Rational) -> f64 {
    if r.denominator() == 0 { 0.0 } else { f64::from(r) }
}

fn open_decoder(
    stream: &ffmpeg::format::stream::Stream,
    options: DecodeOptions,
    name: &str,
) -> Result<ffmpeg::decoder::Video> {
    let mut context = ffmpeg::codec::context::Context::from_parameters(stream.parameters())
        .map_err(|e| Error::video(name, format!("unsupported codec parameters: {e}")))?;
    // FFmpeg 5.1's Theora (VP3) decoder, run on frame threads, now and then hands out a frame
    // holding the picture of one decoded dozens of frames later (up to one run in five on a
    // 100-frame test clip; never on one thread), so Theora decodes on one thread.
    let threads = if stream.parameters().id() == ffmpeg::codec::Id::THEORA { 1 } else { options.threads };
    context.set_threading(ffmpeg::codec::threading::Config {
        kind: ffmpeg::codec::threading::Type::Frame,
        count: threads,
        ..Default::default()
    });
    let decoder = context
        .decoder()
        .video()
        .map_err(|e| Error::video(name, format!("no decoder for this codec: {e}")))?;
    if decoder.format() == ffmpeg::format::Pixel::None || decoder.width() == 0 || decoder.height() == 0 {
        // The codec's name tells damage (h264) from what this FFmpeg cannot decode at all (its
        // 5.1 reads no animated WebP).
        let codec = stream.parameters().id().name();
        return Err(Error::video(
            name,
            format!(
                "no decodable video data (FFmpeg cannot tell the pixel format or size of its {codec} stream)"
            ),
        ));
    }
    Ok(decoder)
}

/// Tells the demuxer to skip packets of other streams (audio, subtitles) outright.
fn discard_other_streams(ictx: &mut ffmpeg::format::context::Input, keep: usize) {
    for i in 0..ictx.nb_streams() as usize {
        if i != keep {
            // SAFETY: `i` is a valid stream index of this open context.
            unsafe {
                let stream = *(*ictx.as_mut_ptr()).streams.add(i);
                (*stream).discard = ffmpeg::ffi::AVDiscard::AVDISCARD_ALL;
            }
        }
    }
}

/// Clockwise degrees the display matrix asks for: 90, 180 or 270 (to the nearest degree), else 0.
/// decord, and so mmaction2, turns only those: a matrix of 80° leaves the frames as they are
/// stored (the ffmpeg tool would turn them and fill the corners with black).
fn rotation_of(stream: &ffmpeg::format::stream::Stream) -> u32 {
    for side_data in stream.side_data() {
        if side_data.kind() == ffmpeg::codec::packet::side_data::Type::DisplayMatrix
            && side_data.data().len() >= 36
        {
            // SAFETY: a display matrix is nine 32-bit integers; the length was checked.
            let counter_clockwise =
                unsafe { ffmpeg::ffi::av_display_rotation_get(side_data.data().as_ptr() as *const i32) };
            if counter_clockwise.is_nan() {
                return 0;
            }
            let clockwise = (-counter_clockwise.round()).rem_euclid(360.0) as u32;
            return if clockwise.is_multiple_of(90) { clockwise } else { 0 };
        }
    }
    0
}
