//! A local cluster: n systems on loopback that all know each other (Go Gorums'
//! `NewLocalSystems`).

use std::io;

use super::config::{Configuration, NodeList};
use super::options::SystemOptions;
use super::server::ServerOptions;
use super::shared::System;
use crate::engine::NodeId;
use crate::runtime::RuntimeHandle;

/// Starts `n` systems with ids 1..=n on `127.0.0.1` (free ports), lets `setup` register
/// each one's handlers, then connects every system to all the others. Each declares ids
/// 1..=n as its known peers ([`SystemOptions::known_peers`]) unless `options` declares
/// its own. Returns each
/// system with its configuration of all `n` (itself included, served in-process).
pub async fn local_systems(
    runtime: RuntimeHandle,
    n: u32,
    options: SystemOptions,
    setup: impl Fn(&System),
) -> io::Result<LocalSystems> {
    local_systems_with(runtime, n, options, ServerOptions::default(), setup).await
}

/// [`local_systems`] whose servers use `server` options (interceptors, connect and
/// configuration-change callbacks), the same for each.
pub async fn local_systems_with(
    runtime: RuntimeHandle,
    n: u32,
    options: SystemOptions,
    server: ServerOptions,
    setup: impl Fn(&System),
) -> io::Result<LocalSystems> {
    let mut systems = Vec::new();
    let mut addrs = Vec::new();
    for id in 1..=n {
        let mut own = options.clone();
        own.endpoint.node_id = NodeId(id);
        // Each knows the others as its peers, as Go's `NewLocalSystems` gives each
        // `WithConfig(myID, nodes)` (unless the options declare peers of their own).
        if own.endpoint.known_peers.is_none() {
            own = own.known_peers((1..=n).map(NodeId));
        }
        let system = System::with_server(runtime.clone(), own, server.clone());
        setup(&system);
        addrs.push((id, system.listen("127.0.0.1:0").await?));
        systems.push(system);
    }
    let mut out = Vec::new();
    for system in systems {
        let config = system
            .configuration(NodeList::map(addrs.clone()))
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        out.push((system, config));
    }
    Ok(LocalSystems { systems: out })
}

/// The systems [`local_systems`] started, each with its configuration of all of them,
/// in id order, and the stop of them all (Go Gorums' `NewLocalSystems` returns a stop
/// function beside them). It dereferences to the list; a clone is the same systems.
///
/// The systems also stop when every handle to each (this list's included) is dropped.
#[derive(Clone, Debug)]
pub struct LocalSystems {
    systems: Vec<(System, Configuration)>,
}

impl LocalSystems {
    /// Stops every system, as [`System::stop`]: listeners stop accepting, every
    /// connection closes, and calls in flight fail with "connection lost".
    pub fn stop(&self) {
        for (system, _) in &self.systems {
            system.stop();
        }
    }

    /// Stops every system gracefully, as [`System::shutdown`]: all stop accepting at
    /// once, then each lets its running handlers finish for up to `grace`.
    pub async fn shutdown(&self, grace: std::time::Duration) {
        for (system, _) in &self.systems {
            system.inner().stop_listening();
        }
        for (system, _) in &self.systems {
            system.shutdown(grace).await;
        }
    }

    /// The systems and their configurations, as a list.
    pub fn into_vec(self) -> Vec<(System, Configuration)> {
        self.systems
    }
}

impl std::ops::Deref for LocalSystems {
    type Target = [(System, Configuration)];

    fn deref(&self) -> &Self::Target {
        &self.systems
    }
}

impl<'a> IntoIterator for &'a LocalSystems {
    type Item = &'a (System, Configuration);
    type IntoIter = std::slice::Iter<'a, (System, Configuration)>;

    fn into_iter(self) -> Self::IntoIter {
        self.systems.iter()
    }
}

impl IntoIterator for LocalSystems {
    type Item = (System, Configuration);
    type IntoIter = std::vec::IntoIter<(System, Configuration)>;

    fn into_iter(self) -> Self::IntoIter {
        self.systems.into_iter()
    }
}
