//! The only module that touches `serde_yaml` (archived upstream; a maintained fork is a package
//! rename away). It splits a stream into documents, parses each on its own so one broken
//! document does not hide the next, and converts the result into our own [`Node`] tree.

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A parsed YAML/JSON value. Map keys are kept as written (scalars rendered to strings). Keys
/// and strings borrow from the document's text where it holds them as they are (the fast
/// reader's plain scalars, JSON strings without escapes): a dump's tree costs no copy of most
/// of its text.
#[derive(Debug, Clone, PartialEq)]
pub enum Node<'t> {
    Null,
    Bool(bool),
    /// A number, kept as its text so `8080` and `8080.0` stay distinguishable.
    Number(Cow<'t, str>),
    String(Cow<'t, str>),
    Seq(Vec<Node<'t>>),
    Map(Vec<(Cow<'t, str>, Node<'t>)>),
}

impl<'t> Node<'t> {
    /// The same tree owning all of its text (for a tree read from a copy of the document).
    pub fn into_owned(self) -> Node<'static> {
        let own = |s: Cow<'t, str>| Cow::Owned(s.into_owned());
        match self {
            Node::Null => Node::Null,
            Node::Bool(b) => Node::Bool(b),
            Node::Number(n) => Node::Number(own(n)),
            Node::String(s) => Node::String(own(s)),
            Node::Seq(items) => Node::Seq(items.into_iter().map(Node::into_owned).collect()),
            Node::Map(entries) => Node::Map(entries.into_iter().map(|(k, v)| (own(k), v.into_owned())).collect()),
        }
    }

    pub fn get(&self, key: &str) -> Option<&Node<'t>> {
        #[cfg(test)]
        asked::record(self, key);
        match self {
            Node::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Bool(_) => "a boolean",
            Node::Number(_) => "a number",
            Node::String(_) => "a string",
            Node::Seq(_) => "a list",
            Node::Map(_) => "a mapping",
        }
    }
}

/// One document of a stream: its text and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocumentText<'a> {
    pub text: &'a str,
    pub first_line: u32,
}

/// A syntax error at a 1-based line and column of the whole source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyntaxError {
    pub message: String,
    pub line: u32,
    pub column: u32,
}

/// Splits a stream at `---` / `...` marker lines. YAML forbids a document marker at the start
/// of a line inside any scalar (`c-forbidden`), so a line scan finds exactly the boundaries
/// the parser would. Only lines that start with three dashes or dots are candidates; they are
/// found by substring search, and the lines between them are counted, not iterated: a cluster
/// dump is hundreds of megabytes of lines with no marker at all.
pub fn split_documents(text: &str) -> Vec<DocumentText<'_>> {
    let b = text.as_bytes();
    let mut docs = Vec::new();
    let mut start = 0usize;
    let mut start_line = 1u32;
    // The line number of byte `counted_to`, advanced as candidates are met.
    let mut counted_to = 0usize;
    let mut line_no = 1u32;
    for offset in marker_candidates(b) {
        let Some(marker) = marker_at(text, offset) else {
            continue;
        };
        line_no = line_no.saturating_add(super::lines::count_newlines(b.get(counted_to..offset).unwrap_or_default()));
        counted_to = offset;
        push_doc(&mut docs, text, start, offset, start_line);
        // Content after `--- ` on the same line belongs to the next document; keep the line.
        if marker.kind == MarkerKind::Start && marker.content_after {
            start = offset;
            start_line = line_no;
        } else {
            start = (marker.line_end + 1).min(text.len());
            start_line = line_no.saturating_add(1);
        }
    }
    push_doc(&mut docs, text, start, text.len(), start_line);
    docs
}

/// What a document marker line says: `---` starts a document, `...` ends one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MarkerKind {
    Start,
    End,
}

/// A document marker line: `---` or `...` alone or before a space or tab.
struct Marker {
    kind: MarkerKind,
    /// Where the marker's line ends (its `\n`, or the end of the text).
    line_end: usize,
    /// Something follows the marker on its line.
    content_after: bool,
}

