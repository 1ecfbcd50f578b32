//! [`Files`]: the contents of every process's simulated disk, owned by the world. Each
//! file has the contents its process sees (writes applied) and the durable contents (as
//! of its last completed sync); a crash puts the seen contents back to the durable ones,
//! torn by the last unsynced write if the configuration says so.

use std::collections::BTreeMap;

use crate::disk::DiskConfig;
use crate::ids::ProcessId;
use crate::kernel::Kernel;

/// One file.
#[derive(Default)]
struct File {
    /// What reads return.
    seen: Vec<u8>,
    /// What survives a crash.
    durable: Vec<u8>,
    /// The last write since the last sync, as (offset, bytes).
    last_unsynced: Option<(u64, Vec<u8>)>,
}

/// One process's disk: its files and when its last queued operation completes.
#[derive(Default)]
struct DiskState {
    files: BTreeMap<String, File>,
    busy_until: u64,
}

/// Every process's disk.
pub(crate) struct Files {
    disks: BTreeMap<ProcessId, DiskState>,
    config: DiskConfig,
    /// A crash at the next completed write of a faultable process: after this many
    /// thousandths of the longest sync, down for this long.
    armed: Option<(u64, u64)>,
}

/// `data` written at `offset` into `contents`.
fn put(contents: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let offset = usize::try_from(offset).unwrap_or(usize::MAX);
    let end = offset.saturating_add(data.len());
    if contents.len() < end {
        contents.resize(end, 0);
    }
    contents[offset..end].copy_from_slice(data);
}

impl Files {
    /// Empty disks behaving as `config` says.
    pub(crate) fn new(config: DiskConfig) -> Files {
        Files {
            disks: BTreeMap::new(),
            config,
            armed: None,
        }
    }

    /// Arms a crash at the next completed write of a faultable process (see
    /// [`FaultPlan::crash_io`](crate::FaultPlan::crash_io)).
    pub(crate) fn arm(&mut self, permille: u64, outage: u64) {
        self.armed = Some((permille, outage));
    }

    /// A write of `pid` (faultable or not) completed at `now`: the crash and restart
    /// times of an armed crash it sets off.
    pub(crate) fn trigger(&mut self, now: u64, faulty: bool) -> Option<(u64, u64)> {
        if !faulty {
            return None;
        }
        let (permille, outage) = self.armed.take()?;
        let longest = crate::clock::nanos(self.config.sync_latency + self.config.jitter);
        let crash = now + longest * permille / 1000;
        Some((crash, crash + outage))
    }

    /// When an operation of `pid` issued now completes (after the ones queued before
    /// it), and whether it fails; draws from the disk stream.
    pub(crate) fn schedule(&mut self, k: &mut Kernel, pid: ProcessId, sync: bool) -> (u64, bool) {
        let c = &self.config;
        let base = if sync {
            c.sync_latency
        } else {
            c.write_latency
        };
        let extra = k.rng.disk.duration(std::time::Duration::ZERO, c.jitter);
        let fail = c.error_chance > 0.0 && k.rng.disk.chance(c.error_chance);
        let disk = self.disks.entry(pid).or_default();
        let at = (k.now + crate::clock::nanos(base + extra)).max(disk.busy_until);
        disk.busy_until = at;
        (at, fail)
    }

    /// The file's contents as `pid` sees them.
    pub(crate) fn read(&self, pid: ProcessId, file: &str) -> Vec<u8> {
        self.disks
            .get(&pid)
            .and_then(|d| d.files.get(file))
            .map(|f| f.seen.clone())
            .unwrap_or_default()
    }

    /// A completed write, at `offset` or (`None`, an append) at the end of the file.
    pub(crate) fn write(&mut self, pid: ProcessId, file: &str, offset: Option<u64>, data: Vec<u8>) {
        let f = self
            .disks
            .entry(pid)
            .or_default()
            .files
            .entry(file.to_owned())
            .or_default();
        let offset = offset.unwrap_or(f.seen.len() as u64);
        put(&mut f.seen, offset, &data);
        f.last_unsynced = Some((offset, data));
    }

    /// A completed sync.
    pub(crate) fn sync(&mut self, pid: ProcessId, file: &str) {
        if let Some(f) = self.disks.get_mut(&pid).and_then(|d| d.files.get_mut(file)) {
            f.durable = f.seen.clone();
            f.last_unsynced = None;
        }
    }

    /// A crash of `pid`: unsynced writes are lost (the last one torn, if configured).
    pub(crate) fn crash(&mut self, k: &mut Kernel, pid: ProcessId) {
        let torn = self.config.torn_writes;
        let Some(disk) = self.disks.get_mut(&pid) else {
            return;
        };
        disk.busy_until = 0;
        for f in disk.files.values_mut() {
            f.seen = f.durable.clone();
            if let Some((offset, data)) = f.last_unsynced.take()
                && torn
            {
                let keep = k.rng.disk.below(data.len() as u64 + 1) as usize;
                put(&mut f.seen, offset, &data[..keep]);
                f.durable = f.seen.clone();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crash_loses_what_was_not_synced_and_may_tear_the_last_write() {
        let mut k = Kernel::new(1, false);
        let p = ProcessId(0);
        let mut files = Files::new(DiskConfig::default());
        files.write(p, "f", Some(0), b"aaaa".to_vec());
        files.sync(p, "f");
        files.write(p, "f", Some(0), b"bb".to_vec());
        files.write(p, "f", None, b"cc".to_vec());
        assert_eq!(files.read(p, "f"), b"bbaacc", "an append lands at the end");
        files.crash(&mut k, p);
        assert_eq!(files.read(p, "f"), b"aaaa", "unsynced writes lost");
        assert_eq!(files.read(p, "g"), b"", "a file never written is empty");

        let mut torn = Files::new(DiskConfig {
            torn_writes: true,
            ..DiskConfig::default()
        });
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..40 {
            torn.write(p, "f", Some(0), b"xyz".to_vec());
            torn.crash(&mut k, p);
            seen.insert(torn.read(p, "f"));
            torn = Files::new(torn.config.clone());
        }
        assert!(seen.contains(b"".as_slice()) && seen.contains(b"xyz".as_slice()));
        assert!(seen.len() >= 3, "torn prefixes: {seen:?}");
    }
}
