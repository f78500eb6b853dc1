//! The module tree is the architecture: `src/`'s top-level modules form
//! layers, listed bottom first in ARCHITECTURE.md's `layers` block, and a
//! module may import only from modules listed before it. This test reads
//! that list and every `crate::` path in `src/` (comments and docs aside;
//! names the crate root re-exports are traced to their module) and fails
//! naming each import that points up or sideways, and each module the list
//! does not place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// The modules of ARCHITECTURE.md's fenced `layers` block, bottom first.
fn layer_list(architecture: &str) -> Vec<String> {
    let mut lines = architecture.lines();
    for line in lines.by_ref() {
        if line.trim() == "```layers" {
            break;
        }
    }
    lines
        .take_while(|line| line.trim() != "```")
        .filter_map(|line| line.split_whitespace().next())
        .map(str::to_string)
        .collect()
}

/// Code only: line comments (`//`, `///`, `//!`) removed.
fn code_of(source: &str) -> String {
    source
        .lines()
        .map(|line| match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn identifier_at(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// Every first segment after `crate::`, including each name of a grouped
/// `use crate::{a, b::c}`.
fn crate_paths(code: &str) -> Vec<String> {
    let mut names = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("crate::") {
        rest = &rest[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            for item in group[..end].split(',') {
                let name = identifier_at(item.trim());
                if !name.is_empty() {
                    names.push(name.to_string());
                }
            }
        } else {
            names.push(identifier_at(rest).to_string());
        }
    }
    names
}

/// Names the crate root re-exports (`pub use module::{A, B}`), by module.
fn root_reexports(lib: &str) -> HashMap<String, String> {
    let mut owners = HashMap::new();
    let code = code_of(lib);
    let mut rest = code.as_str();
    while let Some(at) = rest.find("pub use ") {
        rest = &rest[at + "pub use ".len()..];
        let statement = &rest[..rest.find(';').unwrap_or(rest.len())];
        let module = identifier_at(statement).to_string();
        let names = statement
            .split_once('{')
            .map(|(_, names)| names.trim_end_matches('}').to_string())
            .unwrap_or_else(|| statement.rsplit("::").next().unwrap_or("").to_string());
        for name in names.split(',') {
            let name = identifier_at(name.trim());
            if !name.is_empty() {
                owners.insert(name.to_string(), module.clone());
            }
        }
    }
    owners
}

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

/// The top-level module a file of `src/` belongs to (`None` for lib.rs).
fn module_of(src: &Path, file: &Path) -> Option<String> {
    let relative = file.strip_prefix(src).ok()?;
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first.strip_suffix(".rs") {
        Some("lib") => None,
        Some(module) => Some(module.to_string()),
        None => Some(first.to_string()),
    }
}

/// Every import that breaks the layer order, as "file: module imports
/// other (layer i ≤ j)", and every module the list does not place.
fn violations(layers: &[String], sources: &[(String, String)], lib: &str) -> Vec<String> {
    let rank: HashMap<&str, usize> = layers
        .iter()
        .enumerate()
        .map(|(i, m)| (m.as_str(), i))
        .collect();
    let owners = root_reexports(lib);
    let mut found = Vec::new();
    for (module, source) in sources {
        let Some(&own) = rank.get(module.as_str()) else {
            found.push(format!("module `{module}` is not in the layer list"));
            continue;
        };
        for name in crate_paths(&code_of(source)) {
            let target = match owners.get(&name) {
                Some(owner) => owner.clone(),
                None => name.clone(),
            };
            let Some(&theirs) = rank.get(target.as_str()) else {
                continue; // a macro or item of the root itself
            };
            if theirs >= own && target != *module {
                found.push(format!(
                    "`{module}` (layer {own}) imports `{target}` (layer {theirs}) through `crate::{name}`"
                ));
            }
        }
    }
    found.sort();
    found.dedup();
    found
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md")).unwrap();
    let layers = layer_list(&architecture);
    assert!(
        layers.len() > 10,
        "ARCHITECTURE.md has no ```layers block: {layers:?}"
    );
    let src = root.join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let sources: Vec<(String, String)> = files
        .iter()
        .filter_map(|file| {
            let module = module_of(&src, file)?;
            Some((module, std::fs::read_to_string(file).unwrap()))
        })
        .collect();
    assert!(sources.len() > 30, "read only {} files", sources.len());
    let found = violations(&layers, &sources, &lib);
    assert!(
        found.is_empty(),
        "imports that point up the layers:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_check_catches_an_upward_import_and_an_unplaced_module() {
    let layers: Vec<String> = ["error", "buffer", "launch"].map(String::from).to_vec();
    let lib = "pub use launch::{Launch, LaunchReport};\npub use error::{Error, Result};";
    let sources = vec![
        (
            "error".to_string(),
            "// crate::launch in a comment is fine\n".to_string(),
        ),
        (
            "buffer".to_string(),
            "use crate::error::Result;\nfn f(_: crate::LaunchReport) {}".to_string(),
        ),
        (
            "launch".to_string(),
            "use crate::{buffer::Buffer, error::Error};".to_string(),
        ),
        ("stray".to_string(), "use crate::error::Error;".to_string()),
    ];
    let found = violations(&layers, &sources, lib);
    assert_eq!(
        found,
        [
            "`buffer` (layer 1) imports `launch` (layer 2) through `crate::LaunchReport`",
            "module `stray` is not in the layer list",
        ]
    );
}

#[test]
fn every_source_file_stays_under_600_lines() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let long: Vec<String> = files
        .iter()
        .filter_map(|file| {
            let lines = std::fs::read_to_string(file).ok()?.lines().count();
            (lines > 600).then(|| format!("{} ({lines} lines)", file.display()))
        })
        .collect();
    assert!(long.is_empty(), "files over 600 lines: {long:?}");
}
