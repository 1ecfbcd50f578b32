//! `--sweep-in-flight`: `AsyncQuorumCall` (n = 3, q = 2, 100 B payload) at 1 000 to
//! 100 000 calls in flight on every gorums-rs flavour, interleaved, with throughput, CPU
//! and allocations per call and the memory a call in flight holds; a table, JSON and an
//! SVG plot. What a call costs should not grow with the calls beside it.
//!
//! Each point is fixed work, [`CALLS_PER_IN_FLIGHT`] times the calls kept in flight
//! (no warm-up window): a timed window shorter than the calls in flight over the
//! throughput would see no call finish at 100 000 in flight. The filling and draining
//! of the pipeline is then the same share of every point's time.
//!
//! Memory per call in flight is read off the counting allocator: the peak of live bytes
//! during a run (warm-up included) over the bytes live before it, divided by the calls
//! kept in flight. It covers everything a call holds anywhere in the process (the
//! caller's `Responses`, the engine's call state, queued frames, the servers' requests
//! and replies), plus the fixed cost of the run's systems and connections, which the
//! marginal figure (the slope between the smallest and largest points) leaves out.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use plotters::prelude::*;
use serde::Serialize;

use crate::Args;
use crate::alloc;
use crate::compare::OTHER_SYSTEMS;
use crate::report;
use crate::run::{self, Outcome, Spec, Workload};

/// Calls kept in flight at each point.
const IN_FLIGHT: [usize; 5] = [1_000, 3_000, 10_000, 30_000, 100_000];
const PAYLOAD: usize = 100;
/// Calls each point makes, per call kept in flight.
const CALLS_PER_IN_FLIGHT: u64 = 5;

/// One point of the sweep: a run and the memory it held per call in flight.
#[derive(Clone, Debug, Serialize)]
struct Point {
    in_flight: usize,
    /// Peak live bytes over those before the run, per call in flight.
    bytes_per_in_flight: f64,
    #[serde(flatten)]
    outcome: Outcome,
}

#[derive(Serialize)]
struct SweepReport {
    rounds: usize,
    calls_per_in_flight: u64,
    /// The median round of each (flavour, in flight).
    results: Vec<Point>,
    runs: Vec<Point>,
}

/// Runs the sweep and writes `sweep.json`, `sweep.md` and `sweep.svg` in `--out-dir`.
pub(crate) fn run(args: &Args) -> Result<(), String> {
    let rounds = if args.quick { 1 } else { 3 };
    let (time, warmup) = (Duration::ZERO, Duration::ZERO);
    std::fs::create_dir_all(&args.out_dir).map_err(|e| e.to_string())?;
    let began = Instant::now();
    let systems = chosen_flavours(&args.flavours)?;
    let in_flights = chosen_in_flight(&args.in_flight)?;
    let points: Vec<(usize, usize)> = in_flights
        .iter()
        .flat_map(|&k| systems.iter().map(move |&s| (k, s)))
        .collect();
    let mut runs: Vec<Vec<Point>> = vec![Vec::new(); points.len()];
    let mut all = Vec::new();
    report::print_header();
    for round in 0..rounds {
        eprintln!("gorums-bench: sweep round {} of {rounds}", round + 1);
        for (i, &(in_flight, s)) in points.iter().enumerate() {
            let sys = OTHER_SYSTEMS[s];
            let spec = Spec {
                workload: Workload::AsyncQuorumCall,
                system: sys.system,
                runtime: sys.runtime,
                threads: sys.threads,
                n: 3,
                q: 2,
                concurrent: 1,
                payload: PAYLOAD,
                time,
                warmup,
                max_async: in_flight,
                calls: Some(CALLS_PER_IN_FLIGHT * in_flight as u64),
                remotes: Vec::new(),
            };
            let before = alloc::reset_peak();
            let outcome = run::run(&spec)?;
            let held = alloc::peak_bytes().saturating_sub(before);
            report::print_row(&outcome);
            let point = Point {
                in_flight,
                bytes_per_in_flight: held as f64 / in_flight as f64,
                outcome,
            };
            eprintln!(
                "  {} in flight: {:.0} B per call in flight (peak {:.1} MB over {:.1} MB live before)",
                in_flight,
                point.bytes_per_in_flight,
                held as f64 / 1e6,
                before as f64 / 1e6
            );
            runs[i].push(point.clone());
            all.push(point);
        }
    }
    let medians: Vec<Point> = runs.into_iter().map(median).collect();
    let table = markdown(&medians, &in_flights);
    println!("\n{table}");
    eprintln!(
        "gorums-bench: sweep took {:.0} s",
        began.elapsed().as_secs_f64()
    );
    let json = SweepReport {
        rounds,
        calls_per_in_flight: CALLS_PER_IN_FLIGHT,
        results: medians.clone(),
        runs: all,
    };
    report::write_results(&args.out_dir, "sweep", &json, &table)?;
    plot(&args.out_dir.join("sweep.svg"), &medians)?;
    eprintln!(
        "gorums-bench: wrote sweep.json, sweep.md and sweep.svg in {}",
        args.out_dir.display()
    );
    Ok(())
}

