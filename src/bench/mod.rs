//! Benchmarks run from the binary (`duro bench ...`), so they measure the build users run.

pub mod archive;
pub mod foreach;
pub mod http;
pub mod journal;
mod nodes;
pub mod rebuild;
pub mod recovery;
pub mod runs;
pub mod triggers;

/// The value below which `fraction` of the sorted samples fall.
pub fn percentile(sorted: &[u64], fraction: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((sorted.len() as f64 * fraction).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Rounds to two decimals, for figures people read.
pub fn round2(value: f64) -> f64 {
    (value * 100.0).round() / 100.0
}

/// A suffix that keeps workflows and directories of repeated runs apart.
pub fn unique_suffix() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}_{nanos:x}", std::process::id())
}

/// A fresh directory under the system's temporary directory, for a benchmark's journal.
pub fn temporary_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("duro-bench-{name}-{}", unique_suffix()))
}
