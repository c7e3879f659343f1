//! Webhook signatures: was a delivery signed with the endpoint's secret, and is it fresh?
//!
//! Pure: no I/O and no clock reads. The current time is a parameter (`now_unix_secs`), headers
//! are plain `(name, value)` pairs (names compared ASCII case-insensitively, values trimmed),
//! and the body is the raw bytes exactly as received (never a re-serialized JSON value).
//!
//! [`SignatureConfig`] is the user's `"signature"` object; [`SignatureConfig::check`] turns it
//! into a [`Verifier`] (the key decoded and the HMAC keyed once) or a [`ConfigError`] saying
//! what is wrong. [`Verifier::verify`] (or the one-shot [`verify`]) answers [`Verified`] (the
//! delivery id for deduplication and the signed timestamp, when the scheme has them) or a
//! [`Rejection`].
//!
//! Rules per scheme (every MAC is HMAC-SHA256; every comparison is constant-time, `subtle`):
//!
//! | scheme | signature header | signed content | key | timestamp / tolerance | delivery id |
//! |---|---|---|---|---|---|
//! | `standard` | `webhook-signature`: space-separated `v1,<base64>` entries, any one may match | `{webhook-id}.{webhook-timestamp}.{body}` | base64 after `whsec_` | `webhook-timestamp`, 300 s | `webhook-id` (signed) |
//! | `stripe` | `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]`, `v0` and unknown keys ignored | `{t}.{body}` | the secret's UTF-8 bytes (`whsec_...` as is) | `t`, 300 s | the body's top-level JSON `id` (`evt_...`, signed) |
//! | `github` | `X-Hub-Signature-256: sha256=<hex>` | the body | UTF-8 bytes | none (GitHub signs no time) | `X-GitHub-Delivery` (not signed) |
//! | `slack` | `X-Slack-Signature: v0=<hex>` | `v0:{X-Slack-Request-Timestamp}:{body}` | UTF-8 bytes | `X-Slack-Request-Timestamp`, 300 s | the body's top-level JSON `event_id` (Events API, signed); none otherwise |
//! | `typeform` | `Typeform-Signature: sha256=<base64>` | the body | UTF-8 bytes | none (Typeform signs no time) | the body's top-level JSON `event_id` (signed) |
//! | `hmac-sha256` | `header` (default `X-Signature-256`): `<hex>` or `sha256=<hex>` | the body, or `{timestamp}.{body}` when `timestampHeader` is set | UTF-8 bytes | `timestampHeader` if set, 300 s | `deliveryIdHeader` if set, else `X-Delivery-Id`, else `Idempotency-Key` (not signed) |
//!
//! A timestamp is a Unix time in whole seconds (ASCII digits). It is stale when it is more than
//! the tolerance before `now` and also when it is more than the tolerance after it. The
//! signature is checked before freshness, so a stale rejection means a genuine but old (or
//! clock-skewed) delivery and a forged one is always [`Rejection::Mismatch`].
//! For `standard`, the `svix-id`, `svix-timestamp` and `svix-signature` headers (Svix's
//! original names for the same scheme) are read when no `webhook-*` header is present.
//! `X-Slack-Retry-Num` counts Slack's retries; it is not an id and is not used.
//!
//! A delivery id read from a header that the signature does not cover (`github`,
//! `hmac-sha256`) can be changed by whoever replays a captured delivery; deduplication on it
//! stops honest retries, not replays. Ids are opaque text of any length: hash them before
//! using them in a stream name.
//!
//! Secrets never appear in errors or `Debug` output.

use std::fmt;

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::{Choice, ConstantTimeEq};

type HmacSha256 = Hmac<Sha256>;

/// Tolerance of timestamped schemes when `toleranceSecs` is not set (5 minutes).
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;
/// The largest `toleranceSecs` accepted (one day).
pub const TOLERANCE_MAX_SECS: u64 = 86_400;
/// The header of the `hmac-sha256` scheme when `header` is not set.
pub const DEFAULT_HMAC_HEADER: &str = "X-Signature-256";
/// Headers read, in this order, for the delivery id of `hmac-sha256` when `deliveryIdHeader`
/// is not set.
pub const DEFAULT_DELIVERY_ID_HEADERS: [&str; 2] = ["X-Delivery-Id", "Idempotency-Key"];
/// The prefix of Standard Webhooks secrets (optional in the configuration).
pub const STANDARD_SECRET_PREFIX: &str = "whsec_";

/// Length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;