/// A flavour's name on the command line: the runtime, `-1t` on one thread.
fn flavour_name(s: usize) -> String {
    let sys = OTHER_SYSTEMS[s];
    let one = if sys.threads == 1 { "-1t" } else { "" };
    format!("{}{one}", sys.runtime.name())
}

/// The indices in [`OTHER_SYSTEMS`] of the flavours `--flavours` names, in the sweep's
/// order; every flavour when it names none.
fn chosen_flavours(names: &[String]) -> Result<Vec<usize>, String> {
    let all: Vec<usize> = (0..OTHER_SYSTEMS.len()).collect();
    if let Some(unknown) = names
        .iter()
        .find(|n| !all.iter().any(|&s| flavour_name(s) == **n))
    {
        let known: Vec<String> = all.iter().map(|&s| flavour_name(s)).collect();
        return Err(format!(
            "--flavours: no flavour {unknown:?} (known: {})",
            known.join(", ")
        ));
    }
    if names.is_empty() {
        return Ok(all);
    }
    Ok(all
        .into_iter()
        .filter(|&s| names.contains(&flavour_name(s)))
        .collect())
}

/// The calls-in-flight points `--in-flight` names, smallest first; [`IN_FLIGHT`] when it
/// names none.
fn chosen_in_flight(given: &[usize]) -> Result<Vec<usize>, String> {
    if given.is_empty() {
        return Ok(IN_FLIGHT.to_vec());
    }
    if given.contains(&0) {
        return Err(String::from("--in-flight: a point needs at least one call"));
    }
    let mut points = given.to_vec();
    points.sort_unstable();
    points.dedup();
    Ok(points)
}

/// The round with the median throughput.
fn median(mut rounds: Vec<Point>) -> Point {
    rounds.sort_by(|a, b| a.outcome.ops_per_sec.total_cmp(&b.outcome.ops_per_sec));
    rounds.swap_remove(rounds.len() / 2)
}

/// One table row per flavour and point, then each flavour's spread: its throughput at
/// the most calls in flight over the least, and the marginal bytes per call (the
/// points swept are `in_flight`, smallest first).
fn markdown(points: &[Point], in_flight: &[usize]) -> String {
    let (least, most) = (in_flight[0], in_flight[in_flight.len() - 1]);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "| flavour | in flight | calls/s | CPU µs/call | allocs/call | B per call in flight |"
    );
    let _ = writeln!(out, "|---|--:|--:|--:|--:|--:|");
    for p in points {
        let _ = writeln!(
            out,
            "| {} | {} | {:.0} | {:.2} | {:.1} | {:.0} |",
            p.outcome.system,
            p.in_flight,
            p.outcome.ops_per_sec,
            p.outcome.cpu_us_per_op,
            p.outcome.allocs_per_op,
            p.bytes_per_in_flight
        );
    }
    let _ = writeln!(
        out,
        "\n| flavour | calls/s at {least} over at {most} | marginal B per call in flight |",
    );
    let _ = writeln!(out, "|---|--:|--:|");
    for flavour in flavours(points) {
        let at = |k: usize| {
            points
                .iter()
                .find(|p| p.outcome.system == flavour && p.in_flight == k)
        };
        let (Some(low), Some(high)) = (at(least), at(most)) else {
            continue;
        };
        if least == most {
            continue;
        }
        let held = |p: &Point| p.bytes_per_in_flight * p.in_flight as f64;
        let marginal = (held(high) - held(low)) / (high.in_flight - low.in_flight) as f64;
        let ratio = if high.outcome.ops_per_sec > 0.0 {
            format!("{:.2}x", low.outcome.ops_per_sec / high.outcome.ops_per_sec)
        } else {
            String::from("no call finished")
        };
        let _ = writeln!(out, "| {flavour} | {ratio} | {marginal:.0} |");
    }
    out
}

