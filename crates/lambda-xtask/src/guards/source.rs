//! Pre-build guards on the function's source, run before sam: installed packages where only
//! source belongs, a missing copied backend and a handler whose import cannot
//! resolve (seed issue 5, `No module named 'src'`).

use std::path::{Path, PathBuf};

use ignore::WalkBuilder;

use super::Finding;

pub const STALE_PACKAGE: &str = "stale-installed-package";
pub const MISSING_SOURCE: &str = "missing-source";
/// Reported by the clean step: untracked content no installer's record explains.
pub const UNEXPLAINED_FILE: &str = "unexplained-file";

use crate::project::source::FunctionSource;

pub fn check(function: &FunctionSource) -> Vec<Finding> {
    let mut findings = stale_packages(function);
    findings.extend(missing_source(function));
    findings
}

/// What kind of installed package a directory name marks, if any.
pub fn installed_package_kind(name: &str) -> Option<&'static str> {
    if name.ends_with(".dist-info") {
        Some("installed package metadata (.dist-info)")
    } else if name.ends_with(".egg-info") {
        Some("installed package metadata (.egg-info)")
    } else if name.ends_with(".libs") {
        Some("vendored shared libraries of an installed wheel (.libs)")
    } else if name == "site-packages" || name == "dist-packages" {
        Some("a whole site-packages tree")
    } else {
        None
    }
}

/// [`installed_package_kind`] of a file name in any bytes: its suffix decides, UTF-8 or not.
pub fn installed_package_kind_of(name: &std::ffi::OsStr) -> Option<&'static str> {
    installed_package_kind(&String::from_utf8_lossy(name.as_encoded_bytes()))
}

/// Installed packages anywhere in the function dir, including the copied backend. sam build
/// copies the function dir over the wheels it resolves, so whatever was installed here on a
/// Mac or a Windows box ships instead of the Linux build.
pub fn stale_packages(function: &FunctionSource) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut flagged: Vec<PathBuf> = Vec::new();
    let walker = WalkBuilder::new(&function.function_dir)
        .standard_filters(false)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .build();
    for entry in walker.flatten() {
        let path = entry.path();
        if flagged.iter().any(|f| path.starts_with(f)) {
            continue;
        }
        if !entry.file_type().is_some_and(|t| t.is_dir()) {
            continue;
        }
        // Bytes, not UTF-8: `bad\xff-2.0.dist-info` is installed metadata all the same.
        let Some(kind) = path.file_name().and_then(installed_package_kind_of) else {
            continue;
        };
        flagged.push(path.to_path_buf());
        findings.push(Finding::new(
            STALE_PACKAGE,
            function.shown(path),
            format!(
                "{kind} in the function's source: sam build ships it as-is instead of installing a fresh Linux wheel"
            ),
            "packages installed on macOS or Windows run on Linux: 'os' has no attribute 'add_dll_directory'",
            stale_fix(function, path),
        ));
    }
    findings
}

pub(super) fn stale_fix(function: &FunctionSource, path: &Path) -> String {
    if let Some((copy_to, backend_src)) = &function.copied_backend {
        if let Ok(inside) = path.strip_prefix(function.function_dir.join(copy_to)) {
            let origin = function.repo_root.join(backend_src).join(inside);
            return format!(
                "remove it from the backend source (rm -rf {}) or ignore it in {}/.gitignore, then run cargo xtask lambda-build",
                function.shell(&origin),
                backend_src.display()
            );
        }
    }
    format!(
        "rm -rf {} (or run cargo xtask lambda-build, whose clean step removes entries off the allowlist)",
        function.shell(path)
    )
}

