//! `vidclass inspect`: the report, the contact sheet and the dumped input tensor.

mod common;

use candle_core::Device;
use common::cli::{fixtures, vidclass};
use common::{Spec, garbled_in_the_middle, index_of, make_video};
use vidclass::frame::RgbFrame;

#[test]
fn full_views_of_the_default_model_list_ten_clips_with_times() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "a.mp4", &Spec::h264(96, 64, 300));
    let output =
        vidclass(&["inspect", video.to_str().unwrap(), "--views", "full", "--json"], b"", dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["model"], "slowfast-r50-4x16-k400");
    assert!(report.get("input_bytes").is_none(), "only for names that had to change");
    assert_eq!(report["frame_count"], 300);
    assert_eq!(report["views"], 30);
    let clips = report["clips"].as_array().unwrap();
    // SampleFrames(32, 2, 10) on 300 frames: anchors §4.2.
    let starts: Vec<u64> = clips.iter().map(|c| c["frames"][0].as_u64().unwrap()).collect();
    assert_eq!(starts, [0, 26, 53, 79, 105, 132, 158, 184, 211, 237]);
    // Exactly frame / fps, as JSON prints it (2.8, never 2.8000000000000003).
    for clip in clips {
        for (frame, time) in clip["frames"].as_array().unwrap().iter().zip(clip["times"].as_array().unwrap())
        {
            assert_eq!(time.as_f64().unwrap(), frame.as_u64().unwrap() as f64 / 25.0, "{clip}");
        }
    }

    let text = vidclass(&["inspect", video.to_str().unwrap()], b"", dir.path());
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("frames:     300"), "{text}");
    // The duration too, where the time base's fraction has no exact binary value: 101 frames at
    // 24 fps in 1/30000 s ticks read 101 / 24 = 4.208333333333333, not ...334.
    let args = ["-c:v", "libx264", "-pix_fmt", "yuv420p", "-video_track_timescale", "30000"];
    let spec = Spec { width: 64, height: 48, frames: 101, fps: 24, args: &args };
    let odd = make_video(dir.path(), "odd.mp4", &spec);
    let output = vidclass(&["inspect", odd.to_str().unwrap(), "--json"], b"", dir.path());
    let odd: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(odd["duration"].as_f64().unwrap(), 101.0 / 24.0, "{odd}");
    // One clip, centred: max offset (300 - 63) // 2 = 118.
    assert!(text.contains("clip 0: 118@4.720s 120@4.800s"), "{text}");
}

#[test]
fn frames_that_could_not_be_decoded_are_counted_in_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let video = garbled_in_the_middle(dir.path(), "a.mp4", &["-c:v", "mpeg4", "-g", "5"]);
    let video = video.to_str().unwrap();
    // A clip of every frame, so that the damaged ones are sampled.
    let every_frame = ["--clip-len", "50", "--frame-interval", "1"];
    let output = vidclass(&[&["inspect", video, "--json"][..], &every_frame].concat(), b"", dir.path());
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let lost = report["lost_frames"].as_u64().unwrap();
    assert!(lost > 0, "{report}");
    let text = vidclass(&[&["inspect", video][..], &every_frame].concat(), b"", dir.path());
    let text = String::from_utf8(text.stdout).unwrap();
    let says = format!("lost:       {lost} sampled frame(s) could not be decoded; their neighbours stand in");
    assert!(text.contains(&says), "{text}");
}

#[test]
fn a_built_in_model_name_wins_over_a_file_of_that_name() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "a.mp4", &Spec::h264(96, 64, 30));
    // What `vidclass predict … > i3d-r50-k400` leaves in the folder before the command runs.
    std::fs::write(dir.path().join("i3d-r50-k400"), "").unwrap();
    let run = |model: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
            .args(["inspect", "--json", "-m", model])
            .arg(&video)
            .current_dir(dir.path())
            .env("VIDCLASS_CACHE", dir.path())
            .output()
            .unwrap()
    };
    let output = run("i3d-r50-k400");
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["model"], "i3d-r50-k400");
    // A path reads the file.
    let output = run("./i3d-r50-k400");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing field"), "the empty file was read");
}

#[cfg(unix)]
#[test]
fn odd_names_stay_on_one_line_and_exact_in_json() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let made = make_video(dir.path(), "a.mp4", &Spec::h264(96, 64, 30));
    // A terminal escape and a byte that is not UTF-8.
    let odd = dir.path().join(std::ffi::OsStr::from_bytes(b"esc\x1b[31m\xff.mp4"));
    std::fs::rename(&made, &odd).unwrap();
    let run = |args: &[&std::ffi::OsStr]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
            .arg("inspect")
            .args(args)
            .env("VIDCLASS_CACHE", dir.path())
            .output()
            .unwrap()
    };
    let text = run(&[odd.as_os_str()]);
    assert_eq!(text.status.code(), Some(0), "{}", String::from_utf8_lossy(&text.stderr));
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(!text.contains('\x1b'), "no raw escape reaches the terminal: {text}");
    assert!(text.lines().next().unwrap().ends_with("esc\\u{1b}[31m\u{fffd}.mp4"), "{text}");

    let json = run(&["--json".as_ref(), odd.as_os_str()]);
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(report["input_bytes"], vidclass::output::base64(odd.as_os_str().as_bytes()));

    // An error naming a file with a newline is one line.
    let missing = dir.path().join("no\nsuch.mp4");
    let failed = run(&[missing.as_os_str()]);
    let stderr = String::from_utf8(failed.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no\\nsuch.mp4"), "{stderr}");
}

