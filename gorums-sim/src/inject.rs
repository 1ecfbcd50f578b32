//! Fault injection: applies a [`Fault`] to the world, draws random ones from a
//! [`FaultPlan`] (each with its undoing scheduled after an outage, which undoes that
//! fault alone), and draws a swarm run's plan from the seed. A restart is only
//! reported here: it calls user code (the boot function), which must not run under the
//! world's lock, so the executor performs it.

use crate::clock::nanos;
use crate::events::Event;
use crate::faults::{Fault, FaultPlan};
use crate::ids::{ConnId, ProcessId};
use crate::rng::SimRng;
use crate::world::World;

/// Applies `fault` to the world; a restart is returned for the caller to run.
///
/// The fault log records the fault as applied, with whatever it drew from the fault
/// stream resolved (a crash's kind, the connection a random reset picked), so that the
/// log replays without drawing: replaying it with random faults off gives the same run.
pub(crate) fn apply(w: &mut World, fault: Fault) -> Option<ProcessId> {
    let (fault, picked) = resolve(w, fault);
    let all: Vec<ProcessId> = (0..w.kernel.procs.len()).map(ProcessId).collect();
    let (k, net) = (&mut w.kernel, &mut w.net);
    k.fault_log.push((k.now, fault.clone()));
    if let Some(chart) = &k.chart {
        chart.fault(k.now, &fault);
    }
    match fault {
        Fault::Isolate(p) => {
            for &q in &all {
                net.block(k, p, q);
                net.block(k, q, p);
            }
        }
        Fault::Rejoin(p) => {
            for &q in all.iter().filter(|&&q| q != p) {
                net.heal(k, p, q);
                net.heal(k, q, p);
            }
        }
        Fault::Partition(a, b) => {
            for &p in &a {
                for &q in &b {
                    net.block(k, p, q);
                    net.block(k, q, p);
                }
            }
        }
        Fault::Block { from, to } => net.block(k, from, to),
        Fault::Unblock { from, to } => net.heal(k, from, to),
        Fault::Unpartition(a, b) => {
            for &p in &a {
                for &q in &b {
                    net.heal(k, p, q);
                    net.heal(k, q, p);
                }
            }
        }
        Fault::HealAll => net.heal_all(k),
        Fault::Skew {
            process,
            drift_ppm,
            jump,
        } => {
            let now = k.now;
            if let Some(p) = k.procs.get_mut(process.0) {
                p.clock.skew(now, drift_ppm, nanos(jump));
            }
        }
        Fault::ResetConnections(p) => {
            for conn in net.live_conns_of(p) {
                net.reset(k, conn);
            }
        }
        // Resolved to a `ResetConnection` when a connection was live: nothing to reset.
        Fault::ResetRandom => {}
        Fault::ResetConnection {
            dialer,
            listener,
            nth,
        } => {
            let conn = picked.or_else(|| {
                let named = Some((dialer, listener, nth));
                net.live_conns()
                    .into_iter()
                    .find(|&c| net.ends_of(c) == named)
            });
            if let Some(conn) = conn {
                net.reset(k, conn);
            }
        }
        // Resolved to its kind when the process was up: nothing to crash.
        Fault::Crash(_) => {}
        Fault::CrashSilent(p) => {
            w.crash(p, false);
        }
        Fault::CrashReset(p) => {
            w.crash(p, true);
        }
        Fault::Restart(p) => return Some(p),
        Fault::Pause(p) => w.pause(p, true),
        Fault::Resume(p) => w.pause(p, false),
    }
    None
}

/// `fault` with its draws from the fault stream made: a crash of a live process
/// becomes [`Fault::CrashSilent`] or [`Fault::CrashReset`] (one draw), a random reset
/// the [`Fault::ResetConnection`] of the connection it picks (one draw, whatever the
/// network holds, so that the fault stream stays aligned), returned beside it.
fn resolve(w: &mut World, fault: Fault) -> (Fault, Option<ConnId>) {
    let k = &mut w.kernel;
    match fault {
        Fault::Crash(p) if k.procs.get(p.0).is_some_and(|proc| proc.alive) => {
            let kind = if k.rng.faults.chance(w.net.crash_reset()) {
                Fault::CrashReset(p)
            } else {
                Fault::CrashSilent(p)
            };
            (kind, None)
        }
        Fault::ResetRandom => {
            let x = k.rng.faults.next_u64();
            let conns = w.net.live_conns();
            if conns.is_empty() {
                return (Fault::ResetRandom, None);
            }
            let conn = conns[((u128::from(x) * conns.len() as u128) >> 64) as usize];
            match w.net.ends_of(conn) {
                Some((dialer, listener, nth)) => {
                    let named = Fault::ResetConnection {
                        dialer,
                        listener,
                        nth,
                    };
                    (named, Some(conn))
                }
                None => (Fault::ResetRandom, None),
            }
        }
        other => (other, None),
    }
}

