//! Standard output with optional colour, and the formatting every command
//! shares: durations, byte sizes, wall-clock times, timeline bars.

use std::fmt::Display;
use std::io::{self, BufWriter, IsTerminal, StdoutLock, Write};

use serde::Serialize;

/// Buffered stdout. Write errors (a closed pipe among them) are returned,
/// never turned into a panic as `println!` would.
#[derive(Debug)]
pub(crate) struct Out {
    w: BufWriter<StdoutLock<'static>>,
    color: bool,
}

/// True when colour suits stdout: a terminal, and `NO_COLOR` unset or empty.
pub(crate) fn color_wanted() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && io::stdout().is_terminal()
}

/// ANSI styles used in the tables.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Style {
    Bold,
    Dim,
    Red,
    Yellow,
    Green,
    Cyan,
    Magenta,
}

impl Style {
    fn code(self) -> &'static str {
        match self {
            Style::Bold => "1",
            Style::Dim => "2",
            Style::Red => "1;31",
            Style::Yellow => "33",
            Style::Green => "32",
            Style::Cyan => "36",
            Style::Magenta => "35",
        }
    }
}

impl Out {
    pub(crate) fn stdout(color: bool) -> Out {
        Out {
            w: BufWriter::new(io::stdout().lock()),
            color,
        }
    }

    /// `text` in `style` when colour is on. Pad before painting: the
    /// escape codes have no width.
    pub(crate) fn paint(&self, style: Style, text: impl Display) -> String {
        let text = text.to_string();
        if self.color && !text.is_empty() {
            format!("\x1b[{}m{text}\x1b[0m", style.code())
        } else {
            text
        }
    }

    /// Writes `value` as one line of JSON.
    pub(crate) fn json_line(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer(&mut self.w, value).map_err(io::Error::from)?;
        self.w.write_all(b"\n")
    }

    /// Writes `value` as indented JSON.
    pub(crate) fn json_pretty(&mut self, value: &impl Serialize) -> io::Result<()> {
        serde_json::to_writer_pretty(&mut self.w, value).map_err(io::Error::from)?;
        self.w.write_all(b"\n")
    }
}

/// Length of a colour sequence (`ESC [ digits/; m`) at the start of `b`.
fn sgr_len(b: &[u8]) -> Option<usize> {
    if b.get(1) != Some(&b'[') {
        return None;
    }
    let mut j = 2;
    while j < b.len() && (b[j].is_ascii_digit() || b[j] == b';') {
        j += 1;
    }
    (b.get(j) == Some(&b'm')).then_some(j + 1)
}

/// Text written here comes partly from the file, which anyone may have
/// crafted: control characters (C0 but newline and tab, DEL, C1) are shown
/// as `\xNN` instead of reaching the terminal, where they could set its
/// title, write the clipboard or clear the screen. Colour sequences pass
/// only when colour is on (ours, and harmless). JSON output does not come
/// through here: serde_json escapes control characters itself.
impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let mut i = 0;
        let mut clean_from = 0;
        while i < buf.len() {
            let b = buf[i];
            if self.color && b == 0x1b {
                if let Some(n) = sgr_len(&buf[i..]) {
                    i += n;
                    continue;
                }
            }
            let control = match b {
                b'\n' | b'\t' => 0,
                0x00..=0x1f | 0x7f => 1,
                0xc2 if matches!(buf.get(i + 1), Some(0x80..=0x9f)) => 2,
                _ => 0,
            };
            if control == 0 {
                i += 1;
                continue;
            }
            self.w.write_all(&buf[clean_from..i])?;
            for c in &buf[i..i + control] {
                write!(self.w, "\\x{c:02x}")?;
            }
            i += control;
            clean_from = i;
        }
        self.w.write_all(&buf[clean_from..])?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.w.flush()
    }
}

/// A duration for people: `850ns`, `12.3µs`, `4.56ms`, `1.23s`, `2m05s`.
pub(crate) fn dur(ns: u64) -> String {
    const US: u64 = 1_000;
    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    let scaled = |v: f64, unit: &str| {
        if v >= 99.95 {
            format!("{v:.0}{unit}")
        } else if v >= 9.995 {
            format!("{v:.1}{unit}")
        } else {
            format!("{v:.2}{unit}")
        }
    };
    match ns {
        n if n < US => format!("{n}ns"),
        n if n < MS => scaled(n as f64 / US as f64, "µs"),
        n if n < S => scaled(n as f64 / MS as f64, "ms"),
        n if n < 60 * S => scaled(n as f64 / S as f64, "s"),
        n => format!("{}m{:02}s", n / (60 * S), (n / S) % 60),
    }
}

