//! How `shell` tasks are isolated from the platform and from each other: the `[sandbox]`
//! table of `weir.toml`, a team's `shell_user` / `allow_unsandboxed_shell`, and the one
//! policy decision, [`PlatformConfig::shell_isolation`].
//!
//! The policy: with no `weir.toml` (standalone on one person's laptop) shell tasks run
//! unsandboxed, as the server's user. As soon as a file is given, every team's shell
//! tasks run in the sandbox, unless the file lets that team out explicitly; a team the
//! file does not list is sandboxed too.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::{ConfigOrigin, PlatformConfig};

/// The OS user sandboxed shell tasks run as when nothing else is configured.
pub const DEFAULT_SANDBOX_USER: &str = "nobody";
/// The sandbox program (Debian's `bubblewrap`), looked up on the server's `PATH`.
pub const DEFAULT_SANDBOX_PROGRAM: &str = "bwrap";

/// The `[sandbox]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SandboxSettings {
    /// The OS user sandboxed shell tasks run as (when the server runs as root); a team's
    /// `shell_user` overrides it.
    #[serde(default = "default_user")]
    pub user: String,
    /// Whether sandboxed tasks may use the network (they often call APIs).
    #[serde(default = "default_network")]
    pub network: bool,
    /// The bubblewrap program: a name looked up on `PATH`, or a path.
    #[serde(default = "default_program")]
    pub program: String,
}

impl Default for SandboxSettings {
    fn default() -> Self {
        SandboxSettings {
            user: default_user(),
            network: default_network(),
            program: default_program(),
        }
    }
}

impl SandboxSettings {
    /// What is wrong with the settings, as sentences naming the key.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.user.trim().is_empty() {
            out.push("`user` must name an OS user, e.g. \"nobody\"".to_string());
        }
        if self.program.trim().is_empty() {
            out.push("`program` must name the bubblewrap program, e.g. \"bwrap\"".to_string());
        }
        out
    }
}

fn default_user() -> String {
    DEFAULT_SANDBOX_USER.to_string()
}

fn default_network() -> bool {
    true
}

fn default_program() -> String {
    DEFAULT_SANDBOX_PROGRAM.to_string()
}

/// How one team's `shell` tasks run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellIsolation {
    /// As the server's own OS user, with the server's view of the machine.
    Unsandboxed,
    /// In the sandbox.
    Sandboxed(ShellSandbox),
}

/// The sandbox one try's `shell` task runs in: what the policy decided, carried to the
/// process backend and the supervisor as it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShellSandbox {
    /// The OS user the task runs as (when the server can switch users).
    pub user: String,
    /// Whether the task keeps the network.
    pub network: bool,
    /// The bubblewrap program: a name looked up on `PATH`, or a path.
    pub program: String,
    /// The task's team, named in messages that say what to change.
    pub team: String,
}

impl PlatformConfig {
    /// How `team`'s `shell` tasks run; see the module docs for the policy.
    pub fn shell_isolation(&self, team: &str) -> ShellIsolation {
        if self.origin == ConfigOrigin::StandaloneDefault {
            return ShellIsolation::Unsandboxed;
        }
        let entry = self.team(team);
        if entry.is_some_and(|t| t.allow_unsandboxed_shell) {
            return ShellIsolation::Unsandboxed;
        }
        let user = entry
            .and_then(|t| t.shell_user.clone())
            .unwrap_or_else(|| self.sandbox.user.clone());
        ShellIsolation::Sandboxed(ShellSandbox {
            user,
            network: self.sandbox.network,
            program: self.sandbox.program.clone(),
            team: team.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(src: &str) -> PlatformConfig {
        let report = crate::platform::parse(src);
        assert!(!report.has_errors(), "{:?}", report.diagnostics);
        report.config.expect("config")
    }

    #[test]
    fn standalone_without_a_file_runs_shell_unsandboxed() {
        let c = PlatformConfig::standalone_default(4.0, 1 << 30, false);
        assert_eq!(c.shell_isolation("anyone"), ShellIsolation::Unsandboxed);
    }

    #[test]
    fn a_file_sandboxes_every_team_unless_it_opts_out() {
        let c = load(
            "[sandbox]\nuser = \"weir-task\"\nnetwork = false\n\
             [[teams]]\nname = \"alpha\"\nallow_unsandboxed_shell = true\n\
             [[teams]]\nname = \"beta\"\n\
             [[teams]]\nname = \"gamma\"\nshell_user = \"gamma-jobs\"\n",
        );
        assert_eq!(c.shell_isolation("alpha"), ShellIsolation::Unsandboxed);
        let sandboxed = |user: &str, team: &str| {
            ShellIsolation::Sandboxed(ShellSandbox {
                user: user.into(),
                network: false,
                program: "bwrap".into(),
                team: team.into(),
            })
        };
        assert_eq!(c.shell_isolation("beta"), sandboxed("weir-task", "beta"));
        assert_eq!(c.shell_isolation("gamma"), sandboxed("gamma-jobs", "gamma"));
        // A team the file does not list gets no favours.
        assert_eq!(
            c.shell_isolation("unlisted"),
            sandboxed("weir-task", "unlisted")
        );
    }

    #[test]
    fn sandbox_defaults_and_a_file_without_teams() {
        let c = load("");
        assert_eq!(
            c.shell_isolation("t"),
            ShellIsolation::Sandboxed(ShellSandbox {
                user: "nobody".into(),
                network: true,
                program: "bwrap".into(),
                team: "t".into(),
            })
        );
    }

    #[test]
    fn bad_sandbox_settings_are_reported() {
        let report = crate::platform::parse("[sandbox]\nuser = \"\"\nnetwrk = true\n");
        let text: Vec<String> = report
            .diagnostics
            .iter()
            .map(|d| d.message.clone())
            .collect();
        assert!(
            text.iter().any(|m| m.contains("`user` must name")),
            "{text:?}"
        );
        assert!(
            text.iter().any(|m| m.contains("unknown key `netwrk`")),
            "{text:?}"
        );
        let typo = crate::platform::parse("[sandbx]\n");
        assert!(
            typo.diagnostics
                .iter()
                .any(|d| d.help.as_deref() == Some("did you mean `[sandbox]`?")),
            "{:?}",
            typo.diagnostics
        );
    }
}
