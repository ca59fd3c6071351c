//! The message an event becomes: the same facts as JSON (a webhook's body), as one
//! chat text (Slack-compatible webhooks) and as an e-mail's subject and body.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::event::NotifyEvent;

/// Lines of the try's log a message carries.
pub const LOG_TAIL_LINES: usize = 20;
/// A log line longer than this is cut in a message.
const MAX_LINE_CHARS: usize = 400;

/// What an event is about: a run, or one task instance of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Subject {
    pub team: String,
    pub dag_id: String,
    pub run_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// -1 for an unmapped task, as Airflow writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub map_index: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub try_number: Option<u32>,
}

/// One event, as every channel sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub event: NotifyEvent,
    #[serde(flatten)]
    pub subject: Subject,
    /// The run's or the instance's state, e.g. `failed`, `up_for_retry`, `running`.
    pub state: String,
    /// Why, when known: an exit code, `out of memory`, a timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    pub logical_date: DateTime<Utc>,
    /// With `deadline_miss`: the deadline that passed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
    /// The try's last log lines, masked as the log is.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub log_tail: Vec<String>,
    /// The run in Weir's web UI.
    pub url: String,
    /// When the event happened.
    pub at: DateTime<Utc>,
}

impl Message {
    fn what(&self) -> String {
        let s = &self.subject;
        match (&s.task_id, s.try_number) {
            (Some(task), Some(try_number)) => {
                let mapped = match s.map_index {
                    Some(i) if i >= 0 => format!("[{i}]"),
                    _ => String::new(),
                };
                format!("task {task}{mapped} (try {try_number})")
            }
            (Some(task), None) => format!("task {task}"),
            _ => "run".to_string(),
        }
    }

    fn headline(&self) -> String {
        let s = &self.subject;
        let happened = match self.event {
            NotifyEvent::Failure => "failed".to_string(),
            NotifyEvent::Retry => "failed and will be retried".to_string(),
            NotifyEvent::Success => "succeeded".to_string(),
            NotifyEvent::Recovery => "recovered: it succeeded after a failure".to_string(),
            NotifyEvent::DeadlineMiss => match self.deadline {
                Some(d) => format!(
                    "missed its deadline ({})",
                    d.format("%Y-%m-%d %H:%M:%S UTC")
                ),
                None => "missed its deadline".to_string(),
            },
        };
        format!("{}/{}: {} {happened}", s.team, s.dag_id, self.what())
    }

    /// The e-mail's subject line.
    pub fn email_subject(&self) -> String {
        format!("[Weir] {}", self.headline())
    }

