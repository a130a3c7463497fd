#![cfg(feature = "cli")]
//! `tree` draws the span tree with its marks, and honours `--root`,
//! `--depth` and `--min-duration`.

mod cli_support;

use cli_support::{NAMES, args, fixture, ids_where, json_lines, ok};

#[test]
fn tree_shows_every_span_with_marks_and_bars() {
    let f = fixture("cli_tree_all");
    let text = ok(args("tree", &f.envelope, &[]));
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(lines.len(), NAMES.len(), "{text}");
    for (line, name) in lines.iter().zip(NAMES) {
        assert!(
            line.contains(&format!("{name} #")),
            "{line} should show {name}"
        );
    }
    // The root's bar fills the timeline; a child's is shorter.
    assert!(lines[0].contains(&"█".repeat(30)), "{}", lines[0]);
    assert!(lines[1].contains('·'), "{}", lines[1]);
    assert!(lines[1].contains("├─ auth #1 [auth]"), "{}", lines[1]);
    assert!(lines[7].contains("└─ slow #7"), "{}", lines[7]);
    assert!(lines[3].ends_with("ERROR"), "{}", lines[3]);
    assert!(lines[9].ends_with("INCOMPLETE"), "{}", lines[9]);
    assert!(lines[10].contains("stuck #10") && lines[10].ends_with("INCOMPLETE"));
}

#[test]
fn tree_depth_and_root_limit_what_is_shown() {
    let f = fixture("cli_tree_depth");
    let text = ok(args("tree", &f.envelope, &["--depth", "0"]));
    let shown: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(shown.len(), 5, "4 roots and the hidden note:\n{text}");
    assert!(shown[0].contains("request #0") && shown[0].contains("(+7 hidden)"));
    assert!(shown[4].contains("7 spans hidden"));

    let json = json_lines(&ok(args("tree", &f.envelope, &["--root", "5", "--json"])));
    assert_eq!(json.len(), 1);
    assert_eq!(json[0]["id"], 5);
    assert_eq!(json[0]["depth"], 0);

    let json = json_lines(&ok(args(
        "tree",
        &f.envelope,
        &["--root", "0", "--depth", "1", "--json"],
    )));
    let ids: Vec<u64> = json.iter().map(|j| j["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, (0..8).collect::<Vec<_>>());
    assert!(
        json[1..]
            .iter()
            .all(|j| j["depth"] == 1 && j["parent"] == 0)
    );
}

#[test]
fn tree_min_duration_hides_shorter_spans() {
    let f = fixture("cli_tree_min");
    let json = json_lines(&ok(args(
        "tree",
        &f.envelope,
        &["--min-duration", "4ms", "--json"],
    )));
    let shown: Vec<u64> = json.iter().map(|j| j["id"].as_u64().unwrap()).collect();
    let reader = f.reader();
    // Spans at least 4ms long whose ancestors are too (a hidden parent hides its subtree).
    let long = ids_where(&reader, |i| i.duration_ns() >= 4_000_000);
    let want: Vec<u64> = long
        .iter()
        .copied()
        .filter(|&id| {
            let mut cur = reader.info(bhtrace::SpanId(id as u32)).unwrap().parent;
            while let Some(p) = cur {
                if !long.contains(&u64::from(p.0)) {
                    return false;
                }
                cur = reader.info(p).unwrap().parent;
            }
            true
        })
        .collect();
    assert_eq!(shown, want);
    assert!(shown.contains(&7), "the 5ms span is shown");
    for j in &json {
        assert!(j["duration_ns"].as_u64().unwrap() >= 4_000_000);
    }
}
