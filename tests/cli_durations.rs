#![cfg(feature = "cli")]
//! Durations on the command line take units (ns, us/µs, ms, s, m, h); a
//! number without one is refused.

mod cli_support;

use cli_support::{args, fails, fixture, json_lines, ok};

#[test]
fn durations_take_units() {
    let f = fixture("cli_durations");
    let count = |d: &str| {
        json_lines(&ok(args(
            "spans",
            &f.envelope,
            &["--json", "--min-duration", d],
        )))
        .len()
    };
    assert_eq!(count("0"), 11);
    assert_eq!(count("1h"), 0);
    assert_eq!(count("1.5s"), 0);
    let micro = count("200us");
    assert_eq!(count("200µs"), micro);
    assert_eq!(count("0.2ms"), micro);
    assert_eq!(count("200000ns"), micro);
    assert!(count("4ms") >= 2, "the request and the 5ms span");

    for bad in ["5", "5 parsecs", "fast", "1e3ms"] {
        let (code, stderr) = fails(args("spans", &f.envelope, &["--min-duration", bad]));
        assert_eq!(code, 2, "{bad}: {stderr}");
        assert!(stderr.contains("--min-duration"), "{stderr}");
    }
}
