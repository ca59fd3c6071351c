//! Governed delivery: versions with provenance and status, approval requests decided
//! compare-and-set, activation in one transaction, the repository's sync state.

use serde_json::json;
use weir_core::governance::{ApprovalState, VersionStatus};
use weir_store::{
    Activation, ApprovalFilter, NewApproval, NewDagVersion, Provenance, RepositoryState, Store,
};

use crate::support::*;

fn git(author: &str) -> Provenance {
    Provenance {
        origin: "git".into(),
        commit_sha: Some(format!("sha-of-{author}")),
        author_name: Some(author.into()),
        author_email: Some(format!("{author}@example.com")),
        author_user: Some(author.into()),
        committer: Some("ci <ci@example.com>".into()),
        message: Some(format!("{author}'s change")),
        committed_at: Some(day(3)),
    }
}

async fn version(store: &Store, hash: &str, status: VersionStatus, who: &str) -> bool {
    let id = dag_id("orders");
    store
        .insert_governed_version(&NewDagVersion {
            dag_id: &id,
            version_hash: hash,
            spec: &json!({"dag": "orders"}),
            source: "dag: orders",
            jobs: Some(&json!([{"job": "x"}])),
            status,
            provenance: &git(who),
        })
        .await
        .unwrap()
}

async fn request(store: &Store, hash: &str) -> i64 {
    store
        .request_approval(&NewApproval {
            dag_id: &dag_id("orders"),
            version_hash: hash,
            team: "marketing",
            provenance: &git("alice"),
            summary: &json!({"tasks_added": ["load"]}),
            base_version: Some("v1"),
        })
        .await
        .unwrap()
        .id
}

pub async fn versions_keep_their_first_provenance_and_activate_in_one_step(store: Store) {
    let id = dag_id("orders");
    let mut record = dag("orders");
    record.latest_version = Some("v1".into());
    store.upsert_dag(&record).await.unwrap();
    assert!(version(&store, "v1", VersionStatus::Active, "alice").await);
    // The same content again (a later commit that left the file alone): not new, and
    // the first commit stays its provenance.
    assert!(!version(&store, "v1", VersionStatus::Active, "bob").await);
    let v1 = store
        .get_governed_version(&id, "v1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v1.provenance, git("alice"));
    assert_eq!(v1.jobs, Some(json!([{"job": "x"}])));

    // v2 waits for approval; v3 supersedes it.
    version(&store, "v2", VersionStatus::PendingApproval, "alice").await;
    let a2 = request(&store, "v2").await;
    version(&store, "v3", VersionStatus::PendingApproval, "alice").await;
    let a3 = request(&store, "v3").await;
    assert_eq!(store.supersede_pending(&id, "v3").await.unwrap(), vec![a2]);
    // A version carries its approval request's id; one without a request, none.
    let with_request = store
        .get_governed_version(&id, "v2")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(with_request.approval_id, Some(a2));
    assert_eq!(v1.approval_id, None);
    let listed = store.list_governed_versions(&id, 10, 0).await.unwrap();
    assert!(
        listed
            .items
            .iter()
            .any(|v| v.version_hash == "v3" && v.approval_id == Some(a3))
    );
    let pending = store
        .list_approvals(&ApprovalFilter {
            state: Some(ApprovalState::Pending),
            dag_id: Some(id.clone()),
            limit: 10,
            offset: 0,
        })
        .await
        .unwrap();
    assert_eq!(pending.total_entries, 1);
    assert_eq!(pending.items[0].id, a3);
    assert_eq!(pending.items[0].summary, json!({"tasks_added": ["load"]}));

    // Approving the superseded request changes nothing; approving v3 activates it.
    let approve = |id| Activation {
        approval: Some(id),
        by: Some("carol"),
        comment: Some("ok"),
        ..Activation::default()
    };
    assert!(
        !store
            .activate_version(&id, "v2", &approve(a2))
            .await
            .unwrap()
    );
    assert_eq!(
        store
            .get_dag(&id)
            .await
            .unwrap()
            .unwrap()
            .latest_version
            .as_deref(),
        Some("v1")
    );
    assert!(
        store
            .activate_version(&id, "v3", &approve(a3))
            .await
            .unwrap()
    );
    // Once decided, a second decision loses.
    assert!(
        !store
            .activate_version(&id, "v3", &approve(a3))
            .await
            .unwrap()
    );
    assert!(!store.reject_approval(a3, "dave", None).await.unwrap());
    let status = |h: &'static str| {
        let store = store.clone();
        let id = id.clone();
        async move {
            store
                .get_governed_version(&id, h)
                .await
                .unwrap()
                .unwrap()
                .status
        }
    };
    assert_eq!(
        status("v1").await,
        VersionStatus::Superseded,
        "never approved"
    );
    assert_eq!(status("v2").await, VersionStatus::Superseded);
    assert_eq!(status("v3").await, VersionStatus::Active);
    let v3 = store
        .get_governed_version(&id, "v3")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(v3.approved_by.as_deref(), Some("carol"));
    let decided = store.get_approval(a3).await.unwrap().unwrap();
    assert_eq!(decided.state, ApprovalState::Approved);
    assert_eq!(decided.comment.as_deref(), Some("ok"));
    assert_eq!(
        store
            .get_dag(&id)
            .await
            .unwrap()
            .unwrap()
            .latest_version
            .as_deref(),
        Some("v3")
    );

    // v4 rejected; v5 by break-glass: v3, approved once, is `approved` now.
    version(&store, "v4", VersionStatus::PendingApproval, "alice").await;
    let a4 = request(&store, "v4").await;
    assert!(
        store
            .reject_approval(a4, "carol", Some("no"))
            .await
            .unwrap()
    );
    assert_eq!(status("v4").await, VersionStatus::Rejected);
    version(&store, "v5", VersionStatus::PendingApproval, "alice").await;
    request(&store, "v5").await;
    let glass = Activation {
        by: Some("root"),
        break_glass_reason: Some("outage"),
        ..Activation::default()
    };
    assert!(store.activate_version(&id, "v5", &glass).await.unwrap());
    assert_eq!(status("v3").await, VersionStatus::Approved);
    let v5 = store
        .get_governed_version(&id, "v5")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (
            v5.status,
            v5.break_glass_reason.as_deref(),
            v5.approved_by.as_deref()
        ),
        (VersionStatus::Active, Some("outage"), Some("root"))
    );
    let page = store.list_governed_versions(&id, 2, 0).await.unwrap();
    assert_eq!((page.items.len(), page.total_entries), (2, 5));

    // A version found again after it was superseded asks again (same request, reopened).
    let again = request(&store, "v2").await;
    assert_eq!(again, a2);
    assert_eq!(
        store.get_approval(a2).await.unwrap().unwrap().state,
        ApprovalState::Pending
    );
}

