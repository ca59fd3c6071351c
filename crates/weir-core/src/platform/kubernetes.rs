//! The `[compute_environments.kubernetes]` table of a `kubernetes` compute environment:
//! which cluster (a kubeconfig file and context, or the service account of the pod Weir
//! runs in), which namespace and service account each team's Jobs get, and how long
//! finished Jobs are kept.
//!
//! ```toml
//! [[compute_environments]]
//! name = "k8s"
//! backend = "kubernetes"
//! max_vcpus = 64
//! max_memory = "256Gi"
//!
//! [compute_environments.kubernetes]
//! kubeconfig = "/etc/weir/kubeconfig"   # or: in_cluster = true
//! context = "batch-prod"                # default: the file's current context
//! namespace = "weir-{team}"             # the default
//! service_account = "weir-{team}"       # default: the namespace's `default`
//! ttl_seconds_after_finished = 3600     # the default
//! team_namespaces = { marketing = "mkt-batch" }
//! team_service_accounts = { marketing = "etl-runner" }
//! ```
//!
//! `{team}` in `namespace` and `service_account` is the owning team's name made a valid
//! Kubernetes name (lower case, `_` and `.` become `-`). Everything here is pure: the
//! names are decided here and the backend (weir-compute) uses them as they are.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The namespace of a team's Jobs when the settings name none.
pub const DEFAULT_NAMESPACE: &str = "weir-{team}";
/// How long a finished Job (and its pod, with its logs) stays in the cluster.
pub const DEFAULT_TTL_SECONDS_AFTER_FINISHED: u32 = 3600;
/// What `{team}` becomes for work no team owns.
const NO_TEAM: &str = "default";

/// A `kubernetes` environment's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSettings {
    /// The kubeconfig file that says where the cluster is and how to sign in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<String>,
    /// Use the service account of the pod Weir itself runs in (Weir inside the cluster).
    #[serde(default)]
    pub in_cluster: bool,
    /// The kubeconfig's context to use; default: its `current-context`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// The namespace of a team's Jobs; `{team}` is replaced by the team's name.
    #[serde(default = "default_namespace")]
    pub namespace: String,
    /// The service account a team's pods run as; `{team}` as in `namespace`. None: the
    /// namespace's `default` account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account: Option<String>,
    /// Seconds a finished Job is kept before Kubernetes deletes it (its pod and logs
    /// with it); Weir has copied the logs by then.
    #[serde(default = "default_ttl")]
    pub ttl_seconds_after_finished: u32,
    /// Per-team namespaces, over `namespace`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub team_namespaces: BTreeMap<String, String>,
    /// Per-team service accounts, over `service_account`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub team_service_accounts: BTreeMap<String, String>,
}

fn default_namespace() -> String {
    DEFAULT_NAMESPACE.to_owned()
}

fn default_ttl() -> u32 {
    DEFAULT_TTL_SECONDS_AFTER_FINISHED
}

impl Default for KubernetesSettings {
    fn default() -> Self {
        Self {
            kubeconfig: None,
            in_cluster: false,
            context: None,
            namespace: default_namespace(),
            service_account: None,
            ttl_seconds_after_finished: default_ttl(),
            team_namespaces: BTreeMap::new(),
            team_service_accounts: BTreeMap::new(),
        }
    }
}

/// One problem of the settings: the key it is about, what is wrong and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsProblem {
    pub key: &'static str,
    pub message: String,
    pub help: String,
}

impl KubernetesSettings {
    /// The namespace of `team`'s Jobs.
    pub fn namespace_for(&self, team: Option<&str>) -> String {
        match team.and_then(|t| self.team_namespaces.get(t)) {
            Some(ns) => ns.clone(),
            None => fill_team(&self.namespace, team),
        }
    }

    /// The service account `team`'s pods run as (None: the namespace's default).
    pub fn service_account_for(&self, team: Option<&str>) -> Option<String> {
        match team.and_then(|t| self.team_service_accounts.get(t)) {
            Some(sa) => Some(sa.clone()),
            None => self
                .service_account
                .as_deref()
                .map(|sa| fill_team(sa, team)),
        }
    }

