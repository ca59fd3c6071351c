//! The CLI's stored sign-in, and which token a request carries.
//!
//! `weir login` writes `credentials.json` (server, username, token, token id) to
//! `$WEIR_CONFIG_DIR`, else `$XDG_CONFIG_HOME/weir`, else `~/.config/weir`; every server
//! command reads it; `weir logout` deletes it. The file holds a secret, so it is never
//! readable by anyone else, not even for a moment: the folder is created 0700, the file
//! is written to a temporary file created 0600 in that folder and then renamed over the
//! old one, so a reader sees the old file or the new one, never half of one.
//!
//! [`select_token`] decides what a request sends: `WEIR_TOKEN`, else the stored token
//! when it was issued by the server being asked, else nothing. The server check keeps
//! one server's token from being sent to another.

use std::ffi::OsString;
use std::fmt;
use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use reqwest::Url;
use serde::{Deserialize, Serialize};

/// The file's name inside the config folder.
pub const FILE_NAME: &str = "credentials.json";

/// What `weir login` stores.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials {
    /// The server's base URL, as given to `weir login`.
    pub server: String,
    pub username: String,
    /// The secret (`weir_…`).
    pub token: String,
    /// The token's id, to revoke it on `weir logout`.
    pub token_id: String,
}

// The secret must not reach a log or an error message through `{:?}`.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("token", &"<redacted>")
            .field("token_id", &self.token_id)
            .finish()
    }
}

/// Why the credentials file could not be found, read or written.
#[derive(Debug)]
pub enum CredentialsError {
    /// Neither `WEIR_CONFIG_DIR` nor `HOME` says where the file lives.
    NoConfigDir,
    Io {
        path: PathBuf,
        doing: &'static str,
        source: io::Error,
    },
    /// The file is not what `weir login` writes.
    Invalid { path: PathBuf, reason: String },
}

impl fmt::Display for CredentialsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CredentialsError::NoConfigDir => {
                f.write_str("cannot tell where to keep credentials: set WEIR_CONFIG_DIR (or HOME)")
            }
            CredentialsError::Io {
                path,
                doing,
                source,
            } => write!(f, "cannot {doing} {}: {source}", path.display()),
            CredentialsError::Invalid { path, reason } => write!(
                f,
                "{} is not a Weir credentials file ({reason}); run `weir login` again",
                path.display()
            ),
        }
    }
}

impl std::error::Error for CredentialsError {}

/// The folder that holds `credentials.json`.
pub fn config_dir() -> Result<PathBuf, CredentialsError> {
    config_dir_from(
        std::env::var_os("WEIR_CONFIG_DIR"),
        std::env::var_os("XDG_CONFIG_HOME"),
        std::env::var_os("HOME"),
    )
    .ok_or(CredentialsError::NoConfigDir)
}

fn config_dir_from(
    weir: Option<OsString>,
    xdg: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let set = |v: Option<OsString>| v.filter(|v| !v.is_empty()).map(PathBuf::from);
    if let Some(dir) = set(weir) {
        return Some(dir);
    }
    // The XDG spec says a relative XDG_CONFIG_HOME is invalid and to be ignored.
    if let Some(xdg) = set(xdg).filter(|p| p.is_absolute()) {
        return Some(xdg.join("weir"));
    }
    set(home).map(|home| home.join(".config").join("weir"))
}

/// The credentials file in `dir`.
pub fn file_in(dir: &Path) -> PathBuf {
    dir.join(FILE_NAME)
}

/// The stored credentials, or `None` when there is no file (never logged in, or logged
/// out).
pub fn load(dir: &Path) -> Result<Option<Credentials>, CredentialsError> {
    let path = file_in(dir);
    let text = match fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(source) => {
            return Err(CredentialsError::Io {
                path,
                doing: "read",
                source,
            });
        }
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| CredentialsError::Invalid {
            path,
            reason: e.to_string(),
        })
}

