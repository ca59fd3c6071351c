//! One problem of a `weir.toml` table (`[repository]`, `[tracing]`): the key it is
//! about, a sentence and, maybe, a hint at the fix; the reader puts it at the key.

/// One problem of a table, at one of its keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyProblem {
    pub key: &'static str,
    pub message: String,
    pub help: Option<String>,
}

impl KeyProblem {
    pub(super) fn new(key: &'static str, message: impl Into<String>) -> Self {
        KeyProblem {
            key,
            message: message.into(),
            help: None,
        }
    }

    pub(super) fn help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }
}
