//! `meshlock host`: the data path over real sockets. A small tokio TCP proxy: each accepted
//! connection runs through a [`Connection`] (sniffing, rustls, the filter) and, once the filter
//! lets it through, is relayed to the upstream.

use crate::datapath::{ConnMeta, Connection, Listener};
use meshlock_proxy_host::FilterVm;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};

/// How long a connection may take to be admitted.
pub const DECISION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);

/// What every connection shares. The VM is one instance behind a mutex, like one Envoy worker.
/// The listener (server certificate) can be replaced while serving: connections already
/// accepted keep the one they started with.
#[derive(Clone)]
pub struct Proxy {
    listener: Arc<RwLock<Listener>>,
    pub vm: Arc<Mutex<FilterVm>>,
    pub upstream: SocketAddr,
    /// The port the filter sees as `destination.port` when the listener's own port is not the
    /// workload's (Istio's inbound listener sees the original destination, not 15006).
    original_port: Option<u16>,
    next_id: Arc<AtomicU64>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("upstream", &self.upstream).finish_non_exhaustive()
    }
}

impl Proxy {
    pub fn new(listener: Listener, vm: FilterVm, upstream: SocketAddr) -> Self {
        Self {
            listener: Arc::new(RwLock::new(listener)),
            vm: Arc::new(Mutex::new(vm)),
            upstream,
            original_port: None,
            next_id: Arc::new(AtomicU64::new(1)),
        }
    }

    /// Connections report `port` as their destination port.
    #[must_use]
    pub fn with_original_port(mut self, port: u16) -> Self {
        self.original_port = Some(port);
        self
    }

    /// New connections use `listener` from now on (certificate rotation); established ones
    /// are not touched.
    pub fn set_listener(&self, listener: Listener) {
        if let Ok(mut current) = self.listener.write() {
            *current = listener;
        }
    }

    fn current_listener(&self) -> std::io::Result<Listener> {
        self.listener.read().map(|l| l.clone()).map_err(|_| std::io::Error::other("listener lock poisoned"))
    }

    /// Accepts connections until the listener fails.
    pub async fn serve(self, socket: TcpListener) -> std::io::Result<()> {
        loop {
            let (stream, peer) = socket.accept().await?;
            let mut local = stream.local_addr()?;
            if let Some(port) = self.original_port {
                local.set_port(port);
            }
            let proxy = self.clone();
            tokio::spawn(async move {
                if let Err(e) = proxy.handle(stream, peer, local).await {
                    eprintln!("meshlock host: connection from {peer}: {e}");
                }
            });
        }
    }

    fn with_vm<R>(&self, f: impl FnOnce(&mut FilterVm) -> R) -> Option<R> {
        let mut guard = self.vm.lock().ok()?;
        Some(f(&mut guard))
    }

    async fn handle(&self, mut down: TcpStream, peer: SocketAddr, local: SocketAddr) -> std::io::Result<()> {
        let meta = ConnMeta { id: self.next_id.fetch_add(1, Ordering::Relaxed), source: peer, destination: local };
        let mut conn = Connection::new(&self.current_listener()?, &meta);
        let mut up: Option<TcpStream> = None;
        let mut down_open = true;
        let mut dbuf = vec![0u8; 16 * 1024];
        let mut ubuf = vec![0u8; 16 * 1024];
        // Like Envoy's listener_filters_timeout (15 s): a connection that has not been let
        // through by then (sniffing, handshake, first data) is closed.
        let deadline = tokio::time::Instant::now() + DECISION_TIMEOUT;
        let result = loop {
            tokio::select! {
                () = tokio::time::sleep_until(deadline), if !conn.is_admitted() => {
                    eprintln!("meshlock host: connection from {peer}: not admitted within {DECISION_TIMEOUT:?}, closed");
                    break Ok(());
                }
                r = down.read(&mut dbuf), if down_open => {
                    match r {
                        Ok(0) | Err(_) => {
                            down_open = false;
                            if self.with_vm(|vm| conn.client_eof(vm)).is_none() {
                                break Ok(());
                            }
                            if let Some(u) = up.as_mut() {
                                let _ = u.shutdown().await;
                            }
                        }
                        Ok(n) => {
                            let data = dbuf.get(..n).unwrap_or_default();
                            if self.with_vm(|vm| conn.receive(vm, data)).is_none() {
                                break Ok(());
                            }
                        }
                    }
                }
                r = async {
                    match up.as_mut() {
                        Some(u) => u.read(&mut ubuf).await,
                        None => std::future::pending().await,
                    }
                } => {
                    match r {
                        Ok(0) | Err(_) => conn.upstream_closed(),
                        Ok(n) => {
                            let data = ubuf.get(..n).unwrap_or_default();
                            if self.with_vm(|vm| conn.upstream_data(vm, data)).is_none() {
                                break Ok(());
                            }
                        }
                    }
                }
            }
            let to_up = conn.take_to_upstream();
            if !to_up.is_empty() {
                if up.is_none() {
                    match TcpStream::connect(self.upstream).await {
                        Ok(s) => up = Some(s),
                        Err(e) => break Err(e),
                    }
                }
                if let Some(u) = up.as_mut()
                    && let Err(e) = u.write_all(&to_up).await
                {
                    break Err(e);
                }
            }
            let to_client = conn.take_to_client();
            if !to_client.is_empty() && down.write_all(&to_client).await.is_err() {
                break Ok(());
            }
            if conn.is_closed() || (!down_open && up.is_none()) {
                break Ok(());
            }
        };
        let _ = down.shutdown().await;
        self.with_vm(|vm| conn.finish(vm));
        if let Some(e) = conn.outcome().handshake_error {
            eprintln!("meshlock host: connection from {peer}: TLS handshake failed: {e}");
        }
        result
    }
}
