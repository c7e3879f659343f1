//! What a redirect turns the next request into: its URL, its method, whether it keeps the
//! body, and which headers it must lose.
//!
//! Pure decisions on status codes, URLs and headers; `client` carries them out and checks
//! the new URL against the policy like any other.

use reqwest::header::{self, HeaderMap, HeaderName};
use reqwest::{Method, StatusCode, Url};

use crate::error::OutboundError;

/// The request after one redirect hop.
#[derive(Debug)]
pub(crate) struct Hop {
    pub(crate) url: Url,
    pub(crate) method: Method,
    pub(crate) keeps_body: bool,
    pub(crate) changes_origin: bool,
}

/// The next hop if `status` is a redirect with a `Location`, `None` if the response is final.
///
/// Only 301, 302, 303, 307 and 308 redirect; a 3xx without `Location` (or 300, 304) is
/// returned to the caller as it is, as browsers do.
pub(crate) fn next_hop(
    current_url: &Url,
    method: &Method,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<Option<Hop>, OutboundError> {
    if !matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308) {
        return Ok(None);
    }
    let Some(location) = headers.get(header::LOCATION) else {
        return Ok(None);
    };
    let bad_location = |reason: &str| {
        OutboundError::BadRequest(format!(
            "redirect from {current_url} to an invalid location: {reason}"
        ))
    };
    let location = location
        .to_str()
        .map_err(|_| bad_location("not visible ASCII"))?;
    let url = current_url
        .join(location)
        .map_err(|error| bad_location(&error.to_string()))?;
    let (method, keeps_body) = method_after(status, method);
    let changes_origin = url.origin() != current_url.origin();
    Ok(Some(Hop {
        url,
        method,
        keeps_body,
        changes_origin,
    }))
}

/// 303 always becomes GET (HEAD stays HEAD), and 301 and 302 turn a POST into GET, as every
/// client does; both drop the body. 307 and 308 repeat the request exactly.
fn method_after(status: StatusCode, method: &Method) -> (Method, bool) {
    match status.as_u16() {
        303 if *method == Method::HEAD => (Method::HEAD, false),
        303 => (Method::GET, false),
        301 | 302 if *method == Method::POST => (Method::GET, false),
        _ => (method.clone(), true),
    }
}

/// Removes the headers a hop must not carry: those that describe a body it no longer has,
/// and credentials when it leaves the origin they were meant for.
pub(crate) fn strip_headers(headers: &mut HeaderMap, hop: &Hop) {
    if !hop.keeps_body {
        let body_headers: [HeaderName; 4] = [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::CONTENT_ENCODING,
            header::TRANSFER_ENCODING,
        ];
        for name in &body_headers {
            headers.remove(name);
        }
    }
    if hop.changes_origin {
        let credential_headers: [HeaderName; 3] = [
            header::AUTHORIZATION,
            header::COOKIE,
            header::PROXY_AUTHORIZATION,
        ];
        for name in &credential_headers {
            headers.remove(name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn hop(from: &str, method: Method, status: u16, location: &str) -> Option<Hop> {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::LOCATION,
            HeaderValue::from_str(location).expect("test location is a header value"),
        );
        let status = StatusCode::from_u16(status).expect("test status is valid");
        let from = Url::parse(from).expect("test URL parses");
        next_hop(&from, &method, status, &headers).expect("test location is valid")
    }

    #[test]
    fn methods_after_redirects() {
        let cases = [
            (Method::POST, 303, Method::GET, false),
            (Method::PUT, 303, Method::GET, false),
            (Method::HEAD, 303, Method::HEAD, false),
            (Method::POST, 301, Method::GET, false),
            (Method::POST, 302, Method::GET, false),
            (Method::PUT, 302, Method::PUT, true),
            (Method::POST, 307, Method::POST, true),
            (Method::POST, 308, Method::POST, true),
        ];
        for (method, status, expected_method, expected_keeps_body) in cases {
            let next = hop("http://a/x", method.clone(), status, "/y").expect("redirects");
            assert_eq!(next.method, expected_method, "{method} {status}");
            assert_eq!(next.keeps_body, expected_keeps_body, "{method} {status}");
        }
    }

    #[test]
    fn relative_and_cross_origin_locations() {
        let same = hop("http://a:8080/x/y", Method::GET, 302, "z").expect("redirects");
        assert_eq!(same.url.as_str(), "http://a:8080/x/z");
        assert!(!same.changes_origin);
        for other in ["http://a:8081/", "https://a:8080/", "http://b:8080/"] {
            let next = hop("http://a:8080/", Method::GET, 302, other).expect("redirects");
            assert!(next.changes_origin, "{other}");
        }
        let default_port = hop("http://a/", Method::GET, 302, "http://a:80/z").expect("redirects");
        assert!(!default_port.changes_origin);
    }

    #[test]
    fn not_redirects() {
        assert!(hop("http://a/", Method::GET, 300, "/y").is_none());
        assert!(hop("http://a/", Method::GET, 304, "/y").is_none());
        assert!(hop("http://a/", Method::GET, 200, "/y").is_none());
    }
}
