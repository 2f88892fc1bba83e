//! Recognisers against mmaction2 1.2.0 (`tools/gen_model_goldens.py`): the committed checkpoints
//! were written by mmaction2/mmengine and are loaded through the same `Recognizer::load` users run.
//!
//! Bar: max |logit − reference| ≤ 1e-4 × max |reference logit| (only float summation order differs),
//! the same for the pooled features, identical top-5 classes, and view averaging equal to
//! mmaction2's `average_clip` within the same bar (softmax moves by at most the largest logit
//! change). These random networks are not well conditioned: PyTorch's own f32 result differs from
//! its f64 result by up to ~3e-5 of the logit scale on the I3D and TSN-R50 fixtures, which is the
//! size of the differences seen here.
//!
//! The networks run on `VIDCLASS_TEST_DEVICE` (default: the CPU), so a CUDA build checks its GPU
//! path against the same goldens.

mod common;

use std::collections::HashMap;
use std::path::PathBuf;

use candle_core::{DType, Device, Tensor};
use common::device::test_device;
use vidclass::model::{Architecture, Checkpoint, ResNet3dConfig};
use vidclass::prepare::ViewProtocol;
use vidclass::{Averaging, Classifier, Error, ModelCard, Recognizer, average_views, convert_checkpoint};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models").join(name)
}

fn golden(name: &str) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(fixture(&format!("{name}.golden.safetensors")), &Device::Cpu).unwrap()
}

/// What a model card would say: only what the weights cannot.
fn arch(toml_text: &str) -> Architecture {
    toml::from_str(toml_text).unwrap()
}

fn max_abs(t: &Tensor) -> f32 {
    t.abs().unwrap().flatten_all().unwrap().max(0).unwrap().to_scalar().unwrap()
}

fn top5(scores: &[f32]) -> Vec<usize> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    idx.truncate(5);
    idx
}

/// The network's logits and features for the golden input, back on the CPU.
fn logits(model: &Recognizer, g: &HashMap<String, Tensor>) -> (Tensor, Tensor) {
    let input = g["input"].to_dtype(DType::F32).unwrap().to_device(&test_device()).unwrap();
    let out = model.forward(&input).unwrap();
    (out.logits.to_device(&Device::Cpu).unwrap(), out.features.to_device(&Device::Cpu).unwrap())
}

fn check(name: &str, arch: &Architecture) {
    let g = golden(name);
    let model = Recognizer::load(arch, &fixture(&format!("{name}.pth")), &test_device()).unwrap();
    assert_eq!(model.num_classes(), g["logits"].dim(1).unwrap());
    let (logits, features) = logits(&model, &g);
    let bar = 1e-4 * max_abs(&g["logits"]);
    for (what, ours, theirs) in [("logits", &logits, &g["logits"]), ("features", &features, &g["features"])] {
        assert_eq!(ours.dims(), theirs.dims(), "{name}: {what} shape");
        let diff = max_abs(&(ours - theirs).unwrap());
        let scale = max_abs(theirs);
        eprintln!("{name}: {what} max diff {diff:.3e} (scale {scale:.3})");
        assert!(diff <= 1e-4 * scale, "{name}: {what} differ by {diff} at scale {scale}");
    }
    let prob = average_views(&logits, Averaging::Prob).unwrap();
    let ref_prob: Vec<f32> = g["prob"].to_vec1().unwrap();
    assert_eq!(top5(&prob), top5(&ref_prob), "{name}: top-5");
    for (p, r) in prob.iter().zip(&ref_prob) {
        assert!((p - r).abs() <= bar, "{name}: prob {p} vs {r}");
    }
    // mmaction2's 'score' is the mean logit; ours adds a softmax for display.
    let score = average_views(&logits, Averaging::Score).unwrap();
    let ref_score = candle_nn::ops::softmax(&g["score"], 0).unwrap().to_vec1::<f32>().unwrap();
    for (p, r) in score.iter().zip(&ref_score) {
        assert!((p - r).abs() <= bar, "{name}: score {p} vs {r}");
    }
}

