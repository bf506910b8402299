//! The front door: text in, typed [`Resources`] and located [`Diagnostic`]s out.
//!
//! Accepts multi-document YAML, JSON, and `kind: List` (what `kubectl get -o yaml` prints).
//! A syntax error in one document is reported with its position and the other documents are
//! still read. Limits stop hostile input (alias bombs, pathological nesting, endless streams),
//! not big meshes: a 50k-service export is tens of megabytes.

mod kinds;
pub mod locate;
pub mod outline;
mod read;
mod yaml;

use crate::diagnostic::{Code, Diagnostic};
use crate::model::{ResourceId, Resources};
use crate::source::{Location, Source};
use kinds::Kind;
use locate::Seg;
use outline::{Heads, Outline};
use read::Ctx;
use std::collections::HashMap;
use yaml::{Built, DocumentText, Node, Role};

/// Input limits (docs/limits.md). Alias expansion and nesting up to 128 levels are bounded
/// inside the YAML parser itself and reported as syntax errors at their position; nesting
/// beyond [`SCAN_DEPTH_LIMIT`] is refused by the outline scan before the parser runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes in one source.
    pub max_source_bytes: usize,
    /// Documents (and List items) across all sources.
    pub max_documents: usize,
}

impl Limits {
    pub const DEFAULT: Self = Self { max_source_bytes: 256 * 1024 * 1024, max_documents: 1_000_000 };
}

impl Default for Limits {
    fn default() -> Self {
        Self::DEFAULT
    }
}

/// Nesting deeper than this is refused by the linear outline scan, before the YAML parser
/// sees the document (the parser's own check runs after a scan whose cost is depth times
/// length). Between the parser's limit (128) and this one, the parser decides.
pub const SCAN_DEPTH_LIMIT: usize = 256;

/// The result of reading every source.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub resources: Resources,
    pub diagnostics: Vec<Diagnostic>,
    /// Documents that could not be parsed at all (the CLI exits 2 when this is not zero).
    pub unreadable: usize,
    /// What reading cost, counted: tests check it grows linearly with the input.
    pub work: Work,
}

/// The front door's work, counted rather than timed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Work {
    /// Bytes the outline scan looked at.
    pub scanned_bytes: u64,
    /// Bytes handed to a parser (documents and List items of kinds that bear on mTLS).
    pub parsed_bytes: u64,
    /// Nodes built by the parser.
    pub nodes_built: u64,
    /// Lines looked at to put a position on a diagnostic.
    pub lines_located: u64,
    /// Documents and List items skipped by kind without being parsed.
    pub skipped_unparsed: u64,
}

impl Work {
    /// All of it in one number: what the linearity tests compare.
    pub fn total(&self) -> u64 {
        self.scanned_bytes + self.parsed_bytes + self.nodes_built + self.lines_located
    }
}

/// Reads every source with the default limits.
pub fn parse_sources(sources: &[Source]) -> Parsed {
    parse_with_limits(sources, &Limits::DEFAULT)
}

pub fn parse_with_limits(sources: &[Source], limits: &Limits) -> Parsed {
    let mut out = Parsed::default();
    let mut seen: HashMap<ResourceId, Location> = HashMap::new();
    let mut documents = 0usize;
    for source in sources {
        if source.text.len() > limits.max_source_bytes {
            let msg = format!(
                "input is {} bytes, over the limit of {} bytes; it is not read",
                source.text.len(),
                limits.max_source_bytes
            );
            out.diagnostics.push(Diagnostic::new(Code::InputLimit, msg, &Location::new(&source.name, 1, 1)));
            out.unreadable += 1;
            continue;
        }
        for doc in yaml::split_documents(&source.text) {
            documents += 1;
            if documents > limits.max_documents {
                let msg = format!("more than {} documents; the rest of the input is not read", limits.max_documents);
                out.diagnostics.push(Diagnostic::new(
                    Code::InputLimit,
                    msg,
                    &Location::new(&source.name, doc.first_line, 1),
                ));
                out.unreadable += 1;
                return finish(out);
            }
            let outline = match outline::outline(doc.text, SCAN_DEPTH_LIMIT) {
                Ok(o) => o,
                Err(deep) => {
                    let msg = format!(
                        "nesting deeper than {} levels (the limit is 128); the document is refused",
                        deep.limit
                    );
                    let at = Location::new(&source.name, doc.first_line.saturating_add(deep.line), deep.column);
                    out.diagnostics.push(Diagnostic::new(Code::InputLimit, msg, &at));
                    out.unreadable += 1;
                    continue;
                }
            };
            out.work.scanned_bytes += outline.scanned;
            if read_list_items(&source.name, &doc, &outline, &mut out, &mut seen, &mut documents, limits).is_break() {
                return finish(out);
            }
        }
    }
    finish(out)
}