    /// Every problem of the settings, with what to do about it.
    pub fn problems(&self) -> Vec<SettingsProblem> {
        let mut out = Vec::new();
        match (&self.kubeconfig, self.in_cluster) {
            (Some(_), true) => out.push(SettingsProblem {
                key: "in_cluster",
                message: "both `kubeconfig` and `in_cluster = true` say where the cluster is"
                    .into(),
                help: "keep one: `kubeconfig` for a cluster reached from outside, `in_cluster` when Weir runs in a pod of the cluster".into(),
            }),
            (None, false) => out.push(SettingsProblem {
                key: "kubeconfig",
                message: "the settings do not say which cluster to use".into(),
                help: "set `kubeconfig = \"/path/to/kubeconfig\"`, or `in_cluster = true` when Weir runs in a pod of the cluster".into(),
            }),
            (Some(path), false) if path.trim().is_empty() => out.push(SettingsProblem {
                key: "kubeconfig",
                message: "`kubeconfig` is empty".into(),
                help: "give the path of a kubeconfig file".into(),
            }),
            _ => {}
        }
        if self.in_cluster && self.context.is_some() {
            out.push(SettingsProblem {
                key: "context",
                message:
                    "`context` chooses a context of a kubeconfig file, and `in_cluster` uses none"
                        .into(),
                help: "remove `context`, or use `kubeconfig` instead of `in_cluster`".into(),
            });
        }
        if let Some(why) = template_problem(&self.namespace) {
            out.push(SettingsProblem {
                key: "namespace",
                message: format!("`namespace = \"{}\"` {why}", self.namespace),
                help: "write a Kubernetes name with at most 63 lower-case letters, digits and `-`, e.g. \"weir-{team}\"".into(),
            });
        }
        if let Some(sa) = &self.service_account
            && let Some(why) = template_problem(sa)
        {
            out.push(SettingsProblem {
                key: "service_account",
                message: format!("`service_account = \"{sa}\"` {why}"),
                help: "write a Kubernetes name, e.g. \"weir-{team}\", or leave it out for the namespace's `default` account".into(),
            });
        }
        for (key, map) in [
            ("team_namespaces", &self.team_namespaces),
            ("team_service_accounts", &self.team_service_accounts),
        ] {
            for (team, name) in map {
                if !is_dns_label(name) {
                    out.push(SettingsProblem {
                        key,
                        message: format!(
                            "`{key}` gives team `{team}` `{name}`, which is not a valid Kubernetes name"
                        ),
                        help: "use at most 63 lower-case letters, digits and `-`, starting and ending with a letter or digit".into(),
                    });
                }
            }
        }
        if self.ttl_seconds_after_finished == 0 {
            out.push(SettingsProblem {
                key: "ttl_seconds_after_finished",
                message: "`ttl_seconds_after_finished = 0` deletes a Job (and its pod's logs) the moment it finishes, before Weir can read how it ended".into(),
                help: format!("keep finished Jobs a while, e.g. {DEFAULT_TTL_SECONDS_AFTER_FINISHED} (the default)"),
            });
        }
        out
    }
}

/// `template` with `{team}` replaced by the team's name as a Kubernetes name.
fn fill_team(template: &str, team: Option<&str>) -> String {
    template.replace("{team}", &team_label(team.unwrap_or(NO_TEAM)))
}

/// A team's name as a DNS-1123 label part: lower case, other characters as `-`.
pub fn team_label(team: &str) -> String {
    let mapped: String = team
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    mapped.trim_matches('-').to_owned()
}

/// Why a name template cannot give valid names, if it cannot.
fn template_problem(template: &str) -> Option<&'static str> {
    // A long team name is cut by nothing: check with a typical one.
    let sample = template.replace("{team}", "team");
    (!is_dns_label(&sample)).then_some("does not make a valid Kubernetes name")
}

/// Whether `name` is a DNS-1123 label (a namespace's or a service account's name).
pub fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first().is_some_and(u8::is_ascii_alphanumeric)
        && bytes.last().is_some_and(u8::is_ascii_alphanumeric)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> KubernetesSettings {
        KubernetesSettings {
            kubeconfig: Some("/etc/kube".into()),
            ..KubernetesSettings::default()
        }
    }

    #[test]
    fn names_per_team() {
        let mut s = settings();
        assert!(s.problems().is_empty(), "{:?}", s.problems());
        assert_eq!(s.namespace_for(Some("data_science")), "weir-data-science");
        assert_eq!(s.namespace_for(None), "weir-default");
        assert_eq!(s.service_account_for(Some("x")), None);
        s.service_account = Some("runner-{team}".into());
        s.team_namespaces.insert("marketing".into(), "mkt".into());
        s.team_service_accounts
            .insert("marketing".into(), "etl".into());
        assert_eq!(s.namespace_for(Some("marketing")), "mkt");
        assert_eq!(
            s.service_account_for(Some("marketing")).as_deref(),
            Some("etl")
        );
        assert_eq!(
            s.service_account_for(Some("Ops")).as_deref(),
            Some("runner-ops")
        );
    }

    #[test]
    fn problems_say_what_to_do() {
        let none = KubernetesSettings::default();
        let p = none.problems();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].key, "kubeconfig");
        assert!(p[0].help.contains("in_cluster = true"));

        let mut both = settings();
        both.in_cluster = true;
        both.context = Some("c".into());
        both.namespace = "Weir_{team}".into();
        both.team_namespaces.insert("a".into(), "not valid!".into());
        both.ttl_seconds_after_finished = 0;
        let keys: Vec<&str> = both.problems().iter().map(|p| p.key).collect();
        assert_eq!(
            keys,
            [
                "in_cluster",
                "context",
                "namespace",
                "team_namespaces",
                "ttl_seconds_after_finished"
            ]
        );
        assert!(is_dns_label("weir-a1"));
        assert!(!is_dns_label("-a") && !is_dns_label("") && !is_dns_label(&"a".repeat(64)));
    }
}
