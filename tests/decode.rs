//! Decoding: frame counting, frame selection, rotation and errors, on generated videos whose
//! frames encode their own index.

mod common;

use common::{Spec, garbled_in_the_middle, index_of, make_video, make_video_of, marker_corner};
use vidclass::frame::RgbFrame;
use vidclass::inputs::Input;
use vidclass::video::{DecodeOptions, Video};

fn open(path: &std::path::Path) -> Video {
    vidclass::video::init(vidclass::video::FfmpegLog::Quiet);
    Video::open(Input::File(path.to_path_buf()), DecodeOptions::default()).unwrap()
}

/// Decodes `wanted` and returns the index each decoded frame shows.
fn shown(video: &Video, wanted: &[usize]) -> Vec<usize> {
    let decoded = video.decode(wanted, |f| f).unwrap();
    assert_eq!(decoded.lost, 0);
    decoded.frames.iter().map(index_of).collect()
}

const WANTED: [usize; 9] = [0, 1, 2, 17, 5, 17, 30, 59, 44];

/// Checks frame count, size and frame selection; returns the video for container-specific checks.
fn check_container(name: &str, args: &[&str]) -> Video {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec { width: 96, height: 64, frames: 60, fps: 25, args };
    let video = open(&make_video(dir.path(), name, &spec));
    assert_eq!(video.info().frame_count, 60, "{name}");
    assert_eq!((video.info().width, video.info().height), (96, 64));
    assert_eq!(shown(&video, &WANTED), WANTED, "{name}");
    video
}

