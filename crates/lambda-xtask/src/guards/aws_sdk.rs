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
    /// Each requirement's line and text as written, by index into `requirements`.
    pub written: Vec<(usize, String)>,
}

impl SdkPolicy<'_> {
    /// `requirements.txt:3 (aws-lambda-powertools[tracer]>=2.0)` for the top-level `name`.
    fn line_of(&self, normalized: &str) -> Option<(usize, &str)> {
        let index = self.requirements.iter().position(|r| r.normalized == normalized)?;
        self.written.get(index).map(|(line, text)| (*line, text.as_str()))
    }
}

/// The findings, and what the step should say though it is no finding: a requirements.txt
/// that lists boto3 itself, with a complete and consistent SDK installed, is the user's
/// explicit choice (a notice, not a failure).
#[derive(Debug, Default)]
pub struct SdkReport {
    pub findings: Vec<Finding>,
    pub notices: Vec<String>,
}

/// The requirements in a requirements.txt, as pip reads them (see `requirements_txt`).
pub fn read_requirements(text: &str) -> Vec<Requirement> {
    crate::python::requirements_txt::requirements(text)
}

/// The requirements with their lines as written, split the way [`SdkPolicy`] takes them.
pub fn read_requirements_as_written(text: &str) -> (Vec<Requirement>, Vec<(usize, String)>) {
    crate::python::requirements_txt::requirements_as_written(text)
        .into_iter()
        .map(|(line, written, requirement)| (requirement, (line, written)))
        .unzip()
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
) -> SdkReport {
    let bundled = find_bundled(artifact, installed);
    if bundled.is_empty() {
        return SdkReport::default();
    }
    if policy.allow_bundled {
        return SdkReport { findings: check_allowed_set(&bundled, installed, env, policy, ctx), notices: Vec::new() };
    }
    if let Some((line, written)) = policy.line_of("boto3") {
        // boto3 listed by name: bundling is meant. Only a set that does not fit together fails.
        let findings = check_allowed_set(&bundled, installed, env, policy, ctx);
        let notices =
            if findings.is_empty() { vec![listed_sdk_notice(&bundled, policy, line, written)] } else { Vec::new() };
        return SdkReport { findings, notices };
    }

    let graph = Graph::new(installed, env);
    let findings = bundled.iter().map(|package| unwanted_package_finding(&graph, package, policy, ctx)).collect();
    SdkReport { findings, notices: Vec::new() }
}

/// The SDK packages in the artifact, in [`SDK`] order.
fn find_bundled<'a>(artifact: &Path, installed: &'a [Installed]) -> Vec<Bundled<'a>> {
    SDK.iter()
        .filter_map(|&name| {
            let dist = installed.iter().find(|d| d.normalized == name);
            let package_dir = artifact.join(name);
            match dist {
                Some(dist) => Some(Bundled { name, path: dist.dist_info.clone(), dist: Some(dist) }),
                None if package_dir.is_dir() => Some(Bundled { name, path: package_dir, dist: None }),
                None => None,
            }
        })
        .collect()
}

/// A complete and consistent SDK that requirements.txt asks for by name: the user's choice.
fn listed_sdk_notice(bundled: &[Bundled], policy: &SdkPolicy, line: usize, written: &str) -> String {
    let versions: Vec<String> =
        bundled.iter().map(|b| format!("{} {}", b.name, b.dist.map(|d| d.version.as_str()).unwrap_or("?"))).collect();
    format!(
        "notice: {}:{line} lists {written}: function {} bundles its own AWS SDK ({}), complete and consistent, in place of the runtime's; set allow_bundled_aws_sdk = true to say so and silence this",
        policy.requirements_shown,
        policy.logical_id,
        versions.join(", ")
    )
}

/// A bundled SDK package that bundling is not meant for: what brought it in, and the fix.
fn unwanted_package_finding(graph: &Graph, package: &Bundled, policy: &SdkPolicy, ctx: &FileContext) -> Finding {
    let version = package.dist.map(|d| format!(" {}", d.version)).unwrap_or_default();
    let (mut origin, fix) = match graph.chain_from(&policy.requirements, package.name) {
        Some(chain) if chain.len() == 1 => (
            format!("{} lists it directly", policy.requirements_shown),
            format!(
                "remove {} from {} and use the runtime's SDK (the seed's fix)",
                chain[0], policy.requirements_shown
            ),
        ),
        Some(chain) => pulled_in_by_requirement(graph, package, policy, &chain),
        None => pulled_in_from_elsewhere(graph, package, policy, ctx),
    };
    if package.dist.is_none() && !origin.contains("by hand") {
        origin.push_str("; it has no .dist-info, so it was copied in by hand");
    }
    Finding::new(
        GUARD,
        ctx.shown(&package.path),
        format!("{}{version} is bundled into the artifact: {origin}", package.name),
        SYMPTOM,
        format!(
            "{fix}; or, to bundle the SDK on purpose, set allow_bundled_aws_sdk = true for {} in [workspace.metadata.lambda]",
            policy.logical_id
        ),
    )
}

