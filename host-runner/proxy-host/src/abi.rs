//! The hostcalls: every `env` function the proxy-wasm Rust SDK 0.2.5 declares, and the WASI
//! preview1 calls a wasm32-wasip1 filter imports. Guest memory is only touched through
//! bounds-checked slices (`Memory::data(..).get(..)`); a bad pointer is a trap, never a host
//! panic. Statuses are the ones the SDK's `Status` enum knows (returning any other value
//! would be undefined behaviour in the guest).

use super::{HostState, LocalResponse, Metric};
use wasmtime::{Caller, Linker, Result, format_err};

const OK: i32 = 0;
const NOT_FOUND: i32 = 1;
const BAD_ARGUMENT: i32 = 2;
const PARSE_FAILURE: i32 = 4;
const EMPTY: i32 = 7;
const CAS_MISMATCH: i32 = 8;

type C<'a> = Caller<'a, HostState>;

fn usize_of(v: i32) -> usize {
    // Wasm32 pointers and lengths are unsigned 32-bit values carried in i32.
    u32::from_ne_bytes(v.to_ne_bytes()) as usize
}

fn read(caller: &mut C<'_>, ptr: i32, len: i32) -> Result<Vec<u8>> {
    let mem = caller.data().memory.ok_or_else(|| format_err!("the guest exports no memory"))?;
    let (start, len) = (usize_of(ptr), usize_of(len));
    mem.data(&caller)
        .get(start..)
        .and_then(|s| s.get(..len))
        .map(<[u8]>::to_vec)
        .ok_or_else(|| format_err!("guest buffer {start:#x}+{len} is out of bounds"))
}

fn read_string(caller: &mut C<'_>, ptr: i32, len: i32) -> Result<String> {
    Ok(String::from_utf8_lossy(&read(caller, ptr, len)?).into_owned())
}

fn write(caller: &mut C<'_>, ptr: i32, bytes: &[u8]) -> Result<()> {
    let mem = caller.data().memory.ok_or_else(|| format_err!("the guest exports no memory"))?;
    let start = usize_of(ptr);
    let slot = mem
        .data_mut(&mut *caller)
        .get_mut(start..)
        .and_then(|s| s.get_mut(..bytes.len()))
        .ok_or_else(|| format_err!("guest buffer {start:#x}+{} is out of bounds", bytes.len()))?;
    slot.copy_from_slice(bytes);
    Ok(())
}

fn write_u32(caller: &mut C<'_>, ptr: i32, v: u32) -> Result<()> {
    write(caller, ptr, &v.to_le_bytes())
}

/// Copies `bytes` into memory the guest allocates (it takes ownership), and writes the pointer
/// and the length to `ret_ptr` / `ret_len`.
fn return_bytes(caller: &mut C<'_>, bytes: &[u8], ret_ptr: i32, ret_len: i32) -> Result<()> {
    let alloc = caller.data().alloc.clone().ok_or_else(|| format_err!("the guest has no allocator export"))?;
    let len = i32::try_from(bytes.len()).map_err(|_| format_err!("value too large"))?;
    let ptr = alloc.call(&mut *caller, len)?;
    if ptr == 0 {
        return Err(format_err!("the guest allocator returned null for {len} bytes"));
    }
    write(caller, ptr, bytes)?;
    write_u32(caller, ret_ptr, u32::from_ne_bytes(ptr.to_ne_bytes()))?;
    write_u32(caller, ret_len, u32::from_ne_bytes(len.to_ne_bytes()))
}

/// The proxy-wasm map serialization: count, (key len, value len)…, then `key\0value\0`….
fn serialize_map(pairs: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let n = u32::try_from(pairs.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&n.to_le_bytes());
    for (k, v) in pairs {
        out.extend_from_slice(&u32::try_from(k.len()).unwrap_or(u32::MAX).to_le_bytes());
        out.extend_from_slice(&u32::try_from(v.len()).unwrap_or(u32::MAX).to_le_bytes());
    }
    for (k, v) in pairs {
        out.extend_from_slice(k.as_bytes());
        out.push(0);
        out.extend_from_slice(v);
        out.push(0);
    }
    out
}

