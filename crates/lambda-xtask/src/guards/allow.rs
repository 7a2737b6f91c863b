//! `--allow GUARD`: one guard's findings are still printed but do not fail this one run. Not a
//! guard itself: the commands pass every guard step's findings through here, which also puts
//! them in guard order so the output reads grouped by guard.

use anyhow::Result;

use super::{abi, aws_sdk, dependencies, links, package_size, platform, secrets, smoke, source, Finding};
use crate::bad_input;

/// Every guard, in the order findings are printed.
pub const ALL_GUARDS: [&str; 12] = [
    source::MISSING_SOURCE,
    source::STALE_PACKAGE,
    secrets::GUARD,
    links::OUTSIDE_LINK,
    links::SPECIAL_FILE,
    source::UNEXPLAINED_FILE,
    platform::GUARD,
    abi::GUARD,
    aws_sdk::GUARD,
    dependencies::GUARD,
    package_size::GUARD,
    smoke::GUARD,
];

#[derive(Debug, Default, Clone)]
pub struct Allowed(Vec<&'static str>);

impl Allowed {
    /// The guards named on the command line, among the library's and the team's own
    /// (`team_guards`); an unknown name is bad usage.
    pub fn parse(names: &[String], team_guards: &[&'static str]) -> Result<Allowed> {
        let mut allowed = Vec::new();
        let known = || ALL_GUARDS.iter().chain(team_guards);
        for name in names {
            match known().find(|g| **g == name.as_str()) {
                Some(guard) if !allowed.contains(guard) => allowed.push(*guard),
                Some(_) => {}
                None => bad_input!(
                    "--allow {name}: no such guard; the guards are {}",
                    known().copied().collect::<Vec<_>>().join(", ")
                ),
            }
        }
        Ok(Allowed(allowed))
    }

    pub fn contains(&self, guard: &str) -> bool {
        self.0.contains(&guard)
    }

    /// Said once at the start of a run, so an override is never silent.
    pub fn announce(&self) {
        for guard in &self.0 {
            say!("notice: --allow {guard}: its findings are shown but do not stop this run");
        }
    }

    /// Sorts findings by guard, prints the allowed ones as overridden, and returns those that
    /// still fail the step.
    pub fn enforce(&self, mut findings: Vec<Finding>) -> Vec<Finding> {
        findings.sort_by_key(|f| ALL_GUARDS.iter().position(|g| *g == f.guard).unwrap_or(ALL_GUARDS.len()));
        let (overridden, enforced): (Vec<Finding>, Vec<Finding>) =
            findings.into_iter().partition(|f| self.contains(f.guard));
        for finding in &overridden {
            say!("{}", crate::sys::redact::scrub(&finding.to_string()));
            say!("    allowed: --allow {} overrides this finding for this run only", finding.guard);
        }
        enforced
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding(guard: &'static str) -> Finding {
        Finding::new(guard, "p", "problem", "symptom", "fix")
    }

    #[test]
    fn unknown_guard_is_bad_usage_naming_the_known_ones() {
        let err = Allowed::parse(&["platform".into()], &[]).unwrap_err();
        assert_eq!(crate::sys::exit::status_of(&err), crate::sys::exit::BAD_INPUT);
        assert!(err.to_string().contains("platform-binary"), "{err}");
    }

    #[test]
    fn allowed_findings_are_dropped_and_the_rest_grouped_by_guard() {
        let allowed = Allowed::parse(&["bundled-aws-sdk".into()], &[]).unwrap();
        let enforced = allowed.enforce(vec![
            finding(smoke::GUARD),
            finding(aws_sdk::GUARD),
            finding(platform::GUARD),
            finding(abi::GUARD),
            finding(platform::GUARD),
        ]);
        let guards: Vec<&str> = enforced.iter().map(|f| f.guard).collect();
        assert_eq!(guards, [platform::GUARD, platform::GUARD, abi::GUARD, smoke::GUARD]);
    }
}