#[test]
fn h264_mp4_with_b_frames() {
    let video = check_container("a.mp4", &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-bf", "3"]);
    assert!(!video.info().numbered_by_decoder_output, "found by timestamp, as decord does");
}

#[test]
fn h264_matroska_has_no_header_frame_count() {
    let video = check_container("a.mkv", &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10"]);
    // The count comes from the packets, since the header has none.
    assert_eq!(video.info().header_frame_count, None);
}

#[test]
fn vp9_webm() {
    let video =
        check_container("a.webm", &["-c:v", "libvpx-vp9", "-pix_fmt", "yuv420p", "-g", "10", "-b:v", "200k"]);
    assert_eq!(video.info().codec, "vp9", "the format's name, whichever decoder reads it");
}

/// Frame `n` of the video at `path` as the `ffmpeg` tool decodes it, in RGB.
fn ffmpeg_frame(path: &std::path::Path, n: usize) -> Vec<u8> {
    let output = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args([
            "-vf",
            &format!("select=eq(n\\,{n})"),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

#[test]
fn raw_mjpeg_whose_demuxer_cannot_seek() {
    // The `jpeg_pipe` demuxer refuses a seek into this stream and is left at the end of the file.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("a.mjpeg");
    let source = "testsrc2=size=320x240:rate=25";
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        source,
        "-t",
        "3",
        "-c:v",
        "mjpeg",
        "-f",
        "mjpeg",
        path.to_str().unwrap(),
    ]);
    let video = open(&path);
    assert_eq!(video.info().frame_count, 75);
    let wanted = [6, 40, 74];
    let decoded = video.decode(&wanted, |f| f.data).unwrap();
    assert_eq!(decoded.lost, 0);
    for (frame, n) in decoded.frames.iter().zip(wanted) {
        assert!(*frame == ffmpeg_frame(&path, n), "frame {n}: the pixels the ffmpeg tool decodes");
    }
}

#[test]
fn mpeg4_avi() {
    check_container("a.avi", &["-c:v", "mpeg4", "-q:v", "3", "-g", "10"]);
}

#[test]
fn raw_h264_without_timestamps_counts_frames_in_output_order() {
    let video =
        check_container("a.h264", &["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "10", "-bf", "3"]);
    assert!(video.info().numbered_by_decoder_output);
}

#[test]
fn mpeg2_program_stream_with_timestamps_on_some_packets() {
    let video = check_container("a.mpg", &["-c:v", "mpeg2video", "-q:v", "2", "-g", "10", "-bf", "2"]);
    assert!(video.info().numbered_by_decoder_output);
}

#[test]
fn frames_sharing_a_timestamp_are_told_apart() {
    // Frames 0.02 s apart, rounded by the encoder to its 1/25 s: pairs of frames share a
    // timestamp (0, 0, 40, 41, 80, 80, … in the track's milliseconds).
    let dir = tempfile::tempdir().unwrap();
    let args = ["-vf", "setpts=N*0.02/TB", "-fps_mode", "passthrough", "-c:v", "libx264", "-g", "10"];
    let args = [&args[..], &["-video_track_timescale", "1000"]].concat();
    let video = open(&make_video(
        dir.path(),
        "a.mp4",
        &Spec { width: 96, height: 64, frames: 60, fps: 25, args: &args },
    ));
    assert_eq!(video.info().frame_count, 60);
    assert!(video.info().numbered_by_decoder_output);
    let every: Vec<usize> = (0..60).collect();
    assert_eq!(shown(&video, &every), every, "the second frame of each pair too");
}

#[test]
fn theora_ogg_gives_the_same_right_frames_every_run() {
    // FFmpeg's Theora decoder on frame threads now and then returned the picture of a frame
    // decoded dozens of frames later (about one run in fifteen on this clip, whose left half
    // changes every frame and right half every 16th; frames of one colour never showed it).
    let (width, height) = (320, 240);
    let halves = |i: usize| {
        let (left, right) = ((i % 16 * 16 + 8) as u8, (i / 16 * 16 + 8) as u8);
        let row: Vec<u8> = (0..width).flat_map(|x| [if x < width / 2 { left } else { right }; 3]).collect();
        RgbFrame::new(width, height, row.repeat(height))
    };
    let index_of_halves = |frame: &RgbFrame| {
        let (left, right) =
            (frame.pixel(width / 4, height / 2)[1], frame.pixel(width * 3 / 4, height / 2)[1]);
        (right as usize / 16) * 16 + left as usize / 16
    };
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec { width, height, frames: 100, fps: 25, args: &["-c:v", "libtheora", "-q:v", "7"] };
    let path = make_video_of(dir.path(), "a.ogv", &spec, &halves);
    let wanted: Vec<usize> = (18..82).step_by(2).collect();
    // Frame threads asked for, whatever the cores of the machine that runs the test.
    let options = DecodeOptions { threads: 4, ..DecodeOptions::default() };
    for run in 0..60 {
        let video = Video::open(Input::File(path.clone()), options).unwrap();
        let decoded = video.decode(&wanted, |f| f).unwrap();
        let shown: Vec<usize> = decoded.frames.iter().map(index_of_halves).collect();
        assert_eq!(shown, wanted, "run {run}");
    }
}

#[test]
fn decoding_forward_and_seeking_agree() {
    // A long GOP forces forward decoding; a short one lets the decoder seek between clips.
    for gop in ["250", "5"] {
        let dir = tempfile::tempdir().unwrap();
        let spec =
            Spec { width: 64, height: 48, frames: 120, fps: 25, args: &["-c:v", "libx264", "-g", gop] };
        let video = open(&make_video(dir.path(), "a.mp4", &spec));
        let wanted = [3, 4, 60, 61, 62, 119, 100, 7];
        assert_eq!(shown(&video, &wanted), wanted, "gop {gop}");
    }
}

#[test]
fn variable_frame_rate_counts_frames_not_time() {
    let dir = tempfile::tempdir().unwrap();
    // Irregular gaps between frames: timestamps grow quadratically.
    let args = ["-vf", "setpts=(N+N*N/20)/25/TB", "-fps_mode", "passthrough", "-c:v", "libx264", "-g", "8"];
    let video = open(&make_video(
        dir.path(),
        "vfr.mkv",
        &Spec { width: 64, height: 48, frames: 40, fps: 25, args: &args },
    ));
    assert_eq!(video.info().frame_count, 40);
    assert_eq!(shown(&video, &[0, 13, 39, 20]), [0, 13, 39, 20]);
    // Times follow the timestamps, not index / fps.
    let t = |i: usize| (i + i * i / 20) as f64 / 25.0;
    for i in [0, 13, 39] {
        assert!((video.timestamp(i) - t(i)).abs() < 0.002, "frame {i}: {} vs {}", video.timestamp(i), t(i));
    }
}

/// The first frame as the `ffmpeg` tool shows it, with its own autorotation.
fn ffmpeg_first_frame(path: &std::path::Path) -> (usize, usize, Vec<u8>) {
    let probe = std::process::Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=width,height:stream_side_data=rotation",
        ])
        .args(["-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    let probe: serde_json::Value = serde_json::from_slice(&probe.stdout).unwrap();
    let stream = &probe["streams"][0];
    let rotation = stream["side_data_list"][0]["rotation"].as_i64().unwrap_or(0);
    let (w, h) = (stream["width"].as_u64().unwrap() as usize, stream["height"].as_u64().unwrap() as usize);
    let (w, h) = if rotation.rem_euclid(180) == 90 { (h, w) } else { (w, h) };
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    assert_eq!(out.stdout.len(), w * h * 3);
    (w, h, out.stdout)
}

#[test]
fn quarter_turns_of_rotation_metadata_are_applied() {
    let dir = tempfile::tempdir().unwrap();
    let plain = make_video(dir.path(), "plain.mp4", &Spec::h264(96, 64, 10));
    // FFmpeg 5.1 only honours the rotate tag on a stream copy. Angles between the quarter turns
    // leave the frames as they are stored, as decord does (the ffmpeg tool turns them, with black
    // corners): compared with the frames of the untagged video.
    let cases = [("90", 270), ("270", 90), ("180", 180), ("80", 0), ("100", 0), ("260", 0)];
    for (tag, expected_rotation) in cases {
        let rotated = dir.path().join(format!("rot{tag}.mp4"));
        common::ffmpeg(&[
            "-i",
            plain.to_str().unwrap(),
            "-c",
            "copy",
            "-metadata:s:v:0",
            &format!("rotate={tag}"),
            rotated.to_str().unwrap(),
        ]);
        let video = open(&rotated);
        let info = video.info();
        let (w, h, reference) = ffmpeg_first_frame(if expected_rotation == 0 { &plain } else { &rotated });
        assert_eq!((info.width, info.height), (w, h), "rotate={tag}");
        assert_eq!(info.rotation, expected_rotation, "rotate={tag}");
        let frame = &video.decode(&[0, 4], |f| f).unwrap().frames;
        assert_eq!(frame[0].data, reference, "rotate={tag}: same pixels as the ffmpeg tool");
        assert_eq!(index_of(&frame[1]), 4);
    }
}

#[test]
fn odd_portrait_and_tiny_videos() {
    let dir = tempfile::tempdir().unwrap();
    // x264 refuses odd sizes in 4:2:0; MPEG-4 Part 2 takes them.
    let mpeg4 = ["-c:v", "mpeg4", "-q:v", "2"];
    for (w, h, n) in [(341, 257, 5), (48, 96, 3), (64, 48, 1)] {
        let spec = Spec { width: w, height: h, frames: n, fps: 25, args: &mpeg4 };
        let video = open(&make_video(dir.path(), &format!("{w}x{h}.avi"), &spec));
        assert_eq!((video.info().width, video.info().height, video.info().frame_count), (w, h, n));
        let all: Vec<usize> = (0..n).collect();
        let decoded = video.decode(&all, |f| f).unwrap();
        assert_eq!(decoded.frames.iter().map(index_of).collect::<Vec<_>>(), all);
        assert_eq!(marker_corner(&decoded.frames[0]), (false, false));
    }
}

#[test]
fn a_stream_that_changes_size_comes_out_at_its_declared_size() {
    let dir = tempfile::tempdir().unwrap();
    // Two transport streams joined byte for byte, as `cat` joins recordings: 64×48, then 48×64.
    let landscape = make_video(dir.path(), "a.ts", &Spec::h264(64, 48, 10));
    let portrait = make_video_of(dir.path(), "b.ts", &Spec::h264(48, 64, 10), &|i| {
        common::painted_frame(48, 64, 10 + i)
    });
    let joined = dir.path().join("joined.ts");
    let bytes = [std::fs::read(landscape).unwrap(), std::fs::read(portrait).unwrap()].concat();
    std::fs::write(&joined, bytes).unwrap();
    let video = open(&joined);
    assert_eq!((video.info().width, video.info().height, video.info().frame_count), (64, 48, 20));
    let all: Vec<usize> = (0..20).collect();
    let decoded = video.decode(&all, |f| f).unwrap();
    let sizes: Vec<_> = decoded.frames.iter().map(|f| (f.width, f.height)).collect();
    assert_eq!(sizes, vec![(64, 48); 20]);
    assert_eq!(decoded.frames.iter().map(index_of).collect::<Vec<_>>(), all);
}

#[test]
fn stdin_bytes_decode_like_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_video(dir.path(), "a.mkv", &Spec::h264(64, 48, 30));
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .args(["inspect", "-", "--json", "--clip-len", "4", "--frame-interval", "3", "--crop-size", "48"])
        .stdin(std::fs::File::open(&path).unwrap())
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["frame_count"], 30);
    // One clip of 4 frames spanning 10: max_offset 20, centred at 10.
    assert_eq!(report["clips"][0]["frames"], serde_json::json!([10, 13, 16, 19]));
}

#[test]
fn the_video_is_chosen_over_a_picture_flagged_default() {
    // An MP4 whose H.264 track is not flagged "default" and whose one-frame PNG track is. decord
    // 0.6 (FFmpeg 4) reads the H.264 track here: 25 frames of 64×48.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("both.mp4");
    let tracks = "-f lavfi -i testsrc2=size=64x48:rate=25:duration=1 -f lavfi -i color=size=32x32:duration=0.04 \
                  -map 0 -map 1 -c:v:0 libx264 -c:v:1 png -disposition:v:0 0 -disposition:v:1 default";
    let mut args: Vec<&str> = tracks.split_whitespace().collect();
    args.push(path.to_str().unwrap());
    common::ffmpeg(&args);
    let video = open(&path);
    assert_eq!((video.info().codec.as_str(), video.info().frame_count), ("h264", 25));
    assert_eq!((video.info().width, video.info().height), (64, 48));
}

#[test]
fn errors_name_the_file_and_the_cause() {
    vidclass::video::init(vidclass::video::FfmpegLog::Quiet);
    let dir = tempfile::tempdir().unwrap();
    let error = |path: &std::path::Path| {
        Video::open(Input::File(path.to_path_buf()), DecodeOptions::default()).err().unwrap().to_string()
    };
    let missing = dir.path().join("missing.mp4");
    assert_eq!(error(&missing), format!("{}: no such file", missing.display()));
    // A missing file whose name starts like a URL (a camera's `cam1:clip.mp4`) is read as one.
    let url_error = |url: &str| {
        Video::open(Input::Url(url.to_owned()), DecodeOptions::default()).err().unwrap().to_string()
    };
    let cause = "no such file, and `cam1:` is no protocol FFmpeg knows";
    assert_eq!(url_error("cam1:clip.mp4"), format!("cam1:clip.mp4: {cause}"));
    assert_eq!(url_error("foo://h/v.mp4"), "foo://h/v.mp4: `foo:` is no protocol FFmpeg knows");

    let empty = dir.path().join("empty.mp4");
    std::fs::write(&empty, b"").unwrap();
    assert_eq!(error(&empty), format!("{}: the file is empty", empty.display()));

    let text = dir.path().join("notes.mp4");
    std::fs::write(&text, "these are not the frames you are looking for\n".repeat(20)).unwrap();
    let message = error(&text);
    assert!(message.starts_with(&text.display().to_string()) && message.contains("not a video"), "{message}");

    let audio = dir.path().join("tone.m4a");
    common::ffmpeg(&["-f", "lavfi", "-i", "sine=duration=0.5", audio.to_str().unwrap()]);
    assert_eq!(error(&audio), format!("{}: no video stream", audio.display()));

    // A song with its album cover: a picture, not a video.
    let song = dir.path().join("song.mp3");
    let cover = "-f lavfi -i sine=duration=0.5 -f lavfi -i color=size=64x64:duration=0.04 -map 0 -map 1 \
                 -c:v png -disposition:v attached_pic";
    let mut args: Vec<&str> = cover.split_whitespace().collect();
    args.push(song.to_str().unwrap());
    common::ffmpeg(&args);
    assert_eq!(
        error(&song),
        format!("{}: no video stream, only a still picture (cover art)", song.display())
    );

    // A Matroska header and no frames: FFmpeg's reader meets the end of the file while opening.
    let header_only = dir.path().join("empty.mkv");
    common::ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=64x48",
        "-frames:v",
        "0",
        header_only.to_str().unwrap(),
    ]);
    let says = "it ends before any video data (empty or cut short)";
    assert_eq!(error(&header_only), format!("{}: {says}", header_only.display()));
}

#[test]
fn corrupt_data_mid_stream_uses_what_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let video = open(&garbled_in_the_middle(dir.path(), "a.mp4", &["-c:v", "mpeg4", "-g", "5"]));
    assert_eq!(video.info().frame_count, 50, "the container still lists every frame");
    let all: Vec<usize> = (0..50).collect();
    let decoded = video.decode(&all, |f| f).unwrap();
    assert_eq!(decoded.frames.len(), 50);
    assert!(decoded.lost > 0 && decoded.lost < 20, "lost {}", decoded.lost);
    let shown: Vec<usize> = decoded.frames.iter().map(index_of).collect();
    // Frames far from the damage show their own index; the damaged ones are replaced by neighbours.
    assert_eq!(&shown[..5], [0, 1, 2, 3, 4]);
    assert_eq!(&shown[45..], [45, 46, 47, 48, 49]);
    let replaced = shown.iter().enumerate().filter(|&(i, &s)| i != s).count();
    assert!(replaced <= decoded.lost, "{replaced} frames differ, {} lost: {shown:?}", decoded.lost);
}

