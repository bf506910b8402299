//! Writing a resource back: the input document it came from, changed and cleaned of what only
//! the cluster owns, or a new PeerAuthentication.
//!
//! A restated resource keeps everything the input gave it (labels, annotations, the rest of a
//! DestinationRule's trafficPolicy), so `kubectl apply` of it changes the one field the step is
//! about. `metadata.creationTimestamp` is kept: the API server ignores it on update, and Istio
//! orders PeerAuthentications and DestinationRules by it, so the stream of inputs and steps reads
//! with the same precedence as the cluster will have.

use crate::model::{Labels, Meta, Mode, ResourceId};
use crate::provenance::TlsBlock;
use crate::source::Source;
use serde_yaml::{Mapping, Value};
use std::collections::{BTreeMap, HashMap};

/// A List item: its first line in the source, and its byte range in its document.
type ItemRange = (u32, usize, usize);

/// The documents of the input, split once and parsed on demand (a `kind: List` once for all
/// its items).
pub(super) struct Originals<'s> {
    /// Per source name: (first line, text) of each document, in order.
    documents: HashMap<&'s str, Vec<(u32, &'s str)>>,
    /// Resources already found, by id.
    found: HashMap<ResourceId, Value>,
    /// The items of each List document already outlined: (first line, byte range) each;
    /// empty for a document that is not a List. Keyed by source and first line.
    items: HashMap<(&'s str, u32), Vec<ItemRange>>,
}

impl<'s> Originals<'s> {
    pub(super) fn new(sources: &'s [Source]) -> Self {
        let mut documents = HashMap::new();
        for s in sources {
            let docs =
                crate::parse::yaml::split_documents(&s.text).into_iter().map(|d| (d.first_line, d.text)).collect();
            documents.insert(s.name.as_str(), docs);
        }
        Self { documents, found: HashMap::new(), items: HashMap::new() }
    }

    /// The input document of the resource `meta` describes (the item, for a List). A List is
    /// not parsed whole: the parser's outline finds its items, and only the item at the
    /// resource's line is parsed (a cluster dump is hundreds of megabytes).
    pub(super) fn get(&mut self, meta: &Meta) -> Option<Value> {
        if let Some(v) = self.found.get(&meta.id) {
            return Some(v.clone());
        }
        let (file, first, text) = {
            let (file, docs) = self.documents.get_key_value(meta.at.file.as_str())?;
            let (first, text) = docs.iter().rev().find(|(first, _)| *first <= meta.at.line)?;
            (*file, *first, *text)
        };
        let items = self.items.entry((file, first)).or_insert_with(|| {
            let outline = crate::parse::outline::outline(text, crate::parse::SCAN_DEPTH_LIMIT).ok();
            let items = outline.and_then(|o| o.items).unwrap_or_default();
            items.iter().map(|i| (first.saturating_add(i.line), i.start, i.end)).collect()
        });
        let item = items.iter().rev().find(|(line, _, _)| *line <= meta.at.line).copied();
        let candidates: Vec<Value> = match item {
            Some((_, start, end)) => {
                let item_text = text.get(start..end)?;
                // A YAML item keeps its `- `: it parses as a one-element sequence.
                if item_text.trim_start().starts_with('-') {
                    serde_yaml::from_str::<Vec<Value>>(item_text).ok()?
                } else {
                    vec![serde_yaml::from_str::<Value>(item_text).ok()?]
                }
            }
            None => {
                let value: Value = serde_yaml::from_str(text).ok()?;
                match value.get("items").and_then(Value::as_sequence) {
                    Some(items) if value.get("kind").and_then(Value::as_str).is_some_and(|k| k.ends_with("List")) => {
                        items.clone()
                    }
                    _ => vec![value],
                }
            }
        };
        for c in candidates {
            if let Some(id) = id_of(&c) {
                self.found.insert(id, c);
            }
        }
        self.found.get(&meta.id).cloned()
    }
}

fn id_of(v: &Value) -> Option<ResourceId> {
    let kind = v.get("kind")?.as_str()?.to_owned();
    let md = v.get("metadata")?;
    let name = md.get("name")?.as_str()?.to_owned();
    let cluster_scoped = matches!(kind.as_str(), "Namespace" | "MeshPolicy");
    let namespace = if cluster_scoped {
        String::new()
    } else {
        md.get("namespace").and_then(Value::as_str).filter(|n| !n.is_empty()).unwrap_or("default").to_owned()
    };
    Some(ResourceId { kind, namespace, name })
}

fn key(k: &str) -> Value {
    Value::String(k.to_owned())
}

fn child<'v>(v: &'v mut Value, k: &str) -> Option<&'v mut Value> {
    v.as_mapping_mut()?.get_mut(k)
}

