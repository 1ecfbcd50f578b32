//! The storage server: an in-memory key/value map where the newest timestamp wins.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use gorums_core::api::{Code, ItemSender, Quorum, QuorumCallError, Responses, ServerCtx, Status};
use prost_types::Timestamp;

use crate::proto::{
    ReadRequest, ReadResponse, StorageConfiguration, StorageServer, WriteRequest, WriteResponse,
};

/// One replica's state.
#[derive(Debug, Default)]
pub struct Storage {
    data: Mutex<BTreeMap<String, (String, Timestamp)>>,
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

    /// Stores the value if it is newer than what is there; says whether it was.
    fn write(&self, req: &WriteRequest) -> bool {
        let mut data = self.data.lock().unwrap_or_else(|p| p.into_inner());
        let newer = data
            .get(&req.key)
            .is_none_or(|(_, t)| key_of(&req.time) > key_of(&Some(*t)));
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
            new: self.write(&request),
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

    async fn write_unicast(&self, _ctx: ServerCtx, request: WriteRequest) {
        self.write(&request);
    }

    async fn write_multicast(&self, _ctx: ServerCtx, request: WriteRequest) {
        self.write(&request);
    }
}
