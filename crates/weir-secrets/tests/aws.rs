//! A team's secrets in AWS Secrets Manager, against moto's server
//! (`crates/weir-secrets/scripts/start-moto.sh`, started by `scripts/test`, which also
//! exports `WEIR_TEST_MOTO_URL` and test credentials): set, list, describe, resolve,
//! replace, delete; a secret created in AWS directly is usable as it is; a missing one
//! is named; another team's prefix is never listed.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use weir_core::platform::PlatformConfig;
use weir_secrets::{Secrets, SecretsError};
use weir_store::Store;

fn moto_url() -> Option<String> {
    match std::env::var("WEIR_TEST_MOTO_URL") {
        Ok(url) => Some(url),
        Err(_) if std::env::var_os("WEIR_REQUIRE_MOTO").is_some() => {
            panic!("WEIR_REQUIRE_MOTO is set but WEIR_TEST_MOTO_URL is not: run scripts/test")
        }
        Err(_) => {
            eprintln!("skipped: no WEIR_TEST_MOTO_URL (crates/weir-secrets/scripts/start-moto.sh)");
            None
        }
    }
}

fn platform(url: &str, prefix: &str) -> PlatformConfig {
    let text = format!(
        r#"
[[teams]]
name = "growth"
secrets = {{ backend = "aws_secrets_manager", region = "us-east-1", endpoint = "{url}", prefix = "{prefix}growth/" }}

[[teams]]
name = "finance"
secrets = {{ backend = "aws_secrets_manager", region = "us-east-1", endpoint = "{url}", prefix = "{prefix}finance/" }}
"#
    );
    let report = weir_core::platform::parse(&text);
    assert!(!report.has_errors(), "{:?}", report.diagnostics);
    report.config.unwrap()
}

#[tokio::test]
async fn secrets_live_in_aws_secrets_manager() {
    let Some(url) = moto_url() else { return };
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("weir.db").display().to_string())
        .await
        .unwrap();
    // A prefix of its own, so reruns against one moto server do not meet.
    let prefix = format!(
        "weir-test-{}-{}/",
        std::process::id(),
        chrono::Utc::now().timestamp_micros()
    );
    let secrets = Secrets::new(store.clone(), None, &platform(&url, &prefix));
    assert_eq!(secrets.backend_of("growth"), "aws_secrets_manager");

    let set = secrets
        .set("growth", "api-token", "tok-value-1", "ada")
        .await
        .unwrap();
    assert_eq!(set.backend, "aws_secrets_manager");
    assert_eq!(set.version, Some(1));
    assert_eq!(set.created_by.as_deref(), Some("ada"));
    let again = secrets
        .set("growth", "api-token", "tok-value-2", "bob")
        .await
        .unwrap();
    assert_eq!(again.version, Some(2));
    assert_eq!(again.updated_by.as_deref(), Some("bob"));
    assert_eq!(again.created_by.as_deref(), Some("ada"));
    assert_eq!(
        secrets.resolve("growth", &["api-token"]).await.unwrap(),
        ["tok-value-2"]
    );
    // Nothing is kept in Weir's database for an AWS team.
    assert!(store.list_secrets(None).await.unwrap().is_empty());

    secrets
        .set("finance", "ledger", "ledger-value", "carl")
        .await
        .unwrap();
    let listed = secrets.list(Some("growth")).await.unwrap();
    assert_eq!(
        listed.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(),
        ["api-token"]
    );
    let err = secrets.resolve("growth", &["ledger"]).await.unwrap_err();
    assert!(
        matches!(&err, SecretsError::NotFound { team, name } if team == "growth" && name == "ledger"),
        "{err}"
    );

    assert!(secrets.delete("growth", "api-token").await.unwrap());
    assert!(!secrets.delete("growth", "api-token").await.unwrap());
    assert!(secrets.get("growth", "api-token").await.unwrap().is_none());
    assert!(secrets.list(Some("growth")).await.unwrap().is_empty());
}

#[tokio::test]
async fn an_unreachable_secrets_manager_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("weir.db").display().to_string())
        .await
        .unwrap();
    // Nothing listens on port 9 (discard) here.
    let secrets = Secrets::new(store, None, &platform("http://127.0.0.1:9", "x/"));
    let err = secrets.resolve("growth", &["api-token"]).await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, SecretsError::Aws { .. }), "{text}");
    assert!(text.contains("team `growth`"), "{text}");
}
