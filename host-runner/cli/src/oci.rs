//! The filter module as an OCI image that Istio's agent pulls for a `WasmPlugin`, and a small
//! client of the OCI distribution API to push it (docs/oci-image.md).
//!
//! The layout is the one Istio's image fetcher calls the *compat* variant with OCI media types:
//! an OCI image manifest whose single layer (`application/vnd.oci.image.layer.v1.tar+gzip`) is a
//! tar.gz holding `plugin.wasm`. The image is built deterministically (fixed tar header fields,
//! no timestamps), so its manifest digest — what Istio compares a WasmPlugin's `sha256` with for
//! an `oci://` URL — is a function of the module alone and known before anything is pushed.

use sha2::{Digest as _, Sha256};
use std::io::{Read as _, Write as _};
use std::time::Duration;

pub const MANIFEST_MEDIA_TYPE: &str = "application/vnd.oci.image.manifest.v1+json";
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
pub const LAYER_MEDIA_TYPE: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
/// The file name Istio's agent looks for in the layer.
pub const MODULE_FILE_NAME: &str = "plugin.wasm";
/// A module larger than this is refused on pull (the filter is a few hundred KiB).
const MAX_BLOB_BYTES: u64 = 64 * 1024 * 1024;
/// Every request, connect to last byte.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum OciError {
    #[error("image reference `{0}`: expected [oci://]HOST[:PORT]/REPOSITORY[:TAG|@sha256:HEX]")]
    Reference(String),
    #[error("not a WebAssembly module (no `\\0asm` header)")]
    NotWasm,
    #[error("the WebAssembly module's sections cannot be read ({0})")]
    BadModule(&'static str),
    #[error("{method} {url}: {reason}")]
    Http { method: &'static str, url: String, reason: String },
    #[error("{0}")]
    Layout(String),
}

/// `HOST[:PORT]/REPOSITORY` and a tag or digest, as written after `oci://` in a WasmPlugin.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub registry: String,
    pub repository: String,
    /// A tag, or `sha256:HEX`.
    pub reference: String,
}

impl Reference {
    /// Parses `[oci://]HOST[:PORT]/REPO[:TAG]` or `…/REPO@sha256:HEX`; the tag defaults to
    /// `latest`. The registry host is required (there is no default registry).
    pub fn parse(text: &str) -> Result<Self, OciError> {
        let bad = || OciError::Reference(text.to_owned());
        let rest = text.strip_prefix("oci://").unwrap_or(text);
        let (registry, path) = rest.split_once('/').ok_or_else(bad)?;
        if registry.is_empty() || registry.contains('@') {
            return Err(bad());
        }
        let (repository, reference) = if let Some((repo, digest)) = path.split_once('@') {
            let hex = digest.strip_prefix("sha256:").ok_or_else(bad)?;
            if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(bad());
            }
            (repo, digest.to_owned())
        } else {
            match path.rsplit_once(':') {
                Some((repo, tag)) if !tag.contains('/') => (repo, tag.to_owned()),
                _ => (path, "latest".to_owned()),
            }
        };
        let repo_ok = !repository.is_empty()
            && repository.split('/').all(|seg| {
                !seg.is_empty()
                    && seg.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
            });
        let tag_ok = reference.starts_with("sha256:")
            || (!reference.is_empty()
                && reference.len() <= 128
                && reference.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)));
        if !repo_ok || !tag_ok {
            return Err(bad());
        }
        Ok(Self { registry: registry.to_owned(), repository: repository.to_owned(), reference })
    }

    /// `oci://HOST/REPO:TAG` (or `@sha256:…`), the WasmPlugin `url`.
    pub fn url(&self) -> String {
        let sep = if self.reference.starts_with("sha256:") { '@' } else { ':' };
        format!("oci://{}/{}{sep}{}", self.registry, self.repository, self.reference)
    }
}