/// Origin and fix for a package that a top-level requirement pulls in through `chain`.
fn pulled_in_by_requirement(
    graph: &Graph,
    package: &Bundled,
    policy: &SdkPolicy,
    chain: &[String],
) -> (String, String) {
    let (line, written) = policy.line_of(&chain[0]).unwrap_or((0, chain[0].as_str()));
    let at = if line > 0 { format!("{}:{line}", policy.requirements_shown) } else { policy.requirements_shown.clone() };
    // An extra that alone brings the SDK in is the thing to drop, not the package.
    let root = policy.requirements.iter().find(|r| r.normalized == chain[0]);
    let extras_to_blame: Vec<&String> = root
        .map(|root| {
            let bare = Requirement { extras: Vec::new(), ..root.clone() };
            if root.extras.is_empty() || graph.chain_from(std::slice::from_ref(&bare), package.name).is_some() {
                Vec::new()
            } else {
                root.extras.iter().collect()
            }
        })
        .unwrap_or_default();
    let fix = if extras_to_blame.is_empty() {
        format!(
            "remove {written} from {at} (or replace it with a package that does not require boto3) and use the runtime's SDK (the seed's fix)"
        )
    } else {
        let extras: Vec<String> = extras_to_blame.iter().map(|e| format!("[{e}]")).collect();
        format!(
            "drop the {} extra from {written} at {at} (that extra is what requires the SDK), and use the runtime's SDK (the seed's fix)",
            extras.join(", ")
        )
    };
    (format!("pulled in by {} (from {at}: {written})", chain.join(" -> ")), fix)
}

/// Origin and fix for a package that nothing in requirements.txt pulls in.
fn pulled_in_from_elsewhere(
    graph: &Graph,
    package: &Bundled,
    policy: &SdkPolicy,
    ctx: &FileContext,
) -> (String, String) {
    match (&package.dist, graph.required_by(package.name)) {
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
    }
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
        report(root, requirements, allow_bundled).findings
    }

    fn report(root: &Path, requirements: &str, allow_bundled: bool) -> SdkReport {
        let runtime = LambdaRuntime::new("python3.11", "x86_64").unwrap();
        let ctx = FileContext::new(Place::Directory { root, shown_from: root }, &runtime);
        let (requirements, written) = read_requirements_as_written(requirements);
        let policy = SdkPolicy {
            allow_bundled,
            logical_id: "BackendFunction",
            requirements_shown: "requirements.txt".into(),
            requirements,
            written,
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
                "boto3 1.35.0 is bundled into the artifact: pulled in by watchtower -> boto3 (from requirements.txt:2: watchtower==3.3.1)"
            ),
            "{}",
            problems[0]
        );
        assert!(problems[1].contains("pulled in by watchtower -> boto3 -> botocore"), "{}", problems[1]);
        assert!(problems[2].contains("pulled in by watchtower -> boto3 -> s3transfer"), "{}", problems[2]);
        assert_eq!(found[0].path, "boto3-1.35.0.dist-info");
        assert!(found[0].fix.contains("remove watchtower==3.3.1 from requirements.txt:2"), "{}", found[0].fix);
        assert!(found[0].fix.contains("allow_bundled_aws_sdk = true for BackendFunction"), "{}", found[0].fix);
        assert!(found.iter().all(|f| f.symptom.contains("cannot import name 'six' from 'botocore.compat'")));
    }

    #[test]
    fn boto3_listed_directly_is_a_choice_a_notice_when_the_set_is_complete_and_consistent() {
        let complete = tempfile::tempdir().unwrap();
        install(complete.path(), &FULL_SDK);
        let chosen = report(complete.path(), "requests\nboto3==1.35.0\n", false);
        assert_eq!(chosen.findings, []);
        assert_eq!(chosen.notices.len(), 1, "{:?}", chosen.notices);
        assert!(chosen.notices[0].contains("requirements.txt:2 lists boto3==1.35.0"), "{}", chosen.notices[0]);
        assert!(
            chosen.notices[0].contains("boto3 1.35.0, botocore 1.35.0, s3transfer 0.10.4"),
            "{}",
            chosen.notices[0]
        );

        // Listed, but incomplete (a hand-copied botocore, no s3transfer): still failures.
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[BOTO3]);
        std::fs::create_dir_all(dir.path().join("botocore")).unwrap();
        let incomplete = report(dir.path(), "boto3==1.35.0\n", false);
        assert!(incomplete.notices.is_empty());
        let problems: Vec<&str> = incomplete.findings.iter().map(|f| f.problem.as_str()).collect();
        assert!(problems.iter().any(|p| p.contains("s3transfer is missing")), "{problems:#?}");
        assert!(problems.iter().any(|p| p.contains("botocore is bundled as a bare package dir")), "{problems:#?}");
    }

    #[test]
    fn an_extra_that_pulls_the_sdk_in_is_named_as_written() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[POWERTOOLS, XRAY_SDK, BOTOCORE_MATCHING, JMESPATH, DATEUTIL, SIX, URLLIB3]);
        let found = findings(dir.path(), "# tracing\naws-lambda-powertools[tracer]==3.4.0\n", false);
        assert_eq!(found.len(), 1, "{found:#?}");
        assert!(
            found[0].problem.contains("pulled in by aws-lambda-powertools -> aws-xray-sdk -> botocore (from requirements.txt:2: aws-lambda-powertools[tracer]==3.4.0)"),
            "{}",
            found[0].problem
        );
        assert!(
            found[0].fix.contains("drop the [tracer] extra from aws-lambda-powertools[tracer]==3.4.0"),
            "{}",
            found[0].fix
        );
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
