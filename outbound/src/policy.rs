//! The outbound policy: which (host, address) pairs a call may connect to, and the limits on
//! what it may read back.
//!
//! Pure: parsing the allow list and judging one address. It never resolves names or opens
//! sockets; `resolver` and `client` ask it about every address they are about to use.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::ranges::{canonical, denial_reason};

/// Response bodies larger than this are refused by default: a step's output is kept in the
/// journal, and one careless URL should not fill memory or the disk.
pub const MAX_RESPONSE_BYTES_DEFAULT: usize = 10 * 1024 * 1024;

/// Redirect hops followed by default, as browsers and curl cap them: enough for real sites,
/// few enough that a redirect loop ends quickly.
pub const MAX_REDIRECTS_DEFAULT: usize = 5;

/// What outbound calls may reach and read.
#[derive(Clone, Debug)]
pub struct OutboundPolicy {
    /// Also refuse loopback and private networks. Off by default because a single-node
    /// user calls services on localhost; a shared server turns it on.
    pub deny_private: bool,
    /// Hosts and networks that are reachable whatever the ranges say.
    pub allow: Vec<AllowRule>,
    /// The largest response body read; a larger one fails with `TooLarge`.
    pub max_response_bytes: usize,
    /// The most redirect hops followed; one more fails with `TooManyRedirects`.
    pub max_redirects: usize,
}

impl Default for OutboundPolicy {
    fn default() -> Self {
        OutboundPolicy {
            deny_private: false,
            allow: Vec::new(),
            max_response_bytes: MAX_RESPONSE_BYTES_DEFAULT,
            max_redirects: MAX_REDIRECTS_DEFAULT,
        }
    }
}

impl OutboundPolicy {
    /// Adds allow entries as written in configuration: a CIDR (`10.0.0.0/8`), a bare
    /// address (`::1`), a host name (`api.internal`) or a subdomain pattern
    /// (`*.example.com`). The first bad entry fails the whole list, named in the error, so a
    /// typo never silently allows less (or more) than meant.
    pub fn with_allow(mut self, entries: &[String]) -> Result<Self, PolicyError> {
        for entry in entries {
            self.allow.push(AllowRule::parse(entry)?);
        }
        Ok(self)
    }

    /// Whether a call to `host` may connect to `address`.
    ///
    /// `host` is the name from the URL (or the address itself for IP-literal URLs); an
    /// allowed name or an allowed address is never denied. The address is the one actually
    /// connected to, so a name that resolves somewhere forbidden is caught (no DNS rebinding).
    pub fn check(&self, host: &str, address: IpAddr) -> Result<(), Denial> {
        if self.allow.iter().any(|rule| rule.allows(host, address)) {
            return Ok(());
        }
        match denial_reason(address, self.deny_private) {
            None => Ok(()),
            Some(reason) => Err(Denial {
                host: host.to_string(),
                address,
                reason,
            }),
        }
    }
}

/// One entry of the allow list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AllowRule {
    /// Addresses in this network.
    Cidr(Cidr),
    /// Exactly this host name, lower-cased, without a trailing dot.
    Host(String),
    /// Any subdomain of this name (written `*.example.com`, stored `example.com`); not the
    /// name itself.
    HostSuffix(String),
}

impl AllowRule {
    /// Parses one allow entry; the error names it.
    pub fn parse(entry: &str) -> Result<AllowRule, PolicyError> {
        let invalid = |reason: &str| PolicyError::InvalidAllowEntry {
            entry: entry.to_string(),
            reason: reason.to_string(),
        };
        let trimmed = entry.trim();
        if trimmed.is_empty() {
            return Err(invalid("empty entry"));
        }
        if trimmed.contains('/') {
            return Cidr::parse(trimmed).map(AllowRule::Cidr).map_err(invalid);
        }
        if let Ok(address) = trimmed.parse::<IpAddr>() {
            return Ok(AllowRule::Cidr(Cidr::single(address)));
        }
        if let Some(suffix) = trimmed.strip_prefix("*.") {
            return host_name(suffix)
                .map(AllowRule::HostSuffix)
                .map_err(invalid);
        }
        host_name(trimmed).map(AllowRule::Host).map_err(invalid)
    }

    fn allows(&self, host: &str, address: IpAddr) -> bool {
        match self {
            // Both forms, so `::ffff:10.0.0.1` matches `10.0.0.0/8` and an IPv6 rule still
            // matches the address as written.
            AllowRule::Cidr(cidr) => cidr.contains(address) || cidr.contains(canonical(address)),
            AllowRule::Host(name) => normalized_host(host) == *name,
            AllowRule::HostSuffix(suffix) => normalized_host(host)
                .strip_suffix(suffix.as_str())
                .is_some_and(|prefix| prefix.len() > 1 && prefix.ends_with('.')),
        }
    }
}

