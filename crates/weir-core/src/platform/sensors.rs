//! The `[sensors]` table of `weir.toml`: which folders `file` sensors may look in.
//!
//! A `file` sensor tells its team whether a path exists, so an unchecked one would let
//! any team probe the server's disk (a key file, another team's folder). Without this
//! table `file` sensors are refused; with it, a team's sensor may only name paths under
//! `file_roots` (every team's) or its own entry in `[sensors.team_file_roots]`, and the
//! engine resolves links without ever looking outside those folders.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `[sensors]` table.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SensorSettings {
    /// Absolute folders every team's `file` sensors may look in.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub file_roots: Vec<String>,
    /// Absolute folders one team's `file` sensors may look in, by team.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub team_file_roots: BTreeMap<String, Vec<String>>,
}

/// The setting to name in messages that refuse a `file` sensor.
pub const FILE_ROOTS_SETTING: &str =
    "`[sensors] file_roots = [\"/data/landing\"]` (or `[sensors.team_file_roots]`) in weir.toml";

impl SensorSettings {
    /// The folders `team`'s `file` sensors may look in; empty: none.
    pub fn file_roots_for(&self, team: &str) -> Vec<&str> {
        self.file_roots
            .iter()
            .chain(self.team_file_roots.get(team).into_iter().flatten())
            .map(String::as_str)
            .collect()
    }

    /// What is wrong with the table: roots that are not absolute, or that climb out
    /// with `..`.
    pub fn problems(&self) -> Vec<String> {
        self.file_roots
            .iter()
            .chain(self.team_file_roots.values().flatten())
            .filter(|root| !root.starts_with('/') || root.split('/').any(|part| part == ".."))
            .map(|root| {
                format!("file root `{root}` must be an absolute path without `..` components")
            })
            .collect()
    }
}

/// Whether `path` (absolute, without `.` or `..` components) is `root` or under it.
pub fn lexically_under(path: &str, root: &str) -> bool {
    let root = root.trim_end_matches('/');
    root.is_empty() || path == root || path.strip_prefix(root).is_some_and(|r| r.starts_with('/'))
}

/// `path` with `.` and empty components dropped, or why it is refused: not absolute, or
/// with a `..` component (a sensor names its file plainly, it never climbs).
pub fn clean_path(path: &str) -> Result<String, String> {
    if !path.starts_with('/') {
        return Err(format!("`{path}` is not an absolute path"));
    }
    let mut out = String::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err(format!("`{path}` climbs with `..`: name the file plainly")),
            part => {
                out.push('/');
                out.push_str(part);
            }
        }
    }
    if out.is_empty() {
        out.push('/');
    }
    Ok(out)
}

/// Why `team`'s `file` sensor may not look at `path` (rendered), if it may not: no
/// roots for the team, a path that is not clean, or one outside every root. Lexical
/// only: the engine also resolves links, within the roots.
pub fn file_refusal(settings: &SensorSettings, team: &str, path: &str) -> Option<String> {
    let roots = settings.file_roots_for(team);
    if roots.is_empty() {
        return Some(format!(
            "`file` sensors are not allowed for team `{team}` on this platform: the platform team adds {FILE_ROOTS_SETTING}"
        ));
    }
    let clean = match clean_path(path) {
        Ok(clean) => clean,
        Err(why) => return Some(why),
    };
    if roots.iter().any(|root| lexically_under(&clean, root)) {
        None
    } else {
        Some(format!(
            "`{path}` is outside the folders team `{team}`'s `file` sensors may look in ({}); ask the platform team to add a folder to {FILE_ROOTS_SETTING}",
            roots.join(", ")
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::parse;

    #[test]
    fn roots_are_read_per_team_and_checked() {
        let config = parse(
            "[sensors]\nfile_roots = [\"/data/shared\"]\n[sensors.team_file_roots]\nmarketing = [\"/data/marketing\"]\n",
        )
        .config
        .expect("valid");
        assert_eq!(
            config.sensors.file_roots_for("marketing"),
            ["/data/shared", "/data/marketing"]
        );
        assert_eq!(config.sensors.file_roots_for("finance"), ["/data/shared"]);
        assert!(
            parse("")
                .config
                .expect("valid")
                .sensors
                .file_roots_for("t")
                .is_empty()
        );

        let bad = parse("[sensors]\nfile_roots = [\"data\", \"/a/../etc\"]\n");
        assert!(bad.config.is_none());
        assert_eq!(bad.diagnostics.len(), 2, "{:?}", bad.diagnostics);
        assert!(
            bad.diagnostics[0]
                .message
                .contains("`data` must be an absolute path")
        );

        let typo = parse("[sensors]\nfile_root = [\"/x\"]\n");
        assert_eq!(
            typo.diagnostics[0].help.as_deref(),
            Some("did you mean `file_roots`?")
        );
    }

    #[test]
    fn paths_are_cleaned_and_refused_outside_the_roots() {
        assert_eq!(clean_path("/data//x/./y/").as_deref(), Ok("/data/x/y"));
        assert!(clean_path("/data/../etc/passwd").is_err());
        assert!(clean_path("data/x").is_err());
        let settings = SensorSettings {
            file_roots: vec!["/data/landing".into()],
            team_file_roots: BTreeMap::from([("m".into(), vec!["/data/m".into()])]),
        };
        assert_eq!(file_refusal(&settings, "m", "/data/m/x/_SUCCESS"), None);
        assert_eq!(file_refusal(&settings, "t", "/data/landing/x"), None);
        let other_team = file_refusal(&settings, "t", "/data/m/x").expect("refused");
        assert!(
            other_team.contains("outside the folders team `t`"),
            "{other_team}"
        );
        assert!(file_refusal(&settings, "t", "/data/landing/../m/x").is_some());
        let none = file_refusal(&SensorSettings::default(), "t", "/data/x").expect("refused");
        assert!(none.contains("[sensors] file_roots"), "{none}");
    }

    #[test]
    fn under_a_root() {
        assert!(lexically_under("/data/x/y", "/data/x"));
        assert!(lexically_under("/data/x", "/data/x/"));
        assert!(!lexically_under("/data/xy", "/data/x"));
        assert!(!lexically_under("/etc", "/data"));
        assert!(lexically_under("/anything", "/"));
    }
}
