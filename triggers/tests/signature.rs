//! Webhook signature verification, per scheme: published vectors, signatures computed here
//! with `hmac` independently of the crate, tampering, staleness, malformed headers, and a
//! property test that nothing verifies without the secret and nothing panics.

use base64::Engine as _;
use hmac::{Hmac, Mac};
use proptest::prelude::*;
use sha2::Sha256;
use triggers::signature::{
    verify, ConfigError, Rejection, Scheme, SignatureConfig, Verified, DEFAULT_TOLERANCE_SECS,
};

type Headers = Vec<(String, String)>;

fn hmac(key: &[u8], content: &[u8]) -> Vec<u8> {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        panic!("HMAC takes keys of any length");
    };
    mac.update(content);
    mac.finalize().into_bytes().to_vec()
}

fn hmac_hex(key: &[u8], content: &[u8]) -> String {
    hex::encode(hmac(key, content))
}

fn headers(pairs: &[(&str, &str)]) -> Headers {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn without(hs: &Headers, name: &str) -> Headers {
    hs.iter()
        .filter(|(k, _)| !k.eq_ignore_ascii_case(name))
        .cloned()
        .collect()
}

fn with(hs: &Headers, name: &str, value: &str) -> Headers {
    let mut out = without(hs, name);
    out.push((name.to_string(), value.to_string()));
    out
}

fn flipped(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    if body.is_empty() {
        body.push(0);
    } else {
        let mid = body.len() / 2;
        body[mid] ^= 0x01;
    }
    body
}

fn config(scheme: Scheme, secret: &str) -> SignatureConfig {
    SignatureConfig::new(scheme, secret)
}

fn missing(name: &str) -> Result<Verified, Rejection> {
    Err(Rejection::MissingHeader(name.to_string()))
}

fn assert_malformed(result: Result<Verified, Rejection>, context: &str) {
    assert!(
        matches!(result, Err(Rejection::Malformed(_))),
        "{context}: {result:?}"
    );
}

fn assert_stale(result: Result<Verified, Rejection>, age: i64) {
    assert_eq!(
        result,
        Err(Rejection::Stale {
            age_secs: age,
            tolerance_secs: DEFAULT_TOLERANCE_SECS
        })
    );
}

// ---------------------------------------------------------------------------------------
// Standard Webhooks
// ---------------------------------------------------------------------------------------

/// The Standard Webhooks specification's test vector (also used by its reference libraries).
const STD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STD_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const STD_TS: i64 = 1_614_265_330;
const STD_BODY: &[u8] = br#"{"test": 2432232314}"#;
const STD_SIG: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

fn std_headers(sig: &str) -> Headers {
    headers(&[
        ("webhook-id", STD_ID),
        ("webhook-timestamp", &STD_TS.to_string()),
        ("webhook-signature", sig),
    ])
}

fn std_sign(key_b64: &str, id: &str, ts: &str, body: &[u8]) -> String {
    let Ok(key) = base64::engine::general_purpose::STANDARD.decode(key_b64) else {
        panic!("test key is base64");
    };
    let mut content = format!("{id}.{ts}.").into_bytes();
    content.extend_from_slice(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(hmac(&key, &content))
    )
}

#[test]
fn standard_reference_vector_passes() {
    let cfg = config(Scheme::Standard, STD_SECRET);
    assert_eq!(
        verify(&cfg, &std_headers(STD_SIG), STD_BODY, STD_TS),
        Ok(Verified {
            delivery_id: Some(STD_ID.to_string()),
            timestamp: Some(STD_TS),
        })
    );
    // Computed independently, the same signature.
    assert_eq!(
        std_sign(
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            STD_ID,
            "1614265330",
            STD_BODY
        ),
        STD_SIG
    );
    // The secret without its prefix is accepted too.
    let bare = config(Scheme::Standard, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    assert!(verify(&bare, &std_headers(STD_SIG), STD_BODY, STD_TS + 10).is_ok());
}

#[test]
fn standard_computed_signature_passes_and_tampering_fails() {
    let key_b64 = base64::engine::general_purpose::STANDARD.encode(b"0123456789abcdef01234567");
    let cfg = config(Scheme::Standard, &format!("whsec_{key_b64}"));
    let now = 1_700_000_000;
    let body = br#"{"type":"invoice.paid","amount":100}"#;
    let sig = std_sign(&key_b64, "msg_1", &now.to_string(), body);
    let hs = headers(&[
        ("Webhook-Id", "msg_1"),
        ("Webhook-Timestamp", &now.to_string()),
        ("Webhook-Signature", &sig),
    ]);
    assert_eq!(
        verify(&cfg, &hs, body, now + 299),
        Ok(Verified {
            delivery_id: Some("msg_1".to_string()),
            timestamp: Some(now),
        })
    );
    assert_eq!(
        verify(&cfg, &hs, &flipped(body), now),
        Err(Rejection::Mismatch)
    );
    // The id and the timestamp are signed.
    assert_eq!(
        verify(&cfg, &with(&hs, "webhook-id", "msg_2"), body, now),
        Err(Rejection::Mismatch)
    );
    assert_eq!(
        verify(
            &cfg,
            &with(&hs, "webhook-timestamp", &(now + 1).to_string()),
            body,
            now
        ),
        Err(Rejection::Mismatch)
    );
    // Wrong secret.
    let other = base64::engine::general_purpose::STANDARD.encode(b"another-key-another-key!");
    assert_eq!(
        verify(
            &config(Scheme::Standard, &format!("whsec_{other}")),
            &hs,
            body,
            now
        ),
        Err(Rejection::Mismatch)
    );
}

#[test]
fn standard_any_v1_entry_may_match() {
    let cfg = config(Scheme::Standard, STD_SECRET);
    let sig = format!(
        "v1a,c29tZXRoaW5nIGVsc2U= v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1,notbase64!! {STD_SIG}"
    );
    assert!(verify(&cfg, &std_headers(&sig), STD_BODY, STD_TS).is_ok());
    let wrong = "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= v1,AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    assert_eq!(
        verify(&cfg, &std_headers(wrong), STD_BODY, STD_TS),
        Err(Rejection::Mismatch)
    );
}

#[test]
fn standard_missing_headers_are_named() {
    let cfg = config(Scheme::Standard, STD_SECRET);
    let hs = std_headers(STD_SIG);
    for name in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        assert_eq!(
            verify(&cfg, &without(&hs, name), STD_BODY, STD_TS),
            missing(name),
            "{name}"
        );
    }
    assert_eq!(
        verify(&cfg, &Headers::new(), STD_BODY, STD_TS),
        missing("webhook-signature")
    );
}