impl fmt::Display for AllowRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllowRule::Cidr(cidr) => write!(f, "{cidr}"),
            AllowRule::Host(name) => write!(f, "{name}"),
            AllowRule::HostSuffix(suffix) => write!(f, "*.{suffix}"),
        }
    }
}

/// A network: an address and a prefix length, host bits cleared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    network: IpAddr,
    prefix_len: u8,
}

impl Cidr {
    /// The network holding only `address` (/32 or /128).
    pub fn single(address: IpAddr) -> Cidr {
        let prefix_len = match address {
            IpAddr::V4(_) => 32,
            IpAddr::V6(_) => 128,
        };
        Cidr {
            network: address,
            prefix_len,
        }
    }

    /// Parses `address/prefix_len`. Host bits are cleared (`10.1.2.3/8` is `10.0.0.0/8`), as
    /// routers read it.
    pub fn parse(text: &str) -> Result<Cidr, &'static str> {
        let (address, prefix_len) = text.split_once('/').ok_or("expected address/prefix")?;
        let address: IpAddr = address.parse().map_err(|_| "not an IP address")?;
        let prefix_len: u8 = prefix_len.parse().map_err(|_| "prefix is not a number")?;
        let network = match address {
            IpAddr::V4(v4) if prefix_len <= 32 => {
                IpAddr::V4(Ipv4Addr::from(u32::from(v4) & mask_v4(prefix_len)))
            }
            IpAddr::V6(v6) if prefix_len <= 128 => {
                IpAddr::V6(Ipv6Addr::from(u128::from(v6) & mask_v6(prefix_len)))
            }
            _ => return Err("prefix too long for the address family"),
        };
        Ok(Cidr {
            network,
            prefix_len,
        })
    }

    /// The first address of the network.
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The number of leading bits that name the network.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// Whether `address` lies in the network; never across address families.
    pub fn contains(&self, address: IpAddr) -> bool {
        match (self.network, address) {
            (IpAddr::V4(network), IpAddr::V4(address)) => {
                let mask = mask_v4(self.prefix_len);
                u32::from(address) & mask == u32::from(network)
            }
            (IpAddr::V6(network), IpAddr::V6(address)) => {
                let mask = mask_v6(self.prefix_len);
                u128::from(address) & mask == u128::from(network)
            }
            _ => false,
        }
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

fn mask_v4(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32 - u32::from(prefix_len))
        .unwrap_or(0)
}

fn mask_v6(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128 - u32::from(prefix_len))
        .unwrap_or(0)
}

/// A host name as the rules store it: lower case, no trailing dot, letters, digits, `-` and
/// `_` in non-empty labels.
fn host_name(text: &str) -> Result<String, &'static str> {
    let name = normalized_host(text);
    if name.is_empty() {
        return Err("empty host name");
    }
    let valid_label = |label: &str| {
        !label.is_empty()
            && label
                .bytes()
                .all(|byte| byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_')
    };
    if !name.split('.').all(valid_label) {
        return Err("not a host name, CIDR or IP address");
    }
    Ok(name)
}

fn normalized_host(host: &str) -> String {
    host.trim_end_matches('.').to_ascii_lowercase()
}

/// A call refused by the policy: which host, which address, and the rule that refused it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("outbound call to {host} denied: {reason}{}", address_note(.host, *.address))]
pub struct Denial {
    /// The host as the caller named it.
    pub host: String,
    /// The address that would have been connected to.
    pub address: IpAddr,
    /// Why that address may not be reached.
    pub reason: &'static str,
}

/// " (address 127.0.0.1)" when the host is a name, so the log shows where it resolved; nothing
/// when the host already is the address.
pub(crate) fn address_note(host: &str, address: IpAddr) -> String {
    let bare_host = host.trim_start_matches('[').trim_end_matches(']');
    match bare_host.parse::<IpAddr>() {
        Ok(host_address) if host_address == address => String::new(),
        _ => format!(" (address {address})"),
    }
}

