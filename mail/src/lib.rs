//! Sending one email over SMTP, for the `email` steps of workflows.
//!
//! The engine renders a step's templates into an [`Email`] and calls [`send`] with the
//! [`SmtpSettings`] of the step's connection and the server addresses it has resolved and
//! vetted. This crate owns the message (headers, MIME parts, envelope) and one SMTP
//! conversation; it never resolves host names, never retries and never reads workflow
//! definitions. Whether a failure is worth retrying is said by [`MailError::retryable`]; the
//! engine's retry policy decides.
//!
//! With the `test-server` feature, [`test_server`] is a small SMTP server on loopback for
//! tests, here and in other crates.
#![deny(clippy::unwrap_used)]

mod error;
mod message;
mod send;
mod settings;
#[cfg(feature = "test-server")]
pub mod test_server;

pub use error::MailError;
pub use message::{Email, Sent, RECIPIENTS_MAX};
pub use send::send;
pub use settings::{Security, SmtpSettings};
