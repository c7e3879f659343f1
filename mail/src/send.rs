//! One SMTP conversation: connect to a vetted address, secure, authenticate, send, quit.

use std::net::SocketAddr;
use std::time::Duration;

use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{AsyncSmtpConnection, TlsParameters};
use lettre::transport::smtp::extension::ClientId;

use crate::error::MailError;
use crate::message::{Email, Prepared, Sent};
use crate::settings::{Security, SmtpSettings};

/// The mechanisms offered for AUTH, in order of preference. Both send the password as it
/// is, which is why a password should only travel over STARTTLS or TLS.
const AUTH_MECHANISMS: [Mechanism; 2] = [Mechanism::Plain, Mechanism::Login];

/// Sends `email` to the SMTP server at one of `addresses` (already resolved and vetted by the
/// caller; tried in order; the TLS server name is `settings.host`), within `timeout`.
///
/// The host name is never resolved here: the caller resolved it and checked the addresses
/// (no private ranges and the like), and resolving again could return another address
/// (DNS rebinding). The email is checked completely before connecting, so an
/// [`MailError::Invalid`] email reaches no server.
///
/// The whole conversation, from the first connection attempt to the server's reply to the
/// message, is bounded by `timeout`. If the timeout strikes after the server took the
/// message but before its reply arrived, the email may have been delivered although this
/// returns an error; a retry then delivers it again with the same Message-ID.
pub async fn send(
    settings: &SmtpSettings,
    addresses: &[SocketAddr],
    email: &Email,
    timeout: Duration,
) -> Result<Sent, MailError> {
    let prepared = Prepared::new(settings, email)?;
    let credentials = credentials(settings)?;
    if addresses.is_empty() {
        return Err(MailError::invalid(
            "addresses: no address to connect to for the SMTP server",
        ));
    }
    let conversation = converse(settings, addresses, &prepared, credentials, timeout);
    match tokio::time::timeout(timeout, conversation).await {
        Ok(result) => result,
        Err(_elapsed) => Err(MailError::Transient {
            code: None,
            message: format!(
                "no answer from {}:{} within {} ms",
                settings.host,
                settings.port,
                timeout.as_millis()
            ),
        }),
    }
}

fn credentials(settings: &SmtpSettings) -> Result<Option<Credentials>, MailError> {
    match (&settings.username, &settings.password) {
        (Some(username), Some(password)) => {
            Ok(Some(Credentials::new(username.clone(), password.clone())))
        }
        (None, None) => Ok(None),
        (Some(_), None) => Err(MailError::invalid(
            "username: the SMTP connection has a user but no password",
        )),
        (None, Some(_)) => Err(MailError::invalid(
            "password: the SMTP connection has a password but no user",
        )),
    }
}

async fn converse(
    settings: &SmtpSettings,
    addresses: &[SocketAddr],
    prepared: &Prepared,
    credentials: Option<Credentials>,
    timeout: Duration,
) -> Result<Sent, MailError> {
    // Without the `hostname` feature lettre greets with the address literal [127.0.0.1],
    // which RFC 5321 allows when the client has no meaningful name.
    let hello_name = ClientId::default();
    let implicit_tls = match settings.security {
        Security::Tls => Some(tls_parameters(settings)?),
        Security::None | Security::StartTls => None,
    };
    // lettre connects to each address in order until one accepts; a slice of addresses is
    // used as it is, without any lookup.
    let mut connection = AsyncSmtpConnection::connect_tokio1(
        addresses,
        Some(timeout),
        &hello_name,
        implicit_tls,
        None,
    )
    .await?;
    let result = deliver(
        &mut connection,
        settings,
        prepared,
        credentials,
        &hello_name,
    )
    .await;
    match result {
        Ok(()) => {
            // The server has taken the message; a failed QUIT changes nothing about that.
            let _ = connection.quit().await;
            Ok(Sent {
                message_id: prepared.message_id.clone(),
                accepted: prepared.recipients(),
            })
        }
        Err(error) => {
            connection.abort().await;
            Err(error)
        }
    }
}

async fn deliver(
    connection: &mut AsyncSmtpConnection,
    settings: &SmtpSettings,
    prepared: &Prepared,
    credentials: Option<Credentials>,
    hello_name: &ClientId,
) -> Result<(), MailError> {
    if settings.security == Security::StartTls {
        // Fails when the server offers no STARTTLS: "required" means no fallback to clear.
        connection
            .starttls(tls_parameters(settings)?, hello_name)
            .await?;
    }
    if let Some(credentials) = credentials {
        connection.auth(&AUTH_MECHANISMS, &credentials).await?;
    }
    // lettre sends MAIL FROM, one RCPT TO per recipient and DATA, and stops at the first
    // negative reply; a success therefore means every recipient was accepted.
    connection
        .send(&prepared.envelope, &prepared.formatted)
        .await?;
    Ok(())
}

/// TLS towards `settings.host`: the certificate is checked by the platform verifier against
/// the host name, not against the address connected to.
fn tls_parameters(settings: &SmtpSettings) -> Result<TlsParameters, MailError> {
    TlsParameters::new(settings.host.clone()).map_err(|error| MailError::Transient {
        code: None,
        message: format!("TLS setup for {}: {error}", settings.host),
    })
}
