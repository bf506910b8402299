//! A proxy-wasm ABI 0.2.1 host on wasmtime 48: enough of Envoy for the meshlock filter, and
//! for any module built with the proxy-wasm Rust SDK 0.2.5 (every `env` import it declares is
//! defined; the ones Envoy would serve from other subsystems answer NotFound).
//!
//! One [`FilterModule`] holds the Engine, the compiled Module and the Linker's `InstancePre`;
//! each [`FilterVm`] is one instance with its state in the `Store` (no globals), like one Envoy
//! worker's VM. Streams (connections or requests) are contexts under its root context, created
//! and torn down in Envoy's order: `on_context_create`, the callbacks, `on_done`, `on_log`,
//! `on_delete`.
//!
//! A trap (the SDK turns a panic into `unreachable`) kills the VM: every later call fails, as
//! with Envoy's `FAIL_CLOSED`.
//!
//! The host contains its guest ([`GuestLimits`]): every callback runs under a deadline (epoch
//! interruption, ticked by one thread per module) and every instance under a memory limit, so a
//! module that loops or allocates without end traps — its stream fails closed — instead of
//! holding the caller's thread or the process's memory.

#![forbid(unsafe_code)]

mod abi;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use wasmtime::{
    Config, Engine, InstancePre, Linker, Memory, Module, Store, StoreLimits, StoreLimitsBuilder, TypedFunc,
};

/// What one filter instance may use. A callback that runs past its deadline or a memory that
/// would grow past the limit traps, which kills the VM (fail closed) and frees the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GuestLimits {
    /// One stream callback (a connection, a request, its end). The filter's decisions take
    /// microseconds; this bounds a looping guest, not a slow one.
    pub callback: Duration,
    /// The start sequence (`_initialize` through `on_configure`): the YAML-form filter analyses
    /// a whole mesh there (under a second at 10,000 policies).
    pub start: Duration,
    /// Linear memory of one instance, in bytes.
    pub memory: usize,
}

impl Default for GuestLimits {
    fn default() -> Self {
        Self { callback: Duration::from_millis(500), start: Duration::from_secs(30), memory: 1 << 30 }
    }
}

/// How often the module's epoch advances: deadlines are counted in these ticks.
const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Advances an engine's epoch every [`EPOCH_TICK`] until dropped.
struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl EpochTicker {
    fn start(engine: &Engine) -> Result<Self, HostError> {
        let stop = Arc::new(AtomicBool::new(false));
        let (engine, flag) = (engine.clone(), Arc::clone(&stop));
        let thread = std::thread::Builder::new()
            .name("meshlock-epoch".to_owned())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(EPOCH_TICK);
                    engine.increment_epoch();
                }
            })
            .map_err(|e| HostError::Instantiate(format!("cannot start the deadline thread: {e}")))?;
        Ok(Self { stop, thread: Some(thread) })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A deadline in epoch ticks, rounded up, at least one full tick away.
fn ticks(d: Duration) -> u64 {
    let tick = EPOCH_TICK.as_nanos().max(1);
    u64::try_from(d.as_nanos().div_ceil(tick)).unwrap_or(u64::MAX).saturating_add(1)
}

/// Properties by dotted path (`connection.mtls`), with Envoy 1.40's encodings as values.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Properties(BTreeMap<String, Vec<u8>>);

