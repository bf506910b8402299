//! The front door: text in, typed [`Resources`] and located [`Diagnostic`]s out.
//!
//! Accepts multi-document YAML, JSON, and `kind: List` (what `kubectl get -o yaml` prints).
//! A syntax error in one document is reported with its position and the other documents are
//! still read. Limits stop hostile input (alias bombs, pathological nesting, endless streams),
//! not big meshes: a 50k-service export is tens of megabytes.

mod kinds;
pub mod locate;
mod read;
mod yaml;

use crate::diagnostic::{Code, Diagnostic};
use crate::model::{ResourceId, Resources};
use crate::source::{Location, Source};
use kinds::Kind;
use locate::Seg;
use read::Ctx;
use std::collections::HashMap;
use yaml::Node;

/// Input limits (docs/limits.md). Nesting depth (128 levels) and alias expansion are bounded
/// inside the YAML parser itself and reported as syntax errors at their position.
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

/// The result of reading every source.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    pub resources: Resources,
    pub diagnostics: Vec<Diagnostic>,
    /// Documents that could not be parsed at all (the CLI exits 2 when this is not zero).
    pub unreadable: usize,
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
            let node = match yaml::parse_document(&doc) {
                Ok(n) => n,
                Err(e) => {
                    let code = if e.message.contains("limit") { Code::InputLimit } else { Code::YamlSyntax };
                    out.diagnostics.push(Diagnostic::new(
                        code,
                        e.message,
                        &Location::new(&source.name, e.line, e.column),
                    ));
                    out.unreadable += 1;
                    continue;
                }
            };
            let mut ctx = Ctx {
                file: &source.name,
                text: doc.text,
                first_line: doc.first_line,
                base: Vec::new(),
                resource: None,
                diags: &mut out.diagnostics,
            };
            read_document(&mut ctx, &node, &mut out.resources, &mut seen, &mut documents, limits);
        }
    }
    finish(out)
}

fn finish(mut out: Parsed) -> Parsed {
    keep_last_definitions(&mut out.resources);
    out
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
