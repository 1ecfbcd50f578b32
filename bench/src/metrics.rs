//! `--metrics`: the API's own metrics (its opt-in `metrics` facade integration, see
//! `SystemOptions::metrics`), gathered by a Prometheus recorder in this process and
//! printed as Prometheus text after the run: per method, calls started, replies and
//! failures per node, and reply and handler latency (quantiles, sum and count).
//!
//! Counts include the warm-up and the one echo per node that connects before the clock
//! starts. Off by default: recording costs time per call, and the rows without it are
//! the ones quoted in the README.

use std::sync::OnceLock;

use gorums_core::api::SystemOptions;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static RECORDER: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the recorder: from now on the systems this process makes record metrics.
pub(crate) fn install() -> Result<(), String> {
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("--metrics: {e}"))?;
    RECORDER
        .set(handle)
        .map_err(|_| String::from("--metrics given twice"))
}

/// `options`, recording metrics if [`install`] was called.
pub(crate) fn options(mut options: SystemOptions) -> SystemOptions {
    options.metrics = RECORDER.get().is_some();
    options
}

/// What was recorded so far, in Prometheus text (the gorums metrics only), if
/// [`install`] was called.
pub(crate) fn render() -> Option<String> {
    let text = RECORDER.get()?.render();
    let gorums: Vec<&str> = text
        .lines()
        .filter(|line| line.contains("gorums_"))
        .collect();
    Some(gorums.join("\n"))
}
