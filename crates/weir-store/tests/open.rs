//! Opening SQLite stores from paths and URLs (PostgreSQL opening is covered by the
//! conformance suite).

#![allow(clippy::unwrap_used)] // test code

use sqlx::{Connection, SqliteConnection};
use weir_core::ids::DagId;
use weir_store::{Store, StoreError};

#[tokio::test]
async fn a_plain_path_is_a_wal_sqlite_file_that_survives_reopening() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested-ok.db");
    let path = path.to_str().unwrap();
    let store = Store::open(path).await.unwrap();
    assert_eq!(store.backend_name(), "sqlite");
    store.set_variable("k", "v", None, None).await.unwrap();
    store.close().await;

    let mut conn = SqliteConnection::connect(&format!("sqlite:{path}"))
        .await
        .unwrap();
    let mode: String = sqlx::query_scalar("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();

    // Reopening runs no migration twice and keeps the data.
    let store = Store::open(&format!("sqlite://{path}")).await.unwrap();
    assert_eq!(store.get_variable("k").await.unwrap().unwrap().value, "v");
}

/// Issue 17: the database holds every team's connection passwords; only Weir's own OS
/// user may read or write it (or its WAL files), whatever the umask.
#[tokio::test]
async fn sqlite_files_are_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("weir.db");
    let store = Store::open(path.to_str().unwrap()).await.unwrap();
    store.set_variable("k", "v", None, None).await.unwrap();
    for suffix in ["", "-wal", "-shm"] {
        let file = format!("{}{suffix}", path.display());
        let mode = std::fs::metadata(&file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600, "{file}: {mode:o}");
    }
    store.close().await;
}

#[tokio::test]
async fn an_in_memory_store_keeps_its_data_across_calls() {
    let store = Store::open("sqlite::memory:").await.unwrap();
    store.set_variable("k", "v", None, None).await.unwrap();
    assert_eq!(store.get_variable("k").await.unwrap().unwrap().value, "v");
    assert_eq!(
        store.get_dag(&DagId::new("x").unwrap()).await.unwrap(),
        None
    );
}

#[tokio::test]
async fn unknown_schemes_are_refused_without_leaking_passwords() {
    let err = Store::open("mysql://root:hunter2@db/weir")
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::InvalidUrl { .. }), "{err:?}");
    let text = err.to_string();
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("root:***@db"), "{text}");
    assert!(matches!(
        Store::open("").await,
        Err(StoreError::InvalidUrl { .. })
    ));
}
