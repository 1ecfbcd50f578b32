//! `--compare`: gorums-rs on tokio and on smol against tonic, interleaved, with one
//! table (ratios to tonic), JSON and an SVG plot.
//!
//! The host's speed drifts by up to 2x over minutes (DESIGN §5), so every system runs
//! each point back to back, and the whole matrix is repeated in rounds; a point's figure
//! is the median round's.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use plotters::prelude::*;
use serde::Serialize;

use crate::Args;
use crate::exec::RuntimeKind;
use crate::report;
use crate::run::{self, Outcome, Spec, SystemKind, Workload};

/// A system as the comparison runs it.
#[derive(Clone, Copy)]
pub(crate) struct Sys {
    pub(crate) system: SystemKind,
    pub(crate) runtime: RuntimeKind,
    pub(crate) threads: usize,
}

const GORUMS_TOKIO: Sys = Sys {
    system: SystemKind::Gorums,
    runtime: RuntimeKind::Tokio,
    threads: 2,
};
const GORUMS_TOKIO_1T: Sys = Sys {
    system: SystemKind::Gorums,
    runtime: RuntimeKind::Tokio,
    threads: 1,
};
const GORUMS_SMOL: Sys = Sys {
    system: SystemKind::Gorums,
    runtime: RuntimeKind::Smol,
    threads: 2,
};
const GORUMS_SMOL_1T: Sys = Sys {
    system: SystemKind::Gorums,
    runtime: RuntimeKind::Smol,
    threads: 1,
};
const TONIC: Sys = Sys {
    system: SystemKind::Tonic,
    runtime: RuntimeKind::Tokio,
    threads: 2,
};
const TONIC_1T: Sys = Sys {
    system: SystemKind::Tonic,
    runtime: RuntimeKind::Tokio,
    threads: 1,
};

/// The quorum-call matrix: every system at every (n, q) and c.
const QC_SYSTEMS: [Sys; 6] = [
    GORUMS_TOKIO,
    GORUMS_TOKIO_1T,
    GORUMS_SMOL,
    GORUMS_SMOL_1T,
    TONIC,
    TONIC_1T,
];
const SIZES: [(usize, usize); 2] = [(3, 2), (4, 3)];
const CALLERS: [usize; 3] = [1, 16, 256];
/// The other workloads, on gorums-rs only, at n = 3, q = 2, c = 1.
pub(crate) const OTHER_SYSTEMS: [Sys; 4] =
    [GORUMS_TOKIO, GORUMS_TOKIO_1T, GORUMS_SMOL, GORUMS_SMOL_1T];
const OTHERS: [Workload; 3] = [
    Workload::AsyncQuorumCall,
    Workload::Multicast,
    Workload::SlowServer,
];

/// What the JSON file holds.
#[derive(Serialize)]
struct CompareReport {
    rounds: usize,
    time_s: f64,
    warmup_s: f64,
    /// The median round's row of every point.
    results: Vec<Row>,
    /// Every run, in the order made.
    runs: Vec<Outcome>,
}

#[derive(Clone, Serialize)]
struct Row {
    #[serde(flatten)]
    outcome: Outcome,
    /// Throughput over the best tonic flavour's at the same point (quorum calls only).
    ratio_to_tonic: Option<f64>,
}

pub(crate) fn run(args: &Args) -> Result<(), String> {
    let (rounds, time, warmup) = if args.quick {
        (1, Duration::from_millis(250), Duration::from_millis(100))
    } else {
        (3, Duration::from_secs(2), Duration::from_millis(500))
    };
    std::fs::create_dir_all(&args.out_dir).map_err(|e| e.to_string())?;
    let began = Instant::now();
    let mut points: Vec<(Workload, Sys, usize, usize, usize)> = Vec::new();
    for (n, q) in SIZES {
        for c in CALLERS {
            for sys in QC_SYSTEMS {
                points.push((Workload::QuorumCall, sys, n, q, c));
            }
        }
    }
    for w in OTHERS {
        for sys in OTHER_SYSTEMS {
            points.push((w, sys, 3, 2, 1));
        }
    }
    let mut runs: Vec<Vec<Outcome>> = vec![Vec::new(); points.len()];
    let mut all = Vec::new();
    report::print_header();
    for round in 0..rounds {
        eprintln!("gorums-bench: compare round {} of {rounds}", round + 1);
        for (i, &(w, sys, n, q, c)) in points.iter().enumerate() {
            let spec = Spec {
                workload: w,
                system: sys.system,
                runtime: sys.runtime,
                threads: sys.threads,
                n,
                q,
                concurrent: c,
                payload: args.payload,
                time,
                warmup,
                max_async: args.max_async,
                calls: None,
                remotes: Vec::new(),
            };
            let row = run::run(&spec)?;
            report::print_row(&row);
            runs[i].push(row.clone());
            all.push(row);
        }
    }
    let medians: Vec<Outcome> = runs.into_iter().map(median).collect();
    let rows = with_ratios(&medians);
    let table = markdown(&rows);
    println!("\n{table}");
    eprintln!(
        "gorums-bench: compare took {:.0} s",
        began.elapsed().as_secs_f64()
    );
    let json = CompareReport {
        rounds,
        time_s: time.as_secs_f64(),
        warmup_s: warmup.as_secs_f64(),
        results: rows.clone(),
        runs: all,
    };
    report::write_results(&args.out_dir, "compare", &json, &table)?;
    plot(&args.out_dir.join("compare.svg"), &medians)?;
    if let Some(path) = &args.json {
        report::write_json(path, &json)?;
    }
    eprintln!(
        "gorums-bench: wrote compare.json, compare.md and compare.svg in {}",
        args.out_dir.display()
    );
    Ok(())
}

