use std::collections::BTreeMap;

use serde_json::json;

use super::sso::{MappedRole, OidcSettings, RoleMapping, check, grants};
use super::*;

fn caller(name: &str, platform_admin: bool, teams: &[(&str, TeamRole)]) -> Principal {
    Principal::Caller(Caller {
        name: name.into(),
        kind: CallerKind::User,
        platform_admin,
        teams: teams.iter().map(|(t, r)| ((*t).to_string(), *r)).collect(),
    })
}

fn team(t: &str) -> Option<String> {
    Some(t.to_string())
}

#[test]
fn roles_are_ordered_and_parse() {
    assert!(TeamRole::Viewer < TeamRole::Operator && TeamRole::Operator < TeamRole::Admin);
    for name in TeamRole::NAMES {
        assert_eq!(name.parse::<TeamRole>().unwrap().as_str(), name);
    }
    let err = "owner".parse::<TeamRole>().unwrap_err();
    assert!(err.to_string().contains("viewer, operator, admin"), "{err}");
}

#[test]
fn anonymous_gets_only_public() {
    assert_eq!(
        decide(&Principal::Anonymous, &Permission::Public),
        Decision::Allow
    );
    for p in [
        Permission::SignedIn,
        Permission::Operate { team: team("a") },
        Permission::PlatformAdmin,
    ] {
        assert_eq!(decide(&Principal::Anonymous, &p), Decision::NeedsSignIn);
    }
}

#[test]
fn team_roles_grant_what_they_say_in_their_team_only() {
    let op = caller("olga", false, &[("marketing", TeamRole::Operator)]);
    assert!(decide(&op, &Permission::SignedIn).is_allowed());
    assert!(
        decide(
            &op,
            &Permission::Operate {
                team: team("marketing")
            }
        )
        .is_allowed()
    );
    assert!(
        decide(
            &op,
            &Permission::ReadTeam {
                team: team("marketing")
            }
        )
        .is_allowed()
    );
    let Decision::Deny(why) = decide(
        &op,
        &Permission::Operate {
            team: team("finance"),
        },
    ) else {
        panic!("an operator of marketing acted on finance");
    };
    assert!(
        why.contains("team `finance`") && why.contains("not a member"),
        "{why}"
    );
    let Decision::Deny(why) = decide(
        &op,
        &Permission::ManageTeam {
            team: team("marketing"),
        },
    ) else {
        panic!("an operator managed its team");
    };
    assert!(
        why.contains("`admin` role") && why.contains("holds `operator`"),
        "{why}"
    );
    assert!(!decide(&op, &Permission::AdminOfAnyTeam).is_allowed());
    assert!(!decide(&op, &Permission::PlatformAdmin).is_allowed());

    let admin = caller(
        "ada",
        false,
        &[
            ("marketing", TeamRole::Admin),
            ("finance", TeamRole::Viewer),
        ],
    );
    assert!(
        decide(
            &admin,
            &Permission::ManageTeam {
                team: team("marketing")
            }
        )
        .is_allowed()
    );
    assert!(
        decide(
            &admin,
            &Permission::Operate {
                team: team("marketing")
            }
        )
        .is_allowed()
    );
    assert!(
        decide(
            &admin,
            &Permission::ReadTeam {
                team: team("finance")
            }
        )
        .is_allowed()
    );
    assert!(
        !decide(
            &admin,
            &Permission::Operate {
                team: team("finance")
            }
        )
        .is_allowed()
    );
    assert!(decide(&admin, &Permission::AdminOfAnyTeam).is_allowed());
}

