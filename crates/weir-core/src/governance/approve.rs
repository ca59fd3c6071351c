//! The one rule that says whether a reviewer may approve a production DAG version.
//!
//! The rules, in the order they are checked (the first that refuses answers):
//!
//! 1. A service account token never approves: four eyes means two people.
//! 2. The author never approves their own version, platform admins included, nor does
//!    whoever committed it (the merger). An author
//!    whose commit maps to no Weir user cannot be matched, so any eligible person may
//!    approve their version; the approver is always a real Weir user (a signed-in
//!    caller that is no service account).
//! 3. The team's [`ApprovalPolicy`]:
//!    - `other_person`: the team's `operator` role or more, or a platform admin;
//!    - `other_team`: no role at all in the team, and `operator` or more in another
//!      team, or a platform admin;
//!    - `team:R`: `operator` or more in team `R` itself; being a platform admin does not
//!      count, since the point of naming a team is that its people look.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::ApprovalPolicy;
use crate::access::{Caller, CallerKind, TeamRole};
use crate::ids::TeamId;

/// Who wrote a version: from the commit (name, e-mail) and the Weir user it maps to.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct VersionAuthor {
    /// The commit author's name, as Git recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The commit author's e-mail, as Git recorded it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// The Weir user the author maps to, when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// The Weir user the commit's committer maps to (whoever merged it), when one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub committer_user: Option<String>,
}

/// Why a reviewer may not approve a version. The text is what the API answers with
/// its 403.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalRefusal {
    #[error("approvals are given by a person, not a service account token")]
    ServiceAccount,
    #[error("you authored this version")]
    OwnVersion,
    #[error("you committed this version: a second person approves it")]
    OwnCommit,
    #[error("approving team `{team}`'s versions needs its `operator` role or a platform admin")]
    NotTeamOperator { team: TeamId },
    #[error("the approver must be outside team `{team}`")]
    MemberOfTeam { team: TeamId },
    #[error("the approver must be an operator of another team")]
    NotOperatorElsewhere,
    #[error("the approver must be an operator of the reviewing team `{reviewers}`")]
    NotReviewer { reviewers: TeamId },
}