#[test]
fn corrupt_data_keeps_later_frames_in_place_when_frames_are_counted() {
    // An MPEG program stream, whose frames are numbered in decoder output order: damage in the
    // middle must not shift the numbers of the frames after it.
    let dir = tempfile::tempdir().unwrap();
    let video = open(&garbled_in_the_middle(dir.path(), "a.mpg", &["-c:v", "mpeg2video", "-g", "5"]));
    assert!(video.info().numbered_by_decoder_output);
    let all: Vec<usize> = (0..video.info().frame_count).collect();
    let decoded = video.decode(&all, |f| f).unwrap();
    let shown: Vec<usize> = decoded.frames.iter().map(index_of).collect();
    assert_eq!(&shown[..5], [0, 1, 2, 3, 4]);
    assert_eq!(&shown[shown.len() - 5..], [45, 46, 47, 48, 49], "{shown:?}");
}

#[test]
fn a_video_without_one_decodable_frame_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let spec = Spec {
        width: 64,
        height: 48,
        frames: 10,
        fps: 25,
        args: &["-c:v", "mpeg4", "-movflags", "+faststart"],
    };
    let path = make_video(dir.path(), "a.mp4", &spec);
    let mut bytes = std::fs::read(&path).unwrap();
    // With the index at the front, everything after the `mdat` header is frame data: garble it all.
    let mdat = bytes.windows(4).position(|w| w == b"mdat").unwrap() + 4;
    bytes[mdat..].fill(0);
    std::fs::write(&path, &bytes).unwrap();
    // FFmpeg cannot even probe the stream's format from such data: one error naming the file.
    vidclass::video::init(vidclass::video::FfmpegLog::Quiet);
    let message = Video::open(Input::File(path.clone()), DecodeOptions::default())
        .and_then(|video| video.decode(&[0, 5, 9], |f| f))
        .unwrap_err()
        .to_string();
    let expected = format!(
        "{}: no decodable video data (FFmpeg cannot tell the pixel format or size of its mpeg4 stream)",
        path.display()
    );
    assert_eq!(message, expected);
}

