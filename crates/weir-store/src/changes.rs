//! Change announcements between replicas: a replica that changes something another
//! replica acts on (a run triggered through its API, a DAG paused, a pool resized)
//! announces it; every replica hears every announcement and keeps what concerns it.
//!
//! On PostgreSQL this is `NOTIFY`/`LISTEN` on one channel; on SQLite (one process) there
//! is nobody to tell, so announcing does nothing and nobody listens. Announcements are
//! wake-ups, never the truth: the store is. A listener that lost its connection says so
//! ([`ChangeListener::next`] returns `None`), and its replica looks at everything again.

use sqlx::postgres::PgListener;

use crate::{Backend, Result, Store};

/// The PostgreSQL channel announcements travel on.
const CHANNEL: &str = "weir_changes";

/// Hears the announcements of other replicas (PostgreSQL only).
pub struct ChangeListener {
    listener: PgListener,
}

impl ChangeListener {
    /// The next announcement; `None` when the connection was lost and made again, so
    /// announcements may have been missed.
    pub async fn next(&mut self) -> Result<Option<String>> {
        match self.listener.try_recv().await? {
            Some(notification) => Ok(Some(notification.payload().to_owned())),
            None => Ok(None),
        }
    }
}

impl Store {
    /// Tells the other replicas about a change (`payload` names it); nothing on SQLite.
    pub async fn announce_change(&self, payload: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(()),
            Backend::Postgres(pool) => {
                sqlx::query("SELECT pg_notify($1, $2)")
                    .bind(CHANNEL)
                    .bind(payload)
                    .execute(pool)
                    .await?;
                Ok(())
            }
        }
    }

    /// A listener for other replicas' announcements; `None` on SQLite.
    pub async fn listen_for_changes(&self) -> Result<Option<ChangeListener>> {
        match &self.backend {
            Backend::Sqlite(_) => Ok(None),
            Backend::Postgres(pool) => {
                let mut listener = PgListener::connect_with(pool).await?;
                listener.listen(CHANNEL).await?;
                Ok(Some(ChangeListener { listener }))
            }
        }
    }
}