/// A configuration mistake in the policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// An allow entry that is neither a CIDR, an address nor a host name.
    #[error("invalid outbound allow entry {entry:?}: {reason}")]
    InvalidAllowEntry { entry: String, reason: String },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(deny_private: bool, allow: &[&str]) -> OutboundPolicy {
        let entries: Vec<String> = allow.iter().map(|entry| entry.to_string()).collect();
        OutboundPolicy {
            deny_private,
            ..OutboundPolicy::default()
        }
        .with_allow(&entries)
        .expect("test allow list parses")
    }

    fn address(text: &str) -> IpAddr {
        text.parse().expect("test address parses")
    }

    #[test]
    fn defaults() {
        let policy = OutboundPolicy::default();
        assert!(!policy.deny_private);
        assert!(policy.allow.is_empty());
        assert_eq!(policy.max_response_bytes, 10 * 1024 * 1024);
        assert_eq!(policy.max_redirects, 5);
    }

    #[test]
    fn denial_names_host_and_reason() {
        let denial = OutboundPolicy::default()
            .check("169.254.169.254", address("169.254.169.254"))
            .expect_err("metadata address is denied");
        assert_eq!(
            denial.to_string(),
            "outbound call to 169.254.169.254 denied: link-local address (cloud metadata)"
        );
        let denial = policy(true, &[])
            .check("localhost", address("127.0.0.1"))
            .expect_err("loopback is denied under deny_private");
        assert_eq!(
            denial.to_string(),
            "outbound call to localhost denied: loopback address (address 127.0.0.1)"
        );
    }

    #[test]
    fn allow_cidr() {
        let policy = policy(true, &["10.0.0.0/8", "::1/128", "169.254.169.254"]);
        assert!(policy.check("db", address("10.200.0.1")).is_ok());
        assert!(policy.check("db", address("::ffff:10.200.0.1")).is_ok());
        assert!(policy.check("db", address("::1")).is_ok());
        assert!(policy.check("db", address("169.254.169.254")).is_ok());
        assert!(policy.check("db", address("169.254.169.253")).is_err());
        assert!(policy.check("db", address("192.168.0.1")).is_err());
        assert!(policy.check("db", address("127.0.0.1")).is_err());
    }

    #[test]
    fn allow_host_exact_and_case_insensitive() {
        let policy = policy(true, &["LocalHost"]);
        assert!(policy.check("localhost", address("127.0.0.1")).is_ok());
        assert!(policy.check("LOCALHOST.", address("::1")).is_ok());
        assert!(policy.check("notlocalhost", address("127.0.0.1")).is_err());
        assert!(policy.check("a.localhost", address("127.0.0.1")).is_err());
    }

    #[test]
    fn allow_host_suffix_matches_subdomains_only() {
        let policy = policy(true, &["*.example.com"]);
        assert!(policy.check("api.example.com", address("10.0.0.1")).is_ok());
        assert!(policy.check("a.b.Example.COM", address("10.0.0.1")).is_ok());
        assert!(policy.check("example.com", address("10.0.0.1")).is_err());
        assert!(policy.check("badexample.com", address("10.0.0.1")).is_err());
    }

    #[test]
    fn parsed_rules() {
        let check = |entry: &str, expected: AllowRule| {
            assert_eq!(AllowRule::parse(entry), Ok(expected), "{entry}");
        };
        let cidr = |text: &str| Cidr::parse(text).expect("test CIDR parses");
        check("10.0.0.0/8", AllowRule::Cidr(cidr("10.0.0.0/8")));
        check("10.1.2.3/8", AllowRule::Cidr(cidr("10.0.0.0/8")));
        check("127.0.0.1", AllowRule::Cidr(cidr("127.0.0.1/32")));
        check("::1", AllowRule::Cidr(cidr("::1/128")));
        check(" 0.0.0.0/0 ", AllowRule::Cidr(cidr("0.0.0.0/0")));
        check("API.internal", AllowRule::Host("api.internal".to_string()));
        check(
            "*.Example.com",
            AllowRule::HostSuffix("example.com".to_string()),
        );
        assert_eq!(cidr("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert!(cidr("0.0.0.0/0").contains(address("8.8.8.8")));
        assert!(!cidr("0.0.0.0/0").contains(address("::1")));
    }

    #[test]
    fn parse_errors_name_the_entry() {
        for entry in [
            "",
            "10.0.0.0/33",
            "::/129",
            "10.0.0/8",
            "10.0.0.0/x",
            "http://example.com",
            "exa mple.com",
            "*.",
            "a..b",
            "*.*.example.com",
        ] {
            let error = OutboundPolicy::default()
                .with_allow(&["1.2.3.4".to_string(), entry.to_string()])
                .expect_err("bad entry is refused");
            let message = error.to_string();
            assert!(
                message.contains(&format!("{entry:?}")),
                "{message} names {entry:?}"
            );
        }
    }
}
