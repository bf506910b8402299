//! The filter as an OCI image in a real registry: Debian's docker-registry (the CNCF
//! distribution server) on 127.0.0.1, pushed to by `meshlock oci push`, read back by meshlock's
//! client, by skopeo, and by tar; `envoy-config --wasm-plugin --image` pins the same digest.
//! `scripts/setup.sh` installs docker-registry and skopeo.

use crate::support::{root, scratch, wasm_path};
use meshlock_cli::oci::{self, Reference, Registry, WasmImage};
use meshlock_testbed::envoy::process::free_port;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

const DOCKER_REGISTRY: &str = "/usr/bin/docker-registry";
const SKOPEO: &str = "/usr/bin/skopeo";

/// A docker-registry child process with its own storage, stopped by PID when dropped.
struct TestRegistry {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

/// An htpasswd line for user `meshlock`: the bcrypt hash (cost 4, the cheapest) of
/// [`PASSWORD`], computed once with Python's `bcrypt` package.
const HTPASSWD: &str = "meshlock:$2b$04$PObASmOSTRxYG0m9CvyYX.Rj7X/W3YdydgBQT0zIdXltUV5ImyygG\n";
const PASSWORD: &str = "meshlock-test-password";

impl TestRegistry {
    fn start(dir: &Path) -> Self {
        Self::start_with(dir, "")
    }

    /// A registry that wants basic credentials (distribution's htpasswd backend).
    fn start_with_password(dir: &Path) -> Self {
        std::fs::create_dir_all(dir).expect("dir");
        let htpasswd = dir.join("htpasswd");
        std::fs::write(&htpasswd, HTPASSWD).expect("htpasswd");
        Self::start_with(
            dir,
            &format!("auth:\n  htpasswd:\n    realm: meshlock-test\n    path: {}\n", htpasswd.display()),
        )
    }

    fn start_with(dir: &Path, auth: &str) -> Self {
        for tool in [DOCKER_REGISTRY, SKOPEO] {
            assert!(
                Path::new(tool).is_file(),
                "{tool} is missing: run scripts/setup.sh (it installs Debian's docker-registry and skopeo)"
            );
        }
        let addr = free_port().expect("free port");
        let storage = dir.join("storage");
        std::fs::create_dir_all(&storage).expect("storage");
        let config = dir.join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {addr}\n{auth}",
                storage.display()
            ),
        )
        .expect("config");
        let log = std::fs::File::create(dir.join("registry.log")).expect("log");
        let child = Command::new(DOCKER_REGISTRY)
            .arg("serve")
            .arg(&config)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("start docker-registry");
        let registry = Self { child, addr, dir: dir.to_owned() };
        // Ready when /v2/ answers; at most 100 tries, 100 ms apart.
        let ready = (0..100).any(|_| {
            let answered = answers_v2(addr);
            if !answered {
                std::thread::sleep(Duration::from_millis(100));
            }
            answered
        });
        assert!(ready, "docker-registry did not answer on {addr}: {}", registry.log());
        registry
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("registry.log")).unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `GET /v2/` answers (200, or 401 when it wants credentials): the registry is up.
fn answers_v2(addr: SocketAddr) -> bool {
    use std::io::{Read as _, Write as _};
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let mut head = [0u8; 12];
    s.write_all(b"GET /v2/ HTTP/1.0\r\nHost: localhost\r\n\r\n").is_ok()
        && s.read_exact(&mut head).is_ok()
        && (head.ends_with(b"200") || head.ends_with(b"401"))
}

fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program).args(args).current_dir(root()).output().expect(program)
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_filter_image_round_trips_through_a_real_registry() {
    let dir = scratch("oci-registry");
    let registry = TestRegistry::start(&dir);
    let wasm = wasm_path(meshlock_testbed::FILTER_WASIP1);
    let module = std::fs::read(&wasm).unwrap();
    let image = WasmImage::new(&module).unwrap();
    let target = format!("{}/meshlock/filter:v1", registry.addr);

    // Push with the CLI.
    let meshlock = env!("CARGO_BIN_EXE_meshlock");
    let pushed = run(meshlock, &["oci", "push", "--plain-http", "--wasm", wasm.to_str().unwrap(), &target]);
    assert_eq!(pushed.status.code(), Some(0), "{}\n{}", text(&pushed), registry.log());
    let out = String::from_utf8_lossy(&pushed.stdout).into_owned();
    assert!(out.contains(&format!("image: oci://{target}")), "{out}");
    assert!(out.contains(&format!("manifest: {}", image.manifest_digest())), "{out}");
    assert!(out.contains(&format!("module: {}", oci::sha256_digest(&module))), "{out}");
    // A second push finds the blobs there and changes nothing.
    let again = run(meshlock, &["oci", "push", "--plain-http", "--wasm", wasm.to_str().unwrap(), &target]);
    assert_eq!(again.stdout, pushed.stdout, "{}", text(&again));

    // Pull back by tag and by digest: the module, byte for byte.
    let client = Registry::new(&registry.addr.to_string(), true, None);
    let pulled = client.pull(&Reference::parse(&target).unwrap()).expect("pull by tag");
    assert_eq!(pulled.manifest_digest, image.manifest_digest());
    assert_eq!(oci::sha256_digest(&pulled.module), oci::sha256_digest(&module));
    assert_eq!(pulled.module, module);
    let by_digest = format!("{}/meshlock/filter@{}", registry.addr, image.manifest_digest());
    assert_eq!(client.pull(&Reference::parse(&by_digest).unwrap()).expect("pull by digest").module, module);

    // skopeo agrees on the digest and reads the manifest meshlock wrote, with its media types.
    let docker_ref = format!("docker://{target}");
    let inspect = run(SKOPEO, &["inspect", "--tls-verify=false", &docker_ref]);
    assert_eq!(inspect.status.code(), Some(0), "{}", text(&inspect));
    let facts: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(facts["Digest"], image.manifest_digest());
    assert_eq!(facts["Architecture"], "wasm");
    assert_eq!(facts["Os"], "wasip1");
    let raw = run(SKOPEO, &["inspect", "--raw", "--tls-verify=false", &docker_ref]);
    assert_eq!(raw.stdout, image.manifest, "the registry serves the manifest as pushed");
    let manifest: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    assert_eq!(manifest["mediaType"], oci::MANIFEST_MEDIA_TYPE);
    assert_eq!(manifest["config"]["mediaType"], oci::CONFIG_MEDIA_TYPE);
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(manifest["layers"][0]["mediaType"], oci::LAYER_MEDIA_TYPE);

    // skopeo copies the image out; tar finds plugin.wasm in the layer, the module again.
    let copy = dir.join("copy");
    let copied = run(SKOPEO, &["copy", "--src-tls-verify=false", &docker_ref, &format!("dir:{}", copy.display())]);
    assert_eq!(copied.status.code(), Some(0), "{}", text(&copied));
    let layer_digest = manifest["layers"][0]["digest"].as_str().unwrap();
    let layer = copy.join(layer_digest.trim_start_matches("sha256:"));
    let extracted = run("tar", &["-xzOf", layer.to_str().unwrap(), oci::MODULE_FILE_NAME]);
    assert_eq!(extracted.status.code(), Some(0), "{}", text(&extracted));
    assert_eq!(oci::sha256_digest(&extracted.stdout), oci::sha256_digest(&module));

    // The WasmPlugin points at the pushed image with the digest Istio's agent checks.
    let plugin = run(
        meshlock,
        &[
            "envoy-config",
            "--wasm-plugin",
            "--workload",
            "foo/httpbin",
            "--filter",
            wasm.to_str().unwrap(),
            "--image",
            &format!("oci://{target}"),
            "examples/authn",
        ],
    );
    assert_eq!(plugin.status.code(), Some(0), "{}", text(&plugin));
    let m: serde_json::Value = serde_yaml::from_slice(&plugin.stdout).unwrap();
    assert_eq!(m["spec"]["url"], format!("oci://{target}"));
    assert_eq!(
        format!("sha256:{}", m["spec"]["sha256"].as_str().unwrap()),
        facts["Digest"].as_str().unwrap(),
        "the WasmPlugin's sha256 is the manifest digest the registry reports"
    );

    // A registry that is not there: exit 2 with the URL, no hang.
    let gone = free_port().unwrap();
    let refused =
        run(meshlock, &["oci", "push", "--plain-http", "--wasm", wasm.to_str().unwrap(), &format!("{gone}/x/y:v1")]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(text(&refused).contains(&gone.to_string()), "{}", text(&refused));
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
}

/// skopeo and meshlock's client, given the credentials, read back the image that was pushed.
fn assert_readable_with_credentials(registry: &TestRegistry, target: &str, image: &WasmImage) {
    let inspect = run(
        SKOPEO,
        &["inspect", "--tls-verify=false", "--creds", &format!("meshlock:{PASSWORD}"), &format!("docker://{target}")],
    );
    assert_eq!(inspect.status.code(), Some(0), "{}", text(&inspect));
    let facts: serde_json::Value = serde_json::from_slice(&inspect.stdout).unwrap();
    assert_eq!(facts["Digest"], image.manifest_digest());
    let pulled = Registry::new(&registry.addr.to_string(), true, Some(("meshlock", PASSWORD)))
        .pull(&Reference::parse(target).unwrap())
        .expect("pull with credentials");
    assert_eq!(oci::sha256_digest(&pulled.module), image.module_digest);
}

#[test]
fn a_registry_that_wants_credentials_gets_basic_auth() {
    let dir = scratch("oci-registry-auth");
    let registry = TestRegistry::start_with_password(&dir);
    let wasm = wasm_path(meshlock_testbed::FILTER_WASIP1);
    let image = WasmImage::new(&std::fs::read(&wasm).unwrap()).unwrap();
    let target = format!("{}/meshlock/filter:v1", registry.addr);
    let push = |user: Option<&str>, password: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_meshlock"));
        command.args(["oci", "push", "--plain-http", "--wasm", wasm.to_str().unwrap(), &target]);
        command.env_remove("MESHLOCK_REGISTRY_PASSWORD");
        if let Some(user) = user {
            command.args(["--username", user]);
        }
        if let Some(password) = password {
            command.env("MESHLOCK_REGISTRY_PASSWORD", password);
        }
        command.output().expect("meshlock oci push")
    };

    let anonymous = push(None, None);
    assert_eq!(anonymous.status.code(), Some(2));
    assert!(text(&anonymous).contains("HTTP 401") && text(&anonymous).contains("--username"), "{}", text(&anonymous));
    let wrong = push(Some("meshlock"), Some("not-the-password"));
    assert_eq!(wrong.status.code(), Some(2), "{}", text(&wrong));
    let no_password = push(Some("meshlock"), None);
    assert_eq!(no_password.status.code(), Some(2));
    assert!(text(&no_password).contains("MESHLOCK_REGISTRY_PASSWORD"), "{}", text(&no_password));

    let pushed = push(Some("meshlock"), Some(PASSWORD));
    assert_eq!(pushed.status.code(), Some(0), "{}\n{}", text(&pushed), registry.log());
    assert_readable_with_credentials(&registry, &target, &image);
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
}

