//! The supervisor's command line: one format, written by the backend
//! ([`SupervisorArgs::to_args`]) and read back by the supervisor
//! ([`SupervisorArgs::parse`]), so the two can never drift apart.

use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{ComputeError, Result};
use crate::sandbox::Sandbox;

/// Default time between SIGTERM and SIGKILL when stopping a task.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(10);

/// The supervisor's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SupervisorArgs {
    pub try_dir: PathBuf,
    pub timeout: Option<Duration>,
    pub kill_grace: Duration,
    /// Names of environment variables whose values are masked in the log.
    pub mask_env: Vec<String>,
    /// Run the command in this sandbox (see [`crate::sandbox`]); `None`: as is.
    pub sandbox: Option<Sandbox>,
    /// Most bytes of task output the log keeps (`[logs] max_bytes_per_try`); None: all.
    pub log_max_bytes: Option<u64>,
    /// The program and its arguments, e.g. `["sh", "-c", "echo hi"]`.
    pub command: Vec<OsString>,
}

impl SupervisorArgs {
    /// Parses the arguments that follow `supervise`.
    pub fn parse<I, S>(args: I) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut args = args.into_iter().map(Into::into);
        let mut try_dir = None;
        let mut timeout = None;
        let mut kill_grace = DEFAULT_KILL_GRACE;
        let mut mask_env = Vec::new();
        let (mut user, mut program, mut team, mut network) = (None, None, None, true);
        let mut log_max_bytes = None;
        while let Some(arg) = args.next() {
            let arg = arg.to_str().map(str::to_owned).unwrap_or_default();
            let mut value = || {
                args.next()
                    .ok_or_else(|| ComputeError::Usage(format!("{arg} needs a value")))
            };
            match arg.as_str() {
                "--try-dir" => try_dir = Some(PathBuf::from(value()?)),
                "--timeout-ms" => timeout = Some(Duration::from_millis(millis(&value()?)?)),
                "--grace-ms" => kill_grace = Duration::from_millis(millis(&value()?)?),
                "--mask-env" => mask_env.push(value()?.to_string_lossy().into_owned()),
                "--sandbox-user" => user = Some(value()?.to_string_lossy().into_owned()),
                "--sandbox-program" => program = Some(value()?.to_string_lossy().into_owned()),
                "--sandbox-team" => team = Some(value()?.to_string_lossy().into_owned()),
                "--sandbox-no-network" => network = false,
                "--log-max-bytes" => log_max_bytes = Some(number(&value()?, "bytes")?),
                "--" => break,
                other => {
                    return Err(ComputeError::Usage(format!(
                        "unexpected argument `{other}`; usage: supervise --try-dir DIR \
                         [--timeout-ms N] [--grace-ms N] [--mask-env NAME]... \
                         [--sandbox-user USER [--sandbox-program BWRAP] [--sandbox-team TEAM] \
                         [--sandbox-no-network]] [--log-max-bytes N] -- COMMAND..."
                    )));
                }
            }
        }
        let command: Vec<OsString> = args.collect();
        let try_dir = try_dir.ok_or_else(|| ComputeError::Usage("--try-dir is required".into()))?;
        if command.is_empty() {
            return Err(ComputeError::Usage("no command after `--`".into()));
        }
        let sandbox = match user {
            Some(user) => Some(Sandbox {
                user,
                network,
                program: program
                    .unwrap_or_else(|| weir_core::platform::DEFAULT_SANDBOX_PROGRAM.into()),
                team: team.unwrap_or_default(),
            }),
            None if program.is_some() || team.is_some() || !network => {
                return Err(ComputeError::Usage(
                    "the --sandbox-* options need --sandbox-user".into(),
                ));
            }
            None => None,
        };
        Ok(Self {
            try_dir,
            timeout,
            kill_grace,
            mask_env,
            sandbox,
            log_max_bytes,
            command,
        })
    }

    /// The arguments [`SupervisorArgs::parse`] reads back; the backend appends them to
    /// `weir supervise`.
    pub fn to_args(&self) -> Vec<OsString> {
        let mut out: Vec<OsString> = vec!["--try-dir".into(), self.try_dir.clone().into()];
        if let Some(timeout) = self.timeout {
            out.push("--timeout-ms".into());
            out.push(timeout.as_millis().to_string().into());
        }
        out.push("--grace-ms".into());
        out.push(self.kill_grace.as_millis().to_string().into());
        for name in &self.mask_env {
            out.push("--mask-env".into());
            out.push(name.into());
        }
        if let Some(sandbox) = &self.sandbox {
            for (flag, value) in [
                ("--sandbox-user", &sandbox.user),
                ("--sandbox-program", &sandbox.program),
                ("--sandbox-team", &sandbox.team),
            ] {
                out.push(flag.into());
                out.push(value.into());
            }
            if !sandbox.network {
                out.push("--sandbox-no-network".into());
            }
        }
        if let Some(max) = self.log_max_bytes {
            out.push("--log-max-bytes".into());
            out.push(max.to_string().into());
        }
        out.push("--".into());
        out.extend(self.command.iter().cloned());
        out
    }
}

fn millis(value: &OsStr) -> Result<u64> {
    number(value, "ms")
}

fn number(value: &OsStr, unit: &str) -> Result<u64> {
    value.to_str().and_then(|v| v.parse().ok()).ok_or_else(|| {
        ComputeError::Usage(format!("`{}` is not a number of {unit}", value.display()))
    })
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn args_round_trip() {
        let args = SupervisorArgs {
            try_dir: "/tmp/t r y".into(),
            timeout: Some(Duration::from_millis(1500)),
            kill_grace: Duration::from_millis(250),
            mask_env: vec!["PW".into(), "TOKEN".into()],
            sandbox: Some(Sandbox {
                user: "nobody".into(),
                network: false,
                program: "/usr/bin/bwrap".into(),
                team: "beta".into(),
            }),
            log_max_bytes: Some(1 << 20),
            command: vec!["sh".into(), "-c".into(), "echo -- --try-dir".into()],
        };
        assert_eq!(SupervisorArgs::parse(args.to_args()).expect("parse"), args);
        let minimal = SupervisorArgs::parse(["--try-dir", "d", "--", "true"]).expect("parse");
        assert_eq!(minimal.timeout, None);
        assert_eq!(minimal.kill_grace, DEFAULT_KILL_GRACE);
        assert_eq!(minimal.try_dir, Path::new("d"));
        assert_eq!(minimal.sandbox, None);
        assert_eq!(minimal.log_max_bytes, None);
    }

    #[test]
    fn bad_args_are_usage_errors() {
        for bad in [
            &["--", "true"][..],
            &["--try-dir", "d"],
            &["--try-dir", "d", "--timeout-ms", "soon", "--", "true"],
            &["--try-dir", "d", "--log-max-bytes", "1Mi", "--", "true"],
            &["--try-dir"],
            &["--frobnicate", "--", "true"],
            &["--try-dir", "d", "--sandbox-no-network", "--", "true"],
        ] {
            let err = SupervisorArgs::parse(bad.iter().copied()).expect_err("must fail");
            assert!(matches!(err, ComputeError::Usage(_)), "{bad:?}: {err}");
        }
        assert_eq!(crate::supervisor::main(["--nope"], Vec::new()), 2);
    }
}
