//! Small address helpers: prefixes and the 16-byte map form of addresses.

use std::{
    fmt,
    net::{IpAddr, Ipv6Addr},
    str::FromStr,
};

use proxy_common::{Addr16, v4_mapped};
use serde::{Deserialize, Deserializer};

/// An IP prefix ("100.64.0.0/16", "fd00:64::/96").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prefix {
    pub addr: IpAddr,
    pub len: u8,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PrefixError {
    #[error("{0:?} is not a prefix (expected ADDRESS/LENGTH)")]
    Syntax(String),
    #[error("prefix length {len} is too long for {addr}")]
    Length { addr: IpAddr, len: u8 },
    #[error("{0} has host bits set")]
    HostBits(String),
}

impl FromStr for Prefix {
    type Err = PrefixError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (a, l) = s.split_once('/').ok_or_else(|| PrefixError::Syntax(s.into()))?;
        let addr: IpAddr = a.parse().map_err(|_| PrefixError::Syntax(s.into()))?;
        let len: u8 = l.parse().map_err(|_| PrefixError::Syntax(s.into()))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        if len > max {
            return Err(PrefixError::Length { addr, len });
        }
        let p = Prefix { addr, len };
        if p.network() != addr {
            return Err(PrefixError::HostBits(s.into()));
        }
        Ok(p)
    }
}

impl fmt::Display for Prefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.len)
    }
}

impl<'de> Deserialize<'de> for Prefix {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

impl Prefix {
    fn mask128(&self) -> u128 {
        let bits = if self.addr.is_ipv4() { 96 + u32::from(self.len) } else { u32::from(self.len) };
        if bits == 0 { 0 } else { u128::MAX << (128 - bits) }
    }

    pub fn network(&self) -> IpAddr {
        let v = u128::from_be_bytes(to_addr16(self.addr)) & self.mask128();
        from_addr16(v.to_be_bytes())
    }

    pub fn contains(&self, a: IpAddr) -> bool {
        if a.is_ipv4() != self.addr.is_ipv4() {
            return false;
        }
        let m = self.mask128();
        u128::from_be_bytes(to_addr16(a)) & m == u128::from_be_bytes(to_addr16(self.addr)) & m
    }
}

/// The 16-byte form used in map keys (IPv4 as IPv4-mapped).
pub fn to_addr16(a: IpAddr) -> Addr16 {
    match a {
        IpAddr::V4(v4) => v4_mapped(v4.octets()),
        IpAddr::V6(v6) => v6.octets(),
    }
}

pub fn from_addr16(a: Addr16) -> IpAddr {
    let v6 = Ipv6Addr::from(a);
    match v6.to_ipv4_mapped() {
        Some(v4) => IpAddr::V4(v4),
        None => IpAddr::V6(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        let p: Prefix = "100.64.0.0/16".parse().unwrap();
        assert!(p.contains("100.64.255.1".parse().unwrap()));
        assert!(!p.contains("100.65.0.1".parse().unwrap()));
        // Family matters: an IPv4 prefix never contains an IPv6 address.
        assert!(!p.contains("::ffff:100.64.0.1".parse().unwrap()));
        let p6: Prefix = "fd00:64::/96".parse().unwrap();
        assert!(p6.contains("fd00:64::5".parse().unwrap()));
        assert!(!p6.contains("100.64.0.1".parse().unwrap()));
        assert_eq!("100.64.0.1/16".parse::<Prefix>(), Err(PrefixError::HostBits("100.64.0.1/16".into())));
        assert!(matches!("10.0.0.0/33".parse::<Prefix>(), Err(PrefixError::Length { .. })));
        assert!(matches!("bogus".parse::<Prefix>(), Err(PrefixError::Syntax(_))));
        assert_eq!("0.0.0.0/0".parse::<Prefix>().unwrap().len, 0);
    }

    #[test]
    fn addr16_round_trip() {
        for a in ["192.0.2.1", "2001:db8::1", "::1"] {
            let ip: IpAddr = a.parse().unwrap();
            assert_eq!(from_addr16(to_addr16(ip)), ip);
        }
    }
}
