//! A DAG bag (Airflow's name): the DAGs of many files, with the checks that span files:
//! unique ids, ids owned by the team that registered them, teams' `paths`.

use std::collections::HashMap;

use super::diagnostic::Diagnostic;
use super::{DagSpec, FileReport, load_file};
use crate::ids::{DagId, TeamId};
use crate::platform::PlatformConfig;

/// One file's load result.
#[derive(Debug, Clone)]
pub struct BagFile {
    pub path: String,
    pub source: String,
    pub report: FileReport,
}

/// Who registered a DAG id first, as the store remembers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registered {
    /// The owning team; `None` when the store knows none (then any team may claim it).
    pub team: Option<TeamId>,
    /// The file the DAG was last loaded from.
    pub file: String,
}

/// One file to load: its path as shown, its path relative to the DAG folder
/// (`/`-separated, for `[[teams]] paths`) and its text.
#[derive(Debug, Clone)]
pub struct BagInput {
    pub path: String,
    pub rel_path: String,
    pub source: String,
}

/// The rules that span files beyond unique ids: who owns each id already, and where
/// each team's files may live.
#[derive(Debug, Clone, Copy, Default)]
pub struct BagRules<'a> {
    /// DAG ids already registered, by id.
    pub registered: Option<&'a HashMap<DagId, Registered>>,
    /// The platform config, for `[[teams]] paths`.
    pub platform: Option<&'a PlatformConfig>,
}

/// Loads every file (given as path and text) and reports a DAG id defined twice: the
/// first file keeps it, the later one gets an error.
pub fn load_bag(files: Vec<(String, String)>) -> Vec<BagFile> {
    let files = files
        .into_iter()
        .map(|(path, source)| BagInput {
            rel_path: path.clone(),
            path,
            source,
        })
        .collect();
    load_bag_with(files, BagRules::default())
}

/// Loads every file and applies `rules`, in this order for each DAG: a team declared
/// outside its `paths` is an error; a DAG id registered to another team is an error
/// naming both files (an id belongs to the team that registered it first, whatever the
/// file order); then a DAG id defined twice is an error on all but one file, the one
/// the id is registered from when it is among them, else the first.
pub fn load_bag_with(files: Vec<BagInput>, rules: BagRules<'_>) -> Vec<BagFile> {
    let mut out: Vec<BagFile> = files
        .into_iter()
        .map(|input| {
            let mut report = load_file(&input.source);
            let dags = std::mem::take(&mut report.dags);
            for dag in dags {
                match refusal(&dag, &input, rules) {
                    Some(d) => report.diagnostics.push(d),
                    None => report.dags.push(dag),
                }
            }
            BagFile {
                path: input.path,
                source: input.source,
                report,
            }
        })
        .collect();
    // The registered file keeps its id against a copy elsewhere, whatever the order.
    let mut owner: HashMap<DagId, String> = HashMap::new();
    if let Some(registered) = rules.registered {
        for file in &out {
            for dag in &file.report.dags {
                if registered
                    .get(&dag.dag)
                    .is_some_and(|r| r.file == file.path)
                {
                    owner.insert(dag.dag.clone(), file.path.clone());
                }
            }
        }
    }
    for file in &mut out {
        let mut kept: Vec<DagSpec> = Vec::new();
        for dag in std::mem::take(&mut file.report.dags) {
            match owner.get(&dag.dag) {
                Some(first) if *first != file.path => file.report.diagnostics.push(
                    Diagnostic::error(
                        locate_id(&file.source, &dag.dag),
                        format!("DAG `{}` is already defined in {first}", dag.dag),
                    )
                    .with_help("DAG ids must be unique across the DAG folder: rename one of them"),
                ),
                Some(_) => kept.push(dag),
                None => {
                    owner.insert(dag.dag.clone(), file.path.clone());
                    kept.push(dag);
                }
            }
        }
        file.report.dags = kept;
    }
    out
}

/// Why `dag` of `file` may not be loaded under `rules`, if it may not.
fn refusal(dag: &DagSpec, file: &BagInput, rules: BagRules<'_>) -> Option<Diagnostic> {
    if let Some(platform) = rules.platform
        && let Err(message) = platform.team_declared_at(&dag.team, &file.rel_path)
    {
        return Some(
            Diagnostic::error(locate_team(&file.source, &dag.team), message).with_help(
                "move the file under one of those folders, or declare the team whose folder it is in",
            ),
        );
    }
    let registered = rules.registered?.get(&dag.dag)?;
    let team = registered.team.as_ref()?;
    if *team == dag.team {
        return None;
    }
    let origin = if registered.file == file.path {
        "this file".to_string()
    } else {
        registered.file.clone()
    };
    Some(
        Diagnostic::error(
            locate_id(&file.source, &dag.dag),
            format!(
                "DAG `{}` belongs to team `{team}` (registered from {origin}); {} declares it for team `{}`",
                dag.dag, file.path, dag.team
            ),
        )
        .with_help(format!(
            "a DAG id stays with the team that registered it first: pick another id, or ask a platform admin to delete DAG `{}` so it can be registered again",
            dag.dag
        )),
    )
}

fn locate_id(source: &str, id: &str) -> super::Pos {
    super::diagnostic::locate(source, id).unwrap_or(super::Pos::new(1, 1))
}