/// Base64 with the standard alphabet, padding optional.
const BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Who signs and how.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Scheme {
    /// Standard Webhooks (standardwebhooks.com; also Svix and the services built on it).
    #[serde(rename = "standard")]
    Standard,
    /// Stripe's `Stripe-Signature`.
    #[serde(rename = "stripe")]
    Stripe,
    /// GitHub's `X-Hub-Signature-256`.
    #[serde(rename = "github")]
    GitHub,
    /// Slack's `X-Slack-Signature` (v0).
    #[serde(rename = "slack")]
    Slack,
    /// Hex HMAC-SHA256 of the body in one header.
    #[serde(rename = "hmac-sha256")]
    HmacSha256,
    /// Typeform's `Typeform-Signature: sha256=<base64>`.
    #[serde(rename = "typeform")]
    Typeform,
}

impl Scheme {
    /// The name used in configurations.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Standard => "standard",
            Scheme::Stripe => "stripe",
            Scheme::GitHub => "github",
            Scheme::Slack => "slack",
            Scheme::HmacSha256 => "hmac-sha256",
            Scheme::Typeform => "typeform",
        }
    }

    fn has_timestamp(self) -> bool {
        matches!(self, Scheme::Standard | Scheme::Stripe | Scheme::Slack)
    }
}

impl fmt::Display for Scheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A webhook's `"signature"` configuration, e.g.
/// `{"scheme": "github", "secret": "..."}` or
/// `{"scheme": "hmac-sha256", "secret": "...", "header": "X-Signature", "timestampHeader": "X-Timestamp"}`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SignatureConfig {
    pub scheme: Scheme,
    /// The signing secret, exactly as the sender shows it.
    pub secret: String,
    /// Largest accepted distance between the signed timestamp and now, in seconds
    /// (1..=[`TOLERANCE_MAX_SECS`]; default [`DEFAULT_TOLERANCE_SECS`]). Only for schemes
    /// with a timestamp: `standard`, `stripe`, `slack`, and `hmac-sha256` with
    /// `timestampHeader`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tolerance_secs: Option<u64>,
    /// `hmac-sha256` only: the header carrying the hex signature (default
    /// [`DEFAULT_HMAC_HEADER`]); a `sha256=` prefix is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
    /// `hmac-sha256` only: a header carrying the Unix time in seconds; when set, the signed
    /// content is `{timestamp}.{body}` and the timestamp must be within the tolerance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timestamp_header: Option<String>,
    /// `hmac-sha256` only: the header carrying the delivery id (default: `X-Delivery-Id`,
    /// then `Idempotency-Key`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_id_header: Option<String>,
}

impl SignatureConfig {
    /// A configuration with the scheme's defaults.
    pub fn new(scheme: Scheme, secret: impl Into<String>) -> Self {
        SignatureConfig {
            scheme,
            secret: secret.into(),
            tolerance_secs: None,
            header: None,
            timestamp_header: None,
            delivery_id_header: None,
        }
    }

    /// Checks the configuration and prepares the key; the first problem found otherwise.
    pub fn check(&self) -> Result<Verifier, ConfigError> {
        if self.secret.is_empty() {
            return Err(ConfigError::EmptySecret);
        }
        if self.secret.trim() != self.secret {
            return Err(ConfigError::SecretWhitespace);
        }
        let hmac_only = [
            ("header", self.header.as_deref()),
            ("timestampHeader", self.timestamp_header.as_deref()),
            ("deliveryIdHeader", self.delivery_id_header.as_deref()),
        ];
        for (field, value) in hmac_only {
            match value {
                Some(_) if self.scheme != Scheme::HmacSha256 => {
                    return Err(ConfigError::NotApplicable {
                        field,
                        scheme: self.scheme,
                        hint: "it is for the hmac-sha256 scheme, whose headers are configurable",
                    });
                }
                Some(name) => check_header_name(field, name)?,
                None => {}
            }
        }
        let timestamped = self.scheme.has_timestamp() || self.timestamp_header.is_some();
        let tolerance_secs = match self.tolerance_secs {
            Some(_) if !timestamped => {
                return Err(ConfigError::NotApplicable {
                    field: "toleranceSecs",
                    scheme: self.scheme,
                    hint: if matches!(self.scheme, Scheme::GitHub | Scheme::Typeform) {
                        "the sender signs no timestamp"
                    } else {
                        "set timestampHeader to sign and check a timestamp"
                    },
                });
            }
            Some(got) if got == 0 || got > TOLERANCE_MAX_SECS => {
                return Err(ConfigError::ToleranceOutOfRange {
                    got,
                    max: TOLERANCE_MAX_SECS,
                });
            }
            Some(got) => got,
            None => DEFAULT_TOLERANCE_SECS,
        };
        let key = match self.scheme {
            Scheme::Standard => decode_standard_secret(&self.secret)?,
            _ => self.secret.as_bytes().to_vec(),
        };
        let mac = HmacSha256::new_from_slice(&key).map_err(|_| ConfigError::BadKey)?;
        Ok(Verifier {
            scheme: self.scheme,
            mac,
            tolerance_secs: timestamped.then_some(tolerance_secs),
            header: self
                .header
                .clone()
                .unwrap_or_else(|| DEFAULT_HMAC_HEADER.to_string()),
            timestamp_header: self.timestamp_header.clone(),
            delivery_id_header: self.delivery_id_header.clone(),
        })
    }
}