/// Reads one document whose outline is known: a List item by item, a resource of a kind that
/// does not bear on mTLS by its outline alone, anything else parsed whole.
fn read_list_items(
    file: &str,
    doc: &DocumentText<'_>,
    outline: &Outline,
    out: &mut Parsed,
    seen: &mut HashMap<ResourceId, Location>,
    documents: &mut usize,
    limits: &Limits,
) -> std::ops::ControlFlow<()> {
    use std::ops::ControlFlow;
    let is_list = !outline.heads.unsure && outline.heads.kind.scalar().is_some_and(is_list_kind);
    let Some(items) = outline.items.as_ref().filter(|_| is_list) else {
        read_whole(file, doc, &outline.heads, &outline.unread, out, seen, documents, limits);
        return ControlFlow::Continue(());
    };
    for item in items {
        *documents += 1;
        let text = doc.text.get(item.start..item.end).unwrap_or_default();
        let first_line = doc.first_line.saturating_add(item.line);
        if *documents > limits.max_documents {
            let msg = format!("more than {} documents; the rest of the list is not read", limits.max_documents);
            let (line, column) = locate::locate(text, first_line, &[]);
            out.diagnostics.push(Diagnostic::new(Code::InputLimit, msg, &Location::new(file, line, column)));
            out.unreadable += 1;
            return ControlFlow::Break(());
        }
        let item_doc = DocumentText { text, first_line };
        // A YAML item keeps its `- `, so its lines keep their columns: it parses as a
        // one-element sequence of resources.
        let role = if text.trim_start().starts_with('-') { Role::Resources } else { Role::Resource };
        if skip_unparsed(file, &item_doc, &item.heads, out) {
            continue;
        }
        let kept = without_unread(doc.text, item.start, item.end, &item.unread);
        out.work.parsed_bytes += kept.len() as u64;
        let mut built = Built::default();
        let parsed = yaml::parse_document(&DocumentText { text: &kept, first_line }, role, &mut built);
        out.work.nodes_built += built.nodes;
        match parsed {
            Ok(node) => {
                let mut ctx = Ctx::new(file, text, first_line, &mut out.diagnostics);
                match (role, &node) {
                    (Role::Resources, Node::Seq(resources)) => {
                        for r in resources {
                            read_document(&mut ctx, r, &mut out.resources, seen, documents, limits);
                        }
                    }
                    _ => read_document(&mut ctx, &node, &mut out.resources, seen, documents, limits),
                }
                out.work.lines_located += ctx.located;
            }
            Err(e) if e.message.contains("unknown anchor") => {
                // An alias into another item: the items cannot be read apart. Read the List
                // whole, as the parser sees it (slower, but exact).
                read_whole(file, doc, &Heads::default(), &[], out, seen, documents, limits);
                return ControlFlow::Continue(());
            }
            Err(e) => syntax_error(file, e, out),
        }
    }
    ControlFlow::Continue(())
}

/// The text of `text[start..end]` with the unread subtrees' lines left empty: the parser
/// skips them for the cost of a newline each, and every other line keeps its number and
/// columns, so positions stay exact.
fn without_unread<'t>(text: &'t str, start: usize, end: usize, unread: &[(usize, usize)]) -> std::borrow::Cow<'t, str> {
    let whole = text.get(start..end).unwrap_or_default();
    if unread.is_empty() {
        return std::borrow::Cow::Borrowed(whole);
    }
    let mut kept = String::with_capacity(whole.len());
    let mut at = start;
    for &(from, to) in unread {
        let (from, to) = (from.clamp(at, end), to.clamp(at, end));
        kept.push_str(text.get(at..from).unwrap_or_default());
        let blank = text.get(from..to).unwrap_or_default().bytes().filter(|b| *b == b'\n').count();
        kept.extend(std::iter::repeat_n('\n', blank));
        at = to;
    }
    kept.push_str(text.get(at..end).unwrap_or_default());
    std::borrow::Cow::Owned(kept)
}

