//! The report routes: staff read both reports over a range of UTC days, as
//! JSON or, on `Accept: text/csv`, as CSV.

use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use partnerops_api::problem::ApiResult;
use partnerops_api::{ApiContext, Problem, Route, build_router};
use partnerops_aws::store::{ReportKind, ReportTallies};
use partnerops_domain::FieldErrors;
use partnerops_domain::auth::Role;
use partnerops_domain::report::{
    DayRange, PipelineGrouping, PipelineRow, RoleSide, SlaGrouping, pipeline_rows, sla_rows, tenth_days_json,
    write_pipeline_csv, write_sla_csv,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const ROLES: &[Role] = &[Role::ChannelManager, Role::Finance, Role::Admin];

/// What the report routes read: the per-day tallies.
#[derive(Clone)]
pub struct ReportApi {
    pub store: Arc<dyn ReportTallies>,
}

pub fn routes() -> Vec<Route<ReportApi>> {
    vec![Route::get("/v1/reports/slas", ROLES, sla_report), Route::get("/v1/reports/pipeline", ROLES, pipeline_report)]
}

/// The function's router: the shared conventions over the report routes.
pub fn router(context: &ApiContext, state: ReportApi) -> axum::Router {
    build_router(routes(), context, state)
}

/// The range and grouping of a report request, every field's error at once.
fn parse<G>(
    query: &HashMap<String, String>,
    grouping: fn(&str) -> Option<G>,
    listed: &str,
) -> Result<(DayRange, G), Problem> {
    let range = DayRange::parse(query.get("from").map(String::as_str), query.get("to").map(String::as_str));
    let group = query.get("group_by").and_then(|g| grouping(g));
    let mut errors = match &range {
        Ok(_) => FieldErrors::default(),
        Err(e) => e.clone(),
    };
    if group.is_none() {
        errors.push("group_by", format!("must be one of {listed}"));
    }
    match (range, group) {
        (Ok(range), Some(group)) => Ok((range, group)),
        _ => Err(Problem::validation(errors)),
    }
}

/// Whether the caller asked for CSV before JSON.
fn wants_csv(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .find(|t| t == "text/csv" || t == "application/json")
        .is_some_and(|t| t == "text/csv")
}

fn csv_response(bytes: csv::Result<Vec<u8>>, name: &str, range: &DayRange) -> ApiResult {
    let body = bytes.map_err(|e| {
        tracing::error!(error = %e, "writing a report as CSV");
        Problem::internal()
    })?;
    Ok((
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}-{}-{}.csv\"", range.from, range.to)),
        ],
        body,
    )
        .into_response())
}

async fn sla_report(
    State(state): State<ReportApi>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let (range, grouping) = parse(&query, SlaGrouping::parse, "kind, partner or manager")?;
    let days = state.store.report_days(ReportKind::Sla, grouping.as_str(), &range).await?;
    let rows = sla_rows(days.sla());
    if wants_csv(&headers) {
        return csv_response(write_sla_csv(Vec::new(), &rows), "slas", &range);
    }
    Ok(Json(json!({
        "from": range.from.to_string(),
        "to": range.to.to_string(),
        "group_by": grouping.as_str(),
        "rows": rows,
    }))
    .into_response())
}

fn side_json(side: &RoleSide) -> Value {
    json!({
        "opportunities": side.opportunities,
        "amount": side.amount,
        "won": side.won,
        "won_amount": side.won_amount,
        "lost": side.lost,
        "win_rate_bps": side.win_rate_bps,
        "median_days_to_close": tenth_days_json(side.median_tenth_days_to_close),
    })
}

pub fn pipeline_json(row: &PipelineRow) -> Value {
    json!({ "key": row.key, "sourced": side_json(&row.sourced), "influenced": side_json(&row.influenced) })
}

async fn pipeline_report(
    State(state): State<ReportApi>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> ApiResult {
    let (range, grouping) = parse(&query, PipelineGrouping::parse, "motion or partner")?;
    let days = state.store.report_days(ReportKind::Pipeline, grouping.as_str(), &range).await?;
    let rows = pipeline_rows(days.pipeline());
    if wants_csv(&headers) {
        return csv_response(write_pipeline_csv(Vec::new(), &rows), "pipeline", &range);
    }
    Ok(Json(json!({
        "from": range.from.to_string(),
        "to": range.to.to_string(),
        "group_by": grouping.as_str(),
        "rows": rows.iter().map(pipeline_json).collect::<Vec<_>>(),
    }))
    .into_response())
}
