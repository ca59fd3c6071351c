//! The web UI: server-rendered pages on the same port as the API, for people.
//!
//! Every page is HTML rendered here from compile-checked templates (askama, in
//! `crates/weir-server/templates/`), with one stylesheet and one small script embedded in
//! the binary ([`assets`]): nothing is fetched from elsewhere, nothing is built with Node.
//! Charts (the graph, the Gantt chart, the cost chart) are SVG drawn on the server
//! ([`charts`]); the grid is a table of coloured cells. Live views (the grid, a run, a
//! running try's log) follow the engine through server-sent events ([`live`]).
//!
//! The UI holds no rules of its own. It reads and acts through the API, in-process
//! ([`api::Api`]): each call carries the signed-in session's caller and passes the same
//! guard as any API request — the rule table, the team of the object, the audit trail.
//! So a page shows what the API would let the user see, an action the API would refuse
//! is refused here too (and audited the same way), and the pages read the API's own
//! types (`weir-api`). A button is shown only when the guard would allow its call
//! ([`crate::auth::guard::allows`]). The only direct store read is the DAG list's recent
//! runs, one query for the page instead of one API call per DAG.
//!
//! Module map: [`session`] the cookie and CSRF token, [`login`] sign-in and sign-out,
//! [`sso`] single sign-on (OpenID Connect, code flow with PKCE), [`api`] the in-process
//! API, [`live`] the event streams, [`charts`] the SVG, [`assets`] the stylesheet and
//! script, [`layout`] what every page shares, then one module per
//! page family: [`dags`] the DAG list, [`dag`] a DAG's tabs, [`datasets`] who produces and
//! waits for which data, [`actions`] the forms that
//! change things, [`run`] a run and its task instances, [`operations`] queues, costs and
//! audit, [`approvals`], [`admin`].

mod actions;
mod admin;
mod api;
mod approvals;
mod assets;
mod charts;
mod dag;
mod dags;
mod datasets;
mod error;
mod layout;
mod live;
mod login;
mod operations;
mod run;
pub mod session;
mod sso;

use axum::Router;
use axum::routing::{get, post};

pub use error::UiError;

use crate::AppState;

/// The UI's routes; `api` is the `/api/v1` application the pages call in-process.
pub fn router(state: AppState, api: Router) -> Router {
    Router::new()
        .route("/", get(dags::list))
        .route("/login", get(login::form).post(login::submit))
        .route("/logout", post(login::sign_out))
        .route("/login/sso", get(login::sso_start))
        .route("/login/sso/callback", get(login::sso_callback))
        .route("/static/{file}", get(assets::serve))
        .route("/dags/{dag_id}", get(dag::grid))
        .route("/dags/{dag_id}/graph", get(dag::graph))
        .route("/dags/{dag_id}/code", get(dag::code))
        .route("/dags/{dag_id}/versions", get(dag::versions))
        .route("/dags/{dag_id}/runs", get(dag::runs))
        .route("/dags/{dag_id}/details", get(dag::details))
        .route("/dags/{dag_id}/live", get(live::dag_states))
        .route(
            "/dags/{dag_id}/trigger",
            get(actions::trigger_form).post(actions::trigger),
        )
        .route("/dags/{dag_id}/pause", post(actions::pause))
        .route("/dags/{dag_id}/runs/{run_id}", get(run::page))
        .route("/dags/{dag_id}/runs/{run_id}/live", get(live::dag_states))
        .route(
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/{map_index}/clear",
            post(actions::clear_task),
        )
        .route(
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/{map_index}/mark",
            post(actions::mark_task),
        )
        .route(
            "/dags/{dag_id}/runs/{run_id}/tasks/{task_id}/{map_index}/logs/{try_number}",
            get(live::log),
        )
        .route("/datasets", get(datasets::list))
        .route("/queues", get(operations::queues))
        .route("/costs", get(operations::costs))
        .route("/costs.csv", get(operations::costs_csv))
        .route("/audit", get(operations::audit))
        .route("/import-errors", get(operations::import_errors))
        .route("/approvals", get(approvals::inbox))
        .route("/approvals/{approval_id}", get(approvals::detail))
        .route(
            "/approvals/{approval_id}/{decision}",
            post(approvals::decide),
        )
        .route("/admin/users", get(admin::users))
        .route("/admin/teams", get(admin::teams))
        .route("/admin/tokens", get(admin::tokens))
        .route("/admin/pools", get(admin::pools))
        .route("/admin/variables", get(admin::variables))
        .route("/admin/connections", get(admin::connections))
        .layer(axum::Extension(api::ApiApp(api)))
        .with_state(state)
}
