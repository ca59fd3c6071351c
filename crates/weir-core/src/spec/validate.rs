//! Checks that need the whole DAG: dependencies, cycles, templates, `for_each`, and
//! schedule sanity. Runs after [`super::dag::read_dag`] on what it read.

use std::collections::BTreeSet;

use super::dag::ReadDag;
use super::diagnostic::{Diagnostic, Pos, did_you_mean, line_col};
use super::graph::TaskGraph;
use super::model::{ForEach, ScheduleSpec};
use super::reader::Diags;
use super::task::TemplateSite;
use crate::ids::TaskId;
use crate::template;

pub fn validate(read: &ReadDag, source: &str, diags: &mut Diags) {
    let spec = &read.spec;
    let graph = TaskGraph::new(spec);
    let known: Vec<&str> = read.tasks.keys().map(TaskId::as_str).collect();

    for (id, at) in &read.tasks {
        for (dep, pos) in &at.depends_on {
            if id == dep {
                diags.push(Diagnostic::error(
                    *pos,
                    format!("task `{id}` depends on itself"),
                ));
            } else if !read.tasks.contains_key(dep.as_str()) {
                let d = Diagnostic::error(
                    *pos,
                    format!("task `{id}` depends on `{dep}`, which is not a task of this DAG"),
                );
                diags.push(match did_you_mean(dep, known.iter().copied()) {
                    Some(s) => d.with_help(format!("did you mean `{s}`?")),
                    None => d.with_help(format!("the tasks are: {}", known.join(", "))),
                });
            }
        }
    }

    for cycle in graph.cycles() {
        if cycle.len() == 2 {
            continue; // a self-dependency, reported above
        }
        // Point at the `depends_on` entry that closes the cycle.
        let (last, first) = (&cycle[cycle.len() - 2], &cycle[cycle.len() - 1]);
        let pos = read
            .tasks
            .get(last)
            .and_then(|t| {
                t.depends_on
                    .iter()
                    .find(|(d, _)| first == d)
                    .map(|(_, p)| *p)
            })
            .unwrap_or(read.pos);
        diags.push(
            Diagnostic::error(pos, format!("dependency cycle: {}", cycle.join(" → ")))
                .with_note("each task depends on the next; a DAG may not loop back on itself")
                .with_help("remove one of these dependencies"),
        );
    }

    for (id, at) in &read.tasks {
        for (reference, pos) in &at.secrets {
            if let Err(why) = crate::secrets::own_secret(&spec.team, reference) {
                diags.push(
                    Diagnostic::error(*pos, format!("task `{id}`: {why}")).with_help(format!(
                        "ask team `{}`'s admin to set the secret in your namespace: \
                             `weir secrets set {}/NAME`",
                        spec.team, spec.team
                    )),
                );
            }
        }
    }

    for (id, at) in &read.tasks {
        let task = spec.tasks.get(id);
        let fans_out = at.for_each.is_some();
        for site in &at.templates {
            check_template(site, source, fans_out, diags);
            // `for_each` has its own check of what it pulls.
            if at.for_each != Some(site.pos) {
                check_xcom_pulls(id, site, source, read, &graph, diags);
            }
        }
        if let (Some(task), Some(pos)) = (task, at.for_each) {
            check_for_each(id, task.for_each.as_ref(), pos, read, &graph, diags);
        }
    }

    let cron = spec.schedule.as_ref().and_then(ScheduleSpec::cron);
    if spec.catchup && cron.is_none() {
        diags.push(
            Diagnostic::warning(
                read.catchup_pos.unwrap_or(read.pos),
                "`catchup: true` has no effect without a cron schedule",
            )
            .with_help("remove `catchup`, or give the DAG a `schedule`"),
        );
    }
    if let Some(expr) = cron
        && spec.start_date.is_none()
    {
        diags.push(
            Diagnostic::error(
                read.schedule_pos.unwrap_or(read.pos),
                format!("the DAG is scheduled (`{expr}`) but has no `start_date`"),
            )
            .with_help("add e.g. `start_date: 2026-01-01`: the first data interval starts there"),
        );
    }
}

