//! Guard `bundled-aws-sdk`: boto3, botocore or s3transfer inside the artifact shadow the
//! Lambda runtime's own SDK. The seed's fix (issue 2) was to bundle none: `watchtower` and
//! `aws-lambda-powertools` had pulled in a boto3 that did not fit the bundled s3transfer, and
//! the function died with `cannot import name 'six' from 'botocore.compat'`.
//!
//! Each bundled SDK package is reported with the chain of `Requires-Dist` that pulled it in,
//! from the function's requirements.txt (`watchtower -> boto3 -> botocore`). A function whose
//! config sets `allow_bundled_aws_sdk = true` may bundle the SDK, but then all three packages
//! must be there together and agree with each other's pins.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::files::FileContext;
use super::Finding;
use crate::python::pep508::{MarkerEnv, Requirement};
use crate::python::wheel::Installed;

pub const GUARD: &str = "bundled-aws-sdk";

/// The packages that make up the SDK, in dependency order.
pub const SDK: [&str; 3] = ["boto3", "botocore", "s3transfer"];

const SYMPTOM: &str = "the bundled SDK shadows the Lambda runtime's boto3/botocore/s3transfer, and a set that does not fit together fails at import: cannot import name 'six' from 'botocore.compat' (seed issue 2)";

/// What the guard needs to know about the function.
pub struct SdkPolicy<'a> {
    /// `allow_bundled_aws_sdk` from the function's config.
    pub allow_bundled: bool,
    pub logical_id: &'a str,
    /// The function's requirements.txt, as findings show it.
    pub requirements_shown: String,
    /// Its top-level requirements, in file order.
    pub requirements: Vec<Requirement>,
}

/// The requirements in a requirements.txt, as pip reads them (see `requirements_txt`).
pub fn read_requirements(text: &str) -> Vec<Requirement> {
    crate::python::requirements_txt::requirements(text)
}

/// A bundled SDK package: its dist-info, or a bare package dir copied in by hand.
struct Bundled<'a> {
    name: &'static str,
    path: PathBuf,
    dist: Option<&'a Installed>,
}

pub fn check(
    artifact: &Path,
    installed: &[Installed],
    env: &MarkerEnv,
    policy: &SdkPolicy,
    ctx: &FileContext,
) -> Vec<Finding> {
    let bundled: Vec<Bundled> = SDK
        .iter()
        .filter_map(|&name| {
            let dist = installed.iter().find(|d| d.normalized == name);
            let package_dir = artifact.join(name);
            match dist {
                Some(dist) => Some(Bundled { name, path: dist.dist_info.clone(), dist: Some(dist) }),
                None if package_dir.is_dir() => Some(Bundled { name, path: package_dir, dist: None }),
                None => None,
            }
        })
        .collect();
    if bundled.is_empty() {
        return Vec::new();
    }
    if policy.allow_bundled {
        return check_allowed_set(&bundled, installed, env, policy, ctx);
    }

    let graph = Graph::new(installed, env);
    let mut findings = Vec::new();
    for package in &bundled {
        let version = package.dist.map(|d| format!(" {}", d.version)).unwrap_or_default();
        let (mut origin, fix) = match graph.chain_from(&policy.requirements, package.name) {
            Some(chain) if chain.len() == 1 => (
                format!("{} lists it directly", policy.requirements_shown),
                format!("remove {} from {} and use the runtime's SDK (the seed's fix)", chain[0], policy.requirements_shown),
            ),
            Some(chain) => (
                format!("pulled in by {} (from {})", chain.join(" -> "), policy.requirements_shown),
                format!(
                    "remove {} from {} (or replace it with a package that does not require boto3) and use the runtime's SDK (the seed's fix)",
                    chain[0], policy.requirements_shown
                ),
            ),
            None => match (&package.dist, graph.required_by(package.name)) {
                (_, Some(chain)) => (
                    format!("pulled in by {} (not from {})", chain.join(" -> "), policy.requirements_shown),
                    match ctx.function_dir_origin(&package.path) {
                        Some(origin) => origin,
                        None => format!("remove {} from what the function installs", chain[0]),
                    },
                ),
                (None, None) => (
                    "a bare package dir with no .dist-info: copied in by hand".to_string(),
                    ctx.function_dir_origin(&package.path).unwrap_or_else(|| ctx.remedy(&package.path)),
                ),
                (Some(_), None) => (
                    format!("nothing in {} requires it", policy.requirements_shown),
                    ctx.function_dir_origin(&package.path).unwrap_or_else(|| ctx.remedy(&package.path)),
                ),
            },
        };
        if package.dist.is_none() && !origin.contains("by hand") {
            origin.push_str("; it has no .dist-info, so it was copied in by hand");
        }
        findings.push(Finding::new(
            GUARD,
            ctx.shown(&package.path),
            format!("{}{version} is bundled into the artifact: {origin}", package.name),
            SYMPTOM,
            format!(
                "{fix}; or, to bundle the SDK on purpose, set allow_bundled_aws_sdk = true for {} in [workspace.metadata.lambda]",
                policy.logical_id
            ),
        ));
    }
    findings
}

