//! A failing run drawn: a message sequence chart of a simulation, written as one
//! self-contained HTML page with an inline SVG (no external assets; a few lines of
//! inline script only light up a call's request and reply together on hover).
//!
//! Processes are vertical lanes, time runs down; every gorums frame written on a
//! connection is an arrow from the time it was written to the time its last byte was
//! delivered, labelled from its envelope ("Read req #5", "Read reply #5", "hello"); a
//! frame lost to a reset ends in a cross. Faults are marked on the lanes they hit
//! (crash to restart greyed, pauses and isolations banded), and client operations the
//! test hands over are bars on their client's lane, the violating ones in red.
//!
//! Recording is opt-in and costs nothing when off: the world's kernel holds a
//! [`ChartHandle`] only after [`Sim::record_chart`](crate::Sim::record_chart), or while
//! [`charting`] watches the thread (as the seed runners do for a failing seed when
//! `GORUMS_SIM_CHART_DIR` is set). Frames are decoded as they are written, so the record
//! keeps labels and times, not bytes.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use gorums_core::wire::{
    self, DEFAULT_MAX_FRAME_LEN, FRAME_HEADER_LEN, FrameDecoder, PREFACE, proto::Kind,
};

use crate::faults::Fault;
use crate::history::{Operation, RegisterOp};
use crate::ids::{ConnId, ProcessId};

/// At most this many messages are drawn; past it the chart keeps those around the
/// highlighted operations (or the run's last ones) and says how many it left out.
pub const CHART_MAX_MESSAGES: usize = 2000;

/// How a message ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Fate {
    /// Its last byte reached the receiver at this time.
    Delivered(u64),
    /// Its connection was reset at this time before it arrived.
    Lost(u64),
    /// Not delivered when the record was taken: still on its way, held by a partition
    /// or a silent host, or dropped with a connection both ends closed.
    InFlight,
}

/// What a message is, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MsgClass {
    Hello,
    Request,
    Reply,
    OneWay,
    Error,
    Bytes,
}

impl MsgClass {
    fn css(self) -> &'static str {
        match self {
            MsgClass::Hello => "hello",
            MsgClass::Request => "req",
            MsgClass::Reply => "reply",
            MsgClass::OneWay => "oneway",
            MsgClass::Error => "error",
            MsgClass::Bytes => "bytes",
        }
    }
}

/// One frame (or, on a stream that does not decode, one write) as the chart draws it.
#[derive(Clone, Debug)]
struct ChartMessage {
    conn: ConnId,
    from: usize,
    to: usize,
    sent: u64,
    fate: Fate,
    label: String,
    detail: String,
    class: MsgClass,
    /// The envelope's message id, which a call's request and its replies share.
    call: Option<u64>,
    /// Where its last byte is in its direction's byte stream.
    end_offset: u64,
}

/// One direction of one connection, as written and delivered so far.
struct Stream {
    /// `None` once the bytes stopped decoding as gorums frames.
    decoder: Option<FrameDecoder>,
    written: u64,
    /// Where the next decoded frame ends (the preface comes first).
    frame_end: u64,
    delivered: u64,
    /// Indices (into the record's messages) not yet delivered, in stream order.
    waiting: VecDeque<usize>,
}

/// What a recording simulation has seen so far.
#[derive(Default)]
pub(crate) struct ChartRecord {
    names: Vec<String>,
    streams: BTreeMap<(ConnId, usize), Stream>,
    /// The method of each request seen, by connection and message id.
    methods: BTreeMap<(ConnId, u64), String>,
    messages: Vec<ChartMessage>,
    faults: Vec<(u64, Fault)>,
    ops: Vec<ChartOp>,
    end: u64,
}

/// A client operation drawn on its client's lane.
#[derive(Clone, Copy, Debug)]
struct ChartOp {
    lane: usize,
    op: Operation,
    highlighted: bool,
}

/// The chart record of one simulation, shared by its kernel and whoever draws it.
#[derive(Clone, Default)]
pub(crate) struct ChartHandle(Arc<Mutex<ChartRecord>>);

impl ChartHandle {
    fn lock(&self) -> MutexGuard<'_, ChartRecord> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The processes' names, in id order (the lanes).
    pub(crate) fn names(&self, names: Vec<String>) {
        self.lock().names = names;
    }

    /// `bytes` written at `now` on `conn` by its end `end` (process `from`) to `to`.
    pub(crate) fn write(
        &self,
        now: u64,
        conn: ConnId,
        end: usize,
        [from, to]: [ProcessId; 2],
        bytes: &[u8],
    ) {
        let mut rec = self.lock();
        rec.end = rec.end.max(now);
        let rec = &mut *rec;
        let stream = rec.streams.entry((conn, end)).or_insert_with(|| Stream {
            decoder: Some(FrameDecoder::new(DEFAULT_MAX_FRAME_LEN)),
            written: 0,
            frame_end: PREFACE.len() as u64,
            delivered: 0,
            waiting: VecDeque::new(),
        });
        stream.written += bytes.len() as u64;
        let base = ChartMessage {
            conn,
            from: from.0,
            to: to.0,
            sent: now,
            fate: Fate::InFlight,
            label: String::new(),
            detail: String::new(),
            class: MsgClass::Bytes,
            call: None,
            end_offset: stream.written,
        };
        let mut made = Vec::new();
        if let Some(decoder) = &mut stream.decoder {
            decoder.push(bytes);
            loop {
                match decoder.next_frame() {
                    Ok(Some(body)) => {
                        stream.frame_end += (FRAME_HEADER_LEN + body.len()) as u64;
                        // The first frame each way is the hello.
                        let hello = stream.frame_end
                            == (PREFACE.len() + FRAME_HEADER_LEN + body.len()) as u64;
                        let len = body.len();
                        let frame = if hello {
                            Frame::Hello(wire::decode_hello(body))
                        } else {
                            Frame::Message(wire::decode_message(body))
                        };
                        let (label, detail, class, call) =
                            describe_frame(len, frame, conn, &mut rec.methods);
                        made.push(ChartMessage {
                            label,
                            detail,
                            class,
                            call,
                            end_offset: stream.frame_end,
                            ..base.clone()
                        });
                    }
                    Ok(None) => break,
                    Err(err) => {
                        stream.decoder = None;
                        made.push(ChartMessage {
                            label: format!("{} bytes", bytes.len()),
                            detail: format!("not a gorums frame: {err}"),
                            ..base.clone()
                        });
                        break;
                    }
                }
            }
        } else {
            made.push(ChartMessage {
                label: format!("{} bytes", bytes.len()),
                detail: String::from("bytes (the stream stopped decoding as frames)"),
                ..base
            });
        }
        for m in made {
            stream.waiting.push_back(rec.messages.len());
            rec.messages.push(m);
        }
    }

