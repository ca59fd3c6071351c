//! Reading `weir.toml` into a [`PlatformConfig`] with every problem located.
//!
//! The `toml` crate parses the file into a tree that remembers byte spans; each entry of
//! each section is then deserialized on its own (serde, `deny_unknown_fields`), so one
//! broken queue does not hide the problems of the next. A problem key (unknown, or with
//! a bad value) is reported, removed, and the entry read again, so every problem shows,
//! not only the first serde meets.

use serde::de::{DeserializeOwned, IntoDeserializer};
use toml::Spanned;
use toml::de::{DeTable, DeValue};

use super::repository::CLEAR_CREDENTIAL_KEYS;
use super::validate::{Located, validate};
use super::{
    AuthSettings, Channel, ComputeEnvironment, NotificationSettings, PlatformConfig, Queue,
    RepositorySettings, SandboxSettings, SmtpSettings, Team, TracingSettings,
};
use crate::access::sso::OidcSettings;
use crate::spec::diagnostic::{Diagnostic, Pos, did_you_mean};

/// Sections `weir.toml` may hold; each is an array of tables (`[[queues]]`).
const SECTIONS: [&str; 4] = ["compute_environments", "queues", "teams", "channels"];
/// The plain tables `weir.toml` may hold: `[auth]` (with `[auth.oidc]`), `[sandbox]`,
/// `[logs]`, `[repository]`, `[smtp]`, `[notifications]`, `[tracing]`, `[metrics]`,
/// `[datasets]` and `[sensors]`.
const AUTH: &str = "auth";
const SANDBOX: &str = "sandbox";
const LOGS: &str = "logs";
const REPOSITORY: &str = "repository";
const SMTP: &str = "smtp";
const NOTIFICATIONS: &str = "notifications";
const TRACING: &str = "tracing";
const METRICS: &str = "metrics";
const DATASETS: &str = "datasets";
const SENSORS: &str = "sensors";
const TABLES: [&str; 10] = [
    AUTH,
    SANDBOX,
    LOGS,
    REPOSITORY,
    SMTP,
    NOTIFICATIONS,
    TRACING,
    METRICS,
    DATASETS,
    SENSORS,
];

/// Most problems reported for one entry before giving up on it.
const MAX_PROBLEMS: usize = 32;

/// What reading `weir.toml` gave.
#[derive(Debug, Clone, Default)]
pub struct PlatformReport {
    /// The config, when the file has no errors (warnings are allowed).
    pub config: Option<PlatformConfig>,
    /// Every problem found, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

impl PlatformReport {
    pub fn has_errors(&self) -> bool {
        crate::spec::diagnostic::has_errors(&self.diagnostics)
    }

