//! `Outbound`: the one HTTP client every outbound call goes through.
//!
//! Owns the redirect loop and the deadline; asks `policy` about every IP-literal URL and
//! leaves named hosts to `resolver`, which reqwest calls for each connection. It never
//! follows a redirect, reads a body or connects anywhere without those checks.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::{Method, Url};

use crate::body::{read_limited, ChunkObserver};
use crate::error::OutboundError;
use crate::policy::OutboundPolicy;
use crate::redirect::{next_hop, strip_headers};
use crate::resolver::{resolve_permitted, GuardedResolver};

/// One HTTP call as the engine describes it.
#[derive(Clone, Debug)]
pub struct OutboundRequest {
    /// `GET`, `POST`, ...; lower case is accepted.
    pub method: String,
    /// An absolute `http` or `https` URL.
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
    /// The whole call: every redirect hop and reading the body.
    pub timeout: Duration,
}

/// The final response, after redirects, with the body read in full.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboundResponse {
    pub status: u16,
    /// In the order received; values that are not UTF-8 are converted lossily.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The URL that answered, after redirects.
    pub url: String,
}

/// The guarded client. Cheap to clone: all clones share one connection pool and one policy.
#[derive(Clone)]
pub struct Outbound {
    inner: Arc<Inner>,
}

struct Inner {
    policy: Arc<OutboundPolicy>,
    client: reqwest::Client,
}

impl Outbound {
    /// Builds the client for `policy`.
    ///
    /// Redirects are turned off in reqwest (this client follows them itself, checking each
    /// hop), and so are proxies: a proxy would resolve and connect on our behalf, out of
    /// reach of the address check.
    pub fn new(policy: OutboundPolicy) -> Result<Outbound, OutboundError> {
        let policy = Arc::new(policy);
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .dns_resolver(GuardedResolver {
                policy: Arc::clone(&policy),
            })
            .build()
            .map_err(|error| {
                OutboundError::Network(format!("building the HTTP client failed: {error}"))
            })?;
        Ok(Outbound {
            inner: Arc::new(Inner { policy, client }),
        })
    }

    /// The policy this client enforces.
    pub fn policy(&self) -> &OutboundPolicy {
        &self.inner.policy
    }

    /// Sends `request`, follows redirects and reads the body, all within `request.timeout`.
    pub async fn send(&self, request: OutboundRequest) -> Result<OutboundResponse, OutboundError> {
        self.send_observed(request, &mut |_| {}).await
    }

    /// [`Outbound::send`], with `observe` seeing the final answer's body chunk by chunk as it
    /// arrives (the whole body is still read, limited and returned). For answers streamed
    /// over a long time, such as a model's Server-Sent Events.
    pub async fn send_observed(
        &self,
        request: OutboundRequest,
        observe: ChunkObserver<'_>,
    ) -> Result<OutboundResponse, OutboundError> {
        let timeout = request.timeout;
        let description = format!("{} {}", request.method, request.url);
        let result = tokio::time::timeout(timeout, self.send_unbounded(request, observe))
            .await
            .unwrap_or_else(|_| {
                Err(OutboundError::Timeout(format!(
                    "{description} took longer than {} ms",
                    timeout.as_millis()
                )))
            });
        if let Err(error @ OutboundError::Denied { .. }) = &result {
            tracing::warn!(%error, "outbound call denied");
        }
        result
    }

    /// For protocols other than HTTP (SMTP): resolves `host` and returns only the permitted
    /// addresses, or `Denied` when none is left. Connect only to what this returns.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, OutboundError> {
        Ok(resolve_permitted(&self.inner.policy, host, port).await?)
    }

    async fn send_unbounded(
        &self,
        request: OutboundRequest,
        observe: ChunkObserver<'_>,
    ) -> Result<OutboundResponse, OutboundError> {
        let mut method = parse_method(&request.method)?;
        let mut url = parse_url(&request.url)?;
        let mut headers = parse_headers(&request.headers)?;
        let mut body = request.body;
        let mut n_redirects = 0;
        loop {
            self.check_literal_host(&url)?;
            let mut builder = self
                .inner
                .client
                .request(method.clone(), url.clone())
                .headers(headers.clone());
            if let Some(body) = &body {
                builder = builder.body(body.clone());
            }
            let response = builder.send().await.map_err(OutboundError::from_reqwest)?;
            let Some(hop) = next_hop(&url, &method, response.status(), response.headers())? else {
                return self.finish(url, response, observe).await;
            };
            n_redirects += 1;
            let limit = self.inner.policy.max_redirects;
            if n_redirects > limit {
                return Err(OutboundError::TooManyRedirects { limit });
            }
            tracing::debug!(from = %url, to = %hop.url, status = %response.status(), "following redirect");
            ensure_http(&hop.url)?;
            strip_headers(&mut headers, &hop);
            if !hop.keeps_body {
                body = None;
            }
            method = hop.method;
            url = hop.url;
        }
    }

    /// IP-literal URLs never reach the resolver (hyper connects to them directly), so they
    /// are checked here, before anything is sent.
    fn check_literal_host(&self, url: &Url) -> Result<(), OutboundError> {
        let host = url
            .host_str()
            .ok_or_else(|| OutboundError::BadRequest(format!("{url} has no host")))?;
        // The URL parser has already normalised IPv4 spellings (`0x7f.1`, `2130706433`) to
        // dotted quads, and IPv6 literals come in brackets.
        let bare_host = host.trim_start_matches('[').trim_end_matches(']');
        match bare_host.parse::<IpAddr>() {
            Ok(address) => Ok(self.inner.policy.check(host, address)?),
            Err(_) => Ok(()),
        }
    }

    async fn finish(
        &self,
        url: Url,
        response: reqwest::Response,
        observe: ChunkObserver<'_>,
    ) -> Result<OutboundResponse, OutboundError> {
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(name, value)| {
                let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
                (name.as_str().to_string(), value)
            })
            .collect();
        let body = read_limited(response, self.inner.policy.max_response_bytes, observe).await?;
        Ok(OutboundResponse {
            status,
            headers,
            body,
            url: url.to_string(),
        })
    }
}

fn parse_method(method: &str) -> Result<Method, OutboundError> {
    Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| OutboundError::BadRequest(format!("invalid HTTP method {method:?}")))
}

fn parse_url(text: &str) -> Result<Url, OutboundError> {
    let url = Url::parse(text)
        .map_err(|error| OutboundError::BadRequest(format!("invalid URL {text:?}: {error}")))?;
    ensure_http(&url)?;
    Ok(url)
}

/// Only HTTP(S): a `file:` or `ftp:` URL, first or after a redirect, is refused.
fn ensure_http(url: &Url) -> Result<(), OutboundError> {
    match url.scheme() {
        "http" | "https" => Ok(()),
        scheme => Err(OutboundError::BadRequest(format!(
            "unsupported URL scheme {scheme:?} in {url}"
        ))),
    }
}

fn parse_headers(headers: &[(String, String)]) -> Result<HeaderMap, OutboundError> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| OutboundError::BadRequest(format!("invalid header name {name:?}")))?;
        let header_value = HeaderValue::from_str(value)
            .map_err(|_| OutboundError::BadRequest(format!("invalid value for header {name}")))?;
        map.append(header_name, header_value);
    }
    Ok(map)
}
