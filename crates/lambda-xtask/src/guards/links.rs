//! Guards `outside-link` and `special-file`: what sam build would copy into the package from
//! outside the repository, and what it cannot copy at all.
//!
//! sam build copies a function dir or a layer by following its links: `passwd.txt ->
//! /etc/passwd` ships the build machine's file, `ext -> /outside-dir` a whole tree nobody
//! reviewed. A link is fine when the whole chain resolves inside the repository (`shared ->
//! ../shared`); one that leads out, nowhere or in a loop is a finding, named by the link.
//! A FIFO, socket or device cannot be packaged (a FIFO's read waits forever); the guards never
//! open one, and report it.

use std::path::Path;

use super::files::FileContext;
use super::scan::{LinkEnd, Scan};
use super::Finding;

pub const OUTSIDE_LINK: &str = "outside-link";
pub const SPECIAL_FILE: &str = "special-file";

/// The findings on the scan's links (those not resolving inside `boundary`, the repository)
/// and special files.
pub fn check(scan: &Scan, ctx: &FileContext, boundary: &Path) -> Vec<Finding> {
    let boundary = boundary.canonicalize().unwrap_or_else(|_| boundary.to_path_buf());
    let mut findings = Vec::new();
    for (link, end) in &scan.links {
        let target = std::fs::read_link(link).map(|t| crate::sys::quote::escaped_path(&t)).unwrap_or_default();
        let problem = match end {
            LinkEnd::Resolved(resolved) if resolved.starts_with(&boundary) => continue,
            LinkEnd::Resolved(resolved) => format!(
                "a symlink to {target} (resolved: {}), outside the repository: sam build copies what it points to into the package",
                crate::sys::quote::escaped_path(resolved)
            ),
            LinkEnd::Dangling => format!("a symlink to {target}, which does not exist: sam build fails copying it"),
            LinkEnd::Loop => format!("a symlink loop (it points at {target}, which leads back to itself)"),
        };
        findings.push(Finding::new(
            OUTSIDE_LINK,
            ctx.shown(link),
            problem,
            "a file of the build machine, not of the repository, ships inside the function package, readable by anyone who can read its code",
            format!(
                "remove the link (rm {0}); if the package needs that content, commit a copy of it in its place",
                ctx.shell(link)
            ),
        ));
    }
    for (path, kind) in &scan.special {
        findings.push(Finding::new(
            SPECIAL_FILE,
            ctx.shown(path),
            format!("{}, not a file: the guards never open it and sam build cannot package it", kind.describe()),
            "sam build waits forever reading a FIFO, or fails copying a socket or device, instead of building",
            format!("remove it (rm {}); it holds no data on disk", ctx.shell(path)),
        ));
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guards::files::Place;
    use crate::project::runtime::LambdaRuntime;
    use std::os::unix::fs::symlink;

    #[test]
    fn links_out_of_the_repository_and_fifos_are_findings_and_links_inside_are_not() {
        let repo = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let function_dir = repo.path().join("hello");
        std::fs::create_dir_all(&function_dir).unwrap();
        std::fs::create_dir_all(repo.path().join("shared")).unwrap();
        std::fs::write(repo.path().join("shared/util.py"), "def util(): return 1\n").unwrap();
        symlink("/etc/passwd", function_dir.join("passwd.txt")).unwrap();
        symlink(outside.path(), function_dir.join("ext")).unwrap();
        symlink("../shared", function_dir.join("shared")).unwrap();
        symlink("../shared/util.py", function_dir.join("util.py")).unwrap();
        symlink("nowhere", function_dir.join("dangling")).unwrap();
        rustix::fs::mknodat(
            rustix::fs::CWD,
            function_dir.join("data.bin"),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o644),
            0,
        )
        .unwrap();

        let scan = crate::guards::scan::scan_within(&function_dir, repo.path()).unwrap();
        let runtime = LambdaRuntime::new("python3.12", "x86_64").unwrap();
        let ctx = FileContext::new(Place::Directory { root: &function_dir, shown_from: repo.path() }, &runtime);
        let findings = check(&scan, &ctx, repo.path());

        let named: Vec<(&str, &str)> = findings.iter().map(|f| (f.guard, f.path.as_str())).collect();
        assert_eq!(
            named,
            [
                (OUTSIDE_LINK, "hello/dangling"),
                (OUTSIDE_LINK, "hello/ext"),
                (OUTSIDE_LINK, "hello/passwd.txt"),
                (SPECIAL_FILE, "hello/data.bin")
            ]
        );
        assert!(findings[2].problem.contains("/etc/passwd"), "{}", findings[2]);
        assert_eq!(findings[2].fix.split(';').next().unwrap(), "remove the link (rm hello/passwd.txt)");
        assert!(findings[3].problem.contains("a FIFO"), "{}", findings[3]);
        // The link to a file inside the repository was judged by its content, like a file.
        assert_eq!(scan.files, 1, "{scan:?}");
    }
}
