//! Identity, access, audit and connections: users, memberships, SSO sync, tokens, the
//! append-only audit log, connections, and the owning team of variables.

use chrono::Duration;
use serde_json::json;
use weir_store::{
    AuditFilter, ConnectionRecord, NewAuditEvent, NewToken, NewUser, Store, StoreError, TokenFilter,
};

use crate::support::day;

fn local_user(name: &str) -> NewUser<'_> {
    NewUser {
        username: name,
        password_hash: Some("argon2-hash"),
        email: Some("someone@example.com"),
        source: "local",
        platform_admin: false,
    }
}

fn pair(team: &str, role: &str) -> (String, String) {
    (team.to_string(), role.to_string())
}

/// `(team, role, source)` of each of a user's memberships.
async fn memberships(store: &Store, username: &str) -> Vec<(String, String, String)> {
    store
        .memberships_of(username)
        .await
        .unwrap()
        .into_iter()
        .map(|m| {
            assert_eq!(m.username, username);
            (m.team, m.role, m.source)
        })
        .collect()
}

fn triple(team: &str, role: &str, source: &str) -> (String, String, String) {
    (team.to_string(), role.to_string(), source.to_string())
}

pub async fn users_crud_duplicates_and_cascade(store: Store) {
    assert_eq!(store.get_user("alice").await.unwrap(), None);
    let alice = store.create_user(&local_user("alice")).await.unwrap();
    assert_eq!(alice.username, "alice");
    assert_eq!(alice.password_hash.as_deref(), Some("argon2-hash"));
    assert_eq!(alice.email.as_deref(), Some("someone@example.com"));
    assert_eq!(alice.source, "local");
    assert!(!alice.platform_admin);
    assert_eq!(alice.last_login_at, None);
    assert_eq!(store.get_user("alice").await.unwrap(), Some(alice.clone()));

    let dup = store.create_user(&local_user("alice")).await;
    assert!(
        matches!(&dup, Err(StoreError::UserExists(u)) if u == "alice"),
        "{dup:?}"
    );
    assert!(dup.unwrap_err().is_conflict());
    let bad = store
        .create_user(&NewUser {
            source: "ldap",
            ..local_user("eve")
        })
        .await;
    assert!(
        matches!(bad, Err(StoreError::InvalidInput { .. })),
        "{bad:?}"
    );

    for name in ["carol", "bob"] {
        store.create_user(&local_user(name)).await.unwrap();
    }
    let page = store.list_users(2, 1).await.unwrap();
    assert_eq!(page.total_entries, 3);
    let names: Vec<_> = page.items.iter().map(|u| u.username.as_str()).collect();
    assert_eq!(names, ["bob", "carol"]);

    assert!(store.set_password_hash("alice", "new-hash").await.unwrap());
    assert!(!store.set_password_hash("nobody", "x").await.unwrap());
    assert!(store.set_platform_admin("alice", true).await.unwrap());
    assert!(!store.set_platform_admin("nobody", true).await.unwrap());
    store.record_login("alice", day(3)).await.unwrap();
    store.record_login("nobody", day(3)).await.unwrap();
    let alice = store.get_user("alice").await.unwrap().unwrap();
    assert_eq!(alice.password_hash.as_deref(), Some("new-hash"));
    assert!(alice.platform_admin);
    assert_eq!(alice.last_login_at, Some(day(3)));

    // Deleting a user deletes its memberships and tokens, not other users'.
    store
        .set_membership("data", "alice", "admin")
        .await
        .unwrap();
    store.set_membership("data", "bob", "viewer").await.unwrap();
    store
        .create_token(&NewToken {
            id: "t1",
            name: "laptop",
            token_hash: "h1",
            username: Some("alice"),
            team: None,
            role: None,
            created_by: "alice",
            expires_at: None,
        })
        .await
        .unwrap();
    assert!(store.delete_user("alice").await.unwrap());
    assert!(!store.delete_user("alice").await.unwrap());
    assert_eq!(store.get_user("alice").await.unwrap(), None);
    assert_eq!(memberships(&store, "alice").await, []);
    assert_eq!(store.get_token("t1").await.unwrap(), None);
    assert_eq!(store.members_of("data").await.unwrap().len(), 1);
    assert_eq!(store.list_users(10, 0).await.unwrap().total_entries, 2);
}

