//! One measurement: one peer, one workload, one process. The child prints a
//! single `RESULT key=value …` line that the parent parses.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use crate::machine;
use crate::peers::Peer;
use crate::workloads::Workload;

/// What one child measured.
#[derive(Debug, Clone, Default)]
pub struct Sample {
    /// Operations: spans, or events for the events workload.
    pub ops: u64,
    /// Wall time of the workload loop, ns.
    pub app_ns: u64,
    /// CPU time of the app thread(s) in the loop, ns.
    pub app_cpu_ns: u64,
    /// Set-up + loop + flush/finish, ns.
    pub total_ns: u64,
    /// Flush/finish alone (for bhtrace: writer drain + conversion), ns.
    pub finish_ns: u64,
    /// Bytes of every file left in the peer's folder after it finished.
    pub bytes: u64,
    /// Peak resident set (VmHWM) at the end, KiB.
    pub rss_kib: u64,
    /// User + system CPU time of the whole process, ms.
    pub cpu_ms: u64,
    /// What the peer reported about itself (bhtrace's writer counters).
    pub extra: BTreeMap<String, u64>,
}

impl Sample {
    pub fn app_ns_per_op(&self) -> f64 {
        self.app_ns as f64 / self.ops.max(1) as f64
    }

    pub fn app_cpu_ns_per_op(&self) -> f64 {
        self.app_cpu_ns as f64 / self.ops.max(1) as f64
    }

    pub fn total_s(&self) -> f64 {
        self.total_ns as f64 / 1e9
    }

    pub fn bytes_per_op(&self) -> f64 {
        self.bytes as f64 / self.ops.max(1) as f64
    }

    pub fn rss_mib(&self) -> f64 {
        self.rss_kib as f64 / 1024.0
    }

    /// One line for the progress log.
    pub fn brief(&self) -> String {
        format!(
            "{:>8.1} ns/op  {:>6.2} s  {:>6.0} B/op  {:>5.0} MB",
            self.app_ns_per_op(),
            self.total_s(),
            self.bytes_per_op(),
            self.rss_mib()
        )
    }

    fn line(&self) -> String {
        let mut s = format!(
            "RESULT ops={} app_ns={} app_cpu_ns={} total_ns={} finish_ns={} bytes={} rss_kib={} cpu_ms={}",
            self.ops,
            self.app_ns,
            self.app_cpu_ns,
            self.total_ns,
            self.finish_ns,
            self.bytes,
            self.rss_kib,
            self.cpu_ms
        );
        for (k, v) in &self.extra {
            s.push_str(&format!(" {k}={v}"));
        }
        s
    }

    /// Reads the `RESULT` line out of a child's output.
    pub fn parse(stdout: &str) -> Option<Sample> {
        let line = stdout
            .lines()
            .rev()
            .find_map(|l| l.strip_prefix("RESULT "))?;
        let mut s = Sample::default();
        for kv in line.split_whitespace() {
            let (k, v) = kv.split_once('=')?;
            let v: u64 = v.parse().ok()?;
            match k {
                "ops" => s.ops = v,
                "app_ns" => s.app_ns = v,
                "app_cpu_ns" => s.app_cpu_ns = v,
                "total_ns" => s.total_ns = v,
                "finish_ns" => s.finish_ns = v,
                "bytes" => s.bytes = v,
                "rss_kib" => s.rss_kib = v,
                "cpu_ms" => s.cpu_ms = v,
                other => {
                    s.extra.insert(other.to_string(), v);
                }
            }
        }
        (s.ops > 0).then_some(s)
    }
}

/// `child PEER WORKLOAD DIR SCALE`: measure, print the result line.
pub fn main(args: &[String]) -> Result<(), String> {
    let [peer, workload, dir, scale] = args else {
        return Err("expected PEER WORKLOAD DIR SCALE".into());
    };
    let peer = Peer::parse(peer).ok_or_else(|| format!("unknown peer {peer}"))?;
    let workload =
        Workload::parse(workload).ok_or_else(|| format!("unknown workload {workload}"))?;
    let scale: f64 = scale.parse().map_err(|_| format!("bad scale {scale}"))?;
    let dir = Path::new(dir);
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;

    let start = Instant::now();
    let finish = peer.install(dir)?;
    let run = workload.run(scale);
    let finishing = Instant::now();
    let extra = finish()?;
    let finish_ns = finishing.elapsed().as_nanos() as u64;
    let total_ns = start.elapsed().as_nanos() as u64;

    let sample = Sample {
        ops: run.ops,
        app_ns: run.wall.as_nanos() as u64,
        app_cpu_ns: run.cpu_ns,
        total_ns,
        finish_ns,
        bytes: folder_bytes(dir)?,
        rss_kib: machine::peak_rss_kib().unwrap_or(0),
        cpu_ms: machine::cpu_ms().unwrap_or(0),
        extra: extra.into_iter().map(|(k, v)| (k.to_string(), v)).collect(),
    };
    println!("{}", sample.line());
    Ok(())
}

/// The bytes of the files in `dir` (the peers write no sub-folders).
fn folder_bytes(dir: &Path) -> Result<u64, String> {
    let mut total = 0;
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    for entry in entries {
        let meta = entry
            .and_then(|e| e.metadata())
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        if meta.is_file() {
            total += meta.len();
        }
    }
    Ok(total)
}
