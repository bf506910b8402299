//! The test CA: a mesh root, an intermediate CA under it, a second root the mesh does not trust,
//! and SPIFFE leaf certificates (valid, expired, not yet valid, without or with several URI SANs,
//! with a huge chain), minted with rcgen. Also what the data path
//! and `meshlock ca inspect` read back out of a certificate, with x509-parser.

use rcgen::{
    BasicConstraints, CertificateParams, CustomExtension, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use time::{Duration, OffsetDateTime};

/// File names inside a CA directory (`meshlock ca init DIR`).
pub const ROOT_CERT: &str = "ca.crt";
pub const ROOT_KEY: &str = "ca.key";
pub const UNTRUSTED_CERT: &str = "untrusted-ca.crt";
pub const UNTRUSTED_KEY: &str = "untrusted-ca.key";

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaError {
    #[error("certificate generation: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("`{path}`: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("`{0}` holds no PEM certificate")]
    NoCertificate(String),
    #[error("cannot parse certificate: {0}")]
    Parse(String),
    #[error("`{0}` is not a valid URI SAN (IA5 text expected)")]
    BadSan(String),
}

/// Which root signs a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IssuerKind {
    #[default]
    Mesh,
    /// A root the mesh does not trust: the handshake must fail.
    Untrusted,
    /// An intermediate CA signed by the mesh root; the peer sends it after its leaf.
    Intermediate,
}

/// What a peer sends after its leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ChainShape {
    /// The issuing intermediate, if any.
    #[default]
    Plain,
    /// The same, then [`HUGE_CHAIN_FILLERS`] unrelated CA certificates of about
    /// [`FILLER_PADDING`] bytes each (~180 KiB in all): past rustls's 64 KiB handshake-message
    /// limit and BoringSSL's 100 KiB certificate-list limit.
    Huge,
}

/// How many filler certificates a huge chain carries.
pub const HUGE_CHAIN_FILLERS: usize = 40;
/// The size of a filler certificate's padding extension, bytes.
pub const FILLER_PADDING: usize = 4400;

/// When a leaf is valid, relative to now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Validity {
    /// From an hour ago for a day (Istio workload certificates live 24 h).
    #[default]
    Current,
    /// Ended yesterday.
    Expired,
    /// Starts tomorrow.
    NotYetValid,
}

/// What a leaf certificate says.
#[derive(Debug, Clone, Default)]
pub struct LeafSpec {
    pub common_name: String,
    /// URI SANs in order (a SPIFFE SVID has exactly one).
    pub uris: Vec<String>,
    pub dns: Vec<String>,
    pub ips: Vec<IpAddr>,
    pub issuer: IssuerKind,
    pub validity: Validity,
    pub chain: ChainShape,
}

impl LeafSpec {
    /// A workload certificate with one SPIFFE ID.
    pub fn spiffe(uri: &str) -> Self {
        Self {
            common_name: uri.rsplit('/').next().unwrap_or(uri).to_owned(),
            uris: vec![uri.to_owned()],
            ..Self::default()
        }
    }
}

/// A certificate and its private key, PEM and DER.
#[derive(Debug, Clone)]
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
    pub cert_der: Vec<u8>,
    pub key_der: Vec<u8>,
    /// What the peer sends after the leaf (an intermediate, fillers), DER.
    pub rest_of_chain: Vec<Vec<u8>>,
}

impl Issued {
    /// The chain a peer sends: the leaf, then the rest.
    pub fn chain_der(&self) -> Vec<Vec<u8>> {
        std::iter::once(self.cert_der.clone()).chain(self.rest_of_chain.iter().cloned()).collect()
    }
}

struct Root {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
    cert_der: Vec<u8>,
}

/// The mesh root, an intermediate under it, and the untrusted root.
pub struct TestCa {
    mesh: Root,
    intermediate: Root,
    untrusted: Root,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn ca_params(org: &str, cn: &str) -> Result<CertificateParams, CaError> {
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::OrganizationName, org);
    dn.push(DnType::CommonName, cn);
    params.distinguished_name = dn;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(3650);
    Ok(params)
}

