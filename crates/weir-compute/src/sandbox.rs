//! The shell sandbox: how the supervisor wraps a task's `sh -c` in Debian's bubblewrap
//! (`bwrap`), so a task of one team cannot reach Weir's database, other tries' folders,
//! the server's processes or its environment.
//!
//! Inside the sandbox the task sees:
//! - the system folders read-only (`/usr`, `/bin`, `/sbin`, `/lib*`, `/etc`, `/opt`),
//!   never `/` itself; Weir's home is not mounted at all (and when it lies under one of
//!   those system folders, an empty tmpfs hides it);
//! - its own work folder, writable, at [`SANDBOX_WORK`] (its `cwd` and `HOME`), and its
//!   XCom file at [`SANDBOX_XCOM`] (`$WEIR_XCOM` points there);
//! - a private `/tmp`, a new `/proc` (new pid namespace: no other process is visible), a
//!   minimal `/dev`, and the network unless `[sandbox] network = false`.
//!
//! The user: when the supervisor runs as root, `bwrap` runs as root (it needs to, to bind
//! folders of the root-only Weir home) and the task is started through util-linux's
//! `setpriv`, which switches to the sandbox user's uid and gid, clears supplementary
//! groups, drops every capability and sets no-new-privs before `exec`. The task is then
//! that user for real (not only inside a user namespace), so it cannot read what root
//! owns. Running `bwrap` itself as the unprivileged user is not possible here: it could
//! not reach the work folder inside the 0700 home to bind it. When the supervisor is not
//! root it cannot switch users: `bwrap` runs unprivileged (in a user namespace) as the
//! server's user, and the mount namespace still hides Weir's home.
//!
//! The environment: the supervisor gives `bwrap` (and so the task) exactly the task's
//! environment (`env_clear` plus the computed variables), which is what `--clearenv`
//! with `--setenv` would do, without putting secret values on a command line that every
//! local user can read in `/proc/<pid>/cmdline`.
//!
//! Exit codes: `bwrap` exits with the task's code; a task killed by a signal is reported
//! by `bwrap` as `128 + signal` (the shell's convention), so an unsandboxed
//! `Signalled(9)` is `Exited` with code 137 in the sandbox.

use std::ffi::{OsStr, OsString};
use std::fs;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::unistd::{Gid, Uid, User, chown};

use crate::process::DEFAULT_PATH;

/// Where the task's work folder is mounted inside the sandbox.
pub const SANDBOX_WORK: &str = "/weir/work";
/// Where the task's XCom file is mounted inside the sandbox.
pub const SANDBOX_XCOM: &str = "/weir/xcom.json";

/// System folders mounted read-only when they exist (a symlink, as `/bin` on merged-usr
/// systems, is recreated as the same symlink).
const SYSTEM_DIRS: &[&str] = &[
    "/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/etc", "/opt",
];

/// Where util-linux's `setpriv` may be.
const SETPRIV: &[&str] = &["/usr/bin/setpriv", "/bin/setpriv"];

/// How one try's `shell` task is sandboxed: the platform policy's decision
/// ([`weir_core::platform::PlatformConfig::shell_isolation`]), as it is.
pub use weir_core::platform::ShellSandbox as Sandbox;

/// The message a try fails with when `sandbox` cannot be set up.
fn cannot_start(sandbox: &Sandbox, why: impl std::fmt::Display) -> String {
    format!(
        "the shell sandbox could not start: {why}; or, to run team `{team}`'s shell \
             tasks without the sandbox (as the server's own user, with access to Weir's \
             database), set `allow_unsandboxed_shell = true` for team `{team}` in weir.toml",
        team = sandbox.team
    )
}

