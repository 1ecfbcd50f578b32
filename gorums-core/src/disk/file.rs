//! [`FileDisk`]: the [`Disk`] of the TCP adapters, over a directory of real files. Its
//! file calls are blocking `std::fs` calls, so it never runs them itself: each one goes
//! to the blocking pool the adapter hands it ([`Blocking`]; tokio's `spawn_blocking`,
//! smol's `unblock`), and no task thread waits on the disk.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{Disk, check_file_name};
use crate::runtime::BoxFuture;

/// One blocking file call, for a [`Blocking`] pool to run.
pub type BlockingJob = Box<dyn FnOnce() -> io::Result<Vec<u8>> + Send>;

/// Runs a [`BlockingJob`] off the task threads and completes with its result: an
/// adapter's blocking pool.
pub type Blocking =
    Arc<dyn Fn(BlockingJob) -> BoxFuture<'static, io::Result<Vec<u8>>> + Send + Sync>;

/// A [`Disk`] whose files are the files of one directory. A sync is `fsync` of the file
/// and then of the directory (so a file just made keeps its name after a crash); a
/// write opens the file, seeks and writes; an append opens it for appending and writes
/// the whole record, one append of the disk at a time.
///
/// Make one with the adapter's `FileDisk` constructor (`gorums_tokio::file_disk`,
/// `gorums_smol::file_disk`), which gives it the adapter's blocking pool.
#[derive(Clone)]
pub struct FileDisk {
    dir: Arc<PathBuf>,
    blocking: Blocking,
    /// Appends to this disk run one at a time, so each lands whole.
    appending: Arc<Mutex<()>>,
}

impl std::fmt::Debug for FileDisk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileDisk")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl FileDisk {
    /// The disk in `dir` (made if missing), running its file calls on `blocking`.
    pub fn open(dir: impl Into<PathBuf>, blocking: Blocking) -> io::Result<FileDisk> {
        let dir = dir.into();
        std::fs::create_dir_all(&dir)?;
        Ok(FileDisk {
            dir: Arc::new(dir),
            blocking,
            appending: Arc::default(),
        })
    }

    /// The directory the files are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Runs `op` on the path of `file` on the blocking pool.
    fn run(
        &self,
        file: &str,
        op: impl FnOnce(&Path) -> io::Result<Vec<u8>> + Send + 'static,
    ) -> BoxFuture<'static, io::Result<Vec<u8>>> {
        match check_file_name(file) {
            Ok(()) => {
                let path = self.dir.join(file);
                (self.blocking)(Box::new(move || op(&path)))
            }
            Err(e) => Box::pin(std::future::ready(Err(e))),
        }
    }

    /// [`run`](Self::run) for a call that returns nothing.
    fn run_unit(
        &self,
        file: &str,
        op: impl FnOnce(&Path) -> io::Result<()> + Send + 'static,
    ) -> BoxFuture<'static, io::Result<()>> {
        let done = self.run(file, move |path| op(path).map(|()| Vec::new()));
        Box::pin(async move { done.await.map(drop) })
    }
}

impl Disk for FileDisk {
    fn read(&self, file: &str) -> BoxFuture<'static, io::Result<Vec<u8>>> {
        self.run(file, |path| match std::fs::read(path) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
            contents => contents,
        })
    }

    fn write(&self, file: &str, offset: u64, data: Vec<u8>) -> BoxFuture<'static, io::Result<()>> {
        self.run_unit(file, move |path| {
            let mut f = OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(false)
                .open(path)?;
            f.seek(SeekFrom::Start(offset))?;
            f.write_all(&data)
        })
    }

    fn append(&self, file: &str, data: Vec<u8>) -> BoxFuture<'static, io::Result<()>> {
        let appending = self.appending.clone();
        self.run_unit(file, move |path| {
            let _one_at_a_time = appending.lock().unwrap_or_else(|p| p.into_inner());
            let mut f = OpenOptions::new().append(true).create(true).open(path)?;
            f.write_all(&data)
        })
    }

    fn sync(&self, file: &str) -> BoxFuture<'static, io::Result<()>> {
        let dir = self.dir.clone();
        self.run_unit(file, move |path| {
            match File::open(path) {
                Ok(f) => f.sync_all()?,
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(e),
            }
            // The directory's entry for the file: `fsync` of the directory itself,
            // where the platform lets one open it.
            if cfg!(unix) {
                File::open(&*dir)?.sync_all()?;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs each job at once on the caller's thread (a test has no pool).
    fn inline() -> Blocking {
        Arc::new(|job: BlockingJob| Box::pin(std::future::ready(job())))
    }

    fn ready<T>(f: BoxFuture<'static, T>) -> T {
        let waker = std::task::Waker::noop();
        let mut cx = std::task::Context::from_waker(waker);
        let mut f = f;
        match f.as_mut().poll(&mut cx) {
            std::task::Poll::Ready(t) => t,
            std::task::Poll::Pending => panic!("an inline job is ready at once"),
        }
    }

    #[test]
    fn writes_appends_and_syncs_reach_the_file_and_bad_names_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let disk = FileDisk::open(dir.path().join("d"), inline()).unwrap();
        assert_eq!(ready(disk.read("f")).unwrap(), b"");
        ready(disk.write("f", 2, b"cd".to_vec())).unwrap();
        ready(disk.write("f", 0, b"ab".to_vec())).unwrap();
        ready(disk.append("f", b"ef".to_vec())).unwrap();
        ready(disk.sync("f")).unwrap();
        ready(disk.sync("never-written")).unwrap();
        assert_eq!(ready(disk.read("f")).unwrap(), b"abcdef");
        assert_eq!(std::fs::read(dir.path().join("d/f")).unwrap(), b"abcdef");
        for bad in ["", ".", "..", "a/b", "../f"] {
            let e = ready(disk.write(bad, 0, b"x".to_vec())).unwrap_err();
            assert_eq!(e.kind(), io::ErrorKind::InvalidInput, "{bad:?}");
        }
    }
}