/// Whether `reviewer` may approve a version of a DAG of `team`, written by `author`,
/// under `policy`. See the module docs for the rules.
pub fn may_approve(
    policy: &ApprovalPolicy,
    team: &TeamId,
    author: &VersionAuthor,
    reviewer: &Caller,
) -> Result<(), ApprovalRefusal> {
    if reviewer.kind == CallerKind::ServiceAccount {
        return Err(ApprovalRefusal::ServiceAccount);
    }
    if author.user.as_deref() == Some(reviewer.name.as_str()) {
        return Err(ApprovalRefusal::OwnVersion);
    }
    if author.committer_user.as_deref() == Some(reviewer.name.as_str()) {
        return Err(ApprovalRefusal::OwnCommit);
    }
    match policy {
        ApprovalPolicy::OtherPerson => {
            if !reviewer.has(team, TeamRole::Operator) {
                return Err(ApprovalRefusal::NotTeamOperator { team: team.clone() });
            }
        }
        ApprovalPolicy::OtherTeam => {
            if reviewer.role_in(team).is_some() {
                return Err(ApprovalRefusal::MemberOfTeam { team: team.clone() });
            }
            // Not a member of `team`, so any team it operates is another one.
            let operates_elsewhere = reviewer.teams_with(TeamRole::Operator).next().is_some();
            if !(reviewer.platform_admin || operates_elsewhere) {
                return Err(ApprovalRefusal::NotOperatorElsewhere);
            }
        }
        ApprovalPolicy::Team(reviewers) => {
            if reviewer
                .role_in(reviewers)
                .is_none_or(|r| r < TeamRole::Operator)
            {
                return Err(ApprovalRefusal::NotReviewer {
                    reviewers: reviewers.clone(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person(name: &str, platform_admin: bool, teams: &[(&str, TeamRole)]) -> Caller {
        Caller {
            name: name.into(),
            kind: CallerKind::User,
            platform_admin,
            teams: teams.iter().map(|(t, r)| ((*t).to_string(), *r)).collect(),
        }
    }

    fn by(user: Option<&str>) -> VersionAuthor {
        VersionAuthor {
            name: Some("Ann Author".into()),
            email: Some("ann@example.com".into()),
            user: user.map(Into::into),
            committer_user: None,
        }
    }

    #[test]
    fn whoever_committed_a_version_does_not_approve_it_either() {
        let merged_by_carl = VersionAuthor {
            committer_user: Some("carl".into()),
            ..by(Some("ann"))
        };
        let policy = ApprovalPolicy::OtherPerson;
        let carl = person("carl", true, &[]);
        assert_eq!(
            may_approve(&policy, &team("marketing"), &merged_by_carl, &carl),
            Err(ApprovalRefusal::OwnCommit)
        );
        let dora = person("dora", false, &[("marketing", TeamRole::Operator)]);
        assert_eq!(
            may_approve(&policy, &team("marketing"), &merged_by_carl, &dora),
            Ok(())
        );
    }

    fn team(name: &str) -> TeamId {
        TeamId::new(name).unwrap()
    }

    #[test]
    fn every_rule_allows_or_refuses_with_its_sentence() {
        use TeamRole::{Admin, Operator, Viewer};
        let mkt = "marketing";
        let other_person = ApprovalPolicy::OtherPerson;
        let other_team = ApprovalPolicy::OtherTeam;
        let security = ApprovalPolicy::Team(team("security"));
        let own_team = ApprovalPolicy::Team(team(mkt));
        let mut sso = person("sam", false, &[(mkt, Operator)]);
        sso.kind = CallerKind::SsoUser;
        let mut robot = person("marketing:deploy", true, &[(mkt, Admin)]);
        robot.kind = CallerKind::ServiceAccount;

        let ok = "";
        let rows: Vec<(&str, &ApprovalPolicy, Option<&str>, Caller, &str)> = vec![
            // (case, policy, author's user, reviewer, refusal or "" for allowed)
            (
                "a service account never approves",
                &other_person,
                Some("ann"),
                robot.clone(),
                "approvals are given by a person, not a service account token",
            ),
            (
                "even an unmapped author's version",
                &other_team,
                None,
                robot,
                "approvals are given by a person, not a service account token",
            ),
            (
                "the author may not approve",
                &other_person,
                Some("ann"),
                person("ann", false, &[(mkt, Admin)]),
                "you authored this version",
            ),
            (
                "not even a platform admin",
                &other_person,
                Some("ann"),
                person("ann", true, &[]),
                "you authored this version",
            ),
            (
                "nor under other_team",
                &other_team,
                Some("ann"),
                person("ann", true, &[]),
                "you authored this version",
            ),
            (
                "nor as the reviewing team",
                &security,
                Some("ann"),
                person("ann", false, &[("security", Admin)]),
                "you authored this version",
            ),
            (
                "another operator approves",
                &other_person,
                Some("ann"),
                person("olga", false, &[(mkt, Operator)]),
                ok,
            ),
            (
                "an SSO user is a person",
                &other_person,
                Some("ann"),
                sso,
                ok,
            ),
            (
                "another admin approves",
                &other_person,
                Some("ann"),
                person("ada", false, &[(mkt, Admin)]),
                ok,
            ),
            (
                "a platform admin approves",
                &other_person,
                Some("ann"),
                person("root", true, &[]),
                ok,
            ),
            (
                "an unmapped author's version",
                &other_person,
                None,
                person("olga", false, &[(mkt, Operator)]),
                ok,
            ),
            (
                "a viewer may not",
                &other_person,
                Some("ann"),
                person("vic", false, &[(mkt, Viewer)]),
                "approving team `marketing`'s versions needs its `operator` role or a platform admin",
            ),
            (
                "another team's operator may not",
                &other_person,
                Some("ann"),
                person("fin", false, &[("finance", Operator)]),
                "approving team `marketing`'s versions needs its `operator` role or a platform admin",
            ),
            (
                "other_team: a member may not",
                &other_team,
                Some("ann"),
                person("olga", false, &[(mkt, Operator), ("finance", Admin)]),
                "the approver must be outside team `marketing`",
            ),
            (
                "other_team: a viewer member neither",
                &other_team,
                Some("ann"),
                person("vic", false, &[(mkt, Viewer), ("finance", Operator)]),
                "the approver must be outside team `marketing`",
            ),
            (
                "other_team: a member platform admin neither",
                &other_team,
                Some("ann"),
                person("root", true, &[(mkt, Viewer)]),
                "the approver must be outside team `marketing`",
            ),
            (
                "other_team: another team's operator approves",
                &other_team,
                Some("ann"),
                person("fin", false, &[("finance", Operator)]),
                ok,
            ),
            (
                "other_team: an outside platform admin approves",
                &other_team,
                Some("ann"),
                person("root", true, &[]),
                ok,
            ),
            (
                "other_team: another team's viewer may not",
                &other_team,
                Some("ann"),
                person("fiv", false, &[("finance", Viewer)]),
                "the approver must be an operator of another team",
            ),
            (
                "other_team: someone in no team may not",
                &other_team,
                None,
                person("nobody", false, &[]),
                "the approver must be an operator of another team",
            ),
            (
                "team:R: R's operator approves",
                &security,
                Some("ann"),
                person("sec", false, &[("security", Operator)]),
                ok,
            ),
            (
                "team:R: R's viewer may not",
                &security,
                Some("ann"),
                person("sev", false, &[("security", Viewer)]),
                "the approver must be an operator of the reviewing team `security`",
            ),
            (
                "team:R: a platform admin does not count",
                &security,
                Some("ann"),
                person("root", true, &[]),
                "the approver must be an operator of the reviewing team `security`",
            ),
            (
                "team:R: the DAG's team does not count",
                &security,
                Some("ann"),
                person("ada", false, &[(mkt, Admin)]),
                "the approver must be an operator of the reviewing team `security`",
            ),
            (
                "team:own: another operator approves",
                &own_team,
                Some("ann"),
                person("olga", false, &[(mkt, Operator)]),
                ok,
            ),
            (
                "team:own: the author still may not",
                &own_team,
                Some("ann"),
                person("ann", false, &[(mkt, Operator)]),
                "you authored this version",
            ),
        ];
        for (case, policy, user, reviewer, want) in rows {
            let got = may_approve(policy, &team(mkt), &by(user), &reviewer)
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert_eq!(got, want, "{case}");
        }
    }

    #[test]
    fn the_author_serializes_without_empty_fields() {
        let json = serde_json::to_value(by(None)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"name": "Ann Author", "email": "ann@example.com"})
        );
        let back: VersionAuthor = serde_json::from_value(json).unwrap();
        assert_eq!(back, by(None));
    }
}
