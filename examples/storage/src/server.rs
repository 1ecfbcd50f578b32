//! The storage server: a key/value map where the newest timestamp wins, in memory or
//! kept on a [`Disk`](gorums_core::disk::Disk) across restarts.
//!
//! On a disk, the map is a log (file [`LOG`]) of the writes that changed it, each a
//! 4-byte little-endian length and the encoded [`WriteRequest`]; a write is appended and
//! synced before it is applied and acknowledged, and [`Storage::open`] replays the log
//! up to its first incomplete record (a crash may leave one torn at the end).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gorums_core::api::{Code, ItemSender, Quorum, QuorumCallError, Responses, ServerCtx, Status};
use gorums_core::disk::DiskHandle;
use prost::Message;
use prost_types::Timestamp;

use crate::proto::{
    ReadRequest, ReadResponse, StorageConfiguration, StorageServer, WriteRequest, WriteResponse,
};

/// The file a replica on a disk keeps its writes in.
pub const LOG: &str = "storage.log";

/// One replica's state.
#[derive(Default)]
pub struct Storage {
    data: Mutex<BTreeMap<String, (String, Timestamp)>>,
    disk: Option<DiskHandle>,
}

impl std::fmt::Debug for Storage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Storage")
            .field("data", &self.data)
            .field("on_disk", &self.disk.is_some())
            .finish()
    }
}

/// Whether `req` is newer than what `data` holds for its key.
fn newer(data: &BTreeMap<String, (String, Timestamp)>, req: &WriteRequest) -> bool {
    data.get(&req.key)
        .is_none_or(|(_, t)| key_of(&req.time) > key_of(&Some(*t)))
}

/// The writes of a log, up to its first incomplete or undecodable record.
fn replay(log: &[u8]) -> impl Iterator<Item = WriteRequest> + '_ {
    let mut rest = log;
    std::iter::from_fn(move || {
        let (len, tail) = rest.split_first_chunk::<4>()?;
        let len = usize::try_from(u32::from_le_bytes(*len)).ok()?;
        let record = tail.get(..len)?;
        rest = &tail[len..];
        WriteRequest::decode(record).ok()
    })
}

fn key_of(t: &Option<Timestamp>) -> (i64, i32) {
    t.as_ref()
        .map_or((i64::MIN, i32::MIN), |t| (t.seconds, t.nanos))
}

impl Storage {
    /// A new, empty replica.
    pub fn new() -> Arc<Storage> {
        Arc::new(Storage::default())
    }

    /// The replica kept on `disk`: what its log holds, and every later write.
    pub async fn open(disk: DiskHandle) -> std::io::Result<Arc<Storage>> {
        let log = disk.read(LOG).await?;
        let storage = Storage::default();
        for write in replay(&log) {
            storage.apply(&write);
        }
        Ok(Arc::new(Storage {
            disk: Some(disk),
            ..storage
        }))
    }

    fn read(&self, key: &str) -> ReadResponse {
        let data = self.data.lock().unwrap_or_else(|p| p.into_inner());
        match data.get(key) {
            Some((value, time)) => ReadResponse {
                ok: true,
                value: value.clone(),
                time: Some(*time),
            },
            None => ReadResponse::default(),
        }
    }

    /// Whether `req` is newer than what is stored for its key.
    fn is_newer(&self, req: &WriteRequest) -> bool {
        newer(&self.data.lock().unwrap_or_else(|p| p.into_inner()), req)
    }

    /// Stores the value if it is newer than what is there, durably first if the replica
    /// is on a disk; says whether it was newer.
    async fn write(&self, req: &WriteRequest) -> Result<bool, Status> {
        if let Some(disk) = &self.disk
            && self.is_newer(req)
        {
            let len = u32::try_from(req.encoded_len())
                .map_err(|_| Status::new(Code::InvalidArgument, "write too large to log"))?;
            let mut record = len.to_le_bytes().to_vec();
            req.encode(&mut record)
                .map_err(|e| Status::new(Code::Internal, e.to_string()))?;
            let stored = async {
                disk.append(LOG, record).await?;
                disk.sync(LOG).await
            };
            stored
                .await
                .map_err(|e| Status::new(Code::Unavailable, format!("storage log: {e}")))?;
        }
        Ok(self.apply(req))
    }

    /// Stores the value in memory if it is newer than what is there; says whether it was.
    fn apply(&self, req: &WriteRequest) -> bool {
        let mut data = self.data.lock().unwrap_or_else(|p| p.into_inner());
        let newer = newer(&data, req);
        if newer {
            data.insert(
                req.key.clone(),
                (req.value.clone(), req.time.unwrap_or_default()),
            );
        }
        newer
    }
}

