//! Connection URLs into SMTP settings, and what Debug shows of them.

use mail::{MailError, Security, SmtpSettings};

fn settings(
    host: &str,
    port: u16,
    security: Security,
    username: Option<&str>,
    password: Option<&str>,
    from: Option<&str>,
) -> SmtpSettings {
    SmtpSettings {
        host: host.to_owned(),
        port,
        security,
        username: username.map(str::to_owned),
        password: password.map(str::to_owned),
        from: from.map(str::to_owned),
    }
}

#[test]
fn urls_parse_into_settings() {
    use Security::{None, StartTls, Tls};
    let cases = [
        (
            "smtp://mail.example.com",
            settings(
                "mail.example.com",
                25,
                None,
                Option::None,
                Option::None,
                Option::None,
            ),
        ),
        (
            "smtp://user:pass@mail.example.com:2525?from=robot@example.com",
            settings(
                "mail.example.com",
                2525,
                None,
                Some("user"),
                Some("pass"),
                Some("robot@example.com"),
            ),
        ),
        (
            "smtp://mail.example.com?security=starttls",
            settings(
                "mail.example.com",
                587,
                StartTls,
                Option::None,
                Option::None,
                Option::None,
            ),
        ),
        (
            "smtp+starttls://mail.example.com",
            settings(
                "mail.example.com",
                587,
                StartTls,
                Option::None,
                Option::None,
                Option::None,
            ),
        ),
        (
            "smtps://mail.example.com/",
            settings(
                "mail.example.com",
                465,
                Tls,
                Option::None,
                Option::None,
                Option::None,
            ),
        ),
        (
            "smtps://mail.example.com:10465?security=tls",
            settings(
                "mail.example.com",
                10465,
                Tls,
                Option::None,
                Option::None,
                Option::None,
            ),
        ),
        (
            "smtp://apikey%40example.com:p%40ss%3Aw%2Frd%25@smtp.example.com",
            settings(
                "smtp.example.com",
                25,
                None,
                Some("apikey@example.com"),
                Some("p@ss:w/rd%"),
                Option::None,
            ),
        ),
        (
            "smtp://user@[::1]:2525",
            settings("::1", 2525, None, Some("user"), Option::None, Option::None),
        ),
        (
            "smtp://127.0.0.1?from=Duro%20%3Cduro%40example.com%3E",
            settings(
                "127.0.0.1",
                25,
                None,
                Option::None,
                Option::None,
                Some("Duro <duro@example.com>"),
            ),
        ),
    ];
    for (url, expected) in cases {
        let parsed = SmtpSettings::from_url(url).unwrap_or_else(|error| panic!("{url}: {error}"));
        assert!(parsed == expected, "{url}: {parsed:?} != {expected:?}");
        assert_eq!(parsed.password, expected.password, "{url}");
    }
}

#[test]
fn bad_urls_are_invalid() {
    let cases = [
        ("not a url", "url: not a URL"),
        ("http://mail.example.com", "url: scheme \"http\""),
        ("smtp://", "url: no host"),
        ("smtp://mail.example.com/inbox", "url: a path"),
        ("smtp://mail.example.com?security=ssl", "security: \"ssl\""),
        (
            "smtps://mail.example.com?security=none",
            "url: security=none contradicts",
        ),
        (
            "smtp://mail.example.com?form=a@b.c",
            "url: unknown parameter \"form\"",
        ),
        (
            "smtp://:secret@mail.example.com",
            "url: a password needs a user",
        ),
        ("smtp://mail.example.com:99999", "url: not a URL"),
    ];
    for (url, expected) in cases {
        let error = SmtpSettings::from_url(url).expect_err(url);
        assert!(
            matches!(&error, MailError::Invalid(message) if message.starts_with(expected)),
            "{url}: expected {expected:?}, got {error:?}"
        );
    }
}

#[test]
fn errors_never_repeat_the_password() {
    for url in [
        "smtp://user:hunter2@mail.example.com/path",
        "smtp://user:hunter2@mail.example.com?x=1",
        "ftp://user:hunter2@mail.example.com",
    ] {
        let error = SmtpSettings::from_url(url).expect_err(url);
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }
}

#[test]
fn debug_redacts_the_password() {
    let settings =
        SmtpSettings::from_url("smtps://mailer:hunter2@mail.example.com").expect("a valid URL");

    let debug = format!("{settings:?}");

    assert!(!debug.contains("hunter2"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
    assert!(debug.contains("mailer"), "{debug}");
}

#[test]
fn security_parses_from_its_names() {
    for (text, security) in [
        ("none", Security::None),
        ("starttls", Security::StartTls),
        ("tls", Security::Tls),
    ] {
        assert_eq!(text.parse::<Security>().expect(text), security);
        assert_eq!(security.to_string(), text);
    }
    assert!("TLS1.2".parse::<Security>().is_err());
}
