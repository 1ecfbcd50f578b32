//! The record of a run: every event is a [`Note`] folded into a running hash (equal for
//! two runs of one seed) and, when tracing, printed as a line.

use crate::ids::ProcessId;

/// What the event hash and the trace record. The order of the variants is part of the
/// hash: add new ones at the end.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Note {
    Spawn,
    Poll,
    Timer,
    Write,
    Deliver,
    Held,
    Close,
    Reset,
    Connect,
    Accept,
    Refused,
    Listen,
    Crash,
    Restart,
    Pause,
    Resume,
    Partition,
    Heal,
    Buggify,
}

impl Note {
    fn describe(self, a: u64, b: u64) -> String {
        match self {
            Note::Spawn => format!("spawn task {a}"),
            Note::Poll => format!("poll task {a}"),
            Note::Timer => format!("timer set for {:.6} ms", a as f64 / 1e6),
            Note::Write => format!("write conn {a}: {b} bytes"),
            Note::Deliver => format!("deliver conn {a}: {b} bytes"),
            Note::Held => format!("held by partition: conn {a} direction {b}"),
            Note::Close => format!("close conn {a} direction {b}"),
            Note::Reset => format!("reset conn {a}"),
            Note::Connect => format!("dial conn {a}"),
            Note::Accept => format!("accept conn {a}"),
            Note::Refused => format!("conn {a} refused"),
            Note::Listen => format!("listen (listener {a})"),
            Note::Crash => String::from("CRASH"),
            Note::Restart => format!("RESTART (incarnation {a})"),
            Note::Pause => String::from("PAUSE"),
            Note::Resume => String::from("RESUME"),
            Note::Partition => format!("BLOCK link to process {a}"),
            Note::Heal => format!("HEAL link to process {a}"),
            Note::Buggify => format!("BUGGIFY point fired (its {a}th firing)"),
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The running event hash, and whether every event is also printed.
pub(crate) struct EventLog {
    hash: u64,
    pub(crate) trace: bool,
}

impl EventLog {
    /// An empty log; `trace` prints every event.
    pub(crate) fn new(trace: bool) -> EventLog {
        EventLog {
            hash: FNV_OFFSET,
            trace,
        }
    }

    /// The hash of every event so far.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// Folds one event at virtual time `now` into the hash.
    pub(crate) fn fold(&mut self, now: u64, note: Note, pid: ProcessId, a: u64, b: u64) {
        // FNV-1a over whole words rather than bytes: as deterministic, 8 times fewer
        // multiplications (this runs for every event).
        let mut h = self.hash;
        for word in [now, note as u64, pid.0 as u64, a, b] {
            h ^= word;
            h = h.wrapping_mul(FNV_PRIME);
        }
        self.hash = h;
    }

    /// Prints one event of the process called `name` (the trace's line format).
    pub(crate) fn print(now: u64, name: &str, note: Note, a: u64, b: u64) {
        println!(
            "{:>14.6} ms  {:<8} {}",
            now as f64 / 1e6,
            name,
            note.describe(a, b)
        );
    }
}