impl fmt::Debug for SignatureConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureConfig")
            .field("scheme", &self.scheme)
            .field("secret", &"<redacted>")
            .field("tolerance_secs", &self.tolerance_secs)
            .field("header", &self.header)
            .field("timestamp_header", &self.timestamp_header)
            .field("delivery_id_header", &self.delivery_id_header)
            .finish()
    }
}

/// What is wrong with a [`SignatureConfig`]. Never contains the secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error(
        "signature.secret is empty: set the signing secret the sender shows for this endpoint"
    )]
    EmptySecret,
    #[error(
        "signature.secret starts or ends with whitespace: paste the secret exactly as the sender shows it"
    )]
    SecretWhitespace,
    /// A `standard` secret that is not `whsec_` + base64; says where, never what.
    #[error(
        "signature.secret is not a Standard Webhooks secret (`whsec_` followed by base64): {0}"
    )]
    BadStandardSecret(String),
    #[error("signature.toleranceSecs must be between 1 and {max} seconds, not {got}")]
    ToleranceOutOfRange { got: u64, max: u64 },
    #[error("signature.{field} does not apply to the {scheme} scheme: {hint}")]
    NotApplicable {
        field: &'static str,
        scheme: Scheme,
        hint: &'static str,
    },
    #[error("signature.{field} is not a valid HTTP header name: {reason}")]
    BadHeaderName { field: &'static str, reason: String },
    /// Not reachable with HMAC (any key length is valid); kept so no panic path exists.
    #[error("signature.secret cannot be used as an HMAC key")]
    BadKey,
}

/// A delivery whose signature matched (and, for timestamped schemes, was fresh).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    /// The id to deduplicate deliveries on, when the scheme has one (see the module docs).
    pub delivery_id: Option<String>,
    /// The signed Unix time in seconds, for timestamped schemes.
    pub timestamp: Option<i64>,
}

/// Why a delivery was refused. Every variant but [`Rejection::Config`] is the sender's
/// problem (HTTP 401); `Config` means the stored configuration is invalid.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    /// A required header is absent; holds its name.
    #[error("missing header {0}")]
    MissingHeader(String),
    /// A header is present but not in the scheme's form; says what.
    #[error("malformed signature: {0}")]
    Malformed(String),
    /// The signature matched but its timestamp is too old (`age_secs` > tolerance) or too far
    /// in the future (`age_secs` < -tolerance).
    #[error("{}", stale_message(*age_secs, *tolerance_secs))]
    Stale { age_secs: i64, tolerance_secs: u64 },
    /// No signature matched.
    #[error(
        "signature does not match: the body or a signed header was changed, or it was signed with another secret"
    )]
    Mismatch,
    /// [`verify`] was given a configuration that [`SignatureConfig::check`] refuses.
    #[error("invalid signature configuration: {0}")]
    Config(#[from] ConfigError),
}

impl Rejection {
    /// A stable code for events and responses.
    pub fn code(&self) -> &'static str {
        match self {
            Rejection::MissingHeader(_) => "SIGNATURE_MISSING",
            Rejection::Malformed(_) => "SIGNATURE_MALFORMED",
            Rejection::Stale { .. } => "SIGNATURE_STALE",
            Rejection::Mismatch => "SIGNATURE_MISMATCH",
            Rejection::Config(_) => "SIGNATURE_CONFIG",
        }
    }
}

fn stale_message(age_secs: i64, tolerance_secs: u64) -> String {
    if age_secs < 0 {
        format!(
            "signature timestamp is {} s in the future, more than the {tolerance_secs} s tolerance",
            age_secs.unsigned_abs()
        )
    } else {
        format!(
            "signature timestamp is {age_secs} s old, more than the {tolerance_secs} s tolerance"
        )
    }
}