impl Properties {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn set(&mut self, path: &str, value: impl Into<Vec<u8>>) -> &mut Self {
        self.0.insert(path.to_owned(), value.into());
        self
    }
    /// A string property (raw UTF-8, no terminator).
    pub fn set_str(&mut self, path: &str, value: &str) -> &mut Self {
        self.set(path, value.as_bytes().to_vec())
    }
    /// An int64 property: 8 bytes little-endian (`destination.port`, `connection.id`).
    pub fn set_int(&mut self, path: &str, value: i64) -> &mut Self {
        self.set(path, value.to_le_bytes().to_vec())
    }
    /// A bool property: one byte.
    pub fn set_bool(&mut self, path: &str, value: bool) -> &mut Self {
        self.set(path, vec![u8::from(value)])
    }
    pub fn remove(&mut self, path: &str) -> &mut Self {
        self.0.remove(path);
        self
    }
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.0.get(path).map(Vec::as_slice)
    }
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_slice()))
    }
    pub fn extend(&mut self, other: &Properties) {
        for (k, v) in other.iter() {
            self.0.insert(k.to_owned(), v.to_vec());
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HostError {
    #[error("`{path}`: {source}")]
    Read { path: String, source: std::io::Error },
    #[error("cannot compile the filter module: {0}")]
    Compile(String),
    #[error("not a proxy-wasm module: {0}")]
    NotProxyWasm(String),
    #[error("cannot instantiate the filter: {0}")]
    Instantiate(String),
    #[error("the filter trapped in {call}: {message}")]
    Trap { call: String, message: String },
    #[error("the filter ran past its {limit:?} deadline in {call}; it was interrupted")]
    Deadline { call: String, limit: Duration },
    #[error("the filter VM is dead after an earlier trap ({0})")]
    Dead(String),
    #[error("the plugin configuration was refused by on_configure")]
    NotConfigured,
    #[error("no stream {0}")]
    NoStream(u32),
}

/// What a stream callback returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Continue,
    Pause,
    Other(i32),
}

impl From<i32> for Action {
    fn from(v: i32) -> Self {
        match v {
            0 => Self::Continue,
            1 => Self::Pause,
            other => Self::Other(other),
        }
    }
}

/// `proxy_send_local_response`, as the filter asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalResponse {
    pub status: u32,
    pub details: String,
    pub body: Vec<u8>,
    pub headers: Vec<(String, String)>,
}

/// One `proxy_log` line (or WASI stdout/stderr output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// 0 trace … 5 critical; stdout is 2, stderr 3.
    pub level: i32,
    pub message: String,
}

impl LogRecord {
    pub fn level_name(&self) -> &'static str {
        match self.level {
            0 => "trace",
            1 => "debug",
            2 => "info",
            3 => "warn",
            4 => "error",
            _ => "critical",
        }
    }
}

/// Everything the host knows about one stream (connection or request) context.
#[derive(Debug, Clone, Default)]
pub struct StreamState {
    pub properties: Properties,
    pub request_headers: Vec<(String, Vec<u8>)>,
    pub response_headers: Vec<(String, Vec<u8>)>,
    pub downstream_data: Vec<u8>,
    pub upstream_data: Vec<u8>,
    pub local_response: Option<LocalResponse>,
    pub closed_downstream: bool,
    pub closed_upstream: bool,
    /// `proxy_close_stream` on an HTTP stream (reset).
    pub reset: bool,
}

/// How one plugin is configured, as in Envoy's `PluginConfig`.
#[derive(Debug, Clone)]
pub struct PluginSettings {
    /// The `configuration` value (the meshlock plugin configuration JSON).
    pub configuration: Vec<u8>,
    pub root_id: String,
    pub name: String,
    pub vm_id: String,
    /// Print log lines to stderr as they come (the `host` command).
    pub echo_logs: bool,
}