/// Prepares the try's work folder and XCom file for the sandbox user and builds the
/// command that runs `command` (the task's argv) in the sandbox. `env` is the task's
/// environment as the supervisor received it. Errors are the try's launch failure.
pub(crate) fn command(
    sandbox: &Sandbox,
    try_dir: &Path,
    command: &[OsString],
    env: Vec<(OsString, OsString)>,
) -> Result<Command, String> {
    let search_path = env
        .iter()
        .find(|(name, _)| name == "PATH")
        .map(|(_, value)| value.as_os_str());
    let program = resolve_program(&sandbox.program, search_path).ok_or_else(|| {
        cannot_start(
            sandbox,
            format_args!(
                "`{}` was not found; install Debian's `bubblewrap` package (or set \
                 `[sandbox] program` to where `bwrap` is)",
                sandbox.program
            ),
        )
    })?;
    // Only root can switch users; anyone else runs the sandbox as themselves.
    let switch_to = if Uid::effective().is_root() {
        match User::from_name(&sandbox.user) {
            Ok(Some(user)) => Some((user.uid, user.gid)),
            Ok(None) => {
                return Err(cannot_start(
                    sandbox,
                    format_args!(
                        "the OS user `{}` does not exist on this host; create it (e.g. \
                         `useradd --system --no-create-home {}`), or set `[sandbox] user` \
                         or the team's `shell_user` to an existing one",
                        sandbox.user, sandbox.user
                    ),
                ));
            }
            Err(e) => {
                return Err(cannot_start(
                    sandbox,
                    format_args!("cannot look up the OS user `{}`: {e}", sandbox.user),
                ));
            }
        }
    } else {
        None
    };
    let setpriv = match switch_to {
        Some(_) => Some(
            SETPRIV
                .iter()
                .map(Path::new)
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    cannot_start(
                        sandbox,
                        "util-linux's `setpriv` (to switch to the sandbox user) was not \
                             found in /usr/bin or /bin",
                    )
                })?,
        ),
        None => None,
    };
    let (work, xcom) = prepare_folder(try_dir, switch_to).map_err(|e| cannot_start(sandbox, e))?;

    let mut cmd = Command::new(program);
    cmd.args(["--unshare-pid", "--unshare-ipc", "--unshare-uts"]);
    if !sandbox.network {
        cmd.arg("--unshare-net");
    }
    let mut hide = None;
    for dir in SYSTEM_DIRS {
        let path = Path::new(dir);
        match fs::symlink_metadata(path) {
            Ok(meta) if meta.file_type().is_symlink() => {
                if let Ok(target) = fs::read_link(path) {
                    cmd.arg("--symlink").arg(target).arg(path);
                }
            }
            Ok(meta) if meta.is_dir() => {
                cmd.arg("--ro-bind").arg(path).arg(path);
                // Weir's home under a system folder (e.g. /opt/weir) is hidden.
                if let Ok(rest) = try_dir.strip_prefix(path)
                    && let Some(first) = rest.components().next()
                {
                    hide = Some(path.join(first));
                }
            }
            _ => {}
        }
    }
    if let Some(hidden) = hide {
        cmd.arg("--tmpfs").arg(hidden);
    }
    cmd.args(["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]);
    cmd.args(["--perms", "0755", "--dir", "/weir"]);
    cmd.arg("--bind").arg(&work).arg(SANDBOX_WORK);
    cmd.arg("--bind").arg(&xcom).arg(SANDBOX_XCOM);
    cmd.args(["--chdir", SANDBOX_WORK, "--"]);
    if let (Some(setpriv), Some((uid, gid))) = (setpriv, switch_to) {
        cmd.arg(setpriv)
            .arg(format!("--reuid={uid}"))
            .arg(format!("--regid={gid}"))
            .args([
                "--clear-groups",
                "--inh-caps=-all",
                "--bounding-set=-all",
                "--no-new-privs",
                "--",
            ]);
    }
    cmd.args(command);

    cmd.env_clear();
    let mut has_path = false;
    for (name, value) in env {
        let value = match name.to_str() {
            // Paths of the host that mean nothing (or too much) inside.
            Some("HOME" | "TMPDIR" | "USER" | "LOGNAME" | "PWD" | "OLDPWD" | "WEIR_XCOM") => {
                continue;
            }
            Some("PATH") => {
                has_path = true;
                value
            }
            _ => value,
        };
        cmd.env(name, value);
    }
    if !has_path {
        cmd.env("PATH", DEFAULT_PATH);
    }
    cmd.env("HOME", SANDBOX_WORK)
        .env("TMPDIR", "/tmp")
        .env("WEIR_XCOM", SANDBOX_XCOM);
    if switch_to.is_some() {
        cmd.env("USER", &sandbox.user).env("LOGNAME", &sandbox.user);
    }
    Ok(cmd)
}

/// Creates the work folder (0700) and an empty XCom file (0600), owned by the sandbox
/// user when switching to one.
fn prepare_folder(try_dir: &Path, owner: Option<(Uid, Gid)>) -> Result<(PathBuf, PathBuf), String> {
    let work = try_dir.join(crate::layout::WORK);
    let xcom = try_dir.join(crate::layout::XCOM);
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&work)
        .map_err(|e| format!("cannot create {}: {e}", work.display()))?;
    fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        // The try folder is not the task's to write, so this is no symlink of its making;
        // refuse one anyway rather than chown what it points at.
        .custom_flags(nix::libc::O_NOFOLLOW)
        .open(&xcom)
        .map_err(|e| format!("cannot create {}: {e}", xcom.display()))?;
    if let Some((uid, gid)) = owner {
        for path in [&work, &xcom] {
            chown(path, Some(uid), Some(gid))
                .map_err(|e| format!("cannot hand {} to the sandbox user: {e}", path.display()))?;
        }
    }
    Ok((work, xcom))
}

/// The program's path: as given when it holds a `/`, else the first match on
/// `search_path` (a `PATH` value; None: the default one).
pub(crate) fn resolve_program(program: &str, search_path: Option<&OsStr>) -> Option<PathBuf> {
    if program.contains('/') {
        let path = PathBuf::from(program);
        return path.is_file().then_some(path);
    }
    let path = search_path.unwrap_or(OsStr::new(DEFAULT_PATH));
    std::env::split_paths(path)
        .map(|dir| dir.join(program))
        .find(|candidate| candidate.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sandbox(program: &str, user: &str) -> Sandbox {
        Sandbox {
            user: user.into(),
            network: true,
            program: program.into(),
            team: "beta".into(),
        }
    }

    #[test]
    fn a_missing_program_names_the_package_and_the_opt_out() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = command(
            &sandbox("/nonexistent/bwrap", "nobody"),
            dir.path(),
            &["true".into()],
            Vec::new(),
        )
        .expect_err("must fail");
        assert!(err.contains("`/nonexistent/bwrap` was not found"), "{err}");
        assert!(err.contains("bubblewrap"), "{err}");
        assert!(
            err.contains("allow_unsandboxed_shell = true` for team `beta`"),
            "{err}"
        );
    }

    #[test]
    fn programs_resolve_on_path_or_as_paths() {
        assert!(resolve_program("sh", None).is_some());
        assert!(resolve_program("/bin/sh", None).is_some());
        assert!(resolve_program("no-such-program-anywhere", None).is_none());
        assert!(resolve_program("sh", Some(OsStr::new("/nonexistent"))).is_none());
    }
}
