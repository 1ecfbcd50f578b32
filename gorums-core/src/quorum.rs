//! Thresholds: whether a call's outcomes so far meet its quorum, might still, or cannot.
//!
//! This is the one judge of gorums-rs: every call kind's outcome (terminal methods,
//! thresholds, correctables, user folds through `Responses::fold`) is decided here. A
//! [`Tally`] is fed each node's *final* outcome as the user sees it (after decoding and
//! interceptors), so a reply that fails to decode counts as that node's failure. The
//! engine does not judge: it reports every node's outcome and the API feeds the tally.
//!
//! Pure: no IO, no clock, no async.

/// How many successful replies a call needs.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Quorum {
    /// One success.
    First,
    /// `n / 2 + 1` successes for a configuration of `n` nodes.
    Majority,
    /// A success from every node.
    All,
    /// `k` successes.
    Threshold(usize),
}

impl Quorum {
    /// The number of successes needed among `n` nodes.
    ///
    /// The empty configuration (`n = 0`) is defined here once: `All` and
    /// `Threshold(0)` need nothing and are met at once; `First` and `Majority`
    /// (`0 / 2 + 1 = 1`) need one success that no node can give, so a call with them
    /// fails at once with `Incomplete`. `Threshold(k)` above `n` can never be met.
    pub fn required(self, n: usize) -> usize {
        match self {
            Quorum::First => 1,
            Quorum::Majority => n / 2 + 1,
            Quorum::All => n,
            Quorum::Threshold(k) => k,
        }
    }
}

/// What a [`Tally`] says about its call.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Verdict {
    /// Enough successes: the call is done.
    Met,
    /// Not yet met, but the nodes still open could meet it.
    Pending,
    /// Cannot be met any more: fail the call with `Incomplete` now.
    Impossible,
}

/// Counts one call's outcomes against its quorum.
///
/// For a plain call each node ends with one success or one failure. For a streaming
/// (correctable) call each item is a success that raises the level, and a node is open
/// until its stream ends, so the level can rise while any node is still open.
#[derive(Clone, Debug)]
pub struct Tally {
    required: usize,
    successes: usize,
    failures: usize,
    open: usize,
    streaming: bool,
}

impl Tally {
    /// A tally for a plain call over `open` nodes that needs `required` successes.
    pub fn new(required: usize, open: usize) -> Tally {
        Tally {
            required,
            successes: 0,
            failures: 0,
            open,
            streaming: false,
        }
    }

    /// A tally for a streaming call over `open` nodes that ends at level `required`.
    pub fn streaming(required: usize, open: usize) -> Tally {
        Tally {
            streaming: true,
            ..Tally::new(required, open)
        }
    }

    /// One node replied successfully (a plain call; that node is now closed).
    pub fn success(&mut self) {
        self.successes += 1;
        self.close_one();
    }

    /// One node failed (it is now closed).
    pub fn failure(&mut self) {
        self.failures += 1;
        self.close_one();
    }

    /// A streaming node sent one more item: the level rises by one.
    pub fn item(&mut self) {
        self.successes += 1;
    }

    /// A node closed without a new success or failure (its stream ended, or the node was
    /// skipped).
    pub fn closed(&mut self) {
        self.close_one();
    }

    fn close_one(&mut self) {
        self.open = self.open.saturating_sub(1);
    }

    /// The number of successes so far: the level of a correctable call.
    pub fn level(&self) -> usize {
        self.successes
    }

    /// The number of failures so far.
    pub fn failures(&self) -> usize {
        self.failures
    }

    /// The number of nodes still open.
    pub fn open(&self) -> usize {
        self.open
    }

    /// The successes needed.
    pub fn required(&self) -> usize {
        self.required
    }

    /// Met, still possible, or impossible.
    pub fn verdict(&self) -> Verdict {
        if self.successes >= self.required {
            Verdict::Met
        } else if self.open == 0 || (!self.streaming && self.successes + self.open < self.required)
        {
            Verdict::Impossible
        } else {
            Verdict::Pending
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn majority_sizes() {
        let sizes: Vec<usize> = (1..=7).map(|n| Quorum::Majority.required(n)).collect();
        assert_eq!(sizes, [1, 2, 2, 3, 3, 4, 4]);
        for n in (2..=20).step_by(2) {
            assert_eq!(Quorum::Majority.required(n), n / 2 + 1, "even n = {n}");
        }
    }

    #[test]
    fn the_counts_a_caller_reads() {
        let mut t = Tally::new(Quorum::Majority.required(5), 5);
        assert_eq!(
            (t.required(), t.open(), t.level(), t.failures()),
            (3, 5, 0, 0)
        );
        t.failure();
        t.failure();
        t.success();
        t.closed();
        assert_eq!((t.level(), t.failures(), t.open()), (1, 2, 1));
        t.closed();
        t.closed();
        assert_eq!(t.open(), 0, "never below zero");
        assert_eq!(t.verdict(), Verdict::Impossible);
    }

    #[test]
    fn the_empty_configuration() {
        let verdict = |q: Quorum| Tally::new(q.required(0), 0).verdict();
        assert_eq!(verdict(Quorum::All), Verdict::Met);
        assert_eq!(verdict(Quorum::Threshold(0)), Verdict::Met);
        assert_eq!(verdict(Quorum::First), Verdict::Impossible);
        assert_eq!(verdict(Quorum::Majority), Verdict::Impossible);
    }

    #[test]
    fn impossible_as_soon_as_too_many_fail() {
        let mut t = Tally::new(Quorum::Majority.required(5), 5);
        t.failure();
        t.failure();
        assert_eq!(t.verdict(), Verdict::Pending);
        t.failure();
        assert_eq!(t.verdict(), Verdict::Impossible);
    }

    #[test]
    fn met_without_the_slow_node() {
        let mut t = Tally::new(Quorum::Majority.required(3), 3);
        t.success();
        assert_eq!(t.verdict(), Verdict::Pending);
        t.success();
        assert_eq!(t.verdict(), Verdict::Met);
    }

    #[test]
    fn all_fails_on_one_failure() {
        let mut t = Tally::new(Quorum::All.required(3), 3);
        t.success();
        t.failure();
        assert_eq!(t.verdict(), Verdict::Impossible);
    }

    #[test]
    fn zero_threshold_is_met_at_once_and_empty_majority_is_impossible() {
        assert_eq!(Tally::new(0, 0).verdict(), Verdict::Met);
        assert_eq!(
            Tally::new(Quorum::Majority.required(0), 0).verdict(),
            Verdict::Impossible
        );
    }

    #[test]
    fn streaming_levels_rise_while_nodes_are_open() {
        let mut t = Tally::streaming(3, 2);
        t.item();
        t.item();
        t.closed();
        assert_eq!((t.level(), t.verdict()), (2, Verdict::Pending));
        t.item();
        assert_eq!(t.verdict(), Verdict::Met);

        let mut t = Tally::streaming(3, 1);
        t.item();
        t.closed();
        assert_eq!(t.verdict(), Verdict::Impossible);
    }
}
