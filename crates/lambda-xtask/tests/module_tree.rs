//! The library's modules form a tree: no import cycle between files, and no shared module
//! imports a command. Read from the source, so a cycle reintroduced fails here with its path.
//!
//! A file depends on another when its non-test code names an item there by path
//! (`use crate::a::b`, `crate::a::b::f()`, `super::x`, or a child module's `use child::...`),
//! or uses an exported macro defined there. `mod` declarations are not dependencies.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

struct Source {
    /// `a/b.rs` and `a/b/mod.rs` are both module `a::b`; `lib.rs` is the root.
    module: Vec<String>,
    /// Whether it is a `mod.rs` (or the root): its children are `module::child`.
    owns_dir: bool,
    /// The code with comments and test modules removed.
    code: String,
}

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Every file of the library (`main.rs` is the binary: it imports the library by name).
fn sources() -> BTreeMap<String, Source> {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    let mut sources = BTreeMap::new();
    for path in paths {
        let relative = path.strip_prefix(&root).unwrap().to_string_lossy().replace('\\', "/");
        if relative == "main.rs" {
            continue;
        }
        let mut module: Vec<String> = relative.trim_end_matches(".rs").split('/').map(String::from).collect();
        let owns_dir = matches!(module.last().map(String::as_str), Some("mod") | Some("lib"));
        if owns_dir {
            module.pop();
        }
        let code = without_tests_and_comments(&fs::read_to_string(&path).unwrap());
        sources.insert(relative, Source { module, owns_dir, code });
    }
    sources
}

/// Test modules come last in a file (`#[cfg(test)] mod ...`): everything from the first on is
/// left out, so a test helper's import is not counted as the module's.
fn without_tests_and_comments(text: &str) -> String {
    let mut code = String::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if line.trim() == "#[cfg(test)]" && lines.peek().is_some_and(|next| next.trim_start().contains("mod ")) {
            break;
        }
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        code.push_str(line);
        code.push('\n');
    }
    code
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Parses a path or use tree starting at `text` (just after a `::`), appending each full path
/// it names to `out`, each prefixed by `prefix`. Returns how much of `text` it read.
fn parse_tree(text: &str, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let skip_space = |at: usize| at + (text[at..].len() - text[at..].trim_start().len());
    let mut segments = prefix;
    let mut at = skip_space(0);
    if text[at..].starts_with('}') {
        return at; // a trailing comma in a group
    }
    loop {
        if text[at..].starts_with('{') {
            at += 1;
            loop {
                at = skip_space(at + parse_tree(&text[at..], segments.clone(), out));
                match text[at..].chars().next() {
                    Some(',') => at += 1,
                    Some('}') => return at + 1,
                    _ => return at,
                }
            }
        }
        let ident: String = text[at..].chars().take_while(|c| is_ident(*c)).collect();
        at += ident.len();
        if ident.is_empty() || ident == "self" {
            out.push(segments);
            return at;
        }
        segments.push(ident);
        if text[at..].starts_with("::") {
            at += 2;
            continue;
        }
        out.push(segments);
        // `name as alias`
        let after = skip_space(at);
        if let Some(alias) = text[after..].strip_prefix("as ") {
            let alias = alias.trim_start();
            let alias_len = alias.chars().take_while(|c| is_ident(*c)).count();
            return text.len() - alias.len() + alias_len;
        }
        return at;
    }
}

/// The module paths a file names, made absolute.
fn named_paths(source: &Source, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let code = &source.code;
    let parent: Vec<String> =
        if source.owns_dir { source.module.clone() } else { source.module[..source.module.len() - 1].to_vec() };
    let mut paths = Vec::new();
    for (at, _) in code.match_indices("::") {
        let before = &code[..at];
        let start = before.trim_end_matches(is_ident);
        if start.ends_with("::") || start.ends_with(is_ident) {
            continue; // the middle of a longer path: parsed from its first segment
        }
        let first = &before[start.len()..];
        let base: Option<Vec<String>> = match first {
            "crate" => Some(Vec::new()),
            "self" => Some(source.module.clone()),
            "super" => Some(parent.clone()),
            // `use child::item` in a mod.rs names a child module.
            child if source.owns_dir && children.contains(child) && start.trim_end().ends_with("use") => {
                Some([source.module.clone(), vec![child.to_string()]].concat())
            }
            _ => None,
        };
        let Some(mut base) = base else { continue };
        // `super::super::`
        let mut rest = &code[at + 2..];
        while let Some(next) = rest.strip_prefix("super::") {
            base.pop();
            rest = next;
        }
        let skipped = code.len() - rest.len();
        let mut found = Vec::new();
        parse_tree(&code[skipped..], base, &mut found);
        paths.extend(found);
    }
    paths
}