const TOKEN_SERVICE: &str = "meshlock-test-registry";
const TOKEN_ISSUER: &str = "meshlock-test-issuer";

/// A token service as registries use (the Docker registry token protocol): `GET /token` with
/// basic credentials answers a JWT, ES256-signed by a key whose certificate the registry trusts
/// (`x5c`), granting the scope asked for. Serves on 127.0.0.1 until dropped.
struct TokenService {
    addr: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

fn base64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = |i: usize| u32::from(chunk.get(i).copied().unwrap_or(0));
        let n = (b(0) << 16) | (b(1) << 8) | b(2);
        for (i, shift) in [18, 12, 6, 0].into_iter().enumerate() {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> shift) & 63) as usize]));
            } else if !url_safe {
                out.push('=');
            }
        }
    }
    out
}

impl TokenService {
    /// Writes the certificate the registry trusts to `cert_path` and starts serving.
    fn start(cert_path: &Path) -> Self {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert =
            rcgen::CertificateParams::new(vec!["meshlock-token-issuer".to_owned()]).unwrap().self_signed(&key).unwrap();
        std::fs::write(cert_path, cert.pem()).unwrap();
        let x5c = base64(cert.der(), false);
        let signer = ring::signature::EcdsaKeyPair::from_pkcs8(
            &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            &key.serialize_der(),
            &ring::rand::SystemRandom::new(),
        )
        .unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopping = std::sync::Arc::clone(&stop);
        let expected = format!("Basic {}", base64(format!("meshlock:{PASSWORD}").as_bytes(), false));
        let thread = std::thread::spawn(move || {
            // Polled every 20 ms until the test drops the service.
            while !stopping.load(std::sync::atomic::Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => answer(stream, &expected, &signer, &x5c),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Self { addr, stop, thread: Some(thread) }
    }
}

/// One token request: 401 without the right basic credentials, else a token for the scope.
fn answer(mut stream: std::net::TcpStream, expected: &str, signer: &ring::signature::EcdsaKeyPair, x5c: &str) {
    use std::io::{BufRead as _, Write as _};
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
    let mut lines = Vec::new();
    for _ in 0..100 {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        lines.push(line.trim_end().to_owned());
    }
    let target = lines.first().and_then(|l| l.split(' ').nth(1)).unwrap_or_default().to_owned();
    let authorized = lines
        .iter()
        .any(|l| l.strip_prefix("Authorization: ").or_else(|| l.strip_prefix("authorization: ")) == Some(expected));
    let scope = target
        .split_once('?')
        .map(|(_, q)| q)
        .unwrap_or_default()
        .split('&')
        .find_map(|kv| kv.strip_prefix("scope="))
        .map(|s| s.replace("%3A", ":").replace("%2F", "/").replace("%2C", ","))
        .unwrap_or_default();
    let response = if authorized {
        // scope = repository:NAME:ACTIONS
        let mut parts = scope.splitn(3, ':');
        let (kind, name, actions) =
            (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let header = serde_json::json!({"typ": "JWT", "alg": "ES256", "x5c": [x5c]});
        let claims = serde_json::json!({
            "iss": TOKEN_ISSUER, "sub": "meshlock", "aud": TOKEN_SERVICE,
            "exp": now + 300, "nbf": now - 10, "iat": now, "jti": format!("{now}-{name}"),
            "access": [{"type": kind, "name": name, "actions": actions.split(',').collect::<Vec<_>>()}],
        });
        let signing_input =
            format!("{}.{}", base64(header.to_string().as_bytes(), true), base64(claims.to_string().as_bytes(), true));
        let signature = signer.sign(&ring::rand::SystemRandom::new(), signing_input.as_bytes()).unwrap();
        let body =
            serde_json::json!({"token": format!("{signing_input}.{}", base64(signature.as_ref(), true))}).to_string();
        format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_owned()
    };
    let _ = stream.write_all(response.as_bytes());
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The protocol of Docker Hub, GHCR and Harbor: the registry answers 401 with a Bearer
/// challenge, meshlock asks the token service (with the credentials) and sends again.
#[test]
fn a_registry_with_a_token_service_gets_a_bearer_token() {
    let dir = scratch("oci-registry-token");
    let cert = dir.join("token-issuer.crt");
    let tokens = TokenService::start(&cert);
    let auth = format!(
        "auth:\n  token:\n    realm: http://{}/token\n    service: {TOKEN_SERVICE}\n    issuer: {TOKEN_ISSUER}\n    rootcertbundle: {}\n",
        tokens.addr,
        cert.display()
    );
    let registry = TestRegistry::start_with(&dir, &auth);
    let wasm = wasm_path(meshlock_testbed::FILTER_WASIP1);
    let image = WasmImage::new(&std::fs::read(&wasm).unwrap()).unwrap();
    let target = format!("{}/meshlock/filter:v1", registry.addr);
    let push = |password: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_meshlock"));
        command.args(["oci", "push", "--plain-http", "--wasm", wasm.to_str().unwrap(), &target]);
        command.env_remove("MESHLOCK_REGISTRY_PASSWORD");
        if let Some(password) = password {
            command.args(["--username", "meshlock"]).env("MESHLOCK_REGISTRY_PASSWORD", password);
        }
        command.output().expect("meshlock oci push")
    };

    let anonymous = push(None);
    assert_eq!(anonymous.status.code(), Some(2));
    assert!(
        text(&anonymous).contains("token service") && text(&anonymous).contains("--username"),
        "{}",
        text(&anonymous)
    );
    let pushed = push(Some(PASSWORD));
    assert_eq!(pushed.status.code(), Some(0), "{}\n{}", text(&pushed), registry.log());
    assert!(text(&pushed).contains(&image.manifest_digest()), "{}", text(&pushed));

    assert_readable_with_credentials(&registry, &target, &image);
    drop(registry);
    drop(tokens);
    let _ = std::fs::remove_dir_all(&dir);
}
