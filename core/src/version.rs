//! The Istio version whose behaviour the engine reproduces, and the knobs that follow it.

use serde::Serialize;
use std::fmt;
use std::str::FromStr;

/// An Istio minor version such as `1.5` or `1.28`. Patch numbers are accepted and ignored:
/// no mTLS rule changed in a patch release.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(as = "String"))]
pub struct IstioVersion {
    pub major: u16,
    pub minor: u16,
}

impl IstioVersion {
    /// The newest behaviour the engine knows (the default).
    pub const NEWEST: Self = Self::new(1, 28);
    /// Istio 1.4: v1alpha1 only; auto mTLS off by default.
    pub const V1_4: Self = Self::new(1, 4);
    /// Istio 1.5: v1alpha1 and v1beta1 side by side; PeerAuthentication wins per workload.
    pub const V1_5: Self = Self::new(1, 5);
    /// Istio 1.6 removed the v1alpha1 authentication API.
    pub const V1_6: Self = Self::new(1, 6);
    /// Istio 1.12: auto mTLS honours workload- and port-level DISABLE
    /// (`releasenotes/notes/34118.yaml`, commit 13e9c0a663b).
    pub const V1_12: Self = Self::new(1, 12);

    pub const fn new(major: u16, minor: u16) -> Self {
        Self { major, minor }
    }

    /// Whether v1alpha1 MeshPolicy/Policy are read at all (≤ 1.5).
    pub fn reads_v1alpha1(self) -> bool {
        self <= Self::V1_5
    }

    /// Whether v1beta1 PeerAuthentication exists (≥ 1.5).
    pub fn reads_peer_authentication(self) -> bool {
        self >= Self::V1_5
    }

    /// Whether `enableAutoMtls` is on when the mesh config does not say: off in 1.4
    /// (`pkg/config/mesh/mesh.go@1.4.0`), on from 1.5's default profile
    /// (`values.global.mtls.auto: true`) and the code default since 1.6.
    pub fn auto_mtls_default(self) -> bool {
        self >= Self::V1_5
    }

    /// Whether auto mTLS looks at the endpoint's own workload/port PeerAuthentication
    /// (`pilot/pkg/xds/endpoints/mtls_checker.go :: checkMtlsEnabled`, since 1.12).
    pub fn auto_mtls_checks_workload_policy(self) -> bool {
        self >= Self::V1_12
    }
}

impl Default for IstioVersion {
    fn default() -> Self {
        Self::NEWEST
    }
}

impl fmt::Display for IstioVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl Serialize for IstioVersion {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A version string that is not `MAJOR.MINOR[.PATCH]`, or not an Istio minor from 1.4 to the
/// newest one modelled.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "`{0}` is not an Istio version meshlock models (1.4 to {newest}, like `1.5` or `1.22.3`; docs/versions.md lists what each changes)",
    newest = IstioVersion::NEWEST
)]
pub struct VersionError(String);

impl FromStr for IstioVersion {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || VersionError(s.to_owned());
        let trimmed = s.trim().trim_start_matches('v');
        let mut parts = trimmed.split('.');
        let major: u16 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        let minor: u16 = parts.next().and_then(|p| p.parse().ok()).ok_or_else(bad)?;
        if let Some(patch) = parts.next() {
            patch.parse::<u32>().map_err(|_| bad())?;
        }
        if parts.next().is_some() {
            return Err(bad());
        }
        let v = Self::new(major, minor);
        // A version newer than the newest modelled is refused rather than guessed: a later
        // release may change a rule meshlock would then misreport.
        if major != 1 || v < Self::V1_4 || v > Self::NEWEST {
            return Err(bad());
        }
        Ok(v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_orders() {
        assert_eq!("1.5".parse::<IstioVersion>(), Ok(IstioVersion::V1_5));
        assert_eq!("1.12.3".parse::<IstioVersion>(), Ok(IstioVersion::V1_12));
        assert!("1.3".parse::<IstioVersion>().is_err());
        assert!("2".parse::<IstioVersion>().is_err());
        assert!("1.x".parse::<IstioVersion>().is_err());
        assert!(IstioVersion::new(1, 9) < IstioVersion::V1_12);
        assert!(!IstioVersion::new(1, 11).auto_mtls_checks_workload_policy());
        assert!("1.29".parse::<IstioVersion>().is_err());
        assert!("1.4.0.1".parse::<IstioVersion>().is_err());
    }

    /// Every minor from 1.4 to the newest is accepted and behaves as the nearest documented
    /// change at or before it; the table in docs/versions.md names exactly these changes.
    #[test]
    fn every_minor_has_the_behaviour_of_its_documented_change() {
        let doc = include_str!("../../docs/versions.md");
        let documented: Vec<&str> =
            doc.lines().filter_map(|l| l.strip_prefix("| `")).filter_map(|l| l.split('`').next()).collect();
        assert_eq!(documented, ["1.4", "1.5", "1.6", "1.12"], "docs/versions.md's table rows");
        for minor in 4..=IstioVersion::NEWEST.minor {
            let v: IstioVersion = format!("1.{minor}").parse().expect("every minor parses");
            let expected = match minor {
                4 => (true, false, false, false),
                5 => (true, true, true, false),
                6..=11 => (false, true, true, false),
                _ => (false, true, true, true),
            };
            let got = (
                v.reads_v1alpha1(),
                v.reads_peer_authentication(),
                v.auto_mtls_default(),
                v.auto_mtls_checks_workload_policy(),
            );
            assert_eq!(got, expected, "Istio {v}");
        }
    }
}