fn take<'a>(bytes: &'a [u8], at: &mut usize, n: usize) -> Option<&'a [u8]> {
    let s = bytes.get(*at..)?.get(..n)?;
    *at = at.checked_add(n)?;
    Some(s)
}

fn take_u32(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let b: [u8; 4] = take(bytes, at, 4)?.try_into().ok()?;
    Some(u32::from_le_bytes(b) as usize)
}

/// The inverse of [`serialize_map`]; `None` for a malformed map.
pub(crate) fn deserialize_map(bytes: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    if bytes.is_empty() {
        return Some(Vec::new());
    }
    let mut at = 0;
    let n = take_u32(bytes, &mut at)?;
    let mut sizes = Vec::new();
    for _ in 0..n {
        let k = take_u32(bytes, &mut at)?;
        let v = take_u32(bytes, &mut at)?;
        sizes.push((k, v));
    }
    let mut out = Vec::with_capacity(sizes.len());
    for (k, v) in sizes {
        let key = take(bytes, &mut at, k)?;
        take(bytes, &mut at, 1)?;
        let value = take(bytes, &mut at, v)?;
        take(bytes, &mut at, 1)?;
        out.push((String::from_utf8_lossy(key).into_owned(), value.to_vec()));
    }
    Some(out)
}

/// Map types: 0 request headers, 1 request trailers, 2 response headers, 3 response trailers.
fn map_mut(state: &mut HostState, map_type: i32) -> Option<&mut Vec<(String, Vec<u8>)>> {
    let stream = state.stream_mut()?;
    match map_type {
        0 => Some(&mut stream.request_headers),
        2 => Some(&mut stream.response_headers),
        _ => None,
    }
}

fn buffer(state: &HostState, buffer_type: i32) -> Option<Vec<u8>> {
    let stream = state.streams.get(&state.active);
    match buffer_type {
        2 => stream.map(|s| s.downstream_data.clone()),
        3 => stream.map(|s| s.upstream_data.clone()),
        6 => Some(Vec::new()),
        7 => Some(state.settings.configuration.clone()),
        _ => None,
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Defines every import on the linker.
pub(crate) fn define(linker: &mut Linker<HostState>) -> Result<()> {
    define_logging_and_time(linker)?;
    define_buffers_and_maps(linker)?;
    define_properties_and_streams(linker)?;
    define_metrics(linker)?;
    define_shared_state(linker)?;
    define_callouts(linker)?;
    define_wasi(linker)?;
    Ok(())
}

fn define_logging_and_time(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap("env", "proxy_log", |mut c: C<'_>, level: i32, ptr: i32, len: i32| -> Result<i32> {
        let msg = read_string(&mut c, ptr, len)?;
        c.data_mut().push_log(level, msg);
        Ok(OK)
    })?;
    linker.func_wrap("env", "proxy_get_log_level", |mut c: C<'_>, ret: i32| -> Result<i32> {
        // Info: the level Envoy's wasm logger runs at by default.
        write_u32(&mut c, ret, 2)?;
        Ok(OK)
    })?;
    linker.func_wrap("env", "proxy_get_current_time_nanoseconds", |mut c: C<'_>, ret: i32| -> Result<i32> {
        write(&mut c, ret, &now_nanos().to_le_bytes())?;
        Ok(OK)
    })?;
    linker.func_wrap("env", "proxy_set_tick_period_milliseconds", |mut c: C<'_>, period: i32| -> Result<i32> {
        c.data_mut().tick_period_ms = u32::from_ne_bytes(period.to_ne_bytes());
        Ok(OK)
    })?;
    linker.func_wrap("env", "proxy_set_effective_context", |c: C<'_>, ctx: i32| -> Result<i32> {
        let id = u32::from_ne_bytes(ctx.to_ne_bytes());
        Ok(if id == 1 || c.data().streams.contains_key(&id) { OK } else { BAD_ARGUMENT })
    })?;
    linker.func_wrap("env", "proxy_done", |_: C<'_>| -> Result<i32> { Ok(OK) })?;
    Ok(())
}