    /// `bytes` more of `conn`'s direction `dir` reached the receiver at `now`.
    pub(crate) fn deliver(&self, now: u64, conn: ConnId, dir: usize, bytes: u64) {
        let mut rec = self.lock();
        rec.end = rec.end.max(now);
        let rec = &mut *rec;
        let Some(stream) = rec.streams.get_mut(&(conn, dir)) else {
            return;
        };
        stream.delivered += bytes;
        while let Some(&i) = stream.waiting.front() {
            match rec.messages.get_mut(i) {
                Some(m) if m.end_offset <= stream.delivered => {
                    m.fate = Fate::Delivered(now);
                    stream.waiting.pop_front();
                }
                Some(_) => break,
                None => {
                    stream.waiting.pop_front();
                }
            }
        }
    }

    /// `conn` was reset at `now`: what was on its way either way is lost.
    pub(crate) fn reset(&self, now: u64, conn: ConnId) {
        let mut rec = self.lock();
        rec.end = rec.end.max(now);
        let rec = &mut *rec;
        for dir in 0..2 {
            if let Some(stream) = rec.streams.get_mut(&(conn, dir)) {
                for i in stream.waiting.drain(..) {
                    if let Some(m) = rec.messages.get_mut(i) {
                        m.fate = Fate::Lost(now);
                    }
                }
            }
        }
    }

    /// `fault` was applied at `now` (as the fault log records it).
    pub(crate) fn fault(&self, now: u64, fault: &Fault) {
        let mut rec = self.lock();
        rec.end = rec.end.max(now);
        rec.faults.push((now, fault.clone()));
    }

    /// Virtual time reached `now` (the chart's lanes run at least this far).
    pub(crate) fn reached(&self, now: u64) {
        let mut rec = self.lock();
        rec.end = rec.end.max(now);
    }

    /// The chart of what was recorded so far.
    pub(crate) fn chart(&self) -> Chart {
        let rec = self.lock();
        Chart {
            title: String::from("gorums-sim run"),
            lanes: rec.names.clone(),
            messages: rec.messages.clone(),
            faults: rec.faults.clone(),
            ops: rec.ops.clone(),
            end: rec.end,
        }
    }
}

/// A frame body, decoded as what its place in the stream says it is.
enum Frame {
    Hello(Result<wire::proto::Hello, wire::WireError>),
    Message(Result<wire::proto::Message, wire::WireError>),
}

/// The label, hover text, class and call id of one frame of `len` bytes.
/// `methods` holds the method of each request seen, by connection and message id, to
/// name the replies (which carry no method) after their call.
fn describe_frame(
    len: usize,
    frame: Frame,
    conn: ConnId,
    methods: &mut BTreeMap<(ConnId, u64), String>,
) -> (String, String, MsgClass, Option<u64>) {
    let decoded = match frame {
        Frame::Hello(hello) => {
            return match hello {
                Ok(h) => (
                    String::from("hello"),
                    format!("hello ({len} bytes): {h:?}"),
                    MsgClass::Hello,
                    None,
                ),
                Err(err) => (
                    String::from("hello?"),
                    format!("hello that does not decode: {err}"),
                    MsgClass::Error,
                    None,
                ),
            };
        }
        Frame::Message(m) => m,
    };
    let m = match decoded {
        Ok(m) => m,
        Err(err) => {
            return (
                format!("{len} bytes"),
                format!("frame that does not decode: {err}"),
                MsgClass::Error,
                None,
            );
        }
    };
    let id = m.message_seq_no;
    let kind = Kind::try_from(m.kind).unwrap_or(Kind::Untyped);
    let mut method = String::from_utf8_lossy(&m.method).into_owned();
    match kind {
        Kind::Request | Kind::StreamRequest if !method.is_empty() => {
            methods.insert((conn, id), method.clone());
        }
        Kind::Reply | Kind::StreamItem | Kind::StreamEnd if method.is_empty() => {
            method = methods.get(&(conn, id)).cloned().unwrap_or_default();
        }
        _ => {}
    }
    let short = method.rsplit(['.', '/']).next().unwrap_or("").to_owned();
    let (word, mut class) = match kind {
        Kind::Request => ("req", MsgClass::Request),
        Kind::Reply => ("reply", MsgClass::Reply),
        Kind::OneWay => ("msg", MsgClass::OneWay),
        Kind::StreamRequest => ("stream req", MsgClass::Request),
        Kind::StreamItem => ("item", MsgClass::Reply),
        Kind::StreamEnd => ("end", MsgClass::Reply),
        Kind::Untyped => ("untyped", MsgClass::OneWay),
    };
    let mut label = if short.is_empty() {
        format!("{word} #{id}")
    } else {
        format!("{short} {word} #{id}")
    };
    let mut detail = format!(
        "{} #{id}, method {}, {} payload bytes, {len} frame bytes",
        kind.as_str_name(),
        if method.is_empty() { "-" } else { &method },
        m.payload.len()
    );
    if let Some(status) = m.status.as_ref().filter(|s| s.code != 0) {
        class = MsgClass::Error;
        label.push_str(&format!(" ✗{}", status.code));
        let _ = write!(detail, ", status {}: {}", status.code, status.message);
    }
    if !m.metadata.is_empty() {
        let _ = write!(detail, ", {} metadata entries", m.metadata.len());
    }
    (label, detail, class, Some(id))
}

