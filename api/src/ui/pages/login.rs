//! Signing in with an API key and signing out. Sign-in is checked against the same key store
//! as the REST API; the key itself is not kept, only its id in a server-side session.

use std::time::Instant;

use axum::extract::rejection::FormRejection;
use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use maud::{html, Markup};
use serde::Deserialize;

use super::layout;
use crate::ui::error::UiError;
use crate::ui::guard::SignedIn;
use crate::ui::{session, Ui};

/// Where a new session lands.
const HOME: &str = "/ui/runs";

fn form_page(error: Option<&str>) -> Markup {
    layout::page(
        "Sign in",
        None,
        html! {
            h1 { "Sign in" }
            p { "Paste an API key. It is checked once and kept only on the server; the dashboard shows what its scopes allow." }
            @if let Some(error) = error {
                p.error role="alert" { (error) }
            }
            form.login method="post" action="/ui/login" {
                label for="key" { "API key" }
                input id="key" name="key" type="password" autocomplete="off" required autofocus;
                button type="submit" { "Sign in" }
            }
        },
    )
}

/// `GET /ui/login`.
pub async fn form() -> Response {
    layout::html(StatusCode::OK, form_page(None))
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    key: String,
}

/// `POST /ui/login`: a good key gets a session cookie and goes to the runs; a bad one sees
/// the form again (401).
pub async fn submit(
    State(ui): State<Ui>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Result<Response, UiError> {
    let secret = form.map(|Form(f)| f.key).unwrap_or_default();
    let secret = secret.trim();
    let key = if secret.is_empty() {
        None
    } else {
        ui.app.keys.authenticate(secret).await?
    };
    let Some(key) = key.filter(|key| !key.is_revoked()) else {
        return Ok(layout::html(
            StatusCode::UNAUTHORIZED,
            form_page(Some(
                "That key was not accepted: it is unknown or revoked. Check it and try again.",
            )),
        ));
    };
    // A fresh id on every sign-in; an older session of this browser ends.
    if let Some(old) = session::from_request(&headers) {
        ui.sessions.remove(&old);
    }
    let (id, _) = ui.sessions.create(&key.id, Instant::now());
    let mut response = Redirect::to(HOME).into_response();
    response.headers_mut().insert(
        header::SET_COOKIE,
        session::set_cookie(&id, session::over_https(&headers)),
    );
    Ok(response)
}

#[derive(Debug, Default, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

/// `POST /ui/logout`: ends the session (with its CSRF token) and clears the cookie.
pub async fn logout(
    State(ui): State<Ui>,
    headers: HeaderMap,
    signed: Result<SignedIn, UiError>,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Result<Response, UiError> {
    // Without a live session there is nothing to end: clear the cookie and sign in again.
    let signed = signed.map_err(|_| UiError::SignIn)?;
    let token = form.map(|Form(f)| f.csrf).unwrap_or_default();
    signed.check_csrf(&token)?;
    if let Some(id) = session::from_request(&headers) {
        ui.sessions.remove(&id);
    }
    // The same answer as any request without a session: the form, the cookie cleared.
    Ok(UiError::SignIn.into_response())
}