fn define_buffers_and_maps(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_buffer_bytes",
        |mut c: C<'_>, ty: i32, start: i32, max: i32, ret_ptr: i32, ret_len: i32| -> Result<i32> {
            let Some(buf) = buffer(c.data(), ty) else {
                return Ok(NOT_FOUND);
            };
            let start = usize_of(start).min(buf.len());
            let end = start.saturating_add(usize_of(max)).min(buf.len());
            let slice = buf.get(start..end).unwrap_or_default();
            return_bytes(&mut c, slice, ret_ptr, ret_len)?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_buffer_bytes",
        |mut c: C<'_>, ty: i32, start: i32, size: i32, ptr: i32, len: i32| -> Result<i32> {
            let data = read(&mut c, ptr, len)?;
            let Some(stream) = c.data_mut().stream_mut() else {
                return Ok(NOT_FOUND);
            };
            let buf = match ty {
                2 => &mut stream.downstream_data,
                3 => &mut stream.upstream_data,
                _ => return Ok(NOT_FOUND),
            };
            let start = usize_of(start).min(buf.len());
            let end = start.saturating_add(usize_of(size)).min(buf.len());
            buf.splice(start..end, data);
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_pairs",
        |mut c: C<'_>, ty: i32, ret_ptr: i32, ret_len: i32| -> Result<i32> {
            let pairs = map_mut(c.data_mut(), ty).map(|m| m.clone());
            match pairs {
                Some(p) => return_bytes(&mut c, &serialize_map(&p), ret_ptr, ret_len)?,
                // An empty map, not an error: the SDK panics on anything but Ok here.
                None => {
                    write_u32(&mut c, ret_ptr, 0)?;
                    write_u32(&mut c, ret_len, 0)?;
                }
            }
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_header_map_pairs",
        |mut c: C<'_>, ty: i32, ptr: i32, len: i32| -> Result<i32> {
            let bytes = read(&mut c, ptr, len)?;
            let Some(pairs) = deserialize_map(&bytes) else {
                return Ok(PARSE_FAILURE);
            };
            match map_mut(c.data_mut(), ty) {
                Some(m) => {
                    *m = pairs;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_get_header_map_value",
        |mut c: C<'_>, ty: i32, kp: i32, kl: i32, ret_ptr: i32, ret_len: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, kl)?.to_ascii_lowercase();
            let value =
                map_mut(c.data_mut(), ty).and_then(|m| m.iter().find(|(k, _)| *k == key).map(|(_, v)| v.clone()));
            match value {
                Some(v) => {
                    return_bytes(&mut c, &v, ret_ptr, ret_len)?;
                    Ok(OK)
                }
                None => Ok(NOT_FOUND),
            }
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_replace_header_map_value",
        |mut c: C<'_>, ty: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, kl)?.to_ascii_lowercase();
            let value = read(&mut c, vp, vl)?;
            let Some(m) = map_mut(c.data_mut(), ty) else {
                return Ok(NOT_FOUND);
            };
            m.retain(|(k, _)| *k != key);
            m.push((key, value));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_add_header_map_value",
        |mut c: C<'_>, ty: i32, kp: i32, kl: i32, vp: i32, vl: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, kl)?.to_ascii_lowercase();
            let value = read(&mut c, vp, vl)?;
            let Some(m) = map_mut(c.data_mut(), ty) else {
                return Ok(NOT_FOUND);
            };
            m.push((key, value));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_remove_header_map_value",
        |mut c: C<'_>, ty: i32, kp: i32, kl: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, kl)?.to_ascii_lowercase();
            let Some(m) = map_mut(c.data_mut(), ty) else {
                return Ok(NOT_FOUND);
            };
            m.retain(|(k, _)| *k != key);
            Ok(OK)
        },
    )?;
    Ok(())
}