/// A message sequence chart of one simulation: processes as lanes, every gorums frame
/// as an arrow from its write to its delivery, faults on the lanes they hit, and the
/// client operations a test marks. Made by [`Sim::chart`](crate::Sim::chart) (after
/// [`Sim::record_chart`](crate::Sim::record_chart)) or by [`charting`]; written with
/// [`write_html`](Self::write_html).
///
/// ```
/// use gorums_sim::{Fault, ProcessId, ProcessOptions, Sim, SimConfig};
/// use std::time::Duration;
/// ///
/// let mut sim = Sim::new(SimConfig::new(1));
/// sim.record_chart();
/// let a = sim.add_process(ProcessOptions::new("a"));
/// sim.add_process(ProcessOptions::new("b"));
/// sim.schedule(Duration::from_millis(3), Fault::Pause(a));
/// sim.run_until(Duration::from_millis(10)).unwrap();
/// let html = sim.chart().title("two idle processes").to_html();
/// assert!(html.contains(r#"data-process="b""#) && html.contains("PAUSE"));
/// ```
#[derive(Clone, Debug)]
pub struct Chart {
    title: String,
    lanes: Vec<String>,
    messages: Vec<ChartMessage>,
    faults: Vec<(u64, Fault)>,
    ops: Vec<ChartOp>,
    end: u64,
}

impl Chart {
    /// The heading of the page.
    pub fn title(mut self, title: impl Into<String>) -> Chart {
        self.title = title.into();
        self
    }

    /// Draws `ops` on their clients' lanes (`lane` says which process a client id
    /// is), plainly: the run's history, for context.
    pub fn operations(mut self, ops: &[Operation], lane: impl Fn(u64) -> ProcessId) -> Chart {
        add_ops(&mut self.ops, ops, lane, false);
        self
    }

    /// Draws `ops` on their clients' lanes in red, as the operations that break the
    /// property checked (for example [`shortest_violation`](crate::shortest_violation)'s
    /// witness); messages are kept around them when the run has more than
    /// [`CHART_MAX_MESSAGES`].
    pub fn highlight(mut self, ops: &[Operation], lane: impl Fn(u64) -> ProcessId) -> Chart {
        add_ops(&mut self.ops, ops, lane, true);
        self
    }

    /// How many messages (frames) the run wrote, drawn or not.
    pub fn message_count(&self) -> usize {
        self.messages.len()
    }

    /// The page: one HTML document with the chart as an inline SVG.
    pub fn to_html(&self) -> String {
        render(self)
    }

    /// Writes [`to_html`](Self::to_html) to `path` (its directory must exist).
    ///
    /// # Errors
    ///
    /// The file system's error.
    pub fn write_html(&self, path: impl AsRef<Path>) -> std::io::Result<()> {
        std::fs::write(path, self.to_html())
    }
}

fn add_ops(
    into: &mut Vec<ChartOp>,
    ops: &[Operation],
    lane: impl Fn(u64) -> ProcessId,
    highlighted: bool,
) {
    for op in ops {
        let lane = lane(op.client).0;
        let same = |o: &&mut ChartOp| {
            o.lane == lane && o.op.client == op.client && o.op.invoke == op.invoke
        };
        match into.iter_mut().find(same) {
            Some(o) => o.highlighted |= highlighted,
            None => into.push(ChartOp {
                lane,
                op: *op,
                highlighted,
            }),
        }
    }
}

thread_local! {
    /// The records of the simulations made on this thread since [`charting`] started
    /// watching it (`None`: nobody watches).
    static WATCH: RefCell<Option<Vec<ChartHandle>>> = const { RefCell::new(None) };
}

/// A record for a simulation being made, if [`charting`] watches this thread.
pub(crate) fn watched_record() -> Option<ChartHandle> {
    WATCH.with(|w| {
        let mut w = w.borrow_mut();
        let list = w.as_mut()?;
        let handle = ChartHandle::default();
        list.push(handle.clone());
        Some(handle)
    })
}

/// Puts the thread's previous watch back, even if the run panics.
struct Unwatch(Option<Option<Vec<ChartHandle>>>);

impl Drop for Unwatch {
    fn drop(&mut self) {
        if let Some(outer) = self.0.take() {
            WATCH.with(|w| *w.borrow_mut() = outer);
        }
    }
}

/// Runs `run` with this thread watched: every [`Sim`](crate::Sim) it makes on this
/// thread records its chart. Returns what `run` returned and the charts, in the order
/// the simulations were made. [`chart_highlight`] marks operations in the last one.
///
/// ```
/// use gorums_sim::{ProcessOptions, Sim, SimConfig, charting};
/// use std::time::Duration;
/// ///
/// let ((), charts) = charting(|| {
///     let mut sim = Sim::new(SimConfig::new(3));
///     sim.add_process(ProcessOptions::new("lonely"));
///     sim.run_until(Duration::from_millis(1)).unwrap();
/// });
/// assert_eq!(charts.len(), 1);
/// assert!(charts[0].to_html().contains("lonely"));
/// ```
pub fn charting<R>(run: impl FnOnce() -> R) -> (R, Vec<Chart>) {
    let outer = WATCH.with(|w| w.borrow_mut().replace(Vec::new()));
    let mut guard = Unwatch(Some(outer));
    let out = run();
    let list = WATCH.with(|w| w.borrow_mut().take()).unwrap_or_default();
    if let Some(outer) = guard.0.take() {
        WATCH.with(|w| *w.borrow_mut() = outer);
    }
    (out, list.iter().map(ChartHandle::chart).collect())
}

/// Marks `ops` as violating (see [`Chart::highlight`]) in the chart of the last
/// simulation made on this thread, if [`charting`] (or a seed runner drawing a failing
/// seed) watches it; does nothing otherwise. A check calls it where it finds the
/// violation, after its simulation is gone.
pub fn chart_highlight(ops: &[Operation], lane: impl Fn(u64) -> ProcessId) {
    WATCH.with(|w| {
        if let Some(last) = w.borrow().as_ref().and_then(|l| l.last()) {
            add_ops(&mut last.lock().ops, ops, lane, true);
        }
    });
}

/// [`chart_highlight`] for context: draws `ops` plainly in the last watched chart.
pub fn chart_operations(ops: &[Operation], lane: impl Fn(u64) -> ProcessId) {
    WATCH.with(|w| {
        if let Some(last) = w.borrow().as_ref().and_then(|l| l.last()) {
            add_ops(&mut last.lock().ops, ops, lane, false);
        }
    });
}

