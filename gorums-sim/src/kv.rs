//! Linearizability of a key-value map, checked key by key.
//!
//! A map of registers is linearizable exactly when each key's register is (linearizability
//! is local: Herlihy and Wing, 1990), so a [`KvHistory`](crate::KvHistory) is split per key
//! and each part goes to the register checker: the search stays as small as one key's
//! operations, however many keys a run touches. A failure names the key and prints a
//! shortest non-linearizable part of its history ([`shortest_violation`]).

use std::collections::BTreeMap;
use std::fmt;

use crate::history::Operation;
use crate::linearizability::{check_register, describe_operations, shortest_violation};

/// A key whose operations no order explains.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KvViolation<K> {
    /// The key.
    pub key: K,
    /// A shortest part of the key's history that is still not linearizable.
    pub operations: Vec<Operation>,
    /// How many operations the key had in all.
    pub of: usize,
}

impl<K: fmt::Debug> fmt::Display for KvViolation<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "key {:?} is not linearizable; {} of its {} operations show it:",
            self.key,
            self.operations.len(),
            self.of
        )?;
        f.write_str(&describe_operations(&self.operations))
    }
}

impl<K: fmt::Debug> std::error::Error for KvViolation<K> {}

/// Checks that `history` (operations beside their keys, as
/// [`KvHistory::operations`](crate::KvHistory::operations) gives them) is linearizable for a
/// map whose every key holds `initial` at first; on failure, the smallest key (in `K`'s
/// order) that is not, with a shortest witness.
///
/// ```
/// use gorums_sim::{KvHistory, RegisterOp, check_kv};
/// use std::time::Duration;
///
/// let h = KvHistory::new();
/// let ms = Duration::from_millis;
/// let w = h.invoke(1, "x", RegisterOp::Write(7), ms(0));
/// h.write_ok(w, ms(1));
/// let r = h.invoke(2, "y", RegisterOp::Read(None), ms(2));
/// h.read_ok(r, 0, ms(3)); // y was never written: it still holds the initial 0
/// assert!(check_kv(&h.operations(), 0).is_ok());
///
/// let r = h.invoke(2, "x", RegisterOp::Read(None), ms(4));
/// h.read_ok(r, 0, ms(5)); // stale: x was 7 since 1 ms
/// let err = check_kv(&h.operations(), 0).unwrap_err();
/// assert_eq!(err.key, "x");
/// assert_eq!(err.operations.len(), 2);
/// ```
pub fn check_kv<K: Ord + Clone>(
    history: &[(K, Operation)],
    initial: u64,
) -> Result<(), KvViolation<K>> {
    let mut per_key: BTreeMap<&K, Vec<Operation>> = BTreeMap::new();
    for (key, op) in history {
        per_key.entry(key).or_default().push(*op);
    }
    for (key, ops) in per_key {
        if !check_register(&ops, initial).is_ok() {
            let operations = shortest_violation(&ops, initial).unwrap_or_else(|| ops.clone());
            return Err(KvViolation {
                key: key.clone(),
                operations,
                of: ops.len(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::RegisterOp::{Read, Write};
    use crate::rng::SimRng;

    fn op(client: u64, op: crate::RegisterOp, invoke: u64, ret: u64) -> Operation {
        Operation {
            client,
            op,
            invoke,
            ret: Some(ret),
        }
    }

    /// Keys interleaved in time are checked apart: a read of key b that would be stale
    /// for key a is fine, and one stale read on one key of many is found and named.
    #[test]
    fn keys_are_separate_registers_and_the_bad_one_is_named() {
        let mut h = vec![
            ("a", op(1, Write(1), 0, 10)),
            ("b", op(2, Read(Some(0)), 11, 20)),
            ("a", op(2, Read(Some(1)), 21, 30)),
        ];
        assert!(check_kv(&h, 0).is_ok());
        // One register over the same operations would not be linearizable.
        let one: Vec<Operation> = h.iter().map(|(_, o)| *o).collect();
        assert!(!check_register(&[one[0], one[1]], 0).is_ok());

        // Many keys, each written and read in order; then one stale read of key 37.
        let mut rng = SimRng::new(9);
        let mut t = 100;
        for round in 1..=5u64 {
            for key in 0..50u64 {
                let key: &'static str = Box::leak(key.to_string().into_boxed_str());
                let v = round * 100 + rng.below(100);
                h.push((key, op(1, Write(v), t, t + 5)));
                h.push((key, op(2, Read(Some(v)), t + 6, t + 9)));
                t += 10;
            }
        }
        assert!(check_kv(&h, 0).is_ok());
        h.push(("37", op(3, Read(Some(0)), t + 1, t + 2)));
        let err = check_kv(&h, 0).unwrap_err();
        assert_eq!(err.key, "37");
        assert_eq!(err.of, 11);
        // The stale read and a write that made it stale.
        assert_eq!(err.operations.len(), 2, "{err}");
        assert!(err.operations.iter().any(|o| o.client == 3));
        assert!(err.operations.iter().any(|o| matches!(o.op, Write(_))));
        let text = err.to_string();
        assert!(
            text.contains("key \"37\"") && text.contains("read 0"),
            "{text}"
        );
    }
}