fn define_properties_and_streams(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_property",
        |mut c: C<'_>, pp: i32, pl: i32, ret_ptr: i32, ret_len: i32| -> Result<i32> {
            // Path parts are joined by NUL; stored dotted.
            let path = read_string(&mut c, pp, pl)?.replace('\0', ".");
            let Some(value) = c.data().property(&path).map(<[u8]>::to_vec) else {
                // What Envoy returns for a property it does not have; the SDK maps it to None
                // (anything else makes `Context::get_property` panic).
                return Ok(NOT_FOUND);
            };
            return_bytes(&mut c, &value, ret_ptr, ret_len)?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_property",
        |mut c: C<'_>, pp: i32, pl: i32, vp: i32, vl: i32| -> Result<i32> {
            let path = read_string(&mut c, pp, pl)?.replace('\0', ".");
            let value = read(&mut c, vp, vl)?;
            let state = c.data_mut();
            match state.stream_mut() {
                Some(s) => {
                    s.properties.set(&path, value);
                }
                None => {
                    state.vm_properties.set(&path, value);
                }
            }
            Ok(OK)
        },
    )?;
    linker.func_wrap("env", "proxy_continue_stream", |c: C<'_>, _ty: i32| -> Result<i32> {
        Ok(if c.data().streams.contains_key(&c.data().active) { OK } else { NOT_FOUND })
    })?;
    linker.func_wrap("env", "proxy_close_stream", |mut c: C<'_>, ty: i32| -> Result<i32> {
        let Some(s) = c.data_mut().stream_mut() else {
            return Ok(NOT_FOUND);
        };
        match ty {
            0 | 1 => s.reset = true,
            2 => s.closed_downstream = true,
            3 => s.closed_upstream = true,
            _ => return Ok(BAD_ARGUMENT),
        }
        Ok(OK)
    })?;
    linker.func_wrap(
        "env",
        "proxy_send_local_response",
        |mut c: C<'_>, status: i32, dp: i32, dl: i32, bp: i32, bl: i32, hp: i32, hl: i32, _grpc: i32| -> Result<i32> {
            let details = read_string(&mut c, dp, dl)?;
            let body = read(&mut c, bp, bl)?;
            let raw = read(&mut c, hp, hl)?;
            let Some(headers) = deserialize_map(&raw) else {
                return Ok(PARSE_FAILURE);
            };
            let headers = headers.into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v).into_owned())).collect();
            let Some(s) = c.data_mut().stream_mut() else {
                return Ok(NOT_FOUND);
            };
            s.local_response =
                Some(LocalResponse { status: u32::from_ne_bytes(status.to_ne_bytes()), details, body, headers });
            Ok(OK)
        },
    )?;
    Ok(())
}

fn define_metrics(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_define_metric",
        |mut c: C<'_>, kind: i32, np: i32, nl: i32, ret: i32| -> Result<i32> {
            if !(0..=2).contains(&kind) {
                return Ok(BAD_ARGUMENT);
            }
            let name = read_string(&mut c, np, nl)?;
            let metrics = &mut c.data_mut().metrics;
            let id = match metrics.iter().position(|m| m.name == name) {
                Some(i) => i,
                None => {
                    metrics.push(Metric { name, kind, value: 0 });
                    metrics.len() - 1
                }
            };
            write_u32(&mut c, ret, u32::try_from(id).unwrap_or(u32::MAX))?;
            Ok(OK)
        },
    )?;
    linker.func_wrap("env", "proxy_get_metric", |mut c: C<'_>, id: i32, ret: i32| -> Result<i32> {
        let Some(v) = c.data().metrics.get(usize_of(id)).map(|m| m.value) else {
            return Ok(NOT_FOUND);
        };
        write(&mut c, ret, &v.to_le_bytes())?;
        Ok(OK)
    })?;
    linker.func_wrap("env", "proxy_record_metric", |mut c: C<'_>, id: i32, value: i64| -> Result<i32> {
        let Some(m) = c.data_mut().metrics.get_mut(usize_of(id)) else {
            return Ok(NOT_FOUND);
        };
        m.value = u64::from_ne_bytes(value.to_ne_bytes());
        Ok(OK)
    })?;
    linker.func_wrap("env", "proxy_increment_metric", |mut c: C<'_>, id: i32, offset: i64| -> Result<i32> {
        let Some(m) = c.data_mut().metrics.get_mut(usize_of(id)) else {
            return Ok(NOT_FOUND);
        };
        if m.kind == 0 && offset < 0 {
            return Ok(BAD_ARGUMENT);
        }
        m.value = m.value.saturating_add_signed(offset);
        Ok(OK)
    })?;
    Ok(())
}

