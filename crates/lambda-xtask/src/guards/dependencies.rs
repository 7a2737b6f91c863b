//! Guard `dependency-consistency`: `pip check` of the artifact, in Rust. Every installed
//! distribution's `Requires-Dist`, with markers evaluated for the Lambda runtime, must be met
//! by what is installed next to it; a distribution must not be installed twice; and its
//! `Requires-Python` must admit the runtime.
//!
//! sam's copy of the function dir over the resolved wheels is how an artifact ends up with
//! a set pip never resolved together (a bundled boto3 against an older
//! s3transfer, `cannot import name 'six' from 'botocore.compat'`).

use std::collections::BTreeMap;
use std::str::FromStr;

use pep440_rs::{Version, VersionSpecifiers};

use super::files::FileContext;
use super::Finding;
use crate::python::pep508::{MarkerEnv, Requirement};
use crate::python::wheel::Installed;

pub const GUARD: &str = "dependency-consistency";

/// What the Lambda Python runtime itself provides: the AWS SDK and its dependencies. A
/// requirement on one of them is met by the runtime when the artifact does not bundle it.
pub const RUNTIME_PROVIDED: [&str; 7] =
    ["boto3", "botocore", "s3transfer", "jmespath", "python-dateutil", "six", "urllib3"];

const SEED_SYMPTOM: &str = "ImportError or AttributeError at import or first use, the way a mismatched bundled SDK failed with cannot import name 'six' from 'botocore.compat'";

pub fn check(installed: &[Installed], env: &MarkerEnv, ctx: &FileContext, requirements_txt: &str) -> Vec<Finding> {
    let mut by_name: BTreeMap<&str, Vec<&Installed>> = BTreeMap::new();
    for dist in installed {
        by_name.entry(dist.normalized.as_str()).or_default().push(dist);
    }
    let set = InstalledSet { by_name, env, ctx, requirements_txt };
    let mut findings = set.duplicates();
    let runtime_version = Version::from_str(&env.python_full_version).expect("a valid Python version");
    for dist in installed {
        findings.extend(set.requires_python(dist, &runtime_version));
        findings.extend(set.requires_dist(dist));
    }
    findings
}

/// The installed distributions by normalised name, with what the findings name.
struct InstalledSet<'a> {
    by_name: BTreeMap<&'a str, Vec<&'a Installed>>,
    env: &'a MarkerEnv,
    ctx: &'a FileContext<'a>,
    requirements_txt: &'a str,
}

