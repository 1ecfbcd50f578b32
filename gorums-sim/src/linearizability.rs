//! A linearizability checker for a read/write register: the Wing–Gong search with
//! Lowe's memoisation (as in Porcupine): operations are linearized one at a time in an
//! order the real-time constraints allow, and a (set of linearized operations, register
//! value) pair already explored is never explored again.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, DefaultHasher};

use crate::history::{Operation, RegisterOp};

/// The checker's verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Some order of the operations, consistent with real time, explains every read.
    Linearizable,
    /// No such order exists.
    NotLinearizable,
}

impl CheckResult {
    /// Whether the history is linearizable.
    pub fn is_ok(&self) -> bool {
        *self == CheckResult::Linearizable
    }
}

const NIL: usize = usize::MAX;

struct Entry {
    op: usize,
    call: bool,
    /// For a call, the index of its return entry.
    matching: usize,
}

/// Checks that `history` is linearizable for a register holding `initial` at first.
///
/// Writes that never returned may take effect at any time after their invocation, or
/// never; reads that never returned are ignored.
pub fn check_register(history: &[Operation], initial: u64) -> CheckResult {
    let ops = kept_ops(history);
    let entries = entries(&ops);
    search(&ops, &entries, initial)
}

/// A shortest part of a non-linearizable `history` that is still not linearizable (`None`
/// when `history` is linearizable): what to print beside a failing seed instead of the
/// whole history.
///
/// Operations are removed, in halves, then quarters, down to one at a time, while the
/// rest stays non-linearizable and every read in it still returns `initial` or a value
/// some write in it wrote (so the witness never blames a read for a write that was only
/// removed). The result is minimal in that no single operation can be removed from it;
/// a shorter witness made of other operations may exist.
pub fn shortest_violation(history: &[Operation], initial: u64) -> Option<Vec<Operation>> {
    if check_register(history, initial).is_ok() {
        return None;
    }
    let still_fails = |ops: &[Operation]| {
        reads_are_explained(ops, initial) && !check_register(ops, initial).is_ok()
    };
    // Reads that never returned constrain nothing: they go first.
    let mut kept: Vec<Operation> = history
        .iter()
        .filter(|o| matches!(o.op, RegisterOp::Write(_)) || o.ret.is_some())
        .copied()
        .collect();
    let mut chunk = (kept.len() / 2).max(1);
    loop {
        let mut removed = false;
        let mut at = 0;
        while at < kept.len() {
            let end = (at + chunk).min(kept.len());
            let without: Vec<Operation> = kept[..at].iter().chain(&kept[end..]).copied().collect();
            if still_fails(&without) {
                kept = without;
                removed = true;
            } else {
                at = end;
            }
        }
        if chunk == 1 && !removed {
            break;
        }
        chunk = (chunk / 2).max(1);
    }
    Some(kept)
}

/// Whether every read in `ops` returned `initial` or a value some write in `ops` wrote.
fn reads_are_explained(ops: &[Operation], initial: u64) -> bool {
    ops.iter().all(|o| match o.op {
        RegisterOp::Read(Some(v)) => {
            v == initial
                || ops
                    .iter()
                    .any(|w| matches!(w.op, RegisterOp::Write(x) if x == v))
        }
        _ => true,
    })
}

/// `ops` one per line, in invocation order, with their intervals in virtual time: the
/// form a checker's failure message prints.
pub fn describe_operations(ops: &[Operation]) -> String {
    let mut ops = ops.to_vec();
    ops.sort_by_key(|o| (o.invoke, o.ret));
    let mut out = String::new();
    for o in ops {
        let what = match o.op {
            RegisterOp::Write(v) => format!("write {v}"),
            RegisterOp::Read(Some(v)) => format!("read {v}"),
            RegisterOp::Read(None) => String::from("read (failed)"),
        };
        let ret = o.ret.map_or_else(
            || String::from("never returned"),
            |r| format!("{:?}", std::time::Duration::from_nanos(r)),
        );
        out.push_str(&format!(
            "  client {}: {what}, invoked {:?}, returned {ret}\n",
            o.client,
            std::time::Duration::from_nanos(o.invoke)
        ));
    }
    out
}

/// The operations the search must linearize, as (operation, invoke, return) times.
fn kept_ops(history: &[Operation]) -> Vec<(RegisterOp, u64, u64)> {
    // A pending write that no read observed changes nothing if it never happens; one
    // that did is linearized before that read. Either way "at the very end" works for
    // the unobserved ones, so every kept operation must be linearized.
    history
        .iter()
        .filter_map(|o| match (o.op, o.ret) {
            (RegisterOp::Write(_), ret) => Some((o.op, o.invoke, ret.unwrap_or(u64::MAX))),
            (RegisterOp::Read(Some(_)), Some(ret)) => Some((o.op, o.invoke, ret)),
            (RegisterOp::Read(_), _) => None,
        })
        .collect()
}