impl PluginSettings {
    pub fn new(configuration: impl Into<Vec<u8>>, root_id: &str) -> Self {
        Self {
            configuration: configuration.into(),
            root_id: root_id.to_owned(),
            name: root_id.to_owned(),
            vm_id: "meshlock".to_owned(),
            echo_logs: false,
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Metric {
    name: String,
    /// 0 counter, 1 gauge, 2 histogram.
    kind: i32,
    value: u64,
}

/// The Store's data: everything a hostcall may look at.
pub(crate) struct HostState {
    memory: Option<Memory>,
    alloc: Option<TypedFunc<i32, i32>>,
    settings: PluginSettings,
    vm_properties: Properties,
    /// The context whose callback is running (0: none).
    active: u32,
    streams: HashMap<u32, StreamState>,
    logs: Vec<LogRecord>,
    metrics: Vec<Metric>,
    shared_data: HashMap<String, (Vec<u8>, u32)>,
    queues: Vec<(String, std::collections::VecDeque<Vec<u8>>)>,
    tick_period_ms: u32,
    limits: StoreLimits,
}

impl HostState {
    fn new(settings: PluginSettings, memory: usize) -> Self {
        let mut vm_properties = Properties::new();
        vm_properties
            .set_str("plugin_root_id", &settings.root_id)
            .set_str("plugin_name", &settings.name)
            .set_str("plugin_vm_id", &settings.vm_id);
        Self {
            memory: None,
            alloc: None,
            settings,
            vm_properties,
            active: 0,
            streams: HashMap::new(),
            logs: Vec::new(),
            metrics: Vec::new(),
            shared_data: HashMap::new(),
            queues: Vec::new(),
            tick_period_ms: 0,
            // A failed `memory.grow` traps rather than returning -1: the guest's allocator would
            // abort anyway, and the trap names the cause.
            limits: StoreLimitsBuilder::new().memory_size(memory).instances(1).trap_on_grow_failure(true).build(),
        }
    }

    fn push_log(&mut self, level: i32, message: String) {
        if self.settings.echo_logs {
            let rec = LogRecord { level, message };
            eprintln!("[{}][wasm] {} {}: {}", rec.level_name(), self.settings.name, self.settings.root_id, rec.message);
            self.logs.push(rec);
        } else {
            self.logs.push(LogRecord { level, message });
        }
    }

    fn stream_mut(&mut self) -> Option<&mut StreamState> {
        self.streams.get_mut(&self.active)
    }

    fn property(&self, path: &str) -> Option<&[u8]> {
        // Envoy answers its top-level `connection_id` with `connection.id`'s value.
        let path = if path == "connection_id" { "connection.id" } else { path };
        self.streams.get(&self.active).and_then(|s| s.properties.get(path)).or_else(|| self.vm_properties.get(path))
    }
}

/// The callbacks the host calls. Those marked optional may be missing from a module, and then
/// answer what a proxy-wasm host answers for them (proxy-wasm-cpp-host, `ContextBase::onDone`
/// and the rest): continue, done, nothing to do. A module need not pay a call into the VM for
/// a callback it does not act on.
#[derive(Clone)]
struct Exports {
    context_create: TypedFunc<(i32, i32), ()>,
    /// Optional: `true`.
    vm_start: Option<TypedFunc<(i32, i32), i32>>,
    configure: TypedFunc<(i32, i32), i32>,
    /// Optional: continue.
    new_connection: Option<TypedFunc<i32, i32>>,
    downstream_data: TypedFunc<(i32, i32, i32), i32>,
    /// Optional.
    downstream_close: Option<TypedFunc<(i32, i32), ()>>,
    request_headers: TypedFunc<(i32, i32, i32), i32>,
    response_headers: TypedFunc<(i32, i32, i32), i32>,
    /// Optional: done.
    done: Option<TypedFunc<i32, i32>>,
    /// Optional.
    log: Option<TypedFunc<i32, ()>>,
    delete: TypedFunc<i32, ()>,
}

/// Which allocator export the module has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Allocator {
    /// wasm32-wasip1 builds.
    ProxyOnMemoryAllocate,
    /// wasm32-unknown-unknown builds.
    Malloc,
}

/// A compiled filter: one Engine, one Linker, the module ready to instantiate.
pub struct FilterModule {
    engine: Engine,
    /// Held for its Drop: the thread stops with the module.
    _ticker: EpochTicker,
    limits: GuestLimits,
    pre: InstancePre<HostState>,
    allocator: Allocator,
    wasi: bool,
    compile_time: Duration,
    size: usize,
    undefined_imports: Vec<String>,
}

impl std::fmt::Debug for FilterModule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterModule")
            .field("allocator", &self.allocator)
            .field("wasi", &self.wasi)
            .field("size", &self.size)
            .finish_non_exhaustive()
    }
}