/// The directory `GORUMS_SIM_CHART_DIR` names, if set and not empty.
pub(crate) fn chart_dir_from_env() -> Option<PathBuf> {
    let dir = std::env::var_os("GORUMS_SIM_CHART_DIR")?;
    (!dir.is_empty()).then(|| PathBuf::from(dir))
}

/// Runs `run` (the failing seed `seed` of the loop `name`, again) under [`charting`]
/// and writes each simulation's chart into `dir` (made if missing), printing each
/// path beside the seed. Returns the paths (none if writing failed: said, not fatal).
pub(crate) fn draw_failing_run(
    name: &str,
    seed: u64,
    dir: &Path,
    run: impl FnOnce(),
) -> Vec<PathBuf> {
    let ((), charts) = charting(run);
    if let Err(err) = std::fs::create_dir_all(dir) {
        println!("{name}: seed {seed}: cannot make {}: {err}", dir.display());
        return Vec::new();
    }
    let stem: String = name
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut paths = Vec::new();
    for (i, chart) in charts.iter().enumerate() {
        let file = if charts.len() == 1 {
            format!("{stem}-seed-{seed}.html")
        } else {
            format!("{stem}-seed-{seed}-sim-{i}.html")
        };
        let path = dir.join(file);
        let chart = chart.clone().title(format!("{name}: seed {seed}"));
        match chart.write_html(&path) {
            Ok(()) => {
                println!("{name}: seed {seed} drawn: {}", path.display());
                paths.push(path);
            }
            Err(err) => println!(
                "{name}: seed {seed}: cannot write {}: {err}",
                path.display()
            ),
        }
    }
    paths
}

// ---- Drawing ---------------------------------------------------------------------

const LANE_WIDTH: f64 = 190.0;
const LEFT: f64 = 100.0;
const TOP: f64 = 60.0;
/// The least vertical room between two distinct instants, in pixels.
const MIN_GAP: f64 = 5.0;
/// Virtual nanoseconds per pixel of the gap above the least.
const NANOS_PER_PIXEL: f64 = 50_000.0;
/// A longer quiet time than this many pixels is cut short (and marked as a break).
const MAX_GAP: f64 = 80.0;
/// The most room all gaps together get above their least: past it, time is squeezed.
const STRETCH_BUDGET: f64 = 6000.0;
/// Messages kept around the highlighted operations, before and after them.
const HIGHLIGHT_MARGIN: u64 = 20_000_000;

/// Maps virtual time to a vertical position: each instant something happens gets its
/// own row, gaps grow with time elapsed up to [`MAX_GAP`].
struct TimeAxis {
    rows: Vec<(u64, f64)>,
    breaks: Vec<(f64, u64)>,
}

impl TimeAxis {
    fn new(times: &BTreeSet<u64>) -> TimeAxis {
        let stretch = |dt: u64| (dt as f64 / NANOS_PER_PIXEL).min(MAX_GAP);
        let gaps = times.iter().zip(times.iter().skip(1));
        let total: f64 = gaps.clone().map(|(a, b)| stretch(b - a)).sum();
        let squeeze = if total > STRETCH_BUDGET {
            STRETCH_BUDGET / total
        } else {
            1.0
        };
        let mut rows = Vec::with_capacity(times.len());
        let mut breaks = Vec::new();
        let mut y = TOP + 20.0;
        if let Some(&first) = times.first() {
            rows.push((first, y));
        }
        for (&prev, &t) in gaps {
            let room = MIN_GAP + stretch(t - prev) * squeeze;
            if (t - prev) as f64 / NANOS_PER_PIXEL > MAX_GAP {
                breaks.push((y + room / 2.0, t - prev));
            }
            y += room;
            rows.push((t, y));
        }
        TimeAxis { rows, breaks }
    }

    fn y(&self, t: u64) -> f64 {
        match self.rows.binary_search_by_key(&t, |r| r.0) {
            Ok(i) => self.rows[i].1,
            Err(0) => self.rows.first().map_or(TOP + 20.0, |r| r.1),
            Err(i) if i >= self.rows.len() => self.rows.last().map_or(TOP + 20.0, |r| r.1),
            Err(i) => {
                let (t0, y0) = self.rows[i - 1];
                let (t1, y1) = self.rows[i];
                y0 + (y1 - y0) * (t - t0) as f64 / (t1 - t0) as f64
            }
        }
    }

