//! Benchmark: one video end to end (decode, preprocess, model) for SlowFast R50 4x16, I3D R50 and
//! TSN R50, next to the GEMM peak of the machine and, optionally, mmaction2 on the same inputs.
//!
//! ```sh
//! cargo bench --bench model                               # fast protocol (one view / 8 segments)
//! VIDCLASS_BENCH_PROTOCOLS=fast,full cargo bench --bench model   # also the published protocol (slow)
//! VIDCLASS_BENCH_PYTHON=/work/venv/bin/python cargo bench --bench model   # + tools/bench_mmaction2.py
//! ```
//! Other knobs:
//! * `VIDCLASS_BENCH_RUNS`: runs per tool and model, default 1, the tools taking turns; the run
//!   with the median total is printed, with every run's total, and with mmaction2 the ratio of the
//!   two tools' totals in each turn and its median;
//! * `VIDCLASS_BENCH_MODELS`: comma list of card names;
//! * `VIDCLASS_FULLWIDTH`: folder of the `full_*.pth` checkpoints, default `/work/fullwidth`;
//! * `VIDCLASS_BENCH_VIDEO`: a video to use instead of the generated 10 s 640×360 H.264 pattern;
//! * `RAYON_NUM_THREADS`: threads; mmaction2 gets the same number;
//! * `VIDCLASS_BENCH_DEVICE`: `cpu`, the default, or `cuda`/`cuda:N` in a `--features cuda` build;
//!   mmaction2 then runs on the same GPU.
//!
//! Every model × protocol runs in its own child process (this binary again, with `--one`), so the
//! peak RSS (VmHWM) and load time are that run's alone. Stages: `decode` = open, decode, resize and
//! crop (vidclass resizes each frame as it is decoded); `preprocess` = normalise into the input
//! tensor; `backbone` = the network's forward (including the head's pooling and classifier);
//! `head` = averaging the views. Effective GFLOP/s count direct-convolution FLOPs (2 per
//! multiply-add), whatever algorithm ran.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use candle_core::{Device, Tensor};
use vidclass::classify::forward_views;
use vidclass::device::DeviceChoice;
use vidclass::inputs::Input;
use vidclass::nn::{Conv3d, Conv3dParams};
use vidclass::prepare::{ViewProtocol, prepare};
use vidclass::video::{DecodeOptions, FfmpegLog, Video};
use vidclass::{ModelCard, Recognizer, average_views};

/// Card name, checkpoint file in `VIDCLASS_FULLWIDTH`.
const MODELS: [(&str, &str); 3] = [
    ("slowfast-r50-4x16-k400", "full_slowfast_r50_4x16.pth"),
    ("i3d-r50-k400", "full_i3d_r50.pth"),
    ("tsn-r50-1x1x8-k400", "full_tsn_r50.pth"),
];

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--one") {
        return run_one(&args[i + 1], Path::new(&args[i + 2]), &args[i + 3], Path::new(&args[i + 4]));
    }
    let threads = rayon::current_num_threads();
    println!(
        "machine: {} x {}, {threads} threads",
        cpu_model(),
        std::thread::available_parallelism().unwrap()
    );
    println!("sgemm 2048x2048x2048 (gemm crate, {threads} threads): {:.1} GFLOP/s", sgemm_peak(2048));
    println!(
        "1x1x1 convolution 512 -> 512 over 4096 rows (vidclass's product kernel, {threads} threads): \
         {:.1} GFLOP/s",
        pointwise_conv_peak()
    );
    let video = bench_video();
    println!("video: {}", video.display());
    let dir = PathBuf::from(env("VIDCLASS_FULLWIDTH", "/work/fullwidth"));
    let wanted = env("VIDCLASS_BENCH_MODELS", &MODELS.map(|m| m.0).join(","));
    let python = std::env::var("VIDCLASS_BENCH_PYTHON").ok();
    let runs: usize = env("VIDCLASS_BENCH_RUNS", "1").parse().expect("VIDCLASS_BENCH_RUNS is a number");
    let device: DeviceChoice = env("VIDCLASS_BENCH_DEVICE", "cpu").parse().unwrap();
    assert_ne!(device, DeviceChoice::Auto, "VIDCLASS_BENCH_DEVICE: name the device, cpu or cuda[:N]");
    let protocols = env("VIDCLASS_BENCH_PROTOCOLS", "fast");
    for protocol in protocols.split(',') {
        for (card, file) in MODELS.iter().filter(|(card, _)| wanted.split(',').any(|w| w == *card)) {
            let weights = dir.join(file);
            let (weights, video) = (&weights, video.as_path());
            let exe = std::env::current_exe().unwrap();
            let mut tools: Vec<Box<dyn Fn() -> Command + '_>> = vec![Box::new(|| {
                let mut vidclass = Command::new(&exe);
                vidclass.arg("--one").arg(card).arg(weights).arg(protocol).arg(video);
                vidclass
            })];
            if let Some(python) = &python {
                let config = ModelCard::builtin(card).unwrap().config;
                let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/bench_mmaction2.py");
                tools.push(Box::new(move || {
                    let mut mmaction2 = Command::new(python);
                    mmaction2
                        .arg(&script)
                        .args([video.as_os_str(), config.as_ref(), weights.as_os_str(), protocol.as_ref()])
                        .args(["--threads", &threads.to_string()])
                        .args(["--device", &mmaction2_device(&device)]);
                    mmaction2
                }));
            }
            report(runs, &tools, card, protocol);
        }
    }
}

