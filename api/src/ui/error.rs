//! `UiError`: what can go wrong on a dashboard page, answered as a page a person can read
//! (or, when nobody is signed in, a redirect to the sign-in form), never as a JSON envelope
//! or a stack of causes. Internal causes are logged and not shown.

use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Redirect, Response};
use engine::executor::RunsError;

use super::pages::layout;
use super::session;
use crate::error::ApiError;
use credentials::keys::Scope;

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    /// No live session (or its key was revoked): go to the sign-in form.
    #[error("not signed in")]
    SignIn,
    /// The signed-in key lacks the scope this page or action needs.
    #[error("the API key lacks the scope {0}")]
    MissingScope(Scope),
    /// A state-changing form without this session's CSRF token.
    #[error("the form's CSRF token is missing or wrong")]
    Csrf,
    #[error("{0}")]
    NotFound(String),
    /// The request cannot be carried out as asked (a bad filter, a run that already ended).
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    /// The server cannot take this now (too many live pages); try again later.
    #[error("{0}")]
    Unavailable(String),
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<ApiError> for UiError {
    fn from(error: ApiError) -> UiError {
        match error {
            ApiError::NotFound(message) => UiError::NotFound(message),
            ApiError::Unauthorized(_) => UiError::SignIn,
            ApiError::Forbidden(message) => UiError::Forbidden(message),
            ApiError::Validation { message, details } => {
                // Every problem, with the field it is about, as the API's details name them.
                let mut text = message;
                for detail in details {
                    let line = format!(
                        "{}: {}",
                        crate::error::field_name(&detail.path),
                        detail.message
                    );
                    if !text.contains(&line) {
                        text.push_str("; ");
                        text.push_str(&line);
                    }
                }
                UiError::BadRequest(text)
            }
            ApiError::InvalidStatus(_)
            | ApiError::Conflict(_)
            | ApiError::PayloadTooLarge { .. }
            | ApiError::RateLimited { .. } => UiError::BadRequest(error.to_string()),
            ApiError::Unavailable(_) | ApiError::Internal(_) => {
                UiError::Internal(error.to_string())
            }
        }
    }
}

impl From<RunsError> for UiError {
    fn from(error: RunsError) -> UiError {
        ApiError::from(error).into()
    }
}

impl From<engine::workflows::WorkflowError> for UiError {
    fn from(error: engine::workflows::WorkflowError) -> UiError {
        ApiError::from(error).into()
    }
}

impl From<triggers::instances::TriggerError> for UiError {
    fn from(error: triggers::instances::TriggerError) -> UiError {
        ApiError::from(error).into()
    }
}

impl From<credentials::keys::KeyError> for UiError {
    fn from(error: credentials::keys::KeyError) -> UiError {
        ApiError::from(error).into()
    }
}

impl From<journal::StoreError> for UiError {
    fn from(error: journal::StoreError) -> UiError {
        UiError::Internal(error.to_string())
    }
}

impl UiError {
    fn status_title_and_sentence(&self) -> (StatusCode, &'static str, String) {
        match self {
            UiError::SignIn => (
                StatusCode::UNAUTHORIZED,
                "Sign in",
                "Sign in with an API key to see this page.".to_owned(),
            ),
            UiError::MissingScope(scope) => (
                StatusCode::FORBIDDEN,
                "Not allowed",
                format!(
                    "Your API key does not have the {scope} scope, which this page or action \
                     needs. Sign in with a key that has {scope} (or admin), or ask an admin to \
                     create one."
                ),
            ),
            UiError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form did not come from your current dashboard session, so nothing was \
                 changed. Go back, reload the page and try again."
                    .to_owned(),
            ),
            UiError::NotFound(message) => (StatusCode::NOT_FOUND, "Not found", message.clone()),
            UiError::BadRequest(message) => {
                (StatusCode::BAD_REQUEST, "Cannot do that", message.clone())
            }
            UiError::Forbidden(message) => (StatusCode::FORBIDDEN, "Not allowed", message.clone()),
            UiError::Unavailable(message) => {
                (StatusCode::SERVICE_UNAVAILABLE, "Busy", message.clone())
            }
            UiError::Internal(cause) => {
                tracing::error!(%cause, "dashboard internal error");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The server could not show this page; the cause is in its log.".to_owned(),
                )
            }
        }
    }
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        if let UiError::SignIn = self {
            let mut response = Redirect::to("/ui/login").into_response();
            response
                .headers_mut()
                .insert(header::SET_COOKIE, session::clear_cookie());
            return response;
        }
        let (status, title, sentence) = self.status_title_and_sentence();
        layout::html(status, layout::message(title, &sentence))
    }
}

/// Any `/ui` path without a page.
pub async fn not_found(uri: Uri) -> UiError {
    UiError::NotFound(format!("There is no dashboard page at {}.", uri.path()))
}