/// `sha256:HEX` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(7 + 64);
    out.push_str("sha256:");
    for b in Sha256::digest(bytes) {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// The three blobs of the image of one module, and their digests.
#[derive(Debug, Clone)]
pub struct WasmImage {
    pub module_digest: String,
    pub config: Vec<u8>,
    pub layer: Vec<u8>,
    pub manifest: Vec<u8>,
}

impl WasmImage {
    /// Builds the image of a module. The same module always gives the same bytes.
    pub fn new(module: &[u8]) -> Result<Self, OciError> {
        if !module.starts_with(b"\0asm") {
            return Err(OciError::NotWasm);
        }
        let tar = tar_one_file(MODULE_FILE_NAME, module);
        let mut gz = flate2::GzBuilder::new().mtime(0).write(Vec::new(), flate2::Compression::best());
        gz.write_all(&tar).and_then(|()| gz.try_finish()).map_err(|e| OciError::Layout(e.to_string()))?;
        let layer = gz.finish().map_err(|e| OciError::Layout(e.to_string()))?;
        let module_digest = sha256_digest(module);
        // An image config as the OCI image spec describes it; Istio ignores it, registries and
        // tools (skopeo inspect) show its platform: `wasip1` for a module that imports WASI,
        // `unknown` (the OS of the wasm32-unknown-unknown target) for one that needs nothing of
        // its host but proxy-wasm.
        let os = if imports_wasi(module)? { "wasip1" } else { "unknown" };
        let config = serde_json::to_vec(&serde_json::json!({
            "architecture": "wasm",
            "os": os,
            "config": {},
            "rootfs": {"type": "layers", "diff_ids": [sha256_digest(&tar)]},
        }))
        .map_err(|e| OciError::Layout(e.to_string()))?;
        let manifest = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": MANIFEST_MEDIA_TYPE,
            "config": {"mediaType": CONFIG_MEDIA_TYPE, "digest": sha256_digest(&config), "size": config.len()},
            "layers": [{
                "mediaType": LAYER_MEDIA_TYPE,
                "digest": sha256_digest(&layer),
                "size": layer.len(),
                "annotations": {"org.opencontainers.image.title": MODULE_FILE_NAME},
            }],
            "annotations": {
                "org.opencontainers.image.title": "meshlock-filter",
                "org.opencontainers.image.description": "meshlock proxy-wasm filter (compat variant: plugin.wasm in a tar+gzip layer)",
                "dev.meshlock.module.digest": module_digest,
            },
        }))
        .map_err(|e| OciError::Layout(e.to_string()))?;
        Ok(Self { module_digest, config, layer, manifest })
    }

    /// The manifest digest: what a registry reports for the image and what Istio checks a
    /// WasmPlugin's `sha256` against.
    pub fn manifest_digest(&self) -> String {
        sha256_digest(&self.manifest)
    }
}

/// A ustar archive of one regular file, with every varying header field fixed (owner 0,
/// mode 0644, mtime 0) so the archive depends on the name and content only.
fn tar_one_file(name: &str, content: &[u8]) -> Vec<u8> {
    let mut header = [0u8; 512];
    let size = format!("{:011o}\0", content.len());
    let fields: [(usize, &[u8]); 10] = [
        (0, name.as_bytes()),
        (100, b"0000644\0"),
        (108, b"0000000\0"),
        (116, b"0000000\0"),
        (124, size.as_bytes()),
        (136, b"00000000000\0"),
        // The checksum is computed with its own field as spaces.
        (148, b"        "),
        (156, b"0"),
        (257, b"ustar\0"),
        (263, b"00"),
    ];
    for (at, field) in fields {
        put_field(&mut header, at, field);
    }
    let checksum: u32 = header.iter().map(|&b| u32::from(b)).sum();
    put_field(&mut header, 148, format!("{checksum:06o}\0 ").as_bytes());
    let padding = (512 - content.len() % 512) % 512;
    let mut out = Vec::with_capacity(512 + content.len() + padding + 1024);
    out.extend_from_slice(&header);
    out.extend_from_slice(content);
    out.resize(out.len() + padding + 1024, 0);
    out
}

