//! The static import check: where no interpreter for the runtime can run here (an arm64
//! function on x86_64, or no python3.X on the machine), the handler module's imports are
//! followed through the artifact and its layers, and each must resolve to the artifact, a
//! layer, the runtime's own SDK, or the standard library of that Python version (minding what
//! 3.12 and 3.13 removed). Only module-level imports count: an import inside a function or a
//! `try:` block may be optional, and Lambda only fails the cold start on the others.

use std::collections::{BTreeSet, HashSet, VecDeque};
use std::path::{Path, PathBuf};

use anyhow::Result;

use crate::project::runtime::LambdaRuntime;

/// Python 3.11's `sys.stdlib_module_names` without private modules: what 3.10 to 3.14 share,
/// corrected by [`removed_from_stdlib`] and [`ADDED_SINCE_311`].
const STDLIB_311: &[&str] = &[
    "__future__",
    "abc",
    "aifc",
    "antigravity",
    "argparse",
    "array",
    "ast",
    "asynchat",
    "asyncio",
    "asyncore",
    "atexit",
    "audioop",
    "base64",
    "bdb",
    "binascii",
    "bisect",
    "builtins",
    "bz2",
    "cProfile",
    "calendar",
    "cgi",
    "cgitb",
    "chunk",
    "cmath",
    "cmd",
    "code",
    "codecs",
    "codeop",
    "collections",
    "colorsys",
    "compileall",
    "concurrent",
    "configparser",
    "contextlib",
    "contextvars",
    "copy",
    "copyreg",
    "crypt",
    "csv",
    "ctypes",
    "curses",
    "dataclasses",
    "datetime",
    "dbm",
    "decimal",
    "difflib",
    "dis",
    "distutils",
    "doctest",
    "email",
    "encodings",
    "ensurepip",
    "enum",
    "errno",
    "faulthandler",
    "fcntl",
    "filecmp",
    "fileinput",
    "fnmatch",
    "fractions",
    "ftplib",
    "functools",
    "gc",
    "genericpath",
    "getopt",
    "getpass",
    "gettext",
    "glob",
    "graphlib",
    "grp",
    "gzip",
    "hashlib",
    "heapq",
    "hmac",
    "html",
    "http",
    "idlelib",
    "imaplib",
    "imghdr",
    "imp",
    "importlib",
    "inspect",
    "io",
    "ipaddress",
    "itertools",
    "json",
    "keyword",
    "lib2to3",
    "linecache",
    "locale",
    "logging",
    "lzma",
    "mailbox",
    "mailcap",
    "marshal",
    "math",
    "mimetypes",
    "mmap",
    "modulefinder",
    "msilib",
    "msvcrt",
    "multiprocessing",
    "netrc",
    "nis",
    "nntplib",
    "nt",
    "ntpath",
    "nturl2path",
    "numbers",
    "opcode",
    "operator",
    "optparse",
    "os",
    "ossaudiodev",
    "pathlib",
    "pdb",
    "pickle",
    "pickletools",
    "pipes",
    "pkgutil",
    "platform",
    "plistlib",
    "poplib",
    "posix",
    "posixpath",
    "pprint",
    "profile",
    "pstats",
    "pty",
    "pwd",
    "py_compile",
    "pyclbr",
    "pydoc",
    "pydoc_data",
    "pyexpat",
    "queue",
    "quopri",
    "random",
    "re",
    "readline",
    "reprlib",
    "resource",
    "rlcompleter",
    "runpy",
    "sched",
    "secrets",
    "select",
    "selectors",
    "shelve",
    "shlex",
    "shutil",
    "signal",
    "site",
    "smtpd",
    "smtplib",
    "sndhdr",
    "socket",
    "socketserver",
    "spwd",
    "sqlite3",
    "sre_compile",
    "sre_constants",
    "sre_parse",
    "ssl",
    "stat",
    "statistics",
    "string",
    "stringprep",
    "struct",
    "subprocess",
    "sunau",
    "symtable",
    "sys",
    "sysconfig",
    "syslog",
    "tabnanny",
    "tarfile",
    "telnetlib",
    "tempfile",
    "termios",
    "textwrap",
    "this",
    "threading",
    "time",
    "timeit",
    "tkinter",
    "token",
    "tokenize",
    "tomllib",
    "trace",
    "traceback",
    "tracemalloc",
    "tty",
    "turtle",
    "turtledemo",
    "types",
    "typing",
    "unicodedata",
    "unittest",
    "urllib",
    "uu",
    "uuid",
    "venv",
    "warnings",
    "wave",
    "weakref",
    "webbrowser",
    "winreg",
    "winsound",
    "wsgiref",
    "xdrlib",
    "xml",
    "xmlrpc",
    "zipapp",
    "zipfile",
    "zipimport",
    "zlib",
    "zoneinfo",
];