impl FilterModule {
    pub fn from_file(path: &Path) -> Result<Self, HostError> {
        let bytes =
            std::fs::read(path).map_err(|source| HostError::Read { path: path.display().to_string(), source })?;
        Self::from_bytes(&bytes)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, HostError> {
        Self::with_limits(bytes, GuestLimits::default())
    }

    /// Compiles a module whose instances run under `limits`.
    pub fn with_limits(bytes: &[u8], limits: GuestLimits) -> Result<Self, HostError> {
        let started = Instant::now();
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).map_err(|e| HostError::Compile(format!("{e:#}")))?;
        let module = Module::new(&engine, bytes).map_err(|e| HostError::Compile(format!("{e:#}")))?;
        let compile_time = started.elapsed();
        let has_export = |name: &str| module.get_export(name).is_some();
        if !has_export("proxy_abi_version_0_2_1") && !has_export("proxy_abi_version_0_2_0") {
            return Err(HostError::NotProxyWasm("no proxy_abi_version_0_2_1 (or 0_2_0) export".to_owned()));
        }
        // wasip1 exports proxy_on_memory_allocate, wasm32-unknown-unknown exports malloc.
        let allocator = if has_export("proxy_on_memory_allocate") {
            Allocator::ProxyOnMemoryAllocate
        } else if has_export("malloc") {
            Allocator::Malloc
        } else {
            return Err(HostError::NotProxyWasm("no proxy_on_memory_allocate or malloc export".to_owned()));
        };
        let wasi = module.imports().any(|i| i.module() == "wasi_snapshot_preview1");
        let mut linker: Linker<HostState> = Linker::new(&engine);
        abi::define(&mut linker).map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        let mut probe = Store::new(&engine, HostState::new(PluginSettings::new(Vec::new(), ""), 0));
        let undefined_imports = module
            .imports()
            .filter(|i| linker.get(&mut probe, i.module(), i.name()).is_err())
            .map(|i| format!("{}.{}", i.module(), i.name()))
            .collect();
        // Anything beyond the proxy-wasm ABI and the WASI calls a filter needs traps if called.
        linker.define_unknown_imports_as_traps(&module).map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        let pre = linker.instantiate_pre(&module).map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        let ticker = EpochTicker::start(&engine)?;
        Ok(Self {
            engine,
            _ticker: ticker,
            limits,
            pre,
            allocator,
            wasi,
            compile_time,
            size: bytes.len(),
            undefined_imports,
        })
    }

    pub fn allocator(&self) -> Allocator {
        self.allocator
    }
    /// The module imports WASI (a wasm32-wasip1 build).
    pub fn is_wasi(&self) -> bool {
        self.wasi
    }
    pub fn compile_time(&self) -> Duration {
        self.compile_time
    }
    pub fn size(&self) -> usize {
        self.size
    }
    /// Imports the host does not implement (`module.name`); they trap if called. Empty for a
    /// module built with the proxy-wasm Rust SDK.
    pub fn undefined_imports(&self) -> &[String] {
        &self.undefined_imports
    }

    /// Instantiates the module and runs Envoy's start sequence: `_initialize`, the root
    /// context, `on_vm_start`, `on_configure`. A refused configuration is not an error here:
    /// see [`FilterVm::configured`] and [`FilterVm::logs`].
    pub fn start(&self, settings: PluginSettings) -> Result<FilterVm, HostError> {
        let started = Instant::now();
        let vm_config_len = 0;
        let config_len = i32::try_from(settings.configuration.len()).unwrap_or(i32::MAX);
        let mut store = Store::new(&self.engine, HostState::new(settings, self.limits.memory));
        store.limiter(|state| &mut state.limits);
        // Instantiation runs the module's start function: under the start deadline too.
        store.set_epoch_deadline(ticks(self.limits.start));
        let instance = self.pre.instantiate(&mut store).map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        let memory = instance
            .get_memory(&mut store, "memory")
            .ok_or_else(|| HostError::NotProxyWasm("no exported memory".to_owned()))?;
        let alloc_name = match self.allocator {
            Allocator::ProxyOnMemoryAllocate => "proxy_on_memory_allocate",
            Allocator::Malloc => "malloc",
        };
        let alloc = instance
            .get_typed_func::<i32, i32>(&mut store, alloc_name)
            .map_err(|e| HostError::NotProxyWasm(format!("{alloc_name}: {e:#}")))?;
        store.data_mut().memory = Some(memory);
        store.data_mut().alloc = Some(alloc);
        macro_rules! export {
            ($name:literal) => {
                instance
                    .get_typed_func(&mut store, $name)
                    .map_err(|e| HostError::NotProxyWasm(format!("{}: {e:#}", $name)))?
            };
        }
        // Absent is fine; present with another signature is not a proxy-wasm module.
        macro_rules! optional {
            ($name:literal) => {
                match instance.get_func(&mut store, $name) {
                    None => None,
                    Some(f) => Some(f.typed(&store).map_err(|e| HostError::NotProxyWasm(format!("{}: {e:#}", $name)))?),
                }
            };
        }
        let exports = Exports {
            context_create: export!("proxy_on_context_create"),
            vm_start: optional!("proxy_on_vm_start"),
            configure: export!("proxy_on_configure"),
            new_connection: optional!("proxy_on_new_connection"),
            downstream_data: export!("proxy_on_downstream_data"),
            downstream_close: optional!("proxy_on_downstream_connection_close"),
            request_headers: export!("proxy_on_request_headers"),
            response_headers: export!("proxy_on_response_headers"),
            done: optional!("proxy_on_done"),
            log: optional!("proxy_on_log"),
            delete: export!("proxy_on_delete"),
        };
        let initialize = instance.get_typed_func::<(), ()>(&mut store, "_initialize").ok();
        let mut vm = FilterVm {
            store,
            exports,
            root: 1,
            next_id: 2,
            configured: false,
            dead: None,
            startup_time: Duration::ZERO,
            deadline: self.limits.start,
        };
        if let Some(init) = initialize {
            vm.call(0, "_initialize", |s| init.call(s, ()))?;
        }
        let (root, create) = (vm.root, vm.exports.context_create.clone());
        vm.call(root, "proxy_on_context_create", |s| create.call(s, (root as i32, 0)))?;
        if let Some(vm_start) = vm.exports.vm_start.clone() {
            vm.call(root, "proxy_on_vm_start", |s| vm_start.call(s, (root as i32, vm_config_len)))?;
        }
        let configure = vm.exports.configure.clone();
        let ok = vm.call(root, "proxy_on_configure", |s| configure.call(s, (root as i32, config_len)))?;
        vm.configured = ok != 0;
        vm.deadline = self.limits.callback;
        vm.startup_time = started.elapsed();
        Ok(vm)
    }
}