fn is_list_kind(kind: &str) -> bool {
    kind == "List" || kind.ends_with("List")
}

fn syntax_error(file: &str, e: yaml::SyntaxError, out: &mut Parsed) {
    let code = if e.message.contains("limit") { Code::InputLimit } else { Code::YamlSyntax };
    out.diagnostics.push(Diagnostic::new(code, e.message, &Location::new(file, e.line, e.column)));
    out.unreadable += 1;
}

/// Parses a document whole and reads it (a resource, or a List the outline could not split).
#[expect(clippy::too_many_arguments, reason = "the reader's state, threaded as parse_with_limits holds it")]
fn read_whole(
    file: &str,
    doc: &DocumentText<'_>,
    heads: &Heads,
    unread: &[(usize, usize)],
    out: &mut Parsed,
    seen: &mut HashMap<ResourceId, Location>,
    documents: &mut usize,
    limits: &Limits,
) {
    if skip_unparsed(file, doc, heads, out) {
        return;
    }
    let kept = without_unread(doc.text, 0, doc.text.len(), unread);
    out.work.parsed_bytes += kept.len() as u64;
    let mut built = Built::default();
    let parsed =
        yaml::parse_document(&DocumentText { text: &kept, first_line: doc.first_line }, Role::Document, &mut built);
    out.work.nodes_built += built.nodes;
    match parsed {
        Ok(node) => {
            let mut ctx = Ctx::new(file, doc.text, doc.first_line, &mut out.diagnostics);
            read_document(&mut ctx, &node, &mut out.resources, seen, documents, limits);
            out.work.lines_located += ctx.located;
        }
        Err(e) => syntax_error(file, e, out),
    }
}

/// A resource whose outline shows a kind that does not bear on mTLS (or a ConfigMap that is
/// not the mesh config) is reported as skipped without being parsed: a dump's Secrets,
/// Events and ConfigMaps cost a scan, not a tree. The messages are the ones the full read
/// gives. An outline that is unsure of anything leaves the document to the parser.
fn skip_unparsed(file: &str, doc: &DocumentText<'_>, heads: &Heads, out: &mut Parsed) -> bool {
    use outline::Head;
    if heads.unsure {
        return false;
    }
    let (Some(kind), api_version) = (heads.kind.scalar(), &heads.api_version) else {
        return false;
    };
    let api_version = match api_version {
        Head::Scalar(v) => v.as_str(),
        Head::Absent => "",
        Head::Unsure => return false,
    };
    if is_list_kind(kind) {
        return false;
    }
    let (message, resource) = match kinds::classify(api_version, kind) {
        None => (format!("kind `{kind}` ({api_version}) does not bear on mTLS; skipped"), None),
        Some((Kind::ConfigMap, true)) => {
            let (Some(name), namespace) = (heads.name.scalar(), &heads.namespace) else {
                return false;
            };
            if name.is_empty() || name == "istio" || name.starts_with("istio-") {
                return false;
            }
            let namespace = match namespace {
                Head::Scalar(n) if !n.is_empty() => n.clone(),
                Head::Scalar(_) | Head::Absent => "default".to_owned(),
                Head::Unsure => return false,
            };
            let id = ResourceId { kind: kind.to_owned(), namespace, name: name.to_owned() };
            ("ConfigMap is not the mesh config (`istio`, key `mesh`); skipped".to_owned(), Some(id.to_string()))
        }
        Some(_) => return false,
    };
    let (line, column) = locate::locate(doc.text, doc.first_line, &[]);
    let mut d = Diagnostic::new(Code::UnknownKind, message, &Location::new(file, line, column));
    if let Some(r) = resource {
        d = d.with_resource(r);
    }
    out.diagnostics.push(d);
    out.work.skipped_unparsed += 1;
    true
}

fn finish(mut out: Parsed) -> Parsed {
    keep_last_definitions(&mut out.resources);
    fold_owned_workloads(&mut out.resources);
    out
}