/// The flavours in the order they ran.
fn flavours(points: &[Point]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for p in points {
        if !out.contains(&p.outcome.system) {
            out.push(p.outcome.system.clone());
        }
    }
    out
}

/// What a plot panel draws of a point.
type Metric = fn(&Point) -> f64;

/// Throughput and bytes per call in flight against calls in flight, one line per
/// flavour, log scales.
fn plot(path: &std::path::Path, points: &[Point]) -> Result<(), String> {
    let err = |e: &dyn std::fmt::Display| e.to_string();
    let root = SVGBackend::new(path, (1100, 450)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err(&e))?;
    let panels = root.split_evenly((1, 2));
    let colors = [BLUE, CYAN, GREEN, RED];
    let names = flavours(points);
    let metrics: [(&str, Metric); 2] = [
        ("calls/s", |p| p.outcome.ops_per_sec),
        ("bytes per call in flight", |p| p.bytes_per_in_flight),
    ];
    for (area, (title, metric)) in panels.iter().zip(metrics) {
        let ys = || points.iter().map(metric).filter(|y| *y > 0.0);
        let ymax = ys().fold(1.0f64, f64::max) * 2.0;
        let ymin = ys().fold(ymax, f64::min) / 2.0;
        let mut chart = ChartBuilder::on(area)
            .caption(
                format!("AsyncQuorumCall n=3 q=2 100 B: {title}"),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(35)
            .y_label_area_size(70)
            .build_cartesian_2d(
                (500f64..200_000f64).log_scale(),
                (ymin.max(0.1)..ymax).log_scale(),
            )
            .map_err(|e| err(&e))?;
        chart
            .configure_mesh()
            .x_desc("calls in flight (log)")
            .x_label_formatter(&|x| format!("{x:.0}"))
            .y_label_formatter(&|y| format!("{y:.0}"))
            .draw()
            .map_err(|e| err(&e))?;
        for (i, name) in names.iter().enumerate() {
            let color = colors[i % colors.len()];
            let pts: Vec<(f64, f64)> = points
                .iter()
                .filter(|p| &p.outcome.system == name)
                .map(|p| (p.in_flight as f64, metric(p)))
                .collect();
            chart
                .draw_series(LineSeries::new(pts.clone(), color.stroke_width(2)))
                .map_err(|e| err(&e))?
                .label(name.clone())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
            chart
                .draw_series(pts.iter().map(|&p| Circle::new(p, 3, color.filled())))
                .map_err(|e| err(&e))?;
        }
        chart
            .configure_series_labels()
            .background_style(WHITE.mix(0.8))
            .border_style(BLACK)
            .position(SeriesLabelPosition::LowerLeft)
            .draw()
            .map_err(|e| err(&e))?;
    }
    root.present().map_err(|e| err(&e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flavours_are_chosen_by_name_in_the_sweeps_order() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let chosen = chosen_flavours(&names(&["smol-1t", "tokio"])).expect("known names");
        let chosen: Vec<String> = chosen.into_iter().map(flavour_name).collect();
        assert_eq!(chosen, ["tokio", "smol-1t"]);
        assert_eq!(
            chosen_flavours(&[]).expect("all").len(),
            OTHER_SYSTEMS.len()
        );
        assert!(chosen_flavours(&names(&["tokio-2t"])).is_err());
    }

    #[test]
    fn in_flight_points_are_sorted_and_nonzero() {
        assert_eq!(chosen_in_flight(&[]), Ok(IN_FLIGHT.to_vec()));
        assert_eq!(chosen_in_flight(&[100, 10, 100]), Ok(vec![10, 100]));
        assert!(chosen_in_flight(&[0, 10]).is_err());
    }
}
