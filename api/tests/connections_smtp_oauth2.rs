//! Connections of kinds smtp and oauth2: an SMTP server's settings for email steps, and an
//! OAuth2 client whose access tokens Duro obtains and refreshes itself from a real token
//! endpoint on loopback. No secret ever shows in an answer, an error or the journal.

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::routing::post;
use axum::{Form, Json, Router};
use credentials::connections::{Connections, SecretKey};
use engine::connections::ConnectionSource;
use engine::executor::Clock;
use journal::{EventStore, MemoryStore, Position};
use serde_json::{json, Value};
use support::{assert_error, TestApi};

const SMTP_PASSWORD: &str = "smtp-pa55word-4f1c9e2b7a";
const CLIENT_ID: &str = "duro-client-42";
const CLIENT_SECRET: &str = "cs_9b8a7c6d5e4f3a2b1c0d";
const REFRESH_TOKEN: &str = "rt_first_0a1b2c3d4e5f6a7b";
const ROTATED_REFRESH_TOKEN: &str = "rt_rotated_9f8e7d6c5b4a3f2e";
const SCOPE: &str = "read write";
/// 2023-11-14T22:13:20Z.
const T0_MS: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;

/// The access token the token server grants in its `n`th answer.
fn access_token(n: usize) -> String {
    format!("at_{n}_5e6f7a8b9c0d1e2f")
}

/// "Now", moved by the test.
struct TestClock(AtomicI64);

impl TestClock {
    fn at(now_ms: i64) -> Arc<TestClock> {
        Arc::new(TestClock(AtomicI64::new(now_ms)))
    }