fn locate_team(source: &str, team: &str) -> super::Pos {
    super::diagnostic::locate(source, "team:")
        .or_else(|| super::diagnostic::locate(source, team))
        .unwrap_or(super::Pos::new(1, 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dag_id_defined_twice_points_at_the_second_definition() {
        let dag =
            |id: &str| format!("# a comment\ndag: {id}\nteam: t\ntasks:\n  a: {{noop: {{}}}}\n");
        let bag = load_bag(vec![
            ("a.yaml".into(), dag("same")),
            ("b.yaml".into(), dag("same")),
            ("c.yaml".into(), dag("other")),
        ]);
        assert_eq!(bag[0].report.dags.len(), 1);
        assert!(bag[1].report.dags.is_empty());
        let d = &bag[1].report.diagnostics[0];
        assert_eq!((d.pos.line, d.pos.col), (2, 6));
        assert_eq!(d.message, "DAG `same` is already defined in a.yaml");
        assert_eq!(bag[2].report.dags.len(), 1);
    }
}

#[cfg(test)]
mod ownership_tests {
    use super::*;

    fn dag(id: &str, team: &str) -> String {
        format!("dag: {id}\nteam: {team}\ntasks:\n  a: {{noop: {{}}}}\n")
    }

    fn input(path: &str, source: String) -> BagInput {
        BagInput {
            path: format!("/srv/dags/{path}"),
            rel_path: path.to_string(),
            source,
        }
    }

    fn registered(id: &str, team: &str, path: &str) -> HashMap<DagId, Registered> {
        HashMap::from([(
            DagId::new(id).unwrap(),
            Registered {
                team: Some(TeamId::new(team).unwrap()),
                file: format!("/srv/dags/{path}"),
            },
        )])
    }

    #[test]
    fn another_team_cannot_take_a_registered_dag_id_whatever_the_file_order() {
        let owners = registered("revenue", "marketing", "marketing/revenue.yaml");
        let rules = BagRules {
            registered: Some(&owners),
            platform: None,
        };
        // `a_evil.yaml` sorts first: file order must not matter.
        let bag = load_bag_with(
            vec![
                input("a_evil.yaml", dag("revenue", "intruders")),
                input("marketing/revenue.yaml", dag("revenue", "marketing")),
            ],
            rules,
        );
        assert!(bag[0].report.dags.is_empty());
        assert_eq!(
            bag[0].report.diagnostics[0].message,
            "DAG `revenue` belongs to team `marketing` (registered from /srv/dags/marketing/revenue.yaml); /srv/dags/a_evil.yaml declares it for team `intruders`"
        );
        assert_eq!(bag[1].report.dags.len(), 1);
        assert!(bag[1].report.diagnostics.is_empty());

        // Alone, the intruding file is still refused.
        let bag = load_bag_with(vec![input("z.yaml", dag("revenue", "intruders"))], rules);
        assert!(bag[0].report.dags.is_empty());
        assert!(bag[0].report.has_errors());
    }

    #[test]
    fn the_registered_file_keeps_a_duplicate_id_of_the_same_team() {
        let owners = registered("revenue", "marketing", "marketing/revenue.yaml");
        let bag = load_bag_with(
            vec![
                input("a_copy.yaml", dag("revenue", "marketing")),
                input("marketing/revenue.yaml", dag("revenue", "marketing")),
            ],
            BagRules {
                registered: Some(&owners),
                platform: None,
            },
        );
        assert!(bag[0].report.dags.is_empty());
        assert_eq!(
            bag[0].report.diagnostics[0].message,
            "DAG `revenue` is already defined in /srv/dags/marketing/revenue.yaml"
        );
        assert_eq!(bag[1].report.dags.len(), 1);
    }

    #[test]
    fn a_new_id_and_the_owning_team_load_as_before() {
        let owners = registered("revenue", "marketing", "old.yaml");
        let bag = load_bag_with(
            vec![
                input("moved.yaml", dag("revenue", "marketing")),
                input("new.yaml", dag("fresh", "anyone")),
            ],
            BagRules {
                registered: Some(&owners),
                platform: None,
            },
        );
        assert_eq!(bag[0].report.dags.len(), 1);
        assert_eq!(bag[1].report.dags.len(), 1);
    }

    #[test]
    fn a_team_declared_outside_its_paths_is_refused() {
        let platform = crate::platform::parse(
            "[[teams]]\nname = \"platform\"\nimage_prefixes = [\"*\"]\npaths = [\"platform/\"]\n",
        )
        .config
        .expect("config");
        let rules = BagRules {
            registered: None,
            platform: Some(&platform),
        };
        let bag = load_bag_with(
            vec![
                input("x.yaml", dag("borrow", "platform")),
                input("platform/ok.yaml", dag("ok", "platform")),
                input("x2.yaml", dag("other", "marketing")),
            ],
            rules,
        );
        assert!(bag[0].report.dags.is_empty());
        let d = &bag[0].report.diagnostics[0];
        assert_eq!(
            d.message,
            "`team: platform` is declared in x.yaml, but team platform's DAGs must live under platform/ (weir.toml [[teams]] paths)"
        );
        assert_eq!((d.pos.line, d.pos.col), (2, 1));
        assert_eq!(bag[1].report.dags.len(), 1);
        assert_eq!(bag[2].report.dags.len(), 1);
    }
}