/// A cluster dump lists a Deployment, the ReplicaSet it made and the Pods that ReplicaSet
/// made: three views of one workload, as Istio sees it (one identity, one set of labels).
/// A workload whose controller (followed up the owner chain) is in the input is folded into
/// that top controller; a folded Pod's containers record whether it actually runs a sidecar
/// (a Pod started before injection was enabled has none, whatever its template says now).
/// Owners that are not in the input leave the workload as it is.
fn fold_owned_workloads(res: &mut Resources) {
    use crate::model::WorkloadKind;
    let index: HashMap<(String, String, String), usize> = res
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| ((w.meta.namespace().to_owned(), w.meta.id.kind.clone(), w.meta.name().to_owned()), i))
        .collect();
    let top = |i: usize| -> Option<usize> {
        let mut at = i;
        let mut found = None;
        // Owner chains are short (Pod -> ReplicaSet -> Deployment); the bound stops a cycle.
        for _ in 0..8 {
            let Some((kind, name)) = res.workloads.get(at).and_then(|w| w.controller.as_ref()) else {
                break;
            };
            let namespace = res.workloads.get(at).map(|w| w.meta.namespace().to_owned()).unwrap_or_default();
            let key = (namespace, kind.clone(), name.clone());
            match index.get(&key) {
                Some(&owner) if owner != i => {
                    found = Some(owner);
                    at = owner;
                }
                _ => break,
            }
        }
        found
    };
    let folds: Vec<(usize, usize)> = (0..res.workloads.len()).filter_map(|i| top(i).map(|t| (i, t))).collect();
    if folds.is_empty() {
        return;
    }
    for &(i, t) in &folds {
        let Some(w) = res.workloads.get(i) else { continue };
        if w.kind != WorkloadKind::Pod {
            continue;
        }
        let with_sidecar = w.containers.iter().any(|c| c == "istio-proxy");
        if let Some(owner) = res.workloads.get_mut(t) {
            if with_sidecar {
                owner.running_pods.with_sidecar += 1;
            } else {
                owner.running_pods.without_sidecar += 1;
            }
        }
    }
    let folded: std::collections::HashSet<usize> = folds.iter().map(|&(i, _)| i).collect();
    let mut i = 0usize;
    res.workloads.retain(|_| {
        let keep = !folded.contains(&i);
        i += 1;
        keep
    });
}

fn read_document(
    ctx: &mut Ctx<'_>,
    node: &Node,
    res: &mut Resources,
    seen: &mut HashMap<ResourceId, Location>,
    documents: &mut usize,
    limits: &Limits,
) {
    match node {
        Node::Null => {}
        Node::Map(_) => {
            let kind = node.get("kind");
            let is_list = matches!(kind, Some(Node::String(k)) if k == "List" || k.ends_with("List"))
                && node.get("items").is_some();
            if is_list {
                let items_path = vec![Seg::Key("items".to_owned())];
                let items = ctx.seq(node.get("items"), &items_path);
                let base = ctx.base.clone();
                for (i, item) in items.iter().enumerate() {
                    *documents += 1;
                    if *documents > limits.max_documents {
                        let msg =
                            format!("more than {} documents; the rest of the list is not read", limits.max_documents);
                        ctx.report(Code::InputLimit, msg, &items_path);
                        return;
                    }
                    ctx.base = base.clone();
                    ctx.base.push(Seg::Key("items".to_owned()));
                    ctx.base.push(Seg::Index(i));
                    read_document(ctx, item, res, seen, documents, limits);
                }
                ctx.base = base;
            } else {
                read_resource(ctx, node, res, seen);
            }
        }
        other => {
            let msg = format!("a document must be a mapping with `apiVersion` and `kind`, found {}", other.type_name());
            ctx.report(Code::InvalidField, msg, &[]);
        }
    }
}