/// The file that defines the longest prefix of `path`.
fn file_of(
    path: &[String],
    files: &BTreeMap<Vec<String>, String>,
    macros: &BTreeMap<String, String>,
) -> Option<String> {
    if path.len() == 1 {
        if let Some(file) = macros.get(&path[0]) {
            return Some(file.clone());
        }
    }
    (0..=path.len()).rev().find_map(|len| files.get(&path[..len]).cloned())
}

fn dependencies() -> BTreeMap<String, BTreeSet<String>> {
    let sources = sources();
    let files: BTreeMap<Vec<String>, String> = sources.iter().map(|(f, s)| (s.module.clone(), f.clone())).collect();
    let mut macros = BTreeMap::new();
    for (file, source) in &sources {
        for (at, _) in source.code.match_indices("macro_rules!") {
            let name: String = source.code[at + 12..].trim_start().chars().take_while(|c| is_ident(*c)).collect();
            macros.insert(name, file.clone());
        }
    }
    let mut graph = BTreeMap::new();
    for (file, source) in &sources {
        let children: BTreeSet<String> = files
            .keys()
            .filter(|m| m.len() == source.module.len() + 1 && m.starts_with(&source.module))
            .map(|m| m.last().unwrap().clone())
            .collect();
        let targets: BTreeSet<String> = named_paths(source, &children)
            .iter()
            .filter_map(|path| file_of(path, &files, &macros))
            .filter(|target| target != file)
            .collect();
        graph.insert(file.clone(), targets);
    }
    graph
}

fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        done: &mut BTreeSet<String>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = stack.iter().position(|n| n == node) {
            let mut cycle = stack[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        stack.push(node.to_string());
        for next in graph.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, graph, done, stack) {
                return Some(cycle);
            }
        }
        stack.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    graph.keys().find_map(|node| visit(node, graph, &mut done, &mut Vec::new()))
}

#[test]
fn no_import_cycle_between_files() {
    let graph = dependencies();
    // The reader itself must see the dependencies that are there, or the check proves nothing.
    assert!(graph["run/pipeline.rs"].contains("run/record.rs"), "{:?}", graph["run/pipeline.rs"]);
    assert!(graph["project/config.rs"].contains("sys/exit.rs"), "bad_input! is from sys/exit.rs");
    assert!(graph["commands/deploy/mod.rs"].contains("commands/deploy/audit.rs"));
    if let Some(cycle) = find_cycle(&graph) {
        panic!("import cycle between files: {}", cycle.join(" -> "));
    }
}

#[test]
fn shared_code_never_imports_a_command() {
    let graph = dependencies();
    let offenders: Vec<String> = graph
        .iter()
        // app.rs is the program itself: it dispatches to the commands.
        .filter(|(file, _)| !file.starts_with("commands/") && file.as_str() != "app.rs")
        .flat_map(|(file, targets)| {
            targets.iter().filter(|t| t.starts_with("commands/")).map(move |t| format!("{file} -> {t}"))
        })
        .collect();
    assert!(offenders.is_empty(), "shared modules importing commands: {offenders:#?}");
}

