//! Connections of kind `smtp`: an SMTP server for email steps. Its settings (`host`,
//! `port`, `security`, `username`, `password`, `from`) are checked when given and kept
//! whole in the sealed secret; answers show them without the password ([`SmtpInfo`]); the
//! engine gets them as [`mail::SmtpSettings`]. An smtp connection is never sent as a header,
//! and its provider is always `smtp`.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::{
    check_password, optional, required, ConnectionError, Credentials, Kind, SecretFields, UseError,
};
use engine::definition::Problem;

/// The provider of every smtp connection, and only of them.
pub const PROVIDER: &str = "smtp";
/// Longest host, in bytes (a DNS name's limit).
pub const HOST_BYTES_MAX: usize = 253;
/// What `security` may be.
pub const SECURITIES: [&str; 3] = ["none", "starttls", "tls"];

/// An smtp connection as answers show it: everything but the password.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmtpInfo {
    pub host: String,
    pub port: u16,
    /// `none`, `starttls` or `tls`.
    pub security: String,
    pub username: Option<String>,
    pub from: Option<String>,
}

/// Kind smtp goes with provider smtp, and provider smtp with kind smtp. The problem names
/// `provider`, unless only the kind is wrong for provider smtp and was given (`kind_given`).
pub(super) fn check_pairing(
    kind: Kind,
    provider: &str,
    kind_given: bool,
    problems: &mut Vec<Problem>,
) {
    match (kind == Kind::Smtp, provider == PROVIDER) {
        (true, false) => problems.push(crate::problem(
            &["provider"],
            format!("must be {PROVIDER:?} for a connection of kind smtp"),
        )),
        (false, true) if kind_given => problems.push(crate::problem(
            &["kind"],
            format!("must be smtp for provider {PROVIDER:?}, not {kind}"),
        )),
        (false, true) => problems.push(crate::problem(
            &["provider"],
            format!("{PROVIDER:?} takes only connections of kind smtp, and this one is {kind}"),
        )),
        _ => {}
    }
}

/// The credentials of an smtp connection from the request's fields, or placeholders with
/// every problem noted (never quoting a value).
pub(super) fn credentials(fields: SecretFields, problems: &mut Vec<Problem>) -> Credentials {
    let host = required(Kind::Smtp, "host", fields.host, check_host, problems);
    let port = match fields.port {
        None => {
            problems.push(crate::problem(&["port"], "required for kind smtp"));
            0
        }
        Some(port) => match u16::try_from(port) {
            Ok(port) if port >= 1 => port,
            _ => {
                problems.push(crate::problem(&["port"], "must be 1 to 65535"));
                0
            }
        },
    };
    let security = required(
        Kind::Smtp,
        "security",
        fields.security,
        check_security,
        problems,
    );
    let username = optional("username", fields.username, check_text, problems);
    let password = optional("password", fields.password, check_password, problems);
    match (&username, &password) {
        (Some(_), None) => problems.push(crate::problem(
            &["password"],
            "required with username (give both or neither)",
        )),
        (None, Some(_)) => problems.push(crate::problem(
            &["username"],
            "required with password (give both or neither)",
        )),
        _ => {}
    }
    let from = optional("from", fields.from, check_from, problems);
    Credentials::Smtp {
        host,
        port,
        security,
        username,
        password,
        from,
    }
}

/// What answers show of `credentials`: `None` unless they are an smtp server's.
pub(super) fn info(credentials: &Credentials) -> Option<SmtpInfo> {
    match credentials {
        Credentials::Smtp {
            host,
            port,
            security,
            username,
            from,
            ..
        } => Some(SmtpInfo {
            host: host.clone(),
            port: *port,
            security: security.clone(),
            username: username.clone(),
            from: from.clone(),
        }),
        _ => None,
    }
}

/// The settings an email step connects with, from connection `id`'s credentials.
pub(super) fn settings(id: &str, credentials: Credentials) -> Result<mail::SmtpSettings, UseError> {
    let Credentials::Smtp {
        host,
        port,
        security,
        username,
        password,
        from,
    } = credentials
    else {
        return Err(UseError::NotSmtp {
            id: id.to_owned(),
            kind: credentials.kind(),
        });
    };
    let security = mail::Security::from_str(&security).map_err(|_| {
        ConnectionError::Corrupt(format!(
            "connection {id}: the stored security {security:?} is not one of {}",
            SECURITIES.join(", ")
        ))
    })?;
    Ok(mail::SmtpSettings {
        host,
        port,
        security,
        username,
        password,
        from,
    })
}

fn check_host(host: &str) -> Option<&'static str> {
    if host.len() > HOST_BYTES_MAX {
        Some("must be at most 253 bytes")
    } else if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
        Some("must be a host name or address, without spaces")
    } else if host.contains(['/', '@', '?', '#']) {
        Some("must be a host name or address, not a URL")
    } else {
        None
    }
}

fn check_security(security: &str) -> Option<&'static str> {
    (!SECURITIES.contains(&security)).then_some("must be one of none, starttls, tls")
}

fn check_text(text: &str) -> Option<&'static str> {
    text.chars()
        .any(char::is_control)
        .then_some("must not contain control characters")
}

/// A plausible address: `local@domain` or `Name <local@domain>`, without spaces in the
/// address itself. The mail crate parses it for real when an email is sent.
fn check_from(from: &str) -> Option<&'static str> {
    let address = match (from.rfind('<'), from.ends_with('>')) {
        (Some(open), true) => &from[open + 1..from.len() - 1],
        (None, false) => from,
        _ => "",
    };
    let plausible = address.split_once('@').is_some_and(|(local, domain)| {
        !local.is_empty()
            && !domain.is_empty()
            && !domain.contains('@')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
    }) && !address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '<' | '>'))
        && !from.chars().any(char::is_control);
    (!plausible).then_some("must be an email address: a@example.com or Name <a@example.com>")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn senders_must_look_like_addresses() {
        for good in [
            "duro@example.com",
            "Duro <duro@example.com>",
            "\"Ops, Duro\" <ops@mail.example.org>",
            "a@localhost",
        ] {
            assert_eq!(check_from(good), None, "{good}");
        }
        for bad in [
            "duro",
            "@example.com",
            "duro@",
            "duro@@example.com",
            "Duro <duro@example.com",
            "Duro duro@example.com>",
            "du ro@example.com",
            "Duro <>",
            "duro@example.com.",
            "duro@example.com\r\nBcc: x@y.z",
        ] {
            assert!(check_from(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn hosts_have_no_spaces_and_are_not_urls() {
        assert_eq!(check_host("smtp.example.com"), None);
        assert_eq!(check_host("::1"), None);
        assert!(check_host("smtp example.com").is_some());
        assert!(check_host("smtp://smtp.example.com").is_some());
        assert!(check_host(&"a".repeat(254)).is_some());
    }
}