    /// The plain-text body of an e-mail and of a chat message.
    pub fn text(&self) -> String {
        let s = &self.subject;
        let mut out = format!("{}\n\n", self.headline());
        out.push_str(&format!(
            "Team:   {}\nDAG:    {}\nRun:    {}\n",
            s.team, s.dag_id, s.run_id
        ));
        if let Some(task) = &s.task_id {
            out.push_str(&format!("Task:   {task}\n"));
        }
        if let Some(try_number) = s.try_number {
            out.push_str(&format!("Try:    {try_number}\n"));
        }
        out.push_str(&format!("State:  {}\n", self.state));
        if let Some(reason) = &self.reason {
            out.push_str(&format!("Reason: {reason}\n"));
        }
        out.push_str(&format!(
            "Logical date: {}\n",
            self.logical_date.format("%Y-%m-%dT%H:%M:%SZ")
        ));
        out.push_str(&format!("Open the run: {}\n", self.url));
        if !self.log_tail.is_empty() {
            out.push_str(&format!("\nLast {} log lines:\n", self.log_tail.len()));
            for line in &self.log_tail {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// A Slack-compatible webhook's body: `{"text": …}` with the log in a code block.
    pub fn slack_body(&self) -> serde_json::Value {
        let mut text = format!("*{}*\n", self.headline());
        if let Some(reason) = &self.reason {
            text.push_str(&format!("Reason: {reason}\n"));
        }
        text.push_str(&format!("<{}|Open the run in Weir>", self.url));
        if !self.log_tail.is_empty() {
            // A code block ends at three backticks: the log must not end it early.
            let log = self.log_tail.join("\n").replace("```", "'''");
            text.push_str(&format!("\n```\n{log}\n```"));
        }
        serde_json::json!({ "text": text })
    }
}

/// The key that makes one event one message per channel, however often it is raised:
/// the event and what it is about. `ended_at` tells two ends of one run apart (a
/// cleared run ends again); a try's number does that for a task.
pub fn dedup_key(event: NotifyEvent, subject: &Subject, ended_at: Option<DateTime<Utc>>) -> String {
    let mut key = format!("{}:{}/{}", event, subject.dag_id, subject.run_id);
    if let Some(task) = &subject.task_id {
        key.push_str(&format!("/{task}/{}", subject.map_index.unwrap_or(-1)));
    }
    if let Some(try_number) = subject.try_number
        && event != NotifyEvent::DeadlineMiss
    {
        key.push_str(&format!("/{try_number}"));
    }
    if let Some(at) = ended_at
        && event != NotifyEvent::DeadlineMiss
    {
        key.push_str(&format!("@{}", at.timestamp_millis()));
    }
    key
}

/// The last [`LOG_TAIL_LINES`] non-empty lines of the end of a log, each cut to a
/// readable length. `end` may start mid-line (it is the file's last bytes): a partial
/// first line is dropped unless it is all there is.
pub fn tail_lines(end: &[u8], starts_mid_line: bool) -> Vec<String> {
    let text = String::from_utf8_lossy(end);
    let mut lines: Vec<&str> = text.lines().collect();
    if starts_mid_line && lines.len() > 1 {
        lines.remove(0);
    }
    let lines: Vec<&str> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
    let skip = lines.len().saturating_sub(LOG_TAIL_LINES);
    lines[skip..]
        .iter()
        .map(|l| {
            if l.chars().count() > MAX_LINE_CHARS {
                let cut: String = l.chars().take(MAX_LINE_CHARS).collect();
                format!("{cut}…")
            } else {
                l.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(event: NotifyEvent) -> Message {
        Message {
            event,
            subject: Subject {
                team: "data-eng".into(),
                dag_id: "load".into(),
                run_id: "manual__2026-12-01T00:00:00+00:00".into(),
                task_id: Some("extract".into()),
                map_index: Some(-1),
                try_number: Some(2),
            },
            state: "failed".into(),
            reason: Some("exit code 3".into()),
            logical_date: DateTime::<Utc>::UNIX_EPOCH,
            deadline: None,
            log_tail: vec!["line ```one".into(), "two".into()],
            url: "http://weir/dags/load/runs/x".into(),
            at: DateTime::<Utc>::UNIX_EPOCH,
        }
    }

    #[test]
    fn every_form_names_the_team_dag_task_try_and_reason() {
        let m = message(NotifyEvent::Failure);
        assert_eq!(
            m.email_subject(),
            "[Weir] data-eng/load: task extract (try 2) failed"
        );
        let text = m.text();
        for needle in [
            "Team:   data-eng",
            "Run:    manual__",
            "Reason: exit code 3",
            "two",
        ] {
            assert!(text.contains(needle), "{needle} in {text}");
        }
        let slack = m.slack_body()["text"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(slack.contains("<http://weir/dags/load/runs/x|Open the run in Weir>"));
        assert!(
            !slack.contains("line ```one"),
            "the log cannot close the code block"
        );
        let json = serde_json::to_value(&m).unwrap_or_default();
        assert_eq!(json["event"], "failure");
        assert_eq!(json["task_id"], "extract");
    }

    #[test]
    fn one_event_is_one_key() {
        let m = message(NotifyEvent::Retry);
        let a = dedup_key(m.event, &m.subject, None);
        assert_eq!(
            a,
            "retry:load/manual__2026-12-01T00:00:00+00:00/extract/-1/2"
        );
        let deadline = dedup_key(NotifyEvent::DeadlineMiss, &m.subject, None);
        assert!(
            !deadline.ends_with("/2"),
            "a deadline is missed once per instance"
        );
        let run = Subject {
            task_id: None,
            map_index: None,
            try_number: None,
            ..m.subject.clone()
        };
        let first = dedup_key(
            NotifyEvent::Failure,
            &run,
            Some(DateTime::<Utc>::UNIX_EPOCH),
        );
        let again = dedup_key(
            NotifyEvent::Failure,
            &run,
            Some(m.at + chrono::Duration::seconds(5)),
        );
        assert_ne!(
            first, again,
            "a cleared run that fails again is a new event"
        );
    }

    #[test]
    fn the_tail_is_the_last_lines_whole() {
        let log: String = (1..=30).map(|i| format!("line {i}\n")).collect();
        let tail = tail_lines(&log.as_bytes()[3..], true);
        assert_eq!(tail.len(), LOG_TAIL_LINES);
        assert_eq!(tail[0], "line 11");
        assert_eq!(tail[19], "line 30");
        let short = tail_lines(b"ne 1\n\nline 2\n", true);
        assert_eq!(short, ["line 2"]);
        let long = tail_lines("x".repeat(1000).as_bytes(), false);
        assert!(long[0].chars().count() <= MAX_LINE_CHARS + 1);
    }
}
