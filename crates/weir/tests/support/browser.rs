//! Headless Chromium driven over WebDriver (Debian's `chromium` and `chromium-driver`),
//! for the web UI's end-to-end tests.
//!
//! The WebDriver client is the few W3C WebDriver commands the tests use, over the
//! workspace's `reqwest` ([`Session`], [`Element`]). Not fantoccini: its `webdriver`
//! crate brings ICU's segmenter, whose derive crates turn on `syn`'s `fold` feature (and
//! `time`'s `macros`, hyper-rustls's `logging`) for the whole workspace's test builds,
//! so adding it rebuilds nearly every crate, for twenty-odd lines of JSON over HTTP.
//!
//! Each [`Browser`] starts its own `chromedriver` on a free local port (in a process group
//! of its own, so Chromium goes with it when the guard drops), opens one session on a fresh
//! profile, and writes a PNG screenshot of every view it is asked to
//! ([`Browser::shot`]) into `$WEIR_UI_ARTIFACTS/<test>/` (default
//! `<target dir>/ui-screenshots/<test>/`), as `NN-<view>.png`.
//!
//! Without `chromedriver` on `PATH` (or at `$WEIR_CHROMEDRIVER`) a test fails, naming the
//! apt command, unless `WEIR_SKIP_BROWSER=1` (then it prints a skip line and passes);
//! `WEIR_REQUIRE_BROWSER=1` (CI) forbids skipping.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

/// How long a poll waits for the page to get where a test expects it.
pub const DEADLINE: Duration = Duration::from_secs(30);

const APT: &str = "apt-get install -y chromium chromium-driver fonts-dejavu-core";

/// The Chromium flags of every session (headless, no sandbox since CI runs as root, and
/// nothing that reaches for the network on its own).
const CHROMIUM_FLAGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--window-size=1280,900",
];

/// A program found on `PATH`.
fn on_path(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| candidate.is_file())
}

/// The chromedriver to use, or `None` when the test is to be skipped (it panics when the
/// driver is missing and skipping is not allowed).
fn chromedriver() -> Option<PathBuf> {
    if let Some(given) = std::env::var_os("WEIR_CHROMEDRIVER") {
        return Some(PathBuf::from(given));
    }
    if let Some(found) = on_path("chromedriver") {
        return Some(found);
    }
    let skip = std::env::var("WEIR_SKIP_BROWSER").is_ok_and(|v| v == "1");
    let require = std::env::var_os("WEIR_REQUIRE_BROWSER").is_some();
    if skip && !require {
        eprintln!(
            "SKIPPED: the UI browser tests need chromedriver (`{APT}`); skipped because \
             WEIR_SKIP_BROWSER=1"
        );
        return None;
    }
    panic!(
        "the UI browser tests need chromedriver and Chromium, not found on PATH: install \
         them with `sudo {APT}` (or run scripts/test, which does), point WEIR_CHROMEDRIVER \
         at a chromedriver, or set WEIR_SKIP_BROWSER=1 to skip these tests{}",
        if require {
            " (WEIR_REQUIRE_BROWSER is set: skipping is not allowed)"
        } else {
            ""
        }
    );
}

/// The Chromium binary chromedriver should start: `$WEIR_CHROMIUM`, else Debian's
/// `chromium` (or `chromium-browser`, `google-chrome`) on `PATH`; else chromedriver's own
/// default.
fn chromium() -> Option<PathBuf> {
    if let Some(given) = std::env::var_os("WEIR_CHROMIUM") {
        return Some(PathBuf::from(given));
    }
    ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find_map(on_path)
}

/// A free local TCP port (free when asked; chromedriver binds it right after).
fn free_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// The folder of this test's screenshots: `$WEIR_UI_ARTIFACTS/<test>`, else
/// `<target dir>/ui-screenshots/<test>` (the target dir the `weir` binary was built in).
pub fn artifacts_dir(test: &str) -> PathBuf {
    let root = match std::env::var_os("WEIR_UI_ARTIFACTS") {
        Some(dir) => PathBuf::from(dir),
        None => {
            // <target>/<profile>/weir
            let exe = PathBuf::from(env!("CARGO_BIN_EXE_weir"));
            let target = exe
                .parent()
                .and_then(Path::parent)
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from("target"));
            target.join("ui-screenshots")
        }
    };
    root.join(test)
}