/// With bundling allowed: all three packages present, as installed distributions, with
/// boto3's and s3transfer's pins met.
fn check_allowed_set(
    bundled: &[Bundled],
    installed: &[Installed],
    env: &MarkerEnv,
    policy: &SdkPolicy,
    ctx: &FileContext,
) -> Vec<Finding> {
    let mut findings = Vec::new();
    let present: Vec<&str> = bundled.iter().map(|b| b.name).collect();
    for name in SDK.iter().filter(|n| !present.contains(n)) {
        let anchor = &bundled[0];
        findings.push(Finding::new(
            GUARD,
            ctx.shown(&anchor.path),
            format!(
                "allow_bundled_aws_sdk is set, but only {} of boto3, botocore and s3transfer are bundled: {name} is missing, so the runtime's {name} runs against the bundled {}",
                present.join(" and "),
                present.join(" and ")
            ),
            SYMPTOM,
            format!("add {name} to {} next to the other SDK packages, and rebuild", policy.requirements_shown),
        ));
    }
    for package in bundled.iter().filter(|b| b.dist.is_none()) {
        findings.push(Finding::new(
            GUARD,
            ctx.shown(&package.path),
            format!(
                "{} is bundled as a bare package dir with no .dist-info: nobody can check its version",
                package.name
            ),
            SYMPTOM,
            format!("install {} through {} instead of copying it in", package.name, policy.requirements_shown),
        ));
    }
    let versions: HashMap<&str, &Installed> = installed.iter().map(|d| (d.normalized.as_str(), d)).collect();
    for dependent in ["boto3", "s3transfer"] {
        let Some(dist) = versions.get(dependent) else { continue };
        for line in &dist.metadata.requires_dist {
            let Ok(requirement) = Requirement::from_str(line) else { continue };
            if !SDK.contains(&requirement.normalized.as_str()) || !requirement.applies(env, &[]) {
                continue;
            }
            let Some(dependency) = versions.get(requirement.normalized.as_str()) else { continue };
            if !requirement.accepts(&dependency.version) {
                findings.push(Finding::new(
                    GUARD,
                    ctx.shown(&dependency.dist_info),
                    format!(
                        "the bundled SDK does not fit together: {} {} requires {} {}, but {} {} is bundled",
                        dist.name,
                        dist.version,
                        requirement.name,
                        requirement.specifiers_text,
                        dependency.name,
                        dependency.version
                    ),
                    SYMPTOM,
                    format!(
                        "pin boto3, botocore and s3transfer to one release set in {} (e.g. pin only boto3 and let pip choose the others), and rebuild",
                        policy.requirements_shown
                    ),
                ));
            }
        }
    }
    findings
}

/// Who requires whom among the installed distributions, markers evaluated for the runtime.
struct Graph<'a> {
    /// name -> its requirements that apply with no extras, plus those behind each extra.
    requires: HashMap<&'a str, Vec<Requirement>>,
    env: &'a MarkerEnv,
}