pub async fn memberships_upsert_remove_and_list(store: Store) {
    for name in ["alice", "bob"] {
        store.create_user(&local_user(name)).await.unwrap();
    }
    let m = store
        .set_membership("data", "alice", "viewer")
        .await
        .unwrap();
    assert_eq!(
        (
            m.team.as_str(),
            m.username.as_str(),
            m.role.as_str(),
            m.source.as_str()
        ),
        ("data", "alice", "viewer", "local")
    );
    let m = store
        .set_membership("data", "alice", "admin")
        .await
        .unwrap();
    assert_eq!(m.role, "admin");
    store
        .set_membership("analytics", "alice", "editor")
        .await
        .unwrap();
    store.set_membership("data", "bob", "viewer").await.unwrap();

    let ghost = store.set_membership("data", "nobody", "viewer").await;
    assert!(
        matches!(&ghost, Err(StoreError::UserNotFound(u)) if u == "nobody"),
        "{ghost:?}"
    );
    assert!(ghost.unwrap_err().is_not_found());

    assert_eq!(
        memberships(&store, "alice").await,
        [
            triple("analytics", "editor", "local"),
            triple("data", "admin", "local")
        ]
    );
    let members: Vec<_> = store
        .members_of("data")
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.username, m.role))
        .collect();
    assert_eq!(members, [pair("alice", "admin"), pair("bob", "viewer")]);
    assert_eq!(
        store.teams_with_members().await.unwrap(),
        ["analytics", "data"]
    );

    assert!(store.remove_membership("analytics", "alice").await.unwrap());
    assert!(!store.remove_membership("analytics", "alice").await.unwrap());
    assert_eq!(store.teams_with_members().await.unwrap(), ["data"]);
    assert_eq!(store.members_of("analytics").await.unwrap(), []);
}

pub async fn sso_sync_replaces_only_sso_memberships(store: Store) {
    // First login creates the user, without a password.
    let u = store
        .sync_sso_user(
            "sam",
            Some("sam@example.com"),
            false,
            &[pair("data", "viewer"), pair("ml", "editor")],
            day(1),
        )
        .await
        .unwrap();
    assert_eq!(u.source, "sso");
    assert_eq!(u.password_hash, None);
    assert_eq!(u.email.as_deref(), Some("sam@example.com"));
    assert_eq!((u.created_at, u.last_login_at), (day(1), Some(day(1))));
    assert_eq!(
        memberships(&store, "sam").await,
        [
            triple("data", "viewer", "sso"),
            triple("ml", "editor", "sso")
        ]
    );

    // An admin gives a local role in a team the identity provider does not mention, and
    // in one it does: both are kept, and the local one wins for its team.
    store.set_membership("ops", "sam", "admin").await.unwrap();
    store.set_membership("ml", "sam", "admin").await.unwrap();

    let u = store
        .sync_sso_user(
            "sam",
            None,
            true,
            &[
                pair("data", "editor"),
                pair("ml", "viewer"),
                pair("web", "viewer"),
            ],
            day(2),
        )
        .await
        .unwrap();
    assert_eq!(u.email, None);
    assert!(u.platform_admin);
    assert_eq!((u.created_at, u.last_login_at), (day(1), Some(day(2))));
    assert_eq!(
        memberships(&store, "sam").await,
        [
            triple("data", "editor", "sso"),
            triple("ml", "admin", "local"),
            triple("ops", "admin", "local"),
            triple("web", "viewer", "sso"),
        ]
    );

    // Groups dropped in the identity provider drop the SSO memberships only.
    store
        .sync_sso_user("sam", None, false, &[], day(3))
        .await
        .unwrap();
    assert_eq!(
        memberships(&store, "sam").await,
        [
            triple("ml", "admin", "local"),
            triple("ops", "admin", "local")
        ]
    );

    // A local account cannot be taken over by an SSO login, and is left untouched.
    let alice = store.create_user(&local_user("alice")).await.unwrap();
    store
        .set_membership("data", "alice", "viewer")
        .await
        .unwrap();
    let taken = store
        .sync_sso_user("alice", None, true, &[pair("ops", "admin")], day(4))
        .await;
    assert!(
        matches!(&taken, Err(StoreError::UserExists(u)) if u == "alice"),
        "{taken:?}"
    );
    assert_eq!(store.get_user("alice").await.unwrap(), Some(alice));
    assert_eq!(
        memberships(&store, "alice").await,
        [triple("data", "viewer", "local")]
    );
}