fn put_field(header: &mut [u8; 512], at: usize, field: &[u8]) {
    if let Some(slot) = header.get_mut(at..at + field.len()) {
        slot.copy_from_slice(field);
    }
}

/// The content of the file named `name` in a tar archive (ustar or GNU headers).
fn tar_find(archive: &[u8], name: &str) -> Option<Vec<u8>> {
    let mut at = 0usize;
    while let Some(header) = archive.get(at..at + 512) {
        if header.iter().all(|&b| b == 0) {
            return None;
        }
        let field = |from: usize, to: usize| header.get(from..to).unwrap_or_default();
        let entry_name = String::from_utf8_lossy(field(0, 100)).trim_end_matches('\0').to_owned();
        let size_text = String::from_utf8_lossy(field(124, 136)).trim_matches(|c| c == '\0' || c == ' ').to_owned();
        let size = usize::from_str_radix(&size_text, 8).ok()?;
        let start = at + 512;
        if entry_name.rsplit('/').next() == Some(name) && field(156, 157) != b"5" {
            return archive.get(start..start.checked_add(size)?).map(<[u8]>::to_vec);
        }
        at = start.checked_add(size.div_ceil(512) * 512)?;
    }
    None
}

/// Extracts the module from a pulled layer the way Istio's agent does for the compat variant.
pub fn module_from_layer(layer: &[u8]) -> Result<Vec<u8>, OciError> {
    let mut tar = Vec::new();
    flate2::read::GzDecoder::new(layer)
        .take(MAX_BLOB_BYTES)
        .read_to_end(&mut tar)
        .map_err(|e| OciError::Layout(format!("the layer is not tar+gzip: {e}")))?;
    tar_find(&tar, MODULE_FILE_NAME).ok_or_else(|| OciError::Layout(format!("the layer holds no `{MODULE_FILE_NAME}`")))
}

/// A registry spoken to over the OCI distribution API: anonymously, with basic credentials, or
/// with the bearer token a registry's token service issues for them (the Docker registry token
/// protocol that Docker Hub, GHCR, Harbor and distribution's `token` auth speak).
pub struct Registry {
    agent: ureq::Agent,
    base: String,
    basic: Option<String>,
    /// The token once a challenge was answered; every later request carries it.
    bearer: std::sync::Mutex<Option<String>>,
}

/// What a pull brings back.
#[derive(Debug, Clone)]
pub struct Pulled {
    pub manifest: Vec<u8>,
    pub manifest_digest: String,
    pub module: Vec<u8>,
}

/// One request: the method, and what it sends.
enum Call<'a> {
    Head,
    Get { accept: &'a str },
    Post,
    Put { content_type: &'a str, body: &'a [u8] },
}

impl Call<'_> {
    fn method(&self) -> &'static str {
        match self {
            Self::Head => "HEAD",
            Self::Get { .. } => "GET",
            Self::Post => "POST",
            Self::Put { .. } => "PUT",
        }
    }
}

type Response = ureq::http::Response<ureq::Body>;