/// Writes `creds` to `dir` (created 0700 if missing), replacing what was there, and
/// returns the file's path. The file is 0600 from its creation on.
pub fn save(dir: &Path, creds: &Credentials) -> Result<PathBuf, CredentialsError> {
    let io_error = |path: &Path, doing: &'static str| {
        let path = path.to_path_buf();
        move |source| CredentialsError::Io {
            path,
            doing,
            source,
        }
    };
    // An existing folder keeps its mode: it may be one the user chose and shares.
    DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(io_error(dir, "create the folder"))?;
    let path = file_in(dir);
    let mut json = serde_json::to_vec_pretty(creds).map_err(|e| CredentialsError::Invalid {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    json.push(b'\n');

    let (tmp, mut file) = create_temp(dir)?;
    let written = file
        .write_all(&json)
        .and_then(|()| file.sync_all())
        .map_err(io_error(&tmp, "write"))
        .and_then(|()| fs::rename(&tmp, &path).map_err(io_error(&path, "write")));
    if let Err(e) = written {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // So that the rename survives a crash; the file is complete either way.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(path)
}

/// A new temporary file beside the credentials file, 0600 from the start (`create_new`
/// never opens a file someone else made).
fn create_temp(dir: &Path) -> Result<(PathBuf, File), CredentialsError> {
    let mut attempt = 0;
    loop {
        let mut nonce = [0u8; 8];
        // Without randomness the pid alone still names it; `create_new` catches a clash.
        let _ = getrandom::fill(&mut nonce);
        let nonce: String = nonce.iter().map(|b| format!("{b:02x}")).collect();
        let tmp = dir.join(format!(".{FILE_NAME}.{}.{nonce}.tmp", std::process::id()));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
        {
            Ok(file) => return Ok((tmp, file)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 5 => attempt += 1,
            Err(source) => {
                return Err(CredentialsError::Io {
                    path: tmp,
                    doing: "create",
                    source,
                });
            }
        }
    }
}

/// Deletes the credentials file; `false` if there was none.
pub fn remove(dir: &Path) -> Result<bool, CredentialsError> {
    let path = file_in(dir);
    match fs::remove_file(&path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(source) => Err(CredentialsError::Io {
            path,
            doing: "delete",
            source,
        }),
    }
}

/// Whether two server URLs name the same server: same scheme, host and port (80 and 443
/// implied), same path but for a trailing `/`. Anything that is not a URL only matches
/// itself.
pub fn same_server(a: &str, b: &str) -> bool {
    match (Url::parse(a.trim()), Url::parse(b.trim())) {
        (Ok(a), Ok(b)) => {
            a.scheme() == b.scheme()
                && a.host_str() == b.host_str()
                && a.port_or_known_default() == b.port_or_known_default()
                && a.path().trim_end_matches('/') == b.path().trim_end_matches('/')
        }
        _ => a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/'),
    }
}

/// Where a request's token came from, to say which one a server refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    /// The `WEIR_TOKEN` environment variable.
    Env,
    /// The credentials file at this path.
    Stored(PathBuf),
}

impl fmt::Display for TokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenSource::Env => f.write_str("the token in WEIR_TOKEN"),
            TokenSource::Stored(path) => {
                write!(f, "the token stored by `weir login` ({})", path.display())
            }
        }
    }
}

/// A token to send as `Authorization: Bearer`.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    pub secret: String,
    pub source: TokenSource,
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"<redacted>")
            .field("source", &self.source)
            .finish()
    }
}

/// The token for requests to `server`: `env_token` (`WEIR_TOKEN`) if set and not empty;
/// else the stored credentials (`stored` is asked only then, so a broken file does not
/// matter while `WEIR_TOKEN` is set) when they are for `server`; else none.
pub fn select_token(
    env_token: Option<String>,
    stored: impl FnOnce() -> Option<(PathBuf, Credentials)>,
    server: &str,
) -> Option<Token> {
    if let Some(secret) = env_token
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
    {
        return Some(Token {
            secret,
            source: TokenSource::Env,
        });
    }
    let (path, creds) = stored()?;
    same_server(&creds.server, server).then_some(Token {
        secret: creds.token,
        source: TokenSource::Stored(path),
    })
}