/// Where in the file a (line, column) of a template's text is.
fn template_pos(site: &TemplateSite, source: &str, line: usize, col: usize) -> Pos {
    let line = u32::try_from(line.max(1)).unwrap_or(u32::MAX);
    let col = u32::try_from(col.max(1)).unwrap_or(u32::MAX);
    if site.block {
        // A block scalar's position is where its text starts, at that line's indentation.
        let file_line = site.pos.line + line - 1;
        let indent = source
            .lines()
            .nth(file_line.saturating_sub(1) as usize)
            .map_or(0, |l| l.chars().take_while(|c| *c == ' ').count());
        Pos::new(file_line, u32::try_from(indent).unwrap_or(0) + col)
    } else if line == 1 {
        let quote = source
            .lines()
            .nth(site.pos.line.saturating_sub(1) as usize)
            .and_then(|l| l.chars().nth(site.pos.col.saturating_sub(1) as usize))
            .is_some_and(|c| c == '"' || c == '\'');
        Pos::new(site.pos.line, site.pos.col + col - 1 + u32::from(quote))
    } else {
        Pos::new(site.pos.line + line - 1, col)
    }
}

fn check_template(site: &TemplateSite, source: &str, fans_out: bool, diags: &mut Diags) {
    if site.shell
        && let Err(e) = template::check_shell(&site.text)
    {
        let pos = template_pos(site, source, e.line.unwrap_or(1), e.column.unwrap_or(1));
        diags.push(Diagnostic::error(pos, e.message));
        return;
    }
    if !site.text.contains("{{") && !site.text.contains("{%") && !site.text.contains("{#") {
        return;
    }
    let at = |name: &str| {
        let (line, col) = line_col(&site.text, site.text.find(name).unwrap_or(0));
        template_pos(site, source, line, col)
    };
    let names = match template::read_names(&site.text) {
        Ok(names) => names,
        Err(e) => {
            let pos = template_pos(site, source, e.line.unwrap_or(1), e.column.unwrap_or(1));
            diags.push(Diagnostic::error(pos, e.message));
            return;
        }
    };
    if !fans_out && names.iter().any(|n| n == "item") {
        diags.push(
            Diagnostic::error(
                at("item"),
                "`item` is only defined in a task with `for_each`",
            )
            .with_help("add `for_each:` to this task, or remove `{{ item }}`"),
        );
    }
    for unknown in template::unknown_filters(&site.text) {
        let (line, col) = line_col(&site.text, unknown.offset);
        let d = Diagnostic::error(
            template_pos(site, source, line, col),
            format!("unknown template {} `{}`", unknown.kind, unknown.name),
        );
        diags.push(match unknown.suggestion {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "see the {}s of the template language (Jinja's, as in Airflow)",
                unknown.kind
            )),
        });
    }
    for unknown in template::unknown_names(&site.text).unwrap_or_default() {
        let d = Diagnostic::error(
            at(&unknown.name),
            format!("unknown template name `{}`", unknown.name),
        );
        diags.push(match unknown.suggestion {
            Some(s) => d.with_help(format!("did you mean `{s}`?")),
            None => d.with_help(format!(
                "templates may use: {}",
                template::CONTEXT_NAMES.join(", ")
            )),
        });
    }
}

