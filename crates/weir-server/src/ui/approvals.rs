//! The approvals inbox (four-eyes review of production DAG versions): the requests with
//! their semantic summary, one request with its diff against the version it replaces,
//! and approve / reject with a comment. Who may decide a request is the engine's
//! four-eyes rule, applied by the API; the buttons show only to those the rule table
//! lets decide at all.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, Query};
use axum::http::Method;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde_json::json;
use weir_api::{Approval, ApprovalCollection, DagVersionDetail, DagVersionDiff};

use super::UiError;
use super::actions::CheckedForm;
use super::api::{Api, enc};
use super::dag::{diff_classes, label};
use super::layout::{Chrome, pretty, when};

pub struct ApprovalLine {
    pub id: i64,
    pub dag_id: String,
    pub team: String,
    pub version: String,
    pub state: String,
    pub headline: String,
    pub author: String,
    pub created: String,
}

fn line(a: &Approval) -> ApprovalLine {
    ApprovalLine {
        id: a.approval_id,
        dag_id: a.dag_id.clone(),
        team: a.team.clone(),
        version: a.version.clone(),
        state: label(&a.state),
        headline: a.headline.clone(),
        author: a
            .author_user
            .clone()
            .or(a.author.clone())
            .unwrap_or_default(),
        created: when(Some(a.created_at)),
    }
}

#[derive(Template)]
#[template(path = "approvals.html")]
struct InboxPage {
    chrome: Chrome,
    status: String,
    lines: Vec<ApprovalLine>,
}

/// `GET /approvals?status=pending|approved|rejected|superseded|all`.
pub async fn inbox(
    api: Api,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Html<String>, UiError> {
    let status = query
        .get("status")
        .cloned()
        .unwrap_or_else(|| "pending".into());
    let uri = if status == "all" {
        "/api/v1/approvals?limit=200".to_string()
    } else {
        format!("/api/v1/approvals?limit=200&status={}", enc(&status))
    };
    let list: ApprovalCollection = api.get(&uri).await?;
    let page = InboxPage {
        chrome: Chrome::new(&api, "Approvals", "approvals"),
        lines: list.approvals.iter().map(line).collect(),
        status,
    };
    Ok(Html(page.render()?))
}

#[derive(Template)]
#[template(path = "approval.html")]
struct DetailPage {
    chrome: Chrome,
    a: ApprovalLine,
    message: String,
    commit: String,
    base_version: String,
    summary: String,
    diff_lines: Vec<(&'static str, String)>,
    decided: String,
    comment: String,
    can_decide: bool,
    pending: bool,
}

/// `GET /approvals/{approval_id}`.
pub async fn detail(api: Api, Path(id): Path<i64>) -> Result<Html<String>, UiError> {
    let approval: Approval = api.get(&format!("/api/v1/approvals/{id}")).await?;
    let dag = enc(&approval.dag_id);
    let diff_lines = match &approval.base_version {
        Some(base) => {
            let diff: DagVersionDiff = api
                .get(&format!(
                    "/api/v1/dags/{dag}/versions/{}/diff/{}",
                    enc(base),
                    enc(&approval.version)
                ))
                .await?;
            diff_classes(&diff.diff)
        }
        None => {
            // A new DAG: the whole YAML is the change.
            let version: DagVersionDetail = api
                .get(&format!(
                    "/api/v1/dags/{dag}/versions/{}",
                    enc(&approval.version)
                ))
                .await?;
            version
                .source
                .lines()
                .map(|l| ("diff-add", format!("+{l}")))
                .collect()
        }
    };
    let id_text = id.to_string();
    let can_decide = api
        .allows(
            Method::POST,
            "/approvals/{approval_id}/approve",
            &[("approval_id", &id_text)],
        )
        .await;
    let page = DetailPage {
        chrome: Chrome::new(&api, format!("Approval {id}"), "approvals"),
        message: approval.message.clone().unwrap_or_default(),
        commit: approval.commit.clone().unwrap_or_default(),
        base_version: approval.base_version.clone().unwrap_or_default(),
        summary: pretty(&approval.summary),
        diff_lines,
        decided: match (&approval.decided_by, approval.decided_at) {
            (Some(by), at) => format!("{by}, {}", when(at)),
            _ => String::new(),
        },
        comment: approval.comment.clone().unwrap_or_default(),
        can_decide,
        pending: label(&approval.state) == "pending",
        a: line(&approval),
    };
    Ok(Html(page.render()?))
}

/// `POST /approvals/{approval_id}/approve|reject` (`comment`).
pub async fn decide(
    Path((id, decision)): Path<(i64, String)>,
    form: CheckedForm,
) -> Result<Response, UiError> {
    if decision != "approve" && decision != "reject" {
        return Err(UiError::not_found(format!(
            "`{decision}` is not a decision: approve or reject"
        )));
    }
    let comment = form
        .field("comment")
        .map(str::trim)
        .filter(|c| !c.is_empty());
    form.api
        .call(
            Method::POST,
            &format!("/api/v1/approvals/{id}/{decision}"),
            Some(&json!({ "comment": comment })),
        )
        .await?;
    Ok(Redirect::to(&format!("/approvals/{id}")).into_response())
}
