//! Guard `bundled-aws-sdk`: boto3, botocore or s3transfer inside the artifact shadow the
//! Lambda runtime's own SDK. The seed's function died with `cannot import name 'six' from
//! 'botocore.compat'`: `watchtower` and `aws-lambda-powertools` had pulled in an SDK that did
//! not fit what else was loaded.
//!
//! A bundled package is judged by evidence, not by its presence: the SDK is loaded as Lambda
//! loads it (the artifact and its layers first, then the runtime's own set; see
//! [`super::sdk_probe`]) and exercised. Only a mix that breaks there, or bundled packages
//! whose own pins contradict each other, is a finding, with a fix that makes the mix load.
//! A bundled package that loads fine is a notice naming the requirement that pulled it in
//! (`aws-xray-sdk -> botocore`); `allow_bundled_aws_sdk = true` says it is meant, and
//! silences the notice.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::files::FileContext;
use super::sdk_probe::{Loaded, SdkProbe};
use super::Finding;
use crate::python::pep508::{MarkerEnv, Requirement};
use crate::python::wheel::Installed;

pub const GUARD: &str = "bundled-aws-sdk";

/// The packages that make up the SDK, in dependency order.
pub const SDK: [&str; 3] = ["boto3", "botocore", "s3transfer"];

const SYMPTOM: &str = "the same error on Lambda at the first cold start that loads boto3: Lambda loads the artifact's SDK packages before the runtime's, and a mix that does not fit together fails at import (cannot import name 'six' from 'botocore.compat', say)";

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

    /// The top-level requirements but `name`'s own line.
    fn others(&self, normalized: &str) -> Vec<Requirement> {
        self.requirements.iter().filter(|r| r.normalized != normalized).cloned().collect()
    }
}

/// The findings, and what the step should say though it is no finding.
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

impl Bundled<'_> {
    fn describe(&self) -> String {
        match self.dist {
            Some(dist) => format!("{} {}", self.name, dist.version),
            None => format!("{} (a bare package dir)", self.name),
        }
    }
}

/// True when `dir` holds any SDK package: the artifact or a layer needs the import check.
pub fn holds_sdk(dir: &Path) -> bool {
    SDK.iter().any(|name| dir.join(name).is_dir())
}

