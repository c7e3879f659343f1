//! Sending over real TCP on loopback to the crate's test SMTP server.

use std::net::SocketAddr;
use std::time::Duration;

use mail::test_server::{Stage, TestSmtpServer};
use mail::{send, Email, MailError, Security, Sent, SmtpSettings};

const TIMEOUT: Duration = Duration::from_secs(5);

fn settings(server: &TestSmtpServer) -> SmtpSettings {
    SmtpSettings {
        host: "localhost".to_owned(),
        port: server.addr.port(),
        security: Security::None,
        username: None,
        password: None,
        from: Some("Duro <duro@example.com>".to_owned()),
    }
}

fn email() -> Email {
    Email {
        to: vec!["Ann <ann@example.com>".to_owned()],
        cc: vec!["bob@example.com".to_owned()],
        bcc: vec!["carol@example.com".to_owned()],
        from: Some("Orders <orders@example.com>".to_owned()),
        reply_to: Some("support@example.com".to_owned()),
        subject: "Your order 42".to_owned(),
        html: Some("<p>Order <b>42</b> has shipped.</p>".to_owned()),
        text: Some("Order 42 has shipped.\n.dot at the start of a line\n".to_owned()),
        message_id: "run_0190.notify@duro".to_owned(),
    }
}

async fn send_to(
    server: &TestSmtpServer,
    settings: &SmtpSettings,
    email: &Email,
) -> Result<Sent, MailError> {
    send(settings, &[server.addr], email, TIMEOUT).await
}

/// An address nothing listens on: bound, then released.
async fn closed_address() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port");
    listener.local_addr().expect("local address")
}

#[tokio::test]
async fn a_full_email_is_delivered_with_bcc_only_in_the_envelope() {
    let server = TestSmtpServer::start().await;

    let sent = send_to(&server, &settings(&server), &email())
        .await
        .expect("sent");

    assert_eq!(sent.message_id, "<run_0190.notify@duro>");
    assert_eq!(
        sent.accepted,
        ["ann@example.com", "bob@example.com", "carol@example.com"]
    );
    let messages = server.messages();
    assert_eq!(messages.len(), 1);
    let received = &messages[0];
    assert_eq!(received.from, "orders@example.com");
    assert_eq!(
        received.recipients,
        ["ann@example.com", "bob@example.com", "carol@example.com"]
    );
    let data = &received.data;
    let headers = data.split("\r\n\r\n").next().expect("a header block");
    for expected in [
        "Message-ID: <run_0190.notify@duro>\r\n",
        "From: Orders <orders@example.com>\r\n",
        "To: Ann <ann@example.com>\r\n",
        "Cc: bob@example.com\r\n",
        "Reply-To: support@example.com\r\n",
        "Subject: Your order 42\r\n",
        "Date: ",
        "MIME-Version: 1.0\r\n",
        "Content-Type: multipart/alternative;",
    ] {
        assert!(headers.contains(expected), "no {expected:?} in\n{headers}");
    }
    assert!(!data.contains("carol"), "the bcc leaked into\n{data}");
    assert!(!data.to_ascii_lowercase().contains("\r\nbcc:"), "{data}");
    for expected in [
        "Content-Type: text/plain; charset=utf-8",
        "Order 42 has shipped.\r\n.dot at the start of a line\r\n",
        "Content-Type: text/html; charset=utf-8",
        "<p>Order <b>42</b> has shipped.</p>",
    ] {
        assert!(data.contains(expected), "no {expected:?} in\n{data}");
    }
}

#[tokio::test]
async fn a_utf8_email_is_delivered() {
    let server = TestSmtpServer::start().await;
    let mut email = email();
    email.subject = "Grüße – ✓".to_owned();
    email.text = Some("Schöne Grüße".to_owned());
    email.html = None;

    send_to(&server, &settings(&server), &email)
        .await
        .expect("sent");

    let data = &server.messages()[0].data;
    assert!(data.contains("Subject: =?utf-8?"), "{data}");
    assert!(
        data.contains("Content-Type: text/plain; charset=utf-8"),
        "{data}"
    );
}

#[tokio::test]
async fn sending_twice_delivers_twice_with_the_same_message_id() {
    let server = TestSmtpServer::start().await;
    let settings = settings(&server);

    let first = send_to(&server, &settings, &email()).await.expect("first");
    let second = send_to(&server, &settings, &email()).await.expect("second");

    assert_eq!(first.message_id, second.message_id);
    let messages = server.messages();
    assert_eq!(messages.len(), 2);
    for received in &messages {
        assert!(
            received
                .data
                .contains("Message-ID: <run_0190.notify@duro>\r\n"),
            "{}",
            received.data
        );
    }
}

#[tokio::test]
async fn auth_with_the_right_credentials_delivers() {
    for mechanisms in [&["PLAIN", "LOGIN"][..], &["LOGIN"][..]] {
        let server = TestSmtpServer::start().await;
        server.require_auth("mailer", "p@ss:word");
        server.auth_mechanisms(mechanisms);
        let mut settings = settings(&server);
        settings.username = Some("mailer".to_owned());
        settings.password = Some("p@ss:word".to_owned());

        send_to(&server, &settings, &email())
            .await
            .unwrap_or_else(|error| panic!("{mechanisms:?}: {error}"));

        let messages = server.messages();
        assert_eq!(messages.len(), 1, "{mechanisms:?}");
        assert_eq!(messages[0].authenticated_as.as_deref(), Some("mailer"));
    }
}