#[test]
fn standard_stale_and_future_timestamps_fail() {
    let cfg = config(Scheme::Standard, STD_SECRET);
    let hs = std_headers(STD_SIG);
    assert!(verify(&cfg, &hs, STD_BODY, STD_TS + 300).is_ok());
    assert!(verify(&cfg, &hs, STD_BODY, STD_TS - 300).is_ok());
    assert_stale(verify(&cfg, &hs, STD_BODY, STD_TS + 301), 301);
    assert_stale(verify(&cfg, &hs, STD_BODY, STD_TS - 301), -301);
    let loose = SignatureConfig {
        tolerance_secs: Some(3600),
        ..cfg.clone()
    };
    assert!(verify(&loose, &hs, STD_BODY, STD_TS + 3600).is_ok());
    assert!(verify(&loose, &hs, STD_BODY, STD_TS + 3601).is_err());
}

#[test]
fn standard_malformed_headers_are_malformed() {
    let cfg = config(Scheme::Standard, STD_SECRET);
    let hs = std_headers(STD_SIG);
    for sig in [
        "garbage",
        "v1",
        "v1,",
        "v1,!!!!",
        "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
        "v1,c2hvcnQ=",
    ] {
        assert_malformed(
            verify(&cfg, &with(&hs, "webhook-signature", sig), STD_BODY, STD_TS),
            sig,
        );
    }
    for ts in [
        "soon",
        "-1614265330",
        "1614265330.5",
        "+1614265330",
        "99999999999999999999",
    ] {
        assert_malformed(
            verify(&cfg, &with(&hs, "webhook-timestamp", ts), STD_BODY, STD_TS),
            ts,
        );
    }
    assert_malformed(
        verify(&cfg, &with(&hs, "webhook-id", ""), STD_BODY, STD_TS),
        "empty id",
    );
    let mut twice = hs.clone();
    twice.push(("Webhook-Timestamp".to_string(), "1".to_string()));
    assert_malformed(verify(&cfg, &twice, STD_BODY, STD_TS), "duplicate");
}

