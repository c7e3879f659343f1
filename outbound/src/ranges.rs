//! Which address ranges an outbound call may not reach, and why.
//!
//! Pure functions over `IpAddr`: no I/O, no policy state beyond the one flag that decides
//! whether private networks count. The allow list is applied by `policy`, never here.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The address an IPv6 address stands for when it embeds an IPv4 one.
///
/// `::ffff:a.b.c.d` (mapped) and `::a.b.c.d` (compatible) reach the IPv4 host on dual-stack
/// systems, so they must be judged as that host: otherwise `[::ffff:169.254.169.254]` would
/// slip past the link-local rule. `::` and `::1` are left alone; they are the IPv6
/// unspecified and loopback addresses, not IPv4 ones.
pub(crate) fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let segments = v6.segments();
            let is_compatible = segments[..6].iter().all(|segment| *segment == 0)
                && !v6.is_unspecified()
                && !v6.is_loopback();
            if is_compatible {
                if let Some(v4) = v6.to_ipv4() {
                    return IpAddr::V4(v4);
                }
            }
            address
        }
    }
}

/// Why `address` may not be reached, or `None` if it may.
///
/// Link-local, multicast, unspecified and broadcast addresses are never reachable: the cloud
/// metadata service lives on link-local, and the others are not hosts one calls. Loopback and
/// private networks are refused only when `deny_private` is set, because a single-node
/// user legitimately calls services on localhost.
pub(crate) fn denial_reason(address: IpAddr, deny_private: bool) -> Option<&'static str> {
    match canonical(address) {
        IpAddr::V4(v4) => denial_reason_v4(v4, deny_private),
        IpAddr::V6(v6) => denial_reason_v6(v6, deny_private),
    }
}

fn denial_reason_v4(address: Ipv4Addr, deny_private: bool) -> Option<&'static str> {
    let octets = address.octets();
    if address.is_link_local() {
        return Some("link-local address (cloud metadata)");
    }
    if address.is_multicast() {
        return Some("multicast address");
    }
    if address.is_broadcast() {
        return Some("broadcast address");
    }
    // All of 0.0.0.0/8 ("this network"), not only 0.0.0.0: Linux connects 0.0.0.0 to the
    // local host, and no public host lives in that block.
    if octets[0] == 0 {
        return Some("unspecified address");
    }
    if !deny_private {
        return None;
    }
    if address.is_loopback() {
        return Some("loopback address");
    }
    if address.is_private() {
        return Some("private address");
    }
    // 100.64.0.0/10, carrier-grade NAT; `Ipv4Addr::is_shared` is not stable yet.
    if octets[0] == 100 && (octets[1] & 0b1100_0000) == 64 {
        return Some("shared address space (carrier-grade NAT)");
    }
    None
}

fn denial_reason_v6(address: Ipv6Addr, deny_private: bool) -> Option<&'static str> {
    let first_segment = address.segments()[0];
    // fe80::/10; `Ipv6Addr::is_unicast_link_local` would do, spelled out to match the v4 side.
    if (first_segment & 0xffc0) == 0xfe80 {
        return Some("link-local address (cloud metadata)");
    }
    if address.is_multicast() {
        return Some("multicast address");
    }
    if address.is_unspecified() {
        return Some("unspecified address");
    }
    if !deny_private {
        return None;
    }
    if address.is_loopback() {
        return Some("loopback address");
    }
    // fc00::/7, unique local addresses: IPv6's private networks.
    if (first_segment & 0xfe00) == 0xfc00 {
        return Some("unique local address");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(address: &str, deny_private: bool, expected: Option<&str>) {
        let parsed: IpAddr = address.parse().expect("test address parses");
        assert_eq!(
            denial_reason(parsed, deny_private),
            expected,
            "{address} with deny_private={deny_private}"
        );
    }

    #[test]
    fn always_denied_ranges() {
        for deny_private in [false, true] {
            check(
                "169.254.169.254",
                deny_private,
                Some("link-local address (cloud metadata)"),
            );
            check(
                "169.254.0.1",
                deny_private,
                Some("link-local address (cloud metadata)"),
            );
            check(
                "fe80::1",
                deny_private,
                Some("link-local address (cloud metadata)"),
            );
            check(
                "febf::1",
                deny_private,
                Some("link-local address (cloud metadata)"),
            );
            check("224.0.0.1", deny_private, Some("multicast address"));
            check("239.255.255.250", deny_private, Some("multicast address"));
            check("ff02::1", deny_private, Some("multicast address"));
            check("0.0.0.0", deny_private, Some("unspecified address"));
            check("::", deny_private, Some("unspecified address"));
            check("255.255.255.255", deny_private, Some("broadcast address"));
        }
    }

    #[test]
    fn private_ranges_only_under_deny_private() {
        let private = [
            ("127.0.0.1", "loopback address"),
            ("127.255.255.254", "loopback address"),
            ("::1", "loopback address"),
            ("10.1.2.3", "private address"),
            ("172.16.0.1", "private address"),
            ("172.31.255.255", "private address"),
            ("192.168.1.1", "private address"),
            ("100.64.0.1", "shared address space (carrier-grade NAT)"),
            (
                "100.127.255.255",
                "shared address space (carrier-grade NAT)",
            ),
            ("fc00::1", "unique local address"),
            ("fd12:3456::1", "unique local address"),
        ];
        for (address, reason) in private {
            check(address, false, None);
            check(address, true, Some(reason));
        }
    }

    #[test]
    fn public_addresses_pass() {
        for address in [
            "1.1.1.1",
            "8.8.8.8",
            "172.32.0.1",
            "172.15.255.255",
            "100.128.0.1",
            "100.63.255.255",
            "169.253.255.255",
            "2606:4700::1111",
            "fec0::1",
        ] {
            check(address, true, None);
        }
    }

    #[test]
    fn embedded_ipv4_is_judged_as_ipv4() {
        check(
            "::ffff:169.254.169.254",
            false,
            Some("link-local address (cloud metadata)"),
        );
        check(
            "::169.254.169.254",
            false,
            Some("link-local address (cloud metadata)"),
        );
        check("::ffff:127.0.0.1", true, Some("loopback address"));
        check("::ffff:127.0.0.1", false, None);
        check("::ffff:8.8.8.8", true, None);
    }
}
