//! Printer tests: each format's exact text, and JSON parsed back field by field.

use std::cell::RefCell;
use std::io::{self, Write};
use std::rc::Rc;

use serde_json::Value;

use super::*;

fn prediction(input: &str, top: &[(&str, usize, f32)]) -> Record {
    Record::Prediction(Prediction {
        input: input.into(),
        input_bytes: None,
        model: "tsn_r50".into(),
        top: top
            .iter()
            .map(|&(label, index, score)| TopEntry { label: label.into(), index, score })
            .collect(),
        views: 25,
        frames: 250,
        decode_ms: 120,
        infer_ms: 340,
        warnings: Vec::new(),
    })
}

fn failure(input: &str, error: &str) -> Record {
    Record::Failure(Failure { input: input.into(), input_bytes: None, error: error.into() })
}

fn render(format: OutputFormat, records: &[Record]) -> String {
    let mut printer = Printer::new(format, Vec::new());
    for r in records {
        printer.write_result(r).unwrap();
    }
    String::from_utf8(printer.finish().unwrap()).unwrap()
}

#[test]
fn jsonl_parses_back_field_by_field() {
    let records = [
        prediction("a.mp4", &[("riding a bike", 7, 0.75), ("skateboarding", 2, 0.125)]),
        failure("b.mp4", "b.mp4: no video stream"),
    ];
    let text = render(OutputFormat::Jsonl, &records);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2);

    let p: Value = serde_json::from_str(lines[0]).unwrap();
    assert_eq!(p["input"], "a.mp4");
    assert_eq!(p["model"], "tsn_r50");
    assert_eq!(p["top"][0]["label"], "riding a bike");
    assert_eq!(p["top"][0]["index"], 7);
    assert_eq!(p["top"][0]["score"], 0.75);
    assert_eq!(p["top"][1]["label"], "skateboarding");
    assert_eq!(p["top"][1]["index"], 2);
    assert_eq!(p["top"][1]["score"], 0.125);
    assert_eq!(p["top"].as_array().unwrap().len(), 2);
    assert_eq!(p["views"], 25);
    assert_eq!(p["frames"], 250);
    assert_eq!(p["decode_ms"], 120);
    assert_eq!(p["infer_ms"], 340);
    assert_eq!(p.as_object().unwrap().len(), 7);

    let f: Value = serde_json::from_str(lines[1]).unwrap();
    assert_eq!(f, serde_json::json!({"input": "b.mp4", "error": "b.mp4: no video stream"}));

    let back: Vec<Record> = lines.iter().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(back, records);
}

#[test]
fn json_keys_come_in_the_documented_order() {
    let text = render(OutputFormat::Jsonl, &[prediction("a.mp4", &[("x", 1, 0.5)])]);
    assert_eq!(
        text,
        "{\"input\":\"a.mp4\",\"model\":\"tsn_r50\",\"top\":[{\"label\":\"x\",\"index\":1,\"score\":0.5}],\
         \"views\":25,\"frames\":250,\"decode_ms\":120,\"infer_ms\":340}\n"
    );
}

#[test]
fn json_array_is_one_valid_document() {
    let records = [prediction("a.mp4", &[("x", 1, 0.5)]), failure("b.mp4", "broken")];
    let text = render(OutputFormat::Json, &records);
    let parsed: Vec<Record> = serde_json::from_str(&text).unwrap();
    assert_eq!(parsed, records);
    assert!(text.ends_with("]\n"));
}

#[test]
fn json_array_without_records_is_empty_array() {
    assert_eq!(render(OutputFormat::Json, &[]), "[]\n");
}

/// A writer whose bytes stay readable while a printer owns it.
#[derive(Clone, Default)]
struct Shared(Rc<RefCell<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn json_array_streams_each_record_before_finish() {
    let shared = Shared::default();
    let mut printer = Printer::new(OutputFormat::Json, std::io::BufWriter::new(shared.clone()));
    printer.write_result(&failure("a.mp4", "nope")).unwrap();
    let so_far = String::from_utf8(shared.0.borrow().clone()).unwrap();
    assert_eq!(so_far, "[\n{\"input\":\"a.mp4\",\"error\":\"nope\"}");
    printer.finish().unwrap();
    assert!(shared.0.borrow().ends_with(b"}\n]\n"));
}

#[test]
fn csv_quotes_a_label_with_a_comma_and_a_quote() {
    let text = render(OutputFormat::Csv, &[prediction("a.mp4", &[("say \"hi\", wave", 3, 0.5)])]);
    assert_eq!(
        text,
        "input,rank,label,index,score,model,views,frames,decode_ms,infer_ms,error\n\
         a.mp4,1,\"say \"\"hi\"\", wave\",3,0.5,tsn_r50,25,250,120,340,\n"
    );
}

#[test]
fn csv_has_one_row_per_rank_and_one_per_failure() {
    let text = render(
        OutputFormat::Csv,
        &[prediction("a.mp4", &[("x", 1, 0.75), ("y", 0, 0.25)]), failure("b,c.mp4", "b,c.mp4: gone")],
    );
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[1..],
        [
            "a.mp4,1,x,1,0.75,tsn_r50,25,250,120,340,",
            "a.mp4,2,y,0,0.25,tsn_r50,25,250,120,340,",
            "\"b,c.mp4\",,,,,,,,,,\"b,c.mp4: gone\"",
        ]
    );
}

