//! Where and how to reach an SMTP server: [`SmtpSettings`], parsed from a connection URL.

use std::fmt;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

use crate::error::MailError;

/// How the connection to the SMTP server is secured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Security {
    /// Plain TCP. Only for a trusted relay (or a test server): the password and the message
    /// cross the network in clear.
    None,
    /// Plain TCP, then STARTTLS, which is required: without it nothing is sent.
    StartTls,
    /// TLS from the first byte (SMTPS, "implicit TLS").
    Tls,
}

impl Security {
    /// The port used when a URL names none: 25, 587 (submission) or 465 (submissions).
    pub fn default_port(self) -> u16 {
        match self {
            Security::None => 25,
            Security::StartTls => 587,
            Security::Tls => 465,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Security::None => "none",
            Security::StartTls => "starttls",
            Security::Tls => "tls",
        }
    }
}

impl FromStr for Security {
    type Err = MailError;

    /// Parses `none`, `starttls` or `tls`, the values of the `security` URL parameter and of
    /// connection settings.
    fn from_str(text: &str) -> Result<Security, MailError> {
        match text {
            "none" => Ok(Security::None),
            "starttls" => Ok(Security::StartTls),
            "tls" => Ok(Security::Tls),
            other => Err(MailError::invalid(format!(
                "security: {other:?} is not one of none, starttls, tls"
            ))),
        }
    }
}

impl fmt::Display for Security {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SMTP server of a connection: where it is, how to secure and authenticate the
/// connection, and the sender used when a step names none.
///
/// `host` is the name the server's TLS certificate must carry; the address connected to is
/// given separately to [`crate::send`], already resolved and vetted by the caller.
#[derive(Clone, PartialEq, Eq)]
pub struct SmtpSettings {
    pub host: String,
    pub port: u16,
    pub security: Security,
    pub username: Option<String>,
    pub password: Option<String>,
    /// The default `From` of emails that do not name one.
    pub from: Option<String>,
}

/// Debug output ends up in logs and error reports, so the password is never shown.
impl fmt::Debug for SmtpSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SmtpSettings")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("security", &self.security)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("from", &self.from)
            .finish()
    }
}

impl SmtpSettings {
    /// Parses a connection URL:
    ///
    /// - `smtp://user:pass@host:port?from=a@b.c`: no TLS, unless `?security=starttls` (or
    ///   `tls`);
    /// - `smtp+starttls://...`: STARTTLS required;
    /// - `smtps://...`: TLS from the start.
    ///
    /// The port defaults by security: 25, 587, 465. User and password are percent-decoded, so
    /// a password may hold `@`, `:` or `/` written as `%40`, `%3A`, `%2F`. Error messages
    /// never repeat the URL, since it may hold the password.
    pub fn from_url(url: &str) -> Result<SmtpSettings, MailError> {
        let parsed = url::Url::parse(url)
            .map_err(|error| MailError::invalid(format!("url: not a URL ({error})")))?;
        let scheme_security = match parsed.scheme() {
            "smtp" => None,
            "smtp+starttls" => Some(Security::StartTls),
            "smtps" => Some(Security::Tls),
            other => {
                return Err(MailError::invalid(format!(
                    "url: scheme {other:?} is not one of smtp, smtp+starttls, smtps"
                )))
            }
        };
        let host = parsed
            .host_str()
            .filter(|host| !host.is_empty())
            .ok_or_else(|| MailError::invalid("url: no host"))?;
        // An IPv6 literal is written in brackets in a URL but not in a TLS server name.
        let host = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if !matches!(parsed.path(), "" | "/") {
            return Err(MailError::invalid("url: a path is not allowed"));
        }
        if parsed.fragment().is_some() {
            return Err(MailError::invalid("url: a fragment is not allowed"));
        }

        let mut security_param = None;
        let mut from = None;
        for (key, value) in parsed.query_pairs() {
            match key.as_ref() {
                "security" => security_param = Some(value.parse::<Security>()?),
                "from" => from = Some(value.into_owned()),
                other => {
                    return Err(MailError::invalid(format!(
                        "url: unknown parameter {other:?} (known: security, from)"
                    )))
                }
            }
        }
        let security = match (scheme_security, security_param) {
            (None, param) => param.unwrap_or(Security::None),
            (Some(scheme), None) => scheme,
            (Some(scheme), Some(param)) if scheme == param => scheme,
            (Some(scheme), Some(param)) => {
                return Err(MailError::invalid(format!(
                    "url: security={param} contradicts the scheme {:?} ({scheme})",
                    parsed.scheme()
                )))
            }
        };

        let username = decode_userinfo(parsed.username(), "user")?;
        let password = match parsed.password() {
            Some(password) => decode_userinfo(password, "password")?,
            None => None,
        };
        if password.is_some() && username.is_none() {
            return Err(MailError::invalid("url: a password needs a user"));
        }

        Ok(SmtpSettings {
            host,
            port: parsed.port().unwrap_or(security.default_port()),
            security,
            username,
            password,
            from,
        })
    }
}

/// Percent-decodes one part of the URL's user information; empty means absent.
fn decode_userinfo(encoded: &str, what: &str) -> Result<Option<String>, MailError> {
    if encoded.is_empty() {
        return Ok(None);
    }
    let decoded = percent_decode_str(encoded)
        .decode_utf8()
        .map_err(|_| MailError::invalid(format!("url: the {what} is not UTF-8 once decoded")))?;
    Ok(Some(decoded.into_owned()))
}