/// A running chromedriver, killed (with the Chromium it started) when dropped.
struct Driver {
    child: Child,
    url: String,
    log: PathBuf,
}

impl Driver {
    async fn start(program: &Path, log_dir: &Path) -> Driver {
        let port = free_port();
        let log = log_dir.join("chromedriver.log");
        let child = Command::new(program)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group: the guard kills chromedriver and every Chromium
            // process it started, even when the session was not closed.
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
        let driver = Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        driver.wait_ready().await;
        driver
    }

    /// Waits for `GET /status` to say ready.
    async fn wait_ready(&self) {
        let deadline = Instant::now() + DEADLINE;
        let status = format!("{}/status", self.url);
        loop {
            if let Ok(resp) = reqwest::get(&status).await {
                let body: Value = resp.json().await.unwrap_or(Value::Null);
                if body["value"]["ready"] == true {
                    return;
                }
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver did not get ready at {status}; its log:\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let group = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::killpg(group, nix::sys::signal::Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// One browser session on a fresh profile, with its own chromedriver.
pub struct Browser {
    client: Option<Session>,
    /// The UI's base URL (`http://127.0.0.1:port`), which [`Browser::goto`] paths are on.
    pub base: String,
    shots: PathBuf,
    shot_count: std::cell::Cell<u32>,
    // Dropped after the driver (fields drop in order): Chromium is gone before its
    // profile is removed.
    _driver: Driver,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A session for the test `test` against the UI at `base`; `None` when browser tests
    /// are skipped (see the module docs).
    pub async fn start(test: &str, base: &str) -> Option<Browser> {
        let program = chromedriver()?;
        let shots = artifacts_dir(test);
        let _ = std::fs::remove_dir_all(&shots);
        std::fs::create_dir_all(&shots).unwrap();
        eprintln!("screenshots of {test}: {}", shots.display());
        let profile = tempfile::tempdir().unwrap();
        let driver = Driver::start(&program, &shots).await;
        let mut args: Vec<String> = CHROMIUM_FLAGS.iter().map(|f| f.to_string()).collect();
        args.push(format!("--user-data-dir={}", profile.path().display()));
        let mut options = json!({ "args": args });
        if let Some(binary) = chromium() {
            options["binary"] = json!(binary.display().to_string());
        }
        let caps = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": options,
        }}});
        let client = Session::new(&driver.url, caps).await.unwrap_or_else(|e| {
            panic!(
                "no WebDriver session from chromedriver ({e}); its log:\n{}",
                std::fs::read_to_string(&driver.log).unwrap_or_default()
            )
        });
        Some(Browser {
            client: Some(client),
            base: base.trim_end_matches('/').to_string(),
            shots,
            shot_count: std::cell::Cell::new(0),
            _driver: driver,
            _profile: profile,
        })
    }

    pub fn client(&self) -> &Session {
        self.client.as_ref().unwrap()
    }

    /// Ends the session (Chromium quits); the driver stops when the browser drops.
    pub async fn close(mut self) {
        if let Some(client) = self.client.take() {
            let _ = client.close().await;
        }
        eprintln!("screenshots: {}", self.shots.display());
    }

    /// The absolute URL of `path` on the UI.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Opens `path` (e.g. `/dags/x`) and waits for the page to load.
    pub async fn goto(&self, path: &str) {
        self.client().goto(&self.url(path)).await.unwrap();
    }

    /// The current URL's path and query (`/dags/x?run=…`).
    pub async fn location(&self) -> String {
        let url = self.client().current_url().await.unwrap();
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        }
    }

    /// Writes a screenshot of the page as `NN-<view>.png`.
    pub async fn shot(&self, view: &str) {
        self.shot_count.set(self.shot_count.get() + 1);
        let name: String = view
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self
            .shots
            .join(format!("{:02}-{name}.png", self.shot_count.get()));
        match self.client().screenshot().await {
            Ok(png) => std::fs::write(&path, png).unwrap(),
            Err(e) => eprintln!("no screenshot {}: {e}", path.display()),
        }
    }

