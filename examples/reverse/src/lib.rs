//! Reverse-direction calls with gorums-rs: workers that listen on no socket dial a
//! coordinator and join; the coordinator then runs quorum calls over the workers it can
//! reach (`ServerCtx::client_config` / `System::wait_for_client_config`), each call
//! travelling back over the connection the worker opened.
//!
//! This library holds the two service implementations; `src/main.rs` runs them as real
//! processes. It is an example, not a job scheduler.

use std::sync::Arc;

use gorums_tokio::{Code, QuorumCallError, ServerCtx, Status, System};

/// The generated messages and services.
pub mod proto {
    #![allow(missing_docs)]
    include!(concat!(env!("OUT_DIR"), "/reverse.rs"));
}

use proto::{
    CoordinatorServer, JoinReply, JoinRequest, SquareReply, SquareRequest, WorkerConfiguration,
    WorkerServer,
};

/// The coordinator's handler: it answers a join with the number of workers it reaches.
#[derive(Debug, Default)]
pub struct Coordinator;

impl CoordinatorServer for Coordinator {
    async fn join(&self, ctx: ServerCtx, request: JoinRequest) -> Result<JoinReply, Status> {
        let workers = u32::try_from(ctx.client_config().len()).unwrap_or(u32::MAX);
        eprintln!("coordinator: {} joined ({workers} reachable)", request.name);
        Ok(JoinReply { workers })
    }
}

/// A worker: squares numbers and signs the result with its name.
#[derive(Debug)]
pub struct Worker {
    /// The name it joined with.
    pub name: String,
}

impl WorkerServer for Worker {
    async fn square(&self, _ctx: ServerCtx, request: SquareRequest) -> Result<SquareReply, Status> {
        let square = request.value.checked_mul(request.value).ok_or_else(|| {
            Status::new(
                Code::InvalidArgument,
                format!("{} squared overflows", request.value),
            )
        })?;
        Ok(SquareReply {
            worker: self.name.clone(),
            square,
        })
    }
}

/// Registers the coordinator on `system`.
pub fn serve_coordinator(system: &System) {
    proto::register_coordinator_server(system, Arc::new(Coordinator));
}

/// Registers a worker named `name` on `system`, a client that listens on no socket.
pub fn serve_worker(system: &System, name: &str) {
    proto::register_worker_server(
        system,
        Arc::new(Worker {
            name: name.to_owned(),
        }),
    );
}

/// Asks every worker in `workers` to square `value` and returns one line per worker,
/// sorted: its name and result, or why its share failed. (Node ids follow the order in
/// which workers connected, so the lines are sorted by text, not by id.)
pub async fn square_on_all(workers: &WorkerConfiguration, value: i64) -> Vec<String> {
    let replies = workers.square(&SquareRequest { value }).collect_all().await;
    let mut lines: Vec<String> = replies
        .into_iter()
        .map(|r| match r.result {
            Ok(reply) => format!("{} = {}", reply.worker, reply.square),
            Err(failure) => format!("node {} failed: {failure}", r.node.0),
        })
        .collect();
    lines.sort();
    lines
}

/// Squares `value` on a majority of `workers`: the first reply once a majority succeeded.
pub async fn square_on_majority(
    workers: &WorkerConfiguration,
    value: i64,
) -> Result<SquareReply, QuorumCallError> {
    workers.square(&SquareRequest { value }).majority().await
}
