//! The 3-D ops of `vidclass::nn` against PyTorch goldens (`tools/gen_nn_goldens.py`).
//!
//! Goldens are NCTHW (PyTorch); the ops take channels-last NTHWC, so each test permutes in and out.
//! Convolutions and pooling are checked twice: in f32 (the CPU kernels) and in f64 (candle's
//! generic operations, the path other devices take).
//! Convolutions are compared to 1e-5 of the output scale (only the summation order differs);
//! pooling and resampling select values and must match exactly.

use std::collections::HashMap;

use candle_core::{DType, Device, Tensor};
use vidclass::nn::{BatchNorm, Conv3d, Conv3dParams, MaxPool3d, global_avg_pool, nearest_temporal};

fn goldens() -> HashMap<String, Tensor> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/nn_ops.safetensors");
    candle_core::safetensors::load(path, &Device::Cpu).expect("nn_ops.safetensors")
}

fn get<'a>(g: &'a HashMap<String, Tensor>, name: &str) -> &'a Tensor {
    g.get(name).unwrap_or_else(|| panic!("golden {name} missing"))
}

/// NCTHW → NTHWC.
fn to_cl(x: &Tensor) -> Tensor {
    x.permute((0, 2, 3, 4, 1)).unwrap().contiguous().unwrap()
}

/// NTHWC → NCTHW, in f32.
fn from_cl(x: &Tensor) -> Tensor {
    x.permute((0, 4, 1, 2, 3)).unwrap().to_dtype(DType::F32).unwrap().contiguous().unwrap()
}

/// The dtypes every conv and pool case runs in: f32 takes the CPU kernels, f64 the generic path.
const DTYPES: [DType; 2] = [DType::F32, DType::F64];

fn cast(x: &Tensor, dtype: DType) -> Tensor {
    x.to_dtype(dtype).unwrap()
}

fn geom(g: &HashMap<String, Tensor>, case: &str) -> [[usize; 3]; 4] {
    let v: Vec<i64> = get(g, &format!("{case}.geom")).to_vec1().unwrap();
    std::array::from_fn(|i| std::array::from_fn(|j| v[3 * i + j] as usize))
}

/// Max |a − b| and max |b|.
fn diff(a: &Tensor, b: &Tensor) -> (f32, f32) {
    assert_eq!(a.dims(), b.dims(), "shape");
    let d = (a - b).unwrap().abs().unwrap().flatten_all().unwrap().max(0).unwrap();
    let s = b.abs().unwrap().flatten_all().unwrap().max(0).unwrap();
    (d.to_scalar().unwrap(), s.to_scalar().unwrap())
}

fn cases(g: &HashMap<String, Tensor>, prefix: &str) -> Vec<String> {
    let mut v: Vec<String> = g
        .keys()
        .filter_map(|k| k.strip_suffix(".x"))
        .filter(|k| k.starts_with(prefix))
        .map(String::from)
        .collect();
    v.sort();
    assert!(!v.is_empty(), "no {prefix} cases");
    v
}

#[test]
fn conv3d_matches_pytorch() {
    let g = goldens();
    for (case, dtype) in cases(&g, "conv").into_iter().flat_map(|c| DTYPES.map(|d| (c.clone(), d))) {
        let [_, stride, padding, dilation] = geom(&g, &case);
        let params = Conv3dParams { stride, padding, dilation };
        let w = cast(get(&g, &format!("{case}.w")), dtype);
        let b = g.get(&format!("{case}.b")).map(|b| cast(b, dtype));
        let conv = Conv3d::new(&w, b.as_ref(), params).unwrap();
        let y = from_cl(&conv.forward(&to_cl(&cast(get(&g, &format!("{case}.x")), dtype))).unwrap());
        let (d, s) = diff(&y, get(&g, &format!("{case}.y")));
        assert!(d <= 1e-5 * s, "{case} {dtype:?}: max diff {d} at scale {s}");
    }
}

#[test]
fn conv3d_fuses_residual_and_relu() {
    let g = goldens();
    for dtype in DTYPES {
        for case in cases(&g, "conv") {
            let [_, stride, padding, dilation] = geom(&g, &case);
            let params = Conv3dParams { stride, padding, dilation };
            let w = cast(get(&g, &format!("{case}.w")), dtype);
            let b = g.get(&format!("{case}.b")).map(|b| cast(b, dtype));
            let conv = Conv3d::new(&w, b.as_ref(), params).unwrap();
            let x = to_cl(&cast(get(&g, &format!("{case}.x")), dtype));
            let plain = conv.forward(&x).unwrap();
            let residual = plain.sin().unwrap();
            let fused = conv.forward_fused(&x, Some(&residual), true).unwrap();
            let expected = (plain + &residual).unwrap().relu().unwrap();
            let (d, s) = diff(&from_cl(&fused), &from_cl(&expected));
            assert!(d <= 1e-6 * s, "{case} {dtype:?}: max diff {d} at scale {s}");
        }
    }
}

