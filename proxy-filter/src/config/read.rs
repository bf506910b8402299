//! The plugin configuration's JSON, read without serde.
//!
//! The core's types derive serde and the writers (CLI, host, playground) use that; the filter
//! reads the same JSON here instead, because serde_json and the derived deserializers were most of
//! the module's code and Envoy's V8 compiles all of it before the first call (docs/envoy.md,
//! "Numbers"). It accepts exactly what the derived readers accept (the tests compare both on
//! every truncation and on thousands of mutations of real configurations): unknown fields are
//! refused; a struct may also be an array of its fields in order and a unit variant
//! `{"name": null}`, as serde reads them; duplicate fields are refused at the top level and the
//! last one wins inside `compiled` (serde_json reads that part as a `Value` first). Nesting is
//! bounded as in serde_json, so hostile input cannot exhaust the VM's stack.

use meshlock_core::authz::{NamedRules, Rule, Source, WorkloadAuthz};
use meshlock_core::compile::plugin::{Direction, FilterKind, LogSetting, WorkloadRef};
use meshlock_core::compile::{CompiledError, CompiledPolicy, SCHEMA};
use meshlock_core::enforce::{InboundPolicy, OutboundPolicy};
use meshlock_core::model::Mode;

/// Why the JSON cannot be read as a configuration; worded as serde words it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ReadError {
    Syntax { what: &'static str, line: usize, column: usize },
    Missing(&'static str),
    Unknown(String, String),
    Duplicate(String),
    Type { found: &'static str, expected: &'static str },
    Port(String),
    Variant(String, String),
    Length(usize, usize),
}

impl ReadError {
    /// The one-line message, built without `core::fmt` (the filter's refusal path stays out of
    /// the formatting machinery); `Display` writes the same.
    pub fn message(&self) -> String {
        let mut m = String::new();
        match self {
            Self::Syntax { what, line, column } => {
                push_all(&mut m, &[what, " at line "]);
                push_uint(&mut m, *line as u64);
                m.push_str(" column ");
                push_uint(&mut m, *column as u64);
            }
            Self::Missing(name) => push_all(&mut m, &["missing field `", name, "`"]),
            Self::Unknown(name, expected) => {
                push_all(&mut m, &["unknown field `", name, "`, expected one of ", expected])
            }
            Self::Duplicate(name) => push_all(&mut m, &["duplicate field `", name, "`"]),
            Self::Type { found, expected } => push_all(&mut m, &["invalid type: ", found, ", expected ", expected]),
            Self::Port(text) => push_all(&mut m, &["invalid value: `", text, "`, expected u16"]),
            Self::Variant(name, expected) => {
                push_all(&mut m, &["unknown variant `", name, "`, expected one of ", expected]);
            }
            Self::Length(found, at_most) => {
                m.push_str("invalid length ");
                push_uint(&mut m, *found as u64);
                m.push_str(", expected at most ");
                push_uint(&mut m, *at_most as u64);
                m.push_str(" fields");
            }
        }
        m
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl std::error::Error for ReadError {}

/// Appends every piece.
pub fn push_all(out: &mut String, pieces: &[&str]) {
    for piece in pieces {
        out.push_str(piece);
    }
}

/// Appends `n` in decimal.
pub fn push_uint(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        if let Some(d) = digits.get_mut(at) {
            *d = b'0' + (n % 10) as u8;
        }
        n /= 10;
        if n == 0 || at == 0 {
            break;
        }
    }
    for d in digits.iter().skip(at) {
        out.push(char::from(*d));
    }
}

/// `` `a`, `b` ``: the names serde lists as expected.
fn expected_list(names: impl Iterator<Item = &'static str>) -> String {
    let mut out = String::new();
    for (i, name) in names.enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        push_all(&mut out, &["`", name, "`"]);
    }
    out
}

/// The plugin configuration as read; `compiled` is kept as JSON (in the parsed document) so
/// that its schema is checked before its fields.
pub struct Plugin<'a> {
    pub direction: Direction,
    pub compiled: Option<&'a Json>,
    #[cfg_attr(
        all(not(feature = "yaml-config"), not(test)),
        expect(dead_code, reason = "read and type-checked in every build, as before; used by the YAML form")
    )]
    pub workload: Option<WorkloadRef>,
    pub policies: Option<String>,
    #[cfg_attr(
        all(not(feature = "yaml-config"), not(test)),
        expect(dead_code, reason = "read and type-checked in every build, as before; used by the YAML form")
    )]
    pub istio_version: Option<String>,
    pub log: Option<LogSetting>,
    pub kind: Option<FilterKind>,
}