/// Every call and return in time order, each call pointing at its return.
fn entries(ops: &[(RegisterOp, u64, u64)]) -> Vec<Entry> {
    let mut times: Vec<(u64, u8, usize)> = Vec::with_capacity(ops.len() * 2);
    for (i, &(_, invoke, ret)) in ops.iter().enumerate() {
        // At equal times a call sorts before a return: the two count as concurrent.
        times.push((invoke, 0, i));
        times.push((ret, 1, i));
    }
    times.sort_unstable();
    let mut entries: Vec<Entry> = Vec::with_capacity(times.len());
    let mut ret_index = vec![0; ops.len()];
    for (k, &(_, kind, op)) in times.iter().enumerate() {
        if kind == 1 {
            ret_index[op] = k;
        }
        entries.push(Entry {
            op,
            call: kind == 0,
            matching: NIL,
        });
    }
    for e in &mut entries {
        if e.call {
            e.matching = ret_index[e.op];
        }
    }
    entries
}

/// A doubly linked list over the entries still to linearize; index `len` is the head
/// sentinel.
struct Links {
    next: Vec<usize>,
    prev: Vec<usize>,
    head: usize,
}

impl Links {
    fn new(len: usize) -> Links {
        let head = len;
        let mut next: Vec<usize> = (1..=len).map(|i| if i == len { NIL } else { i }).collect();
        next.push(if len == 0 { NIL } else { 0 });
        let mut prev: Vec<usize> = (0..len)
            .map(|i| if i == 0 { head } else { i - 1 })
            .collect();
        prev.push(NIL);
        Links { next, prev, head }
    }

    fn first(&self) -> usize {
        self.next[self.head]
    }

    fn unlink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = n;
        if n != NIL {
            self.prev[n] = p;
        }
    }

    fn relink(&mut self, e: usize) {
        let (p, n) = (self.prev[e], self.next[e]);
        self.next[p] = e;
        if n != NIL {
            self.prev[n] = e;
        }
    }
}

/// The explored (linearized operations, register value) pairs. A fixed-key hasher: the
/// checker, like the simulation, draws nothing from the OS.
type Seen = HashSet<(Vec<u64>, u64), BuildHasherDefault<DefaultHasher>>;

