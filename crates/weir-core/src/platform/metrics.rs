//! The `[metrics]` table of `weir.toml`: who may read `GET /metrics`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The `[metrics]` table. `GET /metrics` names every team, DAG and queue, so by default
/// only platform admins read it (with an API token or a password); `public = true` opens
/// it to anyone who reaches the server, for a Prometheus that scrapes without
/// credentials on a private network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// Serve `GET /metrics` without signing in (default: false, platform admins only).
    #[serde(default)]
    pub public: bool,
}

#[cfg(test)]
mod tests {
    use super::MetricsSettings;
    use crate::platform::parse;

    #[test]
    fn metrics_are_private_unless_the_table_says_public() {
        let read = |src: &str| parse(src).config.map(|c| c.metrics);
        assert_eq!(read(""), Some(MetricsSettings { public: false }));
        assert_eq!(read("[metrics]\n"), Some(MetricsSettings { public: false }));
        assert_eq!(
            read("[metrics]\npublic = true\n"),
            Some(MetricsSettings { public: true })
        );

        let typo = parse("[metrics]\npublc = true\n");
        assert!(typo.config.is_none());
        let d = &typo.diagnostics[0];
        assert_eq!((d.pos.line, d.pos.col), (2, 1));
        assert!(d.message.contains("unknown key `publc`"), "{}", d.message);
        assert_eq!(d.help.as_deref(), Some("did you mean `public`?"));

        let bad = parse("[metrics]\npublic = \"yes\"\n");
        assert!(bad.config.is_none());
        assert_eq!(bad.diagnostics[0].pos.line, 2);
        assert!(
            bad.diagnostics[0].message.contains("[metrics] table"),
            "{}",
            bad.diagnostics[0].message
        );

        let section = parse("[metric]\npublic = true\n");
        assert_eq!(
            section.diagnostics[0].help.as_deref(),
            Some("did you mean `[metrics]`?")
        );
    }
}