#[test]
fn the_reader_finds_a_cycle_when_there_is_one() {
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    graph.insert("a.rs".into(), ["b.rs".to_string()].into());
    graph.insert("b.rs".into(), ["c.rs".to_string()].into());
    graph.insert("c.rs".into(), ["a.rs".to_string()].into());
    assert_eq!(find_cycle(&graph).unwrap(), ["a.rs", "b.rs", "c.rs", "a.rs"]);
    graph.get_mut("c.rs").unwrap().clear();
    assert_eq!(find_cycle(&graph), None);

    let mut found = Vec::new();
    parse_tree("a::{self, b::{c, d}, e as f}, x", vec!["crate".into()], &mut found);
    let shown: Vec<String> = found.iter().map(|p| p.join("::")).collect();
    assert_eq!(shown, ["crate::a", "crate::a::b::c", "crate::a::b::d", "crate::a::e"]);
}

/// Functions longer than this (from the `fn` line to its closing brace) hide their steps;
/// tests are exempt.
const MAX_FUNCTION_LINES: usize = 80;

/// Each function of non-test code over [`MAX_FUNCTION_LINES`]: `file:line name (N lines)`.
/// A function ends at the first line that is its own indentation and `}`, as rustfmt writes it.
fn long_functions(path: &str, text: &str) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    let end = lines.iter().position(|l| l.starts_with("#[cfg(test)]")).unwrap_or(lines.len());
    let mut long = Vec::new();
    for (start, line) in lines[..end].iter().enumerate() {
        let indent = &line[..line.len() - line.trim_start().len()];
        let rest = line.trim_start();
        let rest = rest.strip_prefix("pub(crate) ").or_else(|| rest.strip_prefix("pub ")).unwrap_or(rest);
        let Some(name) = rest.strip_prefix("fn ") else { continue };
        let name: String = name.chars().take_while(|c| is_ident(*c)).collect();
        let close = format!("{indent}}}");
        let Some(length) = lines[start + 1..end].iter().position(|l| *l == close) else { continue };
        let length = length + 2;
        if length > MAX_FUNCTION_LINES {
            long.push(format!("{path}:{} {name} ({length} lines)", start + 1));
        }
    }
    long
}

#[test]
fn no_function_outside_tests_is_over_80_lines() {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    paths.sort();
    let mut long = Vec::new();
    for path in paths {
        let shown = path.strip_prefix(&root).unwrap().display().to_string();
        long.extend(long_functions(&shown, &fs::read_to_string(&path).unwrap()));
    }
    assert!(long.is_empty(), "split these into named parts:\n{}", long.join("\n"));
}

#[test]
fn the_length_check_finds_a_long_function() {
    let body: String = (0..90).map(|i| format!("    let x{i} = {i};\n")).collect();
    let text = format!("fn short() {{\n}}\n\npub fn long() {{\n{body}}}\n\n#[cfg(test)]\nfn in_tests() {{\n{body}}}\n");
    assert_eq!(long_functions("a.rs", &text), ["a.rs:4 long (92 lines)"]);
}

/// What only the filesystem layer (`sys/beneath/`) may call: std's deletion and rename (the
/// layer has one of each, which refuse what git tracks and never cross a link), and the reads
/// that open whatever a path names (a FIFO's open waits forever; the layer's refuse it).
const LAYER_ONLY: [&str; 9] = [
    "remove_file(",
    "remove_dir(",
    "remove_dir_all(",
    "fs::rename(",
    "fs::copy(",
    "fs::hard_link(",
    "fs::read(",
    "fs::read_to_string(",
    "File::open(",
];

/// Reads that are no user file, each with why it may bypass the layer.
const NOT_USER_FILES: [(&str, &str); 2] = [
    ("aws/moto.rs", "File::open(\"/dev/urandom\")"), // a device on purpose: the rehearsal's random secret
    ("commands/deploy/audit.rs", "read_to_string(\"/proc/sys/kernel/hostname\")"), // the kernel's, for the audit line
];

/// Each call of non-test code, outside the layer, that only the layer may make: `file:line call`.
fn direct_fs_calls(path: &str, text: &str) -> Vec<String> {
    if path.starts_with("sys/beneath/") {
        return Vec::new();
    }
    let mut found = Vec::new();
    for (number, line) in without_tests_and_comments(text).lines().enumerate() {
        for call in LAYER_ONLY {
            let excused = NOT_USER_FILES.iter().any(|(file, excused)| *file == path && line.contains(excused));
            if line.contains(call) && !excused {
                found.push(format!("{path}:{} {}", number + 1, line.trim()));
            }
        }
    }
    found
}