/// Top-level modules added after 3.11, with the minor version that added them.
const ADDED_SINCE_311: &[(&str, u32)] = &[("annotationlib", 14), ("compression", 14)];

/// What the Lambda Python runtime provides besides the standard library.
pub const RUNTIME_SDK: &[&str] =
    &["boto3", "botocore", "s3transfer", "jmespath", "dateutil", "six", "urllib3", "awslambdaric"];

/// The minor version that removed a standard-library module (PEP 594, PEP 632), if any.
pub fn removed_from_stdlib(module: &str) -> Option<u32> {
    match module {
        "distutils" | "imp" | "asynchat" | "asyncore" | "smtpd" => Some(12),
        "aifc" | "audioop" | "cgi" | "cgitb" | "chunk" | "crypt" | "imghdr" | "mailcap" | "msilib" | "nis"
        | "nntplib" | "ossaudiodev" | "pipes" | "sndhdr" | "spwd" | "sunau" | "telnetlib" | "uu" | "xdrlib"
        | "lib2to3" => Some(13),
        _ => None,
    }
}

pub fn in_stdlib(module: &str, minor: u32) -> bool {
    if module.starts_with('_') {
        // Private C modules (_ssl, _json, ...): present in every build Lambda runs.
        return true;
    }
    if removed_from_stdlib(module).is_some_and(|removed| minor >= removed) {
        return false;
    }
    STDLIB_311.contains(&module) || ADDED_SINCE_311.iter().any(|(m, since)| *m == module && minor >= *since)
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unresolved {
    /// The top-level module name that resolves nowhere.
    pub module: String,
    /// The importing file, relative to its root (artifact or layer).
    pub file: String,
    pub line: u32,
}

#[derive(Debug, Default)]
pub struct ImportCheck {
    /// How many modules of the artifact and layers were read.
    pub followed: usize,
    pub unresolved: Vec<Unresolved>,
}

/// Follows `module`'s module-level imports through `roots` (the artifact first, then each
/// layer's package dir), as `sys.path` would on Lambda.
pub fn check(roots: &[PathBuf], module: &str, runtime: &LambdaRuntime) -> Result<ImportCheck> {
    let mut result = ImportCheck::default();
    let mut seen: HashSet<String> = HashSet::new();
    let mut missing: BTreeSet<Unresolved> = BTreeSet::new();
    let mut queue: VecDeque<String> = VecDeque::from([module.to_string()]);
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some((root, file)) = find_module(roots, &name) else { continue };
        let Ok(text) = crate::sys::beneath::read_to_string(&file) else { continue };
        result.followed += 1;
        let shown = file.strip_prefix(root).unwrap_or(&file).display().to_string();
        let is_package = file.file_name().is_some_and(|n| n == "__init__.py");
        for (imported, line) in module_level_imports(&text, &name, is_package) {
            let top = imported.split('.').next().unwrap_or(&imported).to_string();
            if in_stdlib(&top, runtime.python_minor) || RUNTIME_SDK.contains(&top.as_str()) {
                continue;
            }
            if find_module(roots, &top).is_none() && !is_extension_or_namespace(roots, &top, runtime) {
                if !missing.iter().any(|m| m.module == top) {
                    missing.insert(Unresolved { module: top, file: shown.clone(), line });
                }
                continue;
            }
            // Each prefix of a dotted import is imported too: a.b.c runs a, a.b and a.b.c.
            let parts: Vec<&str> = imported.split('.').collect();
            for end in 1..=parts.len() {
                queue.push_back(parts[..end].join("."));
            }
        }
    }
    result.unresolved = missing.into_iter().collect();
    Ok(result)
}

/// The source file of a module in the first root that has it.
fn find_module<'a>(roots: &'a [PathBuf], name: &str) -> Option<(&'a Path, PathBuf)> {
    let relative = name.replace('.', "/");
    roots.iter().find_map(|root| {
        let base = root.join(&relative);
        [base.with_extension("py"), base.join("__init__.py")]
            .into_iter()
            .find(|p| p.is_file())
            .map(|p| (root.as_path(), p))
    })
}

/// A top-level name served by a compiled extension (`name.cpython-3X-*.so`, `name.abi3.so`) or
/// a namespace package (a directory without `__init__.py`).
fn is_extension_or_namespace(roots: &[PathBuf], name: &str, runtime: &LambdaRuntime) -> bool {
    roots.iter().any(|root| {
        root.join(name).is_dir()
            || runtime.extension_suffixes().iter().any(|suffix| root.join(format!("{name}{suffix}")).is_file())
    })
}

