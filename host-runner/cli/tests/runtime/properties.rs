//! The properties the data path hands the filter, after a real rustls handshake, have Envoy
//! 1.40's names and encodings (docs/envoy.md, "Properties read").

use crate::support::{plugin_config, strict_policies, wasip1};
use meshlock_proxy_host::PluginSettings;
use meshlock_testbed::ca::{LeafSpec, TestCa, cert_facts};
use meshlock_testbed::datapath::memory::{Client, ClientIdentity, ClientSetup, exchange};
use meshlock_testbed::datapath::{ConnMeta, FilterKind, Listener, ServerTls, Transport};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

#[test]
fn envoy_encodings_after_a_real_handshake() {
    let ca = TestCa::generate("cluster.local").unwrap();
    let server = ca
        .issue(&LeafSpec {
            dns: vec!["localhost".into()],
            ..LeafSpec::spiffe("spiffe://cluster.local/ns/foo/sa/httpbin")
        })
        .unwrap();
    // Two URI SANs: Envoy exposes only the first (pitfall P4).
    let client = ca
        .issue(&LeafSpec {
            common_name: "client".into(),
            uris: vec!["spiffe://cluster.local/ns/other/sa/x".into(), "spiffe://cluster.local/ns/bar/sa/sleep".into()],
            dns: vec!["client.local".into()],
            ..LeafSpec::default()
        })
        .unwrap();
    let digest = cert_facts(&client.cert_der).unwrap().sha256;
    let tls = ServerTls { chain: vec![server.cert_der], key: server.key_der, roots: vec![ca.root_der().to_vec()] };
    let listener = Listener::new(&tls, FilterKind::Network).unwrap();
    let mut vm = wasip1()
        .start(PluginSettings::new(plugin_config("inbound", "network", &strict_policies()), "meshlock"))
        .unwrap();
    let setup = ClientSetup::http_get(vec![ca.root_der().to_vec()], "localhost", "localhost:80");
    let meta = ConnMeta {
        id: 7,
        source: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 40001),
        destination: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 80),
    };
    let mtls = Client::Tls(Some(ClientIdentity { chain: vec![client.cert_der], key: client.key_der }));
    let ex = exchange(&listener, &mut vm, &meta, &mtls, &setup).unwrap();
    let p = &ex.outcome.properties;
    assert_eq!(p.get("connection.mtls"), Some(&[1u8][..]));
    assert_eq!(p.get("connection.tls_version"), Some(&b"TLSv1.3"[..]));
    assert_eq!(p.get("connection.uri_san_peer_certificate"), Some(&b"spiffe://cluster.local/ns/other/sa/x"[..]));
    assert_eq!(p.get("connection.dns_san_peer_certificate"), Some(&b"client.local"[..]));
    assert_eq!(p.get("connection.subject_peer_certificate"), Some(&b"CN=client,O=meshlock"[..]));
    assert_eq!(p.get("connection.sha256_peer_certificate_digest"), Some(digest.as_bytes()));
    assert_eq!(digest.len(), 64);
    assert_eq!(p.get("connection.uri_san_local_certificate"), Some(&b"spiffe://cluster.local/ns/foo/sa/httpbin"[..]));
    assert_eq!(p.get("connection.requested_server_name"), Some(&b"localhost"[..]));
    assert_eq!(p.get("destination.port"), Some(&80i64.to_le_bytes()[..]));
    assert_eq!(p.get("connection.id"), Some(&7i64.to_le_bytes()[..]));
    assert_eq!(p.get("source.address"), Some(&b"127.0.0.1:40001"[..]));
    assert_eq!(ex.outcome.transport, Transport::Tls(Some("TLSv1.3".into())));
    // The filter saw `other`, which STRICT accepts (cluster.local): the first SAN decided.
    assert!(ex.outcome.mtls);
    assert_eq!(ex.outcome.peer_uri_san.as_deref(), Some("spiffe://cluster.local/ns/other/sa/x"));

    // Plaintext: connection.mtls present and 0, no TLS properties at all.
    let plain = Client::Raw(setup.request.clone());
    let ex = exchange(&listener, &mut vm, &meta, &plain, &setup).unwrap();
    let p = &ex.outcome.properties;
    assert_eq!(p.get("connection.mtls"), Some(&[0u8][..]));
    for absent in ["connection.tls_version", "connection.uri_san_peer_certificate", "connection.requested_server_name"]
    {
        assert_eq!(p.get(absent), None, "{absent}");
    }
    assert_eq!(ex.outcome.transport, Transport::Plaintext);
}