    /// Fails the test with `what`, where the page was and its text (the guard then
    /// screenshots it).
    pub async fn fail(&self, what: &str) -> ! {
        let at = self
            .client()
            .current_url()
            .await
            .map(|u| u.to_string())
            .unwrap_or_else(|e| e);
        let body = self
            .js(
                "return document.body ? document.body.innerText : ''",
                vec![],
            )
            .await;
        let text: String = body
            .as_str()
            .unwrap_or_default()
            .chars()
            .take(3000)
            .collect();
        panic!(
            "{what}\n  at {at}\n  screenshots in {}\n  page text:\n{text}",
            self.shots.display()
        );
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client().execute(script, args).await.unwrap()
    }

    /// Runs an asynchronous `script`: it ends by calling `arguments[arguments.length-1]`
    /// with its result.
    pub async fn js_async(&self, script: &str, args: Vec<Value>) -> Value {
        self.client().execute_async(script, args).await.unwrap()
    }

    /// The element matching `css`, if there is one now.
    pub async fn try_find(&self, css: &str) -> Option<Element> {
        self.client().find(css).await.ok()
    }

    /// How many elements match `css` now.
    pub async fn count(&self, css: &str) -> usize {
        self.client()
            .find_all(css)
            .await
            .map(|all| all.len())
            .unwrap_or(0)
    }

    /// The element matching `css`, waiting for it up to the deadline.
    pub async fn find(&self, css: &str) -> Element {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(found) = self.try_find(css).await {
                return found;
            }
            if Instant::now() > deadline {
                self.fail(&format!("no element `{css}`")).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Clicks the element matching `css`.
    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Replaces the value of the field matching `css` with `text`.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field.send_keys(text).await.unwrap();
    }

    /// The visible text of the element matching `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// The attribute `name` of the element matching `css`.
    pub async fn attr(&self, css: &str, name: &str) -> Option<String> {
        self.find(css).await.attr(name).await.unwrap()
    }

    /// `body[data-page-id]`: the same while the page was not reloaded.
    pub async fn page_id(&self) -> String {
        match self.attr("body", "data-page-id").await {
            Some(id) if !id.is_empty() => id,
            _ => self.fail("the page has no body[data-page-id]").await,
        }
    }

    /// The page's `<meta name="csrf-token">`.
    pub async fn csrf(&self) -> String {
        match self.attr(r#"meta[name="csrf-token"]"#, "content").await {
            Some(token) if !token.is_empty() => token,
            _ => self.fail("the page has no meta csrf-token").await,
        }
    }

    /// Polls `probe` until it gives `Some`, or fails (with a screenshot) after the
    /// deadline, saying `what` it waited for and the last thing `seen` said.
    pub async fn poll<T>(
        &self,
        what: &str,
        mut probe: impl AsyncFnMut(&Browser) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let last = match probe(self).await {
                Ok(done) => return done,
                Err(seen) => seen,
            };
            if Instant::now() > deadline {
                self.fail(&format!("timed out waiting for {what}; last seen: {last}"))
                    .await;
            }
            tokio::time::sleep(Duration::from_millis(150)).await;
        }
    }

    /// Waits until the page's location (path and query) starts with `prefix`.
    pub async fn wait_for_location(&self, what: &str, prefix: &str) {
        self.poll(what, async |b| {
            let at = b.location().await;
            if at.starts_with(prefix) {
                Ok(())
            } else {
                Err(at)
            }
        })
        .await
    }

    /// A request from the page (same origin, with its cookies), as `fetch` sends it, not
    /// following redirects: `(status, body text)`. `form` fields are sent as
    /// `application/x-www-form-urlencoded`.
    pub async fn fetch(&self, method: &str, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let fields: serde_json::Map<String, Value> = form
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        let answer = self
            .js_async(
                r#"
                const [method, path, fields, done] = arguments;
                const init = {method, credentials: 'same-origin', redirect: 'manual'};
                if (method !== 'GET' && method !== 'HEAD') {
                    init.body = new URLSearchParams(fields);
                }
                fetch(path, init)
                    .then(async r => done([r.status, await r.text()]))
                    .catch(e => done([-1, String(e)]));
                "#,
                vec![json!(method), json!(path), Value::Object(fields)],
            )
            .await;
        let status = answer[0].as_i64().unwrap_or(-1);
        let body = answer[1].as_str().unwrap_or_default().to_string();
        // An opaque redirect (not followed) reads as status 0.
        (u16::try_from(status).unwrap_or(0), body)
    }