/// `(module, line)` for each import at column 0, relative imports resolved against `current`.
fn module_level_imports(text: &str, current: &str, is_package: bool) -> Vec<(String, u32)> {
    let package: Vec<&str> = {
        let mut parts: Vec<&str> = current.split('.').collect();
        if !is_package {
            parts.pop();
        }
        parts
    };
    let mut found = Vec::new();
    let mut in_string = false;
    for (index, raw) in text.lines().enumerate() {
        let line_no = u32::try_from(index + 1).unwrap_or(u32::MAX);
        // Skip the insides of a module-level triple-quoted string (docstrings).
        let quotes = raw.matches("\"\"\"").count() + raw.matches("'''").count();
        if in_string {
            if quotes % 2 == 1 {
                in_string = false;
            }
            continue;
        }
        if quotes % 2 == 1 {
            in_string = true;
            continue;
        }
        let line = raw.split('#').next().unwrap_or_default().trim_end();
        if let Some(rest) = line.strip_prefix("import ") {
            for part in rest.split(',') {
                if let Some(name) = part.split_whitespace().next() {
                    found.push((name.to_string(), line_no));
                }
            }
        } else if let Some(rest) = line.strip_prefix("from ") {
            let Some(source) = rest.split_whitespace().next() else { continue };
            let dots = source.chars().take_while(|c| *c == '.').count();
            let tail = &source[dots..];
            if dots == 0 {
                found.push((source.to_string(), line_no));
                continue;
            }
            if dots > package.len() {
                continue;
            }
            let mut base: Vec<&str> = package[..package.len() + 1 - dots].to_vec();
            if !tail.is_empty() {
                base.push(tail);
                found.push((base.join("."), line_no));
            } else {
                // `from . import a, b`: each name may be a submodule.
                let names = rest.split_once(" import ").map(|(_, n)| n).unwrap_or_default();
                for name in names.trim_matches(|c| c == '(' || c == ')' || c == ' ').split(',') {
                    if let Some(name) = name.split_whitespace().next().filter(|n| !n.is_empty()) {
                        let mut full = base.clone();
                        full.push(name);
                        found.push((full.join("."), line_no));
                    }
                }
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    #[test]
    fn follows_imports_through_artifact_and_layers() {
        let dir = tempfile::tempdir().unwrap();
        let artifact = dir.path().join("artifact");
        let layer = dir.path().join("layer/python");
        write(&artifact.join("app.py"), "import json\nimport boto3\nfrom shared import util\nfrom .sibling import x\n\ndef handler(e, c):\n    import optional_thing\n");
        write(&layer.join("shared/__init__.py"), "from . import util\n");
        write(&layer.join("shared/util.py"), "import requests\nimport cgi\n");
        write(&artifact.join("requests/__init__.py"), "");
        let roots = [artifact.clone(), layer.clone()];
        let runtime = LambdaRuntime::new("python3.12", "arm64").unwrap();
        let check = check(&roots, "app", &runtime).unwrap();
        assert!(check.unresolved.is_empty(), "{:?}", check.unresolved);
        assert_eq!(check.followed, 4);

        // cgi left the standard library in 3.13.
        let runtime = LambdaRuntime::new("python3.13", "arm64").unwrap();
        let check = super::check(&roots, "app", &runtime).unwrap();
        assert_eq!(check.unresolved, [Unresolved { module: "cgi".into(), file: "shared/util.py".into(), line: 2 }]);

        // Without the layer, the shared package is missing.
        let check = super::check(&[artifact], "app", &runtime).unwrap();
        assert_eq!(check.unresolved[0].module, "shared");
    }

    #[test]
    fn stdlib_follows_the_version() {
        assert!(in_stdlib("distutils", 11) && !in_stdlib("distutils", 12));
        assert!(in_stdlib("imp", 11) && !in_stdlib("imp", 12));
        assert!(!in_stdlib("annotationlib", 13) && in_stdlib("annotationlib", 14));
        assert!(in_stdlib("json", 14) && !in_stdlib("requests", 11));
    }

    #[test]
    fn docstrings_and_indented_imports_do_not_count() {
        let text =
            "\"\"\"Doc\nimport fake\n\"\"\"\nimport real\ntry:\n    import optional\nexcept ImportError:\n    pass\n";
        let found: Vec<String> = module_level_imports(text, "app", false).into_iter().map(|(m, _)| m).collect();
        assert_eq!(found, ["real"]);
    }
}