#[test]
fn standard_reads_svix_headers_when_no_webhook_header_is_present() {
    let cfg = config(Scheme::Standard, STD_SECRET);
    let svix = headers(&[
        ("svix-id", STD_ID),
        ("svix-timestamp", "1614265330"),
        ("svix-signature", STD_SIG),
    ]);
    assert_eq!(
        verify(&cfg, &svix, STD_BODY, STD_TS).map(|v| v.delivery_id),
        Ok(Some(STD_ID.to_string()))
    );
    assert_eq!(
        verify(&cfg, &without(&svix, "svix-id"), STD_BODY, STD_TS),
        missing("svix-id")
    );
}

// ---------------------------------------------------------------------------------------
// Stripe
// ---------------------------------------------------------------------------------------

const STRIPE_SECRET: &str = "whsec_test_3ZfJ2nq8Lr4KxYtW0pVbM7sD";

fn stripe_sign(secret: &str, t: i64, body: &[u8]) -> String {
    let mut content = format!("{t}.").into_bytes();
    content.extend_from_slice(body);
    hmac_hex(secret.as_bytes(), &content)
}

#[test]
fn stripe_computed_signature_passes_and_tampering_fails() {
    let cfg = config(Scheme::Stripe, STRIPE_SECRET);
    let t = 1_700_000_000;
    let body =
        br#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded"}"#;
    let sig = stripe_sign(STRIPE_SECRET, t, body);
    let hs = headers(&[("stripe-signature", &format!("t={t},v1={sig}"))]);
    assert_eq!(
        verify(&cfg, &hs, body, t + 5),
        Ok(Verified {
            delivery_id: Some("evt_1NG8Du2eZvKYlo2CUI79vXWy".to_string()),
            timestamp: Some(t),
        })
    );
    assert_eq!(
        verify(&cfg, &hs, &flipped(body), t),
        Err(Rejection::Mismatch)
    );
    assert_eq!(
        verify(&config(Scheme::Stripe, "whsec_other"), &hs, body, t),
        Err(Rejection::Mismatch)
    );
    // The timestamp is signed.
    let moved = headers(&[("Stripe-Signature", &format!("t={},v1={sig}", t + 1))]);
    assert_eq!(verify(&cfg, &moved, body, t), Err(Rejection::Mismatch));
    // Upper-case hex is hex.
    let upper = headers(&[(
        "Stripe-Signature",
        &format!("t={t},v1={}", sig.to_uppercase()),
    )]);
    assert!(verify(&cfg, &upper, body, t).is_ok());
}

#[test]
fn stripe_secret_is_used_as_text_not_base64() {
    // Stripe's `whsec_` secrets are keys as they are, unlike Standard Webhooks ones.
    let t = 1_700_000_000;
    let body = b"{}";
    let sig = stripe_sign(STRIPE_SECRET, t, body);
    let hs = headers(&[("Stripe-Signature", &format!("t={t},v1={sig}"))]);
    assert!(verify(&config(Scheme::Stripe, STRIPE_SECRET), &hs, body, t).is_ok());
}

#[test]
fn stripe_several_v1_entries_one_matching_passes() {
    let cfg = config(Scheme::Stripe, STRIPE_SECRET);
    let t = 1_700_000_000;
    let body = br#"{"id":"evt_2"}"#;
    let good = stripe_sign(STRIPE_SECRET, t, body);
    let old_secret = stripe_sign("whsec_rolled_secret", t, body);
    let header = format!(
        "t={t},v1={old_secret},v1={good},v0={},v1=zz",
        hmac_hex(b"x", b"y")
    );
    assert!(verify(&cfg, &headers(&[("Stripe-Signature", &header)]), body, t).is_ok());
    // Order does not matter, spaces around items do not either.
    let header = format!("v1={good} , t={t}");
    assert!(verify(&cfg, &headers(&[("Stripe-Signature", &header)]), body, t).is_ok());
    // None matching.
    let header = format!("t={t},v1={old_secret},v1={}", "0".repeat(64));
    assert_eq!(
        verify(&cfg, &headers(&[("Stripe-Signature", &header)]), body, t),
        Err(Rejection::Mismatch)
    );
}