    fn advance(&self, ms: i64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// An OAuth2 token endpoint (RFC 6749 section 6) on 127.0.0.1: counts its calls, checks
/// every request, grants `access_token(n)` for an hour, rotates the refresh token when told.
struct TokenServer {
    url: String,
    calls: AtomicUsize,
    /// The refresh token the next request must carry.
    expected_refresh_token: Mutex<String>,
    /// The refresh token the next answer rotates to.
    rotate_to: Mutex<Option<String>>,
    /// Answer 400 invalid_grant.
    refuse: AtomicBool,
    delay_ms: AtomicU64,
    /// What was wrong with requests: must stay empty.
    problems: Mutex<Vec<String>>,
}

impl TokenServer {
    async fn start() -> Arc<TokenServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let address = listener.local_addr().expect("address");
        let server = Arc::new(TokenServer {
            url: format!("http://{address}/oauth/token"),
            calls: AtomicUsize::new(0),
            expected_refresh_token: Mutex::new(REFRESH_TOKEN.to_owned()),
            rotate_to: Mutex::new(None),
            refuse: AtomicBool::new(false),
            delay_ms: AtomicU64::new(0),
            problems: Mutex::new(Vec::new()),
        });
        let app = Router::new()
            .route("/oauth/token", post(grant))
            .with_state(server.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        server
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    fn rotate_next_to(&self, refresh_token: &str) {
        *self.rotate_to.lock().expect("lock") = Some(refresh_token.to_owned());
    }

    fn assert_requests_were_right(&self) {
        let problems = self.problems.lock().expect("lock");
        assert!(problems.is_empty(), "{problems:?}");
    }
}

async fn grant(
    State(server): State<Arc<TokenServer>>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> (StatusCode, Json<Value>) {
    let n = server.calls.fetch_add(1, Ordering::SeqCst) + 1;
    let delay_ms = server.delay_ms.load(Ordering::SeqCst);
    if delay_ms > 0 {
        tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    }
    let expected_refresh_token = server.expected_refresh_token.lock().expect("lock").clone();
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let field = |name: &str| form.get(name).map(String::as_str);
    let checks = [
        ("accept", header("accept"), Some("application/json")),
        (
            "content-type",
            header("content-type"),
            Some("application/x-www-form-urlencoded"),
        ),
        ("grant_type", field("grant_type"), Some("refresh_token")),
        ("client_id", field("client_id"), Some(CLIENT_ID)),
        ("client_secret", field("client_secret"), Some(CLIENT_SECRET)),
        (
            "refresh_token",
            field("refresh_token"),
            Some(expected_refresh_token.as_str()),
        ),
        ("scope", field("scope"), Some(SCOPE)),
    ];
    let wrong: Vec<String> = checks
        .iter()
        .filter(|(_, got, want)| got != want)
        .map(|(name, got, _)| format!("call {n}: {name} was {got:?}"))
        .collect();
    if !wrong.is_empty() {
        server.problems.lock().expect("lock").extend(wrong);
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({"error": "invalid_request"})),
        );
    }
    if server.refuse.load(Ordering::SeqCst) {
        return (
            StatusCode::BAD_REQUEST,
            Json(json!({
                "error": "invalid_grant",
                "error_description": format!("refresh token {expected_refresh_token} revoked")
            })),
        );
    }
    let mut answer = json!({
        "access_token": access_token(n),
        "expires_in": 3600,
        "token_type": "Bearer",
    });
    if let Some(rotated) = server.rotate_to.lock().expect("lock").take() {
        answer["refresh_token"] = json!(rotated);
        *server.expected_refresh_token.lock().expect("lock") = rotated;
    }
    (StatusCode::OK, Json(answer))
}

fn outbound() -> outbound::Outbound {
    outbound::Outbound::new(outbound::OutboundPolicy::default()).expect("outbound client")
}

fn oauth2_body(token_url: &str) -> Value {
    json!({
        "name": "Acme API",
        "provider": "http",
        "kind": "oauth2",
        "clientId": CLIENT_ID,
        "clientSecret": CLIENT_SECRET,
        "tokenUrl": token_url,
        "refreshToken": REFRESH_TOKEN,
        "scope": SCOPE,
    })
}

fn smtp_body() -> Value {
    json!({
        "name": "Outgoing mail",
        "provider": "smtp",
        "kind": "smtp",
        "host": "smtp.example.com",
        "port": 587,
        "security": "starttls",
        "username": "mailer",
        "password": SMTP_PASSWORD,
        "from": "Duro <duro@example.com>",
    })
}

/// The value of the one header `present` gives.
async fn present(connections: &Connections, id: &str) -> Result<String, String> {
    let presented = ConnectionSource::present(connections, id).await?;
    match presented.headers.as_slice() {
        [(name, value)] if name == "authorization" => Ok(value.clone()),
        _ => Err(format!("unexpected headers {presented:?}")),
    }
}

/// Every secret of these tests, and every access token the token server granted.
fn secrets(n_access_tokens: usize) -> Vec<String> {
    let mut secrets: Vec<String> = [
        SMTP_PASSWORD,
        CLIENT_SECRET,
        REFRESH_TOKEN,
        ROTATED_REFRESH_TOKEN,
    ]
    .map(str::to_owned)
    .to_vec();
    secrets.extend((1..=n_access_tokens).map(access_token));
    secrets
}

fn assert_hidden(text: &str, secrets: &[String]) {
    for secret in secrets {
        assert!(!text.contains(secret.as_str()), "{secret} leaked: {text}");
    }
}

/// Asserts no secret is in the bytes of any event of a connection stream; returns their tags.
async fn assert_journal_hides(store: &MemoryStore, secrets: &[String]) -> Vec<u16> {
    let events = store
        .read_all(Position::START, usize::MAX)
        .await
        .expect("read_all");
    let mut tags = Vec::new();
    for event in events
        .iter()
        .filter(|event| event.stream.as_str().starts_with("connection-"))
    {
        for secret in secrets {
            assert!(
                !event
                    .data
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "{secret} is in the journal ({} seq {})",
                event.stream.as_str(),
                event.seq.0
            );
        }
        tags.push(event.event_type.0);
    }
    tags
}

async fn create(api: &TestApi, body: Value, answers: &mut Vec<String>) -> Value {
    let reply = api.post("/api/v1/connections", body).await;
    answers.push(reply.body.to_string());
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body["data"].clone()
}

#[tokio::test]
async fn an_smtp_connection_keeps_its_server_and_shows_it_without_the_password() {
    let api = TestApi::new().await;
    let mut answers = Vec::new();
    let data = create(&api, smtp_body(), &mut answers).await;
    let id = data["id"].as_str().expect("id").to_owned();
    assert_eq!(data["kind"], "smtp");
    assert_eq!(data["provider"], "smtp");
    assert_eq!(data["secretHint"], "****");
    assert_eq!(
        data["smtp"],
        json!({"host": "smtp.example.com", "port": 587, "security": "starttls",
               "username": "mailer", "from": "Duro <duro@example.com>"})
    );
    let path = format!("/api/v1/connections/{id}");
    let detail = api.get(&path).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    assert_eq!(detail.body["data"], data);
    let list = api.get("/api/v1/connections").await;
    assert_eq!(list.body["data"], json!([data]));
    answers.extend([detail.body.to_string(), list.body.to_string()]);

    let connections = &api.state.connections;
    let settings = ConnectionSource::smtp(connections, &id)
        .await
        .expect("smtp settings");
    assert_eq!(
        settings,
        mail::SmtpSettings {
            host: "smtp.example.com".into(),
            port: 587,
            security: mail::Security::StartTls,
            username: Some("mailer".into()),
            password: Some(SMTP_PASSWORD.into()),
            from: Some("Duro <duro@example.com>".into()),
        }
    );
    assert_hidden(&format!("{settings:?}"), &secrets(0));
    let header = present(connections, &id).await.expect_err("no header");
    assert_eq!(
        header,
        format!("connection {id} is an smtp connection: it is used by email steps")
    );

    // A patch of the server replaces the whole secret: here, no more credentials.
    let patched = api
        .patch(
            &path,
            json!({"host": "mail.example.org", "port": 465, "security": "tls"}),
        )
        .await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    answers.push(patched.body.to_string());
    assert_eq!(
        patched.body["data"]["smtp"],
        json!({"host": "mail.example.org", "port": 465, "security": "tls",
               "username": null, "from": null})
    );
    let settings = ConnectionSource::smtp(connections, &id)
        .await
        .expect("smtp settings");
    assert_eq!(
        (settings.security, settings.username, settings.password),
        (mail::Security::Tls, None, None)
    );

    let disabled = api.patch(&path, json!({"status": "disabled"})).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);
    let error = ConnectionSource::smtp(connections, &id)
        .await
        .expect_err("disabled");
    assert_eq!(error, format!("connection {id} is disabled"));
    let missing = ConnectionSource::smtp(connections, "nope")
        .await
        .expect_err("missing");
    assert_eq!(missing, "connection nope not found");
    let bearer = create(
        &api,
        json!({"name": "n", "provider": "stripe", "kind": "bearer", "token": "sk_test_1"}),
        &mut answers,
    )
    .await;
    let bearer_id = bearer["id"].as_str().expect("id");
    let not_smtp = ConnectionSource::smtp(connections, bearer_id)
        .await
        .expect_err("not smtp");
    assert!(not_smtp.contains("not an smtp connection"), "{not_smtp}");

    for answer in &answers {
        assert_hidden(answer, &secrets(0));
    }
    assert_journal_hides(&api.store, &secrets(0)).await;
}

#[tokio::test]
async fn bad_smtp_connections_are_refused_naming_the_field() {
    let api = TestApi::new().await;
    let before = api.journal_position();
    let with = |changes: Value| {
        let mut body = smtp_body();
        for (field, value) in changes.as_object().expect("object") {
            if value.is_null() {
                body.as_object_mut().expect("object").remove(field);
            } else {
                body[field] = value.clone();
            }
        }
        body
    };
    let cases = [
        (with(json!({"provider": "stripe"})), "provider"),
        (
            json!({"name": "n", "provider": "smtp", "kind": "bearer", "token": "t0ken"}),
            "kind",
        ),
        (with(json!({"host": null})), "host"),
        (with(json!({"host": "smtp example.com"})), "host"),
        (with(json!({"port": null})), "port"),
        (with(json!({"port": 0})), "port"),
        (with(json!({"port": 65536})), "port"),
        (with(json!({"port": "587"})), "port"),
        (with(json!({"security": "ssl"})), "security"),
        (with(json!({"password": null})), "password"),
        (with(json!({"username": null})), "username"),
        (with(json!({"from": "duro"})), "from"),
        (with(json!({"token": "t0ken"})), "token"),
    ];
    for (body, field) in cases {
        let reply = api.post("/api/v1/connections", body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(
            error["details"][0]["path"],
            json!([field]),
            "{body}: {error}"
        );
        assert_hidden(&reply.body.to_string(), &secrets(0));
    }
    assert_eq!(api.journal_position(), before, "a refused request wrote");

    // Patches keep kind smtp and provider smtp together too.
    let mut answers = Vec::new();
    let smtp = create(&api, smtp_body(), &mut answers).await;
    let smtp_path = format!("/api/v1/connections/{}", smtp["id"].as_str().expect("id"));
    let to_stripe = api.patch(&smtp_path, json!({"provider": "stripe"})).await;
    let error = assert_error(&to_stripe, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["provider"]), "{error}");
    let to_bearer = api
        .patch(&smtp_path, json!({"kind": "bearer", "token": "t0ken"}))
        .await;
    let error = assert_error(&to_bearer, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["kind"]), "{error}");
    let bearer = create(
        &api,
        json!({"name": "n", "provider": "stripe", "kind": "bearer", "token": "t0ken"}),
        &mut answers,
    )
    .await;
    let bearer_path = format!("/api/v1/connections/{}", bearer["id"].as_str().expect("id"));
    let to_smtp = api.patch(&bearer_path, json!({"provider": "smtp"})).await;
    let error = assert_error(&to_smtp, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
    assert_eq!(error["details"][0]["path"], json!(["provider"]), "{error}");
}

#[tokio::test]
async fn bad_oauth2_connections_are_refused_naming_the_field() {
    let api = TestApi::new().await;
    let before = api.journal_position();
    let url = "https://auth.example.com/oauth/token";
    let without = |field: &str| {
        let mut body = oauth2_body(url);
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let mut bad_url = oauth2_body(url);
    bad_url["tokenUrl"] = json!("ftp://auth.example.com/token");
    let mut extra = oauth2_body(url);
    extra["token"] = json!("t0ken");
    let cases = [
        (without("clientId"), "clientId"),
        (without("clientSecret"), "clientSecret"),
        (without("tokenUrl"), "tokenUrl"),
        (without("refreshToken"), "refreshToken"),
        (bad_url, "tokenUrl"),
        (extra, "token"),
    ];
    for (body, field) in cases {
        let reply = api.post("/api/v1/connections", body.clone()).await;
        let error = assert_error(&reply, StatusCode::BAD_REQUEST, "VALIDATION_ERROR");
        assert_eq!(
            error["details"][0]["path"],
            json!([field]),
            "{body}: {error}"
        );
        assert_hidden(&reply.body.to_string(), &secrets(0));
    }
    assert_eq!(api.journal_position(), before, "a refused request wrote");
}

#[tokio::test]
async fn oauth2_access_tokens_are_obtained_once_refreshed_when_due_and_rotated() {
    let server = TokenServer::start().await;
    let api = TestApi::new().await;
    let clock = TestClock::at(T0_MS);
    let connections = api
        .state
        .connections
        .clone()
        .with_clock(clock.clone())
        .with_outbound(outbound());
    let mut answers = Vec::new();
    let data = create(&api, oauth2_body(&server.url), &mut answers).await;
    let id = data["id"].as_str().expect("id").to_owned();
    assert_eq!(data["kind"], "oauth2");
    assert_eq!(data["secretHint"], "****");
    assert_eq!(
        data["oauth2"],
        json!({"clientId": CLIENT_ID, "tokenUrl": server.url, "scope": SCOPE,
               "tokenExpiresAt": null})
    );
    assert_eq!(server.calls(), 0, "creating calls nothing");

    // The first use obtains a token; the next ones reuse it.
    let bearer = |n: usize| Ok(format!("Bearer {}", access_token(n)));
    assert_eq!(present(&connections, &id).await, bearer(1));
    assert_eq!(server.calls(), 1);
    clock.advance(HOUR_MS - 2 * 60_000);
    assert_eq!(present(&connections, &id).await, bearer(1));
    assert_eq!(server.calls(), 1);

    // Within a minute of expiry: refreshed, and this answer rotates the refresh token.
    server.rotate_next_to(ROTATED_REFRESH_TOKEN);
    clock.advance(90_000);
    assert_eq!(present(&connections, &id).await, bearer(2));
    assert_eq!(server.calls(), 2);
    // The next refresh sends the rotated refresh token (the server checks it).
    clock.advance(HOUR_MS);
    assert_eq!(present(&connections, &id).await, bearer(3));
    assert_eq!(present(&connections, &id).await, bearer(3));
    assert_eq!(server.calls(), 3);

    // Two uses at once after expiry: one refresh.
    clock.advance(HOUR_MS);
    server.delay_ms.store(100, Ordering::SeqCst);
    let (first, second) = tokio::join!(present(&connections, &id), present(&connections, &id));
    assert_eq!((first, second), (bearer(4), bearer(4)));
    assert_eq!(server.calls(), 4);
    server.delay_ms.store(0, Ordering::SeqCst);

    let detail = api.get(&format!("/api/v1/connections/{id}")).await;
    assert_eq!(detail.status, StatusCode::OK, "{}", detail.body);
    let expires_at = chrono::DateTime::from_timestamp_millis(clock.now_ms() + HOUR_MS)
        .expect("time")
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    assert_eq!(detail.body["data"]["oauth2"]["tokenExpiresAt"], expires_at);
    assert_eq!(detail.body["data"]["updatedAt"], data["updatedAt"]);
    let list = api.get("/api/v1/connections").await;
    answers.extend([detail.body.to_string(), list.body.to_string()]);

    // A refused refresh names the connection and the endpoint's error code, nothing secret.
    server.refuse.store(true, Ordering::SeqCst);
    clock.advance(HOUR_MS);
    let refused = present(&connections, &id).await.expect_err("refused");
    assert!(refused.contains(&id), "{refused}");
    assert!(refused.contains("invalid_grant"), "{refused}");
    assert!(refused.contains("400"), "{refused}");
    answers.push(refused);
    assert_eq!(server.calls(), 5);
    server.assert_requests_were_right();

    let deleted = api
        .call(
            Method::DELETE,
            &format!("/api/v1/connections/{id}"),
            Value::Null,
        )
        .await;
    answers.push(deleted.body.to_string());
    for answer in &answers {
        assert_hidden(answer, &secrets(5));
    }
    let tags = assert_journal_hides(&api.store, &secrets(5)).await;
    assert_eq!(tags, [600, 604, 604, 604, 604, 602]);
}

#[tokio::test]
async fn a_stored_access_token_is_used_after_a_restart() {
    let server = TokenServer::start().await;
    let store = Arc::new(MemoryStore::new());
    let clock = TestClock::at(T0_MS);
    let open = || {
        let store: Arc<dyn EventStore> = store.clone();
        Connections::new(store, SecretKey::from_bytes([0x42; 32]))
            .with_clock(clock.clone())
            .with_outbound(outbound())
    };
    let before = open();
    let created = before
        .create(serde_json::from_value(oauth2_body(&server.url)).expect("body"))
        .await
        .expect("create");
    assert_eq!(
        present(&before, &created.id).await,
        Ok(format!("Bearer {}", access_token(1)))
    );
    drop(before);

    let after = open();
    assert_eq!(
        present(&after, &created.id).await,
        Ok(format!("Bearer {}", access_token(1)))
    );
    assert_eq!(server.calls(), 1, "the stored token was not reused");
    clock.advance(HOUR_MS);
    assert_eq!(
        present(&after, &created.id).await,
        Ok(format!("Bearer {}", access_token(2)))
    );
    assert_eq!(server.calls(), 2);
    server.assert_requests_were_right();
    assert_journal_hides(&store, &secrets(2)).await;
}

#[tokio::test]
async fn a_new_secret_voids_the_stored_access_token() {
    let server = TokenServer::start().await;
    let api = TestApi::new().await;
    let clock = TestClock::at(T0_MS);
    let connections = api
        .state
        .connections
        .clone()
        .with_clock(clock.clone())
        .with_outbound(outbound());
    let mut answers = Vec::new();
    let data = create(&api, oauth2_body(&server.url), &mut answers).await;
    let id = data["id"].as_str().expect("id").to_owned();
    assert_eq!(
        present(&connections, &id).await,
        Ok(format!("Bearer {}", access_token(1)))
    );
    // The client is authorized again: a new refresh token, given whole.
    *server.expected_refresh_token.lock().expect("lock") = ROTATED_REFRESH_TOKEN.to_owned();
    let mut patch = oauth2_body(&server.url);
    patch["refreshToken"] = json!(ROTATED_REFRESH_TOKEN);
    for field in ["name", "provider", "kind"] {
        patch.as_object_mut().expect("object").remove(field);
    }
    let patched = api.patch(&format!("/api/v1/connections/{id}"), patch).await;
    assert_eq!(patched.status, StatusCode::OK, "{}", patched.body);
    assert_eq!(
        patched.body["data"]["oauth2"]["tokenExpiresAt"],
        Value::Null
    );
    answers.push(patched.body.to_string());
    assert_eq!(
        present(&connections, &id).await,
        Ok(format!("Bearer {}", access_token(2)))
    );
    assert_eq!(server.calls(), 2);
    server.assert_requests_were_right();
    for answer in &answers {
        assert_hidden(answer, &secrets(2));
    }
    assert_journal_hides(&api.store, &secrets(2)).await;
}
