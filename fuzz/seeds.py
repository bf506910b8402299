#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets into fuzz/corpus/<target>/ from what the repo has:
policy YAML (tests/corpus, tests/suites, examples), plugin configurations built from the suites,
Envoy 1.40's property encodings, real HTTP/1.1 heads and real ClientHellos (Python's OpenSSL).
Seeds are generated, never committed. Usage: fuzz/seeds.py ROOT"""

import hashlib
import json
import pathlib
import re
import ssl
import struct
import sys

root = pathlib.Path(sys.argv[1])
corpus = root / "fuzz" / "corpus"


def seed(target, data):
    if isinstance(data, str):
        data = data.encode()
    out = corpus / target
    out.mkdir(parents=True, exist_ok=True)
    (out / ("seed-" + hashlib.sha1(data).hexdigest()[:16])).write_bytes(data)


# parse: every policy document the repo ships.
yaml_files = sorted(
    list((root / "tests" / "corpus").glob("*.yaml"))
    + list((root / "tests" / "suites" / "policies").glob("*.yaml"))
    + list((root / "examples").rglob("*.yaml"))
)
for f in yaml_files:
    seed("parse", f.read_bytes())
    # parse_differential: the fast YAML reader against serde_yaml, from the same documents.
    for doc in re.split(rb"(?m)^---\s*$", f.read_bytes()):
        if doc.strip():
            seed("parse_differential", doc)
# Shapes of input that once cost time quadratic in their size, and the List forms kubectl prints.
seed("parse", "[" * 40000 + "]" * 40000)
seed("parse", "{a: " * 20000 + "x" + "}" * 20000)
seed("parse", "- " * 30000 + "x\n")
seed("parse", "apiVersion: v1\ndata:\n" + "".join(f"  k{i}: v\n" for i in range(20000)) + "kind: ConfigMap\nmetadata:\n  name: big\n")
seed("parse", "apiVersion: v1\nitems:\n" + "".join(
    f"- apiVersion: v1\n  kind: Service\n  metadata:\n    managedFields:\n    - manager: m\n    name: s{i}\n  spec:\n    ports:\n    - port: 80\n  status:\n    loadBalancer: {{}}\n"
    for i in range(40)) + "kind: List\n")
seed("parse", json.dumps({"apiVersion": "v1", "kind": "List", "items": [
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"s{i}"}, "spec": {"ports": [{"port": 80}]}} for i in range(40)]}, indent=4))

# filter_config: the plugin configuration each suite's filter gets, plus variants of each field.
for suite in sorted((root / "tests" / "suites").glob("*.yaml")):
    text = suite.read_text()
    files = re.search(r"^policies:\s*\[(.*)\]", text, re.M)
    workload = re.search(r"^workload:\s*(\S+)", text, re.M)
    if not files or not workload:
        continue
    paths = [suite.parent / p.strip() for p in files.group(1).split(",")]
    paths = [f for p in paths for f in (sorted(p.glob("*.yaml")) if p.is_dir() else [p])]
    policies = "\n---\n".join(f.read_text() for f in paths)
    ns, name = workload.group(1).split("/", 1)
    base = {"direction": "inbound", "workload": {"namespace": ns, "name": name}, "policies": policies}
    seed("filter_config", json.dumps(base))
    seed("filter_config", json.dumps({**base, "kind": "network", "log": "decisions"}))
    seed("filter_config", json.dumps({**base, "istioVersion": "1.22", "log": "off", "kind": "http"}))
    seed("filter_config", json.dumps({**base, "direction": "outbound", "workload": {"namespace": "bar", "name": "sleep"}}))

# filter_properties: flags byte (bit i: field i present), then per field a length byte and bytes,
# in the order destination.port, connection.mtls, connection.tls_version, uri_san.
def properties(port, mtls, tls_version, san):
    fields = [
        None if port is None else struct.pack("<q", port),
        None if mtls is None else bytes([mtls]),
        tls_version,
        san,
    ]
    flags = sum(1 << i for i, f in enumerate(fields) if f is not None)
    out = bytes([flags])
    for f in fields:
        f = f or b""
        out += bytes([len(f)]) + f
    return out


san = b"spiffe://cluster.local/ns/bar/sa/sleep"
seed("filter_properties", properties(80, 1, b"TLSv1.3", san))
seed("filter_properties", properties(9000, 1, b"TLSv1.2", b"spiffe://evil.example/ns/bar/sa/sleep"))
seed("filter_properties", properties(80, 0, b"TLSv1.3", None))
seed("filter_properties", properties(8080, None, None, None))
seed("filter_properties", properties(70000, 1, b"TLSv1.3", san))

# host_sniff_http: request and response heads as clients and upstreams send them, and the first
# flight of real TLS 1.3 and TLS 1.2 clients.
for head in [
    "GET / HTTP/1.1\r\nHost: httpbin.foo:8000\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n",
    "POST /post HTTP/1.1\r\nHost: 127.0.0.1:15006\r\nContent-Length: 5\r\nContent-Type: text/plain\r\n\r\nhello",
    "GET /ip HTTP/1.0\r\n\r\n",
    "PUT /x HTTP/1.1\r\nHost: [::1]:80\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "HTTP/1.1 200 OK\r\nServer: envoy\r\nContent-Length: 2\r\n\r\nok",
    "HTTP/1.1 403 Forbidden\r\nx-meshlock-deny: plaintext\r\nconnection: close\r\n\r\n",
    "HTTP/1.0 503 Service Unavailable\r\n\r\n",
]:
    seed("host_sniff_http", head)
for version in [None, ssl.TLSVersion.TLSv1_2]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    if version:
        ctx.maximum_version = version
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname="httpbin.foo.svc.cluster.local")
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    seed("host_sniff_http", hello)
    seed("host_sniff_http", hello[:6])

for target in sorted(p.name for p in corpus.iterdir()):
    print(f"fuzz seeds: {target}: {len(list((corpus / target).iterdir()))} file(s)", file=sys.stderr)