pub async fn users_map_by_email_and_the_repository_state_keeps_the_last_good_commit(store: Store) {
    for (name, email) in [
        ("alice", "Alice@Example.com"),
        ("twin1", "twin@x"),
        ("twin2", "twin@x"),
    ] {
        store
            .create_user(&weir_store::NewUser {
                username: name,
                password_hash: None,
                email: Some(email),
                source: "local",
                platform_admin: false,
            })
            .await
            .unwrap();
    }
    assert_eq!(
        store
            .user_by_email("alice@example.com")
            .await
            .unwrap()
            .as_deref(),
        Some("alice")
    );
    assert_eq!(
        store.user_by_email("twin@x").await.unwrap(),
        None,
        "ambiguous"
    );
    assert_eq!(store.user_by_email("nobody@x").await.unwrap(), None);

    // A job definition revision keeps the provenance it was first seen with.
    let def = json!({"job": "loader", "team": "marketing"});
    assert!(
        store
            .record_job_version("marketing", "loader", "r1", &def, &git("alice"))
            .await
            .unwrap()
    );
    assert!(
        !store
            .record_job_version("marketing", "loader", "r1", &def, &git("bob"))
            .await
            .unwrap()
    );
    let seen = store
        .job_version("marketing", "loader", "r1")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(seen.provenance, git("alice"));
    assert_eq!(
        store
            .job_version("marketing", "loader", "r2")
            .await
            .unwrap(),
        None
    );

    assert_eq!(store.repository_state().await.unwrap(), None);
    let good = RepositoryState {
        url: "/repo".into(),
        branch: "main".into(),
        commit_sha: Some("abc".into()),
        commit_message: Some("first".into()),
        commit_author: Some("Alice <alice@example.com>".into()),
        synced_at: Some(day(1)),
        last_attempt_at: Some(day(1)),
        last_error: None,
    };
    store.record_repository_sync(&good).await.unwrap();
    let failed = RepositoryState {
        url: "/repo".into(),
        branch: "main".into(),
        last_attempt_at: Some(day(2)),
        last_error: Some("unreachable".into()),
        ..RepositoryState::default()
    };
    store.record_repository_sync(&failed).await.unwrap();
    let state = store.repository_state().await.unwrap().unwrap();
    assert_eq!(state.commit_sha.as_deref(), Some("abc"));
    assert_eq!(state.commit_message.as_deref(), Some("first"));
    assert_eq!(state.synced_at, Some(day(1)));
    assert_eq!(state.last_attempt_at, Some(day(2)));
    assert_eq!(state.last_error.as_deref(), Some("unreachable"));
}