    /// Signs in on `/login` (the page must be open, or is opened) as `user`.
    pub async fn sign_in(&self, user: &str, password: &str) {
        if !self.location().await.starts_with("/login") {
            self.goto("/login").await;
        }
        self.fill("form#login input[name=username]", user).await;
        self.fill("form#login input[name=password]", password).await;
        self.click("form#login button[type=submit]").await;
        self.poll("the sign-in to leave /login", async |b| {
            let at = b.location().await;
            if at.starts_with("/login") {
                let error = match b.try_find(".error").await {
                    Some(e) => e.text().await.unwrap_or_default(),
                    None => String::new(),
                };
                Err(format!("still at {at} ({error})"))
            } else {
                Ok(())
            }
        })
        .await;
        let who = self.text("#whoami").await;
        if !who.contains(user) {
            self.fail(&format!("#whoami says {who:?}, not {user:?}"))
                .await;
        }
    }
}

impl Drop for Browser {
    /// When a test fails: a screenshot of the page as it was (`NN-failure.png`), with
    /// where it was, before the driver and Chromium are killed.
    fn drop(&mut self) {
        let Some(session) = self.client.clone() else {
            return;
        };
        if !std::thread::panicking() {
            return;
        }
        let path = self
            .shots
            .join(format!("{:02}-failure.png", self.shot_count.get() + 1));
        // Its own runtime on its own thread: a drop cannot await.
        let at = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async move {
                if let Ok(png) = session.screenshot().await {
                    let _ = std::fs::write(&path, png);
                }
                session.current_url().await.ok().map(|u| u.to_string())
            })
        })
        .join()
        .ok()
        .flatten();
        eprintln!(
            "the browser was at {} when the test failed; screenshots: {}",
            at.unwrap_or_default(),
            self.shots.display()
        );
    }
}

/// The key W3C WebDriver gives an element reference in JSON.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A WebDriver session: the W3C WebDriver commands the tests use, over HTTP. Errors are
/// WebDriver's own (`error: message`).
#[derive(Clone)]
pub struct Session {
    http: reqwest::Client,
    /// `<driver>/session/<id>`.
    url: String,
}

