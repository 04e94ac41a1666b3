//! The console's guards: security headers on every response (a middleware), the signed-in
//! caller of a request ([`Ctx`], an extractor that re-verifies the person through
//! governance), and every POST's checks ([`Posted`]: session, `Origin` against `Host`,
//! the CSRF field compared in constant time) before any handler runs.

use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Form;
use maud::html;
use shuyu_privacy::Fault;

use super::forms::Fields;
use super::layout::{bare_page, refusal_page, see_other, Ctx};
use super::session::{constant_time_eq, cookie_value, Lookup, COOKIE};
use super::App;
use crate::offload::store_call;

/// The Content-Security-Policy of every response: no script at all, styles and images
/// from the console only, forms posting back to it, no framing.
pub const CSP: &str =
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Adds the security headers to every response.
pub async fn headers(req: Request, next: Next) -> Response {
    let mut res = next.run(req).await;
    let h = res.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// A `Set-Cookie` value that ends the session cookie in the browser.
pub fn clear_cookie() -> HeaderValue {
    HeaderValue::from_static("shuyu_console=; HttpOnly; SameSite=Strict; Path=/console; Max-Age=0")
}

/// The `Set-Cookie` value of a new session.
pub fn session_cookie(value: &str, secure: bool) -> Option<HeaderValue> {
    let secure = if secure { "; Secure" } else { "" };
    HeaderValue::from_str(&format!("{COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/console{secure}")).ok()
}

/// The session cookie's value in the request, if any.
pub fn request_cookie(headers: &HeaderMap) -> Option<&str> {
    headers.get_all(header::COOKIE).iter().filter_map(|v| v.to_str().ok()).find_map(cookie_value)
}

/// Redirects to sign-in with `query` and clears the cookie.
fn to_sign_in(query: &str) -> Response {
    let mut r = see_other(&format!("/console/sign-in?{query}"));
    r.headers_mut().insert(header::SET_COOKIE, clear_cookie());
    r
}

impl FromRequestParts<App> for Ctx {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let session = match app.sessions.find(request_cookie(&parts.headers)) {
            Lookup::Live(s) => s,
            Lookup::Expired => return Err(to_sign_in("expired=1")),
        };
        // Governance re-verifies the person (active, same role and unit, unit active) in
        // reading the caller's own record; a refusal ends the session.
        let p = session.principal.clone();
        match store_call(&app.store, move |s| s.person(&p, p.person_id)).await {
            Ok(person) => Ok(Ctx { name: person.name, role: person.role, session }),
            Err(e) if matches!(e.fault(), Fault::Unauthenticated | Fault::PermissionDenied | Fault::NotFound) => {
                app.sessions.end(&session.key);
                Err(to_sign_in("ended=1"))
            }
            Err(e) => {
                let (status, reason) = super::layout::refusal_of(&e);
                Err((status, bare_page("Console unavailable", html! { p class="refusal" id="refusal" { (reason) } })).into_response())
            }
        }
    }
}

/// Refuses a request whose `Origin` (when sent) is not the console's own origin.
pub fn check_origin(headers: &HeaderMap) -> Result<(), &'static str> {
    let Some(origin) = headers.get(header::ORIGIN) else { return Ok(()) };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok()).ok_or("the request names no Host; submit the form from the console")?;
    let origin = origin.to_str().map_err(|_| "the request's Origin is not readable; submit the form from the console")?;
    let same = [format!("http://{host}"), format!("https://{host}")].iter().any(|o| o.eq_ignore_ascii_case(origin));
    if same {
        Ok(())
    } else {
        Err("the form was submitted from another site (its Origin does not match this console); submit it from the console's own page")
    }
}

/// A POST that passed the console's checks: a live session re-verified by governance, a
/// same-origin request, and the session's CSRF token.
#[derive(Debug)]
pub struct Posted {
    /// The caller.
    pub ctx: Ctx,
    /// The form's fields (without the CSRF token's check left to do).
    pub form: Fields,
}

/// Why a form's CSRF token is refused.
const CSRF_REFUSAL: &str = "the form's security token is missing or does not belong to this session; reload the page and submit the form again";

impl FromRequest<App> for Posted {
    type Rejection = Response;

    async fn from_request(req: Request, app: &App) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let ctx = Ctx::from_request_parts(&mut parts, app).await?;
        if let Err(reason) = check_origin(&parts.headers) {
            return Err(refusal_page(&ctx, StatusCode::FORBIDDEN, reason));
        }
        let req = Request::from_parts(parts, body);
        let Form(pairs) = Form::<Vec<(String, String)>>::from_request(req, app).await.map_err(|_| {
            refusal_page(&ctx, StatusCode::BAD_REQUEST, "the form could not be read; submit it from the console's page")
        })?;
        let form = Fields::new(pairs);
        match form.get("csrf") {
            Some(t) if constant_time_eq(t.as_bytes(), ctx.session.csrf.as_bytes()) => Ok(Posted { ctx, form }),
            _ => Err(refusal_page(&ctx, StatusCode::FORBIDDEN, CSRF_REFUSAL)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn only_the_consoles_own_origin_may_post() {
        assert!(check_origin(&headers(&[("host", "127.0.0.1:8080")])).is_ok(), "no Origin: same-origin form of an old browser");
        assert!(check_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://127.0.0.1:8080")])).is_ok());
        assert!(check_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "http://evil.example")])).is_err());
        assert!(check_origin(&headers(&[("host", "127.0.0.1:8080"), ("origin", "null")])).is_err());
        assert!(check_origin(&headers(&[("origin", "http://127.0.0.1:8080")])).is_err());
    }
}
