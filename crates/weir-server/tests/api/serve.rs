//! `serve`: answers on a real socket and stops when shutdown is asked for.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use weir_server::{ApiConfig, AppState};

use super::support::TestApp;

#[tokio::test]
async fn serves_on_a_socket_until_shutdown() {
    let t = TestApp::start().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let config = ApiConfig {
        shutdown_timeout: Duration::from_secs(2),
        ..ApiConfig::default()
    };
    let server = tokio::spawn(weir_server::serve(
        listener,
        AppState::with_config(t.engine.clone(), config, t.platform.clone()),
        async move {
            let _ = stopped.await;
        },
    ));

    let mut conn = tokio::net::TcpStream::connect(addr).await.unwrap();
    conn.write_all(b"GET /api/v1/version HTTP/1.1\r\nHost: weir\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.contains(r#""version":"#), "{answer}");

    stop.send(()).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("serve returns after shutdown")
        .expect("serve does not panic");
    assert!(result.is_ok(), "{result:?}");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "no longer listening"
    );
}
