//! Opening a store: choosing the backend from the URL, connection settings, migrations.

use std::str::FromStr;
use std::time::Duration;

use sqlx::Transaction;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, Postgres};
use sqlx::sqlite::{
    Sqlite, SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use crate::{Backend, Result, Store, StoreError};

static SQLITE_MIGRATOR: Migrator = sqlx::migrate!("./migrations/sqlite");
static POSTGRES_MIGRATOR: Migrator = sqlx::migrate!("./migrations/postgres");

/// How long a SQLite connection waits for another writer before giving up.
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Connection settings for [`Store::open_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// Most connections in the pool. SQLite allows one writer at a time whatever this is;
    /// more connections let readers proceed alongside it (WAL).
    pub max_connections: u32,
    /// Run pending migrations on open (on by default).
    pub migrate: bool,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            max_connections: 8,
            migrate: true,
        }
    }
}

impl Store {
    /// Opens (creating if needed) and migrates the store at `url_or_path`:
    ///
    /// - `postgres://…` or `postgresql://…`: PostgreSQL. Query parameters of the URL pass
    ///   through to the driver, e.g. `?options[search_path]=weir` to use another schema;
    /// - `sqlite:…` or any other text without a `scheme://`: a SQLite file (created if
    ///   missing) in WAL mode with foreign keys on; `sqlite::memory:` for a throwaway one.
    pub async fn open(url_or_path: &str) -> Result<Store> {
        Self::open_with(url_or_path, &StoreOptions::default()).await
    }

    /// [`Store::open`] with explicit connection settings.
    pub async fn open_with(url_or_path: &str, options: &StoreOptions) -> Result<Store> {
        let bad = |detail: String| StoreError::InvalidUrl {
            url: redact(url_or_path),
            detail,
        };
        let mut sqlite_file = None;
        let store = if url_or_path.starts_with("postgres://")
            || url_or_path.starts_with("postgresql://")
        {
            let connect =
                PgConnectOptions::from_str(url_or_path).map_err(|e| bad(e.to_string()))?;
            let pool = PgPoolOptions::new()
                .max_connections(options.max_connections.max(1))
                .connect_with(connect)
                .await?;
            Store {
                backend: Backend::Postgres(pool),
                observer: Default::default(),
            }
        } else if url_or_path.starts_with("sqlite:") || !url_or_path.contains("://") {
            let in_memory = url_or_path.contains(":memory:") || url_or_path.contains("mode=memory");
            let connect = if url_or_path.starts_with("sqlite:") {
                SqliteConnectOptions::from_str(url_or_path).map_err(|e| bad(e.to_string()))?
            } else if url_or_path.is_empty() {
                return Err(bad("empty path".to_string()));
            } else {
                SqliteConnectOptions::new().filename(url_or_path)
            };
            let connect = connect
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(SQLITE_BUSY_TIMEOUT)
                .foreign_keys(true);
            let pool_options = if in_memory {
                // An in-memory database lives as long as one of its connections: keep one.
                SqlitePoolOptions::new()
                    .max_connections(1)
                    .min_connections(1)
                    .idle_timeout(None)
                    .max_lifetime(None)
            } else {
                SqlitePoolOptions::new().max_connections(options.max_connections.max(1))
            };
            let file = (!in_memory).then(|| connect.get_filename().to_path_buf());
            let pool = pool_options.connect_with(connect).await?;
            let store = Store {
                backend: Backend::Sqlite(pool),
                observer: Default::default(),
            };
            if let Some(file) = &file {
                // Before the first write: SQLite gives the WAL files the database's mode.
                owner_only(file)?;
            }
            sqlite_file = file;
            store
        } else {
            return Err(bad(
                "expected a file path, a `sqlite:` URL or a `postgres://` URL".to_string(),
            ));
        };
        if options.migrate {
            store.migrate().await?;
        }
        if let Some(file) = &sqlite_file {
            owner_only(file)?;
        }
        Ok(store)
    }

    /// Applies pending migrations (idempotent; safe to run from several replicas at once on
    /// PostgreSQL, which serializes them with an advisory lock).
    pub async fn migrate(&self) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(pool) => SQLITE_MIGRATOR.run(pool).await?,
            Backend::Postgres(pool) => POSTGRES_MIGRATOR.run(pool).await?,
        }
        Ok(())
    }
}

/// The URL with any password replaced by `***`, for error messages.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((userinfo, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

/// Starting a transaction that will write. On SQLite it is `BEGIN IMMEDIATE`, which takes
/// the write lock up front (waiting out `busy_timeout`), so a transaction that reads before
/// it writes cannot fail on upgrading its snapshot; on PostgreSQL it is a plain `BEGIN`.
pub(crate) trait BeginWrite {
    type Db: sqlx::Database;
    fn begin_write(
        &self,
    ) -> impl Future<Output = Result<Transaction<'static, Self::Db>, sqlx::Error>> + Send;
}

impl BeginWrite for SqlitePool {
    type Db = Sqlite;
    async fn begin_write(&self) -> Result<Transaction<'static, Sqlite>, sqlx::Error> {
        self.begin_with("BEGIN IMMEDIATE").await
    }
}

impl BeginWrite for PgPool {
    type Db = Postgres;
    async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        self.begin().await
    }
}

/// Makes a SQLite database and its `-wal`/`-shm` files readable and writable by their
/// owner only: the database holds every team's connections, users and audit trail.
fn owner_only(db: &std::path::Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut name = db.as_os_str().to_owned();
        name.push(suffix);
        let path = std::path::PathBuf::from(name);
        match std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(StoreError::Permissions {
                    path: path.display().to_string(),
                    source,
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://weir:secret@db:5432/weir"),
            "postgres://weir:***@db:5432/weir"
        );
        assert_eq!(redact("postgres://db/weir"), "postgres://db/weir");
        assert_eq!(redact("/var/lib/weir.db"), "/var/lib/weir.db");
    }
}