impl Registry {
    /// `plain_http` speaks HTTP instead of HTTPS (a local test registry).
    pub fn new(registry: &str, plain_http: bool, basic: Option<(&str, &str)>) -> Self {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(REQUEST_TIMEOUT))
            .http_status_as_error(false)
            .build()
            .into();
        let scheme = if plain_http { "http" } else { "https" };
        let basic = basic.map(|(user, password)| format!("Basic {}", base64_encode(&format!("{user}:{password}"))));
        Self { agent, base: format!("{scheme}://{registry}"), basic, bearer: std::sync::Mutex::new(None) }
    }

    fn authorization(&self) -> Option<String> {
        let bearer = self.bearer.lock().ok().and_then(|b| b.clone());
        bearer.map(|t| format!("Bearer {t}")).or_else(|| self.basic.clone())
    }

    fn send_once(&self, url: &str, call: &Call<'_>) -> Result<Response, OciError> {
        let auth = self.authorization();
        let with_auth = |r: ureq::RequestBuilder<ureq::typestate::WithoutBody>| match &auth {
            Some(a) => r.header("Authorization", a),
            None => r,
        };
        let with_auth_body = |r: ureq::RequestBuilder<ureq::typestate::WithBody>| match &auth {
            Some(a) => r.header("Authorization", a),
            None => r,
        };
        let sent = match call {
            Call::Head => with_auth(self.agent.head(url)).call(),
            Call::Get { accept } => with_auth(self.agent.get(url)).header("Accept", *accept).call(),
            Call::Post => with_auth_body(self.agent.post(url)).send_empty(),
            Call::Put { content_type, body } => {
                with_auth_body(self.agent.put(url)).header("Content-Type", *content_type).send(*body)
            }
        };
        sent.map_err(|e| http_error(call.method(), url, e.to_string()))
    }

    /// Sends a request; a `401` with a `Bearer` challenge is answered once by asking the token
    /// service named in it (with the basic credentials, if any) and sending again.
    fn send(&self, url: &str, call: &Call<'_>) -> Result<Response, OciError> {
        let response = self.send_once(url, call)?;
        if response.status().as_u16() != 401 {
            return Ok(response);
        }
        let Some(challenge) = header(&response, "WWW-Authenticate").and_then(|h| bearer_challenge(&h)) else {
            return Ok(response);
        };
        let token = self.token(&challenge).map_err(|reason| http_error(call.method(), url, reason))?;
        if let Ok(mut bearer) = self.bearer.lock() {
            *bearer = Some(token);
        }
        self.send_once(url, call)
    }

    /// Asks the token service for a token: `GET realm?service=…&scope=…`.
    fn token(&self, challenge: &BearerChallenge) -> Result<String, String> {
        let mut request = self.agent.get(&challenge.realm);
        if let Some(service) = &challenge.service {
            request = request.query("service", service);
        }
        if let Some(scope) = &challenge.scope {
            request = request.query("scope", scope);
        }
        if let Some(basic) = &self.basic {
            request = request.header("Authorization", basic);
        }
        let response = request.call().map_err(|e| format!("token service {}: {e}", challenge.realm))?;
        let status = response.status().as_u16();
        if status != 200 {
            let hint = if self.basic.is_none() {
                " (give credentials: --username with MESHLOCK_REGISTRY_PASSWORD)"
            } else {
                ""
            };
            return Err(format!("token service {} answered HTTP {status}{hint}", challenge.realm));
        }
        let body = response
            .into_body()
            .with_config()
            .limit(1024 * 1024)
            .read_to_vec()
            .map_err(|e| format!("token service {}: {e}", challenge.realm))?;
        let answer: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| format!("token service {}: {e}", challenge.realm))?;
        ["token", "access_token"]
            .iter()
            .find_map(|k| answer.get(k).and_then(|t| t.as_str()))
            .map(str::to_owned)
            .ok_or_else(|| format!("token service {} gave no token", challenge.realm))
    }

    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_owned()
        } else {
            format!("{}{location}", self.base)
        }
    }

    /// Pushes the image's blobs (skipping those the registry has) and its manifest under the
    /// reference's tag or digest; returns the manifest digest the registry reports.
    pub fn push(&self, image: &WasmImage, to: &Reference) -> Result<String, OciError> {
        for blob in [&image.config, &image.layer] {
            self.push_blob(&to.repository, blob)?;
        }
        let url = format!("{}/v2/{}/manifests/{}", self.base, to.repository, to.reference);
        let response = self.send(&url, &Call::Put { content_type: MANIFEST_MEDIA_TYPE, body: &image.manifest })?;
        expect_status("PUT", &url, response.status().as_u16(), &[201])?;
        let reported = header(&response, "Docker-Content-Digest").unwrap_or_else(|| image.manifest_digest());
        if reported != image.manifest_digest() {
            return Err(http_error(
                "PUT",
                &url,
                format!("the registry reports digest {reported}, the manifest sent is {}", image.manifest_digest()),
            ));
        }
        Ok(reported)
    }

    /// Monolithic upload: POST for an upload location, then one PUT with the whole blob.
    fn push_blob(&self, repository: &str, blob: &[u8]) -> Result<(), OciError> {
        let digest = sha256_digest(blob);
        let url = format!("{}/v2/{repository}/blobs/{digest}", self.base);
        let head = self.send(&url, &Call::Head)?;
        if head.status().as_u16() == 200 {
            return Ok(());
        }
        let url = format!("{}/v2/{repository}/blobs/uploads/", self.base);
        let started = self.send(&url, &Call::Post)?;
        expect_status("POST", &url, started.status().as_u16(), &[202])?;
        let location = header(&started, "Location")
            .ok_or_else(|| http_error("POST", &url, "no Location for the upload".to_owned()))?;
        let location = self.absolute(&location);
        let sep = if location.contains('?') { '&' } else { '?' };
        let url = format!("{location}{sep}digest={digest}");
        let done = self.send(&url, &Call::Put { content_type: "application/octet-stream", body: blob })?;
        expect_status("PUT", &url, done.status().as_u16(), &[201])
    }

    fn get(&self, url: &str, accept: &str) -> Result<(Vec<u8>, Option<String>), OciError> {
        let response = self.send(url, &Call::Get { accept })?;
        expect_status("GET", url, response.status().as_u16(), &[200])?;
        let digest = header(&response, "Docker-Content-Digest");
        let body = response
            .into_body()
            .with_config()
            .limit(MAX_BLOB_BYTES)
            .read_to_vec()
            .map_err(|e| http_error("GET", url, e.to_string()))?;
        Ok((body, digest))
    }

    /// Pulls an image as Istio's agent does (compat variant) and checks every digest on the way.
    pub fn pull(&self, from: &Reference) -> Result<Pulled, OciError> {
        let url = format!("{}/v2/{}/manifests/{}", self.base, from.repository, from.reference);
        let (manifest, _) = self.get(&url, MANIFEST_MEDIA_TYPE)?;
        let manifest_digest = sha256_digest(&manifest);
        if from.reference.starts_with("sha256:") && from.reference != manifest_digest {
            return Err(OciError::Layout(format!("manifest digest {manifest_digest}, asked for {}", from.reference)));
        }
        let parsed: serde_json::Value =
            serde_json::from_slice(&manifest).map_err(|e| OciError::Layout(format!("manifest: {e}")))?;
        let layer = parsed
            .get("layers")
            .and_then(|l| l.as_array())
            .and_then(|l| l.last())
            .ok_or_else(|| OciError::Layout("the manifest has no layers".to_owned()))?;
        let media_type = layer.get("mediaType").and_then(|m| m.as_str()).unwrap_or_default();
        if media_type != LAYER_MEDIA_TYPE {
            return Err(OciError::Layout(format!("layer media type {media_type}, expected {LAYER_MEDIA_TYPE}")));
        }
        let digest = layer.get("digest").and_then(|d| d.as_str()).unwrap_or_default();
        let url = format!("{}/v2/{}/blobs/{digest}", self.base, from.repository);
        let (blob, _) = self.get(&url, "application/octet-stream")?;
        if sha256_digest(&blob) != digest {
            return Err(OciError::Layout(format!("layer content does not match its digest {digest}")));
        }
        Ok(Pulled { module: module_from_layer(&blob)?, manifest, manifest_digest })
    }
}