#[test]
fn objects_of_no_team_need_a_platform_admin() {
    let admin = caller("ada", false, &[("marketing", TeamRole::Admin)]);
    let Decision::Deny(why) = decide(&admin, &Permission::Operate { team: None }) else {
        panic!("a team admin acted on a team-less DAG");
    };
    assert!(why.contains("belong to no team"), "{why}");
    let root = caller("root", true, &[]);
    for p in [
        Permission::Operate { team: None },
        Permission::ManageTeam {
            team: team("anything"),
        },
        Permission::ReadLogs {
            team: team("finance"),
            readers: LogReaders::Team,
        },
        Permission::PlatformAdmin,
        Permission::AdminOfAnyTeam,
    ] {
        assert!(decide(&root, &p).is_allowed(), "{p:?}");
    }
}

#[test]
fn logs_follow_the_teams_setting() {
    let outsider = caller("vic", false, &[]);
    let member = caller("mia", false, &[("marketing", TeamRole::Viewer)]);
    let closed = Permission::ReadLogs {
        team: team("marketing"),
        readers: LogReaders::Team,
    };
    let open = Permission::ReadLogs {
        team: team("marketing"),
        readers: LogReaders::Everyone,
    };
    assert!(!decide(&outsider, &closed).is_allowed());
    assert!(decide(&member, &closed).is_allowed());
    assert!(decide(&outsider, &open).is_allowed());
    // A DAG of no team has no team to open its logs.
    let teamless = Permission::ReadLogs {
        team: None,
        readers: LogReaders::Everyone,
    };
    assert!(!decide(&outsider, &teamless).is_allowed());
}

fn settings(mappings: Vec<RoleMapping>) -> OidcSettings {
    OidcSettings {
        issuer: "https://idp.example.com".into(),
        audience: vec!["weir".into()],
        jwks_url: None,
        leeway_seconds: 60,
        username_claim: "preferred_username".into(),
        email_claim: "email".into(),
        groups_claim: "groups".into(),
        role_mappings: mappings,
        token_revalidate_after: crate::spec::model::HumanDuration(
            super::sso::DEFAULT_TOKEN_REVALIDATE_AFTER,
        ),
        client_id: None,
        client_secret_env: None,
        scopes: None,
        redirect_url: None,
    }
}

fn rule(claim: Option<&str>, value: &str, team: Option<&str>, role: MappedRole) -> RoleMapping {
    RoleMapping {
        claim: claim.map(Into::into),
        value: value.into(),
        team: team.map(Into::into),
        role,
    }
}

#[test]
fn claims_map_to_the_strongest_role_per_team() {
    let s = settings(vec![
        rule(None, "mkt-analysts", Some("marketing"), MappedRole::Viewer),
        rule(None, "mkt-engineers", Some("marketing"), MappedRole::Admin),
        rule(None, "fin-ops", Some("finance"), MappedRole::Operator),
        rule(
            Some("department"),
            "platform",
            None,
            MappedRole::PlatformAdmin,
        ),
    ]);
    let g = grants(
        &s,
        &json!({"groups": ["mkt-engineers", "mkt-analysts", "other"]}),
    );
    assert_eq!(
        g.teams,
        BTreeMap::from([("marketing".to_string(), TeamRole::Admin)])
    );
    assert!(!g.platform_admin);

    let g = grants(&s, &json!({"groups": "fin-ops", "department": "platform"}));
    assert_eq!(
        g.teams,
        BTreeMap::from([("finance".to_string(), TeamRole::Operator)])
    );
    assert!(g.platform_admin);

    assert_eq!(grants(&s, &json!({})), super::sso::Grants::default());
    assert_eq!(
        grants(&s, &json!({"groups": 3})),
        super::sso::Grants::default()
    );
}

#[test]
fn settings_problems_are_named() {
    let mut s = settings(vec![
        rule(None, "x", Some("t"), MappedRole::PlatformAdmin),
        rule(None, "y", None, MappedRole::Operator),
    ]);
    s.issuer = "idp.example.com".into();
    s.audience.clear();
    let problems: Vec<_> = check(&s).into_iter().map(|(k, _)| k).collect();
    assert_eq!(
        problems,
        ["issuer", "audience", "role_mappings", "role_mappings"]
    );
    assert!(check(&settings(vec![])).is_empty());
}
