//! The embedded model cards parse, agree with their names, and state what the configs say.

use vidclass::ModelCard;
use vidclass::model::Architecture;
use vidclass::transform::CropKind;
use vidclass::zoo::labels;

#[test]
fn every_builtin_card_parses_and_is_consistent() {
    let cards = ModelCard::all().unwrap();
    assert_eq!(cards.len(), 13);
    for card in &cards {
        assert_eq!(ModelCard::builtin(&card.name).unwrap(), *card);
        let checkpoint = card.checkpoint.as_ref().expect("a built-in card names its checkpoint");
        assert!(checkpoint.url.ends_with(&format!("-{}.pth", checkpoint.sha256_prefix)), "{}", card.name);
        assert_eq!(checkpoint.sha256_prefix.len(), 8);
        assert!(card.metrics.as_ref().is_some_and(|m| m.top1 > 50.0), "{}: published accuracy", card.name);
        assert_eq!(labels(&card.labels).unwrap().len(), 400);
        let tsn = matches!(card.architecture, Architecture::Tsn(_));
        let (full, fast) = (&card.views.full, &card.views.fast);
        assert_eq!(full.crop.kind, if tsn { CropKind::Ten } else { CropKind::Three }, "{}", card.name);
        assert_eq!(full.sample.num_clips, if tsn { 25 } else { 10 });
        assert_eq!(fast.crop.kind, CropKind::Center);
        assert_eq!(full.sample.clip_len, fast.sample.clip_len);
    }
}

#[test]
fn unknown_card_lists_the_known_ones() {
    let err = ModelCard::builtin("resnet-9000").unwrap_err().to_string();
    assert!(err.contains("slowfast-r50-4x16-k400"), "{err}");
}

#[test]
fn kinetics400_labels_are_mmaction2s_order() {
    let l = labels("kinetics400").unwrap();
    assert_eq!((l[0].as_str(), l[5].as_str(), l[399].as_str()), ("abseiling", "archery", "zumba"));
    assert_eq!(l[208], "passing American football (in game)");
    assert_eq!(l[209], "passing American football (not in game)");
}

#[test]
fn a_folder_is_no_card() {
    let dir = tempfile::tempdir().unwrap();
    let err = ModelCard::from_file(dir.path()).unwrap_err().to_string();
    assert!(err.ends_with(": is a folder, not a model card"), "{err}");
}

#[test]
fn card_from_file_reads_the_same_schema() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/i3d-r50-k400.toml");
    let card = ModelCard::from_file(&path).unwrap();
    let Architecture::Resnet3d(cfg) = &card.architecture else { panic!("i3d is a ResNet3d") };
    assert!(cfg.with_pool2 && cfg.conv1_stride_t == 2 && cfg.pool1_stride_t == 2);
}

#[test]
fn a_three_crop_smaller_than_its_frame_is_refused() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/slowfast-r50-4x16-k400.toml");
    let original = std::fs::read_to_string(path).unwrap();
    let (from, to) = ("kind = \"three\", size = 256", "kind = \"three\", size = 224");
    assert!(original.contains(from));
    let dir = tempfile::tempdir().unwrap();
    let card = dir.path().join("card.toml");
    std::fs::write(&card, original.replacen(from, to, 1)).unwrap();
    let err = ModelCard::from_file(&card).unwrap_err().to_string();
    assert!(err.contains("a three-crop covers the short side, so its size (224) must be 256"), "{err}");
}