#[test]
fn stripe_delivery_id_is_the_event_id_when_the_body_has_one() {
    let cfg = config(Scheme::Stripe, STRIPE_SECRET);
    let t = 1_700_000_000;
    for (body, id) in [
        (
            &br#"{"id":"evt_9","data":{"object":{"id":"ch_1"}}}"#[..],
            Some("evt_9"),
        ),
        (&br#"{"data":{"id":"ch_1"}}"#[..], None),
        (&br#"{"id":42}"#[..], None),
        (&b"not json"[..], None),
        (&br#"["evt_9"]"#[..], None),
    ] {
        let sig = stripe_sign(STRIPE_SECRET, t, body);
        let hs = headers(&[("Stripe-Signature", &format!("t={t},v1={sig}"))]);
        assert_eq!(
            verify(&cfg, &hs, body, t).map(|v| v.delivery_id),
            Ok(id.map(str::to_string))
        );
    }
}

#[test]
fn stripe_stale_and_future_timestamps_fail() {
    let cfg = config(Scheme::Stripe, STRIPE_SECRET);
    let t = 1_700_000_000;
    let body = b"{}";
    let sig = stripe_sign(STRIPE_SECRET, t, body);
    let hs = headers(&[("Stripe-Signature", &format!("t={t},v1={sig}"))]);
    assert!(verify(&cfg, &hs, body, t + 300).is_ok());
    assert_stale(verify(&cfg, &hs, body, t + 301), 301);
    assert_stale(verify(&cfg, &hs, body, t - 301), -301);
}

#[test]
fn stripe_missing_and_malformed_headers() {
    let cfg = config(Scheme::Stripe, STRIPE_SECRET);
    let t = 1_700_000_000;
    let body = b"{}";
    let sig = stripe_sign(STRIPE_SECRET, t, body);
    assert_eq!(
        verify(&cfg, &Headers::new(), body, t),
        missing("Stripe-Signature")
    );
    for header in [
        String::new(),
        "garbage".to_string(),
        format!("v1={sig}"),
        format!("t=,v1={sig}"),
        format!("t=abc,v1={sig}"),
        format!("t={t}"),
        format!("t={t},v0={sig}"),
        format!("t={t},v1=abc"),
        format!("t={t},t={t},v1={sig}"),
        ",,,===,".to_string(),
    ] {
        assert_malformed(
            verify(&cfg, &headers(&[("Stripe-Signature", &header)]), body, t),
            &header,
        );
    }
}

// ---------------------------------------------------------------------------------------
// GitHub
// ---------------------------------------------------------------------------------------

#[test]
fn github_documented_vector_passes() {
    // From GitHub's "Validating webhook deliveries".
    let cfg = config(Scheme::GitHub, "It's a Secret to Everybody");
    let hs = headers(&[
        (
            "X-Hub-Signature-256",
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
        ),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
    ]);
    assert_eq!(
        verify(&cfg, &hs, b"Hello, World!", 0),
        Ok(Verified {
            delivery_id: Some("72d3162e-cc78-11e3-81ab-4c9367dc0958".to_string()),
            timestamp: None,
        })
    );
    assert_eq!(
        verify(&cfg, &hs, b"Hello, World?", 0),
        Err(Rejection::Mismatch)
    );
}

#[test]
fn github_computed_signature_passes_and_tampering_fails() {
    let secret = "gh-secret";
    let cfg = config(Scheme::GitHub, secret);
    let body = br#"{"action":"opened","number":1}"#;
    let sig = format!("sha256={}", hmac_hex(secret.as_bytes(), body));
    let hs = headers(&[("x-hub-signature-256", &sig)]);
    // No timestamp: any "now" is fine; no delivery header, no id.
    assert_eq!(
        verify(&cfg, &hs, body, i64::MIN),
        Ok(Verified {
            delivery_id: None,
            timestamp: None
        })
    );
    assert_eq!(
        verify(&cfg, &hs, &flipped(body), 0),
        Err(Rejection::Mismatch)
    );
    assert_eq!(
        verify(&config(Scheme::GitHub, "other"), &hs, body, 0),
        Err(Rejection::Mismatch)
    );
    assert_eq!(
        verify(&cfg, &Headers::new(), body, 0),
        missing("X-Hub-Signature-256")
    );
    // The SHA-1 header alone is not enough.
    let sha1 = headers(&[(
        "X-Hub-Signature",
        "sha1=0123456789abcdef0123456789abcdef01234567",
    )]);
    assert_eq!(verify(&cfg, &sha1, body, 0), missing("X-Hub-Signature-256"));
    for bad in [
        hmac_hex(secret.as_bytes(), body),
        "sha1=abc".to_string(),
        "sha256=".to_string(),
        "sha256=xyz".to_string(),
        format!("{sig}00"),
        "sha256=ééééééééééééééééééééééééééééééééé".to_string(),
    ] {
        assert_malformed(
            verify(&cfg, &headers(&[("X-Hub-Signature-256", &bad)]), body, 0),
            &bad,
        );
    }
}

// ---------------------------------------------------------------------------------------
// Slack
// ---------------------------------------------------------------------------------------

/// Slack's worked example ("Verifying requests from Slack"). The body is the documented one
/// byte for byte; the signature below is what Slack publishes for it.
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_TS: i64 = 1_531_420_618;
const SLACK_BODY: &str = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SLACK_SIG: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

fn slack_headers(sig: &str, ts: &str) -> Headers {
    headers(&[
        ("X-Slack-Signature", sig),
        ("X-Slack-Request-Timestamp", ts),
    ])
}

#[test]
fn slack_documented_example_passes() {
    let cfg = config(Scheme::Slack, SLACK_SECRET);
    let hs = slack_headers(SLACK_SIG, "1531420618");
    assert_eq!(
        verify(&cfg, &hs, SLACK_BODY.as_bytes(), SLACK_TS),
        Ok(Verified {
            delivery_id: None,
            timestamp: Some(SLACK_TS),
        })
    );
    assert_eq!(
        format!(
            "v0={}",
            hmac_hex(
                SLACK_SECRET.as_bytes(),
                format!("v0:{SLACK_TS}:{SLACK_BODY}").as_bytes()
            )
        ),
        SLACK_SIG
    );
    assert_eq!(
        verify(&cfg, &hs, &flipped(SLACK_BODY.as_bytes()), SLACK_TS),
        Err(Rejection::Mismatch)
    );
}

#[test]
fn slack_computed_signature_passes_and_tampering_fails() {
    let secret = "slack-signing-secret";
    let cfg = config(Scheme::Slack, secret);
    let ts = 1_700_000_000;
    let body = br#"{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"message"}}"#;
    let mut content = format!("v0:{ts}:").into_bytes();
    content.extend_from_slice(body);
    let sig = format!("v0={}", hmac_hex(secret.as_bytes(), &content));
    let hs = slack_headers(&sig, &ts.to_string());
    assert_eq!(
        verify(&cfg, &hs, body, ts),
        Ok(Verified {
            delivery_id: Some("Ev08MFMKH6".to_string()),
            timestamp: Some(ts),
        })
    );
    // A retry carries X-Slack-Retry-Num; the id stays the event's.
    let retry = with(&hs, "X-Slack-Retry-Num", "1");
    assert_eq!(
        verify(&cfg, &retry, body, ts).map(|v| v.delivery_id),
        Ok(Some("Ev08MFMKH6".to_string()))
    );
    assert_eq!(
        verify(&cfg, &hs, &flipped(body), ts),
        Err(Rejection::Mismatch)
    );
    assert_eq!(
        verify(&config(Scheme::Slack, "other"), &hs, body, ts),
        Err(Rejection::Mismatch)
    );
    let moved = with(&hs, "X-Slack-Request-Timestamp", &(ts + 1).to_string());
    assert_eq!(verify(&cfg, &moved, body, ts), Err(Rejection::Mismatch));
}

#[test]
fn slack_stale_future_missing_and_malformed() {
    let cfg = config(Scheme::Slack, SLACK_SECRET);
    let hs = slack_headers(SLACK_SIG, "1531420618");
    let body = SLACK_BODY.as_bytes();
    assert!(verify(&cfg, &hs, body, SLACK_TS + 300).is_ok());
    assert_stale(verify(&cfg, &hs, body, SLACK_TS + 5 * 60 + 1), 301);
    assert_stale(verify(&cfg, &hs, body, SLACK_TS - 301), -301);
    assert_eq!(
        verify(&cfg, &without(&hs, "X-Slack-Signature"), body, SLACK_TS),
        missing("X-Slack-Signature")
    );
    assert_eq!(
        verify(
            &cfg,
            &without(&hs, "X-Slack-Request-Timestamp"),
            body,
            SLACK_TS
        ),
        missing("X-Slack-Request-Timestamp")
    );
    let bare = SLACK_SIG.trim_start_matches("v0=");
    for sig in [bare, "v1=abc", "v0=", "v0=zz", "v0"] {
        assert_malformed(
            verify(&cfg, &slack_headers(sig, "1531420618"), body, SLACK_TS),
            sig,
        );
    }
    assert_malformed(
        verify(&cfg, &slack_headers(SLACK_SIG, "yesterday"), body, SLACK_TS),
        "timestamp",
    );
}

// ---------------------------------------------------------------------------------------
// Generic HMAC-SHA256
// ---------------------------------------------------------------------------------------

#[test]
fn generic_computed_signature_passes_with_or_without_prefix() {
    let secret = "generic-secret";
    let cfg = config(Scheme::HmacSha256, secret);
    let body = br#"{"hello":"world"}"#;
    let sig = hmac_hex(secret.as_bytes(), body);
    for value in [
        sig.clone(),
        format!("sha256={sig}"),
        format!("SHA256={}", sig.to_uppercase()),
    ] {
        assert_eq!(
            verify(&cfg, &headers(&[("x-signature-256", &value)]), body, 0),
            Ok(Verified {
                delivery_id: None,
                timestamp: None
            }),
            "{value}"
        );
    }
    let hs = headers(&[("X-Signature-256", &sig)]);
    assert_eq!(
        verify(&cfg, &hs, &flipped(body), 0),
        Err(Rejection::Mismatch)
    );
    assert_eq!(
        verify(&config(Scheme::HmacSha256, "other"), &hs, body, 0),
        Err(Rejection::Mismatch)
    );
    assert_eq!(
        verify(&cfg, &Headers::new(), body, 0),
        missing("X-Signature-256")
    );
    for bad in ["sha256=", "nothex", "sha256=abcd", "sha1=abcd"] {
        assert_malformed(
            verify(&cfg, &headers(&[("X-Signature-256", bad)]), body, 0),
            bad,
        );
    }
}

#[test]
fn generic_configured_headers_and_delivery_ids() {
    let secret = "generic-secret";
    let body = b"payload";
    let sig = hmac_hex(secret.as_bytes(), body);
    let custom = SignatureConfig {
        header: Some("X-Acme-Signature".to_string()),
        delivery_id_header: Some("X-Acme-Event".to_string()),
        ..config(Scheme::HmacSha256, secret)
    };
    let hs = headers(&[
        ("X-Acme-Signature", &sig),
        ("X-Acme-Event", "ev_1"),
        ("X-Delivery-Id", "ignored"),
    ]);
    assert_eq!(
        verify(&custom, &hs, body, 0).map(|v| v.delivery_id),
        Ok(Some("ev_1".to_string()))
    );
    assert_eq!(
        verify(&custom, &headers(&[("X-Signature-256", &sig)]), body, 0),
        missing("X-Acme-Signature")
    );
    // Defaults: X-Delivery-Id, then Idempotency-Key.
    let cfg = config(Scheme::HmacSha256, secret);
    let both = headers(&[
        ("X-Signature-256", &sig),
        ("Idempotency-Key", "idem_1"),
        ("X-Delivery-Id", "del_1"),
    ]);
    assert_eq!(
        verify(&cfg, &both, body, 0).map(|v| v.delivery_id),
        Ok(Some("del_1".to_string()))
    );
    assert_eq!(
        verify(&cfg, &without(&both, "X-Delivery-Id"), body, 0).map(|v| v.delivery_id),
        Ok(Some("idem_1".to_string()))
    );
}

#[test]
fn generic_with_timestamp_header_signs_and_checks_it() {
    let secret = "generic-secret";
    let cfg = SignatureConfig {
        timestamp_header: Some("X-Timestamp".to_string()),
        tolerance_secs: Some(60),
        ..config(Scheme::HmacSha256, secret)
    };
    let t = 1_700_000_000;
    let body = b"payload";
    let mut content = format!("{t}.").into_bytes();
    content.extend_from_slice(body);
    let sig = hmac_hex(secret.as_bytes(), &content);
    let hs = headers(&[("X-Signature-256", &sig), ("X-Timestamp", &t.to_string())]);
    assert_eq!(
        verify(&cfg, &hs, body, t + 60),
        Ok(Verified {
            delivery_id: None,
            timestamp: Some(t)
        })
    );
    assert_eq!(
        verify(&cfg, &hs, body, t + 61),
        Err(Rejection::Stale {
            age_secs: 61,
            tolerance_secs: 60
        })
    );
    assert_eq!(
        verify(&cfg, &hs, body, t - 61),
        Err(Rejection::Stale {
            age_secs: -61,
            tolerance_secs: 60
        })
    );
    assert_eq!(
        verify(&cfg, &without(&hs, "X-Timestamp"), body, t),
        missing("X-Timestamp")
    );
    assert_malformed(
        verify(&cfg, &with(&hs, "X-Timestamp", "now"), body, t),
        "timestamp",
    );
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

#[test]
fn config_json_is_camel_case_and_strict() {
    let json = serde_json::json!({
        "scheme": "hmac-sha256",
        "secret": "s",
        "toleranceSecs": 120,
        "header": "X-Sig",
        "timestampHeader": "X-Ts",
        "deliveryIdHeader": "X-Id"
    });
    let Ok(cfg) = serde_json::from_value::<SignatureConfig>(json.clone()) else {
        panic!("parses");
    };
    assert_eq!(cfg.scheme, Scheme::HmacSha256);
    assert_eq!(cfg.tolerance_secs, Some(120));
    assert_eq!(cfg.timestamp_header.as_deref(), Some("X-Ts"));
    assert!(cfg.check().is_ok());
    assert_eq!(serde_json::to_value(&cfg).ok(), Some(json));
    for scheme in ["standard", "stripe", "github", "slack", "hmac-sha256"] {
        let parsed: Result<SignatureConfig, _> =
            serde_json::from_value(serde_json::json!({"scheme": scheme, "secret": "x"}));
        assert_eq!(parsed.map(|c| c.scheme.as_str()).ok(), Some(scheme));
    }
    assert!(serde_json::from_value::<SignatureConfig>(
        serde_json::json!({"scheme": "gitlab", "secret": "x"})
    )
    .is_err());
    assert!(serde_json::from_value::<SignatureConfig>(
        serde_json::json!({"scheme": "github", "secret": "x", "tolerance": 5})
    )
    .is_err());
}

#[test]
fn check_explains_bad_configurations() {
    let check = |cfg: SignatureConfig| cfg.check().err();
    assert_eq!(
        check(config(Scheme::GitHub, "")),
        Some(ConfigError::EmptySecret)
    );
    assert_eq!(
        check(config(Scheme::Slack, " secret\n")),
        Some(ConfigError::SecretWhitespace)
    );
    let Some(ConfigError::BadStandardSecret(reason)) =
        check(config(Scheme::Standard, "whsec_not*base64"))
    else {
        panic!("a bad Standard Webhooks secret is refused");
    };
    assert!(reason.contains("character 10"), "{reason}");
    let message = ConfigError::BadStandardSecret(reason).to_string();
    assert!(message.contains("`whsec_` followed by base64"), "{message}");
    assert!(!message.contains("not*base64"), "{message}");
    assert!(matches!(
        check(config(Scheme::Standard, "whsec_")),
        Some(ConfigError::BadStandardSecret(_))
    ));
    assert!(matches!(
        check(SignatureConfig {
            tolerance_secs: Some(60),
            ..config(Scheme::GitHub, "s")
        }),
        Some(ConfigError::NotApplicable {
            field: "toleranceSecs",
            ..
        })
    ));
    assert!(matches!(
        check(SignatureConfig {
            tolerance_secs: Some(60),
            ..config(Scheme::HmacSha256, "s")
        }),
        Some(ConfigError::NotApplicable {
            field: "toleranceSecs",
            ..
        })
    ));
    for tolerance in [0, 86_401] {
        assert!(matches!(
            check(SignatureConfig {
                tolerance_secs: Some(tolerance),
                ..config(Scheme::Stripe, "s")
            }),
            Some(ConfigError::ToleranceOutOfRange { .. })
        ));
    }
    assert!(matches!(
        check(SignatureConfig {
            header: Some("X-Sig".to_string()),
            ..config(Scheme::Stripe, "s")
        }),
        Some(ConfigError::NotApplicable {
            field: "header",
            ..
        })
    ));
    assert!(matches!(
        check(SignatureConfig {
            header: Some("X Sig".to_string()),
            ..config(Scheme::HmacSha256, "s")
        }),
        Some(ConfigError::BadHeaderName {
            field: "header",
            ..
        })
    ));
    // verify() with a bad configuration says so instead of pretending the sender failed.
    assert_eq!(
        verify(&config(Scheme::GitHub, ""), &Headers::new(), b"", 0),
        Err(Rejection::Config(ConfigError::EmptySecret))
    );
}

#[test]
fn errors_never_contain_the_secret() {
    let secret = "sUp3r-s3cret-value";
    for scheme in [
        Scheme::Standard,
        Scheme::Stripe,
        Scheme::GitHub,
        Scheme::Slack,
        Scheme::HmacSha256,
    ] {
        let cfg = config(scheme, secret);
        let text = match cfg.check() {
            Ok(verifier) => format!("{verifier:?} {cfg:?}"),
            Err(e) => format!("{e} {e:?} {cfg:?}"),
        };
        assert!(!text.contains(secret), "{text}");
        let result = verify(&cfg, &headers(&[("X-Anything", "1")]), b"body", 0);
        let text = format!("{result:?}");
        assert!(!text.contains(secret), "{text}");
    }
}

// ---------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------

const SCHEMES: [Scheme; 5] = [
    Scheme::Standard,
    Scheme::Stripe,
    Scheme::GitHub,
    Scheme::Slack,
    Scheme::HmacSha256,
];

const HEADER_NAMES: [&str; 13] = [
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "svix-id",
    "Stripe-Signature",
    "X-Hub-Signature-256",
    "X-GitHub-Delivery",
    "X-Slack-Signature",
    "X-Slack-Request-Timestamp",
    "X-Signature-256",
    "X-Timestamp",
    "X-Delivery-Id",
    "Content-Type",
];

/// Values shaped like each scheme's, with arbitrary parts, so the property reaches the MAC
/// comparison and not only the parsers.
fn header_value() -> impl Strategy<Value = String> {
    let ts = (1_699_999_000i64..1_700_001_000).prop_map(|t| t.to_string());
    let hex64 = proptest::collection::vec(any::<u8>(), 32).prop_map(hex::encode);
    let b64 = proptest::collection::vec(any::<u8>(), 32)
        .prop_map(|b| base64::engine::general_purpose::STANDARD.encode(b));
    prop_oneof![
        any::<String>(),
        "[ -~]{0,80}",
        ts.clone(),
        (ts.clone(), hex64.clone(), hex64.clone())
            .prop_map(|(t, a, b)| format!("t={t},v1={a},v1={b}")),
        hex64.clone().prop_map(|h| format!("sha256={h}")),
        hex64.clone().prop_map(|h| format!("v0={h}")),
        hex64,
        (b64.clone(), b64).prop_map(|(a, b)| format!("v1,{a} v1,{b}")),
        "[,=tv01 ]{0,20}",
    ]
}

fn header_list() -> impl Strategy<Value = Headers> {
    proptest::collection::vec(
        (
            prop_oneof![
                proptest::sample::select(HEADER_NAMES.to_vec()).prop_map(str::to_string),
                any::<String>(),
            ],
            header_value(),
        ),
        0..8,
    )
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_deliveries_never_panic_and_never_verify(
        scheme in proptest::sample::select(SCHEMES.to_vec()),
        hs in header_list(),
        body in proptest::collection::vec(any::<u8>(), 0..256),
        now in prop_oneof![Just(1_700_000_000i64), any::<i64>()],
    ) {
        let secret = match scheme {
            Scheme::Standard => "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            _ => "the-receivers-secret",
        };
        let cfg = SignatureConfig {
            timestamp_header: (scheme == Scheme::HmacSha256).then(|| "X-Timestamp".to_string()),
            ..config(scheme, secret)
        };
        let result = verify(&cfg, &hs, &body, now);
        prop_assert!(result.is_err(), "verified without the secret: {:?}", result);
        prop_assert!(!matches!(result, Err(Rejection::Config(_))));
    }

    #[test]
    fn a_signature_made_with_another_secret_never_verifies(
        body in proptest::collection::vec(any::<u8>(), 0..256),
        other in "[a-zA-Z0-9]{1,40}",
    ) {
        prop_assume!(other != "the-receivers-secret");
        let t = 1_700_000_000i64;
        let stripe = headers(&[("Stripe-Signature", &format!("t={t},v1={}", stripe_sign(&other, t, &body)))]);
        prop_assert_eq!(
            verify(&config(Scheme::Stripe, "the-receivers-secret"), &stripe, &body, t),
            Err(Rejection::Mismatch)
        );
        let github = headers(&[("X-Hub-Signature-256", &format!("sha256={}", hmac_hex(other.as_bytes(), &body)))]);
        prop_assert_eq!(
            verify(&config(Scheme::GitHub, "the-receivers-secret"), &github, &body, t),
            Err(Rejection::Mismatch)
        );
        // And with the right secret, the same body verifies.
        let github = headers(&[("X-Hub-Signature-256", &format!("sha256={}", hmac_hex(b"the-receivers-secret", &body)))]);
        prop_assert!(verify(&config(Scheme::GitHub, "the-receivers-secret"), &github, &body, t).is_ok());
    }
}
