//! The email of a step, checked and built into a MIME message and an SMTP envelope.

use lettre::address::{Address, Envelope};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Message, MultiPart, SinglePart};
use serde::Serialize;

use crate::error::MailError;
use crate::settings::SmtpSettings;

/// The most envelope recipients (to, cc and bcc together) of one email. RFC 5321 (section
/// 4.5.3.1.8) has servers accept at least 100; more is refused before connecting rather than
/// half-delivered.
pub const RECIPIENTS_MAX: usize = 100;

/// One email, rendered by the engine from a step's configuration.
///
/// Addresses are `a@b.c` or `Name <a@b.c>`. `message_id` comes from the caller, derived from
/// the run and the step (e.g. `run_x.step@duro`), so that a retried send carries the same
/// Message-ID and the receiver can recognise the duplicate.
#[derive(Clone, Debug, PartialEq)]
pub struct Email {
    pub to: Vec<String>,
    pub cc: Vec<String>,
    /// In the envelope only, never in the headers.
    pub bcc: Vec<String>,
    /// Falls back to [`SmtpSettings::from`].
    pub from: Option<String>,
    pub reply_to: Option<String>,
    pub subject: String,
    pub html: Option<String>,
    pub text: Option<String>,
    /// With or without the angle brackets; the header is `Message-ID: <{message_id}>`.
    pub message_id: String,
}

/// What the server accepted; the output of an `email` step.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Sent {
    /// The Message-ID header's value, in angle brackets: `<run_x.step@duro>`.
    pub message_id: String,
    /// Every envelope recipient (to, cc, bcc) the server accepted, as bare addresses.
    pub accepted: Vec<String>,
}

/// A checked email: the bytes to send after DATA, and the envelope to send them with.
pub(crate) struct Prepared {
    pub(crate) envelope: Envelope,
    pub(crate) formatted: Vec<u8>,
    pub(crate) message_id: String,
}

impl Prepared {
    /// Checks `email` and builds its message. Every check happens here, before any
    /// connection, so an invalid email never reaches a server.
    pub(crate) fn new(settings: &SmtpSettings, email: &Email) -> Result<Prepared, MailError> {
        let to = mailboxes("to", &email.to)?;
        let cc = mailboxes("cc", &email.cc)?;
        let bcc = mailboxes("bcc", &email.bcc)?;
        let from = match email.from.as_deref().or(settings.from.as_deref()) {
            Some(from) => mailbox("from", from)?,
            None => {
                return Err(MailError::invalid(
                    "from: no sender; set from on the step or in the SMTP connection",
                ))
            }
        };
        let reply_to = email
            .reply_to
            .as_deref()
            .map(|reply_to| mailbox("replyTo", reply_to))
            .transpose()?;
        let message_id = message_id(&email.message_id)?;
        let body = body(email)?;

        let mut recipients: Vec<Address> = Vec::new();
        for mailbox in to.iter().chain(&cc).chain(&bcc) {
            if !recipients.contains(&mailbox.email) {
                recipients.push(mailbox.email.clone());
            }
        }
        if recipients.is_empty() {
            return Err(MailError::invalid(
                "to: no recipient (to, cc and bcc are all empty)",
            ));
        }
        if recipients.len() > RECIPIENTS_MAX {
            return Err(MailError::invalid(format!(
                "to: {} recipients in to, cc and bcc; at most {RECIPIENTS_MAX}",
                recipients.len()
            )));
        }
        let envelope = Envelope::new(Some(from.email.clone()), recipients)
            .map_err(|error| MailError::invalid(format!("to: {error}")))?;

        // The envelope is given, so Bcc is never added as a header.
        let mut builder = Message::builder()
            .envelope(envelope.clone())
            .from(from)
            .subject(email.subject.clone())
            .message_id(Some(message_id.clone()))
            .date_now();
        for mailbox in to {
            builder = builder.to(mailbox);
        }
        for mailbox in cc {
            builder = builder.cc(mailbox);
        }
        if let Some(reply_to) = reply_to {
            builder = builder.reply_to(reply_to);
        }
        let message = match body {
            Body::Single(part) => builder.singlepart(part),
            Body::Alternative(parts) => builder.multipart(parts),
        }
        .map_err(|error| MailError::invalid(format!("message: {error}")))?;

        Ok(Prepared {
            envelope,
            formatted: message.formatted(),
            message_id,
        })
    }

    pub(crate) fn recipients(&self) -> Vec<String> {
        self.envelope.to().iter().map(ToString::to_string).collect()
    }
}

fn mailbox(field: &str, text: &str) -> Result<Mailbox, MailError> {
    text.trim()
        .parse::<Mailbox>()
        .map_err(|_| MailError::invalid(format!("{field}: {text:?} is not an email address")))
}

fn mailboxes(field: &str, texts: &[String]) -> Result<Vec<Mailbox>, MailError> {
    texts.iter().map(|text| mailbox(field, text)).collect()
}