#[tokio::test]
async fn auth_with_wrong_credentials_is_permanent_535() {
    let server = TestSmtpServer::start().await;
    server.require_auth("mailer", "right");
    let mut settings = settings(&server);
    settings.username = Some("mailer".to_owned());
    settings.password = Some("wrong".to_owned());

    let error = send_to(&server, &settings, &email())
        .await
        .expect_err("refused");

    assert!(
        matches!(&error, MailError::Permanent { code: 535, message } if message.contains("credentials invalid")),
        "{error:?}"
    );
    assert_eq!(error.code(), "SMTP_535");
    assert!(!error.retryable());
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn no_credentials_for_a_server_that_requires_them_is_permanent_530() {
    let server = TestSmtpServer::start().await;
    server.require_auth("mailer", "right");

    let error = send_to(&server, &settings(&server), &email())
        .await
        .expect_err("refused");

    assert_eq!(error.code(), "SMTP_530", "{error:?}");
}

#[tokio::test]
async fn a_451_on_data_is_transient_and_the_retry_delivers() {
    let server = TestSmtpServer::start().await;
    server.fail_next(Stage::Data, 451, "4.3.0 try again later", 1);
    let settings = settings(&server);

    let error = send_to(&server, &settings, &email())
        .await
        .expect_err("deferred");

    assert!(
        matches!(&error, MailError::Transient { code: Some(451), message } if message.contains("try again later")),
        "{error:?}"
    );
    assert!(error.retryable());
    assert_eq!(error.code(), "SMTP_451");
    assert!(server.messages().is_empty());

    send_to(&server, &settings, &email()).await.expect("retry");
    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_550_on_rcpt_is_permanent_with_the_server_text() {
    let server = TestSmtpServer::start().await;
    server.fail_next(Stage::Rcpt, 550, "5.1.1 ann@example.com: no such user", 1);

    let error = send_to(&server, &settings(&server), &email())
        .await
        .expect_err("refused");

    assert!(
        matches!(&error, MailError::Permanent { code: 550, message } if message.contains("no such user")),
        "{error:?}"
    );
    assert!(!error.retryable());
    assert_eq!(error.code(), "SMTP_550");
    assert!(error.to_string().contains("no such user"), "{error}");
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn invalid_emails_are_refused_before_connecting() {
    let server = TestSmtpServer::start().await;
    let settings = settings(&server);
    let no_recipients = Email {
        to: vec![],
        cc: vec![],
        bcc: vec![],
        ..email()
    };
    let bad_to = Email {
        to: vec!["not an address".to_owned()],
        ..email()
    };
    let bad_bcc = Email {
        bcc: vec!["carol@".to_owned()],
        ..email()
    };
    let bad_reply_to = Email {
        reply_to: Some("nobody".to_owned()),
        ..email()
    };
    let no_body = Email {
        html: None,
        text: None,
        ..email()
    };
    let bad_message_id = Email {
        message_id: "run 1".to_owned(),
        ..email()
    };
    let cases = [
        (no_recipients, "to: no recipient"),
        (bad_to, "to: \"not an address\" is not an email address"),
        (bad_bcc, "bcc: \"carol@\" is not an email address"),
        (bad_reply_to, "replyTo: \"nobody\""),
        (no_body, "body: "),
        (bad_message_id, "messageId: "),
    ];
    for (email, expected) in cases {
        let error = send_to(&server, &settings, &email)
            .await
            .expect_err(expected);
        assert!(
            matches!(&error, MailError::Invalid(message) if message.starts_with(expected)),
            "expected {expected:?}, got {error:?}"
        );
        assert_eq!(error.code(), "INVALID_EMAIL");
        assert!(!error.retryable());
    }

    let mut no_from_anywhere = settings.clone();
    no_from_anywhere.from = None;
    let error = send_to(
        &server,
        &no_from_anywhere,
        &Email {
            from: None,
            ..email()
        },
    )
    .await
    .expect_err("no sender");
    assert!(
        matches!(&error, MailError::Invalid(message) if message.starts_with("from: ")),
        "{error:?}"
    );

    assert_eq!(server.connections(), 0);
    assert!(server.messages().is_empty());
}

#[tokio::test]
async fn a_refused_connection_is_transient() {
    let server = TestSmtpServer::start().await;
    let address = closed_address().await;

    let error = send(&settings(&server), &[address], &email(), TIMEOUT)
        .await
        .expect_err("refused");

    assert!(
        matches!(&error, MailError::Transient { code: None, .. }),
        "{error:?}"
    );
    assert!(error.retryable());
    assert_eq!(error.code(), "SMTP_UNAVAILABLE");
}

#[tokio::test]
async fn addresses_are_tried_in_order() {
    let server = TestSmtpServer::start().await;
    let addresses = [closed_address().await, server.addr];

    send(&settings(&server), &addresses, &email(), TIMEOUT)
        .await
        .expect("sent through the second address");

    assert_eq!(server.messages().len(), 1);
}

#[tokio::test]
async fn a_silent_server_times_out_as_transient() {
    // Accepts the connection but never greets.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind a port");
    let address = listener.local_addr().expect("local address");
    let server = TestSmtpServer::start().await;

    let error = send(
        &settings(&server),
        &[address],
        &email(),
        Duration::from_millis(100),
    )
    .await
    .expect_err("timed out");

    assert!(
        matches!(&error, MailError::Transient { code: None, message } if message.contains("within 100 ms")),
        "{error:?}"
    );
    drop(listener);
}