/// The copied backend and the handler's imports must exist before sam packages them.
pub fn missing_source(function: &FunctionSource) -> Vec<Finding> {
    let mut findings = Vec::new();
    if let Some((copy_to, backend_src)) = &function.copied_backend {
        let copied = function.function_dir.join(copy_to);
        if !copied.is_dir() {
            findings.push(Finding::new(
                MISSING_SOURCE,
                function.shown(&copied),
                format!("the backend source is not copied in: {} is missing", function.shown(&copied)),
                format!("No module named '{copy_to}' at the first request"),
                format!("run cargo xtask lambda-build (its copy-backend step copies {} there)", backend_src.display()),
            ));
            // Every import from it would be reported again below; one finding says it.
            return findings;
        }
    }
    let handler = function.function_dir.join(&function.handler_file);
    if function.script {
        findings.extend(script_problem(&handler, &function.shown(&handler), &function.shell(&handler)));
        return findings;
    }
    let Ok(text) = crate::sys::beneath::read_to_string(&handler) else {
        findings.push(Finding::new(
            MISSING_SOURCE,
            function.shown(&handler),
            format!("the template's Handler names {}, which does not exist", function.handler_file),
            format!(
                "Runtime.ImportModuleError: No module named '{}'",
                function.handler_file.trim_end_matches(".py").replace('/', ".")
            ),
            format!("create {} or fix Handler in the template", function.shown(&handler)),
        ));
        return findings;
    };
    if !defines(&text, &function.handler_attribute) {
        findings.push(Finding::new(
            MISSING_SOURCE,
            function.shown(&handler),
            format!("the handler module defines no `{}`", function.handler_attribute),
            format!("Runtime.HandlerNotFound: Handler '{}' missing on module", function.handler_attribute),
            format!(
                "define `{}` in {} or fix Handler in the template",
                function.handler_attribute,
                function.shown(&handler)
            ),
        ));
    }
    for module in local_imports(&text, function) {
        if resolve_module(&function.function_dir, &module).is_none() {
            let expected = function.function_dir.join(module.replace('.', "/") + ".py");
            findings.push(Finding::new(
                MISSING_SOURCE,
                function.shown(&expected),
                format!("{} imports {module}, which is not in the function dir", function.handler_file),
                format!("No module named '{module}' at the first request"),
                match &function.copied_backend {
                    Some((_, backend_src)) => format!(
                        "add {} to {} (copy-backend copies it in) or fix the import in {}",
                        module.replace('.', "/") + ".py",
                        backend_src.parent().unwrap_or(backend_src).display(),
                        function.shown(&handler)
                    ),
                    None => format!("add the module or fix the import in {}", function.shown(&handler)),
                },
            ));
        }
    }
    findings
}

/// A script Handler that an exec wrapper could not run: missing, or without an execute bit
/// (sam zips each file with the mode it has, adding read bits only). `shown` and `shell` name
/// the file in the finding and in its fix.
pub fn script_problem(script: &Path, shown: &str, shell: &str) -> Option<Finding> {
    use std::os::unix::fs::PermissionsExt;
    let wrapper_symptom =
        "the exec wrapper (AWS_LAMBDA_EXEC_WRAPPER) fails to start it: Runtime.ExitError, and every invocation fails";
    match std::fs::metadata(script) {
        Ok(meta) if meta.is_file() && meta.permissions().mode() & 0o111 != 0 => None,
        Ok(meta) if meta.is_file() => Some(Finding::new(
            MISSING_SOURCE,
            shown,
            "the Handler names this script, which is not executable",
            format!("{wrapper_symptom} (Permission denied)"),
            format!("chmod +x {shell} && git update-index --chmod=+x {shell} (so a fresh clone keeps the bit)"),
        )),
        _ => Some(Finding::new(
            MISSING_SOURCE,
            shown,
            "the Handler names this script, which is not a file here",
            format!("{wrapper_symptom} (No such file or directory)"),
            format!("create {shown} or fix Handler in the template"),
        )),
    }
}

/// True when the module source binds `name` at top level: `def name`, `name = ...`, or an
/// import `as name` / of `name`.
pub(crate) fn defines(text: &str, name: &str) -> bool {
    text.lines().any(|line| {
        let rest = |prefix: &str| line.strip_prefix(prefix).map(str::trim_start);
        let starts_with_name =
            |s: &str| s.strip_prefix(name).is_some_and(|r| !r.starts_with(|c: char| c == '_' || c.is_alphanumeric()));
        rest("def ").or_else(|| rest("async def ")).or_else(|| rest("class ")).is_some_and(starts_with_name)
            || (starts_with_name(line) && line[name.len()..].trim_start().starts_with(['=', ':']))
            || ((line.starts_with("from ") || line.starts_with("import "))
                && line.split([' ', ',', '(', ')']).any(|word| word == name))
    })
}

