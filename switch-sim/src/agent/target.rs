//! Controller connection targets in Open vSwitch's notation: `tcp:HOST:PORT` to connect
//! actively to a controller, `ptcp:PORT[:IP]` to listen for controllers (and `ovs-ofctl`).
//!
//! Guarantees: parsing never panics; a target prints back as it was written (IPv6 addresses
//! in brackets).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr};
use std::str::FromStr;

/// Where the switch meets its controllers.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Target {
    /// `tcp:HOST:PORT`: connect to a controller, and reconnect with backoff when it goes away.
    Active {
        /// A host name or an IP address.
        host: String,
        port: u16,
    },
    /// `ptcp:PORT[:IP]`: accept connections on `IP` (all addresses by default). Port 0 picks
    /// a free port (see `SwitchHandle::listen_addrs`).
    Passive { port: u16, ip: IpAddr },
}

/// Why a target string is not one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TargetError {
    #[error("target {0:?}: expected tcp:HOST:PORT or ptcp:PORT[:IP]")]
    Scheme(String),
    #[error("target {target:?}: bad port {port:?} (expected 0..=65535)")]
    Port { target: String, port: String },
    #[error("target {target:?}: bad IP address {ip:?}")]
    Ip { target: String, ip: String },
    #[error("target {0:?}: missing host")]
    Host(String),
}

fn strip_brackets(s: &str) -> &str {
    s.strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(s)
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(s: &str) -> Result<Target, TargetError> {
        let port = |p: &str| {
            p.parse::<u16>().map_err(|_| TargetError::Port {
                target: s.to_owned(),
                port: p.to_owned(),
            })
        };
        if let Some(rest) = s.strip_prefix("tcp:") {
            // The port is after the last colon, so IPv6 hosts work with or without brackets.
            let (host, p) = rest
                .rsplit_once(':')
                .ok_or_else(|| TargetError::Scheme(s.to_owned()))?;
            let host = strip_brackets(host);
            if host.is_empty() {
                return Err(TargetError::Host(s.to_owned()));
            }
            Ok(Target::Active {
                host: host.to_owned(),
                port: port(p)?,
            })
        } else if let Some(rest) = s.strip_prefix("ptcp:") {
            let (p, ip) = match rest.split_once(':') {
                Some((p, ip)) => {
                    let ip = strip_brackets(ip);
                    let ip = ip.parse::<IpAddr>().map_err(|_| TargetError::Ip {
                        target: s.to_owned(),
                        ip: ip.to_owned(),
                    })?;
                    (p, ip)
                }
                None => (rest, IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            };
            Ok(Target::Passive { port: port(p)?, ip })
        } else {
            Err(TargetError::Scheme(s.to_owned()))
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Active { host, port } if host.contains(':') => {
                write!(f, "tcp:[{host}]:{port}")
            }
            Target::Active { host, port } => write!(f, "tcp:{host}:{port}"),
            Target::Passive { port, ip } if ip.is_unspecified() && ip.is_ipv4() => {
                write!(f, "ptcp:{port}")
            }
            Target::Passive {
                port,
                ip: IpAddr::V6(ip),
            } => write!(f, "ptcp:{port}:[{ip}]"),
            Target::Passive { port, ip } => write!(f, "ptcp:{port}:{ip}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_back() {
        for s in [
            "tcp:127.0.0.1:6653",
            "tcp:ctl.example:6633",
            "tcp:[::1]:6653",
            "ptcp:6634",
            "ptcp:0:127.0.0.1",
            "ptcp:6634:[::1]",
        ] {
            let t: Target = s.parse().unwrap();
            assert_eq!(t.to_string(), s);
        }
        assert_eq!(
            "ptcp:6634:127.0.0.1".parse::<Target>().unwrap(),
            Target::Passive {
                port: 6634,
                ip: "127.0.0.1".parse().unwrap()
            }
        );
    }

    #[test]
    fn refuses_nonsense() {
        for s in [
            "",
            "tcp:",
            "tcp:host",
            "tcp::80",
            "udp:1.2.3.4:5",
            "ptcp:x",
            "ptcp:1:nope",
        ] {
            assert!(s.parse::<Target>().is_err(), "{s}");
        }
        assert!(matches!(
            "tcp:h:70000".parse::<Target>(),
            Err(TargetError::Port { .. })
        ));
    }
}