/// The marker whose line starts at `offset`, if that line is one.
fn marker_at(text: &str, offset: usize) -> Option<Marker> {
    let line_end = super::lines::line_end(text.as_bytes(), offset);
    let line = text.get(offset..line_end).unwrap_or_default();
    let kind = marker_kind(line)?;
    Some(Marker { kind, line_end, content_after: line.trim_end_matches('\r').len() > 3 })
}

/// Whether a line (without its `\n`) is a document marker, and which. The parser starts or ends
/// a document there, even inside a scalar (`c-forbidden`).
pub(super) fn marker_kind(line: &str) -> Option<MarkerKind> {
    let bare = line.trim_end_matches('\r');
    let is_marker = |m: &str| bare == m || bare.strip_prefix(m).is_some_and(|r| r.starts_with([' ', '\t']));
    if is_marker("---") { Some(MarkerKind::Start) } else { is_marker("...").then_some(MarkerKind::End) }
}

/// The offsets of the lines that start with `---` or `...`, in order.
fn marker_candidates(b: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let at_start = (b.starts_with(b"---") || b.starts_with(b"...")).then_some(0);
    let after = |needle: &'static [u8]| memchr::memmem::find_iter(b, needle).map(|newline| newline + 1);
    let mut dashes = after(b"\n---").peekable();
    let mut dots = after(b"\n...").peekable();
    let merged = std::iter::from_fn(move || match (dashes.peek(), dots.peek()) {
        (Some(&d), Some(&o)) if o < d => dots.next(),
        (Some(_), _) => dashes.next(),
        (None, _) => dots.next(),
    });
    at_start.into_iter().chain(merged)
}

fn push_doc<'a>(docs: &mut Vec<DocumentText<'a>>, text: &'a str, from: usize, to: usize, first_line: u32) {
    let Some(chunk) = text.get(from..to) else {
        return;
    };
    let meaningful = chunk.lines().any(|l| {
        let t = l.trim();
        !t.is_empty() && !t.starts_with('#') && !t.starts_with('%')
    });
    if meaningful {
        docs.push(DocumentText { text: chunk, first_line });
    }
}

/// Which part of a resource a node is, so that subtrees meshlock never reads are skipped
/// while parsing instead of being built and dropped: `status` (the API server's, not the
/// user's), `metadata.managedFields` and `kubectl apply`'s copy of the last applied object.
/// These are most of the bytes of a `kubectl get -o yaml` dump.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// A document: a resource, or a List whose `items` are resources.
    Document,
    /// A resource mapping.
    Resource,
    /// A sequence of resources (a List's `items`, or one item parsed with its `- `).
    Resources,
    Metadata,
    Annotations,
    /// A resource's `spec`, or a pod template's.
    Spec,
    /// A workload's `spec.template`.
    Template,
    /// `containers` / `initContainers` of a pod spec.
    Containers,
    /// One container: its name, ports and probes are read, its environment and volumes never.
    Container,
    /// Anything else: kept whole.
    Plain,
    /// A List item (one-element sequence) or a resource whose kind the outline found to be a
    /// workload (`true`: a Pod, its own template). A dump's Pods, ReplicaSets and Deployments
    /// are mostly fields meshlock never reads: only those `kinds::workload` reads are built.
    WorkloadResources(bool),
    WorkloadResource(bool),
    WorkloadMetadata,
    OwnerReferences,
    OwnerReference,
    /// A controller's `spec`, its `spec.template` and the template's `metadata`.
    WorkloadSpec,
    PodTemplate,
    TemplateMetadata,
    PodSpec,
    PodContainers,
    PodContainer,
    Probe,
    ProbeHandler,
    InitContainers,
    InitContainer,
}

