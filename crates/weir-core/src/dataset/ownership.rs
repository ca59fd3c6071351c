//! Which team owns a dataset URI: the one whose `[[teams]] datasets` prefix is the
//! longest that starts it.

use crate::platform::Team;

/// The team that owns `uri`, if any team declares a prefix of it.
pub fn owner<'a>(uri: &str, teams: &'a [Team]) -> Option<&'a Team> {
    teams
        .iter()
        .flat_map(|t| t.datasets.iter().map(move |p| (t, p)))
        .filter(|(_, prefix)| uri.starts_with(prefix.as_str()))
        .max_by_key(|(_, prefix)| prefix.len())
        .map(|(team, _)| team)
}

/// The part of a templated URI known before it is rendered: everything before the first
/// `{{` or `{%`.
pub fn static_prefix(template: &str) -> &str {
    let cut = [template.find("{{"), template.find("{%")]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(template.len());
    &template[..cut]
}

/// Why team `team` may not declare `outlet` (a URI, maybe templated), if it may not: a
/// URI that is none, or one that is (or could render into) another team's prefix.
pub fn outlet_problem(team: &str, outlet: &str, teams: &[Team]) -> Option<String> {
    let prefix = static_prefix(outlet);
    let templated = prefix.len() < outlet.len();
    if !templated && let Err(problem) = super::check_uri(outlet) {
        return Some(problem);
    }
    if let Some(owner) = owner(prefix, teams).filter(|t| t.name != team) {
        return Some(format!(
            "outlet `{outlet}` is under a dataset prefix team `{}` owns; only its DAGs produce there",
            owner.name
        ));
    }
    if templated {
        // What the template renders could reach into a longer prefix another team owns.
        let reachable = teams
            .iter()
            .filter(|t| t.name != team)
            .flat_map(|t| t.datasets.iter().map(move |p| (t, p)))
            .find(|(_, p)| p.len() > prefix.len() && p.starts_with(prefix));
        if let Some((other, p)) = reachable {
            return Some(format!(
                "outlet `{outlet}` could render into `{p}`, a dataset prefix team `{}` owns",
                other.name
            ));
        }
    }
    None
}