fn root(org: &str, cn: &str) -> Result<Root, CaError> {
    let key = KeyPair::generate()?;
    let params = ca_params(org, cn)?;
    let cert = params.self_signed(&key)?;
    Ok(Root { cert_pem: cert.pem(), cert_der: cert.der().to_vec(), issuer: Issuer::new(params, key) })
}

/// An intermediate CA signed by `parent` (like istiod with a plugged-in CA certificate).
fn intermediate(parent: &Root) -> Result<Root, CaError> {
    let key = KeyPair::generate()?;
    let mut params = ca_params("meshlock", "meshlock test intermediate")?;
    params.use_authority_key_identifier_extension = true;
    let cert = params.signed_by(&key, &parent.issuer)?;
    Ok(Root { cert_pem: cert.pem(), cert_der: cert.der().to_vec(), issuer: Issuer::new(params, key) })
}

/// `count` self-signed CA certificates, each padded with a non-critical private extension of
/// `padding` bytes: nothing a verifier needs, only bulk.
pub fn fillers(count: usize, padding: usize) -> Result<Vec<Vec<u8>>, CaError> {
    let key = KeyPair::generate()?;
    (0..count)
        .map(|i| {
            let mut params = ca_params("filler.example", &format!("meshlock filler {i}"))?;
            // 1.3.6.1.4.1.55555: a private-enterprise arc no verifier knows.
            params.custom_extensions = vec![CustomExtension::from_oid_content(&[1, 3, 6, 1, 4, 1, 55555, 1], {
                // An OCTET STRING (DER, long length form) of `padding` bytes.
                let mut v = vec![0x04, 0x82];
                v.extend_from_slice(&u16::try_from(padding).unwrap_or(u16::MAX).to_be_bytes());
                v.resize(padding.min(usize::from(u16::MAX)) + 4, 0x5a);
                v
            })];
            Ok(params.self_signed(&key)?.der().to_vec())
        })
        .collect()
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> CaError + '_ {
    move |source| CaError::Io { path: path.to_owned(), source }
}

impl TestCa {
    /// A fresh mesh root (`O=cluster.local` like istiod's self-signed root) and an untrusted one.
    pub fn generate(trust_domain: &str) -> Result<Self, CaError> {
        let mesh = root(trust_domain, "meshlock test mesh root")?;
        Ok(Self {
            intermediate: intermediate(&mesh)?,
            mesh,
            untrusted: root("untrusted.example", "meshlock untrusted root")?,
        })
    }

    /// Writes `ca.crt`, `ca.key`, `untrusted-ca.crt`, `untrusted-ca.key` into `dir`.
    pub fn save(&self, dir: &Path) -> Result<(), CaError> {
        std::fs::create_dir_all(dir).map_err(io_err(dir))?;
        for (name, text) in [
            (ROOT_CERT, self.mesh.cert_pem.clone()),
            (ROOT_KEY, self.mesh.issuer.key().serialize_pem()),
            (UNTRUSTED_CERT, self.untrusted.cert_pem.clone()),
            (UNTRUSTED_KEY, self.untrusted.issuer.key().serialize_pem()),
        ] {
            let path = dir.join(name);
            std::fs::write(&path, text).map_err(io_err(&path))?;
        }
        Ok(())
    }

    /// Reads a directory written by [`TestCa::save`].
    pub fn load(dir: &Path) -> Result<Self, CaError> {
        let read = |name: &str| {
            let path = dir.join(name);
            std::fs::read_to_string(&path).map_err(io_err(&path))
        };
        let load_root = |cert: &str, key: &str| -> Result<Root, CaError> {
            let cert_pem = read(cert)?;
            let key = KeyPair::from_pem(&read(key)?)?;
            let der = pem_certificates(&cert_pem)
                .into_iter()
                .next()
                .ok_or_else(|| CaError::NoCertificate(dir.join(cert).display().to_string()))?;
            let issuer = Issuer::from_ca_cert_der(&der.as_slice().into(), key)?;
            Ok(Root { issuer, cert_pem, cert_der: der })
        };
        let mesh = load_root(ROOT_CERT, ROOT_KEY)?;
        // The intermediate is not saved: a fresh one under the loaded root does the same job.
        Ok(Self { intermediate: intermediate(&mesh)?, mesh, untrusted: load_root(UNTRUSTED_CERT, UNTRUSTED_KEY)? })
    }