/// Drops what the cluster owns and a re-apply must not carry (`resourceVersion` would make
/// `kubectl apply` fail on a stale copy), and states the namespace explicitly.
pub(super) fn clean(v: &mut Value, namespace: &str) {
    if let Some(m) = v.as_mapping_mut() {
        m.remove("status");
    }
    if let Some(md) = child(v, "metadata").and_then(Value::as_mapping_mut) {
        for k in ["resourceVersion", "uid", "generation", "managedFields", "selfLink"] {
            md.remove(k);
        }
        if !namespace.is_empty() {
            md.insert(key("namespace"), key(namespace));
        }
        if let Some(ann) = md.get_mut("annotations").and_then(Value::as_mapping_mut) {
            ann.remove("kubectl.kubernetes.io/last-applied-configuration");
            if ann.is_empty() {
                md.remove("annotations");
            }
        }
    }
}

fn mode_value(mode: Mode) -> Value {
    let mut m = Mapping::new();
    m.insert(key("mode"), key(&mode.to_string()));
    Value::Mapping(m)
}

fn port_level(ports: &BTreeMap<u16, Mode>) -> Value {
    let mut m = Mapping::new();
    for (p, mode) in ports {
        m.insert(Value::Number((*p).into()), mode_value(*mode));
    }
    Value::Mapping(m)
}

/// Sets a PeerAuthentication's `mtls.mode` and replaces its `portLevelMtls` (removed when empty).
pub(super) fn set_pa_modes(v: &mut Value, mode: Mode, ports: &BTreeMap<u16, Mode>) {
    let Some(root) = v.as_mapping_mut() else { return };
    if !root.get("spec").is_some_and(Value::is_mapping) {
        root.insert(key("spec"), Value::Mapping(Mapping::new()));
    }
    let Some(spec) = root.get_mut("spec").and_then(Value::as_mapping_mut) else { return };
    spec.insert(key("mtls"), mode_value(mode));
    if ports.is_empty() {
        spec.remove("portLevelMtls");
    } else {
        spec.insert(key("portLevelMtls"), port_level(ports));
    }
}

/// A new PeerAuthentication (`selector` `None`: namespace-wide, or mesh-wide in the root
/// namespace).
pub(super) fn new_pa(
    namespace: &str,
    name: &str,
    selector: Option<&Labels>,
    mode: Mode,
    ports: &BTreeMap<u16, Mode>,
) -> Value {
    let mut md = Mapping::new();
    md.insert(key("name"), key(name));
    md.insert(key("namespace"), key(namespace));
    let mut spec = Mapping::new();
    if let Some(labels) = selector {
        let mut ml = Mapping::new();
        for (k, val) in labels {
            ml.insert(key(k), key(val));
        }
        let mut sel = Mapping::new();
        sel.insert(key("matchLabels"), Value::Mapping(ml));
        spec.insert(key("selector"), Value::Mapping(sel));
    }
    let mut root = Mapping::new();
    root.insert(key("apiVersion"), key("security.istio.io/v1"));
    root.insert(key("kind"), key("PeerAuthentication"));
    root.insert(key("metadata"), Value::Mapping(md));
    root.insert(key("spec"), Value::Mapping(spec));
    let mut v = Value::Mapping(root);
    set_pa_modes(&mut v, mode, ports);
    v
}

fn port_entry(tp: &mut Value, port: u32) -> Option<&mut Value> {
    child(tp, "portLevelSettings")?
        .as_sequence_mut()?
        .iter_mut()
        .find(|e| e.get("port").and_then(|p| p.get("number")).and_then(Value::as_u64) == Some(u64::from(port)))
}

fn subset_policy<'v>(spec: &'v mut Value, name: &str) -> Option<&'v mut Value> {
    child(spec, "subsets")?
        .as_sequence_mut()?
        .iter_mut()
        .find(|s| s.get("name").and_then(Value::as_str) == Some(name))
        .and_then(|s| child(s, "trafficPolicy"))
}

/// Removes the `tls` of one block of a DestinationRule; `false` when the block is not there.
pub(super) fn unset_tls(v: &mut Value, block: &TlsBlock) -> bool {
    let Some(spec) = child(v, "spec") else { return false };
    let holder = match block {
        TlsBlock::Top => child(spec, "trafficPolicy"),
        TlsBlock::Port(p) => child(spec, "trafficPolicy").and_then(|tp| port_entry(tp, *p)),
        TlsBlock::Subset(s) => subset_policy(spec, s),
        TlsBlock::SubsetPort(s, p) => subset_policy(spec, s).and_then(|tp| port_entry(tp, *p)),
    };
    holder.and_then(Value::as_mapping_mut).and_then(|m| m.remove("tls")).is_some()
}

/// The documents as one YAML stream.
pub(super) fn stream(docs: &[Value]) -> String {
    let mut out = String::new();
    for (i, d) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        out.push_str(&serde_yaml::to_string(d).unwrap_or_default());
    }
    out
}
