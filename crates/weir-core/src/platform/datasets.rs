//! The `[datasets]` table of `weir.toml`, and the checks on the dataset prefixes teams
//! declare (`[[teams]] datasets = [...]`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::PlatformConfig;

/// The `[datasets]` table: who may post dataset events through the API. By default a
/// team's operators (and its service tokens) post events only for datasets their team
/// produces: under one of its `datasets` prefixes, or an outlet of one of its DAGs.
/// `open = true` lets any team's operator post an event for any dataset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DatasetSettings {
    /// Any team's operators may post events for any dataset (default: false).
    #[serde(default)]
    pub open: bool,
}

/// What is wrong with `prefix` on team `team`'s entry, if anything.
pub(super) fn prefix_problem(config: &PlatformConfig, team: &str, prefix: &str) -> Option<String> {
    if let Err(problem) = crate::dataset::check_uri(prefix) {
        return Some(format!("is no URI prefix: {problem}"));
    }
    if prefix.contains('*') || prefix.contains("{{") {
        return Some("holds a wildcard or a template; a prefix is plain text".into());
    }
    config
        .teams
        .iter()
        .filter(|t| t.name != team)
        .find(|t| t.datasets.iter().any(|p| p == prefix))
        .map(|other| {
            format!(
                "is also declared by team `{}`; one team owns a prefix",
                other.name
            )
        })
}

#[cfg(test)]
mod tests {
    use crate::platform::parse;

    #[test]
    fn teams_declare_dataset_prefixes_and_the_api_may_be_opened() {
        let report = parse(
            "[datasets]\nopen = true\n\n[[teams]]\nname = \"marketing\"\ndatasets = [\"s3://lake/marketing/\"]\n",
        );
        let config = report.config.expect("valid");
        assert!(config.datasets.open);
        assert_eq!(config.teams[0].datasets, ["s3://lake/marketing/"]);

        let closed = parse("").config.expect("valid");
        assert!(!closed.datasets.open);
    }

    #[test]
    fn a_bad_or_shared_prefix_is_located() {
        let report = parse(
            "[[teams]]\nname = \"a\"\ndatasets = [\"s3://lake/a/\", \"lake/b\"]\n\n[[teams]]\nname = \"b\"\ndatasets = [\"s3://lake/a/\"]\n",
        );
        assert!(report.config.is_none());
        let messages: Vec<String> = report
            .diagnostics
            .iter()
            .map(|d| format!("{}:{} {}", d.pos.line, d.pos.col, d.message))
            .collect();
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("3:") && m.contains("`lake/b` is no URI prefix")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("also declared by team `b`")),
            "{messages:?}"
        );
    }
}