    pub fn root_pem(&self) -> &str {
        &self.mesh.cert_pem
    }
    pub fn root_der(&self) -> &[u8] {
        &self.mesh.cert_der
    }
    pub fn untrusted_root_der(&self) -> &[u8] {
        &self.untrusted.cert_der
    }

    /// Mints a leaf usable as a client and as a server certificate (like an Istio SVID).
    pub fn issue(&self, spec: &LeafSpec) -> Result<Issued, CaError> {
        let root = match spec.issuer {
            IssuerKind::Mesh => &self.mesh,
            IssuerKind::Untrusted => &self.untrusted,
            IssuerKind::Intermediate => &self.intermediate,
        };
        let mut rest_of_chain = Vec::new();
        if spec.issuer == IssuerKind::Intermediate {
            rest_of_chain.push(self.intermediate.cert_der.clone());
        }
        if spec.chain == ChainShape::Huge {
            rest_of_chain.extend(fillers(HUGE_CHAIN_FILLERS, FILLER_PADDING)?);
        }
        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::OrganizationName, "meshlock");
        if !spec.common_name.is_empty() {
            dn.push(DnType::CommonName, spec.common_name.as_str());
        }
        params.distinguished_name = dn;
        for uri in &spec.uris {
            let ia5 = uri.as_str().try_into().map_err(|_| CaError::BadSan(uri.clone()))?;
            params.subject_alt_names.push(SanType::URI(ia5));
        }
        for dns in &spec.dns {
            let ia5 = dns.as_str().try_into().map_err(|_| CaError::BadSan(dns.clone()))?;
            params.subject_alt_names.push(SanType::DnsName(ia5));
        }
        for ip in &spec.ips {
            params.subject_alt_names.push(SanType::IpAddress(*ip));
        }
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature, KeyUsagePurpose::KeyEncipherment];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth, ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        let now = OffsetDateTime::now_utc();
        (params.not_before, params.not_after) = match spec.validity {
            Validity::Current => (now - Duration::hours(1), now + Duration::hours(24)),
            Validity::Expired => (now - Duration::hours(48), now - Duration::hours(24)),
            Validity::NotYetValid => (now + Duration::hours(24), now + Duration::hours(48)),
        };
        let cert = params.signed_by(&key, &root.issuer)?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
            key_der: key.serialize_der(),
            rest_of_chain,
        })
    }
}

/// Every `CERTIFICATE` block of a PEM text, as DER.
pub fn pem_certificates(text: &str) -> Vec<Vec<u8>> {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    CertificateDer::pem_slice_iter(text.as_bytes()).filter_map(Result::ok).map(|c| c.to_vec()).collect()
}

/// What Envoy (and `meshlock ca inspect`) reads out of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFacts {
    /// RFC 2253 order, no spaces (`CN=client,O=example`), as Envoy formats it (pitfall P7).
    pub subject: String,
    pub issuer: String,
    pub uris: Vec<String>,
    pub dns: Vec<String>,
    pub ips: Vec<String>,
    pub not_before: i64,
    pub not_after: i64,
    pub is_ca: bool,
    pub serial: String,
    /// 64 lowercase hex characters: SHA-256 of the DER.
    pub sha256: String,
}

/// Parses one DER certificate.
pub fn cert_facts(der: &[u8]) -> Result<CertFacts, CaError> {
    use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| CaError::Parse(e.to_string()))?;
    let mut uris = Vec::new();
    let mut dns = Vec::new();
    let mut ips = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::URI(u) => uris.push((*u).to_owned()),
                GeneralName::DNSName(d) => dns.push((*d).to_owned()),
                GeneralName::IPAddress(b) => ips.push(ip_text(b)),
                _ => {}
            }
        }
    }
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let sha256 = digest.as_ref().iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    });
    Ok(CertFacts {
        subject: rfc2253(cert.subject()),
        issuer: rfc2253(cert.issuer()),
        uris,
        dns,
        ips,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        is_ca: cert.is_ca(),
        serial: cert.raw_serial_as_string(),
        sha256,
    })
}