/// A JSON value. Objects keep every member in document order, duplicates included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Json {
    Null,
    Bool(bool),
    /// The number's text, as JSON's grammar allows it.
    Number(String),
    Str(String),
    Array(Vec<Json>),
    Object(Vec<(String, Json)>),
}

/// Reads the plugin configuration from its parsed document (the `compiled` part only as JSON:
/// [`compiled_policy`]).
pub fn plugin(value: &Json) -> Result<Plugin<'_>, ReadError> {
    let [direction, compiled, workload, policies, istio_version, log, kind] = fields(
        value,
        ["direction", "compiled", "workload", "policies", "istioVersion", "log", "kind"],
        "struct PluginConfig",
        Duplicates::Refused,
    )?;
    Ok(Plugin {
        direction: variant(
            required(direction, "direction")?,
            &["inbound", "outbound"],
            &[Direction::Inbound, Direction::Outbound],
        )?,
        compiled: optional(compiled),
        workload: optional(workload).map(workload_ref).transpose()?,
        policies: optional(policies).map(string).transpose()?,
        istio_version: optional(istio_version).map(string).transpose()?,
        log: optional(log)
            .map(|v| variant(v, &["decisions", "off"], &[LogSetting::Decisions, LogSetting::Off]))
            .transpose()?,
        kind: optional(kind)
            .map(|v| variant(v, &["http", "network"], &[FilterKind::Http, FilterKind::Network]))
            .transpose()?,
    })
}

/// [`CompiledPolicy::from_value`] on [`Json`]: the schema first, then every field, then
/// [`CompiledPolicy::validate`].
pub fn compiled_policy(value: &Json) -> Result<CompiledPolicy, CompiledError> {
    let schema = match value {
        Json::Object(members) => members.iter().rev().find(|(k, _)| k == "schema").map(|(_, v)| v),
        _ => None,
    };
    match schema.map(as_u64) {
        None => return Err(CompiledError::NoSchema),
        Some(Some(n)) if n == u64::from(SCHEMA) => {}
        Some(n) => return Err(CompiledError::Schema(n.unwrap_or(0))),
    }
    let policy = compiled_fields(value).map_err(|e| CompiledError::Json(e.message()))?;
    policy.validate()?;
    Ok(policy)
}

fn compiled_fields(value: &Json) -> Result<CompiledPolicy, ReadError> {
    let [_schema, workload, identity, inbound, outbound] = fields(
        value,
        ["schema", "workload", "identity", "inbound", "outbound"],
        "struct CompiledPolicy",
        Duplicates::LastWins,
    )?;
    Ok(CompiledPolicy {
        // Checked by `compiled_policy` before anything else.
        schema: SCHEMA,
        workload: string(required(workload, "workload")?)?,
        identity: string(required(identity, "identity")?)?,
        inbound: optional(inbound).map(inbound_policy).transpose()?,
        outbound: optional(outbound).map(|v| array(v, outbound_policy)).transpose()?,
    })
}

fn inbound_policy(value: &Json) -> Result<InboundPolicy, ReadError> {
    let [workload, default_mode, port_modes, trust_domains, authz] = fields(
        value,
        ["workload", "defaultMode", "portModes", "trustDomains", "authz"],
        "struct InboundPolicy",
        Duplicates::LastWins,
    )?;
    Ok(InboundPolicy {
        workload: string(required(workload, "workload")?)?,
        default_mode: mode(required(default_mode, "defaultMode")?)?,
        port_modes: port_map(required(port_modes, "portModes")?)?,
        trust_domains: array(required(trust_domains, "trustDomains")?, string)?,
        authz: workload_authz(required(authz, "authz")?)?,
    })
}

fn workload_authz(value: &Json) -> Result<WorkloadAuthz, ReadError> {
    let [allow, deny] = fields(value, ["allow", "deny"], "struct WorkloadAuthz", Duplicates::LastWins)?;
    Ok(WorkloadAuthz {
        allow: array(required(allow, "allow")?, named_rules)?,
        deny: array(required(deny, "deny")?, named_rules)?,
    })
}

fn named_rules(value: &Json) -> Result<NamedRules, ReadError> {
    let [policy, rules] = fields(value, ["policy", "rules"], "struct NamedRules", Duplicates::LastWins)?;
    Ok(NamedRules { policy: string(required(policy, "policy")?)?, rules: array(required(rules, "rules")?, rule)? })
}