/// `Bearer realm="…",service="…",scope="…"`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct BearerChallenge {
    realm: String,
    service: Option<String>,
    scope: Option<String>,
}

fn bearer_challenge(header: &str) -> Option<BearerChallenge> {
    let params = header.trim().strip_prefix("Bearer ").or_else(|| header.trim().strip_prefix("bearer "))?;
    let mut fields = std::collections::BTreeMap::new();
    let mut rest = params.trim();
    while let Some((key, after)) = rest.split_once('=') {
        let key = key.trim().trim_start_matches(',').trim().to_ascii_lowercase();
        let after = after.trim_start();
        let (value, next) = match after.strip_prefix('"') {
            Some(quoted) => quoted.split_once('"').unwrap_or((quoted, "")),
            None => after.split_once(',').unwrap_or((after, "")),
        };
        fields.insert(key, value.to_owned());
        rest = next.trim_start().trim_start_matches(',');
    }
    Some(BearerChallenge {
        realm: fields.remove("realm")?,
        service: fields.remove("service"),
        scope: fields.remove("scope"),
    })
}

fn header(response: &Response, name: &str) -> Option<String> {
    response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
}

fn http_error(method: &'static str, url: &str, reason: String) -> OciError {
    OciError::Http { method, url: url.to_owned(), reason }
}