pub async fn tokens_create_find_list_revoke_touch(store: Store) {
    store.create_user(&local_user("alice")).await.unwrap();
    store.create_user(&local_user("bob")).await.unwrap();
    let token =
        |id: &'static str, user: Option<&'static str>, team: Option<&'static str>| NewToken {
            id,
            name: "ci",
            token_hash: id,
            username: user,
            team,
            role: team.map(|_| "editor"),
            created_by: "alice",
            expires_at: None,
        };
    let t1 = store
        .create_token(&NewToken {
            token_hash: "hash-1",
            expires_at: Some(day(30)),
            ..token("t1", Some("alice"), None)
        })
        .await
        .unwrap();
    assert_eq!(t1.id, "t1");
    assert_eq!(t1.name, "ci");
    assert_eq!(t1.username.as_deref(), Some("alice"));
    assert_eq!((t1.team.as_deref(), t1.role.as_deref()), (None, None));
    assert_eq!(t1.created_by, "alice");
    assert_eq!(t1.expires_at, Some(day(30)));
    assert_eq!((t1.revoked_at, t1.last_used_at), (None, None));
    // Newest first: created_at has microseconds, but keep the order unambiguous.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let t2 = store
        .create_token(&token("t2", None, Some("data")))
        .await
        .unwrap();
    assert_eq!(
        (t2.team.as_deref(), t2.role.as_deref()),
        (Some("data"), Some("editor"))
    );
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .create_token(&token("t3", Some("bob"), None))
        .await
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    store
        .create_token(&token("t4", None, Some("ml")))
        .await
        .unwrap();

    assert_eq!(
        store.token_by_hash("hash-1").await.unwrap(),
        Some(t1.clone())
    );
    assert_eq!(store.token_by_hash("nope").await.unwrap(), None);
    assert_eq!(store.get_token("t2").await.unwrap(), Some(t2.clone()));

    let ghost = store.create_token(&token("t5", Some("nobody"), None)).await;
    assert!(
        matches!(&ghost, Err(StoreError::UserNotFound(u)) if u == "nobody"),
        "{ghost:?}"
    );
    let orphan = store.create_token(&token("t6", None, None)).await;
    assert!(
        matches!(orphan, Err(StoreError::InvalidInput { .. })),
        "{orphan:?}"
    );
    let again = store
        .create_token(&NewToken {
            id: "t7",
            token_hash: "hash-1",
            ..token("t1", Some("alice"), None)
        })
        .await;
    assert!(
        matches!(again, Err(StoreError::InvalidInput { .. })),
        "{again:?}"
    );

    let ids = |filter: TokenFilter, limit: i64, offset: i64| {
        let store = store.clone();
        async move {
            let page = store.list_tokens(&filter, limit, offset).await.unwrap();
            let ids: Vec<String> = page.items.into_iter().map(|t| t.id).collect();
            (ids, page.total_entries)
        }
    };
    let filter = |u: Option<&str>, t: Option<&str>| TokenFilter {
        username: u.map(str::to_string),
        team: t.map(str::to_string),
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        ids(filter(None, None), 10, 0).await,
        (s(&["t4", "t3", "t2", "t1"]), 4)
    );
    assert_eq!(ids(filter(None, None), 2, 1).await, (s(&["t3", "t2"]), 4));
    assert_eq!(
        ids(filter(Some("alice"), None), 10, 0).await,
        (s(&["t1"]), 1)
    );
    assert_eq!(
        ids(filter(None, Some("data")), 10, 0).await,
        (s(&["t2"]), 1)
    );
    assert_eq!(
        ids(filter(Some("alice"), Some("data")), 10, 0).await,
        (s(&["t2", "t1"]), 2)
    );
    assert_eq!(ids(filter(Some("nobody"), None), 10, 0).await, (s(&[]), 0));

    assert!(store.revoke_token("t1", day(5)).await.unwrap());
    assert!(!store.revoke_token("t1", day(6)).await.unwrap());
    assert!(!store.revoke_token("nope", day(6)).await.unwrap());
    store.touch_token("t1", day(4)).await.unwrap();
    store.touch_token("nope", day(4)).await.unwrap();
    let t1 = store.token_by_hash("hash-1").await.unwrap().unwrap();
    assert_eq!(t1.revoked_at, Some(day(5)));
    assert_eq!(t1.last_used_at, Some(day(4)));
    assert_eq!(t1.expires_at, Some(day(30)));
}

fn event(
    minute: i64,
    actor: &str,
    action: &str,
    team: Option<&str>,
    outcome: &str,
) -> NewAuditEvent {
    NewAuditEvent {
        time: day(1) + Duration::minutes(minute),
        actor: actor.to_string(),
        action: action.to_string(),
        object_type: if action.starts_with("variable") {
            "variable"
        } else {
            "dag"
        }
        .to_string(),
        object_id: format!("obj-{}", minute % 2),
        team: team.map(str::to_string),
        outcome: outcome.to_string(),
        source_addr: Some("10.0.0.1".to_string()),
        details: json!({"minute": minute, "nested": {"ok": true}}),
    }
}