#[test]
fn only_the_filesystem_layer_deletes_renames_or_opens_user_files() {
    let root = src_dir();
    let mut paths = Vec::new();
    rust_files(&root, &mut paths);
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        let shown = path.strip_prefix(&root).unwrap().display().to_string().replace('\\', "/");
        found.extend(direct_fs_calls(&shown, &fs::read_to_string(&path).unwrap()));
    }
    assert!(
        found.is_empty(),
        "go through crate::sys::beneath (OwnedDir::remove / rename, DirHandle reads, beneath::read):\n{}",
        found.join("\n")
    );
}

#[test]
fn the_layer_check_finds_a_direct_deletion_and_ignores_tests() {
    let text = "fn clean(p: &Path) {\n    let _ = std::fs::remove_dir_all(p);\n    std::fs::rename(p, q);\n    // fs::remove_file(p) in a comment\n}\n\n#[cfg(test)]\nmod tests {\n    fn t() { std::fs::remove_file(p); }\n}\n";
    assert_eq!(
        direct_fs_calls("build/clean.rs", text),
        ["build/clean.rs:2 let _ = std::fs::remove_dir_all(p);", "build/clean.rs:3 std::fs::rename(p, q);"]
    );
    assert_eq!(direct_fs_calls("sys/beneath/mod.rs", text), Vec::<String>::new(), "the layer itself may");
    assert_eq!(direct_fs_calls("aws/moto.rs", "File::open(\"/dev/urandom\")"), Vec::<String>::new());
    assert_eq!(direct_fs_calls("aws/moto.rs", "File::open(&log)").len(), 1);
}

/// The library's folders (and top-level files), lowest first: each imports only what is below
/// it, so the layers point one way and a command, the pipeline or a report is never reached
/// from the machinery under it. `sys` is the machine and the filesystem layer (with exit
/// statuses, quoting and time formatting, which everything uses); `project` is the user's
/// repository read; guards are pure functions from files to findings; `run` is the pipeline,
/// its record and its renderings; commands and the program sit on top.
const LAYERS: [&[&str]; 15] = [
    &["version"],
    &["sys"],
    &["ui"],
    &["python"],
    &["project"],
    &["aws"],
    &["guards"],
    &["evidence"],
    &["build"],
    &["extend"],
    &["run"],
    &["diagnosis"],
    &["cli"],
    &["commands"],
    &["app", "lib", "main"],
];

fn folder_of(file: &str) -> &str {
    file.split('/').next().unwrap().trim_end_matches(".rs")
}

fn rank(folder: &str) -> usize {
    LAYERS
        .iter()
        .position(|layer| layer.contains(&folder))
        .unwrap_or_else(|| panic!("{folder} is in no layer of LAYERS: add it where it belongs"))
}

/// `importer -> imported` for each import of a folder at its own layer or above.
fn upward_imports(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<String> {
    let mut offenders = Vec::new();
    for (file, targets) in graph {
        for target in targets {
            let (from, to) = (folder_of(file), folder_of(target));
            if from != to && rank(to) >= rank(from) {
                offenders.push(format!("{file} -> {target} ({from} imports {to}, which is not below it)"));
            }
        }
    }
    offenders
}

#[test]
fn folders_import_only_the_layers_below_them() {
    let offenders = upward_imports(&dependencies());
    assert!(offenders.is_empty(), "imports that point up (see LAYERS): {offenders:#?}");
}

#[test]
fn the_layer_check_finds_an_upward_import() {
    let mut graph = dependencies();
    assert!(upward_imports(&graph).is_empty());
    graph.get_mut("sys/process.rs").unwrap().insert("run/pipeline.rs".to_string());
    assert_eq!(upward_imports(&graph), ["sys/process.rs -> run/pipeline.rs (sys imports run, which is not below it)"],);
}