    /// The whole report rendered rustc-style for `path`.
    pub fn render(&self, path: &str, source: &str) -> String {
        crate::spec::diagnostic::render_all(&self.diagnostics, path, source)
    }
}

/// Reads and checks a `weir.toml`.
pub fn parse(source: &str) -> PlatformReport {
    let mut diags = Vec::new();
    let root = match DeTable::parse(source) {
        Ok(root) => root,
        Err(err) => {
            let pos = err
                .span()
                .map_or(Pos::new(1, 1), |s| pos_at(source, s.start));
            diags.push(Diagnostic::error(
                pos,
                format!("malformed TOML: {}", err.message().trim_end()),
            ));
            return PlatformReport {
                config: None,
                diagnostics: diags,
            };
        }
    };

    let mut config = PlatformConfig {
        compute_environments: Vec::new(),
        queues: Vec::new(),
        teams: Vec::new(),
        auth: AuthSettings::default(),
        sandbox: SandboxSettings::default(),
        logs: super::LogSettings::default(),
        repository: None,
        channels: Vec::new(),
        smtp: None,
        notifications: super::NotificationSettings::default(),
        tracing: None,
        metrics: super::MetricsSettings::default(),
        datasets: super::DatasetSettings::default(),
        sensors: super::SensorSettings::default(),
        origin: super::ConfigOrigin::File,
    };
    let mut located = Located::default();
    let mut channel_positions = Vec::new();
    for (key, value) in root.get_ref().iter() {
        let name: &str = key.get_ref();
        let key_pos = pos_at(source, key.span().start);
        match name {
            "compute_environments" => {
                for (item, v) in section(name, key_pos, value, source, &mut diags) {
                    if let Some(e) = entry::<ComputeEnvironment>(
                        &item,
                        "compute environment",
                        source,
                        &mut diags,
                    ) {
                        config.compute_environments.push(e);
                        located.environments.push(v);
                    }
                }
            }
            "queues" => {
                for (item, v) in section(name, key_pos, value, source, &mut diags) {
                    if let Some(q) = entry::<Queue>(&item, "queue", source, &mut diags) {
                        config.queues.push(q);
                        located.queues.push(v);
                    }
                }
            }
            "teams" => {
                for (item, v) in section(name, key_pos, value, source, &mut diags) {
                    if let Some(t) = entry::<Team>(&item, "team", source, &mut diags) {
                        config.teams.push(t);
                        located.teams.push(v);
                    }
                }
            }
            "channels" => {
                for (item, v) in section(name, key_pos, value, source, &mut diags) {
                    if let Some(c) = entry::<Channel>(&item, "channel", source, &mut diags) {
                        config.channels.push(c);
                        channel_positions.push(v);
                    }
                }
            }
            SMTP => {
                if let Some(smtp) = entry::<SmtpSettings>(value, "[smtp] table", source, &mut diags)
                {
                    let at = EntryPos::of(value, source);
                    for (key, problem) in smtp.problems() {
                        diags.push(Diagnostic::error(at.key(key), format!("[smtp] {problem}")));
                    }
                    config.smtp = Some(smtp);
                }
            }
            NOTIFICATIONS => {
                if let Some(settings) = entry::<NotificationSettings>(
                    value,
                    "[notifications] table",
                    source,
                    &mut diags,
                ) {
                    let at = EntryPos::of(value, source);
                    for (key, problem) in settings.problems() {
                        diags.push(Diagnostic::error(
                            at.key(key),
                            format!("[notifications] {problem}"),
                        ));
                    }
                    config.notifications = settings;
                }
            }
            AUTH => {
                if let Some(auth) = auth_section(key_pos, value, source, &mut diags) {
                    config.auth = auth;
                }
            }
            SANDBOX => {
                if let Some(sandbox) =
                    entry::<SandboxSettings>(value, "[sandbox] table", source, &mut diags)
                {
                    for problem in sandbox.problems() {
                        diags.push(Diagnostic::error(key_pos, format!("[sandbox] {problem}")));
                    }
                    config.sandbox = sandbox;
                }
            }
            LOGS => {
                if let Some((logs, at)) =
                    super::logs::logs_section(key_pos, value, source, &mut diags)
                {
                    config.logs = logs;
                    located.logs = Some(at);
                }
            }
            METRICS => {
                if let Some(metrics) = entry(value, "[metrics] table", source, &mut diags) {
                    config.metrics = metrics;
                }
            }
            DATASETS => {
                if let Some(datasets) = entry(value, "[datasets] table", source, &mut diags) {
                    config.datasets = datasets;
                }
            }
            SENSORS => {
                if let Some(sensors) =
                    entry::<super::SensorSettings>(value, "[sensors] table", source, &mut diags)
                {
                    for problem in sensors.problems() {
                        diags.push(Diagnostic::error(key_pos, format!("[sensors] {problem}")));
                    }
                    config.sensors = sensors;
                }
            }
            REPOSITORY => {
                if let Some((repository, at)) =
                    repository_section(key_pos, value, source, &mut diags)
                {
                    config.repository = Some(repository);
                    located.repository = Some(at);
                }
            }
            TRACING => {
                config.tracing = tracing_section(key_pos, value, source, &mut diags);
            }
            other => {
                let d = Diagnostic::error(key_pos, format!("unknown section `{other}`"));
                diags.push(
                    match did_you_mean(other, SECTIONS.into_iter().chain(TABLES)) {
                        Some(t) if TABLES.contains(&t) => {
                            d.with_help(format!("did you mean `[{t}]`?"))
                        }
                        Some(s) => d.with_help(format!("did you mean `[[{s}]]`?")),
                        None => d.with_help(format!(
                            "weir.toml holds these sections: {}, {}",
                            SECTIONS.map(|s| format!("[[{s}]]")).join(", "),
                            TABLES.map(|t| format!("[{t}]")).join(", ")
                        )),
                    },
                );
            }
        }
    }

    validate(&config, &located, &mut diags);
    check_channels(&config, &channel_positions, &mut diags);
    diags.sort_by_key(|d| d.pos);
    let ok = !diags.iter().any(Diagnostic::is_error);
    PlatformReport {
        config: ok.then_some(config),
        diagnostics: diags,
    }
}

/// Each channel's own problems, and names used twice.
fn check_channels(config: &PlatformConfig, at: &[EntryPos], diags: &mut Vec<Diagnostic>) {
    let smtp = config.smtp.is_some();
    for (i, (channel, at)) in config.channels.iter().zip(at).enumerate() {
        for (key, problem) in channel.problems(smtp) {
            diags.push(Diagnostic::error(at.key(key), problem));
        }
        if config.channels[..i].iter().any(|c| c.name == channel.name) {
            diags.push(Diagnostic::error(
                at.key("name"),
                format!("channel `{}` is defined twice", channel.name),
            ));
        }
    }
}

/// The `[auth]` table. Its one key, `oidc`, is read as an entry of its own: a header
/// table's span does not cover its keys, so problems inside it are located from there.
fn auth_section(
    key_pos: Pos,
    value: &Spanned<DeValue<'_>>,
    source: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<AuthSettings> {
    let DeValue::Table(table) = value.get_ref() else {
        diags.push(
            Diagnostic::error(key_pos, format!("`{AUTH}` must be a table"))
                .with_help("write it as `[auth.oidc]` with the provider's settings below"),
        );
        return None;
    };
    let mut auth = AuthSettings::default();
    let mut ok = true;
    for (key, v) in table.iter() {
        let pos = pos_at(source, key.span().start);
        match key.get_ref().as_ref() {
            "oidc" => match entry::<OidcSettings>(v, "[auth.oidc] table", source, diags) {
                Some(oidc) => {
                    for (field, problem) in crate::access::sso::check(&oidc) {
                        diags.push(Diagnostic::error(
                            pos,
                            format!("[auth.oidc] `{field}`: {problem}"),
                        ));
                        ok = false;
                    }
                    auth.oidc = Some(oidc);
                }
                None => ok = false,
            },
            other => {
                diags.push(
                    Diagnostic::error(pos, format!("unknown key `{other}` in [auth]"))
                        .with_help("[auth] holds one table: `[auth.oidc]`"),
                );
                ok = false;
            }
        }
    }
    ok.then_some(auth)
}

/// The `[repository]` table, and where its keys are. A credential written in clear
/// (`token = "…"`) is refused with the key that names a secret instead, rather than as
/// a mere unknown key.
fn repository_section(
    key_pos: Pos,
    value: &Spanned<DeValue<'_>>,
    source: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<(RepositorySettings, EntryPos)> {
    let mut value = value.clone();
    refuse_clear_credentials(
        REPOSITORY,
        CLEAR_CREDENTIAL_KEYS.map(|(clear, instead)| {
            (
                clear,
                format!("put it in a secret and name it with {instead} = \"team/name\""),
            )
        }),
        &mut value,
        source,
        diags,
    );
    let repository = entry::<RepositorySettings>(&value, "[repository] table", source, diags)?;
    let mut at = EntryPos::of(&value, source);
    // A header table's own span does not point at its header: name the header.
    at.pos = key_pos;
    // Checked even when a clear credential was refused, so every problem shows; that
    // error alone already keeps the file from loading.
    Some((repository, at))
}

/// Refuses each `(key, help)` of `clear` written in table `[name]`: a credential in
/// clear, reported at its key with the help, then removed so the table is still read
/// (and its other problems shown).
pub(super) fn refuse_clear_credentials(
    name: &str,
    clear: impl IntoIterator<Item = (&'static str, String)>,
    value: &mut Spanned<DeValue<'_>>,
    source: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let DeValue::Table(table) = value.get_mut() else {
        return;
    };
    for (key, help) in clear {
        let Some(pos) = table
            .iter()
            .find(|(k, _)| k.get_ref() == key)
            .map(|(k, _)| pos_at(source, k.span().start))
        else {
            continue;
        };
        diags.push(
            Diagnostic::error(
                pos,
                format!("[{name}] may not hold a credential in clear (`{key}`)"),
            )
            .with_help(help),
        );
        table.remove(key);
    }
}

/// The `[tracing]` table, each problem at the key it is about.
fn tracing_section(
    key_pos: Pos,
    value: &Spanned<DeValue<'_>>,
    source: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<TracingSettings> {
    let tracing = entry::<TracingSettings>(value, "[tracing] table", source, diags)?;
    let mut at = EntryPos::of(value, source);
    at.pos = key_pos;
    for problem in tracing.problems() {
        let d = Diagnostic::error(
            at.key(problem.key),
            format!("[{TRACING}] {}", problem.message),
        );
        diags.push(match problem.help {
            Some(help) => d.with_help(help),
            None => d,
        });
    }
    Some(tracing)
}

/// The entries of one section, each with where it was written. A section written as
/// one table (`[queues]`) instead of an array of tables is reported.
fn section<'i>(
    name: &str,
    key_pos: Pos,
    value: &Spanned<DeValue<'i>>,
    source: &str,
    diags: &mut Vec<Diagnostic>,
) -> Vec<(Spanned<DeValue<'i>>, EntryPos)> {
    let DeValue::Array(items) = value.get_ref() else {
        diags.push(
            Diagnostic::error(key_pos, format!("`{name}` must be a list of tables")).with_help(
                format!("write each entry under its own `[[{name}]]` header"),
            ),
        );
        return Vec::new();
    };
    items
        .iter()
        .map(|item| (item.clone(), EntryPos::of(item, source)))
        .collect()
}

/// Positions inside one entry, for the checks that run after deserializing.
#[derive(Debug, Clone, Default)]
pub(super) struct EntryPos {
    /// Where the entry is: its `name` value, or the table itself.
    pub pos: Pos,
    /// Each key's value position; list values also keep each item's position.
    pub keys: Vec<(String, Pos, Vec<Pos>)>,
}

impl EntryPos {
    pub(super) fn of(item: &Spanned<DeValue<'_>>, source: &str) -> EntryPos {
        let mut out = EntryPos {
            pos: pos_at(source, item.span().start),
            keys: Vec::new(),
        };
        if let DeValue::Table(table) = item.get_ref() {
            for (k, v) in table.iter() {
                let items = match v.get_ref() {
                    DeValue::Array(a) => a.iter().map(|i| pos_at(source, i.span().start)).collect(),
                    _ => Vec::new(),
                };
                let vpos = pos_at(source, v.span().start);
                if k.get_ref() == "name" {
                    out.pos = vpos;
                }
                out.keys.push((k.get_ref().to_string(), vpos, items));
            }
        }
        out
    }

    /// Where `key`'s value is, or the entry when the key is absent.
    pub fn key(&self, key: &str) -> Pos {
        self.keys
            .iter()
            .find(|(k, ..)| k == key)
            .map_or(self.pos, |(_, p, _)| *p)
    }

    /// Where item `index` of list `key` is.
    pub fn item(&self, key: &str, index: usize) -> Pos {
        self.keys
            .iter()
            .find(|(k, ..)| k == key)
            .and_then(|(_, p, items)| items.get(index).copied().or(Some(*p)))
            .unwrap_or(self.pos)
    }
}

/// Deserializes one entry, reporting each of its problems. Unknown keys alone still
/// yield the entry (so the checks after it run); any other problem yields `None`.
pub(super) fn entry<T: DeserializeOwned>(
    item: &Spanned<DeValue<'_>>,
    kind: &str,
    source: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    let what = match item.get_ref() {
        DeValue::Table(t) => match t.get("name").map(|v| v.get_ref()) {
            Some(DeValue::String(name)) => format!("{kind} `{name}`"),
            _ => format!("this {kind}"),
        },
        _ => {
            diags.push(Diagnostic::error(
                pos_at(source, item.span().start),
                format!("each {kind} must be a table"),
            ));
            return None;
        }
    };
    // serde stops at the first problem: report it, drop the key it is about, and read
    // the entry again, until it reads or a problem cannot be dropped.
    let mut item = item.clone();
    let mut removed: Vec<String> = Vec::new();
    let mut broken = false;
    for _ in 0..MAX_PROBLEMS {
        let err = match T::deserialize(item.clone().into_deserializer()) {
            Ok(value) => return (!broken).then_some(value),
            Err(err) => err,
        };
        let span = err.span().unwrap_or(item.span());
        let pos = pos_at(source, span.start);
        let message = err.message().trim_end().to_string();
        let words = backticked(&message);
        if message.starts_with("missing field")
            && words.first().is_some_and(|f| removed.contains(f))
        {
            // Already reported as the key's bad value.
            return None;
        }
        if let (true, Some(unknown)) = (message.starts_with("unknown field"), words.first()) {
            let known = &words[1..];
            let d = Diagnostic::error(pos, format!("unknown key `{unknown}` in {what}"));
            diags.push(
                match did_you_mean(unknown, known.iter().map(String::as_str)) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("known keys here: {}", known.join(", "))),
                },
            );
        } else {
            diags.push(describe(pos, &message, &words, &what));
            broken = true;
        }
        match remove_at(item.get_mut(), span.start) {
            Some(name) => removed.push(name),
            None => return None,
        }
    }
    None
}

/// Turns a serde message into a diagnostic that speaks the file's language.
fn describe(pos: Pos, message: &str, words: &[String], what: &str) -> Diagnostic {
    if message.starts_with("missing field")
        && let Some(field) = words.first()
    {
        return Diagnostic::error(pos, format!("{what} is missing the required key `{field}`"));
    }
    if message.starts_with("unknown variant")
        && let Some(value) = words.first()
    {
        let known = &words[1..];
        let d = Diagnostic::error(pos, format!("unknown value `{value}` in {what}"));
        return match did_you_mean(value, known.iter().map(String::as_str)) {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!("use one of: {}", known.join(", "))),
        };
    }
    let readable = message
        .replace("expected f64", "expected a number")
        .replace("expected i32", "expected a whole number")
        .replace("expected u64", "expected a whole number, 0 or more")
        .replace("expected u8", "expected a whole number from 0 to 255");
    Diagnostic::error(pos, format!("{what}: {readable}"))
}

/// The words between backticks in a serde message, in order.
fn backticked(message: &str) -> Vec<String> {
    message
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect()
}

/// Removes the key a problem at byte `start` is about (the key itself or its value),
/// from the innermost table that holds it. Returns the top-level key's name.
fn remove_at(value: &mut DeValue<'_>, start: usize) -> Option<String> {
    let DeValue::Table(table) = value else {
        return None;
    };
    let (name, exact) = table.iter().find_map(|(k, v)| {
        let on_key = k.span().start == start;
        let in_value = v.span().contains(&start);
        (on_key || in_value).then(|| {
            let exact = on_key || v.span().start == start;
            (k.get_ref().to_string(), exact)
        })
    })?;
    if !exact
        && let Some(inner) = table.get_mut(name.as_str())
        && remove_at(inner.get_mut(), start).is_some()
    {
        return Some(name);
    }
    table.remove(name.as_str());
    Some(name)
}

/// The 1-based line and column (in characters) of byte `offset` of `source`.
pub(super) fn pos_at(source: &str, offset: usize) -> Pos {
    let offset = offset.min(source.len());
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before[line_start..].chars().count() + 1;
    Pos::new(
        u32::try_from(line).unwrap_or(u32::MAX),
        u32::try_from(col).unwrap_or(u32::MAX),
    )
}