#[test]
fn a_bad_video_exits_1_and_bad_output_paths_exit_2_before_any_work() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "a.mp4", &Spec::h264(64, 48, 20));
    let video = video.to_str().unwrap();
    std::fs::write(dir.path().join("empty.mp4"), b"").unwrap();
    let empty = dir.path().join("empty.mp4");
    let sheet_jpg = dir.path().join("sheet.jpg");
    let folder_png = dir.path().join("folder.png");
    std::fs::create_dir(&folder_png).unwrap();
    let video_bytes = std::fs::read(video).unwrap();
    let sheet = dir.path().join("s.png").display().to_string();
    let sheet_too = dir.path().join(".").join("s.png").display().to_string();
    let dump_bin = dir.path().join("input.bin").display().to_string();
    let folder = dir.path().to_str().unwrap();
    let folder_is_a_folder = format!("--contact-sheet {folder}: is a folder");
    // A still image is a video of one frame, and a PNG file may be replaced by a contact sheet.
    let still = dir.path().join("still.png");
    common::ffmpeg(&["-f", "lavfi", "-i", "color=size=64x48", "-frames:v", "1", still.to_str().unwrap()]);
    let still = still.to_str().unwrap();
    let cases: [(Vec<&str>, i32, &str); 13] = [
        (vec!["inspect", video, "--dump-input", "-"], 2, "not stdout"),
        (vec!["inspect", empty.to_str().unwrap()], 1, "the file is empty"),
        (vec!["inspect", video, "--dump-input", video], 2, "exists and is no input dump file"),
        (vec!["inspect", still, "--contact-sheet", still], 2, "is the video being inspected"),
        (vec!["inspect", video, "--contact-sheet", &sheet, "--dump-input", &sheet_too], 2, "both name"),
        (vec!["inspect", video, "--contact-sheet", sheet_jpg.to_str().unwrap()], 2, "only .png"),
        (vec!["inspect", video, "--contact-sheet", "/no/such/folder/s.png"], 2, "no folder /no/such/folder"),
        (vec!["inspect", video, "--contact-sheet", folder_png.to_str().unwrap()], 2, "is a folder"),
        (vec!["inspect", video, "--dump-input", "/no/such/folder/x.safetensors"], 2, "no folder"),
        (vec!["inspect", video, "--dump-input", &dump_bin], 2, "only .safetensors files"),
        // Not "only .png files": the name's extension is not what is wrong with it.
        (vec!["inspect", video, "--contact-sheet", folder], 2, &folder_is_a_folder),
        (vec!["inspect", video, "--dump-input", "/dev/full"], 2, "--dump-input /dev/full: No space left"),
        (vec!["inspect", folder], 2, &format!("inspect takes one video; {folder} is a folder")),
    ];
    for (args, code, says) in cases {
        let output = vidclass(&args, b"", dir.path());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(code), "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?}: {stderr}");
        assert!(output.stdout.is_empty(), "{args:?}: no report before the failure");
    }
    assert!(!sheet_jpg.exists(), "nothing is left behind");
    assert!(std::fs::read(video).unwrap() == video_bytes, "the video is untouched");
}

#[test]
fn a_three_crop_follows_the_short_side() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "a.mp4", &Spec::h264(96, 64, 80));
    // SlowFast's full protocol three-crops its 256 short side; resized to 300, so are the crops.
    let args = ["inspect", video.to_str().unwrap(), "--views", "full", "--short-side", "300", "--json"];
    let output = vidclass(&args, b"", dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["protocol"]["crop"]["size"], 300, "{}", report["protocol"]);
}

#[test]
fn the_files_are_written_even_when_the_reader_stops_early() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "a.mp4", &Spec::h264(96, 64, 80));
    let (sheet, dump) = (dir.path().join("s.png"), dir.path().join("i.safetensors"));
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .arg("inspect")
        .arg(&video)
        .args(["--views", "full", "--contact-sheet"])
        .arg(&sheet)
        .arg("--dump-input")
        .arg(&dump)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader is gone before the report is written: its first line meets a closed pipe.
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(sheet.is_file() && dump.is_file(), "both files are written");
}

/// The 96-pixel tile at `row`, `col` of a contact sheet (2-pixel gaps, an 18-pixel caption band).
fn sheet_tile(sheet: &image::RgbImage, row: u32, col: u32) -> RgbFrame {
    let (x0, y0) = (2 + col * 98, 2 + row * 116);
    let data = (0..96).flat_map(|y| (0..96).flat_map(move |x| sheet.get_pixel(x0 + x, y0 + y).0)).collect();
    RgbFrame::new(96, 96, data)
}

