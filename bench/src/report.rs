//! Rows as a table on stdout (Go Gorums' columns, then ours) and as JSON.

use std::path::Path;

use crate::run::Outcome;

/// Prints the column heads.
pub(crate) fn print_header() {
    println!(
        "{:<16} {:<16} {:>2} {:>2} {:>4} {:>7} {:>12} {:>10} {:>10} {:>9} {:>9} {:>8} {:>9} {:>9}",
        "Benchmark",
        "System",
        "n",
        "q",
        "c",
        "payload",
        "ops/s",
        "mean µs",
        "stddev µs",
        "p50 µs",
        "p99 µs",
        "B/op",
        "allocs/op",
        "CPU µs/op"
    );
}

/// Prints one row.
pub(crate) fn print_row(r: &Outcome) {
    println!(
        "{:<16} {:<16} {:>2} {:>2} {:>4} {:>7} {:>12.0} {:>10.1} {:>10.1} {:>9.1} {:>9.1} {:>8.0} {:>9.1} {:>9.2}{}",
        r.benchmark,
        r.system,
        r.config_size,
        r.quorum_size,
        r.concurrent,
        r.payload,
        r.ops_per_sec,
        r.mean_us,
        r.stdev_us,
        r.p50_us,
        r.p99_us,
        r.bytes_per_op,
        r.allocs_per_op,
        r.cpu_us_per_op,
        if r.errors > 0 {
            format!("  ({} errors)", r.errors)
        } else {
            String::new()
        }
    );
}

/// Writes `value` as pretty JSON to `path`.
pub(crate) fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<(), String> {
    let text = serde_json::to_string_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Writes a run's `<stem>.json` and `<stem>.md` (its table) into `dir`.
pub(crate) fn write_results(
    dir: &Path,
    stem: &str,
    json: &impl serde::Serialize,
    table: &str,
) -> Result<(), String> {
    write_json(&dir.join(format!("{stem}.json")), json)?;
    let md = dir.join(format!("{stem}.md"));
    std::fs::write(&md, table).map_err(|e| format!("{}: {e}", md.display()))
}
