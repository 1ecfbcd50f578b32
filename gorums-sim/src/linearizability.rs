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