/// The Wing–Gong search with Lowe's memoisation over `entries`.
fn search(ops: &[(RegisterOp, u64, u64)], entries: &[Entry], initial: u64) -> CheckResult {
    let mut links = Links::new(entries.len());
    let words = ops.len().div_ceil(64).max(1);
    let mut linearized = vec![0u64; words];
    let mut cache = Seen::default();
    let mut stack: Vec<(usize, u64)> = Vec::new();
    let mut state = initial;
    let mut entry = links.first();

    while links.first() != NIL {
        if entry == NIL {
            // Every remaining call was tried from this state: backtrack.
            let Some((e, s)) = stack.pop() else {
                return CheckResult::NotLinearizable;
            };
            state = s;
            let op = entries[e].op;
            linearized[op / 64] &= !(1 << (op % 64));
            links.relink(entries[e].matching);
            links.relink(e);
            entry = links.next[e];
            continue;
        }
        let en = &entries[entry];
        if en.call {
            let op = en.op;
            let (ok, new_state) = match ops[op].0 {
                RegisterOp::Write(v) => (true, v),
                RegisterOp::Read(v) => (v == Some(state), state),
            };
            if ok {
                linearized[op / 64] |= 1 << (op % 64);
                if cache.insert((linearized.clone(), new_state)) {
                    stack.push((entry, state));
                    state = new_state;
                    let matching = en.matching;
                    links.unlink(entry);
                    links.unlink(matching);
                    entry = links.first();
                    continue;
                }
                linearized[op / 64] &= !(1 << (op % 64));
            }
            entry = links.next[entry];
        } else {
            // A return whose call is not linearized yet: that operation had to take
            // effect before now, and nothing tried here allowed it. Backtrack.
            entry = NIL;
        }
    }
    CheckResult::Linearizable
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::SimRng;

    fn op(client: u64, op: RegisterOp, invoke: u64, ret: Option<u64>) -> Operation {
        Operation {
            client,
            op,
            invoke,
            ret,
        }
    }

    use RegisterOp::{Read, Write};

    #[test]
    fn sequential_and_overlapping_histories_check() {
        let h = [
            op(1, Write(1), 0, Some(10)),
            op(2, Read(Some(1)), 11, Some(20)),
            op(1, Write(2), 21, Some(30)),
            op(2, Read(Some(2)), 31, Some(40)),
        ];
        assert!(check_register(&h, 0).is_ok());
        // A read overlapping a write may see either value.
        let h = [
            op(1, Write(1), 0, Some(10)),
            op(2, Read(Some(0)), 5, Some(6)),
            op(3, Read(Some(1)), 7, Some(8)),
        ];
        assert!(check_register(&h, 0).is_ok());
    }

    #[test]
    fn known_violations_are_found() {
        // A stale read after a completed write.
        let h = [
            op(1, Write(1), 0, Some(10)),
            op(2, Read(Some(0)), 11, Some(20)),
        ];
        assert_eq!(check_register(&h, 0), CheckResult::NotLinearizable);
        // New-old inversion: two reads during one write, the later sees the older value.
        let h = [
            op(1, Write(1), 0, Some(100)),
            op(2, Read(Some(1)), 10, Some(20)),
            op(3, Read(Some(0)), 30, Some(40)),
        ];
        assert_eq!(check_register(&h, 0), CheckResult::NotLinearizable);
        // A value nobody wrote.
        let h = [op(1, Read(Some(7)), 0, Some(1))];
        assert_eq!(check_register(&h, 0), CheckResult::NotLinearizable);
    }

    #[test]
    fn a_violation_shrinks_to_the_operations_that_cause_it() {
        // A stale read of 1 after the write of 2 returned, hidden among other operations
        // that are fine on their own.
        let h = [
            op(1, Write(1), 0, Some(10)),
            op(2, Read(Some(1)), 11, Some(20)),
            op(3, Read(Some(1)), 12, Some(14)),
            op(1, Write(2), 21, Some(30)),
            op(3, Read(Some(2)), 31, Some(35)),
            op(2, Read(Some(1)), 40, Some(50)),
            op(3, Read(None), 41, None),
            op(1, Write(3), 60, Some(70)),
            op(2, Read(Some(3)), 71, Some(80)),
        ];
        assert_eq!(check_register(&h, 0), CheckResult::NotLinearizable);
        let witness = shortest_violation(&h, 0).unwrap();
        assert_eq!(check_register(&witness, 0), CheckResult::NotLinearizable);
        // The write of 1 (else the stale read of 1 reads a value nobody wrote), the write
        // of 2 and the read of 1 after it: nothing else.
        assert_eq!(witness, [h[0], h[3], h[5]]);
        let text = describe_operations(&witness);
        assert_eq!(text.lines().count(), 3, "{text}");
        assert!(
            text.contains("client 2: read 1, invoked 40ns, returned 50ns"),
            "{text}"
        );
        // Removing any one operation of the witness makes it linearizable or leaves a
        // read of a value nobody wrote.
        for skip in 0..witness.len() {
            let rest: Vec<_> = (0..witness.len())
                .filter(|&i| i != skip)
                .map(|i| witness[i])
                .collect();
            assert!(check_register(&rest, 0).is_ok() || !reads_are_explained(&rest, 0));
        }
        assert_eq!(
            shortest_violation(&h[..5], 0),
            None,
            "a linearizable prefix"
        );
    }

    #[test]
    fn pending_writes_may_or_may_not_take_effect() {
        let h = [
            op(1, Write(1), 0, None),
            op(2, Read(Some(0)), 10, Some(20)),
            op(2, Read(Some(1)), 30, Some(40)),
        ];
        assert!(check_register(&h, 0).is_ok());
        let h = [
            op(1, Write(1), 0, None),
            op(2, Read(Some(1)), 10, Some(20)),
            op(2, Read(Some(0)), 30, Some(40)),
        ];
        assert_eq!(check_register(&h, 0), CheckResult::NotLinearizable);
        // A failed read constrains nothing.
        let h = [op(1, Write(1), 0, Some(5)), op(2, Read(None), 10, None)];
        assert!(check_register(&h, 0).is_ok());
    }

    /// An atomic register with random operation intervals around their linearization
    /// points: a few hundred operations from 5 clients check in milliseconds.
    #[test]
    fn hundreds_of_concurrent_operations_check_in_milliseconds() {
        let mut rng = SimRng::new(3);
        for round in 0..5 {
            let mut value = 0;
            let mut ops = Vec::new();
            let mut busy_until = [0u64; 5];
            let mut t = 0u64;
            for i in 0..400u64 {
                let free = loop {
                    t += 1 + rng.below(30);
                    let free: Vec<usize> = (0..5).filter(|&c| busy_until[c] <= t).collect();
                    if !free.is_empty() {
                        break free;
                    }
                };
                let client = free[rng.below(free.len() as u64) as usize];
                let invoke = busy_until[client].max(t.saturating_sub(rng.below(200)));
                let ret = t + rng.below(200);
                busy_until[client] = ret + 1;
                let o = if rng.chance(0.5) {
                    value = i + 1;
                    Write(value)
                } else {
                    Read(Some(value))
                };
                ops.push(op(client as u64, o, invoke, Some(ret)));
            }
            let started = std::time::Instant::now();
            assert!(check_register(&ops, 0).is_ok(), "round {round}");
            let took = started.elapsed();
            println!("400 operations, 5 clients: checked in {took:?}");
            assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        }
    }
}
