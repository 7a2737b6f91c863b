//! Who approved a deploy, for the audit line: in GitHub Actions the run (its URL), the actor
//! and the GitHub environment whose reviewers let it start; elsewhere the local git identity
//! and how the go-ahead was given: the environment's name typed back on the terminal, `--yes`,
//! or nothing (an environment that is not protected asks no one). Only names and URLs: never
//! a token or a credential.

use serde::{Deserialize, Serialize};

/// The variable the workflow sets to the job's GitHub environment (GitHub sets none itself).
pub const GITHUB_ENVIRONMENT_VARIABLE: &str = "XTASK_GITHUB_ENVIRONMENT";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Approval {
    /// `github-actions`; else `terminal` (the environment's name was typed back at the prompt),
    /// `yes-flag` (`--yes` skipped the prompt, with or without a terminal), `not-required`
    /// (the environment is not protected: nobody was asked) or `not-confirmed` (a protected
    /// environment's attempt that stopped before it was confirmed).
    pub via: String,
    /// `https://github.com/<owner>/<repo>/actions/runs/<id>/attempts/<n>`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub run_url: Option<String>,
    /// GITHUB_ACTOR: whose push or dispatch started the workflow.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub actor: Option<String>,
    /// GITHUB_TRIGGERING_ACTOR, when a re-run was started by someone else.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub triggering_actor: Option<String>,
    /// The GitHub environment (its protection rules are the approval), from
    /// `XTASK_GITHUB_ENVIRONMENT`.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub github_environment: Option<String>,
    /// `Name <email>` from the local git config.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub git_identity: Option<String>,
}

/// How the go-ahead was given outside GitHub Actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Confirmation {
    /// The environment's name was typed back at the terminal's prompt.
    Typed,
    /// `--yes`: no prompt was shown, whether or not there was a terminal.
    YesFlag,
    /// The environment is not protected: no confirmation was asked for.
    NotRequired,
    /// A protected environment that was not confirmed: the run stopped before the prompt,
    /// or the name typed back was not the environment's.
    NotGiven,
}

impl Confirmation {
    fn via(self) -> &'static str {
        match self {
            Confirmation::Typed => "terminal",
            Confirmation::YesFlag => "yes-flag",
            Confirmation::NotRequired => "not-required",
            Confirmation::NotGiven => "not-confirmed",
        }
    }
}

impl Approval {
    /// From the process environment (`var`), how the run was confirmed, and the local git
    /// identity when not in Actions.
    pub fn detect(
        var: impl Fn(&str) -> Option<String>,
        confirmation: Confirmation,
        git_identity: impl FnOnce() -> Option<String>,
    ) -> Approval {
        let var = |name: &str| var(name).filter(|v| !v.trim().is_empty());
        if var("GITHUB_ACTIONS").as_deref() == Some("true") {
            let server = var("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
            let run_url = match (var("GITHUB_REPOSITORY"), var("GITHUB_RUN_ID")) {
                (Some(repo), Some(id)) => Some(match var("GITHUB_RUN_ATTEMPT") {
                    Some(attempt) => format!("{server}/{repo}/actions/runs/{id}/attempts/{attempt}"),
                    None => format!("{server}/{repo}/actions/runs/{id}"),
                }),
                _ => None,
            };
            let actor = var("GITHUB_ACTOR");
            let triggering_actor = var("GITHUB_TRIGGERING_ACTOR").filter(|t| Some(t) != actor.as_ref());
            return Approval {
                via: "github-actions".into(),
                run_url,
                actor,
                triggering_actor,
                github_environment: var(GITHUB_ENVIRONMENT_VARIABLE),
                git_identity: None,
            };
        }
        Approval { via: confirmation.via().into(), git_identity: git_identity(), ..Approval::default() }
    }
}

/// `Name <email>` from `git config`, when both or either are set.
pub fn git_identity(root: &std::path::Path) -> Option<String> {
    let get = |key: &str| {
        std::process::Command::new("git")
            .args(["-C"])
            .arg(root)
            .args(["config", "--get", key])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .filter(|v| !v.is_empty())
    };
    match (get("user.name"), get("user.email")) {
        (Some(name), Some(email)) => Some(format!("{name} <{email}>")),
        (Some(name), None) => Some(name),
        (None, Some(email)) => Some(format!("<{email}>")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |name| pairs.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_string())
    }

    #[test]
    fn in_github_actions_the_run_actor_and_environment_are_recorded_and_no_token() {
        let approval = Approval::detect(
            vars(&[
                ("GITHUB_ACTIONS", "true"),
                ("GITHUB_SERVER_URL", "https://github.com"),
                ("GITHUB_REPOSITORY", "credmate/backend"),
                ("GITHUB_RUN_ID", "123456"),
                ("GITHUB_RUN_ATTEMPT", "2"),
                ("GITHUB_ACTOR", "alice"),
                ("GITHUB_TRIGGERING_ACTOR", "bob"),
                ("XTASK_GITHUB_ENVIRONMENT", "prod"),
                ("GITHUB_TOKEN", "ghs_secretvalue"),
            ]),
            Confirmation::YesFlag,
            || panic!("git is not asked in CI"),
        );
        assert_eq!(approval.via, "github-actions");
        assert_eq!(
            approval.run_url.as_deref(),
            Some("https://github.com/credmate/backend/actions/runs/123456/attempts/2")
        );
        assert_eq!(approval.actor.as_deref(), Some("alice"));
        assert_eq!(approval.triggering_actor.as_deref(), Some("bob"));
        assert_eq!(approval.github_environment.as_deref(), Some("prod"));
        assert!(!serde_json::to_string(&approval).unwrap().contains("ghs_"));
    }

    #[test]
    fn outside_actions_the_git_identity_and_the_real_confirmation_are_recorded() {
        let ann = || Some("Ann <ann@example.com>".to_string());
        let typed = Approval::detect(vars(&[]), Confirmation::Typed, ann);
        assert_eq!(typed.via, "terminal");
        assert_eq!(typed.git_identity.as_deref(), Some("Ann <ann@example.com>"));
        assert_eq!(typed.run_url, None);
        // --yes without a terminal (another CI, a script) is not a terminal's confirmation.
        assert_eq!(Approval::detect(vars(&[("CI", "true")]), Confirmation::YesFlag, ann).via, "yes-flag");
        assert_eq!(Approval::detect(vars(&[]), Confirmation::NotRequired, ann).via, "not-required");
    }
}