pub async fn audit_appends_and_lists_with_filters(store: Store) {
    let events = [
        event(0, "alice", "dag.pause", Some("data"), "success"),
        event(1, "bob", "variable.set", Some("ml"), "success"),
        event(2, "alice", "variable.delete", None, "denied"),
        event(3, "carol", "dag.pause", Some("data"), "failure"),
        event(4, "alice", "dag.trigger", Some("ml"), "success"),
    ];
    let mut stored = Vec::new();
    for e in &events {
        let r = store.append_audit_event(e).await.unwrap();
        assert_eq!(
            (&r.time, &r.actor, &r.action, &r.object_type, &r.object_id),
            (&e.time, &e.actor, &e.action, &e.object_type, &e.object_id)
        );
        assert_eq!(
            (&r.team, &r.outcome, &r.source_addr, &r.details),
            (&e.team, &e.outcome, &e.source_addr, &e.details)
        );
        stored.push(r);
    }
    assert!(stored.windows(2).all(|w| w[0].id < w[1].id), "ids grow");

    let minutes = |filter: AuditFilter, limit: i64, offset: i64| {
        let store = store.clone();
        async move {
            let page = store
                .list_audit_events(&filter, limit, offset)
                .await
                .unwrap();
            let minutes: Vec<i64> = page
                .items
                .iter()
                .map(|e| e.details["minute"].as_i64().unwrap())
                .collect();
            (minutes, page.total_entries)
        }
    };
    let all = AuditFilter::default;
    assert_eq!(minutes(all(), 10, 0).await, (vec![4, 3, 2, 1, 0], 5));
    assert_eq!(minutes(all(), 2, 1).await, (vec![3, 2], 5));
    let by_actor = AuditFilter {
        actor: Some("alice".into()),
        ..all()
    };
    assert_eq!(minutes(by_actor, 10, 0).await, (vec![4, 2, 0], 3));
    let by_type = AuditFilter {
        object_type: Some("variable".into()),
        ..all()
    };
    assert_eq!(minutes(by_type, 10, 0).await, (vec![2, 1], 2));
    let by_object = AuditFilter {
        object_type: Some("dag".into()),
        object_id: Some("obj-0".into()),
        ..all()
    };
    assert_eq!(minutes(by_object, 10, 0).await, (vec![4, 0], 2));
    let by_action = AuditFilter {
        action: Some("dag.pause".into()),
        ..all()
    };
    assert_eq!(minutes(by_action, 10, 0).await, (vec![3, 0], 2));
    let by_outcome = AuditFilter {
        outcome: Some("success".into()),
        ..all()
    };
    assert_eq!(minutes(by_outcome, 10, 0).await, (vec![4, 1, 0], 3));
    let window = AuditFilter {
        since: Some(day(1) + Duration::minutes(1)),
        until: Some(day(1) + Duration::minutes(3)),
        ..all()
    };
    assert_eq!(minutes(window, 10, 0).await, (vec![2, 1], 2));
    let teams = AuditFilter {
        teams: Some(vec!["data".into(), "web".into()]),
        ..all()
    };
    assert_eq!(minutes(teams, 10, 0).await, (vec![3, 0], 2));
    let no_teams = AuditFilter {
        teams: Some(vec![]),
        ..all()
    };
    assert_eq!(minutes(no_teams, 10, 0).await, (vec![], 0));
    let combined = AuditFilter {
        actor: Some("alice".into()),
        outcome: Some("success".into()),
        teams: Some(vec!["ml".into()]),
        ..all()
    };
    assert_eq!(minutes(combined, 10, 0).await, (vec![4], 1));
    let negative = store.list_audit_events(&all(), -1, 0).await;
    assert!(
        matches!(negative, Err(StoreError::InvalidInput { .. })),
        "{negative:?}"
    );
}

pub async fn audit_events_are_append_only(store: Store) {
    let e = store
        .append_audit_event(&event(0, "alice", "dag.pause", Some("data"), "success"))
        .await
        .unwrap();
    let mut statements = vec![
        "UPDATE audit_event SET actor = 'mallory'",
        "UPDATE audit_event SET details = details WHERE id = 1",
        "DELETE FROM audit_event",
        "DELETE FROM audit_event WHERE actor = 'alice'",
    ];
    if store.backend_name() == "postgres" {
        statements.push("TRUNCATE audit_event");
    }
    for sql in statements {
        let err = store.execute_raw_for_tests(sql).await.unwrap_err();
        assert!(
            err.to_string().contains("audit events are append-only"),
            "{sql}: {err}"
        );
    }
    let page = store
        .list_audit_events(&AuditFilter::default(), 10, 0)
        .await
        .unwrap();
    assert_eq!(page.items, [e]);
    // Appending still works after the refusals.
    store
        .append_audit_event(&event(1, "bob", "dag.pause", None, "success"))
        .await
        .unwrap();
    assert_eq!(
        store
            .list_audit_events(&AuditFilter::default(), 10, 0)
            .await
            .unwrap()
            .total_entries,
        2
    );
}