/// PyTorch's name for the device the Rust side runs on.
fn mmaction2_device(device: &DeviceChoice) -> String {
    match device {
        DeviceChoice::Cuda(n) => format!("cuda:{n}"),
        _ => "cpu".into(),
    }
}

/// Runs each tool's child `runs` times, the tools taking turns (vidclass, mmaction2, vidclass,
/// ...) so that a slow phase of this shared machine lands on both alike, and prints per tool the
/// result line of its run with the median `total_s` with every run's total; with two tools, also
/// the ratio of their totals in each turn and the median of those ratios. A failed run prints
/// its output and ends the tool's turns.
fn report(runs: usize, tools: &[Box<dyn Fn() -> Command + '_>], card: &str, protocol: &str) {
    let mut totals: Vec<Vec<(f64, String)>> = vec![Vec::new(); tools.len()];
    'turns: for _ in 0..runs.max(1) {
        for (tool, totals) in tools.iter().zip(&mut totals) {
            let out = tool().output().expect("the benchmark child starts");
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() {
                print!("{stdout}");
                eprint!("{}", String::from_utf8_lossy(&out.stderr));
                break 'turns;
            }
            let line = stdout.lines().find(|l| l.starts_with("tool=")).unwrap_or_default().to_owned();
            totals.push((field(&line, "total_s").unwrap_or(f64::INFINITY), line));
        }
    }
    for runs in &totals {
        let mut sorted = runs.clone();
        sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
        let Some((_, median)) = sorted.get(sorted.len() / 2) else { continue };
        let all: Vec<String> = runs.iter().map(|(t, _)| format!("{t:.3}")).collect();
        println!("{median} runs_total_s={}", all.join(","));
    }
    if let [ours, theirs] = &totals[..] {
        let mut ratios: Vec<f64> = ours.iter().zip(theirs).map(|(a, b)| a.0 / b.0).collect();
        let each: Vec<String> = ratios.iter().map(|r| format!("{r:.3}")).collect();
        ratios.sort_by(f64::total_cmp);
        if let Some(median) = ratios.get(ratios.len() / 2) {
            println!(
                "ratio model={card} protocol={protocol} vidclass/mmaction2={median:.3} per_turn={}",
                each.join(",")
            );
        }
    }
}

