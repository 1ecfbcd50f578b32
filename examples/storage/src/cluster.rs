//! `--cluster`: the REPL starts its servers, each as a process of its own (this binary
//! with `--serve ADDR --peers ...`), as Go Gorums' storage guide has the REPL start its
//! servers; they are stopped when the REPL ends, and die with it when it is killed
//! (each runs with `--until-stdin-closes` on a pipe only the REPL holds open).

use std::io::{BufRead, BufReader};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

/// The server processes, in id order; killed (and reaped) when dropped.
pub(crate) struct Servers {
    /// Each child with its stdout, kept open (not read past the banner) so that a
    /// server never writes into a closed pipe.
    children: Vec<(Child, BufReader<ChildStdout>)>,
    /// Each child's stdin, never written: when this process ends, by any means, the
    /// kernel closes them and the children exit (`--until-stdin-closes`).
    _lifelines: Vec<ChildStdin>,
    addrs: Vec<String>,
}

impl Servers {
    /// Starts `n` server processes on free loopback ports, each knowing all of them,
    /// passing `flags` on to each (runtime, interceptors, TLS files), and waits until
    /// every one says it is serving and then connected to all the others.
    pub(crate) fn start(n: usize, flags: &[String]) -> Result<Servers, String> {
        let exe = std::env::current_exe().map_err(|e| format!("this binary's path: {e}"))?;
        // A port is free when probed; its server binds it a moment later.
        let addrs = (0..n).map(|_| free_addr()).collect::<Result<Vec<_>, _>>()?;
        let peers = addrs.join(",");
        let mut servers = Servers {
            children: Vec::new(),
            _lifelines: Vec::new(),
            addrs,
        };
        for addr in servers.addrs.clone() {
            let mut child = Command::new(&exe)
                .args(["--serve", &addr, "--peers", &peers, "--until-stdin-closes"])
                .args(flags)
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .map_err(|e| format!("starting the server for {addr}: {e}"))?;
            let (Some(stdout), Some(lifeline)) = (child.stdout.take(), child.stdin.take()) else {
                let _ = child.kill();
                return Err(format!("the server for {addr} has no stdout or stdin"));
            };
            servers._lifelines.push(lifeline);
            servers.children.push((child, BufReader::new(stdout)));
            let mut line = String::new();
            let read = servers
                .children
                .last_mut()
                .map(|(_, out)| out.read_line(&mut line));
            if !matches!(read, Some(Ok(_))) || !line.contains("serving on") {
                // Dropping `servers` stops the ones already started.
                return Err(format!(
                    "the server for {addr} did not start: {}",
                    line.trim()
                ));
            }
        }
        // Each says so once it is connected to every other: only then do nested calls,
        // which go to the servers' own peer configuration, find a quorum.
        for (i, (_, out)) in servers.children.iter_mut().enumerate() {
            let mut line = String::new();
            let read = out.read_line(&mut line);
            if !matches!(read, Ok(n) if n > 0) || !line.contains("connected to all") {
                return Err(format!(
                    "server {} did not connect to its peers: {}",
                    i + 1,
                    line.trim()
                ));
            }
        }
        Ok(servers)
    }

    /// The servers' addresses, in id order.
    pub(crate) fn addrs(&self) -> &[String] {
        &self.addrs
    }

    /// The servers' process ids, in id order.
    pub(crate) fn pids(&self) -> Vec<u32> {
        self.children.iter().map(|(child, _)| child.id()).collect()
    }
}

impl Drop for Servers {
    fn drop(&mut self) {
        for (child, _) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn free_addr() -> Result<String, String> {
    let listener =
        std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| format!("a free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.to_string())
        .map_err(|e| format!("a free port: {e}"))
}
