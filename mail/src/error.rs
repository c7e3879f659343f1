//! The one error type of the crate, and how lettre's errors map onto it.

/// Why an email was not sent.
///
/// The variants follow SMTP's own split (RFC 5321, section 4.2.1): a 4xx reply means "try
/// again later", a 5xx reply means "this will not work as it is". Input the server never
/// saw is [`MailError::Invalid`].
#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The email or the settings are wrong: a bad address, no recipient, no sender, no body.
    /// The message names the field (`to`, `cc`, `bcc`, `from`, `replyTo`, `body`,
    /// `messageId`, `url`, ...). Nothing was sent.
    #[error("invalid email: {0}")]
    Invalid(String),
    /// A failure that may pass: an SMTP 4xx reply, a refused or broken connection, a TLS
    /// failure, a timeout. `code` is the SMTP reply code when the server answered.
    #[error("{}", transient_display(*.code, .message))]
    Transient { code: Option<u16>, message: String },
    /// The server refused with a 5xx reply; `message` is the server's reply text, so the
    /// run's error says why (unknown mailbox, bad credentials, ...).
    #[error("SMTP server refused ({code}): {message}")]
    Permanent { code: u16, message: String },
}

fn transient_display(code: Option<u16>, message: &str) -> String {
    match code {
        Some(code) => format!("SMTP server replied {code} (temporary): {message}"),
        None => format!("SMTP server unavailable: {message}"),
    }
}

impl MailError {
    /// A stable, machine-readable code for the run's error: `INVALID_EMAIL`, `SMTP_451`,
    /// `SMTP_UNAVAILABLE` (no reply code: connection, TLS or timeout), `SMTP_550`.
    pub fn code(&self) -> String {
        match self {
            MailError::Invalid(_) => "INVALID_EMAIL".to_owned(),
            MailError::Transient {
                code: Some(code), ..
            }
            | MailError::Permanent { code, .. } => format!("SMTP_{code}"),
            MailError::Transient { code: None, .. } => "SMTP_UNAVAILABLE".to_owned(),
        }
    }

    /// Whether sending the same email again later may succeed. Only transient failures are
    /// retryable; a retry carries the same Message-ID, so a receiver can tell a duplicate.
    pub fn retryable(&self) -> bool {
        matches!(self, MailError::Transient { .. })
    }

    pub(crate) fn invalid(message: impl Into<String>) -> MailError {
        MailError::Invalid(message.into())
    }
}

impl From<lettre::transport::smtp::Error> for MailError {
    fn from(error: lettre::transport::smtp::Error) -> MailError {
        // For a negative reply lettre keeps the server's text as the error's source.
        let reply_text = std::error::Error::source(&error)
            .map(ToString::to_string)
            .unwrap_or_default();
        match error.status().map(u16::from) {
            Some(code) if error.is_permanent() => MailError::Permanent {
                code,
                message: reply_text,
            },
            Some(code) => MailError::Transient {
                code: Some(code),
                message: reply_text,
            },
            // No reply code: network, TLS, timeout, or a reply lettre could not use (no
            // common AUTH mechanism, no STARTTLS offered, no 8BITMIME for a UTF-8 body).
            // These are transient: the server or its configuration can change, and the
            // retry policy bounds the attempts.
            None if error.is_timeout() => MailError::Transient {
                code: None,
                message: format!("timed out: {error}"),
            },
            None => MailError::Transient {
                code: None,
                message: error.to_string(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MailError;

    #[test]
    fn codes_and_retryability() {
        let cases = [
            (MailError::invalid("to: empty"), "INVALID_EMAIL", false),
            (
                MailError::Transient {
                    code: Some(451),
                    message: "later".to_owned(),
                },
                "SMTP_451",
                true,
            ),
            (
                MailError::Transient {
                    code: None,
                    message: "refused".to_owned(),
                },
                "SMTP_UNAVAILABLE",
                true,
            ),
            (
                MailError::Permanent {
                    code: 550,
                    message: "no such user".to_owned(),
                },
                "SMTP_550",
                false,
            ),
        ];
        for (error, code, retryable) in cases {
            assert_eq!(error.code(), code, "{error}");
            assert_eq!(error.retryable(), retryable, "{error}");
        }
    }

    #[test]
    fn permanent_display_carries_the_server_text() {
        let error = MailError::Permanent {
            code: 550,
            message: "5.1.1 no such user".to_owned(),
        };
        assert_eq!(
            error.to_string(),
            "SMTP server refused (550): 5.1.1 no such user"
        );
    }
}