/// A checked configuration, ready to verify deliveries. Cheap to clone.
#[derive(Clone)]
pub struct Verifier {
    scheme: Scheme,
    /// Keyed once; cloned per delivery.
    mac: HmacSha256,
    tolerance_secs: Option<u64>,
    header: String,
    timestamp_header: Option<String>,
    delivery_id_header: Option<String>,
}

impl fmt::Debug for Verifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("scheme", &self.scheme)
            .field("key", &"<redacted>")
            .field("tolerance_secs", &self.tolerance_secs)
            .finish_non_exhaustive()
    }
}

/// Checks `config` and verifies one delivery: [`SignatureConfig::check`] then
/// [`Verifier::verify`]. A configuration error is [`Rejection::Config`]; check configurations
/// when they are saved and keep the [`Verifier`] to avoid it.
pub fn verify<K: AsRef<str>, V: AsRef<str>>(
    config: &SignatureConfig,
    headers: &[(K, V)],
    body: &[u8],
    now_unix_secs: i64,
) -> Result<Verified, Rejection> {
    config.check()?.verify(headers, body, now_unix_secs)
}

impl Verifier {
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The tolerance in seconds, for timestamped configurations.
    pub fn tolerance_secs(&self) -> Option<u64> {
        self.tolerance_secs
    }

