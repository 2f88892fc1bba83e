//! Running the `vidclass` binary against a small random-weight model card.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The repository's fixture folder.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

/// The reduced-width SlowFast R50 4x16 checkpoint (7 classes) made by mmaction2.
pub fn tiny_weights() -> PathBuf {
    fixtures().join("models/slowfast_r50_4x16.pth")
}

/// The `[architecture]` table of the tiny SlowFast (the checkpoint tells the rest).
pub const TINY_SLOWFAST: &str =
    "type = \"slowfast\"\nresample_rate = 8\nspeed_ratio = 8\n[architecture.slow]\n[architecture.fast]";

/// A model card for the tiny SlowFast: 16-frame clips at interval 2, short side 40, centre crop 32
/// (`fast`) or three 40-pixel crops of 3 clips (`full`). `url`/`sha256` name its download.
pub fn write_tiny_card(dir: &Path, url: &str, sha256_prefix: &str) -> PathBuf {
    let full = "sample = { clip_len = 16, frame_interval = 2, num_clips = 3 }\nresize_short_side = 40\ncrop = { kind = \"three\", size = 40 }";
    write_card(dir, "tiny-slowfast", TINY_SLOWFAST, full, url, sha256_prefix)
}

/// Writes a card named `name` with `architecture` and `full` views (the `fast` views are one
/// 16-frame clip, centre crop 32 of short side 40).
pub fn write_card(
    dir: &Path,
    name: &str,
    architecture: &str,
    full: &str,
    url: &str,
    sha256_prefix: &str,
) -> PathBuf {
    let card = format!(
        r#"name = "{name}"
description = "Reduced-width network with random weights, for tests"
config = "reduced zoo config"
labels = "kinetics400"
averaging = "prob"

[architecture]
{architecture}

[normalize]
mean = [123.675, 116.28, 103.53]
std = [58.395, 57.12, 57.375]

[views.full]
{full}

[views.fast]
sample = {{ clip_len = 16, frame_interval = 2, num_clips = 1 }}
resize_short_side = 40
crop = {{ kind = "center", size = 32 }}

[checkpoint]
url = "{url}"
sha256_prefix = "{sha256_prefix}"

[metrics]
top1 = 0.0
top5 = 0.0
gflops = 0.0
params_m = 0.0
"#
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, card).unwrap();
    path
}

/// Seven class names, two of them with CSV-hostile characters.
pub fn write_labels(dir: &Path) -> PathBuf {
    let path = dir.join("labels.txt");
    std::fs::write(&path, "abseiling\nlifting, heavy\nsaying \"hi\"\ndancing\njuggling\nrunning\nswimming\n")
        .unwrap();
    path
}

/// Runs `vidclass args…` with `stdin` bytes, in `cwd`, with the weights cache at `cache`.
pub fn vidclass(args: &[&str], stdin: &[u8], cache: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_vidclass"))
        .args(args)
        .env("VIDCLASS_CACHE", cache)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let bytes = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = input.write_all(&bytes);
    });
    let output = child.wait_with_output().unwrap();
    writer.join().unwrap();
    output
}

/// stdout as JSON Lines.
pub fn json_lines(output: &Output) -> Vec<serde_json::Value> {
    String::from_utf8(output.stdout.clone())
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}")))
        .collect()
}