fn rule(value: &Json) -> Result<Rule, ReadError> {
    let [from, ports, not_ports, unevaluable] =
        fields(value, ["from", "ports", "notPorts", "unevaluable"], "struct Rule", Duplicates::LastWins)?;
    Ok(Rule {
        from: array(required(from, "from")?, source)?,
        ports: array(required(ports, "ports")?, port)?,
        not_ports: array(required(not_ports, "notPorts")?, port)?,
        unevaluable: boolean(required(unevaluable, "unevaluable")?)?,
    })
}

fn source(value: &Json) -> Result<Source, ReadError> {
    let [principals, not_principals, namespaces, not_namespaces, unevaluable] = fields(
        value,
        ["principals", "notPrincipals", "namespaces", "notNamespaces", "unevaluable"],
        "struct Source",
        Duplicates::LastWins,
    )?;
    Ok(Source {
        principals: array(required(principals, "principals")?, string)?,
        not_principals: array(required(not_principals, "notPrincipals")?, string)?,
        namespaces: array(required(namespaces, "namespaces")?, string)?,
        not_namespaces: array(required(not_namespaces, "notNamespaces")?, string)?,
        unevaluable: boolean(required(unevaluable, "unevaluable")?)?,
    })
}

fn outbound_policy(value: &Json) -> Result<OutboundPolicy, ReadError> {
    let [host, port_, identities] =
        fields(value, ["host", "port", "identities"], "struct OutboundPolicy", Duplicates::LastWins)?;
    Ok(OutboundPolicy {
        host: string(required(host, "host")?)?,
        port: optional(port_).map(port).transpose()?,
        identities: array(required(identities, "identities")?, string)?,
    })
}

fn workload_ref(value: &Json) -> Result<WorkloadRef, ReadError> {
    let [namespace, name] = fields(value, ["namespace", "name"], "struct WorkloadRef", Duplicates::Refused)?;
    Ok(WorkloadRef { namespace: string(required(namespace, "namespace")?)?, name: string(required(name, "name")?)? })
}

fn mode(value: &Json) -> Result<Mode, ReadError> {
    variant(value, &["DISABLE", "PERMISSIVE", "STRICT"], &[Mode::Disable, Mode::Permissive, Mode::Strict])
}

// === the shapes serde reads ===

/// serde_json refuses a repeated field while it streams a struct; inside `compiled`, read as a
/// `Value` first, the last one has replaced the others.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Duplicates {
    Refused,
    LastWins,
}

/// A struct's fields in declaration order: from an object, by name (unknown names refused), or
/// from an array, by position.
fn fields<'v, const N: usize>(
    value: &'v Json,
    names: [&'static str; N],
    what: &'static str,
    duplicates: Duplicates,
) -> Result<[Option<&'v Json>; N], ReadError> {
    let mut out = [None; N];
    fields_into(value, &names, &mut out, what, duplicates)?;
    Ok(out)
}

