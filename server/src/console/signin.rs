//! Sign-in with the person's bearer token (the Flight SQL credential, checked by
//! `Store::authenticate`), and sign-out.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout::{bare_page, see_other};
use super::security::{check_origin, clear_cookie, session_cookie, Posted};
use super::App;
use crate::offload::store_call;

/// `?expired=1` (the session ran out) or `?ended=1` (governance no longer accepts it).
#[derive(Debug, Default, Deserialize)]
pub struct SignInQuery {
    /// The session expired.
    pub expired: Option<String>,
    /// The session was ended: the person or the unit can no longer act.
    pub ended: Option<String>,
    /// Signed out.
    pub signed_out: Option<String>,
}

fn sign_in_page(q: &SignInQuery, error: Option<&str>) -> Markup {
    bare_page("Sign in", html! {
        @if q.expired.is_some() { p class="notice" id="session-expired" { "Your session has expired; sign in again." } }
        @if q.ended.is_some() {
            p class="notice" id="session-ended" {
                "Your session was ended: the account or its unit can no longer act (deactivated, suspended or revoked). Ask the bureau, then sign in again."
            }
        }
        @if q.signed_out.is_some() { p class="notice" id="signed-out" { "You have signed out." } }
        @if let Some(e) = error { p class="error" id="sign-in-error" { (e) } }
        form id="sign-in" method="post" action="/console/sign-in" {
            label for="token" { "Your access token (the same credential as Arrow Flight SQL)" }
            input id="token" name="token" type="password" autocomplete="off";
            button type="submit" id="sign-in-submit" { "Sign in" }
        }
    })
}

/// `GET /console/sign-in`.
pub async fn form(Query(q): Query<SignInQuery>) -> Markup {
    sign_in_page(&q, None)
}

/// `POST /console/sign-in`: checks the token, starts a session, 303 to `/console/`.
pub async fn sign_in(State(app): State<App>, headers: HeaderMap, Form(fields): Form<Vec<(String, String)>>) -> Response {
    let none = SignInQuery::default();
    if let Err(reason) = check_origin(&headers) {
        return (StatusCode::FORBIDDEN, sign_in_page(&none, Some(reason))).into_response();
    }
    let token = fields.into_iter().find(|(k, _)| k == "token").map(|(_, v)| v.trim().to_string()).unwrap_or_default();
    if token.is_empty() {
        return (StatusCode::UNAUTHORIZED, sign_in_page(&none, Some("enter your access token"))).into_response();
    }
    let principal = match store_call(&app.store, move |s| s.authenticate(&token)).await {
        Ok(p) => p,
        Err(e) => {
            let (status, reason) = super::layout::refusal_of(&e);
            let status = if status == StatusCode::INTERNAL_SERVER_ERROR { status } else { StatusCode::UNAUTHORIZED };
            return (status, sign_in_page(&none, Some(&reason))).into_response();
        }
    };
    // `/console/` sends each role on to its own home page.
    let cookie = app.sessions.start(principal);
    let mut r = see_other("/console/");
    if let Some(v) = session_cookie(&cookie, app.options.secure_cookies) {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    r
}

/// `POST /console/sign-out`: ends the session (the form's CSRF token is checked first).
pub async fn sign_out(State(app): State<App>, posted: Posted) -> Response {
    app.sessions.end(&posted.ctx.session.key);
    let mut r = see_other("/console/sign-in?signed_out=1");
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    r
}