fn read_resource(ctx: &mut Ctx<'_>, node: &Node, res: &mut Resources, seen: &mut HashMap<ResourceId, Location>) {
    ctx.resource = None;
    let api_version =
        ctx.scalar_string(node.get("apiVersion"), &[Seg::Key("apiVersion".to_owned())]).unwrap_or_default();
    let Some(kind_name) = ctx.scalar_string(node.get("kind"), &[Seg::Key("kind".to_owned())]) else {
        ctx.report(Code::MissingField, "document has no `kind`; it is skipped", &[]);
        return;
    };
    let Some((kind, served)) = kinds::classify(&api_version, &kind_name) else {
        ctx.report(
            Code::UnknownKind,
            format!("kind `{kind_name}` ({api_version}) does not bear on mTLS; skipped"),
            &[],
        );
        return;
    };
    if !served {
        let msg = format!("`{kind_name}` is not served as `apiVersion: {api_version}`; the resource is skipped");
        ctx.report(Code::InvalidField, msg, &[Seg::Key("apiVersion".to_owned())]);
        return;
    }
    let cluster_scoped = matches!(kind, Kind::Namespace | Kind::MeshPolicy);
    let Some(meta) = kinds::read_meta(ctx, node, &kind_name, cluster_scoped) else {
        return;
    };
    ctx.resource = Some(meta.id.to_string());
    // ConfigMaps other than the mesh config are not ours; do not count them as duplicates.
    if kind != Kind::ConfigMap
        && let Some(prev) = seen.insert(meta.id.clone(), meta.at.clone())
    {
        let msg = format!("{} is also defined at {prev}; this later definition is used", meta.id);
        ctx.report(Code::DuplicateResource, msg, &[]);
    }
    match kind {
        Kind::Namespace => res.namespaces.push(crate::model::Namespace { meta }),
        Kind::Workload(k) => {
            let w = kinds::workload(ctx, meta, k, node);
            res.workloads.push(w);
        }
        Kind::Service => {
            let s = kinds::service(ctx, meta, node);
            res.services.push(s);
        }
        Kind::ServiceAccount => res.service_accounts.push(crate::model::ServiceAccount { meta }),
        Kind::ConfigMap => {
            let is_mesh = meta.name() == "istio" || meta.name().starts_with("istio-");
            if is_mesh && node.get("data").and_then(|d| d.get("mesh")).is_some() {
                if let Some(mc) = kinds::mesh_config(ctx, node, false) {
                    res.mesh_config = Some(mc);
                }
            } else {
                ctx.report(Code::UnknownKind, "ConfigMap is not the mesh config (`istio`, key `mesh`); skipped", &[]);
            }
        }
        Kind::IstioOperator => {
            if let Some(mc) = kinds::mesh_config(ctx, node, true) {
                res.mesh_config = Some(mc);
            }
        }
        Kind::PeerAuthentication => {
            let pa = kinds::peer_authentication(ctx, meta, node);
            res.peer_authentications.push(pa);
        }
        Kind::AuthorizationPolicy => {
            let ap = kinds::authorization_policy(ctx, meta, node);
            res.authorization_policies.push(ap);
        }
        Kind::DestinationRule => {
            if let Some(dr) = kinds::destination_rule(ctx, meta, node) {
                res.destination_rules.push(dr);
            }
        }
        Kind::VirtualService => {
            let vs = kinds::virtual_service(ctx, meta, node);
            res.virtual_services.push(vs);
        }
        Kind::ServiceEntry => {
            let se = kinds::service_entry(ctx, meta, node);
            res.service_entries.push(se);
        }
        Kind::Gateway => {
            let gw = kinds::gateway(ctx, meta, node);
            res.gateways.push(gw);
        }
        Kind::MeshPolicy => {
            let p = kinds::alpha_policy(ctx, meta, node, true);
            res.alpha_policies.push(p);
        }
        Kind::Policy => {
            let p = kinds::alpha_policy(ctx, meta, node, false);
            res.alpha_policies.push(p);
        }
    }
}

/// A resource defined twice (same kind, namespace, name) is used in its later definition, as
/// `kubectl apply` of the stream would leave it.
fn keep_last_definitions(res: &mut Resources) {
    fn dedup<T>(items: &mut Vec<T>, id: impl Fn(&T) -> &ResourceId) {
        let mut last: HashMap<ResourceId, usize> = HashMap::new();
        for (i, item) in items.iter().enumerate() {
            last.insert(id(item).clone(), i);
        }
        let mut i = 0usize;
        items.retain(|item| {
            let keep = last.get(id(item)) == Some(&i);
            i += 1;
            keep
        });
    }
    dedup(&mut res.namespaces, |x| &x.meta.id);
    dedup(&mut res.workloads, |x| &x.meta.id);
    dedup(&mut res.services, |x| &x.meta.id);
    dedup(&mut res.service_entries, |x| &x.meta.id);
    dedup(&mut res.service_accounts, |x| &x.meta.id);
    dedup(&mut res.virtual_services, |x| &x.meta.id);
    dedup(&mut res.peer_authentications, |x| &x.meta.id);
    dedup(&mut res.destination_rules, |x| &x.meta.id);
    dedup(&mut res.alpha_policies, |x| &x.meta.id);
    dedup(&mut res.gateways, |x| &x.meta.id);
    dedup(&mut res.authorization_policies, |x| &x.meta.id);
}
