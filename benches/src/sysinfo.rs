//! Machine facts and process memory (Linux `/proc`; absent elsewhere).

use std::fs;

/// Facts about the machine and the build, for the report.
#[derive(Debug, Clone)]
pub struct MachineInfo {
    /// Logical cores available to this process.
    pub cores: usize,
    /// CPU model name, if known.
    pub cpu_model: Option<String>,
    /// Physical memory, bytes.
    pub mem_total: Option<u64>,
    /// rustc that built this binary.
    pub rustc: String,
    /// Fingerprint of the engine sources (planner, compute, datasets) this binary measures.
    pub engine_fingerprint: String,
    /// Whether this is an optimized build.
    pub release: bool,
    /// Operating system and architecture.
    pub os: String,
    /// 1-minute load average when the run started (other work on a shared machine).
    pub load_avg: Option<f64>,
}

impl MachineInfo {
    /// Collects the facts.
    pub fn collect() -> Self {
        let cpuinfo = fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string());
        MachineInfo {
            cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
            cpu_model,
            mem_total: meminfo_kb("MemTotal").map(|k| k * 1024),
            rustc: env!("SHUYU_BENCH_RUSTC").to_string(),
            engine_fingerprint: env!("SHUYU_BENCH_ENGINE_FINGERPRINT").to_string(),
            release: !cfg!(debug_assertions),
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
            load_avg: load_avg(),
        }
    }
}

/// The 1-minute load average.
pub fn load_avg() -> Option<f64> {
    fs::read_to_string("/proc/loadavg").ok()?.split_whitespace().next()?.parse().ok()
}

fn meminfo_kb(key: &str) -> Option<u64> {
    field_kb(&fs::read_to_string("/proc/meminfo").ok()?, key)
}

fn field_kb(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
}

/// Memory available for new allocations without swapping, bytes.
pub fn mem_available() -> Option<u64> {
    meminfo_kb("MemAvailable").map(|k| k * 1024)
}

/// Current resident set size of this process, bytes.
pub fn rss() -> Option<u64> {
    field_kb(&fs::read_to_string("/proc/self/status").ok()?, "VmRSS").map(|k| k * 1024)
}

/// Peak resident set size (VmHWM) since start or the last [`reset_peak`], bytes.
pub fn peak_rss() -> Option<u64> {
    field_kb(&fs::read_to_string("/proc/self/status").ok()?, "VmHWM").map(|k| k * 1024)
}

/// Resets VmHWM to the current RSS (Linux >= 4.0: `echo 5 > /proc/self/clear_refs`).
/// Returns whether it worked; when it did not, peaks accumulate over the whole run.
pub fn reset_peak() -> bool {
    fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes as MiB / GiB for humans.
pub fn human_bytes(b: u64) -> String {
    let mib = b as f64 / (1024.0 * 1024.0);
    if mib >= 1024.0 {
        format!("{:.2} GiB", mib / 1024.0)
    } else {
        format!("{mib:.0} MiB")
    }
}