    /// Verifies one delivery: `headers` as received (names case-insensitive), the raw `body`,
    /// and the current Unix time in seconds.
    pub fn verify<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &[(K, V)],
        body: &[u8],
        now_unix_secs: i64,
    ) -> Result<Verified, Rejection> {
        let headers = Headers(headers);
        match self.scheme {
            Scheme::Standard => self.standard(&headers, body, now_unix_secs),
            Scheme::Stripe => self.stripe(&headers, body, now_unix_secs),
            Scheme::GitHub => self.github(&headers, body),
            Scheme::Slack => self.slack(&headers, body, now_unix_secs),
            Scheme::HmacSha256 => self.generic(&headers, body, now_unix_secs),
            Scheme::Typeform => self.typeform(&headers, body),
        }
    }

    fn standard<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &Headers<'_, K, V>,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Rejection> {
        const WEBHOOK: [&str; 3] = ["webhook-signature", "webhook-id", "webhook-timestamp"];
        const SVIX: [&str; 3] = ["svix-signature", "svix-id", "svix-timestamp"];
        let svix = !WEBHOOK.iter().any(|name| headers.contains(name))
            && SVIX.iter().any(|name| headers.contains(name));
        let names = if svix { SVIX } else { WEBHOOK };
        let [sig_name, id_name, ts_name] = names;
        let signatures = headers.required(sig_name)?;
        let id = headers.required(id_name)?;
        let ts_raw = headers.required(ts_name)?;
        let ts = parse_timestamp(ts_raw, ts_name)?;
        let expected = self.tag(&[id.as_bytes(), b".", ts_raw.as_bytes(), b".", body]);
        let candidates = signatures
            .split_ascii_whitespace()
            .filter_map(|entry| entry.split_once(','))
            .filter(|(version, _)| *version == "v1")
            .filter_map(|(_, value)| decode_base64_tag(value));
        match any_matches(&expected, candidates) {
            None => Err(Rejection::Malformed(format!(
                "{sig_name} has no well-formed `v1,<base64>` entry (only symmetric v1 signatures are supported)"
            ))),
            Some(false) => Err(Rejection::Mismatch),
            Some(true) => {
                self.check_fresh(ts, now)?;
                Ok(Verified {
                    delivery_id: Some(id.to_string()),
                    timestamp: Some(ts),
                })
            }
        }
    }

    fn stripe<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &Headers<'_, K, V>,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Rejection> {
        const NAME: &str = "Stripe-Signature";
        let value = headers.required(NAME)?;
        let mut t_raw = None;
        for (key, item) in value.split(',').filter_map(|item| item.split_once('=')) {
            if key.trim() == "t" {
                if t_raw.is_some() {
                    return Err(Rejection::Malformed(format!("{NAME} has more than one t=")));
                }
                t_raw = Some(item.trim());
            }
        }
        let t_raw =
            t_raw.ok_or_else(|| Rejection::Malformed(format!("{NAME} has no t= timestamp")))?;
        let ts = parse_timestamp(t_raw, "the t= of Stripe-Signature")?;
        let expected = self.tag(&[t_raw.as_bytes(), b".", body]);
        let candidates = value
            .split(',')
            .filter_map(|item| item.split_once('='))
            .filter(|(key, _)| key.trim() == "v1")
            .filter_map(|(_, hex)| decode_hex_tag(hex.trim()));
        match any_matches(&expected, candidates) {
            None => Err(Rejection::Malformed(format!(
                "{NAME} has no well-formed v1= signature (64 hex digits)"
            ))),
            Some(false) => Err(Rejection::Mismatch),
            Some(true) => {
                self.check_fresh(ts, now)?;
                Ok(Verified {
                    delivery_id: json_string_field(body, "id"),
                    timestamp: Some(ts),
                })
            }
        }
    }

    fn github<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &Headers<'_, K, V>,
        body: &[u8],
    ) -> Result<Verified, Rejection> {
        const NAME: &str = "X-Hub-Signature-256";
        let value = headers.required(NAME)?;
        let given = strip_prefix_ignore_case(value, "sha256=")
            .and_then(decode_hex_tag)
            .ok_or_else(|| {
                Rejection::Malformed(format!(
                    "{NAME} must be `sha256=` followed by 64 hex digits"
                ))
            })?;
        let delivery_id = headers.optional("X-GitHub-Delivery")?;
        self.compare(&self.tag(&[body]), &given)?;
        Ok(Verified {
            delivery_id,
            timestamp: None,
        })
    }

    /// Typeform signs the body alone and sends the tag in base64, not hex.
    fn typeform<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &Headers<'_, K, V>,
        body: &[u8],
    ) -> Result<Verified, Rejection> {
        const NAME: &str = "Typeform-Signature";
        let value = headers.required(NAME)?;
        let given = strip_prefix_ignore_case(value, "sha256=")
            .and_then(decode_base64_tag)
            .ok_or_else(|| {
                Rejection::Malformed(format!(
                    "{NAME} must be `sha256=` followed by the base64 of 32 bytes"
                ))
            })?;
        self.compare(&self.tag(&[body]), &given)?;
        Ok(Verified {
            delivery_id: json_string_field(body, "event_id"),
            timestamp: None,
        })
    }

    fn slack<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &Headers<'_, K, V>,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Rejection> {
        const NAME: &str = "X-Slack-Signature";
        const TS_NAME: &str = "X-Slack-Request-Timestamp";
        let value = headers.required(NAME)?;
        let ts_raw = headers.required(TS_NAME)?;
        let given = value
            .strip_prefix("v0=")
            .and_then(decode_hex_tag)
            .ok_or_else(|| {
                Rejection::Malformed(format!("{NAME} must be `v0=` followed by 64 hex digits"))
            })?;
        let ts = parse_timestamp(ts_raw, TS_NAME)?;
        self.compare(&self.tag(&[b"v0:", ts_raw.as_bytes(), b":", body]), &given)?;
        self.check_fresh(ts, now)?;
        Ok(Verified {
            delivery_id: json_string_field(body, "event_id"),
            timestamp: Some(ts),
        })
    }

    fn generic<K: AsRef<str>, V: AsRef<str>>(
        &self,
        headers: &Headers<'_, K, V>,
        body: &[u8],
        now: i64,
    ) -> Result<Verified, Rejection> {
        let name = self.header.as_str();
        let value = headers.required(name)?;
        let hex = strip_prefix_ignore_case(value, "sha256=").unwrap_or(value);
        let given = decode_hex_tag(hex).ok_or_else(|| {
            Rejection::Malformed(format!(
                "{name} must be 64 hex digits, optionally after `sha256=`"
            ))
        })?;
        let timestamp = match &self.timestamp_header {
            Some(ts_name) => {
                let raw = headers.required(ts_name)?;
                Some((raw, parse_timestamp(raw, ts_name)?))
            }
            None => None,
        };
        let delivery_id = match &self.delivery_id_header {
            Some(id_name) => headers.optional(id_name)?,
            None => match headers.optional(DEFAULT_DELIVERY_ID_HEADERS[0])? {
                Some(id) => Some(id),
                None => headers.optional(DEFAULT_DELIVERY_ID_HEADERS[1])?,
            },
        };
        let expected = match timestamp {
            Some((raw, _)) => self.tag(&[raw.as_bytes(), b".", body]),
            None => self.tag(&[body]),
        };
        self.compare(&expected, &given)?;
        if let Some((_, ts)) = timestamp {
            self.check_fresh(ts, now)?;
        }
        Ok(Verified {
            delivery_id,
            timestamp: timestamp.map(|(_, ts)| ts),
        })
    }

    /// HMAC-SHA256 of the concatenated parts.
    fn tag(&self, parts: &[&[u8]]) -> [u8; TAG_LEN] {
        let mut mac = self.mac.clone();
        for part in parts {
            mac.update(part);
        }
        let mut out = [0u8; TAG_LEN];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    fn compare(&self, expected: &[u8; TAG_LEN], given: &[u8; TAG_LEN]) -> Result<(), Rejection> {
        if bool::from(expected.ct_eq(given)) {
            Ok(())
        } else {
            Err(Rejection::Mismatch)
        }
    }

    fn check_fresh(&self, ts: i64, now: i64) -> Result<(), Rejection> {
        let tolerance_secs = self.tolerance_secs.unwrap_or(DEFAULT_TOLERANCE_SECS);
        let tolerance = i64::try_from(tolerance_secs).unwrap_or(i64::MAX);
        let age_secs = now.saturating_sub(ts);
        if age_secs > tolerance || age_secs < -tolerance {
            Err(Rejection::Stale {
                age_secs,
                tolerance_secs,
            })
        } else {
            Ok(())
        }
    }
}

