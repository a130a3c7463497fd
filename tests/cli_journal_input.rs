#![cfg(feature = "cli")]
//! Every command reads a journal as it reads an envelope: the journal is
//! recognised by its magic and converted in memory.

mod cli_support;

use cli_support::{args, fixture, ok};

#[test]
fn commands_read_a_journal_like_its_envelope() {
    let f = fixture("cli_journal_input");
    for cmd in [
        vec!["spans", "--json"],
        vec!["tree"],
        vec!["critical-path", "--json"],
        vec!["slow"],
        vec!["show", "3"],
        vec!["logs"],
        vec!["export", "-f", "folded"],
        vec!["export", "-f", "otlp"],
    ] {
        let (name, rest) = cmd.split_first().unwrap();
        assert_eq!(
            ok(args(name, &f.journal, rest)),
            ok(args(name, &f.envelope, rest)),
            "{cmd:?} differs"
        );
    }
    let summary = ok(args("summary", &f.journal, &[]));
    assert!(summary.contains("(journal, "), "{summary}");
    assert!(summary.contains("journal whole"), "{summary}");
    let info: serde_json::Value =
        serde_json::from_str(&ok(args("info", &f.journal, &["--json"]))).unwrap();
    assert_eq!(info["kind"], "journal");
    assert_eq!(info["journal"]["torn_tail"], false);
    assert_eq!(info["spans"], 11);
}
