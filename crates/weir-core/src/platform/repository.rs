//! The `[repository]` table: the Git repository Weir takes DAG and job files from
//! (instead of, or before, a local folder), and the checks that keep what is handed to
//! `git` from being read as an option and credentials out of the file.
//!
//! Credentials never appear in `weir.toml`: an HTTPS token or an SSH key is a team
//! secret, named here as `team/name`.

use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::spec::diagnostic::did_you_mean;
use crate::spec::model::HumanDuration;

use super::problem::KeyProblem;

/// The branch followed when none is given.
pub const DEFAULT_REPOSITORY_BRANCH: &str = "main";
/// How often the repository is fetched when no `interval` is given.
pub const DEFAULT_REPOSITORY_INTERVAL: Duration = Duration::from_secs(60);
/// The shortest `interval` accepted: one fetch a second is already a lot for a server.
pub const MIN_REPOSITORY_INTERVAL: Duration = Duration::from_secs(1);
/// The longest `interval` accepted: one day.
pub const MAX_REPOSITORY_INTERVAL: Duration = Duration::from_secs(86_400);

/// The `[repository]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RepositorySettings {
    /// A Git URL (https://, ssh://, git@host:path, file://) or a local path to a Git
    /// repository.
    pub url: String,
    /// The branch to follow (default `main`).
    #[serde(default = "default_branch")]
    pub branch: String,
    /// Sub-folder holding `dags/` and `jobs/`; the repository's root when empty.
    #[serde(default)]
    pub path: String,
    /// How often the repository is fetched, e.g. `"60s"` (the default), from 1s to 1d.
    #[serde(default = "default_interval")]
    pub interval: HumanDuration,
    /// A secret holding an HTTPS token, as `team/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret: Option<String>,
    /// A secret holding an SSH private key, as `team/name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key_secret: Option<String>,
}

fn default_branch() -> String {
    DEFAULT_REPOSITORY_BRANCH.to_string()
}

fn default_interval() -> HumanDuration {
    HumanDuration(DEFAULT_REPOSITORY_INTERVAL)
}

/// Keys someone may write to put a credential in the file itself; each is refused with
/// the key that names a secret instead.
pub(super) const CLEAR_CREDENTIAL_KEYS: [(&str, &str); 5] = [
    ("token", "token_secret"),
    ("password", "token_secret"),
    ("ssh_key", "ssh_key_secret"),
    ("private_key", "ssh_key_secret"),
    ("ssh_private_key", "ssh_key_secret"),
];

impl RepositorySettings {
    /// What is wrong with the settings; `teams` are the teams `[[teams]]` declares,
    /// which the secret references must name.
    pub fn problems(&self, teams: &[&str]) -> Vec<KeyProblem> {
        let mut out = Vec::new();
        self.check_url(&mut out);
        let branch = &self.branch;
        if branch.is_empty() || branch.chars().any(|c| c.is_whitespace() || c.is_control()) {
            out.push(KeyProblem::new(
                "branch",
                format!("`branch` must be a branch name without spaces, found `{branch}`"),
            ));
        } else if branch.starts_with('-') {
            // Passed to git as an argument: a leading `-` would make it an option.
            out.push(KeyProblem::new(
                "branch",
                format!("`branch` may not start with `-`, found `{branch}`"),
            ));
        }
        if self.path.starts_with('/') {
            out.push(
                KeyProblem::new(
                    "path",
                    format!(
                        "`path` must be relative to the repository's root, found `{}`",
                        self.path
                    ),
                )
                .help("write e.g. \"weir\" for a `weir/` folder holding `dags/` and `jobs/`"),
            );
        } else if self.path.split(['/', '\\']).any(|part| part == "..") {
            out.push(KeyProblem::new(
                "path",
                format!("`path` may not hold `..`, found `{}`", self.path),
            ));
        }
        let interval = self.interval.0;
        if !(MIN_REPOSITORY_INTERVAL..=MAX_REPOSITORY_INTERVAL).contains(&interval) {
            out.push(KeyProblem::new(
                "interval",
                format!(
                    "`interval` must be from 1s to 1d, found {}",
                    crate::duration::format_duration(interval)
                ),
            ));
        }
        if self.token_secret.is_some() && self.ssh_key_secret.is_some() {
            out.push(
                KeyProblem::new(
                    "ssh_key_secret",
                    "give `token_secret` or `ssh_key_secret`, not both",
                )
                .help("an https:// URL uses the token, an SSH URL the key"),
            );
        }
        for (key, reference) in [
            ("token_secret", &self.token_secret),
            ("ssh_key_secret", &self.ssh_key_secret),
        ] {
            if let Some(reference) = reference {
                out.extend(secret_problem(key, reference, teams));
            }
        }
        out
    }

    fn check_url(&self, out: &mut Vec<KeyProblem>) {
        let url = self.url.trim();
        let what = "a Git URL (https://…, ssh://…, git@host:path, file://…) or a local path";
        if url.is_empty() {
            out.push(
                KeyProblem::new("url", "`url` may not be empty").help(format!("write {what}")),
            );
            return;
        }
        if url.starts_with('-') {
            // Passed to git as an argument: a leading `-` would make it an option.
            out.push(
                KeyProblem::new(
                    "url",
                    format!("`url` may not start with `-`, found `{url}`"),
                )
                .help(format!("write {what}")),
            );
        }
        if url.chars().any(char::is_control) {
            out.push(KeyProblem::new(
                "url",
                "`url` may not hold control characters",
            ));
        }
        if let Some((scheme, userinfo)) = userinfo(url) {
            // `ssh://git@host` names a user, which is fine; a password, or any user part
            // of an https URL (where a token passes as the user name), is a credential.
            let https = scheme.eq_ignore_ascii_case("https") || scheme.eq_ignore_ascii_case("http");
            if https || userinfo.contains(':') {
                out.push(
                    KeyProblem::new("url", "`url` may not hold credentials (a user name, password or token before `@`)")
                        .help("put the token in a secret and name it with `token_secret = \"team/name\"`"),
                );
            }
        }
    }
}

/// The scheme and the user part of `scheme://user[:password]@host/…`, when there is one.
fn userinfo(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let (userinfo, _host) = authority.rsplit_once('@')?;
    Some((scheme, userinfo))
}

/// What is wrong with a `team/name` secret reference, if anything.
pub(super) fn secret_problem(
    key: &'static str,
    reference: &str,
    teams: &[&str],
) -> Option<KeyProblem> {
    let Some((team, name)) = reference.split_once('/') else {
        return Some(
            KeyProblem::new(key, format!("`{key}` must name a secret as `team/name`, found `{reference}`"))
                .help("the server reads repository credentials from a team's secrets, e.g. \"platform/git-token\""),
        );
    };
    if !teams.contains(&team) {
        let problem = KeyProblem::new(
            key,
            format!("`{key}` names team `{team}`, which no `[[teams]]` entry declares"),
        );
        return Some(match did_you_mean(team, teams.iter().copied()) {
            Some(s) => problem.help(format!("did you mean `{s}/{name}`?")),
            None => problem.help("declare the team in a `[[teams]]` section"),
        });
    }
    crate::secrets::check_name(name)
        .err()
        .map(|err| KeyProblem::new(key, format!("`{key}`: {err}")))
}