/// `<id>` from `id` or `<id>`. The id goes into the header as it is, so it must be one
/// printable ASCII word without brackets inside.
fn message_id(given: &str) -> Result<String, MailError> {
    let trimmed = given.trim();
    let inner = trimmed
        .strip_prefix('<')
        .and_then(|rest| rest.strip_suffix('>'))
        .unwrap_or(trimmed);
    let printable_word = inner
        .bytes()
        .all(|byte| byte.is_ascii_graphic() && byte != b'<' && byte != b'>');
    if inner.is_empty() || !printable_word {
        return Err(MailError::invalid(format!(
            "messageId: {given:?} is not a Message-ID (printable ASCII without spaces or <>)"
        )));
    }
    Ok(format!("<{inner}>"))
}

enum Body {
    Single(SinglePart),
    Alternative(MultiPart),
}

/// Text and HTML together become multipart/alternative, the plain text first as RFC 2046
/// asks (the last part is the preferred one); either alone is a single UTF-8 part.
fn body(email: &Email) -> Result<Body, MailError> {
    let text = || SinglePart::builder().content_type(ContentType::TEXT_PLAIN);
    let html = || SinglePart::builder().content_type(ContentType::TEXT_HTML);
    match (&email.text, &email.html) {
        (Some(plain), Some(markup)) => Ok(Body::Alternative(
            MultiPart::alternative()
                .singlepart(text().body(plain.clone()))
                .singlepart(html().body(markup.clone())),
        )),
        (Some(plain), None) => Ok(Body::Single(text().body(plain.clone()))),
        (None, Some(markup)) => Ok(Body::Single(html().body(markup.clone()))),
        (None, None) => Err(MailError::invalid("body: needs html or text")),
    }
}

#[cfg(test)]
mod tests {
    use super::{message_id, Email, Prepared};
    use crate::settings::{Security, SmtpSettings};
    use crate::MailError;

    fn settings() -> SmtpSettings {
        SmtpSettings {
            host: "smtp.example.com".to_owned(),
            port: 25,
            security: Security::None,
            username: None,
            password: None,
            from: Some("Duro <duro@example.com>".to_owned()),
        }
    }

    fn email() -> Email {
        Email {
            to: vec!["Ann <ann@example.com>".to_owned()],
            cc: vec![],
            bcc: vec![],
            from: None,
            reply_to: None,
            subject: "Hello".to_owned(),
            html: None,
            text: Some("Hi Ann".to_owned()),
            message_id: "run_1.notify@duro".to_owned(),
        }
    }

    fn formatted(email: &Email) -> String {
        let prepared = Prepared::new(&settings(), email).expect("valid email");
        String::from_utf8(prepared.formatted).expect("UTF-8 message")
    }

    #[test]
    fn message_ids_get_one_pair_of_brackets() {
        let cases = [
            ("run_1.step@duro", Some("<run_1.step@duro>")),
            ("<run_1.step@duro>", Some("<run_1.step@duro>")),
            (" run_1.step@duro ", Some("<run_1.step@duro>")),
            ("", None),
            ("<>", None),
            ("a b@duro", None),
            ("a\r\nBcc: x@y.z", None),
            ("<<a@b>>", None),
        ];
        for (given, expected) in cases {
            let result = message_id(given).ok();
            assert_eq!(result.as_deref(), expected, "{given:?}");
        }
    }

    #[test]
    fn the_settings_from_is_the_default_sender() {
        let raw = formatted(&email());
        assert!(raw.contains("From: Duro <duro@example.com>\r\n"), "{raw}");
        let mut own = email();
        own.from = Some("me@example.com".to_owned());
        assert!(formatted(&own).contains("From: me@example.com\r\n"));
    }

    #[test]
    fn a_single_part_has_its_content_type() {
        let raw = formatted(&email());
        assert!(
            raw.contains("Content-Type: text/plain; charset=utf-8"),
            "{raw}"
        );
        assert!(!raw.contains("multipart"), "{raw}");

        let mut html_only = email();
        html_only.text = None;
        html_only.html = Some("<p>Hi</p>".to_owned());
        let raw = formatted(&html_only);
        assert!(
            raw.contains("Content-Type: text/html; charset=utf-8"),
            "{raw}"
        );
        assert!(raw.contains("<p>Hi</p>"), "{raw}");
    }

    #[test]
    fn a_subject_cannot_inject_headers() {
        let mut email = email();
        email.subject = "Hi\r\nBcc: spy@example.com".to_owned();
        let raw = formatted(&email);
        assert!(!raw.contains("\r\nBcc:"), "{raw}");
    }

    #[test]
    fn recipients_are_counted_once_and_bounded() {
        let mut email = email();
        email.cc = vec!["ann@example.com".to_owned()];
        let prepared = Prepared::new(&settings(), &email).expect("valid email");
        assert_eq!(prepared.recipients(), vec!["ann@example.com".to_owned()]);

        email.bcc = (0..super::RECIPIENTS_MAX)
            .map(|n| format!("r{n}@example.com"))
            .collect();
        let error = Prepared::new(&settings(), &email).err();
        assert!(
            matches!(&error, Some(MailError::Invalid(message)) if message.starts_with("to: 101 recipients")),
            "{error:?}"
        );
    }
}
