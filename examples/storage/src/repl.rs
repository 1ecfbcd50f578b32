//! The REPL: commands read line by line, run against a configuration of storage
//! servers, and answered with what Go Gorums' storage REPL prints.

use std::io::Write;
use std::time::{SystemTime, UNIX_EPOCH};

use gorums_core::api::Cause;
use prost_types::Timestamp;

use crate::proto::{ReadRequest, StorageConfiguration, StorageNode, WriteRequest};
use crate::server::newest;

/// The help text.
pub const HELP: &str = "\
commands:
  help                          this text
  nodes                         the nodes of the configuration, by index
  exit                          leave (end of input does too)
  rpc <node> read <key>         ReadRPC to one node (by index)
  rpc <node> write <key> <val>  WriteRPC to one node
  ucast <node> <key> <val>      WriteUnicast to one node
  mcast <key> <val>             WriteMulticast to every node
  qc read <key>                 ReadQC, newest of a majority
  qc write <key> <val>          WriteQC to a majority
  qc cread <key>                ReadCorrectable, levels 1 to (n+1)/2
  qc nread <key>                ReadNestedQC (servers read from their peers)
  qc nwrite <key> <val>         WriteNestedMulticast (servers multicast to their peers)
  cfg <nodes> <qc command>      a qc command on some nodes: a range 1:3, a list 0,2, or :
long names work too: quorumcall, unicast, multicast, quit
values with spaces go in single or double quotes: qc write greeting 'hello world'";

/// What a line asked for.
pub enum Step {
    /// Go on reading.
    Continue,
    /// Leave the REPL.
    Exit,
}

/// Splits a line into words; double quotes group words with spaces.
pub fn tokenize(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    // The quote that opened the current quoted part: `'` or `"` (Go Gorums' guide writes
    // `qc write greeting 'hello world'`); the other quote is literal inside it.
    let mut quote: Option<char> = None;
    let mut has_word = false;
    for c in line.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                has_word = true;
            }
            (Some(open), c) if c == open => quote = None,
            (None, c) if c.is_whitespace() => {
                if has_word {
                    words.push(std::mem::take(&mut word));
                    has_word = false;
                }
            }
            (_, c) => {
                word.push(c);
                has_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err(String::from("unterminated quote"));
    }
    if has_word {
        words.push(word);
    }
    Ok(words)
}

/// Parses a node selection (`1:3`, `:`, `0,2`, `2`) into indices of `n` nodes.
pub fn select(spec: &str, n: usize) -> Result<Vec<usize>, String> {
    let index = |s: &str, default: usize| -> Result<usize, String> {
        if s.is_empty() {
            return Ok(default);
        }
        s.parse::<usize>()
            .map_err(|_| format!("bad node index {s:?}"))
    };
    let picked: Vec<usize> = if let Some((from, to)) = spec.split_once(':') {
        let (from, to) = (index(from, 0)?, index(to, n)?);
        if from >= to || to > n {
            return Err(format!("bad range {spec:?} for {n} nodes"));
        }
        (from..to).collect()
    } else {
        spec.split(',')
            .map(|s| index(s.trim(), usize::MAX))
            .collect::<Result<_, _>>()?
    };
    if let Some(bad) = picked.iter().find(|&&i| i >= n) {
        return Err(format!("no node with index {bad} (there are {n})"));
    }
    Ok(picked)
}

fn now() -> Timestamp {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(since.subsec_nanos()).unwrap_or(0),
    }
}

fn write_request(key: &str, value: &str) -> WriteRequest {
    WriteRequest {
        key: key.to_owned(),
        value: value.to_owned(),
        time: Some(now()),
    }
}

fn read_request(key: &str) -> ReadRequest {
    ReadRequest {
        key: key.to_owned(),
    }
}

fn arity(words: &[String], n: usize, usage: &str) -> Result<(), String> {
    if words.len() == n {
        Ok(())
    } else {
        Err(format!("usage: {usage}"))
    }
}

/// Runs one line against `config`, writing its output to `out`.
pub async fn run_line(
    config: &StorageConfiguration,
    line: &str,
    out: &mut dyn Write,
) -> Result<Step, String> {
    let words = tokenize(line)?;
    let Some(command) = words.first() else {
        return Ok(Step::Continue);
    };
    let print = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    match command.as_str() {
        "exit" | "quit" => return Ok(Step::Exit),
        "help" => print(out, HELP.to_owned())?,
        "nodes" => {
            for (i, node) in config.nodes().iter().enumerate() {
                let info = node.info();
                let latency = info
                    .latency
                    .map_or_else(|| String::from("-"), |l| format!("{l:?}"));
                let state = if info.connected {
                    "connected"
                } else {
                    "not connected"
                };
                print(
                    out,
                    format!(
                        "{i}: node {} at {} ({state}, latency {latency})",
                        node.id().0,
                        node.addr()
                    ),
                )?;
            }
        }
        "rpc" => {
            let node = pick_node(config, words.get(1))?;
            match words.get(2).map(String::as_str) {
                Some("read") => {
                    arity(&words, 4, "rpc <node> read <key>")?;
                    let reply = node
                        .read_rpc(&read_request(&words[3]))
                        .await
                        .map_err(|e| e.to_string())?;
                    print(out, show(&words[3], reply.ok, &reply.value))?;
                }
                Some("write") => {
                    arity(&words, 5, "rpc <node> write <key> <value>")?;
                    node.write_rpc(&write_request(&words[3], &words[4]))
                        .await
                        .map_err(|e| e.to_string())?;
                    print(out, String::from("Write OK"))?;
                }
                _ => {
                    return Err(String::from(
                        "usage: rpc <node> read <key> | rpc <node> write <key> <value>",
                    ));
                }
            }
        }
        "ucast" | "unicast" => {
            arity(&words, 4, "ucast <node> <key> <value>")?;
            let node = pick_node(config, words.get(1))?;
            node.write_unicast(&write_request(&words[2], &words[3]))
                .map_err(|e| e.to_string())?;
            print(out, String::from("Unicast OK"))?;
        }
        "mcast" | "multicast" => {
            arity(&words, 3, "mcast <key> <value>")?;
            config
                .write_multicast(&write_request(&words[1], &words[2]))
                .map_err(|e| e.to_string())?;
            print(out, String::from("Multicast OK"))?;
        }
        "qc" | "quorumcall" => quorum_command(config, &words[1..], out).await?,
        "cfg" => {
            let spec = words.get(1).ok_or("usage: cfg <nodes> <qc command>")?;
            let all = config.nodes();
            let picked = select(spec, all.len())?;
            let sub = StorageConfiguration::new(
                config.filter(|n| picked.iter().any(|&i| all[i].id() == n.id())),
            );
            quorum_command(&sub, &words[2..], out).await?;
        }
        other => return Err(format!("unknown command {other:?} (try help)")),
    }
    Ok(Step::Continue)
}

