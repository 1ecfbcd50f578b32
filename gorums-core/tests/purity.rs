//! The pure layers (`wire`, `engine`) do no IO, read no clock and use no async or
//! threads: that is what lets the simulator and the fuzzers drive them. This test reads
//! their sources and fails on any name that would break that promise.

use std::path::{Path, PathBuf};

const FORBIDDEN: &[&str] = &[
    "Instant::now",
    "SystemTime::now",
    "std::net",
    "std::thread",
    "std::time::Instant",
    "tokio",
    "smol",
    "async_io",
    "Waker",
    "Mutex",
    "async fn",
    ".await",
    "thread_rng",
    "RandomState",
];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Whether `word` occurs in `code` not followed by more of an identifier (so that
/// `.await` does not match `.awaiting_preface`).
fn contains_word(code: &str, word: &str) -> bool {
    code.match_indices(word).any(|(at, _)| {
        code[at + word.len()..]
            .chars()
            .next()
            .is_none_or(|c| !(c.is_alphanumeric() || c == '_'))
    })
}

#[test]
fn pure_layers_touch_no_clock_io_or_async() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    for layer in ["wire", "engine", "rng", "quorum"] {
        rust_files(&src.join(layer), &mut files);
        let single = src.join(format!("{layer}.rs"));
        if single.exists() {
            files.push(single);
        }
    }
    assert!(
        !files.is_empty(),
        "no sources found under {}",
        src.display()
    );
    let mut hits = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable source");
        for (n, line) in text.lines().enumerate() {
            let code = line.trim_start();
            if code.starts_with("//") {
                continue;
            }
            for word in FORBIDDEN {
                if contains_word(code, word) {
                    hits.push(format!("{}:{}: {word}: {line}", file.display(), n + 1));
                }
            }
        }
    }
    assert!(
        hits.is_empty(),
        "pure layers must stay pure:\n{}",
        hits.join("\n")
    );
}

#[test]
fn core_manifest_names_no_executor() {
    let manifest =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml"))
            .expect("manifest");
    let deps = manifest
        .split("[dev-dependencies]")
        .next()
        .unwrap_or_default();
    for executor in ["tokio", "smol", "async-io", "async-std"] {
        assert!(
            !deps.contains(executor),
            "gorums-core must not depend on {executor}"
        );
    }
}