fn ip_text(bytes: &[u8]) -> String {
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        return IpAddr::from(v4).to_string();
    }
    if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        return IpAddr::from(v6).to_string();
    }
    String::from("?")
}

/// RFC 2253: RDNs last to first, `,` between them, `+` inside a multi-valued RDN, special
/// characters escaped.
fn rfc2253(name: &x509_parser::x509::X509Name<'_>) -> String {
    let registry = x509_parser::objects::oid_registry();
    let rdns: Vec<&x509_parser::x509::RelativeDistinguishedName<'_>> = name.iter_rdn().collect();
    let mut out = String::new();
    for (i, rdn) in rdns.iter().rev().enumerate() {
        if i > 0 {
            out.push(',');
        }
        for (j, atv) in rdn.iter().enumerate() {
            if j > 0 {
                out.push('+');
            }
            let oid = atv.attr_type();
            let short = match oid.to_id_string().as_str() {
                "2.5.4.3" => "CN".to_owned(),
                "2.5.4.6" => "C".to_owned(),
                "2.5.4.7" => "L".to_owned(),
                "2.5.4.8" => "ST".to_owned(),
                "2.5.4.10" => "O".to_owned(),
                "2.5.4.11" => "OU".to_owned(),
                "2.5.4.9" => "STREET".to_owned(),
                "0.9.2342.19200300.100.1.25" => "DC".to_owned(),
                "0.9.2342.19200300.100.1.1" => "UID".to_owned(),
                other => {
                    x509_parser::objects::oid2abbrev(oid, registry).map_or_else(|_| other.to_owned(), str::to_owned)
                }
            };
            out.push_str(&short);
            out.push('=');
            match atv.as_str() {
                Ok(v) => escape_2253(v, &mut out),
                Err(_) => {
                    out.push('#');
                    for b in atv.attr_value().data.iter() {
                        let _ = write!(out, "{b:02x}");
                    }
                }
            }
        }
    }
    out
}

fn escape_2253(v: &str, out: &mut String) {
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let special = matches!(c, ',' | '+' | '"' | '\\' | '<' | '>' | ';')
            || (i == 0 && (c == '#' || c == ' '))
            || (i == last && c == ' ');
        if special {
            out.push('\\');
        }
        out.push(c);
    }
}

