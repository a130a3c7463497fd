#![cfg(feature = "cli")]
//! `export --format folded` writes one line per stack of span names,
//! weighted by self time, with `;` in names escaped.

mod cli_support;

use std::collections::BTreeMap;

use cli_support::{args, fixture, ok};

#[test]
fn folded_lines_follow_the_tree() {
    let f = fixture("cli_export_folded");
    let text = ok(args("export", &f.envelope, &["--format", "folded"]));
    let reader = f.reader();
    let (infos, _) = reader.infos();
    let self_ns: Vec<u64> = infos
        .iter()
        .map(|s| reader.self_ns(s.id).unwrap())
        .collect();

    // The expected stacks, from the tree.
    let mut want: BTreeMap<String, u64> = BTreeMap::new();
    for info in &infos {
        let mut names = vec![info.name.replace(';', "%3B")];
        let mut cur = info.parent;
        while let Some(p) = cur {
            let parent = &infos[p.index()];
            names.push(parent.name.replace(';', "%3B"));
            cur = parent.parent;
        }
        names.reverse();
        if self_ns[info.id.index()] > 0 {
            *want.entry(names.join(";")).or_default() += self_ns[info.id.index()];
        }
    }

    let got: BTreeMap<String, u64> = text
        .lines()
        .map(|l| {
            let (stack, weight) = l.rsplit_once(' ').expect("stack and weight");
            (stack.to_owned(), weight.parse().expect("a weight"))
        })
        .collect();
    assert_eq!(got.len(), text.lines().count(), "one line per stack");
    assert_eq!(got, want);
    assert!(got.contains_key("request;a%3Bb"), "{text}");
    assert!(
        got.keys()
            .all(|k| k.split(';').all(|frame| !frame.is_empty()))
    );

    // The fixture's children run one after another, so the request's
    // stacks add up to its duration.
    let request: u64 = got
        .iter()
        .filter(|(k, _)| *k == "request" || k.starts_with("request;"))
        .map(|(_, w)| w)
        .sum();
    assert_eq!(request, infos[0].duration_ns());
}

#[test]
fn folded_export_reads_no_payload() {
    let f = fixture("cli_export_folded_read");
    let out = f.path("app.folded");
    let status = ok(args(
        "export",
        &f.envelope,
        &["-f", "folded", "-o", out.to_str().unwrap()],
    ));
    let reader = f.reader();
    let stats = bhtrace::export::write_folded(&reader, std::io::sink()).unwrap();
    assert_eq!(stats.read, reader.open_stats());
    assert!(
        status.contains(&format!("wrote {} stacks", stats.records)),
        "{status}"
    );
    assert_eq!(std::fs::read(&out).unwrap().len() as u64, stats.bytes);
}