fn define_shared_state(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_get_shared_data",
        |mut c: C<'_>, kp: i32, kl: i32, ret_ptr: i32, ret_len: i32, ret_cas: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, kl)?;
            let Some((value, cas)) = c.data().shared_data.get(&key).cloned() else {
                return Ok(NOT_FOUND);
            };
            return_bytes(&mut c, &value, ret_ptr, ret_len)?;
            write_u32(&mut c, ret_cas, cas)?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_set_shared_data",
        |mut c: C<'_>, kp: i32, kl: i32, vp: i32, vl: i32, cas: i32| -> Result<i32> {
            let key = read_string(&mut c, kp, kl)?;
            let value = read(&mut c, vp, vl)?;
            let cas = u32::from_ne_bytes(cas.to_ne_bytes());
            let entry = c.data_mut().shared_data.entry(key).or_insert((Vec::new(), 0));
            if cas != 0 && cas != entry.1 {
                return Ok(CAS_MISMATCH);
            }
            *entry = (value, entry.1.wrapping_add(1).max(1));
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_register_shared_queue",
        |mut c: C<'_>, np: i32, nl: i32, ret: i32| -> Result<i32> {
            let name = read_string(&mut c, np, nl)?;
            let queues = &mut c.data_mut().queues;
            let id = match queues.iter().position(|(n, _)| *n == name) {
                Some(i) => i,
                None => {
                    queues.push((name, std::collections::VecDeque::new()));
                    queues.len() - 1
                }
            };
            write_u32(&mut c, ret, u32::try_from(id).unwrap_or(u32::MAX))?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_resolve_shared_queue",
        |mut c: C<'_>, _vp: i32, _vl: i32, np: i32, nl: i32, ret: i32| -> Result<i32> {
            let name = read_string(&mut c, np, nl)?;
            let Some(id) = c.data().queues.iter().position(|(n, _)| *n == name) else {
                return Ok(NOT_FOUND);
            };
            write_u32(&mut c, ret, u32::try_from(id).unwrap_or(u32::MAX))?;
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_enqueue_shared_queue",
        |mut c: C<'_>, id: i32, vp: i32, vl: i32| -> Result<i32> {
            let value = read(&mut c, vp, vl)?;
            let Some((_, q)) = c.data_mut().queues.get_mut(usize_of(id)) else {
                return Ok(NOT_FOUND);
            };
            q.push_back(value);
            Ok(OK)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_dequeue_shared_queue",
        |mut c: C<'_>, id: i32, ret_ptr: i32, ret_len: i32| -> Result<i32> {
            let Some((_, q)) = c.data_mut().queues.get_mut(usize_of(id)) else {
                return Ok(NOT_FOUND);
            };
            let Some(value) = q.pop_front() else {
                return Ok(EMPTY);
            };
            return_bytes(&mut c, &value, ret_ptr, ret_len)?;
            Ok(OK)
        },
    )?;
    Ok(())
}