/// [`fields`] for any number of fields: one function in the module, not one per struct.
fn fields_into<'v>(
    value: &'v Json,
    names: &[&'static str],
    out: &mut [Option<&'v Json>],
    what: &'static str,
    duplicates: Duplicates,
) -> Result<(), ReadError> {
    match value {
        Json::Object(members) => {
            for (key, v) in members {
                let slot = names.iter().position(|n| n == key).and_then(|i| out.get_mut(i));
                let Some(slot) = slot else {
                    return Err(ReadError::Unknown(key.clone(), expected_list(names.iter().copied())));
                };
                if slot.is_some() && duplicates == Duplicates::Refused {
                    return Err(ReadError::Duplicate(key.clone()));
                }
                *slot = Some(v);
            }
        }
        Json::Array(items) => {
            if items.len() > out.len() {
                return Err(ReadError::Length(items.len(), out.len()));
            }
            for (slot, v) in out.iter_mut().zip(items) {
                *slot = Some(v);
            }
        }
        other => return Err(type_error(other, what)),
    }
    Ok(())
}

fn required<'v>(field: Option<&'v Json>, name: &'static str) -> Result<&'v Json, ReadError> {
    field.ok_or(ReadError::Missing(name))
}

/// An `Option` field: absent and `null` are both `None`.
fn optional(field: Option<&Json>) -> Option<&Json> {
    field.filter(|v| **v != Json::Null)
}

/// A unit variant: its name as a string, or an object of that one name with `null`;
/// `values` in the order of `names`.
fn variant<T: Copy>(value: &Json, names: &[&'static str], values: &[T]) -> Result<T, ReadError> {
    let at = variant_index(value, names)?;
    values.get(at).copied().ok_or_else(|| type_error(value, "a variant name"))
}

/// Which of `names` a unit variant is: one function for every enum read.
fn variant_index(value: &Json, names: &[&'static str]) -> Result<usize, ReadError> {
    let name = match value {
        Json::Str(s) => s,
        Json::Object(members) => match members.as_slice() {
            [(name, Json::Null)] => name,
            _ => return Err(type_error(value, "a variant name")),
        },
        other => return Err(type_error(other, "a variant name")),
    };
    names
        .iter()
        .position(|n| n == name)
        .ok_or_else(|| ReadError::Variant(name.clone(), expected_list(names.iter().copied())))
}

fn string(value: &Json) -> Result<String, ReadError> {
    match value {
        Json::Str(s) => Ok(s.clone()),
        other => Err(type_error(other, "a string")),
    }
}

fn boolean(value: &Json) -> Result<bool, ReadError> {
    match value {
        Json::Bool(b) => Ok(*b),
        other => Err(type_error(other, "a boolean")),
    }
}

fn array<T>(value: &Json, item: fn(&Json) -> Result<T, ReadError>) -> Result<Vec<T>, ReadError> {
    let Json::Array(items) = value else {
        return Err(type_error(value, "a sequence"));
    };
    let mut out = Vec::with_capacity(items.len());
    for v in items {
        out.push(item(v)?);
    }
    Ok(out)
}

/// A JSON number as serde_json's `as_u64` sees it: an integer without sign, fraction or
/// exponent that fits (anything else is a negative or a floating-point number).
fn as_u64(value: &Json) -> Option<u64> {
    match value {
        Json::Number(text) if text.bytes().all(|b| b.is_ascii_digit()) => text.parse().ok(),
        _ => None,
    }
}

fn port(value: &Json) -> Result<u16, ReadError> {
    match value {
        Json::Number(text) => {
            as_u64(value).and_then(|n| u16::try_from(n).ok()).ok_or_else(|| ReadError::Port(text.clone()))
        }
        other => Err(type_error(other, "u16")),
    }
}

/// `portModes`: object keys that are JSON integers (exactly: no sign, space or leading zero),
/// sorted by port; a repeated port keeps its last mode, as a map read does.
fn port_map(value: &Json) -> Result<Vec<(u16, Mode)>, ReadError> {
    let Json::Object(members) = value else {
        return Err(type_error(value, "a map"));
    };
    let mut out: Vec<(u16, Mode)> = Vec::new();
    for (key, v) in members {
        let canonical =
            !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) && (key == "0" || !key.starts_with('0'));
        let port = if canonical { key.parse::<u16>().ok() } else { None };
        let Some(port) = port else {
            return Err(ReadError::Port(key.clone()));
        };
        let mode = mode(v)?;
        match out.binary_search_by_key(&port, |(p, _)| *p) {
            Ok(at) => {
                if let Some(slot) = out.get_mut(at) {
                    slot.1 = mode;
                }
            }
            Err(at) => out.insert(at, (port, mode)),
        }
    }
    Ok(out)
}

fn type_error(found: &Json, expected: &'static str) -> ReadError {
    let found = match found {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Number(_) => "number",
        Json::Str(_) => "string",
        Json::Array(_) => "sequence",
        Json::Object(_) => "map",
    };
    ReadError::Type { found, expected }
}

// === JSON text ===

/// serde_json's nesting limit.
const MAX_DEPTH: usize = 128;

/// One JSON value and nothing after it but whitespace.
pub fn parse(json: &[u8]) -> Result<Json, ReadError> {
    let mut p = Parser { bytes: json, pos: 0, depth: 0 };
    let value = p.value()?;
    p.ws();
    if p.peek().is_some() {
        return p.err("trailing characters");
    }
    Ok(value)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn eat(&mut self, b: u8) -> bool {
        let hit = self.peek() == Some(b);
        if hit {
            self.pos += 1;
        }
        hit
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.pos += 1;
        }
    }

    /// An error at the current position (one function: the generic `err` only wraps it).
    fn err<T>(&self, what: &'static str) -> Result<T, ReadError> {
        Err(self.error(what))
    }

    fn error(&self, what: &'static str) -> ReadError {
        let before = self.bytes.get(..self.pos).unwrap_or(self.bytes);
        let line = 1 + before.iter().filter(|b| **b == b'\n').count();
        let column = 1 + before.iter().rev().take_while(|b| **b != b'\n').count();
        ReadError::Syntax { what, line, column }
    }

    fn value(&mut self) -> Result<Json, ReadError> {
        self.ws();
        match self.peek() {
            None => self.err("EOF while parsing a value"),
            Some(b'n') => self.word("null", Json::Null),
            Some(b't') => self.word("true", Json::Bool(true)),
            Some(b'f') => self.word("false", Json::Bool(false)),
            Some(b'"') => Ok(Json::Str(self.string()?)),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(b'[' | b'{') => {
                self.depth += 1;
                if self.depth >= MAX_DEPTH {
                    return self.err("recursion limit exceeded");
                }
                let value = self.container();
                self.depth -= 1;
                value
            }
            Some(_) => self.err("expected value"),
        }
    }

    fn word(&mut self, word: &str, value: Json) -> Result<Json, ReadError> {
        if self.bytes.get(self.pos..).is_some_and(|rest| rest.starts_with(word.as_bytes())) {
            self.pos += word.len();
            Ok(value)
        } else {
            self.err("expected ident")
        }
    }

    fn digits(&mut self) -> bool {
        let start = self.pos;
        while self.peek().is_some_and(|b| b.is_ascii_digit()) {
            self.pos += 1;
        }
        self.pos > start
    }

    fn number(&mut self) -> Result<Json, ReadError> {
        let start = self.pos;
        self.eat(b'-');
        if !(self.eat(b'0') || self.digits()) {
            return self.err("invalid number");
        }
        if self.eat(b'.') && !self.digits() {
            return self.err("invalid number");
        }
        if self.eat(b'e') || self.eat(b'E') {
            if !self.eat(b'+') {
                self.eat(b'-');
            }
            if !self.digits() {
                return self.err("invalid number");
            }
        }
        let text = self.bytes.get(start..self.pos).and_then(|b| std::str::from_utf8(b).ok()).unwrap_or_default();
        Ok(Json::Number(text.to_owned()))
    }

    fn string(&mut self) -> Result<String, ReadError> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            let Some(b) = self.peek() else {
                return self.err("EOF while parsing a string");
            };
            self.pos += 1;
            match b {
                b'"' => break,
                b'\\' => self.escape(&mut out)?,
                0..=0x1f => return self.err("control character (\\u0000-\\u001F) found while parsing a string"),
                _ => out.push(b),
            }
        }
        String::from_utf8(out).or_else(|_| self.err("invalid unicode code point"))
    }

    fn escape(&mut self, out: &mut Vec<u8>) -> Result<(), ReadError> {
        let Some(b) = self.peek() else {
            return self.err("EOF while parsing a string");
        };
        self.pos += 1;
        let c = match b {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => self.unicode_escape()?,
            _ => return self.err("invalid escape"),
        };
        out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
        Ok(())
    }

    /// `\uXXXX`, a surrogate pair as two: a lone surrogate is refused, as in serde_json.
    fn unicode_escape(&mut self) -> Result<char, ReadError> {
        let high = self.hex4()?;
        let code = if (0xD800..=0xDBFF).contains(&high) {
            if !(self.eat(b'\\') && self.eat(b'u')) {
                return self.err("unexpected end of hex escape");
            }
            let low = self.hex4()?;
            if !(0xDC00..=0xDFFF).contains(&low) {
                return self.err("lone leading surrogate in hex escape");
            }
            0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)
        } else {
            high
        };
        match char::from_u32(code) {
            Some(c) => Ok(c),
            None => self.err("lone leading surrogate in hex escape"),
        }
    }

    fn hex4(&mut self) -> Result<u32, ReadError> {
        let mut n = 0;
        for _ in 0..4 {
            let Some(d) = self.peek().and_then(|b| char::from(b).to_digit(16)) else {
                return self.err("invalid escape");
            };
            self.pos += 1;
            n = n * 16 + d;
        }
        Ok(n)
    }

    /// An array or an object (the opening bracket is next).
    fn container(&mut self) -> Result<Json, ReadError> {
        let object = self.peek() == Some(b'{');
        let close = if object { b'}' } else { b']' };
        self.pos += 1;
        let mut items = Vec::new();
        let mut members = Vec::new();
        self.ws();
        if !self.eat(close) {
            loop {
                if object {
                    self.ws();
                    if self.peek() != Some(b'"') {
                        return self.err(if self.peek().is_none() {
                            "EOF while parsing an object"
                        } else {
                            "key must be a string"
                        });
                    }
                    let key = self.string()?;
                    self.ws();
                    if !self.eat(b':') {
                        return self.err("expected `:`");
                    }
                    members.push((key, self.value()?));
                } else {
                    items.push(self.value()?);
                }
                self.ws();
                if self.eat(close) {
                    break;
                }
                if !self.eat(b',') {
                    return self.err(if self.peek().is_none() {
                        "EOF while parsing a list or object"
                    } else {
                        "expected `,` or a closing bracket"
                    });
                }
                self.ws();
                if self.peek() == Some(close) {
                    return self.err("trailing comma");
                }
            }
        }
        Ok(if object { Json::Object(members) } else { Json::Array(items) })
    }
}
