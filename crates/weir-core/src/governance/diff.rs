//! The textual diff a reviewer reads next to the [`super::ChangeSummary`]: a unified
//! diff of two versions' files, as `git diff` would show it.

use similar::TextDiff;

/// The unified diff (3 lines of context) from `old` to `new`, with `--- old_label` and
/// `+++ new_label` headers; an empty string when the texts are the same.
///
/// The diff takes time proportional to the texts' length times the size of the
/// change, and it has no deadline (a deadline would read the clock): callers that may
/// compare huge files cap their size first (DAG files are at most
/// [`crate::spec::MAX_FILE_BYTES`]).
pub fn unified_diff(old: &str, new: &str, old_label: &str, new_label: &str) -> String {
    if old == new {
        return String::new();
    }
    TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changed_lines_come_with_headers_and_context() {
        let old = "dag: daily\nteam: marketing\nschedule: \"@daily\"\ntasks:\n  a: {noop: {}}\n";
        let new = "dag: daily\nteam: marketing\nschedule: \"@hourly\"\ntasks:\n  a: {noop: {}}\n";
        let diff = unified_diff(old, new, "a/dags/daily.yaml", "b/dags/daily.yaml");
        assert_eq!(
            diff,
            "--- a/dags/daily.yaml\n+++ b/dags/daily.yaml\n@@ -1,5 +1,5 @@\n dag: daily\n team: marketing\n-schedule: \"@daily\"\n+schedule: \"@hourly\"\n tasks:\n   a: {noop: {}}\n"
        );
    }

    #[test]
    fn identical_texts_give_nothing_and_a_new_file_is_all_added() {
        assert_eq!(unified_diff("a\n", "a\n", "old", "new"), "");
        assert_eq!(unified_diff("", "", "old", "new"), "");
        let diff = unified_diff("", "a\nb\n", "/dev/null", "b/x.yaml");
        assert_eq!(
            diff,
            "--- /dev/null\n+++ b/x.yaml\n@@ -0,0 +1,2 @@\n+a\n+b\n"
        );
    }

    #[test]
    fn far_apart_changes_are_separate_hunks() {
        let old: String = (1..=20).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 2\n", "line two\n")
            .replace("line 19\n", "line nineteen\n");
        let diff = unified_diff(&old, &new, "old", "new");
        assert_eq!(diff.matches("@@ -").count(), 2, "{diff}");
        assert!(diff.contains("-line 19\n+line nineteen\n"), "{diff}");
        // A missing newline at the end is said, as git does.
        let diff = unified_diff("a", "b", "old", "new");
        assert!(diff.contains("\\ No newline at end of file"), "{diff}");
    }
}