#[test]
fn a_card_with_unusable_values_is_refused_by_its_field() {
    let original = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("models/tsn-r50-1x1x8-k400.toml"),
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("num_clips = 25", "num_clips = 0", "views.full.sample.num_clips must be at least 1"),
        (
            "kind = \"center\", size = 224",
            "kind = \"center\", size = 0",
            "views.fast.crop.size must be at least 1",
        ),
        ("kind = \"ten\", size = 224", "kind = \"ten\", size = 300", "views.full: the crop (300) is larger"),
        ("std = [58.395", "std = [0.0", "std [0.0, 57.12, 57.375] positive"),
        // A typo, or a reference option vidclass has no such thing as, is no silent no-op.
        ("std = [58.395", "to_bgr = true\nstd = [58.395", "unknown field `to_bgr`, expected `mean` or `std`"),
        ("kind = \"ten\", size = 224", "kind = \"ten\", size = 224, flip = true", "unknown field `flip`"),
        ("num_clips = 25", "num_clips = 25, twice = true", "unknown field `twice`"),
        // A name printed in every table header and message: a terminal escape would drive the terminal.
        (
            "name = \"tsn-r50-1x1x8-k400\"",
            "name = \"tsn\\u001b[2J\"",
            "name: \"tsn\\u{1b}[2J\" must be a name on one line",
        ),
        // A download that nothing checks, or that no file can match.
        (
            "sha256_prefix = \"",
            "sha256_prefix = \"\" #",
            "checkpoint.sha256_prefix: \"\" must be the first 8",
        ),
        ("sha256_prefix = \"", "sha256_prefix = \"zz", "sha256_prefix: \"zz"),
        ("url = \"https://", "url = \"file:///", "checkpoint.url: \"file:///"),
        (".pth\"", "/\"", "must end with the checkpoint's file name"),
        (".pth\"", "/..\"", "must end with the checkpoint's file name"),
        ("url = \"https://download.openmmlab.com/", "url = \"https://example.org\" #", "must end with"),
    ];
    for (from, to, says) in cases {
        assert!(original.contains(from), "{from}");
        let path = dir.path().join("card.toml");
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let err = ModelCard::from_file(&path).unwrap_err().to_string();
        assert!(err.contains(says), "{to}: {err}");
    }
}

#[test]
fn a_card_whose_architecture_no_network_can_have_is_refused_by_its_field() {
    // Not left for the checkpoint's load to report, as if the weights were wrong.
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (
            "slowfast-r50-4x16-k400",
            "resample_rate = 8",
            "resample_rate = 0",
            "architecture.resample_rate (0)",
        ),
        ("slowfast-r50-4x16-k400", "speed_ratio = 8", "speed_ratio = 0", "and both at least 1"),
        (
            "slowfast-r50-4x16-k400",
            "fusion_kernel = 5",
            "fusion_kernel = 0",
            "fusion_kernel must be at least 1",
        ),
        (
            "slowfast-r50-4x16-k400",
            "conv1_kernel = [5, 7, 7]",
            "conv1_kernel = [0, 7, 7]",
            "architecture.fast.conv1_kernel",
        ),
        (
            "i3d-r50-k400",
            "conv1_stride_t = 2",
            "conv1_stride_t = 0",
            "architecture.conv1_stride_t must be at least 1",
        ),
        ("tsn-r50-1x1x8-k400", "depth = 50", "depth = 50\nstrides = [1, 0, 2, 2]", "architecture.strides"),
        // A value of the wrong type or length names its field, also in a pathway's table.
        ("slowfast-r50-4x16-k400", "depth = 50", "depth = \"50\"", "expected usize in `slow.depth`"),
        (
            "slowfast-r50-4x16-k400",
            "[5, 7, 7]",
            "[5, 7]",
            "expected an array of length 3 in `fast.conv1_kernel`",
        ),
        ("i3d-r50-k400", "type = \"resnet3d\"", "type = \"resnet2d\"", "unknown variant `resnet2d`"),
        ("tsn-r50-1x1x8-k400", "type = \"tsn\"\n", "", "missing field `type`"),
    ];
    for (card, from, to, says) in cases {
        let original = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("models/{card}.toml")),
        )
        .unwrap();
        assert!(original.contains(from), "{from}");
        let path = dir.path().join("card.toml");
        std::fs::write(&path, original.replacen(from, to, 1)).unwrap();
        let err = ModelCard::from_file(&path).unwrap_err().to_string();
        assert!(err.contains(says), "{to}: {err}");
    }
}