/// `meshlock ca inspect`: the fields the Istio docs look at (`openssl x509 -text` on the
/// workload certificate: issuer, validity, SANs) plus whether it is valid now.
pub fn inspect_text(label: &str, der: &[u8], now: i64) -> Result<String, CaError> {
    let f = cert_facts(der)?;
    let status = if now < f.not_before {
        "NOT YET VALID"
    } else if now > f.not_after {
        "EXPIRED"
    } else {
        "valid"
    };
    let fmt_time = |t: i64| {
        OffsetDateTime::from_unix_timestamp(t)
            .map(|d| {
                format!(
                    "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
                    d.year(),
                    u8::from(d.month()),
                    d.day(),
                    d.hour(),
                    d.minute(),
                    d.second()
                )
            })
            .unwrap_or_else(|_| t.to_string())
    };
    let mut sans: Vec<String> = f.uris.iter().map(|u| format!("URI:{u}")).collect();
    sans.extend(f.dns.iter().map(|d| format!("DNS:{d}")));
    sans.extend(f.ips.iter().map(|i| format!("IP Address:{i}")));
    let mut s = String::new();
    let _ = writeln!(s, "{label}");
    let _ = writeln!(s, "  Subject:          {}", f.subject);
    let _ = writeln!(s, "  Issuer:           {}", f.issuer);
    let _ = writeln!(s, "  Serial:           {}", f.serial);
    let _ = writeln!(s, "  CA:               {}", f.is_ca);
    let _ = writeln!(s, "  Not Before:       {}", fmt_time(f.not_before));
    let _ = writeln!(s, "  Not After:        {}", fmt_time(f.not_after));
    let _ = writeln!(s, "  Status:           {status}");
    let _ = writeln!(s, "  Subject Alt Name: {}", if sans.is_empty() { "(none)".to_owned() } else { sans.join(", ") });
    if !f.is_ca {
        let spiffe = match f.uris.as_slice() {
            [] => "none: the certificate has no URI SAN".to_owned(),
            [one] if one.starts_with("spiffe://") => one.clone(),
            [one] => format!("none: the URI SAN `{one}` is not a SPIFFE ID"),
            [first, ..] => format!("{first} (first of {} URI SANs: Envoy reads only the first)", f.uris.len()),
        };
        let _ = writeln!(s, "  SPIFFE ID:        {spiffe}");
    }
    let _ = writeln!(s, "  SHA-256:          {}", f.sha256);
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaf_facts_and_inspect() {
        let ca = TestCa::generate("cluster.local").unwrap();
        let leaf = ca
            .issue(&LeafSpec {
                dns: vec!["client.local".into()],
                ..LeafSpec::spiffe("spiffe://cluster.local/ns/bar/sa/sleep")
            })
            .unwrap();
        let f = cert_facts(&leaf.cert_der).unwrap();
        assert_eq!(f.uris, vec!["spiffe://cluster.local/ns/bar/sa/sleep"]);
        assert_eq!(f.dns, vec!["client.local"]);
        assert_eq!(f.subject, "CN=sleep,O=meshlock");
        assert_eq!(f.issuer, "CN=meshlock test mesh root,O=cluster.local");
        assert_eq!(f.sha256.len(), 64);
        assert!(!f.is_ca);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let text = inspect_text("leaf", &leaf.cert_der, now).unwrap();
        assert!(text.contains("Status:           valid"), "{text}");
        assert!(text.contains("URI:spiffe://cluster.local/ns/bar/sa/sleep"), "{text}");
        let expired = ca
            .issue(&LeafSpec {
                validity: Validity::Expired,
                ..LeafSpec::spiffe("spiffe://cluster.local/ns/bar/sa/sleep")
            })
            .unwrap();
        let text = inspect_text("old", &expired.cert_der, now).unwrap();
        assert!(text.contains("EXPIRED"), "{text}");
    }

    #[test]
    fn save_and_load_round_trip() {
        let dir = std::env::temp_dir().join(format!("meshlock-ca-test-{}", std::process::id()));
        let ca = TestCa::generate("cluster.local").unwrap();
        ca.save(&dir).unwrap();
        let loaded = TestCa::load(&dir).unwrap();
        assert_eq!(loaded.root_der(), ca.root_der());
        let leaf = loaded.issue(&LeafSpec::spiffe("spiffe://cluster.local/ns/a/sa/b")).unwrap();
        let f = cert_facts(&leaf.cert_der).unwrap();
        assert_eq!(f.issuer, "CN=meshlock test mesh root,O=cluster.local");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn intermediate_and_huge_chains() {
        let ca = TestCa::generate("cluster.local").unwrap();
        let spec =
            LeafSpec { issuer: IssuerKind::Intermediate, ..LeafSpec::spiffe("spiffe://cluster.local/ns/a/sa/b") };
        let leaf = ca.issue(&spec).unwrap();
        let chain = leaf.chain_der();
        assert_eq!(chain.len(), 2);
        let inter = cert_facts(&chain[1]).unwrap();
        assert!(inter.is_ca);
        assert_eq!(inter.issuer, "CN=meshlock test mesh root,O=cluster.local");
        assert_eq!(cert_facts(&chain[0]).unwrap().issuer, inter.subject);
        let huge = ca.issue(&LeafSpec { chain: ChainShape::Huge, ..spec }).unwrap().chain_der();
        assert_eq!(huge.len(), 2 + HUGE_CHAIN_FILLERS);
        // Past BoringSSL's default 100 KiB certificate list (and rustls's 64 KiB message).
        let total: usize = huge.iter().map(|c| c.len() + 3).sum();
        assert!(total > 100 * 1024, "{total} bytes");
    }
}
