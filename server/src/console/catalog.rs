//! `/console/datasets`: the catalog as the caller may see it (governance hides locations
//! from analysts).

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{html, Markup};
use shuyu_datasets::Classification;
use shuyu_governance::Dataset;

use super::layout::{respond, time, Ctx, Flash, NoticeQuery};
use super::App;
use crate::offload::store_call;

/// The stored name of a classification level.
pub fn level(c: Classification) -> &'static str {
    match c {
        Classification::Open => "open",
        Classification::Conditional => "conditional",
        Classification::Sensitive => "sensitive",
        Classification::StateSecret => "state_secret",
        Classification::PublicSafety => "public_safety",
    }
}

fn view(datasets: &[Dataset]) -> Markup {
    html! {
        table id="datasets" {
            thead { tr { th { "Name" } th { "Domain" } th { "Level" } th { "Provider" } th { "Columns" } th { "Registered" } } }
            tbody {
                @for d in datasets {
                    tr data-dataset=(d.id.0) {
                        td class="dataset-name" { (d.name()) }
                        td { (d.manifest.domain) }
                        td class="level" { (level(d.classification())) }
                        td { (d.manifest.provider) }
                        td class="columns" {
                            @for (i, c) in d.manifest.columns.iter().enumerate() {
                                @if i > 0 { ", " }
                                code { (c.name) }
                            }
                        }
                        td { (time(d.registered_at)) }
                    }
                }
            }
        }
        @if datasets.is_empty() { p class="empty" { "No dataset is registered yet." } }
    }
}

/// `GET /console/datasets`.
pub async fn page(State(app): State<App>, ctx: Ctx, Query(q): Query<NoticeQuery>) -> Response {
    let p = ctx.principal();
    let body = store_call(&app.store, move |s| s.datasets(&p)).await.map(|d| view(&d));
    respond(&ctx, "Datasets", Flash::from_query(&q), StatusCode::OK, body)
}