/// The run with the median throughput.
fn median(mut rows: Vec<Outcome>) -> Outcome {
    rows.sort_by(|a, b| a.ops_per_sec.total_cmp(&b.ops_per_sec));
    let mid = rows.len() / 2;
    rows.swap_remove(mid)
}

fn with_ratios(rows: &[Outcome]) -> Vec<Row> {
    rows.iter()
        .map(|r| {
            let tonic = rows
                .iter()
                .filter(|t| {
                    t.system.starts_with("tonic")
                        && t.benchmark == r.benchmark
                        && t.config_size == r.config_size
                        && t.concurrent == r.concurrent
                })
                .map(|t| t.ops_per_sec)
                .fold(None, |best: Option<f64>, x| {
                    Some(best.map_or(x, |b| b.max(x)))
                });
            Row {
                outcome: r.clone(),
                ratio_to_tonic: tonic.filter(|&t| t > 0.0).map(|t| r.ops_per_sec / t),
            }
        })
        .collect()
}

fn markdown(rows: &[Row]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "| benchmark | system | n | q | c | ops/s | × tonic | mean µs | p50 µs | p99 µs | B/op | allocs/op | CPU µs/op |"
    );
    let _ = writeln!(s, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|");
    for r in rows {
        let o = &r.outcome;
        let ratio = r
            .ratio_to_tonic
            .map_or_else(|| "".to_owned(), |x| format!("{x:.2}"));
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} | {} | {:.0} | {} | {:.1} | {:.1} | {:.1} | {:.0} | {:.1} | {:.2} |",
            o.benchmark,
            o.system,
            o.config_size,
            o.quorum_size,
            o.concurrent,
            o.ops_per_sec,
            ratio,
            o.mean_us,
            o.p50_us,
            o.p99_us,
            o.bytes_per_op,
            o.allocs_per_op,
            o.cpu_us_per_op
        );
    }
    s
}

/// Throughput and p99 against callers, one line per system, one row of panels per
/// configuration size.
fn plot(path: &std::path::Path, rows: &[Outcome]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (1100, 800)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = root.split_evenly((SIZES.len(), 2));
    let systems: Vec<String> = QC_SYSTEMS
        .iter()
        .map(|s| {
            Spec {
                workload: Workload::QuorumCall,
                system: s.system,
                runtime: s.runtime,
                threads: s.threads,
                n: 0,
                q: 0,
                concurrent: 0,
                payload: 0,
                time: Duration::ZERO,
                warmup: Duration::ZERO,
                max_async: 0,
                calls: None,
                remotes: Vec::new(),
            }
            .label()
        })
        .collect();
    let colors = [BLUE, CYAN, GREEN, RGBColor(0, 110, 0), RED, MAGENTA];
    for (row, (n, q)) in SIZES.iter().enumerate() {
        for (col, (title, metric)) in [
            (
                "throughput (calls/s)",
                (|o: &Outcome| o.ops_per_sec) as fn(&Outcome) -> f64,
            ),
            ("p99 latency (µs)", |o: &Outcome| o.p99_us),
        ]
        .into_iter()
        .enumerate()
        {
            let area = &panels[row * 2 + col];
            let series: Vec<(usize, Vec<(f64, f64)>)> = systems
                .iter()
                .enumerate()
                .map(|(i, sys)| {
                    let pts = rows
                        .iter()
                        .filter(|o| {
                            o.benchmark == "QuorumCall" && &o.system == sys && o.config_size == *n
                        })
                        .map(|o| (o.concurrent as f64, metric(o)))
                        .collect();
                    (i, pts)
                })
                .collect();
            let ys = || series.iter().flat_map(|(_, p)| p.iter().map(|&(_, y)| y));
            let ymax = ys().fold(1.0f64, f64::max) * 1.5;
            let ymin = ys().filter(|&y| y > 0.0).fold(ymax, f64::min) / 1.5;
            // Log scales on both axes: callers grow 16x a step, and ratios between
            // systems read as distances.
            let mut chart = ChartBuilder::on(area)
                .caption(
                    format!("QuorumCall n={n} q={q}: {title}"),
                    ("sans-serif", 18),
                )
                .margin(10)
                .x_label_area_size(35)
                .y_label_area_size(70)
                .build_cartesian_2d(
                    (0.8f64..320f64).log_scale(),
                    (ymin.max(0.1)..ymax).log_scale(),
                )
                .map_err(|e| err(&e))?;
            chart
                .configure_mesh()
                .x_desc("callers (log)")
                .x_labels(6)
                .x_label_formatter(&|x| format!("{x:.0}"))
                .y_label_formatter(&|y| format!("{y:.0}"))
                .y_labels(8)
                .draw()
                .map_err(|e| err(&e))?;
            for (i, pts) in series {
                let color = colors[i % colors.len()];
                chart
                    .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                    .map_err(|e| err(&e))?
                    .label(systems[i].clone())
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
                chart
                    .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                    .map_err(|e| err(&e))?;
            }
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.8))
                .border_style(BLACK)
                .position(SeriesLabelPosition::UpperLeft)
                .draw()
                .map_err(|e| err(&e))?;
        }
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}