fn connection(id: &str, team: Option<&str>) -> ConnectionRecord {
    ConnectionRecord {
        conn_id: id.to_string(),
        conn_type: "postgres".to_string(),
        description: Some("the warehouse".to_string()),
        host: Some("db.example.com".to_string()),
        login: Some("etl".to_string()),
        password: Some("s3cret".to_string()),
        schema: Some("analytics".to_string()),
        port: Some(5432),
        extra: Some(r#"{"sslmode": "require"}"#.to_string()),
        team: team.map(str::to_string),
    }
}

pub async fn connections_crud_team_filter_and_fixed_team(store: Store) {
    assert_eq!(store.get_connection("warehouse").await.unwrap(), None);
    let c = store
        .put_connection(&connection("warehouse", Some("data")))
        .await
        .unwrap();
    assert_eq!(c, connection("warehouse", Some("data")));
    assert_eq!(store.get_connection("warehouse").await.unwrap(), Some(c));

    // Replacing changes every field but the owning team.
    let replacement = ConnectionRecord {
        conn_type: "mysql".to_string(),
        description: None,
        host: None,
        login: None,
        password: None,
        schema: None,
        port: None,
        extra: None,
        ..connection("warehouse", Some("ml"))
    };
    let c = store.put_connection(&replacement).await.unwrap();
    assert_eq!(
        c,
        ConnectionRecord {
            team: Some("data".to_string()),
            ..replacement.clone()
        }
    );
    let unowned = ConnectionRecord {
        team: None,
        ..replacement
    };
    assert_eq!(
        store
            .put_connection(&unowned)
            .await
            .unwrap()
            .team
            .as_deref(),
        Some("data")
    );

    store
        .put_connection(&connection("shared", None))
        .await
        .unwrap();
    store
        .put_connection(&connection("models", Some("ml")))
        .await
        .unwrap();
    store
        .put_connection(&connection("books", Some("finance")))
        .await
        .unwrap();

    let ids = |teams: Option<Vec<String>>, limit: i64, offset: i64| {
        let store = store.clone();
        async move {
            let page = store
                .list_connections(teams.as_deref(), limit, offset)
                .await
                .unwrap();
            let ids: Vec<String> = page.items.into_iter().map(|c| c.conn_id).collect();
            (ids, page.total_entries)
        }
    };
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        ids(None, 10, 0).await,
        (s(&["books", "models", "shared", "warehouse"]), 4)
    );
    assert_eq!(ids(None, 2, 1).await, (s(&["models", "shared"]), 4));
    assert_eq!(
        ids(Some(s(&["data", "ml"])), 10, 0).await,
        (s(&["models", "shared", "warehouse"]), 3)
    );
    assert_eq!(ids(Some(vec![]), 10, 0).await, (s(&["shared"]), 1));

    assert!(store.delete_connection("shared").await.unwrap());
    assert!(!store.delete_connection("shared").await.unwrap());
    assert_eq!(
        store
            .list_connections(None, 10, 0)
            .await
            .unwrap()
            .total_entries,
        3
    );
}

pub async fn variable_team_is_kept_on_update(store: Store) {
    let v = store
        .set_variable("bucket", "s3://a", None, Some("data"))
        .await
        .unwrap();
    assert_eq!(v.team.as_deref(), Some("data"));
    let v = store
        .set_variable("bucket", "s3://b", Some("moved"), Some("ml"))
        .await
        .unwrap();
    assert_eq!(
        (
            v.value.as_str(),
            v.description.as_deref(),
            v.team.as_deref()
        ),
        ("s3://b", Some("moved"), Some("data"))
    );
    let v = store
        .set_variable("bucket", "s3://c", None, None)
        .await
        .unwrap();
    assert_eq!(v.team.as_deref(), Some("data"));
    store.set_variable("global", "x", None, None).await.unwrap();
    let teams: Vec<_> = store
        .list_variables(10, 0)
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|v| (v.key, v.team))
        .collect();
    assert_eq!(
        teams,
        [
            ("bucket".to_string(), Some("data".to_string())),
            ("global".to_string(), None)
        ]
    );
}
