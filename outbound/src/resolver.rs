//! Name resolution that only ever yields permitted addresses.
//!
//! Plugged into reqwest as its resolver, so the address checked is the address connected to:
//! a name cannot pass the check with one answer and connect with another (DNS rebinding).
//! Also serves `Outbound::resolve` for protocols reqwest does not speak (SMTP).

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::policy::{Denial, OutboundPolicy};

/// Why a name gave no address to connect to.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ResolveError {
    /// Every address the name resolved to is denied; the first denial is kept.
    #[error(transparent)]
    Denied(#[from] Denial),
    /// The lookup itself failed, or found nothing.
    #[error("resolving {host}: {source}")]
    Lookup { host: String, source: io::Error },
}

/// Resolves `host`, then keeps the addresses the policy permits.
///
/// An IP literal (bare or in brackets) is checked as is, without a lookup. Fails with
/// `Denied` when addresses were found but none is permitted, so the caller can tell a
/// refused call from a network failure.
pub(crate) async fn resolve_permitted(
    policy: &OutboundPolicy,
    host: &str,
    port: u16,
) -> Result<Vec<SocketAddr>, ResolveError> {
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(address) = bare_host.parse::<IpAddr>() {
        policy.check(host, address)?;
        return Ok(vec![SocketAddr::new(address, port)]);
    }
    let lookup_error = |source: io::Error| ResolveError::Lookup {
        host: host.to_string(),
        source,
    };
    let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(lookup_error)?
        .collect();
    let mut first_denial = None;
    let mut permitted = Vec::with_capacity(found.len());
    for address in found {
        match policy.check(host, address.ip()) {
            Ok(()) => permitted.push(address),
            Err(denial) => {
                tracing::debug!(%denial, "dropping a denied address");
                first_denial.get_or_insert(denial);
            }
        }
    }
    match (permitted.is_empty(), first_denial) {
        (false, _) => Ok(permitted),
        (true, Some(denial)) => Err(ResolveError::Denied(denial)),
        (true, None) => Err(lookup_error(io::Error::new(
            io::ErrorKind::NotFound,
            "no addresses found",
        ))),
    }
}

/// reqwest's resolver for an `Outbound` client.
///
/// A denial is returned as the `Denial` itself (boxed), so `client` can find it again in
/// reqwest's error chain and report `Denied` instead of a network failure.
pub(crate) struct GuardedResolver {
    pub(crate) policy: Arc<OutboundPolicy>,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port (or the scheme's default) in its place.
            match resolve_permitted(&policy, &host, 0).await {
                Ok(addresses) => Ok(Box::new(addresses.into_iter()) as Addrs),
                Err(ResolveError::Denied(denial)) => Err(denial.into()),
                Err(lookup @ ResolveError::Lookup { .. }) => Err(lookup.into()),
            }
        })
    }
}