impl Role {
    /// The role of the value under `key`, or `None` when the value is skipped.
    pub(super) fn child(self, key: &str) -> Option<Role> {
        match (self, key) {
            (Role::Document | Role::Resource, "status") => None,
            (Role::Document | Role::Resource, "metadata") => Some(Role::Metadata),
            (Role::Document, "items") => Some(Role::Resources),
            (Role::Metadata, "managedFields") => None,
            (Role::Metadata, "annotations") => Some(Role::Annotations),
            (Role::Annotations, "kubectl.kubernetes.io/last-applied-configuration") => None,
            (Role::Document | Role::Resource | Role::Template, "spec") => Some(Role::Spec),
            (Role::Spec, "template") => Some(Role::Template),
            (Role::Spec, "containers" | "initContainers") => Some(Role::Containers),
            // Pod-spec and container fields that never bear on mTLS (the sidecar, identity,
            // ports and probes are read elsewhere): a dump's Pods and ReplicaSets are mostly these.
            (Role::Spec, "volumes" | "tolerations" | "affinity") => None,
            (
                Role::Container,
                "env" | "envFrom" | "args" | "command" | "volumeMounts" | "volumeDevices" | "resources"
                | "securityContext" | "lifecycle",
            ) => None,
            (Role::WorkloadResource(_), "apiVersion" | "kind") => Some(Role::Plain),
            (Role::WorkloadResource(_), "metadata") => Some(Role::WorkloadMetadata),
            (Role::WorkloadResource(true), "spec") => Some(Role::PodSpec),
            (Role::WorkloadResource(false), "spec") => Some(Role::WorkloadSpec),
            (Role::WorkloadMetadata, "name" | "namespace" | "creationTimestamp" | "labels") => Some(Role::Plain),
            (Role::WorkloadMetadata, "annotations") => Some(Role::Annotations),
            (Role::WorkloadMetadata, "ownerReferences") => Some(Role::OwnerReferences),
            (Role::OwnerReference, "controller" | "kind" | "name") => Some(Role::Plain),
            (Role::WorkloadSpec, "template") => Some(Role::PodTemplate),
            (Role::PodTemplate, "metadata") => Some(Role::TemplateMetadata),
            (Role::PodTemplate, "spec") => Some(Role::PodSpec),
            (Role::TemplateMetadata, "labels" | "annotations") => Some(Role::Plain),
            (Role::PodSpec, "serviceAccountName" | "serviceAccount" | "hostNetwork") => Some(Role::Plain),
            (Role::PodSpec, "containers") => Some(Role::PodContainers),
            (Role::PodSpec, "initContainers") => Some(Role::InitContainers),
            (Role::PodContainer, "name" | "ports") => Some(Role::Plain),
            (Role::PodContainer, "livenessProbe" | "readinessProbe" | "startupProbe") => Some(Role::Probe),
            (Role::Probe, "httpGet" | "tcpSocket" | "grpc") => Some(Role::ProbeHandler),
            (Role::ProbeHandler, "port") | (Role::InitContainer, "name") => Some(Role::Plain),
            // Everything else of a workload is never read.
            (role, _) if role.built_before().is_some() => None,
            _ => Some(Role::Plain),
        }
    }

    /// For a workload role, the role that read the same map before the workload roles, when
    /// every field was built: a key whose value is not built still counts for duplicates when
    /// that role would have built it, so a duplicate key is an error exactly where it was.
    pub(super) fn built_before(self) -> Option<Role> {
        Some(match self {
            Role::WorkloadResource(_) => Role::Resource,
            Role::WorkloadMetadata => Role::Metadata,
            Role::WorkloadSpec | Role::PodSpec => Role::Spec,
            Role::PodTemplate => Role::Template,
            Role::PodContainer | Role::InitContainer => Role::Container,
            Role::OwnerReference | Role::TemplateMetadata | Role::Probe | Role::ProbeHandler => Role::Plain,
            _ => return None,
        })
    }

    /// Whether a key that this role does not build still counts for duplicates.
    pub(super) fn counts_unbuilt(self, key: &str) -> bool {
        self.built_before().and_then(|r| r.child(key)).is_some()
    }

    pub(super) fn element(self) -> Role {
        match self {
            Role::Resources => Role::Resource,
            Role::Containers => Role::Container,
            Role::WorkloadResources(pod) => Role::WorkloadResource(pod),
            Role::OwnerReferences => Role::OwnerReference,
            Role::PodContainers => Role::PodContainer,
            Role::InitContainers => Role::InitContainer,
            _ => Role::Plain,
        }
    }
}

/// Counts what parsing built, for the tests that check the front door's work is linear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Built {
    pub nodes: u64,
}