/// The kinds of random fault, in the order of their weights in [`weights`].
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Isolate,
    OneWay,
    Reset,
    Crash,
    Pause,
    Group,
    Skew,
    CrashIo,
    Bridge,
}

/// Each kind with its relative weight in `plan`.
fn weights(plan: &FaultPlan) -> [(Kind, u32); 9] {
    [
        (Kind::Isolate, plan.partition),
        (Kind::OneWay, plan.one_way),
        (Kind::Reset, plan.reset),
        (Kind::Crash, plan.crash),
        (Kind::Pause, plan.pause),
        (Kind::Group, plan.group),
        (Kind::Skew, plan.skew),
        (Kind::CrashIo, plan.crash_io),
        (Kind::Bridge, plan.bridge),
    ]
}

/// A swarm run's plan drawn from `plan` (see [`FaultPlan`]), and the drawn chance that
/// a crash is a process death rather than a silent host.
pub(crate) fn swarm(plan: &FaultPlan, rng: &mut SimRng) -> (FaultPlan, f64) {
    let mut drawn = plan.clone();
    drawn.swarm = false;
    let weight = |rng: &mut SimRng| {
        if rng.chance(0.5) {
            0
        } else {
            1 + rng.below(4) as u32
        }
    };
    drawn.partition = weight(rng);
    drawn.one_way = weight(rng);
    drawn.reset = weight(rng);
    drawn.crash = weight(rng);
    drawn.pause = weight(rng);
    drawn.group = weight(rng);
    drawn.skew = weight(rng);
    drawn.crash_io = weight(rng);
    // Drawn after the others, which keep the draws they had before bridges existed.
    drawn.bridge = 0;
    if weights(&drawn).iter().all(|&(_, w)| w == 0) {
        drawn.crash = 1;
    }
    drawn.mean_interval = plan.mean_interval * (1 + rng.below(8) as u32) / 4;
    let span = plan.max_outage.saturating_sub(plan.min_outage);
    drawn.max_outage = plan.min_outage + span * (1 + rng.below(10) as u32) / 10;
    let crash_reset = rng.below(1001) as f64 / 1000.0;
    drawn.bridge = weight(rng);
    (drawn, crash_reset)
}

/// Draws one random fault and schedules its undoing and the next draw.
pub(crate) fn random_fault(w: &mut World, plan: &FaultPlan) -> Option<ProcessId> {
    let k = &mut w.kernel;
    if k.now > nanos(plan.until) {
        return None;
    }
    let next = k.now + k.rng.faults.below(2 * nanos(plan.mean_interval) + 1);
    k.schedule(next, Event::RandomFault);
    let faulty: Vec<ProcessId> = k
        .procs
        .iter()
        .enumerate()
        .filter(|(_, p)| p.faulty && p.alive)
        .map(|(i, _)| ProcessId(i))
        .collect();
    let weights = weights(plan);
    let total: u64 = weights.iter().map(|&(_, x)| u64::from(x)).sum();
    if total == 0 {
        return None;
    }
    let mut pick = k.rng.faults.below(total);
    let mut kind = Kind::Isolate;
    for (candidate, weight) in weights {
        if pick < u64::from(weight) {
            kind = candidate;
            break;
        }
        pick -= u64::from(weight);
    }
    let outage = k.rng.faults.duration(plan.min_outage, plan.max_outage);
    let end = k.now + nanos(outage);
    if kind == Kind::Reset {
        return apply(w, Fault::ResetRandom);
    }
    if faulty.is_empty() {
        return None;
    }
    if kind == Kind::CrashIo {
        let permille = k.rng.faults.below(1001);
        let down = k.procs.iter().filter(|p| !p.alive).count();
        if down < plan.max_crashed {
            w.files.arm(permille, nanos(outage));
        }
        return None;
    }
    if kind == Kind::Group {
        group_partition(w, faulty, end);
        return None;
    }
    if kind == Kind::Bridge {
        bridge_partition(w, &faulty, end);
        return None;
    }
    let target = faulty[k.rng.faults.below(faulty.len() as u64) as usize];
    start_outage(w, plan, kind, target, end);
    None
}

