//! The import rule of DESIGN.md, checked on the source: every `crate::` path in a module names only
//! modules below it, so a sideways or upward import fails the suite instead of slipping in.
//!
//! main -> app -> {engine, report} -> {http, metrics} -> plan -> profile -> {vocabulary, secret};
//! the simulator imports nothing of the crate, and only app (which wires it in) imports it.

use std::path::{Path, PathBuf};

/// A module's layer; a module may import only modules of a lower one. Siblings share a number
/// because they must not import each other either.
fn layer(module: &str) -> Option<u8> {
    Some(match module {
        "vocabulary" | "secret" => 0,
        "profile" => 1,
        "plan" => 2,
        "http" | "metrics" => 3,
        "engine" | "report" => 4,
        "app" => 5,
        _ => return None,
    })
}

fn allowed(from: &str, to: &str) -> bool {
    if from == to {
        return true;
    }
    if to == "simulator" {
        return from == "app";
    }
    if from == "simulator" {
        return false;
    }
    matches!((layer(from), layer(to)), (Some(f), Some(t)) if t < f)
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|x| x == "rs") {
            into.push(path);
        }
    }
}

/// Every top-level module a line of code names with `crate::`, comments left out.
fn named_modules(line: &str) -> Vec<String> {
    let code = line.split("//").next().unwrap_or("");
    let mut found = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        let before = &rest[..at];
        rest = &rest[at + "crate::".len()..];
        // `tokenstorm::crate::` cannot occur; `$crate::` in a macro names the defining crate.
        if before.ends_with('$') {
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if name.is_empty() {
            // `use crate::{a, b}` names several at once.
            if let Some(group) = rest.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                found.extend(inner.split(',').filter_map(|item| {
                    let head = item.trim().split("::").next()?.trim();
                    (!head.is_empty()).then(|| head.to_string())
                }));
            }
        } else {
            found.push(name);
        }
    }
    found
}

#[test]
fn every_module_imports_only_the_layers_below_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let Some(first) = relative.components().next() else {
            continue;
        };
        let first = first.as_os_str().to_string_lossy();
        let from = first.trim_end_matches(".rs");
        // lib.rs declares the modules; main.rs and cli.rs are the binary, above everything.
        if matches!(from, "lib" | "main" | "cli") {
            continue;
        }
        assert!(
            layer(from).is_some() || from == "simulator",
            "src/{} is in no layer: add its module to DESIGN.md and to this test",
            relative.display()
        );
        let text = std::fs::read_to_string(file).expect("source file");
        for (n, line) in text.lines().enumerate() {
            for to in named_modules(line) {
                checked += 1;
                if !allowed(from, &to) {
                    broken.push(format!(
                        "src/{}:{}: {from} imports {to}",
                        relative.display(),
                        n + 1
                    ));
                }
            }
        }
    }
    assert!(
        checked > 100,
        "only {checked} crate paths found: is the scan broken?"
    );
    assert!(
        broken.is_empty(),
        "imports against the layers:\n{}",
        broken.join("\n")
    );
}

#[test]
fn the_scan_sees_grouped_paths_and_skips_comments() {
    assert_eq!(named_modules("use crate::http::Api;"), ["http"]);
    assert_eq!(
        named_modules("use crate::{metrics::Recorder, plan::Plan};"),
        ["metrics", "plan"]
    );
    assert!(named_modules("// crate::app is not code").is_empty());
    assert!(!allowed("metrics", "http"));
    assert!(!allowed("plan", "engine"));
    assert!(!allowed("simulator", "vocabulary"));
    assert!(allowed("app", "simulator"));
    assert!(allowed("report", "metrics"));
}
