//! The proxy-wasm ABI 0.2.1, raw: the host functions the filter calls and the callbacks it
//! exports, and nothing else. The only unsafe code in the workspace.
//!
//! The imports are the ones the proxy-wasm Rust SDK 0.2.5 declares for the same calls (module
//! `env`, the same names and signatures), so Envoy and `meshlock-proxy-host` load the module as
//! before; the module imports only the eight it uses. It exports only the callbacks it acts on:
//! a host answers the others as the SDK's defaults did (continue, done), without a call.
//!
//! Every wrapper turns a host status into `Option`/nothing: no host answer can panic here (a
//! trap takes every plugin of the VM down). What the filter does with a callback is in
//! [`crate::proxy`], in safe code.
#![expect(
    unsafe_code,
    reason = "the proxy-wasm ABI: host imports, exports, and taking ownership of host-returned buffers"
)]

use crate::proxy;
use std::mem::MaybeUninit;
use std::ptr;

/// `proxy_status_t`: the one status the wrappers tell apart.
const OK: u32 = 0;

/// `proxy_log_level_t`.
#[derive(Clone, Copy)]
#[repr(u32)]
pub enum LogLevel {
    Info = 2,
    Error = 4,
    Critical = 5,
}

/// `proxy_buffer_type_t` values read here.
#[cfg(feature = "test-panic")]
const BUFFER_DOWNSTREAM_DATA: u32 = 2;
const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
/// `proxy_map_type_t`: the request headers.
const MAP_REQUEST_HEADERS: u32 = 0;
/// `proxy_stream_type_t`: the downstream connection.
const STREAM_DOWNSTREAM: u32 = 2;
/// `proxy_metric_type_t`: a counter.
const METRIC_COUNTER: u32 = 0;

