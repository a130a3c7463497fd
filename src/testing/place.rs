//! Where a test's trace goes: the folder (`BHTRACE_TEST_DIR`, else
//! `<target>/bhtrace`), a folder per test binary, and the file name (the
//! test's name).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

/// The environment variable that overrides the folder traces go to.
pub(super) const DIR_VAR: &str = "BHTRACE_TEST_DIR";
/// The environment variable that keeps the traces of passing tests.
pub(super) const KEEP_VAR: &str = "BHTRACE_KEEP";

/// Longest file stem kept as is; longer names are cut and given a hash.
const MAX_STEM: usize = 160;

/// True when `BHTRACE_KEEP` asks to keep every trace: set, and not empty,
/// `0`, `false`, `no` or `off`.
pub(super) fn keep_from_env() -> bool {
    std::env::var_os(KEEP_VAR).is_some_and(|v| {
        let v = v.to_string_lossy();
        let v = v.trim();
        !(v.is_empty()
            || v == "0"
            || v.eq_ignore_ascii_case("false")
            || v.eq_ignore_ascii_case("no")
            || v.eq_ignore_ascii_case("off"))
    })
}

/// The folder for test traces: `BHTRACE_TEST_DIR` as given, else
/// `bhtrace` inside the cargo target folder.
pub(super) fn trace_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DIR_VAR).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    target_dir().join("bhtrace")
}

/// The cargo target folder of the running test, found in this order:
/// an absolute `CARGO_TARGET_DIR`; the nearest ancestor of the test
/// executable holding cargo's `CACHEDIR.TAG` (right for workspaces, custom
/// target dirs set in `.cargo/config.toml`, and cross targets); `target`
/// beside the nearest `Cargo.toml` above `CARGO_MANIFEST_DIR` or the current
/// folder that already has one; the temp folder as a last resort.
fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from) {
        if dir.is_absolute() {
            return dir;
        }
    }
    if let Ok(exe) = std::env::current_exe() {
        if let Some(dir) = exe
            .ancestors()
            .skip(1)
            .find(|d| d.join("CACHEDIR.TAG").is_file())
        {
            return dir.to_owned();
        }
    }
    let starts = [
        std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from),
        std::env::current_dir().ok(),
    ];
    for start in starts.iter().flatten() {
        if let Some(dir) = start
            .ancestors()
            .find(|d| d.join("target").is_dir() && d.join("Cargo.toml").is_file())
        {
            return dir.join("target");
        }
    }
    for start in starts.iter().flatten() {
        if start.join("Cargo.toml").is_file() {
            return start.join("target");
        }
    }
    std::env::temp_dir()
}

/// The name of the running test: the current thread's name, which libtest
/// sets to the test's path (`module::test_name`). The main thread (a
/// doctest, a `harness = false` test) and unnamed threads get `main-<pid>`
/// and `unnamed-<pid>`: several such processes of one binary may run at
/// once, so the process id keeps them apart.
pub(super) fn test_name() -> String {
    let thread = std::thread::current();
    match thread.name() {
        Some(name) if name != "main" && !name.is_empty() => name.to_owned(),
        Some(_) => format!("main-{}", std::process::id()),
        None => format!("unnamed-{}", std::process::id()),
    }
}

/// The test binary's name without cargo's hash suffix: the crate for unit
/// tests, the file name for an integration test. Test paths are unique
/// within a binary, not across binaries, so traces go in a folder per
/// binary.
pub(super) fn binary_name() -> String {
    let stem = std::env::current_exe()
        .ok()
        .and_then(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .unwrap_or_default();
    // cargo names test binaries `<crate>-<16 hex digits>`.
    let stem = match stem.rsplit_once('-') {
        Some((head, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            head.to_owned()
        }
        _ => stem,
    };
    if stem.is_empty() {
        "test".to_owned()
    } else {
        stem
    }
}

/// A file stem made from a test name: `::` becomes `.`, every run of other
/// characters outside `[A-Za-z0-9._-]` becomes one `_`, and a name too
/// long for a file name is cut and given a hash of the whole name.
pub(super) fn sanitize(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(c) = rest.chars().next() {
        if let Some(after) = rest.strip_prefix("::") {
            out.push('.');
            rest = after;
            continue;
        }
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
        rest = &rest[c.len_utf8()..];
    }
    let out = out.trim_matches(|c| c == '_' || c == '.').to_owned();
    let out = if out.is_empty() {
        "test".to_owned()
    } else {
        out
    };
    if out.len() <= MAX_STEM {
        return out;
    }
    // FNV-1a: stable across runs and platforms, unlike `DefaultHasher`.
    let hash = name.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{}-{hash:016x}", &out[..MAX_STEM])
}

/// The path for a new capture called `stem` in `dir`. The first capture of
/// a name in this process gets `<stem>.bht`, later ones `<stem>-2.bht`,
/// `<stem>-3.bht`…, so two captures in one test (or two threads using the
/// same name) never share a file, and the numbering is the same every run.
pub(super) fn claim(dir: &Path, stem: &str) -> PathBuf {
    static USED: Mutex<Option<HashMap<PathBuf, u32>>> = Mutex::new(None);
    let base = dir.join(stem);
    let n = {
        let mut used = USED.lock().unwrap_or_else(PoisonError::into_inner);
        let count = used
            .get_or_insert_with(HashMap::new)
            .entry(base)
            .or_insert(0);
        *count += 1;
        *count
    };
    if n == 1 {
        dir.join(format!("{stem}.bht"))
    } else {
        dir.join(format!("{stem}-{n}.bht"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sanitize_turns_paths_into_file_names() {
        assert_eq!(
            sanitize("checkout::prices_in_cents"),
            "checkout.prices_in_cents"
        );
        assert_eq!(
            sanitize("src/lib.rs - testing (line 12)"),
            "src_lib.rs_-_testing_line_12"
        );
        assert_eq!(sanitize("a/../b"), "a_.._b");
        assert_eq!(sanitize("::"), "test");
        assert_eq!(sanitize("é"), "test");
        let long = "x".repeat(400);
        let s = sanitize(&long);
        assert_eq!(s.len(), MAX_STEM + 17);
        assert_ne!(s, sanitize(&"x".repeat(401)));
    }

    #[test]
    fn claim_numbers_repeated_names() {
        let dir = Path::new("/nonexistent-bhtrace-claim-test");
        assert_eq!(claim(dir, "t"), dir.join("t.bht"));
        assert_eq!(claim(dir, "t"), dir.join("t-2.bht"));
        assert_eq!(claim(dir, "u"), dir.join("u.bht"));
    }
}