#[test]
fn csv_keeps_an_input_with_nothing_above_min_score() {
    let text = render(OutputFormat::Csv, &[prediction("a.mp4", &[])]);
    assert_eq!(text.lines().nth(1), Some("a.mp4,,,,,tsn_r50,25,250,120,340,"));
}

#[test]
fn csv_without_records_is_just_the_header() {
    assert_eq!(
        render(OutputFormat::Csv, &[]),
        "input,rank,label,index,score,model,views,frames,decode_ms,infer_ms,error\n"
    );
}

#[test]
fn tsv_escapes_tabs_newlines_and_backslashes() {
    let text = render(OutputFormat::Tsv, &[failure("dir\\a\tb.mp4", "line one\nline two\r")]);
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "input\trank\tlabel\tindex\tscore\tmodel\tviews\tframes\tdecode_ms\tinfer_ms\terror"
    );
    assert_eq!(lines[1], "dir\\\\a\\tb.mp4\t\t\t\t\t\t\t\t\t\tline one\\nline two\\r");
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[1].split('\t').count(), 11);
}

#[test]
fn tsv_leaves_commas_and_quotes_alone() {
    let text = render(OutputFormat::Tsv, &[prediction("a.mp4", &[("say \"hi\", wave", 3, 0.5)])]);
    assert_eq!(text.lines().nth(1), Some("a.mp4\t1\tsay \"hi\", wave\t3\t0.5\ttsn_r50\t25\t250\t120\t340\t"));
}

#[test]
fn table_aligns_ranks_and_scores_and_separates_inputs() {
    let top: Vec<(String, usize, f32)> =
        (0..10).map(|i| (format!("class {i}"), i, if i == 0 { 10.5 } else { 0.5 / i as f32 })).collect();
    let top: Vec<(&str, usize, f32)> = top.iter().map(|(l, i, s)| (l.as_str(), *i, *s)).collect();
    let text = render(OutputFormat::Table, &[prediction("a.mp4", &top[..]), failure("b.mp4", "b.mp4: gone")]);
    let expected = "\
a.mp4 (tsn_r50; 25 views, 250 frames; decode 120 ms, infer 340 ms)
   1  10.5000  class 0
   2   0.5000  class 1
   3   0.2500  class 2
   4   0.1667  class 3
   5   0.1250  class 4
   6   0.1000  class 5
   7   0.0833  class 6
   8   0.0714  class 7
   9   0.0625  class 8
  10   0.0556  class 9

b.mp4
  error: b.mp4: gone
";
    assert_eq!(text, expected);
}

#[test]
fn table_says_when_nothing_reached_min_score() {
    let text = render(OutputFormat::Table, &[prediction("a.mp4", &[])]);
    assert_eq!(text.lines().nth(1), Some("  (no class reached the minimum score)"));
}

#[test]
fn table_headers_stay_one_line_whatever_the_file_name() {
    let records = [prediction("new\nline.mp4", &[("a", 0, 1.0)]), failure("cr\r.mp4", "cr\r.mp4: gone")];
    let text = render(OutputFormat::Table, &records);
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("new\\nline.mp4 ("), "{text}");
    assert_eq!(lines[1..], ["  1  1.0000  a", "", "cr\\r.mp4", "  error: cr\\r.mp4: gone"]);
}

#[test]
fn table_without_records_is_empty() {
    assert_eq!(render(OutputFormat::Table, &[]), "");
}

/// A stdout whose reader has gone away.
struct ClosedPipe;

impl Write for ClosedPipe {
    fn write(&mut self, _: &[u8]) -> io::Result<usize> {
        Err(io::ErrorKind::BrokenPipe.into())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn write_errors_reach_the_caller_as_broken_pipe() {
    for format in [OutputFormat::Table, OutputFormat::Json, OutputFormat::Jsonl, OutputFormat::Csv] {
        let mut printer = Printer::new(format, ClosedPipe);
        let err = printer.write_result(&failure("a.mp4", "x")).unwrap_err();
        assert!(is_broken_pipe(&err), "{format:?}: {err}");
    }
}

#[test]
fn broken_pipe_is_found_through_error_chains() {
    let pipe = io::Error::from(io::ErrorKind::BrokenPipe);
    assert!(is_broken_pipe(&crate::Error::io("stdout", pipe)));
    let other = io::Error::from(io::ErrorKind::PermissionDenied);
    assert!(!is_broken_pipe(&other));
    assert!(!is_broken_pipe(&crate::Error::Usage("no".into())));
    let wrapped = anyhow::Error::new(io::Error::from(io::ErrorKind::BrokenPipe)).context("printing a.mp4");
    assert!(is_broken_pipe(wrapped.as_ref()));
}

#[test]
fn lossy_input_names_stay_valid_json() {
    let name = String::from_utf8_lossy(b"caf\xe9.mp4").into_owned();
    let text = render(OutputFormat::Jsonl, &[failure(&name, "bad")]);
    let v: Value = serde_json::from_str(text.trim_end()).unwrap();
    assert_eq!(v["input"], "caf\u{FFFD}.mp4");
}