/// The number after `name=` in a `key=value` line.
fn field(line: &str, name: &str) -> Option<f64> {
    line.split_whitespace().find_map(|kv| kv.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
}

/// One model on one protocol, in this process: prints one `key=value` line. On a GPU the video
/// runs once untimed first (PTX loading, cuBLAS handles), and the second run is timed.
fn run_one(card: &str, weights: &Path, protocol: &str, video: &Path) {
    vidclass::memory::reuse_freed_memory();
    vidclass::video::init(FfmpegLog::Quiet);
    let card = ModelCard::builtin(card).unwrap();
    let views = if protocol == "full" { card.views.full } else { card.views.fast };
    let choice: DeviceChoice = env("VIDCLASS_BENCH_DEVICE", "cpu").parse().unwrap();
    let device = choice.open().unwrap().device;
    let t0 = Instant::now();
    let model = Recognizer::load(&card.architecture, weights, &device).unwrap();
    device.synchronize().unwrap();
    let load_s = t0.elapsed().as_secs_f64();
    let warmup_s =
        if device.is_cpu() { 0.0 } else { run_video(&card, &model, &views, video, &device).total_s };
    let r = run_video(&card, &model, &views, video, &device);
    println!(
        "tool=vidclass config={} protocol={protocol} device={choice} threads={} views={} startup_s=0.000 \
         load_s={load_s:.3} warmup_s={warmup_s:.3} decode_s={:.3} preprocess_s={:.3} backbone_s={:.3} \
         head_s={:.3} total_s={:.3} gflop={:.1} model_gflops={:.1} e2e_gflops={:.1} peak_rss_mb={:.0} \
         top1={}",
        card.config,
        rayon::current_num_threads(),
        r.views,
        r.decode_s,
        r.preprocess_s,
        r.backbone_s,
        r.head_s,
        r.total_s,
        r.flops / 1e9,
        r.flops / 1e9 / r.backbone_s,
        r.flops / 1e9 / r.total_s,
        vm_hwm_mb(),
        r.top1,
    );
}

/// Stage times of one video, in seconds.
struct Timings {
    views: usize,
    decode_s: f64,
    preprocess_s: f64,
    backbone_s: f64,
    head_s: f64,
    total_s: f64,
    /// Direct-convolution FLOPs of the forward passes.
    flops: f64,
    top1: usize,
}

/// Decodes `video`, prepares its views and classifies them as `vidclass predict` does.
fn run_video(
    card: &ModelCard,
    model: &Recognizer,
    views: &ViewProtocol,
    video: &Path,
    device: &Device,
) -> Timings {
    let t_video = Instant::now();
    let opened = Video::open(Input::File(video.to_owned()), DecodeOptions::default()).unwrap();
    let prepared = prepare(&opened, views).unwrap();
    let decode_s = t_video.elapsed().as_secs_f64();
    let n = prepared.views.len();
    let (mut input_time, mut network_time) = (Duration::ZERO, Duration::ZERO);
    let macs0 = vidclass::nn::counters::direct_macs();
    let t = Instant::now();
    let outputs = forward_views(
        model,
        &prepared.views,
        (&card.normalize, card.architecture.input_layout()),
        device,
        |pass| {
            input_time += pass.input_time;
            network_time += pass.network_time;
        },
    )
    .unwrap();
    device.synchronize().unwrap();
    // The passes overlap on a CPU (one view per thread): share their wall time out in proportion
    // to the time they spent building inputs and in the network. (On a GPU, whose passes run
    // asynchronously, that split is rough; the total is exact.)
    let passes_s = t.elapsed().as_secs_f64();
    let preprocess_s = passes_s * input_time.as_secs_f64() / (input_time + network_time).as_secs_f64();
    let backbone_s = passes_s - preprocess_s;
    let logits: Vec<_> = outputs.into_iter().map(|o| o.logits).collect();
    let t = Instant::now();
    let scores = average_views(&Tensor::cat(&logits, 0).unwrap(), card.averaging).unwrap();
    let head_s = t.elapsed().as_secs_f64();
    let total_s = t_video.elapsed().as_secs_f64();
    let flops = 2.0 * (vidclass::nn::counters::direct_macs() - macs0) as f64;
    let top1 = scores.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    Timings { views: n, decode_s, preprocess_s, backbone_s, head_s, total_s, flops, top1 }
}

/// Best of five 2048³ f32 products with the gemm crate on all threads, in GFLOP/s.
fn sgemm_peak(n: usize) -> f64 {
    let a = vec![1.0f32; n * n];
    let b = vec![0.5f32; n * n];
    let mut c = vec![0.0f32; n * n];
    let threads = rayon::current_num_threads();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        // SAFETY: all three buffers are n×n, row-major, and do not overlap.
        unsafe {
            gemm::gemm(
                n,
                n,
                n,
                c.as_mut_ptr(),
                1,
                n as isize,
                false,
                a.as_ptr(),
                1,
                n as isize,
                b.as_ptr(),
                1,
                n as isize,
                0.0,
                1.0,
                false,
                false,
                false,
                gemm::Parallelism::Rayon(threads),
            )
        };
        best = best.min(t.elapsed().as_secs_f64());
    }
    assert_eq!(c[0], n as f32 * 0.5);
    2.0 * (n * n * n) as f64 / best / 1e9
}

/// The rate of the products the network runs (vidclass's panel kernel where the CPU has AVX-512,
/// the `gemm` crate otherwise), measured through the public convolution on a layer of the size of
/// SlowFast's res5 1×1×1s: best of five.
fn pointwise_conv_peak() -> f64 {
    let (rows, channels) = (4 * 32 * 32, 512);
    let weight = Tensor::randn(0f32, 0.05, (channels, channels, 1, 1, 1), &Device::Cpu).unwrap();
    let conv = Conv3d::new(&weight, None, Conv3dParams::default()).unwrap();
    let x = Tensor::randn(0f32, 1.0, (1, 4, 32, 32, channels), &Device::Cpu).unwrap();
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let y = conv.forward(&x).unwrap();
        best = best.min(t.elapsed().as_secs_f64());
        assert_eq!(y.dims(), [1, 4, 32, 32, channels]);
    }
    2.0 * (rows * channels * channels) as f64 / best / 1e9
}

/// `VIDCLASS_BENCH_VIDEO`, or a 10 s 640×360 30 fps H.264 test pattern made once with ffmpeg.
fn bench_video() -> PathBuf {
    if let Ok(path) = std::env::var("VIDCLASS_BENCH_VIDEO") {
        return path.into();
    }
    let path = std::env::temp_dir().join("vidclass-bench-640x360-10s.mp4");
    if !path.exists() {
        let status = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi"])
            .args(["-i", "testsrc2=size=640x360:rate=30:duration=10"])
            .args(["-c:v", "libx264", "-pix_fmt", "yuv420p", "-preset", "veryfast"])
            .arg(&path)
            .status()
            .expect("the ffmpeg command-line tool makes the benchmark video");
        assert!(status.success());
    }
    path
}

fn vm_hwm_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status.lines().find_map(|l| l.strip_prefix("VmHWM:")).and_then(|v| v.split_whitespace().next());
    kb.and_then(|kb| kb.parse::<f64>().ok()).map_or(f64::NAN, |kb| kb / 1024.0)
}

fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let name = info.lines().find_map(|l| l.strip_prefix("model name")).and_then(|l| l.split(':').nth(1));
    name.map_or("unknown CPU".into(), |n| n.trim().to_string())
}