    fn bottom(&self) -> f64 {
        self.rows.last().map_or(TOP + 20.0, |r| r.1) + 30.0
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn ms(t: u64) -> String {
    format!("{:.3} ms", t as f64 / 1e6)
}

/// What a fault looks like: the lanes it marks, its label and its CSS class.
fn fault_marks(fault: &Fault, lanes: usize) -> (Vec<usize>, String, &'static str) {
    let all = || (0..lanes).collect::<Vec<_>>();
    let ids = |g: &[ProcessId]| g.iter().map(|p| p.0).collect::<Vec<_>>();
    let list = |g: &[ProcessId]| {
        g.iter()
            .map(|p| p.0.to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    match fault {
        Fault::Isolate(p) => (vec![p.0], String::from("ISOLATED"), "partition"),
        Fault::Rejoin(p) => (vec![p.0], String::from("REJOINED"), "heal"),
        Fault::Partition(a, b) => {
            let mut l = ids(a);
            l.extend(ids(b));
            (l, format!("PARTITION {}|{}", list(a), list(b)), "partition")
        }
        Fault::Unpartition(a, b) => {
            let mut l = ids(a);
            l.extend(ids(b));
            (l, format!("UNPARTITION {}|{}", list(a), list(b)), "heal")
        }
        Fault::Block { from, to } => (vec![from.0], format!("BLOCK →{}", to.0), "partition"),
        Fault::Unblock { from, to } => (vec![from.0], format!("UNBLOCK →{}", to.0), "heal"),
        Fault::HealAll => (all(), String::from("HEAL ALL"), "heal"),
        Fault::ResetConnections(p) => (vec![p.0], String::from("RESET conns"), "reset"),
        Fault::ResetRandom => (all(), String::from("RESET (random)"), "reset"),
        Fault::ResetConnection {
            dialer,
            listener,
            nth,
        } => (
            vec![dialer.0, listener.0],
            format!("RESET conn {}→{} #{nth}", dialer.0, listener.0),
            "reset",
        ),
        Fault::Crash(p) => (vec![p.0], String::from("CRASH"), "crash"),
        Fault::CrashSilent(p) => (vec![p.0], String::from("CRASH (silent host)"), "crash"),
        Fault::CrashReset(p) => (vec![p.0], String::from("CRASH (process died)"), "crash"),
        Fault::Restart(p) => (vec![p.0], String::from("RESTART"), "restart"),
        Fault::Pause(p) => (vec![p.0], String::from("PAUSE"), "pause"),
        Fault::Resume(p) => (vec![p.0], String::from("RESUME"), "heal"),
        Fault::Skew {
            process,
            drift_ppm,
            jump,
        } => {
            let label = if *drift_ppm == 0 && jump.is_zero() {
                String::from("SKEW ends")
            } else {
                format!("SKEW +{jump:?}, {drift_ppm} ppm")
            };
            (vec![process.0], label, "skew")
        }
        #[allow(unreachable_patterns)]
        other => (all(), format!("{other:?}"), "skew"),
    }
}

/// The spans a lane spends down, paused or cut off: (lane, from, to, class).
fn outages(faults: &[(u64, Fault)], end: u64) -> Vec<(usize, u64, u64, &'static str)> {
    let mut open: BTreeMap<(usize, &'static str), u64> = BTreeMap::new();
    let mut out = Vec::new();
    for (t, fault) in faults {
        let (start, stop) = match fault {
            Fault::Crash(p) | Fault::CrashSilent(p) | Fault::CrashReset(p) => {
                (Some((p.0, "down")), None)
            }
            Fault::Restart(p) => (None, Some((p.0, "down"))),
            Fault::Pause(p) => (Some((p.0, "paused")), None),
            Fault::Resume(p) => (None, Some((p.0, "paused"))),
            Fault::Isolate(p) => (Some((p.0, "cut")), None),
            Fault::Rejoin(p) => (None, Some((p.0, "cut"))),
            _ => (None, None),
        };
        if let Some(key) = start {
            open.entry(key).or_insert(*t);
        }
        if let Some(key) = stop
            && let Some(from) = open.remove(&key)
        {
            out.push((key.0, from, *t, key.1));
        }
    }
    for ((lane, class), from) in open {
        out.push((lane, from, end, class));
    }
    out
}

/// The messages drawn: all of them, or at most [`CHART_MAX_MESSAGES`] around the
/// highlighted operations (else the run's last ones), and a note of what was left out.
fn messages_shown(chart: &Chart) -> (Vec<&ChartMessage>, Option<String>) {
    let all: Vec<&ChartMessage> = chart.messages.iter().collect();
    if all.len() <= CHART_MAX_MESSAGES {
        return (all, None);
    }
    let marked: Vec<&ChartOp> = chart.ops.iter().filter(|o| o.highlighted).collect();
    let window = (!marked.is_empty()).then(|| {
        let from = marked.iter().map(|o| o.op.invoke).min().unwrap_or(0);
        let to = marked
            .iter()
            .map(|o| o.op.ret.unwrap_or(chart.end))
            .max()
            .unwrap_or(chart.end);
        (from.saturating_sub(HIGHLIGHT_MARGIN), to + HIGHLIGHT_MARGIN)
    });
    let mut kept: Vec<&ChartMessage> = match window {
        Some((from, to)) => all
            .iter()
            .copied()
            .filter(|m| m.sent <= to && end_time(m, chart.end) >= from)
            .collect(),
        None => all.clone(),
    };
    if kept.len() > CHART_MAX_MESSAGES {
        let skip = if window.is_some() {
            0
        } else {
            kept.len() - CHART_MAX_MESSAGES
        };
        kept = kept
            .into_iter()
            .skip(skip)
            .take(CHART_MAX_MESSAGES)
            .collect();
    }
    let (first, last) = (
        kept.first().map_or(0, |m| m.sent),
        kept.last().map_or(0, |m| m.sent),
    );
    let note = format!(
        "{} of {} messages drawn (sent {} to {}{}); the rest elided",
        kept.len(),
        all.len(),
        ms(first),
        ms(last),
        if window.is_some() {
            ", around the highlighted operations"
        } else {
            ", the last of the run"
        }
    );
    (kept, Some(note))
}

fn end_time(m: &ChartMessage, end: u64) -> u64 {
    match m.fate {
        Fate::Delivered(t) | Fate::Lost(t) => t,
        Fate::InFlight => end,
    }
}

const STYLE: &str = "
body { font-family: sans-serif; margin: 12px; }
h1 { font-size: 18px; margin: 0 0 4px 0; }
p.meta { font-size: 13px; margin: 2px 0; color: #333; }
svg text { font-size: 10px; font-family: monospace; }
.lane line { stroke: #444; stroke-width: 1.5; }
.lane text { font-size: 13px; font-weight: bold; font-family: sans-serif; }
.axis text { fill: #666; }
.axis line { stroke: #ddd; }
.gap line { stroke: #bbb; stroke-dasharray: 2 4; }
.gap text { fill: #999; font-style: italic; }
.msg line { stroke-width: 1.2; }
.msg text { fill: #333; }
.msg.req line { stroke: #1f5fbf; }
.msg.reply line { stroke: #2a8a3a; }
.msg.oneway line { stroke: #777; }
.msg.hello line { stroke: #bbb; stroke-dasharray: 3 2; }
.msg.hello text { fill: #aaa; }
.msg.error line, .msg.bytes line { stroke: #c07000; }
.msg.lost line { stroke: #d00; stroke-dasharray: 4 3; }
.msg.inflight line { stroke-dasharray: 1 3; }
.msg:hover line, .msg.hot line { stroke-width: 3.5; }
.msg:hover text, .msg.hot text { font-weight: bold; fill: #000; }
.fault line { stroke-width: 4; }
.fault text { font-weight: bold; font-family: sans-serif; font-size: 11px; }
.fault.crash line { stroke: #d00; } .fault.crash text { fill: #d00; }
.fault.restart line { stroke: #080; } .fault.restart text { fill: #080; }
.fault.partition line { stroke: #82c; } .fault.partition text { fill: #82c; }
.fault.heal line { stroke: #4a4; } .fault.heal text { fill: #4a4; }
.fault.pause line { stroke: #e80; } .fault.pause text { fill: #e80; }
.fault.reset line { stroke: #c50; } .fault.reset text { fill: #c50; }
.fault.skew line { stroke: #08a; } .fault.skew text { fill: #08a; }
.outage.down { fill: #999; fill-opacity: 0.35; }
.outage.paused { fill: #e80; fill-opacity: 0.2; }
.outage.cut { fill: #82c; fill-opacity: 0.15; }
.op rect { fill: #9ab; fill-opacity: 0.6; }
.op text { fill: #345; font-family: sans-serif; }
.op.violation rect { fill: #e00; fill-opacity: 0.85; }
.op.violation text { fill: #e00; font-weight: bold; font-size: 12px; }
";

const SCRIPT: &str = "
document.querySelectorAll('.msg[data-call]').forEach(function (m) {
  var mates = document.querySelectorAll('.msg[data-call=\"' + m.dataset.call + '\"]');
  m.addEventListener('mouseenter', function () { mates.forEach(function (x) { x.classList.add('hot'); }); });
  m.addEventListener('mouseleave', function () { mates.forEach(function (x) { x.classList.remove('hot'); }); });
});
";

/// What an operation did, short (its bar's label).
fn op_what(op: &Operation) -> String {
    match op.op {
        RegisterOp::Write(v) => format!("write {v}"),
        RegisterOp::Read(Some(v)) => format!("read → {v}"),
        RegisterOp::Read(None) => String::from("read (failed)"),
    }
}

/// An operation as the checker prints it, in chart time.
fn describe_op(op: &Operation) -> String {
    let returned = op.ret.map_or_else(
        || String::from("never returned"),
        |r| format!("returned {}", ms(r)),
    );
    format!(
        "client {}: {}, invoked {}, {returned}",
        op.client,
        op_what(op),
        ms(op.invoke)
    )
}

fn render(chart: &Chart) -> String {
    let lanes = chart
        .lanes
        .len()
        .max(
            chart
                .messages
                .iter()
                .map(|m| m.from.max(m.to) + 1)
                .max()
                .unwrap_or(0),
        )
        .max(chart.ops.iter().map(|o| o.lane + 1).max().unwrap_or(0));
    let lane_name = |i: usize| {
        chart
            .lanes
            .get(i)
            .cloned()
            .unwrap_or_else(|| format!("process {i}"))
    };
    let lane_x = |i: usize| LEFT + LANE_WIDTH * (i as f64 + 0.5);
    let (shown, elided) = messages_shown(chart);
    let outages = outages(&chart.faults, chart.end);

    let mut times = BTreeSet::new();
    times.insert(0);
    times.insert(chart.end);
    for m in &shown {
        times.insert(m.sent);
        times.insert(end_time(m, chart.end));
    }
    for (t, _) in &chart.faults {
        times.insert(*t);
    }
    for o in &chart.ops {
        times.insert(o.op.invoke);
        times.insert(o.op.ret.unwrap_or(chart.end));
    }
    let axis = TimeAxis::new(&times);
    let width = LEFT + LANE_WIDTH * lanes as f64 + 40.0;
    let height = axis.bottom() + 30.0;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0}" height="{height:.0}" viewBox="0 0 {width:.0} {height:.0}">"#
    );
    svg.push_str(
        r##"<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="context-stroke"/></marker></defs>
"##,
    );

    // The time axis: a label where there is room for one.
    svg.push_str("<g class=\"axis\">\n");
    let mut last_label = f64::NEG_INFINITY;
    for &(t, y) in &axis.rows {
        if y - last_label >= 40.0 {
            let _ = writeln!(
                svg,
                r#"<line x1="{LEFT:.0}" y1="{y:.1}" x2="{:.0}" y2="{y:.1}"/><text x="4" y="{:.1}">{}</text>"#,
                width - 40.0,
                y + 3.0,
                ms(t)
            );
            last_label = y;
        }
    }
    svg.push_str("</g>\n<g class=\"gap\">\n");
    for &(y, quiet) in &axis.breaks {
        let _ = writeln!(
            svg,
            r#"<line x1="{LEFT:.0}" y1="{y:.1}" x2="{:.0}" y2="{y:.1}"/><text x="{:.0}" y="{:.1}">… {} quiet …</text>"#,
            width - 40.0,
            LEFT + 4.0,
            y - 2.0,
            ms(quiet)
        );
    }
    svg.push_str("</g>\n");

    // Outages under everything else.
    for &(lane, from, to, class) in &outages {
        let (y0, y1) = (axis.y(from), axis.y(to));
        let _ = writeln!(
            svg,
            r#"<rect class="outage {class}" x="{:.1}" y="{y0:.1}" width="40" height="{:.1}"><title>{} {class} {} to {}</title></rect>"#,
            lane_x(lane) - 20.0,
            (y1 - y0).max(2.0),
            esc(&lane_name(lane)),
            ms(from),
            ms(to)
        );
    }

    // Lanes.
    let bottom = axis.bottom();
    for i in 0..lanes {
        let x = lane_x(i);
        let name = esc(&lane_name(i));
        let _ = writeln!(
            svg,
            r#"<g class="lane" data-process="{name}"><text x="{x:.1}" y="{:.0}" text-anchor="middle">{name}</text><line x1="{x:.1}" y1="{:.0}" x2="{x:.1}" y2="{bottom:.0}"/><text x="{x:.1}" y="{:.0}" text-anchor="middle">{name}</text></g>"#,
            TOP - 10.0,
            TOP,
            bottom + 16.0
        );
    }

    // Messages. Labels of a fan-out (one sender, one instant) are spread along their
    // arrows so that they do not sit on one another.
    let mut fan_out: BTreeMap<(usize, u64), usize> = BTreeMap::new();
    for m in &shown {
        let (x0, y0) = (lane_x(m.from), axis.y(m.sent));
        let end = end_time(m, chart.end);
        let (mut x1, y1) = (lane_x(m.to), axis.y(end));
        let (fate, fate_text, head) = match m.fate {
            Fate::Delivered(t) => ("", format!("delivered {}", ms(t)), true),
            // Drawn to its receiver's lane, where it would have arrived, with a cross.
            Fate::Lost(t) => (
                " lost",
                format!("LOST: its connection was reset at {}", ms(t)),
                false,
            ),
            Fate::InFlight => {
                // Stops short of its receiver: it never got there.
                x1 = x0 + (x1 - x0) * 0.6;
                (
                    " inflight",
                    String::from(
                        "never delivered: in flight or held at the end, or its connection closed",
                    ),
                    true,
                )
            }
        };
        if m.from == m.to {
            x1 = x0 + 30.0;
        }
        let call = m
            .call
            .map(|id| {
                format!(
                    r#" data-call="{}-{}-{id}""#,
                    m.from.min(m.to),
                    m.from.max(m.to)
                )
            })
            .unwrap_or_default();
        let title = format!(
            "{} → {}: {}\n{}\nwritten {} on connection {}, {}",
            lane_name(m.from),
            lane_name(m.to),
            m.label,
            m.detail,
            ms(m.sent),
            m.conn,
            fate_text
        );
        let nth = fan_out.entry((m.from, m.sent)).or_insert(0);
        let along = 0.1 + 0.22 * (*nth % 4) as f64;
        *nth += 1;
        let (lx, ly) = (x0 + (x1 - x0) * along, y0 + (y1 - y0) * along - 2.0);
        let anchor = if x1 >= x0 { "start" } else { "end" };
        let marker = if head {
            r#" marker-end="url(#head)""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<g class="msg {}{fate}"{call}><title>{}</title><line x1="{x0:.1}" y1="{y0:.1}" x2="{x1:.1}" y2="{y1:.1}"{marker}/><text x="{lx:.1}" y="{ly:.1}" text-anchor="{anchor}">{}</text>"#,
            m.class.css(),
            esc(&title),
            esc(&m.label)
        );
        if !head {
            let _ = write!(
                svg,
                r##"<text x="{x1:.1}" y="{:.1}" text-anchor="middle" fill="#d00" font-size="14">✕</text>"##,
                y1 + 5.0
            );
        }
        svg.push_str("</g>\n");
    }

    // Client operations.
    for (i, o) in chart.ops.iter().enumerate() {
        let x = lane_x(o.lane) + 24.0;
        let ret = o.op.ret.unwrap_or(chart.end);
        let (y0, y1) = (axis.y(o.op.invoke), axis.y(ret));
        let class = if o.highlighted { "op violation" } else { "op" };
        let _ = writeln!(
            svg,
            r#"<g class="{class}" data-client="{}" id="op-{i}"><title>{}{}</title><rect x="{x:.1}" y="{y0:.1}" width="7" height="{:.1}"/><text x="{:.1}" y="{:.1}">{}</text></g>"#,
            o.op.client,
            esc(&describe_op(&o.op)),
            if o.highlighted {
                " (part of the violation)"
            } else {
                ""
            },
            (y1 - y0).max(2.0),
            x + 10.0,
            y0 + 10.0,
            esc(&op_what(&o.op))
        );
    }

    // Faults on top.
    for (i, (t, fault)) in chart.faults.iter().enumerate() {
        let (marked, label, class) = fault_marks(fault, lanes);
        let y = axis.y(*t);
        for (n, lane) in marked.into_iter().filter(|&l| l < lanes).enumerate() {
            let x = lane_x(lane);
            let id = if n == 0 {
                format!(r#" id="fault-{i}""#)
            } else {
                String::new()
            };
            let _ = writeln!(
                svg,
                r#"<g class="fault {class}"{id}><title>{} at {}: {}</title><line x1="{:.1}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text></g>"#,
                esc(&lane_name(lane)),
                ms(*t),
                esc(&format!("{fault:?}")),
                x - 22.0,
                x + 22.0,
                x - 26.0,
                y + 4.0,
                esc(&label)
            );
        }
    }
    svg.push_str("</svg>\n");

    let highlighted = chart.ops.iter().filter(|o| o.highlighted).count();
    let mut html = String::new();
    let _ = write!(
        html,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{}</h1>\n",
        esc(&chart.title),
        esc(&chart.title)
    );
    let _ = writeln!(
        html,
        "<p class=\"meta\">{} processes, {} messages, {} faults, {} operations ({} highlighted), {} of virtual time. Time runs down; hover an arrow for its envelope (a call's request and replies light up together).</p>",
        lanes,
        chart.messages.len(),
        chart.faults.len(),
        chart.ops.len(),
        highlighted,
        ms(chart.end)
    );
    if let Some(note) = elided {
        let _ = writeln!(html, "<p class=\"meta elided\">{}</p>", esc(&note));
    }
    if highlighted > 0 {
        html.push_str("<p class=\"meta\">The operations that break the check (click to go there):</p>\n<ol class=\"violation\">\n");
        for (i, o) in chart.ops.iter().enumerate().filter(|(_, o)| o.highlighted) {
            let _ = writeln!(
                html,
                "<li><a href=\"#op-{i}\">{}</a></li>",
                esc(&describe_op(&o.op))
            );
        }
        html.push_str("</ol>\n");
    }
    if !chart.faults.is_empty() {
        html.push_str("<p class=\"meta\">Faults: ");
        for (i, (t, fault)) in chart.faults.iter().enumerate() {
            let (marked, label, _) = fault_marks(fault, lanes);
            let on: Vec<String> = marked.iter().map(|&l| lane_name(l)).collect();
            let _ = write!(
                html,
                "{}<a href=\"#fault-{i}\">{} {} ({})</a>",
                if i == 0 { "" } else { ", " },
                ms(*t),
                esc(&label),
                esc(&on.join(", "))
            );
        }
        html.push_str("</p>\n");
    }
    html.push_str("<p class=\"meta\">Blue: requests; green: replies; dashed grey: hellos; red dashed ending in ✕: lost to a reset; dotted, stopping short: never delivered (in flight or held at the end, or its connection closed). Grey lane band: down; orange: paused; purple: isolated. Red bars: the operations that break the check.</p>\n");
    html.push_str(&svg);
    let _ = write!(html, "<script>{SCRIPT}</script>\n</body>\n</html>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const A: ProcessId = ProcessId(0);
    const B: ProcessId = ProcessId(1);

    /// One native frame: a 4-byte length, then a `proto::Message` encoded by hand
    /// (message id, method, kind).
    fn frame(id: u64, method: &str, kind: Kind) -> Vec<u8> {
        let mut body = vec![0x08, id as u8];
        if !method.is_empty() {
            body.push(0x12);
            body.push(method.len() as u8);
            body.extend_from_slice(method.as_bytes());
        }
        body.extend_from_slice(&[0x30, kind as u8]);
        let mut out = (body.len() as u32).to_be_bytes().to_vec();
        out.extend(body);
        out
    }

    /// The preface and an empty hello, as each direction opens.
    fn opening() -> Vec<u8> {
        let mut out = PREFACE.to_vec();
        out.extend_from_slice(&[0, 0, 0, 0]);
        out
    }

    fn handle() -> ChartHandle {
        let chart = ChartHandle::default();
        chart.names(vec!["a".into(), "b".into()]);
        chart
    }

    #[test]
    fn frames_split_across_writes_are_drawn_from_their_write_to_their_last_byte() {
        let chart = handle();
        let mut a_to_b = opening();
        a_to_b.extend(frame(5, "abd.Register.Read", Kind::Request));
        // Written in three uneven pieces, delivered in two.
        chart.write(MS, 1, 0, [A, B], &a_to_b[..3]);
        chart.write(2 * MS, 1, 0, [A, B], &a_to_b[3..15]);
        chart.write(3 * MS, 1, 0, [A, B], &a_to_b[15..]);
        chart.deliver(4 * MS, 1, 0, 13);
        chart.deliver(5 * MS, 1, 0, (a_to_b.len() - 13) as u64);
        let mut b_to_a = opening();
        b_to_a.extend(frame(5, "", Kind::Reply));
        b_to_a.extend(frame(6, "abd.Register.Write", Kind::Request));
        chart.write(6 * MS, 1, 1, [B, A], &b_to_a);
        chart.deliver(7 * MS, 1, 1, b_to_a.len() as u64);
        let drawn = chart.chart();
        let seen: Vec<(&str, usize, u64, Fate)> = drawn
            .messages
            .iter()
            .map(|m| (m.label.as_str(), m.from, m.sent, m.fate))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("hello", 0, 2 * MS, Fate::Delivered(4 * MS)),
                ("Read req #5", 0, 3 * MS, Fate::Delivered(5 * MS)),
                ("hello", 1, 6 * MS, Fate::Delivered(7 * MS)),
                // The reply is named after the call it answers.
                ("Read reply #5", 1, 6 * MS, Fate::Delivered(7 * MS)),
                ("Write req #6", 1, 6 * MS, Fate::Delivered(7 * MS)),
            ]
        );
        let html = drawn.to_html();
        assert_eq!(html.matches(r#"<g class="msg req""#).count(), 2);
        assert_eq!(html.matches(r#"<g class="msg reply""#).count(), 1);
        assert_eq!(
            html.matches(r#"data-call="0-1-5""#).count(),
            2,
            "a call's pair"
        );
    }

    #[test]
    fn a_reset_loses_what_was_on_its_way_and_garbage_is_drawn_as_bytes() {
        let chart = handle();
        let mut bytes = opening();
        bytes.extend(frame(1, "x.Y", Kind::OneWay));
        chart.write(MS, 7, 0, [A, B], &bytes);
        chart.reset(2 * MS, 7);
        chart.write(3 * MS, 8, 0, [A, B], b"not a gorums preface at all");
        chart.deliver(4 * MS, 8, 0, 27);
        let drawn = chart.chart();
        let fates: Vec<(&str, Fate)> = drawn
            .messages
            .iter()
            .map(|m| (m.label.as_str(), m.fate))
            .collect();
        assert_eq!(
            fates,
            vec![
                ("hello", Fate::Lost(2 * MS)),
                ("Y msg #1", Fate::Lost(2 * MS)),
                ("27 bytes", Fate::Delivered(4 * MS)),
            ]
        );
        let html = drawn.to_html();
        assert_eq!(html.matches(">✕<").count(), 2);
        assert_eq!(html.matches(r#"<g class="msg bytes""#).count(), 1);
    }

    /// A run of `n` requests from a to b, one a millisecond, each delivered half a
    /// millisecond later.
    fn long_run(n: u64) -> ChartHandle {
        let chart = handle();
        chart.write(0, 1, 0, [A, B], &opening());
        for i in 0..n {
            let f = frame(i % 100, "s.M", Kind::Request);
            chart.write(i * MS, 1, 0, [A, B], &f);
            chart.deliver(
                i * MS + MS / 2,
                1,
                0,
                f.len() as u64 + u64::from(i == 0) * 12,
            );
        }
        chart
    }

    #[test]
    fn a_long_run_is_drawn_around_its_highlighted_operations_and_stays_bounded() {
        let n = 3 * CHART_MAX_MESSAGES as u64;
        let chart = long_run(n).chart();
        assert_eq!(chart.message_count(), n as usize + 1);
        let op = Operation {
            client: 1,
            op: RegisterOp::Write(7),
            invoke: 5000 * MS,
            ret: Some(5010 * MS),
        };
        let html = chart.clone().highlight(&[op], |_| B).to_html();
        let drawn = html.matches(r#"<g class="msg "#).count();
        // 20 ms of margin either side: about 50 of the messages.
        assert!((45..=55).contains(&drawn), "{drawn} drawn");
        let said = format!("{drawn} of {} messages drawn", n + 1);
        assert!(html.contains(&said), "the elision said");
        assert!(html.contains("around the highlighted operations"));
        // Without highlights, the run's last messages, at most the cap.
        let html = chart.to_html();
        assert_eq!(
            html.matches(r#"<g class="msg "#).count(),
            CHART_MAX_MESSAGES
        );
        assert!(html.contains("the last of the run"));
        let height: f64 = html
            .split("height=\"")
            .nth(1)
            .and_then(|h| h.split('"').next())
            .and_then(|h| h.parse().ok())
            .unwrap();
        // Two rows a message (write and delivery), each a few pixels, and time
        // squeezed into a budget.
        assert!(
            height < 14.0 * CHART_MAX_MESSAGES as f64,
            "{height} px tall"
        );
    }
}