/// HTTP/gRPC callouts and foreign functions: there is no cluster manager here, so these
/// answer NotFound (the SDK hands that to the filter as an `Err`).
fn define_callouts(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        "env",
        "proxy_http_call",
        |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| -> Result<i32> {
            Ok(NOT_FOUND)
        },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_call",
        |_: C<'_>,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32,
         _: i32|
         -> Result<i32> { Ok(NOT_FOUND) },
    )?;
    linker.func_wrap(
        "env",
        "proxy_grpc_stream",
        |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| -> Result<i32> {
            Ok(NOT_FOUND)
        },
    )?;
    linker.func_wrap("env", "proxy_grpc_send", |_: C<'_>, _: i32, _: i32, _: i32, _: i32| -> Result<i32> {
        Ok(NOT_FOUND)
    })?;
    linker.func_wrap("env", "proxy_grpc_cancel", |_: C<'_>, _: i32| -> Result<i32> { Ok(NOT_FOUND) })?;
    linker.func_wrap("env", "proxy_grpc_close", |_: C<'_>, _: i32| -> Result<i32> { Ok(NOT_FOUND) })?;
    linker.func_wrap("env", "proxy_get_status", |_: C<'_>, _: i32, _: i32, _: i32| -> Result<i32> { Ok(NOT_FOUND) })?;
    linker.func_wrap(
        "env",
        "proxy_call_foreign_function",
        |_: C<'_>, _: i32, _: i32, _: i32, _: i32, _: i32, _: i32| -> Result<i32> { Ok(NOT_FOUND) },
    )?;
    Ok(())
}

const WASI: &str = "wasi_snapshot_preview1";
const ERRNO_SUCCESS: i32 = 0;
const ERRNO_BADF: i32 = 8;
const ERRNO_INVAL: i32 = 28;

/// The WASI calls a wasm32-wasip1 filter imports (Envoy implements the same handful).
fn define_wasi(linker: &mut Linker<HostState>) -> Result<()> {
    linker.func_wrap(
        WASI,
        "fd_write",
        |mut c: C<'_>, fd: i32, iovs: i32, iovs_len: i32, nwritten: i32| -> Result<i32> {
            if fd != 1 && fd != 2 {
                return Ok(ERRNO_BADF);
            }
            let mut out = Vec::new();
            for i in 0..usize_of(iovs_len) {
                let at = usize_of(iovs)
                    .checked_add(i.checked_mul(8).ok_or_else(|| format_err!("iovec overflow"))?)
                    .ok_or_else(|| format_err!("iovec overflow"))?;
                let at = i32::try_from(at).map_err(|_| format_err!("iovec out of bounds"))?;
                let iov = read(&mut c, at, 8)?;
                let word = |r: std::ops::Range<usize>| -> Result<i32> {
                    let b: [u8; 4] =
                        iov.get(r).and_then(|s| s.try_into().ok()).ok_or_else(|| format_err!("short iovec"))?;
                    Ok(i32::from_le_bytes(b))
                };
                let (ptr, len) = (word(0..4)?, word(4..8)?);
                out.extend(read(&mut c, ptr, len)?);
            }
            let n = u32::try_from(out.len()).unwrap_or(u32::MAX);
            let text = String::from_utf8_lossy(&out).trim_end().to_owned();
            if !text.is_empty() {
                c.data_mut().push_log(if fd == 1 { 2 } else { 3 }, text);
            }
            write_u32(&mut c, nwritten, n)?;
            Ok(ERRNO_SUCCESS)
        },
    )?;
    for name in ["environ_sizes_get", "args_sizes_get"] {
        linker.func_wrap(WASI, name, |mut c: C<'_>, count: i32, size: i32| -> Result<i32> {
            write_u32(&mut c, count, 0)?;
            write_u32(&mut c, size, 0)?;
            Ok(ERRNO_SUCCESS)
        })?;
    }
    for name in ["environ_get", "args_get"] {
        linker.func_wrap(WASI, name, |_: C<'_>, _: i32, _: i32| -> Result<i32> { Ok(ERRNO_SUCCESS) })?;
    }
    linker.func_wrap(WASI, "proc_exit", |_: C<'_>, code: i32| -> Result<()> {
        Err(format_err!("the filter called proc_exit({code})"))
    })?;
    linker.func_wrap(WASI, "clock_time_get", |mut c: C<'_>, id: i32, _precision: i64, ret: i32| -> Result<i32> {
        let nanos = match id {
            // Realtime, and monotonic (any fixed origin will do).
            0 | 1 => now_nanos(),
            _ => return Ok(ERRNO_INVAL),
        };
        write(&mut c, ret, &nanos.to_le_bytes())?;
        Ok(ERRNO_SUCCESS)
    })?;
    linker.func_wrap(WASI, "random_get", |mut c: C<'_>, ptr: i32, len: i32| -> Result<i32> {
        use ring::rand::SecureRandom as _;
        let mut buf = vec![0u8; usize_of(len)];
        ring::rand::SystemRandom::new().fill(&mut buf).map_err(|_| format_err!("no system randomness"))?;
        write(&mut c, ptr, &buf)?;
        Ok(ERRNO_SUCCESS)
    })?;
    linker.func_wrap(WASI, "sched_yield", |_: C<'_>| -> Result<i32> { Ok(ERRNO_SUCCESS) })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn map_round_trip_and_malformed() {
        let pairs = vec![(":path".to_owned(), b"/".to_vec()), ("x".to_owned(), Vec::new())];
        let bytes = serialize_map(&pairs);
        assert_eq!(deserialize_map(&bytes), Some(pairs));
        assert_eq!(deserialize_map(&bytes[..bytes.len() - 1]), None);
        assert_eq!(deserialize_map(&[255, 255, 255, 255]), None);
    }
}
