//! Which DAG files may declare which team: `[[teams]] paths` in `weir.toml`, read like a
//! CODEOWNERS entry, so a file cannot borrow another team's privileges (its images, its
//! privileged containers) just by writing `team: platform`.

use std::path::Path;

use super::PlatformConfig;

/// `path` relative to the DAG folder `dir`, `/`-separated: the form `[[teams]] paths`
/// are written in. A path outside `dir` is given whole.
pub fn relative_to_dag_folder(path: &Path, dir: &Path) -> String {
    let rel = path.strip_prefix(dir).unwrap_or(path);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

impl PlatformConfig {
    /// Whether the DAG file at `rel_path` (relative to the DAG folder, `/`-separated) may
    /// declare `team`. A team without `paths` (or not listed) may be declared anywhere;
    /// the error names the file, the team and where its files must live.
    pub fn team_declared_at(&self, team: &str, rel_path: &str) -> Result<(), String> {
        self.team_may_own(team, rel_path).map_err(|paths| {
            format!(
                "`team: {team}` is declared in {rel_path}, but team {team}'s DAGs must live under {paths} (weir.toml [[teams]] paths)"
            )
        })
    }

    /// The same rule for a job definition file at `rel_path` (relative to the job
    /// definitions folder): a job definition runs with its team's images and secrets, so
    /// a file outside the team's folders may not claim it.
    pub fn job_declared_at(&self, team: &str, rel_path: &str) -> Result<(), String> {
        self.team_may_own(team, rel_path).map_err(|paths| {
            format!(
                "`team: {team}` is declared in the job definition {rel_path}, but team {team}'s job definitions must live under {paths} of the jobs folder (weir.toml [[teams]] paths)"
            )
        })
    }

    /// Whether a file at `rel_path` may belong to `team`; otherwise the team's `paths`,
    /// joined for a message.
    fn team_may_own(&self, team: &str, rel_path: &str) -> Result<(), String> {
        let Some(t) = self.team(team) else {
            return Ok(());
        };
        if t.paths.is_empty() || t.paths.iter().any(|p| path_is_under(p, rel_path)) {
            return Ok(());
        }
        Err(t.paths.join(" or "))
    }
}

/// Whether `rel_path` is `entry` or lies inside it, comparing whole path components:
/// `marketing/` holds `marketing/a.yaml` but not `marketing-x/a.yaml`.
pub fn path_is_under(entry: &str, rel_path: &str) -> bool {
    let entry = components(entry);
    let path = components(rel_path);
    !entry.is_empty() && path.len() >= entry.len() && path[..entry.len()] == entry[..]
}

fn components(path: &str) -> Vec<&str> {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect()
}

/// What is wrong with a `paths` entry, if anything (for the config's validation).
pub(super) fn path_entry_problem(entry: &str) -> Option<&'static str> {
    if components(entry).is_empty() {
        Some("is empty")
    } else if entry.starts_with('/') {
        Some("is absolute; paths are relative to the DAG folder")
    } else if entry.contains('\\') {
        Some("holds `\\`; separate folders with `/`")
    } else if entry.contains(['*', '?', '[']) {
        Some(
            "holds a glob character; a path names a folder (or a file) and matches what is under it",
        )
    } else if entry.split('/').any(|c| c == "..") {
        Some("holds `..`; paths stay inside the DAG folder")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::parse;

    fn config(src: &str) -> PlatformConfig {
        let report = parse(src);
        assert!(!report.has_errors(), "{}", report.render("weir.toml", src));
        report.config.expect("a config")
    }

    const TEAMS: &str = r#"
[[teams]]
name = "platform"
image_prefixes = ["*"]
allow_privileged = true
paths = ["platform/", "shared/platform.yaml"]

[[teams]]
name = "marketing"
image_prefixes = ["reg/marketing/"]
"#;

    #[test]
    fn a_team_with_paths_is_declared_only_under_them() {
        let c = config(TEAMS);
        assert_eq!(c.team_declared_at("platform", "platform/a.yaml"), Ok(()));
        assert_eq!(
            c.team_declared_at("platform", "platform/deep/b.yml"),
            Ok(())
        );
        assert_eq!(
            c.team_declared_at("platform", "shared/platform.yaml"),
            Ok(())
        );
        assert_eq!(
            c.team_declared_at("platform", "x.yaml"),
            Err("`team: platform` is declared in x.yaml, but team platform's DAGs must live under platform/ or shared/platform.yaml (weir.toml [[teams]] paths)".to_string())
        );
        // Whole components: a look-alike folder or file is not the team's.
        assert!(c.team_declared_at("platform", "platform-x/a.yaml").is_err());
        assert!(
            c.team_declared_at("platform", "shared/platform.yaml2")
                .is_err()
        );
        assert!(
            c.team_declared_at("platform", "marketing/platform/a.yaml")
                .is_err()
        );
    }

    #[test]
    fn a_team_without_paths_or_not_listed_is_declared_anywhere() {
        let c = config(TEAMS);
        assert_eq!(c.team_declared_at("marketing", "platform/a.yaml"), Ok(()));
        assert_eq!(c.team_declared_at("nobody", "a/b.yaml"), Ok(()));
    }

    #[test]
    fn path_entries_match_by_component() {
        assert!(path_is_under("a/", "a/b.yaml"));
        assert!(path_is_under("a", "a/b.yaml"));
        assert!(path_is_under("./a//b/", "a/b/c.yaml"));
        assert!(!path_is_under("a/b", "a/bc.yaml"));
        assert!(!path_is_under("", "a.yaml"));
        assert!(!path_is_under("a/b/", "a"));
    }

    #[test]
    fn bad_path_entries_are_config_errors() {
        let src = |p: &str| format!("[[teams]]\nname = \"t\"\npaths = [{p:?}]\n");
        for (entry, problem) in [
            ("", "is empty"),
            ("/srv/dags/t", "is absolute"),
            ("t/*.yaml", "glob"),
            ("../other", "`..`"),
            ("t\\x", "`\\`"),
        ] {
            let report = parse(&src(entry));
            assert!(report.has_errors(), "{entry:?} was accepted");
            let text = report.render("weir.toml", &src(entry));
            assert!(text.contains(problem), "{entry:?}: {text}");
            assert!(text.contains("weir.toml:3:"), "{entry:?}: {text}");
        }
        assert!(!parse(&src("t/")).has_errors());
    }
}