#[test]
fn max_pool3d_matches_pytorch_exactly() {
    let g = goldens();
    for (case, dtype) in cases(&g, "pool").into_iter().flat_map(|c| DTYPES.map(|d| (c.clone(), d))) {
        let [kernel, stride, padding, _] = geom(&g, &case);
        let pool = MaxPool3d::new(kernel, stride, padding);
        let y = from_cl(&pool.forward(&to_cl(&cast(get(&g, &format!("{case}.x")), dtype))).unwrap());
        let (d, _) = diff(&y, get(&g, &format!("{case}.y")));
        assert_eq!(d, 0.0, "{case} {dtype:?}");
    }
}

#[test]
fn max_pool3d_rejects_padding_over_half_the_kernel() {
    let x = Tensor::zeros((1, 4, 4, 4, 1), DType::F32, &Device::Cpu).unwrap();
    assert!(MaxPool3d::new([1, 3, 3], [1, 1, 1], [0, 2, 2]).forward(&x).is_err());
}

#[test]
fn global_avg_pool_matches_pytorch() {
    let g = goldens();
    let y = global_avg_pool(&to_cl(get(&g, "gap.x"))).unwrap();
    let (d, s) = diff(&y, get(&g, "gap.y"));
    assert!(d <= 1e-6 * s, "max diff {d}");
}

#[test]
fn nearest_temporal_picks_pytorchs_frames() {
    let g = goldens();
    for case in cases(&g, "nearest") {
        let tau: Vec<i64> = get(&g, &format!("{case}.tau")).to_vec1().unwrap();
        let y =
            from_cl(&nearest_temporal(&to_cl(get(&g, &format!("{case}.x"))), 1.0 / tau[0] as f64).unwrap());
        let (d, _) = diff(&y, get(&g, &format!("{case}.y")));
        assert_eq!(d, 0.0, "{case}");
    }
}

#[test]
fn folded_batch_norm_matches_conv_then_bn() {
    let g = goldens();
    let bn = BatchNorm {
        weight: get(&g, "bn.weight").clone(),
        bias: get(&g, "bn.bias").clone(),
        running_mean: get(&g, "bn.running_mean").clone(),
        running_var: get(&g, "bn.running_var").clone(),
        eps: 1e-5,
    };
    let (w, b) = bn.fold_into(get(&g, "bn.w")).unwrap();
    let conv = Conv3d::new(&w, Some(&b), Conv3dParams::new([1; 3], [1; 3])).unwrap();
    let y = from_cl(&conv.forward(&to_cl(get(&g, "bn.x"))).unwrap());
    let (d, s) = diff(&y, get(&g, "bn.y"));
    assert!(d <= 1e-5 * s, "max diff {d} at scale {s}");
}