/// [`select_token`] from this process's environment and credentials file. A file that
/// cannot be read is warned about and ignored: the request then goes without a token and
/// the server's 401 says to log in.
pub fn token_for(server: &str) -> Option<Token> {
    select_token(
        std::env::var("WEIR_TOKEN").ok(),
        || {
            let dir = config_dir().ok()?;
            match load(&dir) {
                Ok(creds) => creds.map(|c| (file_in(&dir), c)),
                Err(e) => {
                    eprintln!("warning: ignoring stored credentials: {e}");
                    None
                }
            }
        },
        server,
    )
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn creds(server: &str) -> Credentials {
        Credentials {
            server: server.to_string(),
            username: "alice".into(),
            token: "weir_secret".into(),
            token_id: "tok-1".into(),
        }
    }

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).expect("exists").permissions().mode() & 0o777
    }

    #[test]
    fn credentials_round_trip_with_private_modes() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("a").join("weir");
        assert_eq!(load(&dir).expect("no file is fine"), None);

        let path = save(&dir, &creds("http://h:8080")).expect("saved");
        assert_eq!(path, dir.join(FILE_NAME));
        assert_eq!(mode(&dir), 0o700);
        assert_eq!(mode(&root.path().join("a")), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(load(&dir).expect("readable"), Some(creds("http://h:8080")));

        // Replacing keeps the mode, even over a file someone loosened, and leaves no
        // temporary file behind.
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).expect("chmod");
        save(&dir, &creds("http://other:8080")).expect("saved again");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            load(&dir).expect("readable").map(|c| c.server).as_deref(),
            Some("http://other:8080")
        );
        let names: Vec<_> = fs::read_dir(&dir)
            .expect("listable")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, [FILE_NAME]);

        assert!(remove(&dir).expect("removed"));
        assert!(!remove(&dir).expect("nothing to remove"));
        assert_eq!(load(&dir).expect("gone"), None);
    }

    #[test]
    fn an_existing_folder_keeps_its_mode() {
        let root = tempfile::tempdir().expect("tempdir");
        fs::set_permissions(root.path(), fs::Permissions::from_mode(0o750)).expect("chmod");
        let path = save(root.path(), &creds("http://h")).expect("saved");
        assert_eq!(mode(root.path()), 0o750);
        assert_eq!(mode(&path), 0o600);
    }

    #[test]
    fn a_broken_file_is_named() {
        let root = tempfile::tempdir().expect("tempdir");
        fs::write(file_in(root.path()), "{\"server\": 1}").expect("written");
        let e = load(root.path()).expect_err("invalid");
        assert!(e.to_string().contains("credentials.json"), "{e}");
        assert!(e.to_string().contains("weir login"), "{e}");
    }

    #[test]
    fn debug_output_hides_secrets() {
        let c = creds("http://h");
        assert!(!format!("{c:?}").contains("weir_secret"));
        let t = Token {
            secret: "weir_secret".into(),
            source: TokenSource::Env,
        };
        assert!(!format!("{t:?}").contains("weir_secret"));
    }

    #[test]
    fn the_config_dir_follows_the_environment() {
        let os = |s: &str| Some(OsString::from(s));
        assert_eq!(
            config_dir_from(os("/c"), os("/x"), os("/h")),
            Some(PathBuf::from("/c"))
        );
        assert_eq!(
            config_dir_from(os(""), os("/x"), os("/h")),
            Some(PathBuf::from("/x/weir"))
        );
        assert_eq!(
            config_dir_from(None, os("relative"), os("/h")),
            Some(PathBuf::from("/h/.config/weir"))
        );
        assert_eq!(config_dir_from(None, None, None), None);
    }

    #[test]
    fn servers_match_by_scheme_host_port_and_path() {
        assert!(same_server(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8080/"
        ));
        assert!(same_server(
            "https://weir.example.com",
            "https://WEIR.example.com:443/"
        ));
        assert!(same_server("http://h/weir/", "http://h/weir"));
        assert!(!same_server(
            "http://127.0.0.1:8080",
            "http://127.0.0.1:8081"
        ));
        assert!(!same_server("http://h", "https://h"));
        assert!(!same_server(
            "http://127.0.0.1:8080",
            "http://localhost:8080"
        ));
        assert!(!same_server("http://h/a", "http://h/b"));
        assert!(same_server("not a url", "not a url/"));
    }

    #[test]
    fn the_token_is_weir_token_then_stored_for_the_same_server_then_none() {
        let stored = |server: &'static str| {
            move || Some((PathBuf::from("/c/credentials.json"), creds(server)))
        };
        let server = "http://127.0.0.1:8080";

        // WEIR_TOKEN wins, whatever is stored, and the file is not even read.
        let t =
            select_token(Some("weir_env".into()), || panic!("file read"), server).expect("a token");
        assert_eq!(
            (t.secret.as_str(), &t.source),
            ("weir_env", &TokenSource::Env)
        );

        // An empty WEIR_TOKEN counts as unset.
        let t = select_token(Some(" ".into()), stored("http://127.0.0.1:8080/"), server)
            .expect("a token");
        assert_eq!(t.secret, "weir_secret");
        assert_eq!(
            t.source,
            TokenSource::Stored(PathBuf::from("/c/credentials.json"))
        );

        // A stored token for another server is not sent.
        assert_eq!(
            select_token(None, stored("http://other:8080"), server),
            None
        );
        assert_eq!(select_token(None, || None, server), None);
    }
}