/// `None` when there is no well-formed candidate, else whether one matches. Compares every
/// candidate in constant time and does not stop at the first match.
fn any_matches(
    expected: &[u8; TAG_LEN],
    candidates: impl Iterator<Item = [u8; TAG_LEN]>,
) -> Option<bool> {
    let mut seen = false;
    let mut matched = Choice::from(0);
    for candidate in candidates {
        seen = true;
        matched |= expected.ct_eq(&candidate);
    }
    seen.then(|| bool::from(matched))
}

/// The request's headers: lookups by ASCII case-insensitive name, values trimmed.
struct Headers<'a, K, V>(&'a [(K, V)]);

impl<'a, K: AsRef<str>, V: AsRef<str>> Headers<'a, K, V> {
    fn contains(&self, name: &str) -> bool {
        self.0
            .iter()
            .any(|(key, _)| key.as_ref().eq_ignore_ascii_case(name))
    }

    /// The value of `name`; a header given twice is malformed (which one would count?).
    fn get(&self, name: &str) -> Result<Option<&'a str>, Rejection> {
        let mut found = None;
        for (key, value) in self.0 {
            if key.as_ref().eq_ignore_ascii_case(name) {
                if found.is_some() {
                    return Err(Rejection::Malformed(format!(
                        "header {name} appears more than once"
                    )));
                }
                found = Some(value.as_ref().trim());
            }
        }
        Ok(found)
    }

    fn required(&self, name: &str) -> Result<&'a str, Rejection> {
        match self.get(name)? {
            None => Err(Rejection::MissingHeader(name.to_string())),
            Some("") => Err(Rejection::Malformed(format!("header {name} is empty"))),
            Some(value) => Ok(value),
        }
    }

    /// An optional id header; empty counts as absent.
    fn optional(&self, name: &str) -> Result<Option<String>, Rejection> {
        Ok(self
            .get(name)?
            .filter(|value| !value.is_empty())
            .map(str::to_string))
    }
}

/// A Unix time in whole seconds: 1 to 18 ASCII digits (no sign, no fraction).
fn parse_timestamp(raw: &str, what: &str) -> Result<i64, Rejection> {
    let malformed = || Rejection::Malformed(format!("{what} is not a Unix time in whole seconds"));
    if raw.is_empty() || raw.len() > 18 || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed());
    }
    raw.parse().map_err(|_| malformed())
}

fn decode_hex_tag(hex: &str) -> Option<[u8; TAG_LEN]> {
    let mut out = [0u8; TAG_LEN];
    hex::decode_to_slice(hex, &mut out).ok()?;
    Some(out)
}

fn decode_base64_tag(value: &str) -> Option<[u8; TAG_LEN]> {
    // A tag is 44 characters; refuse anything much longer before decoding it.
    if value.len() > 64 {
        return None;
    }
    let bytes = BASE64.decode(value).ok()?;
    <[u8; TAG_LEN]>::try_from(bytes.as_slice()).ok()
}

fn strip_prefix_ignore_case<'s>(value: &'s str, prefix: &str) -> Option<&'s str> {
    let head = value.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &value[prefix.len()..])
}

/// A top-level string field of a JSON object body, if the body is one and has it.
fn json_string_field(body: &[u8], field: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .get(field)?
        .as_str()
        .filter(|id| !id.is_empty())
        .map(str::to_string)
}