fn pick_node(config: &StorageConfiguration, index: Option<&String>) -> Result<StorageNode, String> {
    let index = index.ok_or("missing node index")?;
    let nodes = config.nodes();
    let i = select(index, nodes.len())?;
    match i.as_slice() {
        [i] => Ok(nodes[*i].clone()),
        _ => Err(String::from("give one node index")),
    }
}

fn show(key: &str, ok: bool, value: &str) -> String {
    if ok {
        format!("{key} = {value}")
    } else {
        format!("{key} not found")
    }
}

async fn quorum_command(
    config: &StorageConfiguration,
    words: &[String],
    out: &mut dyn Write,
) -> Result<(), String> {
    let print = |out: &mut dyn Write, s: String| writeln!(out, "{s}").map_err(|e| e.to_string());
    let err = |e: gorums_core::api::QuorumCallError| e.to_string();
    match words.first().map(String::as_str) {
        Some("read") => {
            arity(words, 2, "qc read <key>")?;
            let reply = newest(config.read_qc(&read_request(&words[1])), config.majority())
                .await
                .map_err(err)?;
            print(out, show(&words[1], reply.ok, &reply.value))
        }
        Some("write") => {
            arity(words, 3, "qc write <key> <value>")?;
            config
                .write_qc(&write_request(&words[1], &words[2]))
                .majority()
                .await
                .map_err(err)?;
            print(out, String::from("Write OK"))
        }
        Some("cread") => {
            arity(words, 2, "qc cread <key>")?;
            let top = config.len().div_ceil(2).max(1);
            let correctable = config
                .read_correctable(&read_request(&words[1]))
                .correctable(top);
            for level in 1..=top {
                let (reply, _) = match correctable.watch(level).await {
                    Ok(at) => at,
                    // Every stream ended below this level: the levels reached are shown.
                    Err(e) if e.cause == Cause::Incomplete && level > 1 => break,
                    Err(e) => return Err(err(e)),
                };
                print(
                    out,
                    format!(
                        "{} (level {level})",
                        show(&words[1], reply.ok, &reply.value)
                    ),
                )?;
            }
            print(out, String::from("Correctable read finished"))
        }
        Some("nread") => {
            arity(words, 2, "qc nread <key>")?;
            let reply = newest(
                config.read_nested_qc(&read_request(&words[1])),
                config.majority(),
            )
            .await
            .map_err(err)?;
            print(out, show(&words[1], reply.ok, &reply.value))
        }
        Some("nwrite") => {
            arity(words, 3, "qc nwrite <key> <value>")?;
            config
                .write_nested_multicast(&write_request(&words[1], &words[2]))
                .majority()
                .await
                .map_err(err)?;
            print(out, String::from("Write OK"))
        }
        _ => Err(String::from("usage: qc read|write|cread|nread|nwrite ...")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_values_keep_their_spaces() {
        assert_eq!(
            tokenize(r#"qc write k "hello world""#).unwrap(),
            ["qc", "write", "k", "hello world"]
        );
        assert_eq!(tokenize(r#"mcast k """#).unwrap(), ["mcast", "k", ""]);
        assert!(tokenize(r#"mcast k "open"#).is_err());
        // Single quotes too, as Go Gorums' guide writes them; each quote is literal in
        // the other.
        assert_eq!(
            tokenize("qc write greeting 'hello world'").unwrap(),
            ["qc", "write", "greeting", "hello world"]
        );
        assert_eq!(
            tokenize(r#"qc write k "it's" 'say "hi"'"#).unwrap(),
            ["qc", "write", "k", "it's", r#"say "hi""#]
        );
        assert!(tokenize("mcast k 'open").is_err());
    }

    #[test]
    fn selections() {
        assert_eq!(select("1:3", 4).unwrap(), [1, 2]);
        assert_eq!(select(":", 3).unwrap(), [0, 1, 2]);
        assert_eq!(select("0,2", 4).unwrap(), [0, 2]);
        assert_eq!(select("3", 4).unwrap(), [3]);
        assert!(select("4", 4).is_err());
        assert!(select("2:2", 4).is_err());
        assert!(select("x", 4).is_err());
    }
}