impl Session {
    /// `POST /session` with `capabilities` (the whole request body).
    async fn new(driver: &str, capabilities: Value) -> Result<Session, String> {
        let http = reqwest::Client::builder()
            .no_proxy()
            .build()
            .map_err(|e| e.to_string())?;
        let created = call(
            &http,
            "POST",
            &format!("{driver}/session"),
            Some(capabilities),
        )
        .await?;
        let id = created["sessionId"]
            .as_str()
            .ok_or_else(|| format!("no sessionId in {created}"))?;
        Ok(Session {
            http,
            url: format!("{driver}/session/{id}"),
        })
    }

    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(&self.http, method, &format!("{}{path}", self.url), body).await
    }

    /// Ends the session: Chromium quits.
    pub async fn close(self) -> Result<(), String> {
        self.cmd("DELETE", "", None).await.map(drop)
    }

    /// Navigates to `url` and waits for the page to load.
    pub async fn goto(&self, url: &str) -> Result<(), String> {
        self.cmd("POST", "/url", Some(json!({ "url": url })))
            .await
            .map(drop)
    }

    pub async fn current_url(&self) -> Result<reqwest::Url, String> {
        let url = self.cmd("GET", "/url", None).await?;
        let text = url.as_str().unwrap_or_default();
        reqwest::Url::parse(text).map_err(|e| format!("{text:?}: {e}"))
    }

    /// The first element matching the CSS selector `css`.
    pub async fn find(&self, css: &str) -> Result<Element, String> {
        let found = self
            .cmd(
                "POST",
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        self.element(&found)
    }

    /// Every element matching `css`.
    pub async fn find_all(&self, css: &str) -> Result<Vec<Element>, String> {
        let found = self
            .cmd(
                "POST",
                "/elements",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await?;
        found
            .as_array()
            .map(|all| all.iter().map(|e| self.element(e)).collect())
            .unwrap_or_else(|| Err(format!("not a list of elements: {found}")))
    }

    fn element(&self, reference: &Value) -> Result<Element, String> {
        let id = reference[ELEMENT_KEY]
            .as_str()
            .ok_or_else(|| format!("not an element: {reference}"))?;
        Ok(Element {
            http: self.http.clone(),
            url: format!("{}/element/{id}", self.url),
        })
    }

    /// Runs `script` (a function body) with `args`; its return value.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        self.cmd(
            "POST",
            "/execute/sync",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// Runs `script`, which ends by calling its last argument with the result.
    pub async fn execute_async(&self, script: &str, args: Vec<Value>) -> Result<Value, String> {
        self.cmd(
            "POST",
            "/execute/async",
            Some(json!({"script": script, "args": args})),
        )
        .await
    }

    /// The viewport as PNG.
    pub async fn screenshot(&self) -> Result<Vec<u8>, String> {
        let png = self.cmd("GET", "/screenshot", None).await?;
        base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .map_err(|e| e.to_string())
    }

    /// Accepts the open `alert`/`confirm` dialog (an error when there is none).
    pub async fn accept_alert(&self) -> Result<(), String> {
        self.cmd("POST", "/alert/accept", Some(json!({})))
            .await
            .map(drop)
    }
}

/// An element of the page.
pub struct Element {
    http: reqwest::Client,
    /// `<driver>/session/<id>/element/<element id>`.
    url: String,
}

impl Element {
    async fn cmd(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value, String> {
        call(&self.http, method, &format!("{}{path}", self.url), body).await
    }

    /// Its rendered text.
    pub async fn text(&self) -> Result<String, String> {
        let text = self.cmd("GET", "/text", None).await?;
        Ok(text.as_str().unwrap_or_default().to_string())
    }

    /// The HTML attribute `name`, if set.
    pub async fn attr(&self, name: &str) -> Result<Option<String>, String> {
        let value = self.cmd("GET", &format!("/attribute/{name}"), None).await?;
        Ok(value.as_str().map(str::to_string))
    }

    /// The DOM property `name` (e.g. a field's current `value`), if a string.
    pub async fn prop(&self, name: &str) -> Result<Option<String>, String> {
        let value = self.cmd("GET", &format!("/property/{name}"), None).await?;
        Ok(value.as_str().map(str::to_string))
    }

    pub async fn tag_name(&self) -> Result<String, String> {
        let name = self.cmd("GET", "/name", None).await?;
        Ok(name.as_str().unwrap_or_default().to_string())
    }

    pub async fn click(&self) -> Result<(), String> {
        self.cmd("POST", "/click", Some(json!({}))).await.map(drop)
    }

    /// Empties a field.
    pub async fn clear(&self) -> Result<(), String> {
        self.cmd("POST", "/clear", Some(json!({}))).await.map(drop)
    }

    /// Types `text` (`\u{E007}` is Enter).
    pub async fn send_keys(&self, text: &str) -> Result<(), String> {
        self.cmd("POST", "/value", Some(json!({ "text": text })))
            .await
            .map(drop)
    }
}

/// One WebDriver command: its `value`, or its error as `error: message`.
async fn call(
    http: &reqwest::Client,
    method: &str,
    url: &str,
    body: Option<Value>,
) -> Result<Value, String> {
    let method: reqwest::Method = method.parse().map_err(|e| format!("{e}"))?;
    let mut request = http.request(method.clone(), url);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request
        .send()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let ok = response.status().is_success();
    let answer: Value = response
        .json()
        .await
        .map_err(|e| format!("{method} {url}: {e}"))?;
    let value = answer["value"].clone();
    if ok {
        Ok(value)
    } else {
        Err(format!(
            "{}: {}",
            value["error"].as_str().unwrap_or("error"),
            value["message"].as_str().unwrap_or_default()
        ))
    }
}