/// Parses one document. `first_line` shifts error positions back into the whole source.
/// JSON (`kubectl get -o json`) goes through `serde_json`, much faster than a YAML parser on
/// the same text; anything it does not accept is read as YAML (a superset), whose error wins.
pub fn parse_document<'t>(doc: &DocumentText<'t>, role: Role, built: &mut Built) -> Result<Node<'t>, SyntaxError> {
    // A document that starts with `--- ` content: drop the marker so serde_yaml sees one document.
    if fast_reader_applies(doc.text)
        && let Some(node) = super::fast::read(doc.text, role, built)
    {
        return Ok(node);
    }
    let text = doc.text.strip_prefix("---").unwrap_or(doc.text);
    serde_document(&DocumentText { text, first_line: doc.first_line }, role, built)
}

/// Whether the fast reader may try a document: not one that opens with a `---` marker (its
/// content is serde_yaml's once the marker is dropped) and not JSON (serde_json's).
fn fast_reader_applies(text: &str) -> bool {
    !text.starts_with("---") && !text.trim_start().starts_with('{')
}

/// [`parse_document`] for a document whose `unread` byte ranges (whole lines of its text,
/// sorted) hold subtrees meshlock never reads. The fast reader steps over them; serde_yaml, when
/// it must read the document, gets a copy with those lines left empty, so every other line keeps
/// its number and columns and positions stay exact.
pub fn parse_document_unread<'t>(
    doc: &DocumentText<'t>,
    unread: &[(usize, usize)],
    role: Role,
    built: &mut Built,
) -> Result<Node<'t>, SyntaxError> {
    if unread.is_empty() {
        return parse_document(doc, role, built);
    }
    let fast_first = fast_reader_applies(doc.text);
    if fast_first && let Some(node) = super::fast::read_skipping(doc.text, unread, role, built) {
        return Ok(node);
    }
    let kept = blank_lines(doc.text, unread);
    let kept = DocumentText { text: &kept, first_line: doc.first_line };
    // Read from the blanked copy, so owning its text.
    let node = if fast_first { serde_document(&kept, role, built) } else { parse_document(&kept, role, built) };
    node.map(Node::into_owned)
}

/// `text` with the lines of `ranges` (sorted, whole lines) left empty.
pub fn blank_lines(text: &str, ranges: &[(usize, usize)]) -> String {
    let mut kept = String::with_capacity(text.len());
    let mut at = 0;
    for &(from, to) in ranges {
        let (from, to) = (from.clamp(at, text.len()), to.clamp(at, text.len()));
        kept.push_str(text.get(at..from).unwrap_or_default());
        let blank = text.get(from..to).unwrap_or_default().bytes().filter(|b| *b == b'\n').count();
        kept.extend(std::iter::repeat_n('\n', blank));
        at = to;
    }
    kept.push_str(text.get(at..).unwrap_or_default());
    kept
}

/// [`parse_document`] without the fast reader: serde_json for `{` documents, else serde_yaml.
pub fn serde_document<'t>(doc: &DocumentText<'t>, role: Role, built: &mut Built) -> Result<Node<'t>, SyntaxError> {
    let text = doc.text;
    if text.trim_start().starts_with('{') {
        let mut de = serde_json::Deserializer::from_str(text);
        let seed = NodeSeed { role, built: &mut *built };
        if let Ok(node) = seed.deserialize(&mut de).and_then(|n| de.end().map(|()| n)) {
            return Ok(node);
        }
    }
    let de = serde_yaml::Deserializer::from_str(text);
    match (NodeSeed { role, built }).deserialize(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let (line, column) = e.location().map_or((1, 1), |l| (l.line(), l.column()));
            let line = u32::try_from(line).unwrap_or(u32::MAX);
            let column = u32::try_from(column).unwrap_or(u32::MAX);
            Err(SyntaxError {
                message: absolute_positions(&e.to_string(), doc.first_line),
                line: doc.first_line.saturating_add(line.saturating_sub(1)),
                column,
            })
        }
    }
}