/// The findings and notices for one function, from what it bundles and what loading it as
/// Lambda does showed (`probe`).
pub fn check(
    artifact: &Path,
    installed: &[Installed],
    env: &MarkerEnv,
    policy: &SdkPolicy,
    ctx: &FileContext,
    probe: &SdkProbe,
) -> SdkReport {
    let bundled = find_bundled(artifact, installed);
    let graph = Graph::new(installed, env);
    let mut report = SdkReport::default();
    if let SdkProbe::Breaks { step, error, loaded } = probe {
        let anchor = bundled.first().map(|b| b.path.as_path()).unwrap_or(artifact);
        let (origins, fix) = match bundled.is_empty() {
            true => (String::new(), layer_fix(loaded)),
            false => (format!("; {}", origins(&graph, &bundled, policy)), broken_mix_fix(&graph, &bundled, policy)),
        };
        report.findings.push(Finding::new(
            GUARD,
            ctx.shown(anchor),
            format!(
                "function {} loads {} as Lambda does (the artifact and its layers first), and {step} fails: {error}{origins}",
                policy.logical_id,
                describe_mix(loaded)
            ),
            SYMPTOM,
            fix,
        ));
        return report;
    }
    if bundled.is_empty() {
        return report;
    }
    report.findings.extend(contradicting_pins(installed, env, policy, ctx));
    if !report.findings.is_empty() || policy.allow_bundled {
        return report;
    }
    let notice = match (probe, policy.line_of("boto3")) {
        (SdkProbe::Works(loaded), Some((line, written))) => listed_sdk_notice(&bundled, loaded, policy, line, written),
        (SdkProbe::Works(loaded), None) => format!(
            "notice: function {} bundles {}, which Lambda loads before the runtime's own; loaded that way here ({}), boto3 and s3transfer import and create clients: not a failure; set allow_bundled_aws_sdk = true for {} to say it is meant and silence this",
            policy.logical_id,
            origins(&graph, &bundled, policy),
            describe_mix(loaded),
            policy.logical_id
        ),
        (_, _) => format!(
            "notice: function {} bundles {}, which Lambda loads before the runtime's own; whether that mix loads could not be checked here ({}): not a finding",
            policy.logical_id,
            origins(&graph, &bundled, policy),
            match probe {
                SdkProbe::NotRun(why) => why.as_str(),
                _ => "no result",
            }
        ),
    };
    report.notices.push(notice);
    report
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

/// `botocore 1.35.72 from the artifact, boto3 1.38.36 and s3transfer 0.13.0 from the runtime`.
fn describe_mix(loaded: &[Loaded]) -> String {
    let mut by_place: Vec<(&str, Vec<String>)> = Vec::new();
    for package in loaded {
        let text = format!("{} {}", package.name, package.version);
        match by_place.iter_mut().find(|(from, _)| *from == package.from) {
            Some((_, names)) => names.push(text),
            None => by_place.push((&package.from, vec![text])),
        }
    }
    // What shadows comes first: the artifact, then layers, then the runtime.
    by_place.sort_by_key(|(from, _)| match *from {
        "the artifact" => 0,
        "the runtime" => 2,
        _ => 1,
    });
    let parts: Vec<String> =
        by_place.iter().map(|(from, names)| format!("{} from {from}", names.join(" and "))).collect();
    match parts.is_empty() {
        true => "the SDK".to_string(),
        false => parts.join(", "),
    }
}

/// `botocore 1.44.18 (pulled in by aws-xray-sdk -> botocore, from requirements.txt:1: ...)`.
fn origins(graph: &Graph, bundled: &[Bundled], policy: &SdkPolicy) -> String {
    let described: Vec<String> = bundled
        .iter()
        .map(|package| {
            let pulled = graph.chain_from(&policy.others(package.name), package.name);
            let origin = match (policy.line_of(package.name), pulled) {
                (Some(_), Some(chain)) => format!(
                    "listed in {}, and pulled in by {}, from {}",
                    at_line(policy, package.name),
                    chain.join(" -> "),
                    at_line(policy, &chain[0])
                ),
                (Some(_), None) => format!("listed in {}", at_line(policy, package.name)),
                (None, Some(chain)) => {
                    format!("pulled in by {}, from {}", chain.join(" -> "), at_line(policy, &chain[0]))
                }
                (None, None) => match (package.dist, graph.required_by(package.name)) {
                    (_, Some(chain)) => {
                        format!("pulled in by {}, not from {}", chain.join(" -> "), policy.requirements_shown)
                    }
                    (None, None) => "copied in by hand".to_string(),
                    (Some(_), None) => format!("nothing in {} requires it", policy.requirements_shown),
                },
            };
            format!("{} ({origin})", package.describe())
        })
        .collect();
    described.join(", ")
}

/// `requirements.txt:2: aws-xray-sdk==2.14.0` for a top-level requirement.
fn at_line(policy: &SdkPolicy, normalized: &str) -> String {
    match policy.line_of(normalized) {
        Some((line, written)) => format!("{}:{line}: {written}", policy.requirements_shown),
        None => policy.requirements_shown.clone(),
    }
}

/// The edit of requirements.txt that makes the mix load: the SDK lines that nothing else
/// needs go (the runtime's SDK then loads in their place); for what something else requires,
/// `boto3` is added so pip bundles a whole SDK that fits that requirement.
fn broken_mix_fix(graph: &Graph, bundled: &[Bundled], policy: &SdkPolicy) -> String {
    let mut remove = Vec::new();
    let mut kept = Vec::new();
    for package in bundled {
        match policy.line_of(package.name) {
            Some((line, written)) if graph.chain_from(&policy.others(package.name), package.name).is_none() => {
                remove.push(format!("{written} (line {line})"));
            }
            _ => kept.push(package),
        }
    }
    let mut steps = Vec::new();
    if !remove.is_empty() {
        steps.push(format!("remove {} from {}", remove.join(" and "), policy.requirements_shown));
    }
    let boto3_bundled = kept.iter().any(|b| b.name == "boto3");
    if kept.iter().any(|b| b.dist.is_none()) {
        steps.push("remove the SDK package dirs copied in by hand from the function dir".to_string());
    } else if !kept.is_empty() && !boto3_bundled && policy.line_of("boto3").is_none() {
        let needing: Vec<String> = kept.iter().map(|b| b.describe()).collect();
        let botocore = kept.iter().find(|b| b.name == "botocore").and_then(|b| b.dist).map(|d| d.version.as_str());
        steps.push(match botocore.filter(|v| released_with_boto3(v)) {
            Some(version) => format!(
                "add a line boto3<={version} to {} (the boto3 released with botocore {version}: pip then bundles the boto3 and s3transfer that fit the {} your other requirements need, so the whole SDK loads from the artifact and fits together; a bare boto3 line works too, but pip may try hundreds of boto3 releases first)",
                policy.requirements_shown,
                needing.join(" and ")
            ),
            None => format!(
                "add a line boto3 to {} (no version: pip then bundles the boto3 and s3transfer that fit the {} your other requirements need, so the whole SDK loads from the artifact and fits together)",
                policy.requirements_shown,
                needing.join(" and ")
            ),
        });
    } else if !kept.is_empty() {
        steps.push(format!(
            "let pip choose the SDK as one set: keep boto3 in {} and no pin of botocore or s3transfer",
            policy.requirements_shown
        ));
    }
    match steps.is_empty() {
        true => format!("rebuild; if it persists, list boto3 alone in {}", policy.requirements_shown),
        false => format!("{}, then rebuild", steps.join(", and ")),
    }
}

/// Since 1.33, boto3 and botocore are released together under one version number, and boto3
/// `1.X.Y` requires botocore `>=1.X.Y,<1.(X+1)`: `boto3<=` botocore's version resolves at once to
/// a boto3 that fits it. Without the bound pip walks down from the newest boto3, one release at a
/// time, until one accepts the pinned botocore (measured: 100 s for botocore 1.35.72).
fn released_with_boto3(botocore: &str) -> bool {
    let mut parts = botocore.split('.');
    let (Some(major), Some(minor), Some(patch)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    parts.next().is_none()
        && [major, minor, patch].into_iter().all(all_digits)
        && major == "1"
        && minor.parse::<u32>().is_ok_and(|m| m >= 33)
}

/// The mix breaks though the artifact bundles no SDK package: a layer does.
fn layer_fix(loaded: &[Loaded]) -> String {
    let layers: Vec<String> = loaded
        .iter()
        .filter(|l| l.from.starts_with("layer "))
        .map(|l| format!("{} {} ({})", l.name, l.version, l.from))
        .collect();
    format!(
        "the layer's SDK packages do not fit the runtime's: remove {} from the layer's requirements (or bundle boto3, botocore and s3transfer there together), then rebuild",
        if layers.is_empty() { "them".to_string() } else { layers.join(", ") }
    )
}

/// A complete SDK that loads and that requirements.txt asks for by name: the user's choice.
fn listed_sdk_notice(bundled: &[Bundled], loaded: &[Loaded], policy: &SdkPolicy, line: usize, written: &str) -> String {
    let versions: Vec<String> = bundled.iter().map(Bundled::describe).collect();
    format!(
        "notice: {}:{line} lists {written}: function {} bundles its own AWS SDK ({}) in place of the runtime's, and it loads ({}); set allow_bundled_aws_sdk = true to say so and silence this",
        policy.requirements_shown,
        policy.logical_id,
        versions.join(", "),
        describe_mix(loaded)
    )
}

/// Bundled packages whose own pins contradict each other (a bundled boto3 that requires
/// another botocore than the bundled one): pip never installs that, so something forced it.
fn contradicting_pins(installed: &[Installed], env: &MarkerEnv, policy: &SdkPolicy, ctx: &FileContext) -> Vec<Finding> {
    let mut findings = Vec::new();
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
    use crate::project::runtime::LambdaRuntime;
    use crate::python::wheel::installed;
    use test_wheels::{self as wheels, *};

    fn report(root: &Path, requirements: &str, allow_bundled: bool, probe: &SdkProbe) -> SdkReport {
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
        check(root, &installed(root).unwrap(), &MarkerEnv::lambda(11, "x86_64"), &policy, &ctx, probe)
    }

    fn install(root: &Path, specs: &[WheelSpec]) {
        for spec in specs {
            wheels::install_into(*spec, root);
        }
    }

    fn loaded(list: &[(&str, &str, &str)]) -> Vec<Loaded> {
        list.iter()
            .map(|(name, version, from)| Loaded {
                name: name.to_string(),
                version: version.to_string(),
                from: from.to_string(),
            })
            .collect()
    }

    fn breaks(step: &str, error: &str, from_artifact: &[(&str, &str)]) -> SdkProbe {
        let mut list: Vec<(&str, &str, &str)> = from_artifact.iter().map(|(n, v)| (*n, *v, "the artifact")).collect();
        for (name, version) in [("boto3", "1.38.36"), ("botocore", "1.38.36"), ("s3transfer", "0.13.0")] {
            if !from_artifact.iter().any(|(n, _)| *n == name) {
                list.push((name, version, "the runtime"));
            }
        }
        SdkProbe::Breaks { step: step.into(), error: error.into(), loaded: loaded(&list) }
    }

    const FULL_SDK: [WheelSpec; 7] = [BOTO3, BOTOCORE_MATCHING, S3TRANSFER, JMESPATH, DATEUTIL, SIX, URLLIB3];
    const CHECKSUM_ERROR: &str =
        "ImportError: cannot import name 'DEFAULT_CHECKSUM_ALGORITHM' from 'botocore.httpchecksum'";

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
    fn an_sdk_that_loads_is_a_notice_naming_what_pulled_it_in_and_allowing_it_silences_that() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[POWERTOOLS, XRAY_SDK, BOTOCORE_MATCHING, JMESPATH, DATEUTIL, SIX, URLLIB3]);
        let works = SdkProbe::Works(loaded(&[
            ("boto3", "1.38.36", "the runtime"),
            ("botocore", "1.35.0", "the artifact"),
            ("s3transfer", "0.13.0", "the runtime"),
        ]));
        let requirements = "# tracing\naws-lambda-powertools[tracer]==3.4.0\n";
        let found = report(dir.path(), requirements, false, &works);
        assert_eq!(found.findings, []);
        assert_eq!(found.notices.len(), 1, "{:?}", found.notices);
        let notice = &found.notices[0];
        assert!(
            notice.contains("bundles botocore 1.35.0 (pulled in by aws-lambda-powertools -> aws-xray-sdk -> botocore, from requirements.txt:2: aws-lambda-powertools[tracer]==3.4.0)"),
            "{notice}"
        );
        assert!(
            notice.contains("botocore 1.35.0 from the artifact, boto3 1.38.36 and s3transfer 0.13.0 from the runtime"),
            "{notice}"
        );
        assert!(notice.contains("set allow_bundled_aws_sdk = true for BackendFunction"), "{notice}");
        let allowed = report(dir.path(), requirements, true, &works);
        assert_eq!(
            (allowed.findings.len(), allowed.notices.len()),
            (0, 0),
            "no boto3 is missing, no s3transfer is missing"
        );
    }

    #[test]
    fn a_mix_that_breaks_fails_with_the_error_and_a_fix_that_drops_a_pin_nothing_else_needs() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[BOTOCORE_MATCHING, JMESPATH, DATEUTIL, URLLIB3]);
        let probe = breaks("import boto3.s3.transfer", CHECKSUM_ERROR, &[("botocore", "1.35.0")]);
        let found = report(dir.path(), "requests\nbotocore==1.35.0\n", false, &probe);
        assert_eq!(found.findings.len(), 1, "{:#?}", found.findings);
        let finding = &found.findings[0];
        assert_eq!(finding.path, "botocore-1.35.0.dist-info");
        assert!(finding.problem.contains("loads botocore 1.35.0 from the artifact, boto3 1.38.36 and s3transfer 0.13.0 from the runtime as Lambda does"), "{}", finding.problem);
        assert!(
            finding.problem.contains(
                "import boto3.s3.transfer fails: ImportError: cannot import name 'DEFAULT_CHECKSUM_ALGORITHM'"
            ),
            "{}",
            finding.problem
        );
        assert!(
            finding.problem.contains("botocore 1.35.0 (listed in requirements.txt:2: botocore==1.35.0)"),
            "{}",
            finding.problem
        );
        assert_eq!(finding.fix, "remove botocore==1.35.0 (line 2) from requirements.txt, then rebuild");
        // Allowing bundling does not allow a mix that breaks.
        assert_eq!(report(dir.path(), "requests\nbotocore==1.35.0\n", true, &probe).findings.len(), 1);
    }

    #[test]
    fn a_broken_mix_that_another_requirement_pins_is_fixed_by_bundling_a_whole_sdk() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[XRAY_SDK, BOTOCORE_MATCHING, JMESPATH, DATEUTIL, URLLIB3]);
        let probe = breaks("import boto3.s3.transfer", CHECKSUM_ERROR, &[("botocore", "1.35.0")]);
        let found = report(dir.path(), "aws-xray-sdk==2.14.0\nbotocore==1.35.0\n", false, &probe);
        assert_eq!(found.findings.len(), 1, "{:#?}", found.findings);
        assert!(
            found.findings[0].problem.contains("pulled in by aws-xray-sdk -> botocore"),
            "{}",
            found.findings[0].problem
        );
        assert!(
            found.findings[0].fix.starts_with("add a line boto3<=1.35.0 to requirements.txt (the boto3 released with botocore 1.35.0: pip then bundles the boto3 and s3transfer that fit the botocore 1.35.0"),
            "{}",
            found.findings[0].fix
        );
    }

    #[test]
    fn boto3_is_bounded_by_botocore_s_version_only_where_they_are_released_together() {
        for together in ["1.33.0", "1.35.72", "1.38.36", "1.40.12"] {
            assert!(released_with_boto3(together), "{together}");
        }
        // boto3 1.26.x needs botocore 1.29.x: `boto3<=1.29.0` would not resolve at once.
        for apart in ["1.29.165", "1.32.7", "2.0.0", "1.35", "1.35.0rc1", "1.35.0.post1", ""] {
            assert!(!released_with_boto3(apart), "{apart}");
        }
    }

    #[test]
    fn the_whole_sdk_listed_by_name_is_a_choice_and_contradicting_pins_fail() {
        let complete = tempfile::tempdir().unwrap();
        install(complete.path(), &FULL_SDK);
        let works = SdkProbe::Works(loaded(&[
            ("boto3", "1.35.0", "the artifact"),
            ("botocore", "1.35.0", "the artifact"),
            ("s3transfer", "0.10.4", "the artifact"),
        ]));
        let chosen = report(complete.path(), "requests\nboto3==1.35.0\n", false, &works);
        assert_eq!(chosen.findings, []);
        assert!(chosen.notices[0].contains("requirements.txt:2 lists boto3==1.35.0"), "{}", chosen.notices[0]);
        assert!(
            chosen.notices[0].contains("boto3 1.35.0, botocore 1.35.0, s3transfer 0.10.4"),
            "{}",
            chosen.notices[0]
        );

        let mismatched = tempfile::tempdir().unwrap();
        install(mismatched.path(), &[BOTO3, BOTOCORE_MISMATCHED, S3TRANSFER]);
        let found = report(mismatched.path(), "boto3==1.35.0\nbotocore==1.36.0\n", true, &works);
        assert_eq!(found.findings.len(), 1, "{:#?}", found.findings);
        assert_eq!(found.findings[0].path, "botocore-1.36.0.dist-info");
        assert!(found.findings[0].problem.contains("boto3 1.35.0 requires botocore"), "{}", found.findings[0].problem);
    }

    #[test]
    fn what_cannot_be_checked_here_is_a_notice_and_no_sdk_is_nothing() {
        let dir = tempfile::tempdir().unwrap();
        install(dir.path(), &[WATCHTOWER]);
        install(dir.path(), &FULL_SDK);
        let not_run = SdkProbe::NotRun("no python3.11 is found".into());
        let found = report(dir.path(), "watchtower==3.3.1\n", false, &not_run);
        assert_eq!(found.findings, []);
        assert!(
            found.notices[0].contains("could not be checked here (no python3.11 is found)"),
            "{}",
            found.notices[0]
        );
        assert!(
            found.notices[0].contains(
                "boto3 1.35.0 (pulled in by watchtower -> boto3, from requirements.txt:1: watchtower==3.3.1)"
            ),
            "{}",
            found.notices[0]
        );

        let none = tempfile::tempdir().unwrap();
        install(none.path(), &[SIX, JMESPATH]);
        let clean = report(none.path(), "six\n", false, &SdkProbe::Works(Vec::new()));
        assert_eq!((clean.findings.len(), clean.notices.len()), (0, 0));
    }
}