/// The key of a Standard Webhooks secret: base64 after an optional `whsec_`.
fn decode_standard_secret(secret: &str) -> Result<Vec<u8>, ConfigError> {
    let encoded = secret
        .strip_prefix(STANDARD_SECRET_PREFIX)
        .unwrap_or(secret);
    let bad = |reason: String| Err(ConfigError::BadStandardSecret(reason));
    if encoded.is_empty() {
        return bad(format!("nothing follows `{STANDARD_SECRET_PREFIX}`"));
    }
    let offset = secret.len() - encoded.len();
    match BASE64.decode(encoded) {
        Ok(key) if key.is_empty() => bad("it decodes to an empty key".to_string()),
        Ok(key) => Ok(key),
        Err(base64::DecodeError::InvalidByte(at, _))
        | Err(base64::DecodeError::InvalidLastSymbol(at, _)) => bad(format!(
            "character {} is not valid base64 here (base64 uses A-Z, a-z, 0-9, + and /, with = only as final padding)",
            offset + at + 1
        )),
        Err(base64::DecodeError::InvalidLength(_)) => bad(format!(
            "its {} base64 characters cannot be a whole number of bytes; was it truncated?",
            encoded.trim_end_matches('=').len()
        )),
        Err(base64::DecodeError::InvalidPadding) => {
            bad("its `=` padding is wrong; was it truncated?".to_string())
        }
    }
}

