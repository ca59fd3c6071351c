//! Airflow's `Config` (`GET /config`): sections of `key = value` options, and the
//! `text/plain` form Airflow also serves (`[section]` then `key = value` lines).

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Airflow's marker for a value that is not shown.
pub const HIDDEN: &str = "< hidden >";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfigOption {
    pub key: String,
    pub value: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ConfigSection {
    pub name: String,
    pub options: Vec<ConfigOption>,
}

impl ConfigSection {
    pub fn new(name: &str) -> Self {
        ConfigSection {
            name: name.to_string(),
            options: Vec::new(),
        }
    }

    /// Adds `key = value`.
    pub fn option(mut self, key: &str, value: impl ToString) -> Self {
        self.options.push(ConfigOption {
            key: key.to_string(),
            value: value.to_string(),
        });
        self
    }
}

/// The effective settings, section by section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Config {
    pub sections: Vec<ConfigSection>,
}

impl Config {
    /// The `text/plain` form, as Airflow writes it.
    pub fn to_text(&self) -> String {
        self.sections
            .iter()
            .map(|s| {
                let options: Vec<String> = s
                    .options
                    .iter()
                    .map(|o| format!("{} = {}", o.key, o.value))
                    .collect();
                format!("[{}]\n{}\n", s.name, options.join("\n"))
            })
            .collect::<Vec<_>>()
            .join("\n")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_form_is_airflows() {
        let c = Config {
            sections: vec![
                ConfigSection::new("core").option("dags_folder", "/dags"),
                ConfigSection::new("smtp")
                    .option("smtp_host", "localhost")
                    .option("smtp_port", 25),
            ],
        };
        assert_eq!(
            c.to_text(),
            "[core]\ndags_folder = /dags\n\n[smtp]\nsmtp_host = localhost\nsmtp_port = 25\n"
        );
    }
}