#[test]
fn tsn_r50_matches_mmaction2() {
    check("tsn_r50", &arch(r#"type = "tsn""#));
}

#[test]
fn tsn_r18_basic_block_matches_mmaction2() {
    check("tsn_r18", &arch(r#"type = "tsn""#));
}

#[test]
fn i3d_r50_matches_mmaction2() {
    check("i3d_r50", &arch("type = 'resnet3d'\nconv1_stride_t = 2\npool1_stride_t = 2\nwith_pool2 = true"));
}

#[test]
fn i3d_named_constructor_states_the_same_network() {
    // Explicit depth, kernel and per-block inflation instead of inferred ones; only the width differs.
    let cfg = ResNet3dConfig { base_channels: Some(4), ..ResNet3dConfig::i3d_r50() };
    check("i3d_r50", &Architecture::Resnet3d(cfg));
}

#[test]
fn resnet3d_3x3x3_inflation_matches_mmaction2() {
    check("resnet3d_r50_3x3x3", &arch("type = 'resnet3d'\nwith_pool2 = true"));
}

#[test]
fn resnet3d_r18_basic_block3d_matches_mmaction2() {
    check("resnet3d_r18", &arch("type = 'resnet3d'\npool1_stride_t = 2\nwith_pool2 = true"));
}

#[test]
fn slowonly_r50_matches_mmaction2() {
    check("slowonly_r50", &arch("type = 'resnet3d'"));
}

#[test]
fn slowfast_4x16_matches_mmaction2() {
    check(
        "slowfast_r50_4x16",
        &arch("type = 'slowfast'\nresample_rate = 8\nspeed_ratio = 8\n[slow]\n[fast]"),
    );
}

#[test]
fn slowfast_8x8_with_lateral_norm_matches_mmaction2() {
    check(
        "slowfast_r50_8x8_steplr",
        &arch("type = 'slowfast'\nresample_rate = 4\nspeed_ratio = 4\n[slow]\n[fast]"),
    );
}

fn load_error(arch: &Architecture, weights: &std::path::Path) -> String {
    match Recognizer::load(arch, weights, &Device::Cpu) {
        Err(e @ Error::Checkpoint { .. }) => e.to_string(),
        Err(e) => panic!("expected a checkpoint error, got {e}"),
        Ok(_) => panic!("a mismatching checkpoint loaded"),
    }
}

#[test]
fn wrong_architecture_names_the_missing_key() {
    let msg = load_error(&arch("type = 'resnet3d'"), &fixture("slowfast_r50_4x16.pth"));
    assert!(msg.contains("missing key backbone.layer1.0.conv1.conv.weight"), "{msg}");
}

#[test]
fn wrong_stem_kernel_names_key_and_shapes() {
    let msg = load_error(&arch("type = 'resnet3d'\nconv1_kernel = [1, 7, 7]"), &fixture("i3d_r50.pth"));
    assert!(
        msg.contains("backbone.conv1.conv.weight: expected shape [4, 3, 1, 7, 7], found [4, 3, 5, 7, 7]"),
        "{msg}"
    );
}

#[test]
fn wrong_fusion_kernel_names_the_lateral() {
    let cfg = "type = 'slowfast'\nresample_rate = 8\nspeed_ratio = 8\nfusion_kernel = 7\n[slow]\n[fast]";
    let msg = load_error(&arch(cfg), &fixture("slowfast_r50_4x16.pth"));
    assert!(msg.contains("backbone.slow_path.conv1_lateral.conv.weight: expected shape"), "{msg}");
}

#[test]
fn an_architecture_no_network_can_have_is_refused_before_the_weights() {
    // As a model card would be refused, for callers that build the description themselves.
    for (cfg, says) in [
        (
            "type = 'slowfast'\nresample_rate = 4\nspeed_ratio = 8\n[slow]\n[fast]",
            "architecture.resample_rate (4)",
        ),
        (
            "type = 'slowfast'\nresample_rate = 8\nspeed_ratio = 0\n[slow]\n[fast]",
            "architecture.speed_ratio (0)",
        ),
        (
            "type = 'resnet3d'\nspatial_strides = [1, 2, 0, 2]",
            "architecture.spatial_strides must be at least 1",
        ),
    ] {
        match Recognizer::load(&arch(cfg), &fixture("slowfast_r50_4x16.pth"), &Device::Cpu) {
            Err(Error::Usage(message)) => assert!(message.contains(says), "{message}"),
            Err(e) => panic!("expected the architecture's problem, got {e}"),
            Ok(_) => panic!("{cfg} loaded"),
        }
    }
}

#[test]
fn leftover_tensor_is_named_as_unexpected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("extra.safetensors");
    let mut tensors = Checkpoint::load(&fixture("tsn_r18.pth")).unwrap().tensors().clone();
    tensors.insert(
        "backbone.layer5.0.conv1.conv.weight".into(),
        Tensor::zeros(3, DType::F32, &Device::Cpu).unwrap(),
    );
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let msg = load_error(&arch(r#"type = "tsn""#), &path);
    assert!(msg.contains("unexpected key backbone.layer5.0.conv1.conv.weight"), "{msg}");
}

#[test]
fn converted_safetensors_give_identical_logits() {
    let dir = tempfile::tempdir().unwrap();
    let a = arch("type = 'slowfast'\nresample_rate = 8\nspeed_ratio = 8\n[slow]\n[fast]");
    let g = golden("slowfast_r50_4x16");
    let pth = fixture("slowfast_r50_4x16.pth");
    let reference = logits(&Recognizer::load(&a, &pth, &test_device()).unwrap(), &g).0;
    // The fixture weights are f16-representable by construction, so even f16 is lossless here.
    for f16 in [false, true] {
        let out = dir.path().join(format!("sf-{f16}.safetensors"));
        convert_checkpoint(&pth, &out, f16).unwrap();
        let keys = candle_core::safetensors::load(&out, &Device::Cpu).unwrap();
        assert!(keys.keys().all(|k| !k.ends_with("num_batches_tracked")));
        assert!(keys.contains_key("backbone.slow_path.conv1_lateral.conv.weight"));
        let ours = logits(&Recognizer::load(&a, &out, &test_device()).unwrap(), &g).0;
        assert_eq!(max_abs(&(ours - &reference).unwrap()), 0.0, "f16 = {f16}");
    }
    // So f16 is seen to round where a value needs it: 0.1 is stored as the nearest float16,
    // 1638 / 16384 = 0.0999755859375 (0.1 × 2^14 = 1638.4), in a tensor of dtype F16.
    let mut tensors = Checkpoint::load(&pth).unwrap().tensors().clone();
    let key = "cls_head.fc_cls.bias";
    let mut bias = tensors[key].to_vec1::<f32>().unwrap();
    bias[0] = 0.1;
    tensors.insert(key.into(), Tensor::new(bias, &Device::Cpu).unwrap());
    let (tenth, half) = (dir.path().join("tenth.safetensors"), dir.path().join("half.safetensors"));
    candle_core::safetensors::save(&tensors, &tenth).unwrap();
    convert_checkpoint(&tenth, &half, true).unwrap();
    let stored = &candle_core::safetensors::load(&half, &Device::Cpu).unwrap()[key];
    assert_eq!(stored.dtype(), DType::F16);
    let first = stored.to_dtype(DType::F32).unwrap().to_vec1::<f32>().unwrap()[0];
    assert_eq!(first, 1638.0 / 16384.0);
}

#[test]
fn pth_tensors_read_as_pytorch_stored_them() {
    // Transposed and permuted tensors, views into a larger or a shared storage, f16/f64/i64, in a
    // bare (not mmengine-nested) state dict; the truth is the same tensors made contiguous and
    // written by the safetensors library (tools/gen_pth_layouts.py).
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/pth_layouts");
    let ckpt = Checkpoint::load(&dir.join("bare.pth")).unwrap();
    let expected = candle_core::safetensors::load(dir.join("expected.safetensors"), &Device::Cpu).unwrap();
    assert_eq!(ckpt.tensors().len(), expected.len());
    let values =
        |t: &Tensor| t.to_dtype(DType::F32).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
    for (name, want) in &expected {
        let got = &ckpt.tensors()[name];
        assert_eq!(got.dims(), want.dims(), "{name}");
        assert_eq!(values(got), values(want), "{name}");
    }
}

#[test]
fn malformed_views_are_errors_not_panics_or_scores() {
    let i3d = arch("type = 'resnet3d'\nconv1_stride_t = 2\npool1_stride_t = 2\nwith_pool2 = true");
    let i3d = Recognizer::load(&i3d, &fixture("i3d_r50.pth"), &Device::Cpu).unwrap();
    let tsn = Recognizer::load(&arch(r#"type = "tsn""#), &fixture("tsn_r50.pth"), &Device::Cpu).unwrap();
    let zeros = |dims: &[usize]| Tensor::zeros(dims, DType::F32, &Device::Cpu).unwrap();
    let refused = |result: vidclass::Result<vidclass::ModelOutput>, says: &str| match result {
        Ok(_) => panic!("accepted where it should say {says:?}"),
        Err(e) => assert!(e.to_string().contains(says), "{e}"),
    };
    let shape = "with no empty axis, got shape";
    // Four channels, one, and empty axes: the kernels' own assertions used to panic here.
    refused(i3d.forward(&zeros(&[1, 4, 16, 32, 32])), shape);
    refused(i3d.forward(&zeros(&[1, 1, 16, 32, 32])), shape);
    refused(i3d.forward(&zeros(&[1, 3, 0, 32, 32])), shape);
    refused(i3d.forward(&zeros(&[0, 3, 16, 32, 32])), shape);
    refused(tsn.forward(&zeros(&[2, 4, 32, 32])), shape);
    refused(tsn.forward(&zeros(&[0, 3, 32, 32])), shape);
    // Views in PyTorch's layout handed to the channels-last entry point.
    refused(i3d.forward_channels_last(&zeros(&[1, 3, 16, 32, 32])), shape);
    // One NaN or infinity: the ReLUs would turn it into plausible scores.
    for bad in [f32::NAN, f32::INFINITY] {
        let mut values = vec![0.0; 3 * 16 * 32 * 32];
        values[1234] = bad;
        let input = Tensor::from_vec(values, (1, 3, 16, 32, 32), &Device::Cpu).unwrap();
        refused(i3d.forward(&input), "NaN or infinite");
    }
    // The same shapes with their own sizes still run.
    assert_eq!(i3d.forward(&zeros(&[2, 3, 16, 32, 32])).unwrap().logits.dims()[0], 2);
}

#[test]
fn a_classifier_refuses_views_no_card_may_hold() {
    let dir = tempfile::tempdir().unwrap();
    let card = common::cli::write_tiny_card(dir.path(), "http://127.0.0.1:9/unused.pth", "00000000");
    let card = ModelCard::from_file(&card).unwrap();
    let labels: Vec<String> = (0..7).map(|i| format!("class {i}")).collect();
    let weights = common::cli::tiny_weights();
    let new = |change: &dyn Fn(&mut ViewProtocol)| {
        let mut views = card.views.fast;
        change(&mut views);
        Classifier::new(&card, &weights, labels.clone(), views, Device::Cpu).err().map(|e| e.to_string())
    };
    // Each used to load, and then classified as one view, or panicked or aborted in `prepare`.
    assert_eq!(new(&|v| v.sample.num_clips = 0).unwrap(), "views: sample.num_clips must be at least 1");
    assert_eq!(new(&|v| v.resize_short_side = 0).unwrap(), "views: resize_short_side must be at least 1");
    assert!(new(&|v| v.sample.num_clips = 2_000_000).unwrap().contains("hold more than 4 GiB"));
    assert!(new(&|v| v.crop.size = 1000).unwrap().contains("is larger than the resized short side"));
    assert_eq!(new(&|_| {}), None, "the card's own views load");
    // Views the network cannot take are a kind of error of their own, told in the library's
    // words, not the command line's.
    let mut short = card.views.fast;
    short.sample.clip_len = 2;
    match Classifier::new(&card, &weights, labels.clone(), short, Device::Cpu) {
        Err(e @ vidclass::Error::ViewShape { frames: 2, size: 32, .. }) => {
            let message = e.to_string();
            assert!(message.starts_with("views of 2 frame(s) of 32×32 pixels do not fit the network: "));
            assert!(message.contains("(one in τ = 8)") && !message.contains("--"), "{message}");
        }
        other => panic!("{:?}", other.err()),
    }
}