fn expect_status(method: &'static str, url: &str, status: u16, ok: &[u16]) -> Result<(), OciError> {
    if ok.contains(&status) {
        return Ok(());
    }
    let hint = match status {
        401 | 403 => " (the registry wants credentials: --username with MESHLOCK_REGISTRY_PASSWORD)",
        _ => "",
    };
    Err(http_error(method, url, format!("HTTP {status}{hint}")))
}

fn base64_encode(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let symbol = |i: u32| ALPHABET.get((i & 63) as usize).copied().map_or('=', char::from);
    let mut out = String::new();
    for chunk in text.as_bytes().chunks(3) {
        let b = |i: usize| chunk.get(i).copied().map_or(0, u32::from);
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        out.push(symbol(n >> 18));
        out.push(symbol(n >> 12));
        out.push(if chunk.len() > 1 { symbol(n >> 6) } else { '=' });
        out.push(if chunk.len() > 2 { symbol(n) } else { '=' });
    }
    out
}

/// Whether a module imports from `wasi_snapshot_preview1` (a wasm32-wasip1 build), read from
/// its import section alone (the binary format's section and import encodings).
fn imports_wasi(module: &[u8]) -> Result<bool, OciError> {
    let mut r = ModuleBytes { bytes: module, at: 8 };
    while r.at < module.len() {
        let id = r.byte()?;
        let size = usize::try_from(r.leb()?).map_err(|_| OciError::BadModule("section size"))?;
        let end = r.at.checked_add(size).filter(|&e| e <= module.len()).ok_or(OciError::BadModule("section size"))?;
        if id != 2 {
            r.at = end;
            continue;
        }
        for _ in 0..r.leb()? {
            let from = r.name()?;
            r.name()?;
            if from == b"wasi_snapshot_preview1" {
                return Ok(true);
            }
            // What is imported, to step over it: a function's type index; a table's element
            // type and limits; a memory's limits; a global's value type and mutability; a tag's
            // attribute and type index.
            match r.byte()? {
                0x00 => {
                    r.leb()?;
                }
                0x01 => {
                    r.byte()?;
                    r.limits()?;
                }
                0x02 => r.limits()?,
                0x03 => {
                    r.byte()?;
                    r.byte()?;
                }
                0x04 => {
                    r.byte()?;
                    r.leb()?;
                }
                _ => return Err(OciError::BadModule("import kind")),
            }
        }
        return Ok(false);
    }
    Ok(false)
}