/// One instance of the filter with its root context configured.
pub struct FilterVm {
    store: Store<HostState>,
    exports: Exports,
    root: u32,
    next_id: u32,
    configured: bool,
    dead: Option<String>,
    startup_time: Duration,
    /// How long the next callback may run.
    deadline: Duration,
}

impl std::fmt::Debug for FilterVm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilterVm")
            .field("configured", &self.configured)
            .field("dead", &self.dead)
            .finish_non_exhaustive()
    }
}

impl FilterVm {
    /// Whether `on_configure` returned true (Envoy would refuse to start otherwise).
    pub fn configured(&self) -> bool {
        self.configured
    }
    /// Instantiation plus the start sequence.
    pub fn startup_time(&self) -> Duration {
        self.startup_time
    }
    pub fn is_dead(&self) -> bool {
        self.dead.is_some()
    }
    pub fn logs(&self) -> &[LogRecord] {
        &self.store.data().logs
    }
    pub fn take_logs(&mut self) -> Vec<LogRecord> {
        std::mem::take(&mut self.store.data_mut().logs)
    }
    /// Metric values by name.
    pub fn metrics(&self) -> BTreeMap<String, u64> {
        self.store.data().metrics.iter().map(|m| (m.name.clone(), m.value)).collect()
    }
    /// The metric kinds by name: `counter`, `gauge`, `histogram`.
    pub fn metric_kinds(&self) -> BTreeMap<String, &'static str> {
        self.store
            .data()
            .metrics
            .iter()
            .map(|m| {
                let kind = match m.kind {
                    0 => "counter",
                    1 => "gauge",
                    _ => "histogram",
                };
                (m.name.clone(), kind)
            })
            .collect()
    }
    pub fn tick_period_ms(&self) -> u32 {
        self.store.data().tick_period_ms
    }

    fn call<R>(
        &mut self,
        context: u32,
        name: &str,
        f: impl FnOnce(&mut Store<HostState>) -> wasmtime::Result<R>,
    ) -> Result<R, HostError> {
        if let Some(why) = &self.dead {
            return Err(HostError::Dead(why.clone()));
        }
        self.store.data_mut().active = context;
        self.store.set_epoch_deadline(ticks(self.deadline));
        let result = f(&mut self.store);
        self.store.data_mut().active = 0;
        result.map_err(|e| {
            if matches!(e.downcast_ref::<wasmtime::Trap>(), Some(wasmtime::Trap::Interrupt)) {
                let limit = self.deadline;
                self.dead = Some(format!("{name}: interrupted after {limit:?}"));
                return HostError::Deadline { call: name.to_owned(), limit };
            }
            let panic = self
                .store
                .data()
                .logs
                .iter()
                .rev()
                .find(|l| l.level >= 5)
                .map(|l| format!(" (guest log: {})", l.message))
                .unwrap_or_default();
            let message = format!("{e:#}{panic}");
            self.dead = Some(format!("{name}: {message}"));
            HostError::Trap { call: name.to_owned(), message }
        })
    }

    /// Creates a stream context (a connection for the network filter, a request for the HTTP
    /// filter) with its initial properties. Refused when the configuration was refused: Envoy
    /// never creates streams then, and the SDK panics if asked to (pitfall P10).
    pub fn create_stream(&mut self, properties: Properties) -> Result<u32, HostError> {
        if !self.configured {
            return Err(HostError::NotConfigured);
        }
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(2);
        self.store.data_mut().streams.insert(id, StreamState { properties, ..StreamState::default() });
        let (root, create) = (self.root, self.exports.context_create.clone());
        self.call(id, "proxy_on_context_create", |s| create.call(s, (id as i32, root as i32)))?;
        Ok(id)
    }

    pub fn stream(&self, id: u32) -> Option<&StreamState> {
        self.store.data().streams.get(&id)
    }

    pub fn stream_mut(&mut self, id: u32) -> Result<&mut StreamState, HostError> {
        self.store.data_mut().streams.get_mut(&id).ok_or(HostError::NoStream(id))
    }

    pub fn on_new_connection(&mut self, id: u32) -> Result<Action, HostError> {
        self.stream_mut(id)?;
        let Some(f) = self.exports.new_connection.clone() else {
            return Ok(Action::Continue);
        };
        self.call(id, "proxy_on_new_connection", |s| f.call(s, id as i32)).map(Action::from)
    }

    pub fn on_downstream_data(&mut self, id: u32, data: &[u8], end_of_stream: bool) -> Result<Action, HostError> {
        self.stream_mut(id)?.downstream_data = data.to_vec();
        let len = i32::try_from(data.len()).unwrap_or(i32::MAX);
        let f = self.exports.downstream_data.clone();
        self.call(id, "proxy_on_downstream_data", |s| f.call(s, (id as i32, len, i32::from(end_of_stream))))
            .map(Action::from)
    }

    pub fn on_request_headers(
        &mut self,
        id: u32,
        headers: Vec<(String, Vec<u8>)>,
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        self.on_headers(id, HeaderSide::Request, headers, end_of_stream)
    }

    pub fn on_response_headers(
        &mut self,
        id: u32,
        headers: Vec<(String, Vec<u8>)>,
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        self.on_headers(id, HeaderSide::Response, headers, end_of_stream)
    }

    /// Stores the header map the guest will read for this stream, then calls its callback.
    fn on_headers(
        &mut self,
        id: u32,
        side: HeaderSide,
        headers: Vec<(String, Vec<u8>)>,
        end_of_stream: bool,
    ) -> Result<Action, HostError> {
        let n = i32::try_from(headers.len()).unwrap_or(i32::MAX);
        let stream = self.stream_mut(id)?;
        let (f, name) = match side {
            HeaderSide::Request => {
                stream.request_headers = headers;
                (self.exports.request_headers.clone(), "proxy_on_request_headers")
            }
            HeaderSide::Response => {
                stream.response_headers = headers;
                (self.exports.response_headers.clone(), "proxy_on_response_headers")
            }
        };
        self.call(id, name, |s| f.call(s, (id as i32, n, i32::from(end_of_stream)))).map(Action::from)
    }

    /// Ends a stream: `on_downstream_connection_close` for a connection, then `on_done`,
    /// `on_log`, `on_delete`. Returns what the host recorded for it.
    pub fn finish_stream(&mut self, id: u32, connection: bool) -> Result<StreamState, HostError> {
        self.stream_mut(id)?;
        let e = self.exports.clone();
        let result = (|| {
            if connection && let Some(close) = &e.downstream_close {
                // PeerType 1: closed locally (by the proxy), 2: by the remote peer.
                self.call(id, "proxy_on_downstream_connection_close", |s| close.call(s, (id as i32, 2)))?;
            }
            if let Some(done) = &e.done {
                self.call(id, "proxy_on_done", |s| done.call(s, id as i32))?;
            }
            if let Some(log) = &e.log {
                self.call(id, "proxy_on_log", |s| log.call(s, id as i32))?;
            }
            self.call(id, "proxy_on_delete", |s| e.delete.call(s, id as i32))
        })();
        let state = self.store.data_mut().streams.remove(&id).ok_or(HostError::NoStream(id))?;
        result.map(|()| state)
    }
}

/// Which header map an HTTP callback is about.
#[derive(Debug, Clone, Copy)]
enum HeaderSide {
    Request,
    Response,
}