/// A byte count for people: `913 B`, `12.3 KiB`, `4.5 MiB`.
pub(crate) fn bytes(n: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut v = n as f64 / 1024.0;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

/// `count` and `noun`, plural unless `count` is 1: `1 trace`, `3 traces`.
pub(crate) fn n(count: impl Into<u64>, noun: &str) -> String {
    let count = count.into();
    if count == 1 {
        format!("1 {noun}")
    } else {
        format!("{count} {noun}s")
    }
}

/// `part` as a percentage of `whole`.
pub(crate) fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        "-".to_owned()
    } else {
        format!("{:.1}%", 100.0 * part as f64 / whole as f64)
    }
}

/// Nanoseconds since the Unix epoch as an ISO 8601 UTC time with
/// milliseconds: `2026-05-01T12:34:56.789Z`.
pub(crate) fn utc(unix_ns: u64) -> String {
    let secs = unix_ns / 1_000_000_000;
    let millis = (unix_ns / 1_000_000) % 1000;
    let days = secs / 86_400;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian
/// calendar (H. Hinnant's `civil_from_days`).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// Width of the timeline bars.
pub(crate) const BAR: usize = 30;

/// A timeline bar of `BAR` cells: `[start, end)` drawn inside the window
/// `[lo, hi)`, at least one cell wide.
pub(crate) fn bar(start: u64, end: u64, lo: u64, hi: u64) -> String {
    let span = hi.saturating_sub(lo).max(1) as f64;
    let cell = |t: u64| (t.clamp(lo, hi) - lo) as f64 / span * BAR as f64;
    let from = (cell(start).floor() as usize).min(BAR - 1);
    let to = (cell(end).ceil() as usize).clamp(from + 1, BAR);
    let mut s = String::with_capacity(BAR * 3);
    for i in 0..BAR {
        s.push(if i >= from && i < to { '█' } else { '·' });
    }
    s
}

/// Parses a duration with a unit: `250ns`, `200us` (or `µs`), `5ms`,
/// `1.5s`, `2m`, `1h`; `0` needs none.
pub(crate) fn parse_duration(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("'{text}' is not a duration (examples: 5ms, 200us, 1.5s)"))?;
    let scale = match unit.trim() {
        "" if value == 0.0 => 1.0,
        "" => return Err(format!("'{text}' needs a unit: ns, us, ms, s, m or h")),
        "ns" => 1.0,
        "us" | "µs" => 1e3,
        "ms" => 1e6,
        "s" => 1e9,
        "m" | "min" => 60e9,
        "h" => 3600e9,
        other => {
            return Err(format!(
                "unknown unit '{other}' in '{text}': use ns, us, ms, s, m or h"
            ));
        }
    };
    let ns = value * scale;
    if !ns.is_finite() || ns >= u64::MAX as f64 {
        return Err(format!("'{text}' is too long a duration"));
    }
    Ok(ns.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_with_units() {
        assert_eq!(parse_duration("5ms"), Ok(5_000_000));
        assert_eq!(parse_duration("200us"), Ok(200_000));
        assert_eq!(parse_duration("200µs"), Ok(200_000));
        assert_eq!(parse_duration("1.5s"), Ok(1_500_000_000));
        assert_eq!(parse_duration("0"), Ok(0));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("5 parsecs").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn durations_print_with_three_digits() {
        assert_eq!(dur(850), "850ns");
        assert_eq!(dur(12_340), "12.3µs");
        assert_eq!(dur(4_560_000), "4.56ms");
        assert_eq!(dur(123_400_000), "123ms");
        assert_eq!(dur(125_000_000_000), "2m05s");
    }

    #[test]
    fn utc_matches_known_dates() {
        assert_eq!(utc(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(utc(951_782_400_123_000_000), "2000-02-29T00:00:00.123Z");
        assert_eq!(utc(1_767_225_599_000_000_000), "2025-12-31T23:59:59.000Z");
    }

    #[test]
    fn bars_cover_their_share() {
        assert_eq!(bar(0, 100, 0, 100), "█".repeat(BAR));
        let half = bar(50, 100, 0, 100);
        assert_eq!(half.chars().filter(|&c| c == '█').count(), BAR / 2);
        assert!(half.starts_with('·'));
        // A zero-length span still shows.
        assert_eq!(bar(10, 10, 0, 100).chars().filter(|&c| c == '█').count(), 1);
    }
}
