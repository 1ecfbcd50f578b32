//! The fixture's server: each node echoes with its own id, records the one-way calls it
//! receives, and streams echoes for a correctable call.

use std::sync::{Arc, Mutex};

use gorums_tokio::{ItemSender, NodeId, ServerCtx, Status};

use crate::fixture::{EchoServer, Empty, Log, Ping, Pong};

/// One node's `Echo` handlers.
#[derive(Debug)]
pub struct Recorder {
    id: NodeId,
    heard: Mutex<Vec<String>>,
}

impl Recorder {
    /// The handlers of the node with id `id`, having heard nothing yet.
    pub fn new(id: NodeId) -> Arc<Recorder> {
        Arc::new(Recorder {
            id,
            heard: Mutex::new(Vec::new()),
        })
    }

    fn pong(&self, text: String) -> Pong {
        Pong {
            node: self.id.0,
            text,
        }
    }

    fn record(&self, text: String) {
        self.heard
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(text);
    }
}

impl EchoServer for Recorder {
    async fn say(&self, _ctx: ServerCtx, request: Ping) -> Result<Pong, Status> {
        Ok(self.pong(request.text))
    }

    async fn tell(&self, _ctx: ServerCtx, request: Ping) {
        self.record(request.text);
    }

    async fn shout(&self, _ctx: ServerCtx, request: Ping) {
        self.record(request.text);
    }

    async fn ask(&self, _ctx: ServerCtx, request: Ping) -> Result<Pong, Status> {
        Ok(self.pong(request.text))
    }

    async fn count(
        &self,
        _ctx: ServerCtx,
        request: Ping,
        items: ItemSender<Pong>,
    ) -> Result<(), Status> {
        for _ in 0..request.times {
            items.send(&self.pong(request.text.clone()))?;
        }
        Ok(())
    }

    async fn heard(&self, _ctx: ServerCtx, _request: Empty) -> Result<Log, Status> {
        let texts = self.heard.lock().unwrap_or_else(|p| p.into_inner()).clone();
        Ok(Log { texts })
    }
}