#[test]
fn contact_sheet_shows_each_views_frames_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "a.mp4", &Spec::h264(128, 96, 60));
    let sheet = dir.path().join("sheet.png");
    let args = ["inspect", video.to_str().unwrap(), "--clips", "2", "--crops", "three", "--clip-len", "4"];
    let mut args = args.to_vec();
    args.extend(["--short-side", "96", "--contact-sheet", sheet.to_str().unwrap()]);
    let output = vidclass(&args, b"", dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let image = image::open(&sheet).unwrap().to_rgb8();
    // 6 rows (3 crops x 2 clips) of 4 tiles of 96 px, with 2 px gaps and an 18 px caption band.
    assert_eq!(image.dimensions(), (4 * 98 + 2, 6 * (96 + 18 + 2) + 2));
    // Row 1 is crop 0 of clip 1; its first tile shows that clip's first frame.
    // Clips of 4 frames at interval 2 span 7 frames: max offset 53, starts 0 and 53.
    let tile = |row: u32, col: u32| sheet_tile(&image, row, col);
    assert_eq!(index_of(&tile(0, 0)), 0);
    assert_eq!(index_of(&tile(0, 3)), 6);
    assert_eq!(index_of(&tile(1, 0)), 53);
    assert_eq!(index_of(&tile(5, 1)), 55);
}

#[test]
fn single_frame_clips_make_a_row_per_crop() {
    // TSN's protocol: clips of one frame. 5 clips x 3 crops: 3 rows of 5 tiles, not 15 rows of 1.
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "a.mp4", &Spec::h264(128, 96, 50));
    let sheet = dir.path().join("sheet.png");
    let args = ["inspect", video.to_str().unwrap(), "--clips", "5", "--crops", "three", "--clip-len", "1"];
    let mut args = args.to_vec();
    args.extend(["--frame-interval", "1", "--short-side", "96", "--contact-sheet", sheet.to_str().unwrap()]);
    let output = vidclass(&args, b"", dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let image = image::open(&sheet).unwrap().to_rgb8();
    assert_eq!(image.dimensions(), (5 * 98 + 2, 3 * (96 + 18 + 2) + 2));
    let tile = |row: u32, col: u32| sheet_tile(&image, row, col);
    // Five clips of one frame over 50 frames: segments of 10, the middle of each (5, 15, ..., 45).
    // Every crop's row shows the same frames, clip by clip.
    for row in 0..3 {
        let shown: Vec<usize> = (0..5).map(|col| index_of(&tile(row, col))).collect();
        assert_eq!(shown, [5, 15, 25, 35, 45], "row {row}");
    }
}

#[test]
fn ffmpegs_own_log_shows_only_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let video = make_video(dir.path(), "a.mp4", &Spec::h264(64, 48, 10));
    let log = |verbosity: Option<&str>| {
        let mut args: Vec<&str> = verbosity.into_iter().collect();
        args.extend(["inspect", video.to_str().unwrap()]);
        let output = vidclass(&args, b"", dir.path());
        assert_eq!(output.status.code(), Some(0));
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    // The H.264 decoder says which size and pixel format it sets up at FFmpeg's verbose level.
    assert!(!log(None).contains("[h264 @"), "{}", log(None));
    assert!(!log(Some("-v")).contains("[h264 @"), "{}", log(Some("-v")));
    assert!(log(Some("-vv")).contains("[h264 @"), "{}", log(Some("-vv")));
}

#[test]
fn dumped_input_is_mmaction2s_tensor_normalised() {
    // The golden case h264_342x258_s64_three64_l2i8k1: SampleFrames(2, 8, 1), Resize(-1, 64),
    // ThreeCrop(64), NCTHW, made by mmaction2 (tests/fixtures/preprocess).
    let dir = tempfile::tempdir().unwrap();
    let clip = fixtures().join("preprocess/clips/h264_342x258.mp4");
    let dump = dir.path().join("input.safetensors");
    let args =
        ["inspect", clip.to_str().unwrap(), "--clip-len", "2", "--frame-interval", "8", "--clips", "1"];
    let mut args = args.to_vec();
    args.extend(["--short-side", "64", "--crops", "three", "--dump-input", dump.to_str().unwrap()]);
    let output = vidclass(&args, b"", dir.path());
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let input = candle_core::safetensors::load(&dump, &Device::Cpu).unwrap().remove("input").unwrap();
    let golden = fixtures().join("preprocess/goldens/h264_342x258_s64_three64_l2i8k1.safetensors");
    let imgs = candle_core::safetensors::load(golden, &Device::Cpu).unwrap().remove("imgs").unwrap();
    assert_eq!(input.dims(), imgs.dims());
    let (mean, std) = ([123.675f32, 116.28, 103.53], [58.395f32, 57.12, 57.375]);
    let plane = 2 * 64 * 64;
    let expected: Vec<f32> = imgs
        .flatten_all()
        .unwrap()
        .to_vec1::<u8>()
        .unwrap()
        .iter()
        .enumerate()
        .map(|(i, &v)| {
            let c = (i / plane) % 3;
            (v as f32 - mean[c]) / std[c]
        })
        .collect();
    assert_eq!(input.flatten_all().unwrap().to_vec1::<f32>().unwrap(), expected);
}