impl<'a> Graph<'a> {
    fn new(installed: &'a [Installed], env: &'a MarkerEnv) -> Graph<'a> {
        let requires = installed
            .iter()
            .map(|d| {
                let parsed = d.metadata.requires_dist.iter().filter_map(|l| Requirement::from_str(l).ok()).collect();
                (d.normalized.as_str(), parsed)
            })
            .collect();
        Graph { requires, env }
    }

    /// What `name`, installed with `extras`, requires on the runtime.
    fn edges(&self, name: &str, extras: &[String]) -> Vec<&Requirement> {
        self.requires.get(name).map(|r| r.iter().filter(|r| r.applies(self.env, extras)).collect()).unwrap_or_default()
    }

    /// The shortest chain of names from a top-level requirement down to `target`.
    fn chain_from(&self, roots: &[Requirement], target: &str) -> Option<Vec<String>> {
        let mut parent: BTreeMap<String, Option<String>> = BTreeMap::new();
        let mut queue: VecDeque<(String, Vec<String>)> = VecDeque::new();
        for root in roots {
            if parent.insert(root.normalized.clone(), None).is_none() {
                queue.push_back((root.normalized.clone(), root.extras.clone()));
            }
        }
        while let Some((name, extras)) = queue.pop_front() {
            if name == target {
                let mut chain = vec![name.clone()];
                let mut at = name;
                while let Some(Some(up)) = parent.get(&at) {
                    chain.push(up.clone());
                    at = up.clone();
                }
                chain.reverse();
                return Some(chain);
            }
            for requirement in self.edges(&name, &extras) {
                if !parent.contains_key(&requirement.normalized) {
                    parent.insert(requirement.normalized.clone(), Some(name.clone()));
                    queue.push_back((requirement.normalized.clone(), requirement.extras.clone()));
                }
            }
        }
        None
    }

    /// A chain to `target` from an installed distribution nothing else requires (a root that
    /// is not in requirements.txt: copied in, or installed by hand).
    fn required_by(&self, target: &str) -> Option<Vec<String>> {
        let required: Vec<&str> =
            self.requires.keys().flat_map(|n| self.edges(n, &[])).map(|r| r.normalized.as_str()).collect();
        let mut roots: Vec<&str> = self.requires.keys().copied().filter(|n| !required.contains(n)).collect();
        roots.sort();
        let roots: Vec<Requirement> = roots.iter().filter_map(|n| Requirement::from_str(n).ok()).collect();
        self.chain_from(&roots, target).filter(|chain| chain.len() > 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::guards::files::Place;
    use crate::guards::runtime::LambdaRuntime;
    use crate::python::wheel::installed;
    use test_wheels::{self as wheels, *};

    fn findings(root: &Path, requirements: &str, allow_bundled: bool) -> Vec<Finding> {
        let runtime = LambdaRuntime::new("python3.11", "x86_64").unwrap();
        let ctx = FileContext::new(Place::Directory { root, shown_from: root }, &runtime);
        let policy = SdkPolicy {
            allow_bundled,
            logical_id: "BackendFunction",
            requirements_shown: "requirements.txt".into(),
            requirements: read_requirements(requirements),
        };
        check(root, &installed(root).unwrap(), &MarkerEnv::lambda(11, "x86_64"), &policy, &ctx)
    }

    fn install(root: &Path, specs: &[WheelSpec]) {
        for spec in specs {
            wheels::install_into(*spec, root);
        }
    }

    const FULL_SDK: [WheelSpec; 7] = [BOTO3, BOTOCORE_MATCHING, S3TRANSFER, JMESPATH, DATEUTIL, SIX, URLLIB3];

    #[test]
    fn requirements_txt_parsing_skips_comments_and_options() {
        // A hashed requirement (pip-compile --generate-hashes) spans lines: it still counts.
        let reqs = read_requirements(
            "# c\n-r other.txt\n--index-url x\nfastapi==0.115.12  # web\n\nwatchtower==3.3.1 \\\n    --hash=sha256:0a1b\n",
        );
        let names: Vec<&str> = reqs.iter().map(|r| r.normalized.as_str()).collect();
        assert_eq!(names, ["fastapi", "watchtower"]);
    }

    #[test]
    fn watchtower_pulling_boto3_is_reported_with_the_chain_for_each_package() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[WATCHTOWER]);
        install(dir.path(), &FULL_SDK);
        let found = findings(dir.path(), "fastapi==0.115.12\nwatchtower==3.3.1\n", false);
        let problems: Vec<&str> = found.iter().map(|f| f.problem.as_str()).collect();
        assert_eq!(found.len(), 3, "{problems:#?}");
        assert!(
            problems[0].contains(
                "boto3 1.35.0 is bundled into the artifact: pulled in by watchtower -> boto3 (from requirements.txt)"
            ),
            "{}",
            problems[0]
        );
        assert!(problems[1].contains("pulled in by watchtower -> boto3 -> botocore"), "{}", problems[1]);
        assert!(problems[2].contains("pulled in by watchtower -> boto3 -> s3transfer"), "{}", problems[2]);
        assert_eq!(found[0].path, "boto3-1.35.0.dist-info");
        assert!(found[0].fix.contains("remove watchtower from requirements.txt"), "{}", found[0].fix);
        assert!(found[0].fix.contains("allow_bundled_aws_sdk = true for BackendFunction"), "{}", found[0].fix);
        assert!(found.iter().all(|f| f.symptom.contains("cannot import name 'six' from 'botocore.compat'")));
    }

    #[test]
    fn a_directly_listed_sdk_and_a_hand_copied_one_are_reported() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[BOTO3]);
        std::fs::create_dir_all(dir.path().join("botocore")).unwrap();
        let found = findings(dir.path(), "boto3==1.35.0\n", false);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].problem.contains("requirements.txt lists it directly"), "{}", found[0].problem);
        assert_eq!(found[1].path, "botocore");
        assert!(found[1].problem.contains("copied in by hand"), "{}", found[1].problem);
    }

    #[test]
    fn no_sdk_no_finding() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[SIX, JMESPATH]);
        assert_eq!(findings(dir.path(), "six\n", false), []);
    }

    #[test]
    fn allowed_bundling_needs_a_complete_consistent_set() {
        let complete = tempfile::tempdir().unwrap();
        install(complete.path(), &FULL_SDK);
        assert_eq!(findings(complete.path(), "boto3==1.35.0\n", true), []);

        let mismatched = tempfile::tempdir().unwrap();
        install(mismatched.path(), &[BOTO3, BOTOCORE_MISMATCHED, S3TRANSFER]);
        let found = findings(mismatched.path(), "boto3==1.35.0\nbotocore==1.36.0\n", true);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert_eq!(found[0].path, "botocore-1.36.0.dist-info");
        assert!(found[0].problem.contains("boto3 1.35.0 requires botocore"), "{}", found[0].problem);

        let partial = tempfile::tempdir().unwrap();
        install(partial.path(), &[BOTOCORE_MATCHING]);
        let found = findings(partial.path(), "botocore\n", true);
        assert_eq!(found.len(), 2, "{found:#?}");
        assert!(found[0].problem.contains("boto3 is missing"));
        assert!(found[1].problem.contains("s3transfer is missing"));
    }
}
