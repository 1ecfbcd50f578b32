//! Keeps `tests/CONFORMANCE.md` true: every test it names as `path::function` exists in
//! that file, and every case it names in `tests/src/` is run by the suite macro that
//! the map says runs it. Reads files only: no network, no runtime.

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the tests crate sits in the workspace")
        .to_path_buf()
}

/// The `path::function` names in backticks in `text`, with their line numbers.
fn named_tests(text: &str) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (number, line) in text.lines().enumerate() {
        for (i, quoted) in line.split('`').enumerate() {
            // Odd pieces are inside backticks.
            if i % 2 == 0 {
                continue;
            }
            let Some((path, function)) = quoted.rsplit_once("::") else {
                continue;
            };
            let is_ident = !function.is_empty()
                && function
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_');
            if path.ends_with(".rs") && is_ident {
                out.push((number + 1, path.to_owned(), function.to_owned()));
            }
        }
    }
    out
}

/// Whether `code` defines a function called `name` (`fn name(` or `fn name<`).
fn defines(code: &str, name: &str) -> bool {
    code.match_indices(&format!("fn {name}")).any(|(at, m)| {
        let before = code[..at].chars().next_back();
        let after = code[at + m.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_')
            && matches!(after, Some('(' | '<'))
    })
}

/// The case names listed in the `macro_rules! <name>` of `code`: every `@cases` list
/// its arms expand to (a suite may split its cases over several arms).
fn suite_list(code: &str, macro_name: &str) -> Vec<String> {
    let start = code
        .find(&format!("macro_rules! {macro_name}"))
        .unwrap_or_else(|| panic!("no {macro_name} macro"));
    let body = &code[start + 1..];
    let body = &body[..body.find("macro_rules!").unwrap_or(body.len())];
    let mut names = Vec::new();
    for (at, _) in body.match_indices("!(@cases") {
        let list = &body[at..];
        let Some(semi) = list.find(';') else { continue };
        let list = &list[semi + 1..];
        let end = list.find(')').expect("the end of the case list");
        names.extend(
            list[..end]
                .split(',')
                .map(|s| s.trim().to_owned())
                .filter(|s| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_')),
        );
    }
    assert!(!names.is_empty(), "{macro_name} lists no cases");
    names
}

#[test]
fn every_test_the_map_names_exists_where_it_says() {
    let root = root();
    let map = std::fs::read_to_string(root.join("tests/CONFORMANCE.md")).expect("the map");
    let named = named_tests(&map);
    assert!(named.len() > 50, "the map names {} tests", named.len());
    let lib = std::fs::read_to_string(root.join("tests/src/lib.rs")).unwrap();
    let suite = suite_list(&lib, "conformance_suite");
    let tls_code = std::fs::read_to_string(root.join("tests/src/tls_cases.rs")).unwrap();
    let mut tls = suite_list(&tls_code, "tls_suite");
    tls.extend(suite_list(&tls_code, "identity_suite"));
    let mut missing = Vec::new();
    for (line, path, function) in &named {
        let Ok(code) = std::fs::read_to_string(root.join(path)) else {
            missing.push(format!("line {line}: no file {path}"));
            continue;
        };
        if !defines(&code, function) {
            missing.push(format!("line {line}: no fn {function} in {path}"));
        }
        if path.starts_with("tests/src/") {
            let (list, which) = if path.ends_with("tls_cases.rs") {
                (&tls, "tls_suite!")
            } else {
                (&suite, "conformance_suite!")
            };
            if !list.contains(function) {
                missing.push(format!("line {line}: {function} is not in {which}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "tests/CONFORMANCE.md:\n{}",
        missing.join("\n")
    );
}

#[test]
fn the_checks_catch_a_renamed_function() {
    let code = "pub async fn a_case(rt: R) {}\nfn helper<T>() {}\nfn a_case_two() {}";
    assert!(defines(code, "a_case"));
    assert!(defines(code, "helper"));
    assert!(!defines(code, "a_cas"), "a prefix is not the function");
    assert!(!defines(code, "case"), "a suffix is not the function");
    let named = named_tests("- `tests/src/x.rs::a_case`: and `not::a path` and `y.rs`");
    assert_eq!(
        named,
        [(1, "tests/src/x.rs".to_owned(), "a_case".to_owned())]
    );
}
