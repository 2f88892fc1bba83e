//! `vidclass predict` against mmaction2's own `inference_recognizer` on the same clips and
//! weights (goldens by `tools/gen_e2e_goldens.py`): every stage at once, from the video file to
//! the averaged class scores.

mod common;

use common::cli::{TINY_SLOWFAST, fixtures, json_lines, vidclass, write_card};

#[test]
fn predict_matches_mmaction2_inference_recognizer() {
    let goldens: serde_json::Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("e2e/goldens.json")).unwrap()).unwrap();
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let labels = fixtures().join("e2e/labels7.txt");
    let dir = tempfile::tempdir().unwrap();
    for case in goldens.as_array().unwrap() {
        let id = case["id"].as_str().unwrap();
        let architecture = if id.starts_with("tsn") { "type = \"tsn\"" } else { TINY_SLOWFAST };
        let s = &case["sample"];
        let full = format!(
            "sample = {{ clip_len = {}, frame_interval = {}, num_clips = {} }}\nresize_short_side = {}\ncrop = {{ kind = \"{}\", size = {} }}",
            s["clip_len"],
            s["frame_interval"],
            s["num_clips"],
            case["resize_short_side"],
            case["crop"]["kind"].as_str().unwrap(),
            case["crop"]["size"]
        );
        let card =
            write_card(dir.path(), id, architecture, &full, "http://127.0.0.1:9/unused.pth", "00000000");
        let weights = root.join(case["checkpoint"].as_str().unwrap());
        let clip = root.join(case["clip"].as_str().unwrap());
        let args = [
            "predict",
            "--model",
            card.to_str().unwrap(),
            "--weights",
            weights.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
            "--views",
            "full",
            "-k",
            "0",
            "--format",
            "jsonl",
            clip.to_str().unwrap(),
        ];
        let output = vidclass(&args, b"", dir.path());
        assert_eq!(output.status.code(), Some(0), "{id}: {}", String::from_utf8_lossy(&output.stderr));
        let record = &json_lines(&output)[0];
        assert_eq!(record["views"], case["pipeline_info"]["model_input_shape"][0], "{id}");
        let expected: Vec<f64> =
            case["scores"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
        let mut got = vec![f64::NAN; expected.len()];
        for entry in record["top"].as_array().unwrap() {
            got[entry["index"].as_u64().unwrap() as usize] = entry["score"].as_f64().unwrap();
        }
        let max_diff = got.iter().zip(&expected).map(|(a, b)| (a - b).abs()).fold(0.0, f64::max);
        println!("{id}: max |score - mmaction2| = {max_diff:.2e}");
        // Measured: below 1e-6 on every case (float32 summation order).
        assert!(max_diff < 1e-5, "{id}: {got:?} vs {expected:?}");
        assert_eq!(record["top"][0]["index"], case["top1"], "{id}");
    }
}