/// Parses a YAML string embedded in a field (MeshConfig's `mesh` key).
pub fn parse_embedded(text: &str) -> Result<Node<'_>, SyntaxError> {
    parse_document(&DocumentText { text, first_line: 1 }, Role::Plain, &mut Built::default())
}

/// Deserialises straight into [`Node`] (no intermediate value tree), skipping what
/// [`Role::child`] says is never read.
struct NodeSeed<'b> {
    role: Role,
    built: &'b mut Built,
}

impl<'de> DeserializeSeed<'de> for NodeSeed<'_> {
    type Value = Node<'de>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        d.deserialize_any(self)
    }
}

/// A number's text as YAML writes it: `8080`, `8080.0`, `.inf`.
pub(super) fn float_text(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf".to_owned() } else { "-.inf".to_owned() }
    } else {
        format!("{f:?}")
    }
}

impl<'de> Visitor<'de> for NodeSeed<'_> {
    type Value = Node<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Node<'de>, E> {
        self.built.nodes += 1;
        Ok(Node::Bool(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Node<'de>, E> {
        self.built.nodes += 1;
        Ok(Node::Number(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Node<'de>, E> {
        self.built.nodes += 1;
        Ok(Node::Number(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Node<'de>, E> {
        self.built.nodes += 1;
        Ok(Node::Number(Cow::Owned(float_text(v))))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Node<'de>, E> {
        self.built.nodes += 1;
        Ok(Node::String(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Node<'de>, E> {
        self.built.nodes += 1;
        Ok(Node::String(Cow::Owned(v.to_owned())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Node<'de>, E> {
        self.built.nodes += 1;
        Ok(Node::String(Cow::Owned(v)))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Node<'de>, E> {
        self.built.nodes += 1;
        Ok(Node::Null)
    }
    fn visit_none<E: de::Error>(self) -> Result<Node<'de>, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Node<'de>, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node<'de>, A::Error> {
        self.built.nodes += 1;
        let role = self.role.element();
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(1024));
        while let Some(item) = seq.next_element_seed(NodeSeed { role, built: &mut *self.built })? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node<'de>, A::Error> {
        self.built.nodes += 1;
        let mut entries: Vec<(Cow<'de, str>, Node<'de>)> = Vec::with_capacity(map.size_hint().unwrap_or(0).min(1024));
        // Duplicate keys are an error, as Kubernetes and serde_yaml's own mapping have it.
        let mut keys: Option<std::collections::HashSet<Cow<'de, str>>> = None;
        // Keys not built that still count for duplicates ([`Role::counts_unbuilt`]).
        let mut others: Vec<Cow<'de, str>> = Vec::new();
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let duplicate = match keys.as_mut() {
                Some(set) => !set.insert(key.clone()),
                None => {
                    let dup = entries.iter().any(|(k, _)| *k == key) || others.contains(&key);
                    if entries.len() + others.len() >= 16 {
                        let known = entries.iter().map(|(k, _)| k.clone()).chain(others.drain(..));
                        keys = Some(known.chain([key.clone()]).collect());
                    }
                    dup
                }
            };
            if duplicate {
                return Err(de::Error::custom(format_args!("duplicate entry with key {key:?}")));
            }
            match self.role.child(&key) {
                Some(role) => {
                    let value = map.next_value_seed(NodeSeed { role, built: &mut *self.built })?;
                    entries.push((key, value));
                }
                None => {
                    if keys.is_none() && self.role.counts_unbuilt(&key) {
                        others.push(key);
                    }
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(Node::Map(entries))
    }

    /// serde_yaml hands a tagged value (`!foo x`) over as an enum: the tag is dropped and the
    /// value kept, as the Kubernetes API server does with YAML tags it does not know.
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Node<'de>, A::Error> {
        let (_tag, variant): (de::IgnoredAny, _) = data.variant()?;
        variant.newtype_variant_seed(self)
    }
}

/// A mapping key as text: scalars rendered as written; a complex key (a sequence or mapping
/// as a key, which Kubernetes never accepts) as a placeholder that matches no field.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a mapping key")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_string()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(float_text(v)))
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed("null"))
    }
    fn visit_none<E: de::Error>(self) -> Result<Cow<'de, str>, E> {
        self.visit_unit()
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        self.deserialize(d)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Cow<'de, str>, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(Cow::Borrowed("<complex key>"))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Cow<'de, str>, A::Error> {
        while map.next_entry::<de::IgnoredAny, de::IgnoredAny>()?.is_some() {}
        Ok(Cow::Borrowed("<complex key>"))
    }
    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Cow<'de, str>, A::Error> {
        let (_tag, variant): (de::IgnoredAny, _) = data.variant()?;
        variant.newtype_variant_seed(self)
    }
}

/// serde_yaml writes positions relative to the document ("… at line L column C, while parsing
/// a flow sequence at line L2 column C2"). The first one is the primary position, reported
/// separately, so it is dropped; the positions of the context are shifted to the whole source.
fn absolute_positions(msg: &str, first_line: u32) -> String {
    const MARK: &str = " at line ";
    let mut out = String::new();
    let mut rest = msg;
    let mut first = true;
    while let Some(i) = rest.find(MARK) {
        out.push_str(rest.get(..i).unwrap_or_default());
        let after = rest.get(i + MARK.len()..).unwrap_or_default();
        let digits = after.bytes().take_while(u8::is_ascii_digit).count();
        let line: u32 = after.get(..digits).and_then(|d| d.parse().ok()).unwrap_or(1);
        rest = after.get(digits..).unwrap_or_default();
        let mut column = "";
        if let Some(t) = rest.strip_prefix(" column ") {
            let n = t.bytes().take_while(u8::is_ascii_digit).count();
            column = t.get(..n).unwrap_or_default();
            rest = t.get(n..).unwrap_or_default();
        }
        if !first {
            out.push_str(&format!("{MARK}{}", first_line.saturating_add(line.saturating_sub(1))));
            if !column.is_empty() {
                out.push_str(&format!(" column {column}"));
            }
        }
        first = false;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The split as a walk over every line: what `split_documents` must equal.
    fn split_line_by_line(text: &str) -> Vec<DocumentText<'_>> {
        let mut docs = Vec::new();
        let mut start = 0usize;
        let mut start_line = 1u32;
        for (line_no, (offset, line)) in (1u32..).zip(crate::parse::lines::lines_inclusive(text)) {
            let bare = line.trim_end_matches(['\n', '\r']);
            let is_marker = |m: &str| bare == m || bare.strip_prefix(m).is_some_and(|r| r.starts_with([' ', '\t']));
            if is_marker("---") || is_marker("...") {
                push_doc(&mut docs, text, start, offset, start_line);
                if is_marker("---") && bare.len() > 3 {
                    start = offset;
                    start_line = line_no;
                } else {
                    start = offset + line.len();
                    start_line = line_no + 1;
                }
            }
        }
        push_doc(&mut docs, text, start, text.len(), start_line);
        docs
    }

    proptest::proptest! {
        #[test]
        fn the_split_is_the_line_by_line_split(
            lines in proptest::collection::vec(
                proptest::sample::select(vec![
                    "---", "--- a: 1", "---\t", "----", "--", "...", "... x", "....", "..",
                    "a: 1", "- b", " ---", "", "# c", "---\r", "...\r", "\r", "x---",
                ]),
                0..30,
            ),
            newline_at_end in proptest::bool::ANY,
        ) {
            let mut text = lines.join("\n");
            if newline_at_end {
                text.push('\n');
            }
            proptest::prop_assert_eq!(split_documents(&text), split_line_by_line(&text));
        }
    }

    #[test]
    fn splits_at_markers_only() {
        let text = "a: 1\n---\nb: |\n  ---x\n---\n# only a comment\n---\nc: 3\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].first_line, 1);
        assert_eq!(docs[1].first_line, 3);
        assert_eq!(docs[2].first_line, 8);
    }

    #[test]
    fn error_lines_are_absolute() {
        let text = "a: 1\n---\nb: [1,\n";
        let docs = split_documents(text);
        let err = parse_document(&docs[1], Role::Document, &mut Built::default()).unwrap_err();
        assert!(err.line >= 3, "{err:?}");
    }

    #[test]
    fn numeric_keys_and_json() {
        let docs = split_documents("{\"spec\": {\"portLevelMtls\": {\"8080\": {\"mode\": \"DISABLE\"}}}}");
        let node = parse_document(&docs[0], Role::Document, &mut Built::default()).unwrap();
        assert!(node.get("spec").and_then(|s| s.get("portLevelMtls")).and_then(|p| p.get("8080")).is_some());
        let docs = split_documents("m:\n  8080: x\n");
        assert!(
            parse_document(&docs[0], Role::Document, &mut Built::default())
                .unwrap()
                .get("m")
                .unwrap()
                .get("8080")
                .is_some()
        );
    }

    #[test]
    fn container_fields_that_never_bear_on_mtls_are_not_built() {
        let text = "kind: Deployment\nspec:\n  template:\n    metadata:\n      labels: {app: a}\n    spec:\n      volumes:\n      - name: v\n      containers:\n      - name: app\n        env:\n        - name: X\n          value: y\n        args: [--a]\n        ports:\n        - containerPort: 8080\n        livenessProbe:\n          httpGet: {port: 8080}\n        resources: {}\n      initContainers:\n      - name: init\n        command: [sh]\n";
        for (fast, doc) in [(true, text.to_owned()), (false, text.replace("args: [--a]", "args: [--a, &x b]"))] {
            let docs = split_documents(&doc);
            let node = parse_document(&docs[0], Role::Document, &mut Built::default()).unwrap();
            let spec = node.get("spec").and_then(|s| s.get("template")).and_then(|t| t.get("spec")).unwrap();
            assert!(spec.get("volumes").is_none(), "fast={fast}");
            let Some(Node::Seq(containers)) = spec.get("containers") else { panic!("containers") };
            let c = &containers[0];
            assert!(c.get("name").is_some() && c.get("ports").is_some() && c.get("livenessProbe").is_some());
            assert!(c.get("env").is_none() && c.get("args").is_none() && c.get("resources").is_none());
            let Some(Node::Seq(init)) = spec.get("initContainers") else { panic!("initContainers") };
            assert!(init[0].get("name").is_some() && init[0].get("command").is_none());
            assert!(node.get("spec").and_then(|s| s.get("template")).and_then(|t| t.get("metadata")).is_some());
        }
    }

    #[test]
    fn alias_bomb_is_an_error() {
        let mut s = String::from("a0: &a0 [x,x,x,x,x,x,x,x,x,x]\n");
        for i in 1..12 {
            let p = i - 1;
            s.push_str(&format!("a{i}: &a{i} [*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p},*a{p}]\n"));
        }
        let docs = split_documents(&s);
        assert!(parse_document(&docs[0], Role::Document, &mut Built::default()).is_err());
    }

    #[test]
    fn deep_nesting_is_an_error() {
        let s = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let docs = split_documents(&s);
        assert!(parse_document(&docs[0], Role::Document, &mut Built::default()).is_err());
    }
}

/// Test-only: the keys asked of maps (`Node::get`, present or not) while a test records them,
/// with the address of the node each was asked of. A test checks that the workload roles build
/// every field the workload reader asks for.
#[cfg(test)]
pub(crate) mod asked {
    use super::Node;
    use std::cell::RefCell;
    use std::collections::BTreeSet;

    thread_local! {
        static KEYS: RefCell<Option<BTreeSet<(usize, String)>>> = const { RefCell::new(None) };
    }

    pub(crate) fn address(node: &Node<'_>) -> usize {
        std::ptr::from_ref(node) as usize
    }

    pub(crate) fn record(node: &Node<'_>, key: &str) {
        KEYS.with(|keys| {
            if let Some(set) = keys.borrow_mut().as_mut() {
                set.insert((address(node), key.to_owned()));
            }
        });
    }

    /// The (node address, key) pairs asked while `f` runs.
    pub(crate) fn during(f: impl FnOnce()) -> BTreeSet<(usize, String)> {
        KEYS.with(|keys| *keys.borrow_mut() = Some(BTreeSet::new()));
        f();
        KEYS.with(|keys| keys.borrow_mut().take().unwrap_or_default())
    }
}
