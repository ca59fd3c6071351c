//! Who may approve a team's production versions: the `approval` key of its `[[teams]]`
//! entry, written as one string (`"other_person"`, `"other_team"` or `"team:NAME"`).

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::{Deserialize, Serialize};

use crate::ids::{IdError, TeamId};

/// Who may approve a new version of a team's production DAG. The author may never
/// approve their own version, whatever the policy.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum ApprovalPolicy {
    /// Anyone else holding the team's `operator` role (or more), or a platform admin.
    #[default]
    OtherPerson,
    /// An operator of another team, or a platform admin, who is no member of this team.
    OtherTeam,
    /// An operator of the named reviewing team (platform admins do not count). Naming
    /// the team itself is allowed: then any other operator of the team approves.
    Team(TeamId),
}

/// Why a string is not an [`ApprovalPolicy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BadApprovalPolicy {
    #[error(
        "`{0}` is not an approval policy; write \"other_person\", \"other_team\" or \"team:NAME\""
    )]
    Unknown(String),
    #[error("`{value}` does not name a team: {reason}")]
    BadTeam { value: String, reason: IdError },
}

const OTHER_PERSON: &str = "other_person";
const OTHER_TEAM: &str = "other_team";
const TEAM_PREFIX: &str = "team:";

impl FromStr for ApprovalPolicy {
    type Err = BadApprovalPolicy;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            OTHER_PERSON => Ok(ApprovalPolicy::OtherPerson),
            OTHER_TEAM => Ok(ApprovalPolicy::OtherTeam),
            _ => match s.strip_prefix(TEAM_PREFIX) {
                Some(name) => TeamId::new(name)
                    .map(ApprovalPolicy::Team)
                    .map_err(|reason| BadApprovalPolicy::BadTeam {
                        value: s.to_string(),
                        reason,
                    }),
                None => Err(BadApprovalPolicy::Unknown(s.to_string())),
            },
        }
    }
}

impl fmt::Display for ApprovalPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ApprovalPolicy::OtherPerson => f.write_str(OTHER_PERSON),
            ApprovalPolicy::OtherTeam => f.write_str(OTHER_TEAM),
            ApprovalPolicy::Team(team) => write!(f, "{TEAM_PREFIX}{team}"),
        }
    }
}

// One string in the file and in JSON, so a policy reads the same in `weir.toml`, the
// API and the audit trail.
impl Serialize for ApprovalPolicy {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ApprovalPolicy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl JsonSchema for ApprovalPolicy {
    fn schema_name() -> Cow<'static, str> {
        "ApprovalPolicy".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "string",
            "description": "Who may approve the team's production versions: \"other_person\" \
                (another operator of the team, or a platform admin; the default), \
                \"other_team\" (an operator of another team, or a platform admin, who is no \
                member of this one) or \"team:NAME\" (an operator of team NAME).",
            "pattern": "^(other_person|other_team|team:[A-Za-z0-9_.-]{1,250})$",
            "default": OTHER_PERSON,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms_parse_display_and_round_trip() {
        for (text, policy) in [
            ("other_person", ApprovalPolicy::OtherPerson),
            ("other_team", ApprovalPolicy::OtherTeam),
            (
                "team:security",
                ApprovalPolicy::Team(TeamId::new("security").unwrap()),
            ),
        ] {
            assert_eq!(text.parse::<ApprovalPolicy>().as_ref(), Ok(&policy));
            assert_eq!(policy.to_string(), text);
            let json = serde_json::to_value(&policy).unwrap();
            assert_eq!(json, text);
            assert_eq!(
                serde_json::from_value::<ApprovalPolicy>(json).unwrap(),
                policy
            );
        }
        assert_eq!(ApprovalPolicy::default(), ApprovalPolicy::OtherPerson);
    }

    #[test]
    fn bad_strings_name_the_three_forms() {
        let err = "four_eyes".parse::<ApprovalPolicy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`four_eyes` is not an approval policy; write \"other_person\", \"other_team\" or \"team:NAME\""
        );
        let err = "team:".parse::<ApprovalPolicy>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "`team:` does not name a team: an id may not be empty"
        );
        assert!(matches!(
            "team:a b".parse::<ApprovalPolicy>(),
            Err(BadApprovalPolicy::BadTeam { .. })
        ));
        assert!(serde_json::from_value::<ApprovalPolicy>(serde_json::json!(3)).is_err());
        let err = serde_json::from_value::<ApprovalPolicy>(serde_json::json!("x")).unwrap_err();
        assert!(err.to_string().contains("\"team:NAME\""), "{err}");
    }

    #[test]
    fn the_schema_is_a_described_string() {
        let schema = schemars::schema_for!(ApprovalPolicy);
        let json = serde_json::to_value(&schema).unwrap();
        assert_eq!(json["type"], "string");
        assert!(
            json["description"]
                .as_str()
                .is_some_and(|d| d.contains("team:NAME")),
            "{json}"
        );
        let pattern = json["pattern"].as_str().unwrap();
        assert!(pattern.contains("other_team"), "{pattern}");
    }
}
