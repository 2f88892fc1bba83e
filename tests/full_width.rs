//! Full-width models (SlowFast R50 4x16, I3D R50, TSN R50 as in the model zoo, random weights)
//! against mmaction2. Ignored by default: the checkpoints are ~100–140 MB and not committed.
//!
//! ```sh
//! /work/venv/bin/python tools/gen_model_goldens.py --full /work/fullwidth
//! VIDCLASS_FULLWIDTH=/work/fullwidth cargo test --release --test full_width -- --ignored --nocapture
//! ```
//!
//! `VIDCLASS_TEST_DEVICE=cuda` runs them on the GPU of a `--features cuda` build.

mod common;

use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use common::device::test_device;
use vidclass::Recognizer;
use vidclass::model::{Architecture, ResNet2dConfig, ResNet3dConfig, SlowFastConfig};

fn check(name: &str, arch: Architecture) {
    let dir = PathBuf::from(std::env::var("VIDCLASS_FULLWIDTH").unwrap_or_else(|_| "/work/fullwidth".into()));
    let g =
        candle_core::safetensors::load(dir.join(format!("{name}.golden.safetensors")), &Device::Cpu).unwrap();
    let device = test_device();
    let model = Recognizer::load(&arch, &dir.join(format!("{name}.pth")), &device).unwrap();
    let t0 = std::time::Instant::now();
    let input = g["input"].to_dtype(DType::F32).unwrap().to_device(&device).unwrap();
    let out = model.forward(&input).unwrap();
    let logits = out.logits.to_device(&Device::Cpu).unwrap();
    let max =
        |t: &Tensor| -> f32 { t.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap() };
    let diff = max(&(&logits - &g["logits"]).unwrap());
    let scale = max(&g["logits"]);
    eprintln!("{name}: forward {:.1?}, max |logit diff| {diff:.3e} at logit scale {scale:.3}", t0.elapsed());
    assert!(diff <= 1e-4 * scale, "{name}: {diff} at scale {scale}");
    let argmax = |t: &Tensor| t.argmax(1).unwrap().to_vec1::<u32>().unwrap();
    assert_eq!(argmax(&logits), argmax(&g["logits"]));
}

#[test]
#[ignore = "needs the full-width goldens (tools/gen_model_goldens.py --full)"]
fn full_slowfast_r50_4x16() {
    check("full_slowfast_r50_4x16", Architecture::Slowfast(Box::new(SlowFastConfig::r50_4x16())));
}

#[test]
#[ignore = "needs the full-width goldens (tools/gen_model_goldens.py --full)"]
fn full_i3d_r50() {
    check("full_i3d_r50", Architecture::Resnet3d(ResNet3dConfig::i3d_r50()));
}

#[test]
#[ignore = "needs the full-width goldens (tools/gen_model_goldens.py --full)"]
fn full_tsn_r50() {
    check("full_tsn_r50", Architecture::Tsn(ResNet2dConfig::r50()));
}
