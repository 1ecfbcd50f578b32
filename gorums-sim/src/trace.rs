//! The record of a run: every event is a [`Note`] folded into a running hash (equal for
//! two runs of one seed) and, when tracing, printed as a line; while a determinism
//! check watches the thread (`determinism.rs`), also kept as a bounded list of
//! [`Recorded`] events, so two runs can be compared event by event.

use std::cell::RefCell;
use std::sync::{Arc, Mutex};

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
    AdversaryHold,
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
            Note::AdversaryHold => format!("adversary holds a write on conn {a}: {b} ns more"),
        }
    }
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The running event hash, whether every event is also printed, and the record a
/// determinism check asked for.
pub(crate) struct EventLog {
    hash: u64,
    pub(crate) trace: bool,
    record: Option<Arc<Mutex<Recording>>>,
}

impl EventLog {
    /// An empty log; `trace` prints every event. A determinism check watching this
    /// thread gets the log's record.
    pub(crate) fn new(trace: bool) -> EventLog {
        EventLog {
            hash: FNV_OFFSET,
            trace,
            record: watch_new_log(),
        }
    }

    /// The hash of every event so far.
    pub(crate) fn hash(&self) -> u64 {
        self.hash
    }

    /// Folds one event at virtual time `now` into the hash; `payload` is the digest of
    /// the bytes it carries ([`payload_digest`], 0 for none). `names` (the processes'
    /// names, needed only while recording) label the record.
    pub(crate) fn fold(
        &mut self,
        now: u64,
        note: Note,
        pid: ProcessId,
        [a, b, payload]: [u64; 3],
        names: impl FnOnce() -> Vec<String>,
    ) {
        // FNV-1a over whole words rather than bytes: as deterministic, 8 times fewer
        // multiplications (this runs for every event).
        let mut h = self.hash;
        for word in [now, note as u64, pid.0 as u64, a, b, payload] {
            h ^= word;
            h = h.wrapping_mul(FNV_PRIME);
        }
        self.hash = h;
        if let Some(record) = &self.record {
            let mut record = record.lock().unwrap_or_else(|p| p.into_inner());
            record.events_seen += 1;
            if record.events.len() < RECORD_LIMIT {
                if pid.0 >= record.names.len() {
                    record.names = names();
                }
                let name = record
                    .names
                    .get(pid.0)
                    .cloned()
                    .unwrap_or_else(|| "-".into());
                record.events.push(Recorded {
                    now,
                    name,
                    note,
                    a,
                    b,
                    payload,
                    hash: h,
                });
            }
            record.hash = h;
        }
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

/// The digest of a payload folded into its event: FNV-1a over 8-byte little-endian words
/// (the last one zero-padded) and the length, so the hash covers what was sent, not
/// only how much.
pub(crate) fn payload_digest(bytes: &[u8]) -> u64 {
    let mut h = FNV_OFFSET ^ bytes.len() as u64;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let mut w = [0u8; 8];
        w.copy_from_slice(word);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(FNV_PRIME);
    }
    let rest = words.remainder();
    if !rest.is_empty() {
        let mut w = [0u8; 8];
        w[..rest.len()].copy_from_slice(rest);
        h = (h ^ u64::from_le_bytes(w)).wrapping_mul(FNV_PRIME);
    }
    h
}

/// Events kept per simulation while recording (about 60 bytes each); later events are
/// still hashed and counted, but a divergence past this is reported without its event.
pub(crate) const RECORD_LIMIT: usize = 1 << 18;

/// One recorded event: what the trace prints, its payload digest, and the running hash
/// after it.
#[derive(Clone, Debug)]
pub(crate) struct Recorded {
    now: u64,
    name: String,
    note: Note,
    a: u64,
    b: u64,
    payload: u64,
    pub(crate) hash: u64,
}

impl std::fmt::Display for Recorded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:.6} ms  {}  {}",
            self.now as f64 / 1e6,
            self.name,
            self.note.describe(self.a, self.b)
        )?;
        if self.payload != 0 {
            write!(f, " (payload digest {:016x})", self.payload)?;
        }
        Ok(())
    }
}

/// One simulation's record: its first [`RECORD_LIMIT`] events, how many it had, and
/// its final hash.
#[derive(Clone, Debug, Default)]
pub(crate) struct Recording {
    pub(crate) events: Vec<Recorded>,
    pub(crate) events_seen: u64,
    pub(crate) hash: u64,
    names: Vec<String>,
}

thread_local! {
    /// The recordings of the simulations made on this thread since a determinism check
    /// started watching it, in the order they were made (`None`: nobody watches).
    static WATCH: RefCell<Option<Vec<Arc<Mutex<Recording>>>>> = const { RefCell::new(None) };
}

/// A fresh recording for a simulation being made, if a check watches this thread.
fn watch_new_log() -> Option<Arc<Mutex<Recording>>> {
    WATCH.with(|watch| {
        let mut watch = watch.borrow_mut();
        let list = watch.as_mut()?;
        let record = Arc::new(Mutex::new(Recording {
            hash: FNV_OFFSET,
            ..Recording::default()
        }));
        list.push(record.clone());
        Some(record)
    })
}

/// Runs `run` with this thread watched: every simulation it makes on this thread records
/// its events. Returns what it returned (or its panic, resumed by the caller) and the
/// recordings, in the order the simulations were made. Nested watches see only their own.
pub(crate) fn watching<R>(run: impl FnOnce() -> R) -> (std::thread::Result<R>, Vec<Recording>) {
    let outer = WATCH.with(|w| w.borrow_mut().replace(Vec::new()));
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(run));
    let list = WATCH.with(|w| std::mem::replace(&mut *w.borrow_mut(), outer));
    let recordings = list
        .unwrap_or_default()
        .into_iter()
        .map(|r| r.lock().unwrap_or_else(|p| p.into_inner()).clone())
        .collect();
    (result, recordings)
}
