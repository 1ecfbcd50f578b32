//! Runs the reverse-direction example as real processes.
//!
//! ```text
//! reverse                              a coordinator and three worker processes, then
//!                                      quorum calls from the coordinator to the workers
//! reverse --serve ADDR --workers N     a coordinator that waits for N workers
//! reverse --worker ADDR --name NAME    one worker (no listening socket); ends at end of stdin
//! ```

use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gorums_tokio::{NodeList, System, SystemOptions};
use reverse::proto::{CoordinatorNode, JoinRequest, WorkerConfiguration};
use reverse::{serve_coordinator, serve_worker, square_on_all, square_on_majority};

const USAGE: &str = "usage: reverse [--serve ADDR --workers N | --worker ADDR --name NAME]";

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => fail(&format!("tokio runtime: {err}")),
    };
    let result = match args.as_slice() {
        [] => rt.block_on(demo()),
        ["--serve", addr, "--workers", n] => match n.parse() {
            Ok(n) => rt.block_on(coordinator(addr, n)),
            Err(_) => Err(format!("--workers {n}: not a number")),
        },
        ["--worker", addr, "--name", name] => rt.block_on(worker(addr, name)),
        ["-h" | "--help"] => {
            println!("{USAGE}");
            Ok(())
        }
        _ => Err(USAGE.to_owned()),
    };
    if let Err(err) = result {
        fail(&err);
    }
}

fn fail(err: &str) -> ! {
    eprintln!("error: {err}");
    std::process::exit(1);
}

fn say(line: impl AsRef<str>) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", line.as_ref());
    let _ = out.flush();
}

/// Starts a coordinator listening on `addr` and returns it with its bound address.
async fn start_coordinator(addr: &str) -> Result<(System, String), String> {
    let system = System::new(gorums_tokio::runtime(), SystemOptions::default());
    serve_coordinator(&system);
    let bound = system
        .listen(addr)
        .await
        .map_err(|e| format!("listen on {addr}: {e}"))?;
    Ok((system, bound))
}

/// Waits until `n` workers are connected, for at most ten seconds.
async fn wait_for_workers(system: &System, n: usize) -> Result<WorkerConfiguration, String> {
    let wait = system.wait_for_client_config(|c| c.len() >= n);
    match tokio::time::timeout(Duration::from_secs(10), wait).await {
        Ok(Ok(clients)) => Ok(WorkerConfiguration::new(clients)),
        Ok(Err(_)) => Err(String::from("the coordinator stopped")),
        Err(_) => Err(format!("{n} workers did not join within 10 s")),
    }
}

async fn rounds(workers: &WorkerConfiguration, values: &[i64]) {
    for &value in values {
        say(format!("square({value}) on every worker:"));
        for line in square_on_all(workers, value).await {
            say(format!("  {line}"));
        }
    }
}

/// The default run: a coordinator here, three workers as child processes.
async fn demo() -> Result<(), String> {
    let (system, addr) = start_coordinator("127.0.0.1:0").await?;
    say(format!("coordinator listening on {addr}"));
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let mut children: Vec<Child> = Vec::new();
    for i in 1..=3 {
        let child = Command::new(&exe)
            .args(["--worker", &addr, "--name", &format!("worker-{i}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .map_err(|e| format!("starting worker-{i}: {e}"))?;
        children.push(child);
    }
    let result = demo_calls(&system, &mut children).await;
    // Closing their stdin ends the workers that are still running.
    for mut child in children {
        drop(child.stdin.take());
        let _ = child.wait();
    }
    result
}

async fn demo_calls(system: &System, children: &mut [Child]) -> Result<(), String> {
    let workers = wait_for_workers(system, children.len()).await?;
    say(format!("{} workers joined", workers.len()));
    rounds(&workers, &[2, 3]).await;

    // A dead worker fails its own share of a call, not the call.
    let last = children.len() - 1;
    let _ = children[last].kill();
    let _ = children[last].wait();
    say(format!("worker-{} killed", last + 1));
    let reply = square_on_majority(&workers, 7)
        .await
        .map_err(|e| e.to_string())?;
    say(format!(
        "square(7) on a majority of {}: {}",
        workers.len(),
        reply.square
    ));
    Ok(())
}

async fn coordinator(addr: &str, n: usize) -> Result<(), String> {
    let (system, bound) = start_coordinator(addr).await?;
    say(format!(
        "coordinator listening on {bound}, waiting for {n} workers"
    ));
    let workers = wait_for_workers(&system, n).await?;
    say(format!("{} workers joined", workers.len()));
    rounds(&workers, &[2, 3, 4]).await;
    system.shutdown(Duration::from_secs(1)).await;
    Ok(())
}

async fn worker(addr: &str, name: &str) -> Result<(), String> {
    // No listen: the coordinator calls back over the connection this worker dials.
    let system = System::new(gorums_tokio::runtime(), SystemOptions::default());
    serve_worker(&system, name);
    let config = system
        .configuration(NodeList::addrs([addr]))
        .map_err(|e| e.to_string())?;
    let coordinator = CoordinatorNode::new(config.nodes().remove(0));
    let reply = coordinator
        .join(&JoinRequest {
            name: name.to_owned(),
        })
        .await
        .map_err(|e| format!("join {addr}: {e}"))?;
    say(format!(
        "{name} joined; the coordinator reaches {} workers",
        reply.workers
    ));
    // Serve until stdin ends (the parent closes it, or Ctrl-D).
    tokio::task::spawn_blocking(|| for _ in std::io::stdin().lock().lines() {})
        .await
        .map_err(|e| e.to_string())?;
    system.shutdown(Duration::from_millis(200)).await;
    Ok(())
}
