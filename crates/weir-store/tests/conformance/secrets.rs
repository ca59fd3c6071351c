//! Team secrets (sealed values only: the store never sees a clear one) and the
//! compare-and-set re-sealing that key rotation relies on.

use chrono::{TimeZone, Utc};
use weir_store::{ConnectionRecord, SealedValue, Store};

pub async fn secrets_are_versioned_listed_and_resealed(store: Store) {
    let t0 = Utc.with_ymd_and_hms(2026, 12, 1, 8, 0, 0).unwrap();
    let t1 = Utc.with_ymd_and_hms(2026, 12, 2, 9, 30, 0).unwrap();
    let first = store
        .put_secret("growth", "db", "weir:v1:k1:AAAA", "ada", t0)
        .await
        .unwrap();
    assert_eq!((first.version, first.created_by.as_str()), (1, "ada"));
    let second = store
        .put_secret("growth", "db", "weir:v1:k1:BBBB", "bob", t1)
        .await
        .unwrap();
    // A new value: one more version, who and when updated; creation stays.
    assert_eq!(second.version, 2);
    assert_eq!((second.created_at, second.created_by.as_str()), (t0, "ada"));
    assert_eq!((second.updated_at, second.updated_by.as_str()), (t1, "bob"));
    store
        .put_secret("finance", "ledger", "weir:v1:k1:CCCC", "carl", t0)
        .await
        .unwrap();
    let names = |list: Vec<weir_store::SecretRecord>| {
        list.into_iter()
            .map(|s| format!("{}/{}", s.team, s.name))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names(store.list_secrets(Some("growth")).await.unwrap()),
        ["growth/db"]
    );
    assert_eq!(
        names(store.list_secrets(None).await.unwrap()),
        ["finance/ledger", "growth/db"]
    );

    // Every sealed value, with connection passwords; re-sealing is compare-and-set.
    let mut conn = ConnectionRecord {
        conn_id: "warehouse".into(),
        conn_type: "postgres".into(),
        description: None,
        host: None,
        login: None,
        password: Some("clear-from-before".into()),
        schema: None,
        port: None,
        extra: None,
        team: Some("growth".into()),
    };
    store.put_connection(&conn).await.unwrap();
    conn.conn_id = "no_password".into();
    conn.password = None;
    store.put_connection(&conn).await.unwrap();
    let values = store.sealed_values().await.unwrap();
    assert_eq!(values.len(), 3, "{values:?}");
    for value in &values {
        assert!(
            store.reseal(value, "weir:v1:k2:NEW").await.unwrap(),
            "{value:?}"
        );
        // The old value is gone: a second, stale re-seal changes nothing.
        assert!(!store.reseal(value, "weir:v1:k2:OLD").await.unwrap());
    }
    let db = store.get_secret("growth", "db").await.unwrap().unwrap();
    assert_eq!((db.sealed.as_str(), db.version), ("weir:v1:k2:NEW", 2));
    let warehouse = store.get_connection("warehouse").await.unwrap().unwrap();
    assert_eq!(warehouse.password.as_deref(), Some("weir:v1:k2:NEW"));
    assert!(matches!(
        &values[2],
        SealedValue::ConnectionPassword { conn_id, .. } if conn_id == "warehouse"
    ));

    assert!(store.delete_secret("growth", "db").await.unwrap());
    assert!(!store.delete_secret("growth", "db").await.unwrap());
    assert_eq!(store.get_secret("growth", "db").await.unwrap(), None);
}