/// The newest of the first `quorum` successful replies, or the error once `quorum`
/// successes cannot happen.
pub async fn newest(
    replies: Responses<ReadResponse>,
    quorum: usize,
) -> Result<ReadResponse, QuorumCallError> {
    let newest = replies
        .fold(
            Quorum::Threshold(quorum),
            None,
            |best: Option<ReadResponse>, _node, reply| match best {
                Some(b) if key_of(&b.time) >= key_of(&reply.time) => Some(b),
                _ => Some(reply),
            },
        )
        .await?;
    Ok(newest.unwrap_or_default())
}

/// The server's known peers for a nested call, after releasing the sender's next
/// request so it can run while the nested call does.
fn peers_released(ctx: &ServerCtx) -> Result<StorageConfiguration, Status> {
    let config = StorageConfiguration::new(ctx.config());
    if config.len() < 2 {
        return Err(Status::new(
            Code::FailedPrecondition,
            format!("{}: requires a server peer configuration", ctx.method()),
        ));
    }
    ctx.release();
    Ok(config)
}

fn unavailable(e: QuorumCallError) -> Status {
    Status::new(Code::Unavailable, e.to_string())
}

impl StorageServer for Storage {
    async fn read_rpc(
        &self,
        _ctx: ServerCtx,
        request: ReadRequest,
    ) -> Result<ReadResponse, Status> {
        Ok(self.read(&request.key))
    }

    async fn write_rpc(
        &self,
        _ctx: ServerCtx,
        request: WriteRequest,
    ) -> Result<WriteResponse, Status> {
        Ok(WriteResponse {
            new: self.write(&request).await?,
        })
    }

    // A quorum call's handler is the RPC's: the client decides how many answers count.
    async fn read_qc(&self, ctx: ServerCtx, request: ReadRequest) -> Result<ReadResponse, Status> {
        self.read_rpc(ctx, request).await
    }

    async fn write_qc(
        &self,
        ctx: ServerCtx,
        request: WriteRequest,
    ) -> Result<WriteResponse, Status> {
        self.write_rpc(ctx, request).await
    }

    async fn read_correctable(
        &self,
        _ctx: ServerCtx,
        request: ReadRequest,
        items: ItemSender<ReadResponse>,
    ) -> Result<(), Status> {
        items.send(&self.read(&request.key))
    }

    async fn read_nested_qc(
        &self,
        ctx: ServerCtx,
        request: ReadRequest,
    ) -> Result<ReadResponse, Status> {
        let config = peers_released(&ctx)?;
        let quorum = config.majority();
        newest(config.read_qc(&request), quorum)
            .await
            .map_err(unavailable)
    }

    async fn write_nested_multicast(
        &self,
        ctx: ServerCtx,
        request: WriteRequest,
    ) -> Result<WriteResponse, Status> {
        let config = peers_released(&ctx)?;
        config.write_multicast(&request).map_err(unavailable)?;
        Ok(WriteResponse { new: true })
    }

    // One-way writes have no one to tell of a failed log write: it is logged and dropped.
    async fn write_unicast(&self, _ctx: ServerCtx, request: WriteRequest) {
        if let Err(e) = self.write(&request).await {
            tracing::warn!("unicast write of {:?} lost: {e}", request.key);
        }
    }

    async fn write_multicast(&self, _ctx: ServerCtx, request: WriteRequest) {
        if let Err(e) = self.write(&request).await {
            tracing::warn!("multicast write of {:?} lost: {e}", request.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(key: &str, seconds: i64) -> Vec<u8> {
        let req = WriteRequest {
            key: key.into(),
            value: format!("v{seconds}"),
            time: Some(Timestamp { seconds, nanos: 0 }),
        };
        let mut out = u32::try_from(req.encoded_len())
            .unwrap()
            .to_le_bytes()
            .to_vec();
        req.encode(&mut out).unwrap();
        out
    }

    #[test]
    fn a_log_replays_up_to_its_torn_last_record() {
        let mut log = [record("a", 1), record("b", 2)].concat();
        let whole = log.len();
        log.extend_from_slice(&record("c", 3)[..5]);
        let keys: Vec<String> = replay(&log).map(|w| w.key).collect();
        assert_eq!(keys, ["a", "b"]);
        assert_eq!(replay(&log[..whole - 1]).count(), 1);
        assert_eq!(replay(&log[..3]).count(), 0);
    }
}