/// Top-level imports in the handler whose package lives in the function dir (the copied
/// backend, or a module or package present there). Third-party imports are sam's business.
fn local_imports(text: &str, function: &FunctionSource) -> Vec<String> {
    let local_roots: Vec<String> = function.copied_backend.iter().map(|(copy_to, _)| copy_to.clone()).collect();
    let mut modules = Vec::new();
    for line in text.lines() {
        let names: Vec<&str> = if let Some(rest) = line.strip_prefix("from ") {
            rest.split_whitespace().next().into_iter().collect()
        } else if let Some(rest) = line.strip_prefix("import ") {
            rest.split(',').filter_map(|part| part.split_whitespace().next()).collect()
        } else {
            continue;
        };
        for module in names {
            let root = module.split('.').next().unwrap_or(module);
            let present =
                function.function_dir.join(root).exists() || function.function_dir.join(format!("{root}.py")).exists();
            if local_roots.iter().any(|r| r == root) || (present && module.contains('.')) {
                modules.push(module.to_string());
            }
        }
    }
    modules
}

/// Where Python's path finder would find `module` in the function dir, if anywhere: its
/// source (`a/b.py`), a package (`a/b/__init__.py`), a compiled extension (`a/b.so`,
/// `a/b.cpython-312-x86_64-linux-gnu.so`, `a/b.abi3.so`), bytecode without source (`a/b.pyc`),
/// or else a directory `a/b/`, which imports as a namespace package (PEP 420) with or without
/// an `__init__.py`.
fn resolve_module(function_dir: &Path, module: &str) -> Option<PathBuf> {
    let base = function_dir.join(module.replace('.', "/"));
    let stem = base.file_name()?.to_str()?.to_string();
    let extension_module = |name: &str| {
        name.strip_prefix(stem.as_str())
            .and_then(|rest| rest.strip_suffix(".so"))
            .is_some_and(|tag| tag.is_empty() || (tag.starts_with('.') && !tag[1..].contains('.')))
    };
    let found =
        [base.with_extension("py"), base.join("__init__.py"), base.with_extension("pyc")]
            .into_iter()
            .find(|p| p.is_file())
            .or_else(|| {
                let parent = base.parent()?;
                std::fs::read_dir(parent).ok()?.flatten().map(|entry| entry.path()).find(|path| {
                    path.file_name().and_then(|n| n.to_str()).is_some_and(extension_module) && path.is_file()
                })
            });
    found.or_else(|| base.is_dir().then_some(base))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(path: &Path, text: &str) {
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, text).unwrap();
    }

    const HANDLER: &str = "from mangum import Mangum\n\nfrom src.lazy_app import app\n\nhandler = Mangum(app)\n";

    fn function(repo: &Path) -> FunctionSource {
        let function_dir = repo.join("fn");
        write(&function_dir.join("handler.py"), HANDLER);
        write(&function_dir.join("src/lazy_app.py"), "app = 1\n");
        FunctionSource {
            repo_root: repo.to_path_buf(),
            function_dir,
            copied_backend: Some(("src".into(), PathBuf::from("backend/src"))),
            handler_file: "handler.py".into(),
            handler_attribute: "handler".into(),
            script: false,
        }
    }

    #[test]
    fn clean_function_has_no_findings() {
        let repo = tempfile::tempdir().unwrap();
        assert_eq!(check(&function(repo.path())), []);
    }

    #[test]
    fn installed_packages_anywhere_are_flagged_once_each() {
        let repo = tempfile::tempdir().unwrap();
        let f = function(repo.path());
        write(&f.function_dir.join("psycopg2_binary-2.9.11.dist-info/WHEEL"), "x");
        write(&f.function_dir.join("psycopg2_binary.libs/libpq.dll"), "x");
        write(&f.function_dir.join("src/vendor/lib/python3.11/site-packages/six.py"), "x");
        write(&f.function_dir.join("src/legacy.egg-info/PKG-INFO"), "x");

        let findings = stale_packages(&f);

        let paths: Vec<&str> = findings.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "fn/psycopg2_binary-2.9.11.dist-info",
                "fn/psycopg2_binary.libs",
                "fn/src/legacy.egg-info",
                "fn/src/vendor/lib/python3.11/site-packages"
            ]
        );
        assert!(findings.iter().all(|f| f.guard == STALE_PACKAGE && f.symptom.contains("add_dll_directory")));
        assert!(findings[0].fix.contains("rm -rf fn/psycopg2_binary-2.9.11.dist-info"), "{}", findings[0].fix);
        assert!(findings[2].fix.contains("rm -rf backend/src/legacy.egg-info"), "{}", findings[2].fix);
    }

    #[test]
    fn missing_copy_is_one_finding_naming_the_seed_symptom() {
        let repo = tempfile::tempdir().unwrap();
        let f = function(repo.path());
        fs::remove_dir_all(f.function_dir.join("src")).unwrap();
        let findings = check(&f);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].path, "fn/src");
        assert!(findings[0].symptom.contains("No module named 'src'"));
        assert!(findings[0].fix.contains("cargo xtask lambda-build"));
    }

    #[test]
    fn missing_imported_module_is_flagged() {
        let repo = tempfile::tempdir().unwrap();
        let f = function(repo.path());
        fs::remove_file(f.function_dir.join("src/lazy_app.py")).unwrap();
        write(&f.function_dir.join("src/other.py"), "");
        let findings = check(&f);
        assert_eq!(findings.len(), 1, "{findings:?}");
        assert_eq!(findings[0].path, "fn/src/lazy_app.py");
        assert!(findings[0].symptom.contains("No module named 'src.lazy_app'"));
    }

    #[test]
    fn package_module_resolves_through_init() {
        let repo = tempfile::tempdir().unwrap();
        let f = function(repo.path());
        fs::remove_file(f.function_dir.join("src/lazy_app.py")).unwrap();
        write(&f.function_dir.join("src/lazy_app/__init__.py"), "app = 1\n");
        assert_eq!(check(&f), []);
    }

    #[test]
    fn a_directory_without_init_imports_as_a_namespace_package() {
        let repo = tempfile::tempdir().unwrap();
        let f = function(repo.path());
        fs::remove_file(f.function_dir.join("src/lazy_app.py")).unwrap();
        // `src/lazy_app/` holds modules but no `__init__.py`: Python imports src.lazy_app.
        write(&f.function_dir.join("src/lazy_app/views.py"), "app = 1\n");
        assert_eq!(check(&f), []);
        // A compiled extension or bytecode without source imports too.
        fs::remove_dir_all(f.function_dir.join("src/lazy_app")).unwrap();
        write(&f.function_dir.join("src/lazy_app.cpython-312-x86_64-linux-gnu.so"), "\x7fELF");
        assert_eq!(check(&f), []);
        fs::remove_file(f.function_dir.join("src/lazy_app.cpython-312-x86_64-linux-gnu.so")).unwrap();
        write(&f.function_dir.join("src/lazy_app.pyc"), "");
        assert_eq!(check(&f), []);
        // A file of another module's name is no import of this one.
        fs::remove_file(f.function_dir.join("src/lazy_app.pyc")).unwrap();
        write(&f.function_dir.join("src/lazy_app_old.so"), "");
        assert_eq!(check(&f).len(), 1);
    }

    #[test]
    fn missing_handler_file_and_attribute_are_flagged() {
        let repo = tempfile::tempdir().unwrap();
        let mut f = function(repo.path());
        f.handler_attribute = "lambda_handler".into();
        let findings = check(&f);
        assert_eq!(findings.len(), 1);
        assert!(findings[0].problem.contains("defines no `lambda_handler`"));

        fs::remove_file(f.function_dir.join("handler.py")).unwrap();
        let findings = check(&f);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].path, "fn/handler.py");
    }

    #[test]
    fn defines_recognises_bindings() {
        for text in [
            "handler = Mangum(app)",
            "def handler(event, context):",
            "async def handler(e, c):",
            "from app import handler",
            "handler: Mangum = x",
        ] {
            assert!(defines(text, "handler"), "{text}");
        }
        for text in ["handler_v2 = 1", "    handler = 1", "# handler = 1", "x = handler"] {
            assert!(!defines(text, "handler"), "{text}");
        }
    }
}