#[test]
fn a_checkpoint_is_cached_under_the_file_name_of_its_url_with_its_hash() {
    let named = |url: &str, sha256_prefix: &str| {
        let checkpoint =
            vidclass::zoo::CheckpointRef { url: url.into(), sha256_prefix: sha256_prefix.into() };
        checkpoint.cache_name()
    };
    // mmaction2's published names carry the hash prefix already.
    let published = "https://h/a/w_20200101-12345678.pth";
    assert_eq!(named(published, "12345678").as_deref(), Some("w_20200101-12345678.pth"));
    assert_eq!(named(published, "1234ABCD").as_deref(), Some("w_20200101-12345678-1234abcd.pth"));
    // A card that gives the whole hash of a published file finds it under its published name.
    let whole = format!("12345678{}", "0".repeat(56));
    assert_eq!(named(published, &whole).as_deref(), Some("w_20200101-12345678.pth"));
    assert_eq!(named("https://h/w.pth", &whole).as_deref(), Some("w-12345678.pth"));
    // The date of a published name is not its hash.
    let dated = "https://h/other/tsn_20220906-cd10898e.pth";
    assert_eq!(named(dated, "20220906").as_deref(), Some("tsn_20220906-cd10898e-20220906.pth"));
    // Two cards whose URLs end alike share a cached file only when they expect the same one.
    assert_eq!(named("https://h/ucf101/model.pth", "aaaa0000").as_deref(), Some("model-aaaa0000.pth"));
    assert_eq!(named("https://h/hmdb51/model.pth", "bbbb0000").as_deref(), Some("model-bbbb0000.pth"));
    assert_eq!(named("https://h/weights", "12345678").as_deref(), Some("weights-12345678"));
    assert_eq!(named("https://h/.pth", "12345678").as_deref(), Some(".pth-12345678"));
    // A signed URL's query and a fragment are not part of the file's name.
    assert_eq!(named("https://h/a/w.pth?X-Sig=a/b#part", "12345678").as_deref(), Some("w-12345678.pth"));
    // A name too long for a file system (with `.part` added) keeps its start, digits and
    // extension, cut at a character's boundary.
    let long_stem = format!("{}é{}", "a".repeat(236), "b".repeat(100));
    let long = named(&format!("https://h/{long_stem}.pth"), "12345678").unwrap();
    assert_eq!(long, format!("{}-12345678.pth", "a".repeat(236)));
    let hashed = named(&format!("https://h/{long_stem}-12345678.pth"), "12345678").unwrap();
    assert_eq!(hashed, long);
    let just_fits = format!("{}-12345678.pth", "c".repeat(237));
    assert_eq!(named(&format!("https://h/{just_fits}"), "12345678"), Some(just_fits));
    for nameless in ["https://h", "https://h/", "https://h/a/..", "https://h/a/.?x", "no-scheme/w.pth"] {
        assert_eq!(named(nameless, "12345678"), None, "{nameless}");
    }
}

#[test]
fn builtin_cards_state_the_stem_depth_and_fusion_of_their_configs() {
    use vidclass::model::{ResNet3dConfig, SlowFastConfig};
    let stated = |c: &ResNet3dConfig| (c.depth, c.conv1_kernel);
    for card in ModelCard::all().unwrap() {
        let name = card.name.as_str();
        match &card.architecture {
            Architecture::Tsn(c) => assert_eq!(c.depth, Some(50), "{name}"),
            Architecture::Resnet3d(c) => {
                let config = if name.starts_with("i3d") {
                    ResNet3dConfig::i3d_r50()
                } else {
                    ResNet3dConfig::slowonly_r50()
                };
                assert_eq!(stated(c), stated(&config), "{name}");
            }
            Architecture::Slowfast(c) => {
                let config = match name {
                    "slowfast-r50-4x16-k400" => SlowFastConfig::r50_4x16(),
                    "slowfast-r50-8x8-k400" | "slowfast-r50-8x8-steplr-k400" => SlowFastConfig::r50_8x8(),
                    "slowfast-r101-8x8-k400" => SlowFastConfig::r101_8x8(),
                    "slowfast-r101-r50-4x16-k400" => SlowFastConfig::r101_r50_4x16(),
                    other => panic!("{other}: which config?"),
                };
                assert_eq!(c.fusion_kernel, config.fusion_kernel, "{name}");
                assert_eq!(stated(&c.slow), stated(&config.slow), "{name}");
                assert_eq!(stated(&c.fast), stated(&config.fast), "{name}");
            }
        }
    }
}

#[test]
fn a_builtin_card_refuses_the_checkpoint_of_another_model() {
    // Before the cards stated the stem's kernel, I3D weights under the SlowOnly card built an I3D
    // network with SlowOnly's strides and sampling, and it ran.
    let card = ModelCard::builtin("slowonly-r50-4x16-k400").unwrap();
    let i3d = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/models/i3d_r50.pth");
    let err = vidclass::Recognizer::load(&card.architecture, &i3d, &candle_core::Device::Cpu).unwrap_err();
    let err = err.to_string();
    assert!(err.contains("backbone.conv1.conv.weight") && err.contains("another architecture"), "{err}");
}