#[test]
fn urls_are_opened_by_ffmpeg() {
    let dir = tempfile::tempdir().unwrap();
    let path = make_video(
        dir.path(),
        "a.webm",
        &Spec { width: 64, height: 48, frames: 12, fps: 25, args: &["-c:v", "libvpx-vp9"] },
    );
    let url = format!("file:{}", path.display());
    let video = Video::open(Input::Url(url.clone()), DecodeOptions::default()).unwrap();
    assert_eq!(video.name(), url);
    assert_eq!(video.info().frame_count, 12);
    assert_eq!(shown(&video, &[11, 3]), [11, 3]);
    // Schemes are case-insensitive; FFmpeg's protocol names are not.
    let shouted = format!("FILE:{}", path.display());
    let video = Video::open(Input::Url(shouted.clone()), DecodeOptions::default()).unwrap();
    assert_eq!(video.name(), shouted, "shown as given");
    assert_eq!(shown(&video, &[11, 3]), [11, 3]);
}

#[test]
fn frames_before_an_edit_lists_start_are_decoded_not_dropped() {
    let dir = tempfile::tempdir().unwrap();
    // One GOP of 60 frames, cut at 1 s by a stream copy: the MP4 keeps the 25 frames before the
    // cut (the decoder needs them) behind an edit list that starts at the cut, and FFmpeg's
    // decoder drops frames so marked. decord counts their packets, so they are frames 0–24.
    let args = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-g", "60", "-sc_threshold", "0", "-bf", "0"];
    let whole = make_video(
        dir.path(),
        "whole.mp4",
        &Spec { width: 64, height: 48, frames: 60, fps: 25, args: &args },
    );
    let cut = dir.path().join("cut.mp4");
    common::ffmpeg(&["-ss", "1", "-i", whole.to_str().unwrap(), "-c", "copy", cut.to_str().unwrap()]);
    let video = open(&cut);
    assert_eq!(video.info().frame_count, 60);
    let wanted = [0, 3, 24, 25, 26, 59];
    assert_eq!(shown(&video, &wanted), wanted);
}