#[link(wasm_import_module = "env")]
unsafe extern "C" {
    fn proxy_log(level: u32, message_data: *const u8, message_size: usize) -> u32;
    fn proxy_get_buffer_bytes(
        buffer_type: u32,
        start: usize,
        max_size: usize,
        return_buffer_data: *mut *mut u8,
        return_buffer_size: *mut usize,
    ) -> u32;
    fn proxy_get_property(
        path_data: *const u8,
        path_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_get_header_map_value(
        map_type: u32,
        key_data: *const u8,
        key_size: usize,
        return_value_data: *mut *mut u8,
        return_value_size: *mut usize,
    ) -> u32;
    fn proxy_send_local_response(
        status_code: u32,
        status_code_details_data: *const u8,
        status_code_details_size: usize,
        body_data: *const u8,
        body_size: usize,
        headers_data: *const u8,
        headers_size: usize,
        grpc_status: i32,
    ) -> u32;
    fn proxy_close_stream(stream_type: u32) -> u32;
    fn proxy_define_metric(metric_type: u32, name_data: *const u8, name_size: usize, return_id: *mut u32) -> u32;
    fn proxy_increment_metric(metric_id: u32, offset: i64) -> u32;
}

#[cfg(target_os = "wasi")]
unsafe extern "C" {
    /// The static constructors wasi-libc and std register; a reactor module runs them itself.
    fn __wasm_call_ctors();
}

// === host calls ===

/// Takes ownership of a buffer the host returned: `Some` only on `Ok` with data. A null
/// pointer (the host's answer for an empty value) is `None`, as the SDK has it.
fn owned(status: u32, data: *mut u8, size: usize) -> Option<Vec<u8>> {
    if status != OK || data.is_null() {
        return None;
    }
    // SAFETY: by the ABI, a non-null buffer returned with `Ok` was allocated by the host through
    // `proxy_on_memory_allocate(size)` (below: a boxed slice of exactly `size` bytes, align 1,
    // from the global allocator), filled with `size` bytes and handed over to the module.
    Some(unsafe { Vec::from_raw_parts(data, size, size) })
}

pub fn log(level: LogLevel, message: &str) {
    // SAFETY: pointer and length of a live `&str`, read by the host during the call.
    // Nothing sensible to do if the host refuses a log line.
    let _ = unsafe { proxy_log(level as u32, message.as_ptr(), message.len()) };
}

fn buffer(buffer_type: u32, max_size: usize) -> Option<Vec<u8>> {
    let mut data = ptr::null_mut();
    let mut size = 0;
    // SAFETY: the two out-pointers are live locals the host writes during the call.
    let status = unsafe { proxy_get_buffer_bytes(buffer_type, 0, max_size, &mut data, &mut size) };
    owned(status, data, size)
}

/// The plugin configuration, whole.
pub fn plugin_configuration() -> Option<Vec<u8>> {
    buffer(BUFFER_PLUGIN_CONFIGURATION, usize::MAX)
}

/// The first `max_size` bytes of the downstream data this callback was given.
#[cfg(feature = "test-panic")]
pub fn downstream_data(max_size: usize) -> Option<Vec<u8>> {
    buffer(BUFFER_DOWNSTREAM_DATA, max_size)
}

/// A property by path, its parts already joined with NUL as the ABI wants them
/// (`b"connection\0mtls"`): a constant, so a request builds no path.
pub fn property(path: &[u8]) -> Option<Vec<u8>> {
    let mut data = ptr::null_mut();
    let mut size = 0;
    // SAFETY: the path is a live buffer read during the call; the out-pointers are live locals.
    let status = unsafe { proxy_get_property(path.as_ptr(), path.len(), &mut data, &mut size) };
    owned(status, data, size)
}

/// A request header's value (an empty value when the host returns none). A value that is not
/// UTF-8 is `None`: no such header, never a trap.
pub fn request_header(name: &str) -> Option<String> {
    let mut data = ptr::null_mut();
    let mut size = 0;
    // SAFETY: the key is a live `&str` read during the call; the out-pointers are live locals.
    let status =
        unsafe { proxy_get_header_map_value(MAP_REQUEST_HEADERS, name.as_ptr(), name.len(), &mut data, &mut size) };
    if status != OK {
        return None;
    }
    String::from_utf8(owned(status, data, size).unwrap_or_default()).ok()
}

/// A local reply with one header: the map serialized as the ABI wants it (count, then the
/// key and value lengths, then each key and value NUL-terminated, lengths little-endian).
pub fn send_local_response(status_code: u32, header: (&str, &str), body: &[u8]) {
    let (key, value) = header;
    let mut map = Vec::with_capacity(key.len() + value.len() + 14);
    for n in [1, key.len(), value.len()] {
        map.extend_from_slice(&u32::try_from(n).unwrap_or(u32::MAX).to_le_bytes());
    }
    map.extend_from_slice(key.as_bytes());
    map.push(0);
    map.extend_from_slice(value.as_bytes());
    map.push(0);
    // SAFETY: body and map are live buffers the host reads during the call; no details string.
    let _ = unsafe {
        proxy_send_local_response(status_code, ptr::null(), 0, body.as_ptr(), body.len(), map.as_ptr(), map.len(), -1)
    };
}

pub fn close_downstream() {
    // SAFETY: no pointers.
    let _ = unsafe { proxy_close_stream(STREAM_DOWNSTREAM) };
}

/// Defines a counter; `None` when the host refuses.
pub fn define_counter(name: &str) -> Option<u32> {
    let mut id = 0;
    // SAFETY: the name is a live `&str` read during the call; `id` is a live local.
    let status = unsafe { proxy_define_metric(METRIC_COUNTER, name.as_ptr(), name.len(), &mut id) };
    (status == OK).then_some(id)
}

pub fn increment_counter(id: u32) {
    // SAFETY: no pointers.
    let _ = unsafe { proxy_increment_metric(id, 1) };
}

// === exports ===
//
// Only the callbacks the filter acts on. A proxy-wasm host skips a callback the module does not
// export and answers for it what the SDK's default would (proxy-wasm-cpp-host
// `ContextBase::onDone`, `onLog`, `onNewConnection`, …: done, nothing, continue), so each
// callback left out is one call into the VM fewer per request or connection. An HTTP request
// costs four (context create, request headers, response headers, delete), a connection three
// plus one per read (context create, downstream data, delete).

/// The ABI version marker; never called.
#[unsafe(no_mangle)]
pub extern "C" fn proxy_abi_version_0_2_1() {}

/// The host allocates what it hands the module through this (`malloc` on
/// wasm32-unknown-unknown, as the SDK names it there). [`owned`] takes these buffers back.
#[cfg_attr(all(target_arch = "wasm32", target_os = "unknown"), unsafe(export_name = "malloc"))]
#[cfg_attr(not(all(target_arch = "wasm32", target_os = "unknown")), unsafe(no_mangle))]
pub extern "C" fn proxy_on_memory_allocate(size: usize) -> *mut u8 {
    Box::into_raw(Box::<[MaybeUninit<u8>]>::new_uninit_slice(size)).cast::<u8>()
}

#[unsafe(no_mangle)]
pub extern "C" fn _initialize() {
    // SAFETY: run once by the host before any other export, as a reactor module's start.
    #[cfg(target_os = "wasi")]
    unsafe {
        __wasm_call_ctors();
    }
    proxy::start();
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_context_create(context_id: u32, root_context_id: u32) {
    proxy::create(context_id, root_context_id);
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_configure(context_id: u32, _plugin_configuration_size: usize) -> bool {
    proxy::configure(context_id)
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_delete(context_id: u32) {
    proxy::delete(context_id);
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_downstream_data(context_id: u32, data_size: usize, _end_of_stream: u32) -> u32 {
    proxy::downstream_data(context_id, data_size)
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_request_headers(context_id: u32, _num_headers: usize, _end_of_stream: u32) -> u32 {
    proxy::request_headers(context_id)
}

#[unsafe(no_mangle)]
pub extern "C" fn proxy_on_response_headers(context_id: u32, _num_headers: usize, _end_of_stream: u32) -> u32 {
    proxy::response_headers(context_id)
}

// === allocator ===

/// The module's heap: a free list per power-of-two size class, carved from pages the module
/// grows itself. It replaces the target's general-purpose malloc (dlmalloc), which was a tenth
/// of the module's code, and V8 compiles every byte of it before Envoy is ready. The filter's
/// allocations are small and recur per request (property values, paths, the verdict cache), so
/// a freed block is reused by the next allocation of its class and the heap stops growing once
/// the busiest request has run; the price is up to twice the bytes a request asks for.
struct Heap {
    state: std::cell::UnsafeCell<HeapState>,
}

struct HeapState {
    /// Head of each class's free list (0: empty); class `k` holds blocks of `1 << k` bytes.
    free: [usize; CLASSES],
    /// The unused rest of the last pages grown: `next..end`.
    next: usize,
    end: usize,
}

const CLASSES: usize = usize::BITS as usize;
/// The smallest block holds the free list's link.
const MIN_CLASS: u32 = 3;
const PAGE: usize = 65_536;

// SAFETY: wasm32 without the threads proposal runs the module on one thread: no two calls into
// the allocator overlap.
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap { state: std::cell::UnsafeCell::new(HeapState { free: [0; CLASSES], next: 0, end: 0 }) };

/// The class of a request: its size and alignment rounded up to a power of two. A block of
/// class `k` is aligned to `1 << k` up to a page, so it satisfies any alignment up to its size;
/// none is promised past a page (no type of the filter asks for that).
fn class(layout: std::alloc::Layout) -> Option<u32> {
    if layout.align() > PAGE {
        return None;
    }
    let size = layout.size().max(layout.align()).checked_next_power_of_two()?;
    Some(size.trailing_zeros().max(MIN_CLASS))
}

impl HeapState {
    fn take(&mut self, k: u32) -> *mut u8 {
        let Some(head) = self.free.get_mut(k as usize) else {
            return ptr::null_mut();
        };
        if *head != 0 {
            let block = *head as *mut usize;
            // SAFETY: a non-zero head is a block of this class that `give` linked: it is ours,
            // free, aligned for a `usize` and at least 8 bytes long.
            *head = unsafe { block.read() };
            return block.cast();
        }
        let size = 1usize << k;
        let align = size.min(PAGE);
        let mut start = self.next.next_multiple_of(align);
        if start.checked_add(size).is_none_or(|e| e > self.end) {
            // Pages come from `memory.grow`; they follow whatever else grew the memory, so the
            // rest of the previous run is left unused rather than assumed contiguous.
            let pages = size.div_ceil(PAGE);
            let old = core::arch::wasm32::memory_grow(0, pages);
            if old == usize::MAX {
                return ptr::null_mut();
            }
            start = old * PAGE;
            self.end = start + pages * PAGE;
        }
        self.next = start + size;
        start as *mut u8
    }

    fn give(&mut self, block: *mut u8, k: u32) {
        if let Some(head) = self.free.get_mut(k as usize) {
            // SAFETY: `block` is a live block of class `k` the caller gives up: at least 8 bytes,
            // aligned for a `usize`, no longer used by anyone.
            unsafe { block.cast::<usize>().write(*head) };
            *head = block as usize;
        }
    }
}

// SAFETY: `alloc` returns null or a block of at least `layout.size()` bytes aligned to
// `layout.align()` that no other live allocation overlaps; `dealloc` and `realloc` receive only
// blocks `alloc` returned, with the layout they were allocated with.
unsafe impl std::alloc::GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: std::alloc::Layout) -> *mut u8 {
        let Some(k) = class(layout) else {
            return ptr::null_mut();
        };
        // SAFETY: one thread (above), and no allocator call is re-entered while this borrow lives.
        unsafe { &mut *self.state.get() }.take(k)
    }

    unsafe fn dealloc(&self, block: *mut u8, layout: std::alloc::Layout) {
        if let Some(k) = class(layout) {
            // SAFETY: as in `alloc`.
            unsafe { &mut *self.state.get() }.give(block, k);
        }
    }

    unsafe fn realloc(&self, block: *mut u8, layout: std::alloc::Layout, new_size: usize) -> *mut u8 {
        let new = std::alloc::Layout::from_size_align(new_size, layout.align());
        let (Some(old_k), Ok(new)) = (class(layout), new) else {
            return ptr::null_mut();
        };
        if class(new) == Some(old_k) {
            return block;
        }
        // SAFETY: `new` has a non-zero size (the caller's contract) and `layout`'s alignment.
        let moved = unsafe { self.alloc(new) };
        if !moved.is_null() {
            // SAFETY: both blocks are live, distinct, and at least the smaller size long.
            unsafe { ptr::copy_nonoverlapping(block, moved, layout.size().min(new_size)) };
            // SAFETY: `block` was allocated with `layout` and is no longer used.
            unsafe { self.dealloc(block, layout) };
        }
        moved
    }
}