/// Every CPU algorithm (Winograd in space and in time, shifted temporal taps, the direct narrow
/// stem, the polyphase stem, per-frame windows, im2col) against the generic path in f64, on odd
/// sizes and channel counts that do not fill the SIMD lanes, and with output widths that take the
/// panel kernel where the CPU has AVX-512.
#[test]
fn cpu_kernels_match_the_generic_path() {
    // (in channels, out channels, kernel, stride, padding, input [T, H, W])
    let cases = [
        (5, 11, [1, 3, 3], [1, 1, 1], [0, 1, 1], [2, 7, 9]), // Winograd, partial tiles
        (16, 8, [1, 3, 3], [1, 1, 1], [0, 1, 1], [1, 4, 4]), // Winograd, one tile
        (6, 67, [3, 1, 1], [1, 1, 1], [1, 0, 0], [5, 3, 4]), // temporal Winograd, partial tile
        (10, 64, [3, 1, 1], [1, 1, 1], [1, 0, 0], [8, 2, 3]), // temporal Winograd, two tiles
        (6, 64, [3, 1, 1], [1, 1, 1], [1, 0, 0], [1, 3, 4]), // temporal Winograd, one frame
        (6, 7, [3, 1, 1], [1, 1, 1], [1, 0, 0], [5, 3, 4]),  // shifted temporal taps
        (5, 3, [5, 1, 1], [1, 1, 1], [2, 0, 0], [6, 2, 3]),  // shifted, five taps
        (9, 4, [1, 1, 1], [1, 1, 1], [0, 0, 0], [3, 5, 5]),  // plain product
        (9, 64, [1, 1, 1], [1, 1, 1], [0, 0, 0], [3, 5, 5]), // plain product, 32-column panels
        (6, 32, [3, 1, 1], [1, 1, 1], [1, 0, 0], [5, 3, 4]), // shifted taps, panels
        (8, 64, [1, 1, 1], [2, 2, 2], [0, 0, 0], [4, 6, 7]), // strided 1×1 (im2col), panels
        (5, 32, [1, 3, 3], [1, 1, 1], [0, 1, 1], [2, 7, 9]), // Winograd, panels
        (3, 8, [5, 7, 7], [1, 2, 2], [2, 3, 3], [6, 15, 13]), // fast stem, narrow frame: direct
        (3, 6, [5, 7, 7], [1, 2, 2], [2, 3, 3], [3, 5, 45]), // fast stem, two pixel blocks: direct
        (3, 5, [5, 7, 7], [2, 2, 2], [2, 3, 3], [7, 12, 12]), // I3D stem, 5 outputs: direct
        (3, 64, [5, 7, 7], [1, 2, 2], [2, 3, 3], [4, 9, 10]), // 64 outputs: per-frame
        (3, 12, [5, 7, 7], [2, 2, 2], [2, 3, 3], [7, 12, 12]), // I3D stem (stride 2 in time): polyphase
        (3, 64, [5, 7, 7], [2, 2, 2], [2, 3, 3], [13, 9, 10]), // polyphase, two tiles of 4 frames
        (3, 10, [5, 7, 7], [2, 2, 2], [2, 3, 3], [1, 9, 9]), // polyphase, one frame, no odd phase
        (2, 9, [5, 3, 3], [2, 1, 1], [2, 1, 1], [10, 5, 6]), // polyphase, another spatial window
        (3, 12, [3, 7, 7], [2, 2, 2], [1, 3, 3], [7, 12, 12]), // stride 2 in time, 3 taps: per-frame
        (1, 8, [1, 3, 3], [1, 1, 1], [0, 1, 1], [1, 5, 29]), // one channel, stride 1: direct
        (8, 8, [1, 3, 3], [1, 1, 1], [0, 1, 1], [2, 6, 31]), // fast-pathway 3×3: direct
        (4, 7, [3, 3, 3], [1, 3, 2], [1, 0, 2], [3, 8, 23]), // window wider than padding: direct
        (6, 5, [3, 3, 3], [1, 1, 1], [1, 1, 1], [4, 6, 7]),  // narrow 3×3×3 inflation: direct
        (6, 9, [3, 3, 3], [1, 1, 1], [1, 1, 1], [4, 6, 7]),  // 3×3×3 inflation: per-frame
        (5, 6, [1, 3, 3], [1, 2, 2], [0, 1, 1], [2, 9, 8]),  // strided 3×3: im2col
        (8, 6, [1, 1, 1], [2, 2, 2], [0, 0, 0], [4, 6, 7]),  // strided 1×1: im2col
    ];
    let dev = Device::Cpu;
    for (i, (c, o, kernel, stride, padding, [t, h, w])) in cases.into_iter().enumerate() {
        let weight = Tensor::randn(0f32, 1.0, (o, c, kernel[0], kernel[1], kernel[2]), &dev).unwrap();
        let bias = Tensor::randn(0f32, 1.0, o, &dev).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, t, h, w, c), &dev).unwrap();
        let params = Conv3dParams::new(stride, padding);
        let run = |dtype: DType, residual: Option<&Tensor>| {
            let conv = Conv3d::new(&cast(&weight, dtype), Some(&cast(&bias, dtype)), params).unwrap();
            let r = residual.map(|r| cast(r, dtype));
            conv.forward_fused(&cast(&x, dtype), r.as_ref(), true).unwrap().to_dtype(DType::F32).unwrap()
        };
        let plain = run(DType::F64, None);
        let residual = plain.cos().unwrap();
        // With a residual, and without (where the panel kernel applies the bias and ReLU itself).
        for residual in [Some(&residual), None] {
            let (d, s) = diff(&run(DType::F32, residual), &run(DType::F64, residual));
            assert!(d <= 1e-5 * s, "case {i}: max diff {d} at scale {s}");
        }
    }
}