/// Cuts a minority of `faulty` (one up to half of them, drawn) off from every other
/// process until `end`.
fn group_partition(w: &mut World, mut faulty: Vec<ProcessId>, end: u64) {
    let k = &mut w.kernel;
    let size = 1 + k.rng.faults.below((faulty.len() as u64 / 2).max(1)) as usize;
    // A partial Fisher-Yates shuffle picks the minority.
    for i in 0..size.min(faulty.len()) {
        let j = i + k.rng.faults.below((faulty.len() - i) as u64) as usize;
        faulty.swap(i, j);
    }
    faulty.truncate(size);
    faulty.sort_unstable();
    let rest: Vec<ProcessId> = (0..k.procs.len())
        .map(ProcessId)
        .filter(|p| !faulty.contains(p))
        .collect();
    k.schedule(
        end,
        Event::Fault(Fault::Unpartition(faulty.clone(), rest.clone())),
    );
    apply(w, Fault::Partition(faulty, rest));
}

/// Picks a bridge among `faulty` and splits every other process into two sides (each
/// non-empty, drawn) cut from each other until `end`; the bridge keeps every link.
fn bridge_partition(w: &mut World, faulty: &[ProcessId], end: u64) {
    let k = &mut w.kernel;
    let all = k.procs.len();
    let bridge = faulty[k.rng.faults.below(faulty.len() as u64) as usize];
    if all < 3 {
        return;
    }
    let mut others: Vec<ProcessId> = (0..all).map(ProcessId).filter(|&p| p != bridge).collect();
    for i in (1..others.len()).rev() {
        let j = k.rng.faults.below(i as u64 + 1) as usize;
        others.swap(i, j);
    }
    let split = 1 + k.rng.faults.below(others.len() as u64 - 1) as usize;
    let mut side_b = others.split_off(split);
    others.sort_unstable();
    side_b.sort_unstable();
    k.schedule(
        end,
        Event::Fault(Fault::Unpartition(others.clone(), side_b.clone())),
    );
    apply(w, Fault::Partition(others, side_b));
}

/// Starts an outage of `kind` on `target` and schedules its end at `end`.
fn start_outage(w: &mut World, plan: &FaultPlan, kind: Kind, target: ProcessId, end: u64) {
    let all = w.kernel.procs.len();
    match kind {
        Kind::Isolate => {
            apply(w, Fault::Isolate(target));
            w.kernel.schedule(end, Event::Fault(Fault::Rejoin(target)));
        }
        Kind::OneWay if all > 1 => {
            let k = &mut w.kernel;
            let mut other = ProcessId(k.rng.faults.below(all as u64 - 1) as usize);
            if other >= target {
                other.0 += 1;
            }
            let (from, to) = if k.rng.faults.chance(0.5) {
                (target, other)
            } else {
                (other, target)
            };
            k.schedule(end, Event::Fault(Fault::Unblock { from, to }));
            apply(w, Fault::Block { from, to });
        }
        Kind::Crash => {
            let down = w.kernel.procs.iter().filter(|p| !p.alive).count();
            if down < plan.max_crashed && w.kernel.procs[target.0].alive {
                apply(w, Fault::Crash(target));
                w.kernel.schedule(end, Event::Fault(Fault::Restart(target)));
            }
        }
        Kind::Pause => {
            apply(w, Fault::Pause(target));
            w.kernel.schedule(end, Event::Fault(Fault::Resume(target)));
        }
        Kind::Skew => {
            let k = &mut w.kernel;
            let max = i64::from(plan.max_drift_ppm);
            let drift_ppm = (k.rng.faults.below(2 * max as u64 + 1) as i64 - max) as i32;
            let jump = k
                .rng
                .faults
                .duration(std::time::Duration::ZERO, plan.max_jump);
            let undo = Fault::Skew {
                process: target,
                drift_ppm: 0,
                jump: std::time::Duration::ZERO,
            };
            k.schedule(end, Event::Fault(undo));
            apply(
                w,
                Fault::Skew {
                    process: target,
                    drift_ppm,
                    jump,
                },
            );
        }
        Kind::OneWay | Kind::Reset | Kind::Group | Kind::CrashIo | Kind::Bridge => {}
    }
}