/// An HTTP header name: 1 to 256 token characters (RFC 9110).
fn check_header_name(field: &'static str, name: &str) -> Result<(), ConfigError> {
    let bad = |reason: &str| {
        Err(ConfigError::BadHeaderName {
            field,
            reason: reason.to_string(),
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.len() > 256 {
        return bad("it is longer than 256 characters");
    }
    let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
    if !name.bytes().all(token) {
        return bad("only letters, digits and !#$%&'*+-.^_`|~ are allowed");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
        let Ok(mut mac) = HmacSha256::new_from_slice(key) else {
            panic!("hmac takes any key");
        };
        for part in parts {
            mac.update(part);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(&mac.finalize().into_bytes());
        out
    }

    fn h(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn header_lookup_is_case_insensitive_trimmed_and_refuses_duplicates() {
        let pairs = h(&[("X-A", "  one \t"), ("x-b", "1"), ("X-B", "2")]);
        let headers = Headers(pairs.as_slice());
        assert_eq!(headers.get("x-a"), Ok(Some("one")));
        assert_eq!(headers.get("X-C"), Ok(None));
        assert!(matches!(headers.get("x-B"), Err(Rejection::Malformed(_))));
        assert_eq!(
            headers.required("x-c"),
            Err(Rejection::MissingHeader("x-c".to_string()))
        );
    }

    #[test]
    fn timestamps_are_plain_digits() {
        assert_eq!(parse_timestamp("1531420618", "t"), Ok(1_531_420_618));
        assert_eq!(parse_timestamp("0", "t"), Ok(0));
        for bad in [
            "",
            "+5",
            "-5",
            "1.5",
            " 1",
            "1e9",
            "9999999999999999999",
            "١٢",
        ] {
            assert!(
                matches!(parse_timestamp(bad, "t"), Err(Rejection::Malformed(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn freshness_is_symmetric_and_inclusive() {
        let Ok(verifier) = SignatureConfig::new(Scheme::Slack, "s").check() else {
            panic!("valid config");
        };
        assert_eq!(verifier.check_fresh(1000, 1300), Ok(()));
        assert_eq!(verifier.check_fresh(1300, 1000), Ok(()));
        assert_eq!(
            verifier.check_fresh(1000, 1301),
            Err(Rejection::Stale {
                age_secs: 301,
                tolerance_secs: 300
            })
        );
        assert_eq!(
            verifier.check_fresh(1301, 1000),
            Err(Rejection::Stale {
                age_secs: -301,
                tolerance_secs: 300
            })
        );
        assert!(verifier.check_fresh(i64::MAX, i64::MIN).is_err());
        assert!(verifier.check_fresh(0, i64::MAX).is_err());
    }

    #[test]
    fn stale_messages_say_which_way() {
        let old = Rejection::Stale {
            age_secs: 400,
            tolerance_secs: 300,
        };
        assert_eq!(
            old.to_string(),
            "signature timestamp is 400 s old, more than the 300 s tolerance"
        );
        let future = Rejection::Stale {
            age_secs: -400,
            tolerance_secs: 300,
        };
        assert!(future.to_string().contains("400 s in the future"));
    }

    #[test]
    fn any_matches_reports_no_candidates_apart_from_no_match() {
        let expected = [7u8; 32];
        assert_eq!(any_matches(&expected, std::iter::empty()), None);
        assert_eq!(any_matches(&expected, [[0u8; 32]].into_iter()), Some(false));
        assert_eq!(
            any_matches(&expected, [[0u8; 32], [7u8; 32], [1u8; 32]].into_iter()),
            Some(true)
        );
    }

    #[test]
    fn standard_secret_errors_say_where_not_what() {
        let err = decode_standard_secret("whsec_abc!defg");
        assert_eq!(
            err,
            Err(ConfigError::BadStandardSecret(
                "character 10 is not valid base64 here (base64 uses A-Z, a-z, 0-9, + and /, with = only as final padding)".to_string()
            ))
        );
        assert!(matches!(
            decode_standard_secret("whsec_"),
            Err(ConfigError::BadStandardSecret(reason)) if reason.contains("nothing follows")
        ));
        assert!(matches!(
            decode_standard_secret("whsec_abcde"),
            Err(ConfigError::BadStandardSecret(reason)) if reason.contains("truncated")
        ));
        // Padding is optional; the prefix too.
        assert_eq!(
            decode_standard_secret("whsec_c2VjcmV0"),
            Ok(b"secret".to_vec())
        );
        assert_eq!(decode_standard_secret("c2VjcmV0"), Ok(b"secret".to_vec()));
        assert_eq!(
            decode_standard_secret("whsec_c2VjcmU"),
            Ok(b"secre".to_vec())
        );
        assert_eq!(
            decode_standard_secret("whsec_c2VjcmU="),
            Ok(b"secre".to_vec())
        );
    }

    #[test]
    fn header_names_are_tokens() {
        assert_eq!(check_header_name("header", "X-Signature"), Ok(()));
        for bad in ["", "X Signature", "X-Sig:", "é", &"a".repeat(257)] {
            assert!(check_header_name("header", bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn generic_signs_timestamp_dot_body_when_a_timestamp_header_is_set() {
        let config = SignatureConfig {
            timestamp_header: Some("X-Timestamp".to_string()),
            ..SignatureConfig::new(Scheme::HmacSha256, "k")
        };
        let Ok(verifier) = config.check() else {
            panic!("valid config");
        };
        let good = hex::encode(tag(b"k", &[b"100.", b"body"]));
        let body_only = hex::encode(tag(b"k", &[b"body"]));
        let with = |sig: &str| h(&[("X-Signature-256", sig), ("X-Timestamp", "100")]);
        assert_eq!(
            verifier.verify(&with(&good), b"body", 100),
            Ok(Verified {
                delivery_id: None,
                timestamp: Some(100)
            })
        );
        assert_eq!(
            verifier.verify(&with(&body_only), b"body", 100),
            Err(Rejection::Mismatch)
        );
    }

    #[test]
    fn debug_output_hides_the_secret() {
        let config = SignatureConfig::new(Scheme::GitHub, "hunter2-very-secret");
        assert!(!format!("{config:?}").contains("hunter2"));
        let Ok(verifier) = config.check() else {
            panic!("valid config");
        };
        assert!(!format!("{verifier:?}").contains("hunter2"));
    }

    #[test]
    fn typeform_signs_the_body_in_base64_and_names_its_event_id() {
        let Ok(verifier) = SignatureConfig::new(Scheme::Typeform, "tf-secret").check() else {
            panic!("valid config");
        };
        let body = br#"{"event_id": "01HX", "event_type": "form_response"}"#;
        let signature = format!("sha256={}", BASE64.encode(tag(b"tf-secret", &[body])));
        let verified = verifier
            .verify(&h(&[("typeform-signature", &signature)]), body, 0)
            .expect("genuine");
        assert_eq!(verified.delivery_id.as_deref(), Some("01HX"));
        let forged = format!("sha256={}", BASE64.encode(tag(b"other", &[body])));
        assert!(matches!(
            verifier.verify(&h(&[("Typeform-Signature", &forged)]), body, 0),
            Err(Rejection::Mismatch)
        ));
        let hex_form = format!("sha256={}", hex::encode(tag(b"tf-secret", &[body])));
        assert!(matches!(
            verifier.verify(&h(&[("Typeform-Signature", &hex_form)]), body, 0),
            Err(Rejection::Malformed(_))
        ));
    }

    #[test]
    fn rejection_codes_are_distinct() {
        let all = [
            Rejection::MissingHeader("x".to_string()),
            Rejection::Malformed("x".to_string()),
            Rejection::Stale {
                age_secs: 1,
                tolerance_secs: 0,
            },
            Rejection::Mismatch,
            Rejection::Config(ConfigError::EmptySecret),
        ];
        let codes: std::collections::BTreeSet<_> = all.iter().map(Rejection::code).collect();
        assert_eq!(codes.len(), all.len());
    }
}