/// A cursor over a module's bytes for [`imports_wasi`].
struct ModuleBytes<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> ModuleBytes<'a> {
    fn byte(&mut self) -> Result<u8, OciError> {
        let b = self.bytes.get(self.at).copied().ok_or(OciError::BadModule("truncated"))?;
        self.at += 1;
        Ok(b)
    }

    /// An unsigned LEB128 number (at most 64 bits).
    fn leb(&mut self) -> Result<u64, OciError> {
        let mut value = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            value |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(OciError::BadModule("number too long"))
    }

    fn name(&mut self) -> Result<&'a [u8], OciError> {
        let len = usize::try_from(self.leb()?).map_err(|_| OciError::BadModule("name"))?;
        let end = self.at.checked_add(len).ok_or(OciError::BadModule("name"))?;
        let name = self.bytes.get(self.at..end).ok_or(OciError::BadModule("truncated"))?;
        self.at = end;
        Ok(name)
    }

    /// Table or memory limits: flags, the minimum, and the maximum when the flags say so.
    fn limits(&mut self) -> Result<(), OciError> {
        let flags = self.byte()?;
        self.leb()?;
        if flags & 1 != 0 {
            self.leb()?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn references_parse_as_istio_writes_them() {
        let r = Reference::parse("oci://127.0.0.1:5000/meshlock/filter:v1").unwrap();
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str(), r.reference.as_str()),
            ("127.0.0.1:5000", "meshlock/filter", "v1")
        );
        assert_eq!(r.url(), "oci://127.0.0.1:5000/meshlock/filter:v1");
        assert_eq!(Reference::parse("ghcr.io/team/filter").unwrap().reference, "latest");
        let pinned = format!("ghcr.io/team/filter@sha256:{}", "a".repeat(64));
        assert_eq!(Reference::parse(&pinned).unwrap().url(), format!("oci://{pinned}"));
        for bad in ["filter", "oci:///x", "host/Upper", "host/x:bad tag", "host/x@sha256:12"] {
            assert!(Reference::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_image_is_a_function_of_the_module() {
        let a = WasmImage::new(MODULE).unwrap();
        let b = WasmImage::new(MODULE).unwrap();
        assert_eq!(a.manifest, b.manifest);
        assert_eq!(module_from_layer(&a.layer).unwrap(), MODULE);
        assert!(WasmImage::new(b"not wasm").is_err());
    }

    /// The image config's `os`, from a module written in the text format.
    fn os_of(wat: &str) -> Result<String, OciError> {
        let image = WasmImage::new(&wat::parse_str(wat).unwrap())?;
        let config: serde_json::Value = serde_json::from_slice(&image.config).unwrap();
        Ok(config["os"].as_str().unwrap().to_owned())
    }

    #[test]
    fn the_config_names_wasi_only_for_a_module_that_imports_it() {
        let wasi = r#"(module
            (import "env" "proxy_log" (func (param i32 i32 i32) (result i32)))
            (import "env" "memory" (memory 1 2))
            (import "env" "table" (table 1 funcref))
            (import "env" "g" (global (mut i32)))
            (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32))))"#;
        assert_eq!(os_of(wasi).unwrap(), "wasip1");
        let proxy_only = r#"(module (import "env" "proxy_log" (func (param i32 i32 i32) (result i32))) (memory 1))"#;
        assert_eq!(os_of(proxy_only).unwrap(), "unknown");
        assert_eq!(os_of("(module)").unwrap(), "unknown");
        // An import section cut short is refused, not guessed at.
        let mut cut = wat::parse_str(wasi).unwrap();
        cut.truncate(30);
        assert!(matches!(WasmImage::new(&cut), Err(OciError::BadModule(_))));
    }

    #[test]
    fn tar_headers_carry_a_valid_checksum() {
        let tar = tar_one_file("plugin.wasm", MODULE);
        assert_eq!(tar.len(), 512 + 512 + 1024);
        let mut header = tar[..512].to_vec();
        let stored = u32::from_str_radix(std::str::from_utf8(&header[148..154]).unwrap(), 8).unwrap();
        header[148..156].copy_from_slice(b"        ");
        assert_eq!(stored, header.iter().map(|&b| u32::from(b)).sum::<u32>());
        assert_eq!(tar_find(&tar, "plugin.wasm").unwrap(), MODULE);
    }

    #[test]
    fn bearer_challenges_parse() {
        let c = bearer_challenge(
            r#"Bearer realm="https://auth.example.com/token",service="registry.example.com",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.realm, "https://auth.example.com/token");
        assert_eq!(c.service.as_deref(), Some("registry.example.com"));
        assert_eq!(c.scope.as_deref(), Some("repository:a/b:pull,push"));
        assert_eq!(bearer_challenge(r#"Basic realm="x""#), None);
        assert_eq!(bearer_challenge("Bearer service=x").map(|c| c.realm), None);
    }

    #[test]
    fn basic_credentials_encode() {
        assert_eq!(base64_encode("user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64_encode("ab"), "YWI=");
    }
}
