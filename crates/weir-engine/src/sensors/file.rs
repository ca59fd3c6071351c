//! `sensor: {file: path}`: whether a path exists, confined to the folders the platform
//! allows the DAG's team (`[sensors]` in `weir.toml`).
//!
//! A team must not learn anything of the server's disk outside those folders (whether
//! a key file exists, what another team's folder holds). So the rendered path is
//! checked lexically first (absolute, no `..`, under a root), then walked one component
//! at a time from the root, with `symlink_metadata`: a link is read and followed only
//! while its target stays under a root, and refused otherwise, before anything at the
//! target is looked at. Nothing outside the roots is ever stat'ed, so the answer
//! ("exists", "not yet", "refused") is the same whatever lies outside them.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use weir_core::platform::{clean_path, file_refusal};
use weir_core::sensor::Check;
use weir_store::{DagRunRecord, TaskInstanceRecord};

use super::{context, render};
use crate::dag_cache::DagVersion;
use crate::error::Result;
use crate::shared::Shared;

/// Most links followed in one path, as the kernel's limit.
const MAX_LINKS: usize = 40;

pub(super) async fn check(
    shared: &Arc<Shared>,
    run: &DagRunRecord,
    version: &DagVersion,
    ti: &TaskInstanceRecord,
    path: &str,
) -> Result<Check> {
    let ctx = match context(shared, run, version, ti).await? {
        Ok(ctx) => ctx,
        Err(failed) => return Ok(failed),
    };
    let path = match render(path, "`file`", &ctx) {
        Ok(path) => path,
        Err(failed) => return Ok(failed),
    };
    let team = version.spec.team.as_str();
    if let Some(why) = file_refusal(&shared.platform.sensors, team, &path) {
        return Ok(Check::Failed(why));
    }
    let roots: Vec<String> = shared
        .platform
        .sensors
        .file_roots_for(team)
        .into_iter()
        .map(str::to_string)
        .collect();
    let shown = path.clone();
    let looked = tokio::task::spawn_blocking(move || look(&path, &roots)).await;
    Ok(match looked {
        Ok(Ok(true)) => Check::Met(format!("`{shown}` exists")),
        Ok(Ok(false)) => Check::NotYet(format!("waiting for `{shown}` to exist")),
        Ok(Err(why)) => Check::Failed(format!("`{shown}`: {why}")),
        Err(e) => Check::NotYet(format!("cannot look for `{shown}` now: {e}")),
    })
}

/// Whether `path` exists, looking only under `roots` (see the module doc); `Err` when
/// the path leads out of them or cannot be read.
pub(crate) fn look(path: &str, roots: &[String]) -> std::result::Result<bool, String> {
    let clean = clean_path(path)?;
    // The roots as the disk has them (a root may itself be a link the platform set up).
    let roots: Vec<(PathBuf, PathBuf)> = roots
        .iter()
        .filter_map(|r| {
            let written = PathBuf::from(clean_path(r).ok()?);
            let real = std::fs::canonicalize(&written).ok()?;
            Some((written, real))
        })
        .collect();
    let under = |p: &Path| roots.iter().any(|(_, real)| p.starts_with(real));
    let outside = || "it leads out of the folders `file` sensors may look in".to_string();
    // Start at the root the path is written under, with what follows it still to walk.
    let start = |p: &Path| -> Option<(PathBuf, Vec<String>)> {
        roots.iter().find_map(|(written, real)| {
            let rest = p
                .strip_prefix(written)
                .or_else(|_| p.strip_prefix(real))
                .ok()?;
            Some((real.clone(), parts(rest)))
        })
    };
    let Some((mut current, mut pending)) = start(Path::new(&clean)) else {
        return Err(outside());
    };
    pending.reverse();
    let mut links = 0;
    while let Some(part) = pending.pop() {
        if part == ".." {
            current.pop();
            if !under(&current) {
                return Err(outside());
            }
            continue;
        }
        let next = current.join(&part);
        let meta = match std::fs::symlink_metadata(&next) {
            Ok(meta) => meta,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
            // Not a folder on the way: the path cannot exist as written.
            Err(e) if e.kind() == std::io::ErrorKind::NotADirectory => return Ok(false),
            Err(e) => return Err(format!("cannot be looked at: {e}")),
        };
        if !meta.file_type().is_symlink() {
            current = next;
            continue;
        }
        links += 1;
        if links > MAX_LINKS {
            return Err("it goes through too many links".into());
        }
        let target = std::fs::read_link(&next).map_err(|e| format!("cannot read a link: {e}"))?;
        let mut then = if target.is_absolute() {
            let Some((root, rest)) = start(&lexical(&target)) else {
                return Err(outside());
            };
            current = root;
            rest
        } else {
            parts(&target)
        };
        then.reverse();
        // The link's target is walked next, then what followed the link.
        pending.extend(then);
    }
    Ok(true)
}

/// The normal components of `p` (`..` kept, `.` and the root dropped).
fn parts(p: &Path) -> Vec<String> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect()
}

/// An absolute path with `.` and `..` resolved by text (used only to find which root an
/// absolute link target is under; the rest is walked on disk).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(s) => out.push(s),
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    #[test]
    fn looks_only_inside_the_roots() {
        let dir = tempfile::tempdir().expect("temp dir");
        let base = std::fs::canonicalize(dir.path()).expect("canonical");
        let root = base.join("landing");
        let secret = base.join("secret");
        std::fs::create_dir_all(root.join("day")).expect("mkdir");
        std::fs::create_dir_all(&secret).expect("mkdir");
        std::fs::write(root.join("day/_SUCCESS"), "").expect("write");
        std::fs::write(secret.join("key"), "k").expect("write");
        symlink(&secret, root.join("out")).expect("link");
        symlink("day", root.join("today")).expect("link");
        symlink("../secret/key", root.join("rel_out")).expect("link");
        symlink(root.join("day/_SUCCESS"), root.join("abs_in")).expect("link");
        let roots = [root.display().to_string()];
        let at = |p: &str| look(&format!("{}/{p}", root.display()), &roots);

        assert_eq!(at("day/_SUCCESS"), Ok(true));
        assert_eq!(at("day/missing"), Ok(false));
        assert_eq!(at("day/_SUCCESS/below"), Ok(false));
        assert_eq!(at("today/_SUCCESS"), Ok(true), "a link inside the root");
        assert_eq!(at("abs_in"), Ok(true), "an absolute link inside the root");
        // Out through links: refused whether or not the target exists.
        for p in ["out/key", "out/nope", "rel_out"] {
            let refused = at(p).expect_err(p);
            assert!(refused.contains("leads out"), "{p}: {refused}");
        }
        assert!(look(&secret.join("key").display().to_string(), &roots).is_err());
        assert!(
            at("../secret/key").is_err(),
            "`..` is refused before any look"
        );
    }
}