impl InstalledSet<'_> {
    /// The fix, plus where the package came from when it was in the function dir.
    fn with_origin(&self, dist: &Installed, fix: String) -> String {
        match self.ctx.function_dir_origin(&dist.dist_info) {
            Some(origin) => format!("{fix}; {origin}"),
            None => fix,
        }
    }

    /// A distribution installed more than once: their files overwrite each other.
    fn duplicates(&self) -> Vec<Finding> {
        let (ctx, requirements_txt) = (self.ctx, self.requirements_txt);
        let mut findings = Vec::new();
        for (name, dists) in &self.by_name {
            if dists.len() > 1 {
                let versions: Vec<&str> = dists.iter().map(|d| d.version.as_str()).collect();
                for dist in dists {
                    findings.push(Finding::new(
                        GUARD,
                        ctx.shown(&dist.dist_info),
                        format!(
                            "{name} is installed {} times ({}): their files overwrite each other",
                            dists.len(),
                            versions.join(", ")
                        ),
                        SEED_SYMPTOM,
                        self.with_origin(
                            dist,
                            format!("keep one {name}: pin it once in {requirements_txt} and rebuild"),
                        ),
                    ));
                }
            }
        }

        findings
    }

    /// Requires-Python that excludes the runtime's Python.
    fn requires_python(&self, dist: &Installed, runtime_version: &Version) -> Vec<Finding> {
        let (env, ctx, requirements_txt) = (self.env, self.ctx, self.requirements_txt);
        let mut findings = Vec::new();
        if let Some(requires_python) = &dist.metadata.requires_python {
            if let Ok(specifiers) = VersionSpecifiers::from_str(requires_python) {
                if !specifiers.contains(runtime_version) {
                    findings.push(Finding::new(
                        GUARD,
                        ctx.shown(&dist.dist_info),
                        format!(
                            "{} {} requires Python {requires_python}; the function runs Python {} (judged as {}, a patch release Lambda's runtime runs)",
                            dist.name, dist.version, env.python_version, env.python_full_version
                        ),
                        "SyntaxError or ImportError at import: the package uses features of another Python",
                        self.with_origin(
                            dist,
                            format!(
                                "pin a version of {} that supports Python {} in {requirements_txt}",
                                dist.name, env.python_version
                            ),
                        ),
                    ));
                }
            }
        }
        findings
    }

    /// Each Requires-Dist that applies on Lambda: installed (or provided by the runtime), in
    /// a version it accepts.
    fn requires_dist(&self, dist: &Installed) -> Vec<Finding> {
        let (env, ctx, requirements_txt) = (self.env, self.ctx, self.requirements_txt);
        let mut findings = Vec::new();
        for line in &dist.metadata.requires_dist {
            let requirement = match Requirement::from_str(line) {
                Ok(requirement) => requirement,
                Err(err) => {
                    findings.push(Finding::new(
                        GUARD,
                        ctx.shown(&dist.dist_info.join("METADATA")),
                        format!("{} {} has a Requires-Dist nobody can check: {err}", dist.name, dist.version),
                        "an unchecked dependency can be missing or the wrong version on Lambda",
                        format!(
                            "upgrade {} to a release with valid metadata, or --allow {GUARD} after checking it by hand",
                            dist.name
                        ),
                    ));
                    continue;
                }
            };
            if !requirement.applies(env, &[]) {
                continue;
            }
            let installed_versions = self.by_name.get(requirement.normalized.as_str());
            let Some(candidates) = installed_versions else {
                if RUNTIME_PROVIDED.contains(&requirement.normalized.as_str()) {
                    continue;
                }
                findings.push(Finding::new(
                    GUARD,
                    ctx.shown(&dist.dist_info),
                    format!("{} {} requires {line}, which is not installed", dist.name, dist.version),
                    format!("ModuleNotFoundError for {}'s import at the first request that needs it", requirement.name),
                    self.with_origin(
                        dist,
                        format!("add {} to {requirements_txt} (or remove {}) and rebuild", requirement.name, dist.name),
                    ),
                ));
                continue;
            };
            for candidate in candidates {
                if !requirement.accepts(&candidate.version) {
                    findings.push(Finding::new(
                        GUARD,
                        ctx.shown(&candidate.dist_info),
                        format!(
                            "{} {} requires {}{}, but {} {} is installed",
                            dist.name,
                            dist.version,
                            requirement.name,
                            if requirement.specifiers_text.is_empty() {
                                String::new()
                            } else {
                                format!(" {}", requirement.specifiers_text)
                            },
                            candidate.name,
                            candidate.version
                        ),
                        SEED_SYMPTOM,
                        self.with_origin(
                            candidate,
                            format!(
                                "pin {}{} in {requirements_txt} (or a {} release that accepts {} {}) and rebuild",
                                requirement.name,
                                requirement.specifiers_text,
                                dist.name,
                                candidate.name,
                                candidate.version
                            ),
                        ),
                    ));
                }
            }
        }
        findings
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::guards::files::Place;
    use crate::project::runtime::LambdaRuntime;
    use crate::python::wheel::installed;
    use test_wheels::{self as wheels, *};

    fn findings(root: &Path) -> Vec<Finding> {
        let runtime = LambdaRuntime::new("python3.11", "x86_64").unwrap();
        let ctx = FileContext::new(Place::Directory { root, shown_from: root }, &runtime);
        check(&installed(root).unwrap(), &MarkerEnv::lambda(11, "x86_64"), &ctx, "requirements.txt")
    }

    fn dist(root: &Path, name: &str, version: &str, requires: &[&str]) {
        let dir = root.join(format!("{}-{version}.dist-info", name.replace('-', "_")));
        std::fs::create_dir_all(&dir).unwrap();
        let mut metadata = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        for r in requires {
            metadata.push_str(&format!("Requires-Dist: {r}\n"));
        }
        std::fs::write(dir.join("METADATA"), metadata).unwrap();
    }

    #[test]
    fn a_consistent_real_set_passes() {
        let dir = tempfile::tempdir().unwrap();
        for spec in [BOTO3, BOTOCORE_MATCHING, S3TRANSFER, JMESPATH, DATEUTIL, SIX, URLLIB3] {
            wheels::install_into(spec, dir.path());
        }
        assert_eq!(findings(dir.path()), []);
    }

    #[test]
    fn mismatched_boto3_and_botocore_pins_are_flagged_on_the_installed_botocore() {
        let dir = tempfile::tempdir().unwrap();
        for spec in [BOTO3, BOTOCORE_MISMATCHED, S3TRANSFER, JMESPATH, DATEUTIL, SIX, URLLIB3] {
            wheels::install_into(spec, dir.path());
        }
        let found = findings(dir.path());
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].path, "botocore-1.36.0.dist-info");
        assert!(found[0].problem.contains("boto3 1.35.0 requires botocore"), "{}", found[0].problem);
        assert!(found[0].problem.contains("but botocore 1.36.0 is installed"), "{}", found[0].problem);
        assert!(found[0].fix.contains("<1.36.0") && found[0].fix.contains(">=1.35.0"), "{}", found[0].fix);
        assert!(found[0].symptom.contains("cannot import name 'six' from 'botocore.compat'"));
    }

    #[test]
    fn missing_dependencies_count_unless_the_runtime_provides_them() {
        let dir = tempfile::tempdir().unwrap();
        dist(
            dir.path(),
            "app-lib",
            "1.0",
            &[
                "anyio>=3",
                "boto3>=1.20",
                "colorama; sys_platform == \"win32\"",
                "exceptiongroup; python_version < \"3.11\"",
                "httpx; extra == \"http\"",
            ],
        );
        let found = findings(dir.path());
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(found[0].problem.contains("requires anyio>=3, which is not installed"), "{}", found[0].problem);
    }

    #[test]
    fn duplicate_installs_and_requires_python_are_flagged() {
        let dir = tempfile::tempdir().unwrap();
        dist(dir.path(), "botocore", "1.35.0", &[]);
        dist(dir.path(), "botocore", "1.36.0", &[]);
        let newer = dir.path().join("modern-2.0.dist-info");
        std::fs::create_dir_all(&newer).unwrap();
        std::fs::write(newer.join("METADATA"), "Name: modern\nVersion: 2.0\nRequires-Python: >=3.12\n").unwrap();
        let found = findings(dir.path());
        let problems: Vec<&str> = found.iter().map(|f| f.problem.as_str()).collect();
        assert_eq!(found.len(), 3, "{problems:#?}");
        assert!(problems[0].contains("botocore is installed 2 times (1.35.0, 1.36.0)"));
        assert!(problems[2].contains("modern 2.0 requires Python >=3.12; the function runs Python 3.11"));
    }
}