/// `ti.xcom_pull('t')` in a task's templates names a task of the DAG that runs before
/// it (an upstream task): anything else would fail only at run time, spending a try.
fn check_xcom_pulls(
    id: &str,
    site: &TemplateSite,
    source: &str,
    read: &ReadDag,
    graph: &TaskGraph,
    diags: &mut Diags,
) {
    if !site.text.contains("xcom_pull") {
        return;
    }
    let known: Vec<&str> = read.tasks.keys().map(TaskId::as_str).collect();
    let upstream = upstream_of(graph, id);
    for pulled in template::referenced_xcom_tasks(&site.text) {
        let offset = site
            .text
            .find(&format!("'{pulled}'"))
            .or_else(|| site.text.find(&format!("\"{pulled}\"")))
            .map_or(0, |o| o + 1);
        let (line, col) = line_col(&site.text, offset);
        let pos = template_pos(site, source, line, col);
        if !read.tasks.contains_key(pulled.as_str()) {
            let d = Diagnostic::error(
                pos,
                format!(
                    "task `{id}` pulls the XCom of `{pulled}`, which is not a task of this DAG"
                ),
            );
            diags.push(match did_you_mean(&pulled, known.iter().copied()) {
                Some(s) => d.with_help(format!("did you mean `{s}`?")),
                None => d.with_help(format!("the tasks are: {}", known.join(", "))),
            });
        } else if pulled != id && !upstream.contains(pulled.as_str()) {
            diags.push(
                Diagnostic::error(
                    pos,
                    format!(
                        "task `{id}` pulls the XCom of `{pulled}`, which does not run before it"
                    ),
                )
                .with_help(format!("add `{pulled}` to `depends_on` of `{id}`")),
            );
        }
    }
}

fn check_for_each(
    id: &str,
    for_each: Option<&ForEach>,
    pos: Pos,
    read: &ReadDag,
    graph: &TaskGraph,
    diags: &mut Diags,
) {
    let Some(ForEach::Template(text)) = for_each else {
        return;
    };
    let trimmed = text.trim();
    let single =
        trimmed.starts_with("{{") && trimmed.ends_with("}}") && trimmed.matches("{{").count() == 1;
    if !single {
        diags.push(
            Diagnostic::error(pos, "`for_each` must be a list or a single `{{ expression }}` that yields a list")
                .with_help("e.g. `for_each: \"{{ ti.xcom_pull('list_files') }}\"` or `for_each: \"{{ params.countries }}\"`"),
        );
        return;
    }
    if trimmed.contains("item")
        && template::read_names(trimmed)
            .unwrap_or_default()
            .iter()
            .any(|n| n == "item")
    {
        diags.push(Diagnostic::error(
            pos,
            "`for_each` cannot use `item`: the items are what it defines",
        ));
    }
    let upstream = upstream_of(graph, id);
    for pulled in template::referenced_xcom_tasks(trimmed) {
        if !read.tasks.contains_key(pulled.as_str()) {
            diags.push(Diagnostic::error(
                pos,
                format!("`for_each` pulls the XCom of `{pulled}`, which is not a task of this DAG"),
            ));
        } else if !upstream.contains(pulled.as_str()) {
            diags.push(
                Diagnostic::error(
                    pos,
                    format!(
                        "`for_each` pulls the XCom of `{pulled}`, which is not upstream of `{id}`"
                    ),
                )
                .with_help(format!(
                    "add `{pulled}` to `depends_on` so its value exists when `{id}` fans out"
                )),
            );
        }
    }
    if let Some(rest) = trimmed
        .trim_start_matches("{{")
        .trim_end_matches("}}")
        .trim()
        .strip_prefix("params.")
    {
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        match read.spec.params.get(&name) {
            None => diags.push(
                Diagnostic::error(
                    pos,
                    format!("`for_each` uses `params.{name}`, which the DAG does not define"),
                )
                .with_help(format!("add `{name}: [...]` under `params:`")),
            ),
            Some(v) if !v.is_array() => diags.push(Diagnostic::error(
                pos,
                format!("`for_each` uses `params.{name}`, which is not a list"),
            )),
            Some(_) => {}
        }
    }
}

/// The tasks that run before `id` (its ancestors).
fn upstream_of<'a>(graph: &'a TaskGraph, id: &str) -> BTreeSet<&'a str> {
    graph
        .index_of(id)
        .map(|i| {
            graph
                .ancestors(i)
                .into_iter()
                .map(|j| graph.ids[j].as_str())
                .collect()
        })
        .unwrap_or_default()
}
