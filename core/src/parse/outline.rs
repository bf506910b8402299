//! One linear pass over a document's text, before any tree is built. It finds:
//!
//! * the nesting depth, so a hostile document (`[[[[…`, `{a: {a: …`, `- - - - …`) is refused in
//!   time linear in its size (the YAML parser's own check comes only after a scan whose cost
//!   grows with depth times length);
//! * the resource's `apiVersion`, `kind`, `metadata.name`, `metadata.namespace` and the one label
//!   that says which controller wrote it ([`MANAGED_BY`]), so a kind that does not bear on mTLS (a
//!   Secret, an Event, a 10 MB ConfigMap) or an object only a controller's bookkeeping (the
//!   EndpointSlices of Services with selectors) is skipped without parsing;
//! * the items of a `kind: List` (what `kubectl get -o yaml|json` prints) as text spans with their
//!   lines, so each item is parsed and located on its own and a List costs what the same items
//!   cost as separate documents.
//!
//! The scan reads block YAML as `kubectl` and people write it, and JSON. Whenever it meets
//! something it does not follow exactly (an anchor or tag on a key line, a multi-line quoted
//! key, a flow collection where a List's items would be), it says "unsure" and the caller
//! parses the whole document as before: the outline is a fast path, never a second opinion.

use std::borrow::Cow;

/// What the outline found out about one field.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Head {
    /// The field is not there.
    #[default]
    Absent,
    /// A plain or single-line quoted scalar.
    Scalar(String),
    /// Present, but not a scalar the outline reads (flow, block scalar, anchor, tag, alias).
    Unsure,
}

impl Head {
    pub fn scalar(&self) -> Option<&str> {
        match self {
            Head::Scalar(s) => Some(s),
            _ => None,
        }
    }
}

/// The label an EndpointSlice's writer sets (`discovery.k8s.io/v1`): the EndpointSlice controller
/// for Services with selectors, the mirroring controller or a user for the others.
pub const MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";

/// The identifying fields of one resource mapping.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Heads {
    pub api_version: Head,
    pub kind: Head,
    pub name: Head,
    pub namespace: Head,
    /// `metadata.labels` [`MANAGED_BY`].
    pub managed_by: Head,
    /// The mapping held something the outline does not follow: its heads are hints only.
    pub unsure: bool,
}

impl Heads {
    fn set(&mut self, slot: Slot, value: Head) {
        let field = match slot {
            Slot::ApiVersion => &mut self.api_version,
            Slot::Kind => &mut self.kind,
            Slot::Name => &mut self.name,
            Slot::Namespace => &mut self.namespace,
            Slot::ManagedBy => &mut self.managed_by,
        };
        // A key given twice is an error the parser reports; do not guess which one counts.
        if *field != Head::Absent {
            self.unsure = true;
        }
        *field = value;
    }
}

#[derive(Debug, Clone, Copy)]
enum Slot {
    ApiVersion,
    Kind,
    Name,
    Namespace,
    ManagedBy,
}

fn root_slot(key: &str) -> Option<Slot> {
    match key {
        "apiVersion" => Some(Slot::ApiVersion),
        "kind" => Some(Slot::Kind),
        _ => None,
    }
}

fn metadata_slot(key: &str) -> Option<Slot> {
    match key {
        "name" => Some(Slot::Name),
        "namespace" => Some(Slot::Namespace),
        _ => None,
    }
}

fn label_slot(key: &str) -> Option<Slot> {
    (key == MANAGED_BY).then_some(Slot::ManagedBy)
}

/// One item of a List: its text (a byte range of the document) and its heads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    pub start: usize,
    pub end: usize,
    /// 0-based line of `start` within the document.
    pub line: u32,
    pub heads: Heads,
    /// Byte ranges (whole lines, of the document) holding subtrees meshlock never reads.
    pub unread: Vec<(usize, usize)>,
}

/// What one pass over a document found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Outline {
    pub heads: Heads,
    /// Byte ranges (whole lines) of the root resource holding subtrees meshlock never reads.
    pub unread: Vec<(usize, usize)>,
    /// The spans of the top-level `items` sequence, when the outline could follow it.
    pub items: Option<Vec<Item>>,
    /// Bytes the scan looked at (the work it did; tests check it is linear).
    pub scanned: u64,
}

/// The document nests deeper than the limit: where the scan stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TooDeep {
    /// 0-based line and column within the document.
    pub line: u32,
    pub column: u32,
    pub limit: usize,
}

/// Outlines a document: JSON when it starts with `{`, block YAML otherwise.
pub fn outline(text: &str, max_depth: usize) -> Result<Outline, TooDeep> {
    outline_streaming(text, max_depth, &mut |_| {})
}

/// [`outline`], handing each List item to `on_item` as soon as the scan has passed it, so a
/// caller can read items while the rest of the List is scanned. An item handed over is final
/// only if the outline's `items` holds it in the end: the scan may yet find something it does
/// not follow and give up the split, or find that a document starting with `{` is not JSON and
/// outline it again as YAML.
pub fn outline_streaming(text: &str, max_depth: usize, on_item: &mut dyn FnMut(&Item)) -> Result<Outline, TooDeep> {
    // `None`: not JSON after all (YAML flow style); the YAML scan judges it.
    if text.trim_start().starts_with('{')
        && let Some(o) = json_outline(text, max_depth, on_item)?
    {
        return Ok(o);
    }
    yaml_outline(text, max_depth, Skim::Ignored, on_item)
}

/// Whether the block scan skims the lines its maps ignore ([`skim_line`]) or shapes every line.
/// Shaping every line is the specification the skim is tested against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Skim {
    Ignored,
    Nothing,
}

/// The outline with skimmed lines against the outline with every line shaped, for the
/// differential fuzz target and the tests: `Err` describing both when they differ (a bug).
pub fn skim_differential(text: &str, max_depth: usize) -> Result<(), String> {
    let skimmed = yaml_outline(text, max_depth, Skim::Ignored, &mut |_| {});
    let shaped = yaml_outline(text, max_depth, Skim::Nothing, &mut |_| {});
    if skimmed == shaped { Ok(()) } else { Err(format!("skimmed: {skimmed:?}\nshaped: {shaped:?}")) }
}

// ---------------------------------------------------------------------------------------------
// Block YAML
// ---------------------------------------------------------------------------------------------

/// Where the line scan is between physical lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Carry {
    None,
    /// Inside a block scalar whose parent node starts at this column: more-indented and blank
    /// lines are its content.
    BlockScalar(usize),
    /// Inside a flow collection at this flow depth, and inside a quoted scalar of it if any.
    Flow(usize, Option<u8>),
    /// Inside a multi-line quoted scalar in block context.
    Quoted(u8),
}

/// The value that follows a key on a line.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Value<'t> {
    /// Nothing after the indicator: a nested block node follows on the next lines (or null).
    Empty,
    /// Borrowed from the line: a line costs no allocation unless the outline keeps its value.
    Scalar(Cow<'t, str>),
    /// A plain scalar: the rest of its line, its trailing comment still on (most values are
    /// never looked at, so the comment is found only for those that are).
    Plain(&'t str),
    /// A flow collection, a block scalar, an anchor, tag or alias, a multi-line quoted scalar.
    Other,
}

/// One structural line: `- ` indicators, the key (if any) and what follows it.
#[derive(Debug)]
struct LineShape<'t> {
    dashes: usize,
    /// The column after the indicators: where the line's node (or key) starts.
    node_col: usize,
    key: Option<Cow<'t, str>>,
    value: Value<'t>,
    /// Anything on the line the outline does not follow (`? ` keys, anchors or tags on keys).
    unsure: bool,
}

/// Follows one block mapping (the document's root or one List item) for its heads, and the
/// lines of the subtrees it never reads: the resource's `status` and `metadata.managedFields`
/// (the API server's bookkeeping, often half of a dump's bytes).
#[derive(Debug, Default)]
struct MapTracker {
    key_col: Option<usize>,
    /// Inside `metadata:`: the column of its keys once seen.
    meta: Option<Option<usize>>,
    /// Inside `metadata.labels:`: the column of its keys once seen.
    labels: Option<Option<usize>>,
    heads: Heads,
    /// An unread subtree being followed: where its lines start and its key's column.
    open_unread: Option<(usize, usize)>,
    unread: Vec<(usize, usize)>,
}

/// Where a structural line is in the document.
#[derive(Debug, Clone, Copy)]
struct At {
    indent: usize,
    start: usize,
    next: usize,
}

impl MapTracker {
    /// Whether [`MapTracker::line`] would leave the tracker as it is for a line at `indent` with
    /// `dashes` sequence indicators: a line inside an unread subtree, or below a key whose
    /// subtree holds none of the heads (anything under `spec`, or under `metadata` but not a
    /// key of `metadata` or of `metadata.labels`).
    fn ignores(&self, indent: usize, dashes: usize) -> bool {
        if let Some((_, col)) = self.open_unread {
            return indent > col || (indent == col && dashes > 0);
        }
        let Some(key_col) = self.key_col else {
            return false;
        };
        if indent <= key_col {
            return false;
        }
        match (self.meta, self.labels) {
            (None, _) => true,
            (Some(None), _) | (Some(Some(_)), Some(None)) => false,
            (Some(Some(child)), None) => indent > child,
            (Some(Some(child)), Some(Some(label))) => indent > child && indent > label,
        }
    }

    /// Closes an unread subtree at a line (starting at byte `start`) that is not inside it.
    fn close_unread(&mut self, indent: usize, dashes: usize, start: usize) {
        if let Some((_, col)) = self.open_unread
            && (indent < col || (indent == col && dashes == 0))
        {
            self.finish(start);
        }
    }

    fn finish(&mut self, end: usize) {
        if let Some((from, _)) = self.open_unread.take()
            && end > from
        {
            self.unread.push((from, end));
        }
    }

    /// A structural line whose node starts at `col` with `dashes` sequence indicators before
    /// it (counted from `col`).
    fn line(&mut self, col: usize, dashes: usize, shape: &LineShape<'_>, at: At) {
        self.close_unread(at.indent, dashes, at.start);
        if self.open_unread.is_some() {
            return;
        }
        let key_col = *self.key_col.get_or_insert(col);
        if col < key_col {
            self.heads.unsure = true;
        } else if col == key_col {
            // `key:` followed by `- a` at the key's own column is that key's sequence value.
            if dashes > 0 {
                return;
            }
            if shape.unsure {
                self.heads.unsure = true;
            }
            self.meta = None;
            self.labels = None;
            match shape.key.as_deref() {
                Some("metadata") if shape.value == Value::Empty => self.meta = Some(None),
                Some("status") if shape.value == Value::Empty => self.open_unread = Some((at.next, col)),
                Some(key) => {
                    if let Some(slot) = root_slot(key) {
                        self.heads.set(slot, head_of(&shape.value));
                    }
                }
                None => self.heads.unsure = true,
            }
        } else if let Some(meta) = self.meta.as_mut() {
            let child = *meta.get_or_insert(col);
            if col > child
                && let Some(labels) = self.labels.as_mut()
            {
                let label = *labels.get_or_insert(col);
                if col == label && dashes == 0 {
                    if let Some(slot) = shape.key.as_deref().and_then(label_slot) {
                        self.heads.set(slot, head_of(&shape.value));
                    }
                    if shape.unsure {
                        self.heads.unsure = true;
                    }
                }
            }
            if col == child && dashes == 0 {
                self.labels = (shape.key.as_deref() == Some("labels") && shape.value == Value::Empty).then_some(None);
                if let Some(slot) = shape.key.as_deref().and_then(metadata_slot) {
                    self.heads.set(slot, head_of(&shape.value));
                }
                if shape.key.as_deref() == Some("managedFields") && shape.value == Value::Empty {
                    self.open_unread = Some((at.next, col));
                }
                if shape.unsure {
                    self.heads.unsure = true;
                }
            }
        }
    }
}

/// The List's `items` sequence being followed.
#[derive(Debug, Default)]
struct ItemsState {
    dash: Option<usize>,
    current: Option<(usize, u32, MapTracker)>,
}

fn yaml_outline(text: &str, max_depth: usize, skim: Skim, on_item: &mut dyn FnMut(&Item)) -> Result<Outline, TooDeep> {
    let mut out = Outline::default();
    let mut carry = Carry::None;
    // Columns of the open block collections: the block depth of the current line.
    let mut stack: Vec<usize> = Vec::new();
    let mut root: Option<usize> = None;
    let mut root_is_map = true;
    let mut root_map = MapTracker::default();
    let mut list: Option<ItemsState> = None;
    let mut items: Vec<Item> = Vec::new();
    let mut items_unsure = false;
    let mut items_seen = false;
    let mut close = |items: &mut Vec<Item>, state: &mut ItemsState, end: usize| {
        if let Some((start, line, mut tracker)) = state.current.take() {
            tracker.finish(end);
            let item = Item { start, end, line, heads: tracker.heads, unread: tracker.unread };
            on_item(&item);
            items.push(item);
        }
    };
    for (line_no, (start, raw)) in (0u32..).zip(super::lines::lines_inclusive(text)) {
        let offset = start + raw.len();
        out.scanned += raw.len() as u64;
        let line = without_line_end(raw);
        let indent = line.bytes().take_while(|&c| c == b' ').count();
        let content = line.get(indent..).unwrap_or_default();
        let blank = content.is_empty() || content.starts_with('#');
        match carry {
            Carry::BlockScalar(parent) => {
                if blank || indent > parent {
                    continue;
                }
                carry = Carry::None;
            }
            Carry::Flow(depth, quote) => {
                carry = scan_flow(line.as_bytes(), 0, depth, quote, stack.len(), max_depth, line_no)?;
                continue;
            }
            Carry::Quoted(q) => {
                if find_quote_end(line.as_bytes(), 0, q).is_some() {
                    carry = Carry::None;
                }
                continue;
            }
            Carry::None => {}
        }
        if blank {
            continue;
        }
        if indent == 0 && (content.starts_with("---") || content.starts_with("...")) {
            // A marker line with content (`--- key: v`): not worth following.
            out.heads.unsure = true;
            items_unsure = true;
            continue;
        }
        // Block depth: close the collections this line is not inside, then open its own.
        while stack.last().is_some_and(|&c| c > indent) {
            stack.pop();
        }
        if stack.last() != Some(&indent) {
            stack.push(indent);
        }
        if skim == Skim::Ignored {
            // The map the line would be handed to, if it would be handed to one.
            let tracker = match list.as_ref() {
                Some(state) => {
                    state.dash.filter(|&d| indent > d).and(state.current.as_ref().map(|(_, _, tracker)| tracker))
                }
                None => (root.is_some() && root_is_map).then_some(&root_map),
            };
            if let Some(tracker) = tracker
                && skim_line(line, indent, &mut stack, max_depth, |dashes| tracker.ignores(indent, dashes))
            {
                continue;
            }
        }
        let (shape, next) = shape_line(line, indent, &mut stack, max_depth, line_no)?;
        carry = next;
        let at = At { indent, start, next: offset };

        let root_col = match root {
            Some(c) => c,
            None => {
                root = Some(indent);
                root_is_map = shape.dashes == 0 && shape.key.is_some();
                indent
            }
        };
        if !root_is_map {
            continue;
        }
        if indent < root_col {
            out.heads.unsure = true;
            items_unsure = true;
            continue;
        }

        if let Some(state) = list.as_mut() {
            let dash = match state.dash {
                Some(d) => Some(d),
                None if shape.dashes > 0 && indent >= root_col => {
                    state.dash = Some(indent);
                    state.dash
                }
                None => None,
            };
            match dash {
                Some(d) if indent == d && shape.dashes > 0 => {
                    close(&mut items, state, start);
                    let mut tracker = MapTracker::default();
                    if shape.dashes > 1 {
                        tracker.heads.unsure = true;
                    }
                    if shape.key.is_some() || shape.value != Value::Empty {
                        tracker.line(shape.node_col, 0, &shape, At { indent: shape.node_col, ..at });
                    }
                    state.current = Some((start, line_no, tracker));
                    continue;
                }
                Some(d) if indent > d => {
                    match state.current.as_mut() {
                        Some((_, _, tracker)) => tracker.line(indent, shape.dashes, &shape, at),
                        None => items_unsure = true,
                    }
                    continue;
                }
                _ => {
                    // The items sequence ended (or `items:` was null).
                    if dash.is_some_and(|d| indent > root_col && indent < d) {
                        items_unsure = true;
                    }
                    close(&mut items, state, start);
                    list = None;
                }
            }
        }

        if indent == root_col && shape.dashes == 0 && shape.key.as_deref() == Some("items") {
            if items_seen {
                items_unsure = true;
            }
            items_seen = true;
            match shape.value {
                Value::Empty => list = Some(ItemsState::default()),
                _ => items_unsure = true,
            }
            root_map.meta = None;
            root_map.close_unread(indent, 0, start);
            continue;
        }
        root_map.line(indent, shape.dashes, &shape, at);
    }
    if let Some(state) = list.as_mut() {
        close(&mut items, state, text.len());
    }
    root_map.finish(text.len());
    out.unread = root_map.unread;
    out.heads = Heads { unsure: out.heads.unsure || root_map.heads.unsure, ..root_map.heads };
    if carry != Carry::None && !matches!(carry, Carry::BlockScalar(_)) {
        // An unterminated flow collection or quoted scalar: the parser reports it.
        out.heads.unsure = true;
        items_unsure = true;
    }
    if !root_is_map {
        out.heads.unsure = true;
    }
    if items_seen && !items_unsure && root_is_map {
        out.items = Some(items);
    }
    Ok(out)
}

/// A line the scan's map would ignore (`ignores(dashes)`: inside an unread subtree, or below a
/// key whose subtree holds no head) matters only for the nesting depth, unless it could open a
/// construct that goes on past the line (a quoted scalar, a flow collection, a block scalar)
/// or a depth check could fail on it. Such a line is skimmed: its `- ` indicators are pushed as
/// [`shape_line`] pushes them, its key and value are not read. Returns `false`, having changed
/// nothing, for a line that must be shaped. Most lines of a cluster dump are `status`,
/// `managedFields` and `spec`.
fn skim_line(
    line: &str,
    indent: usize,
    stack: &mut Vec<usize>,
    max_depth: usize,
    ignores: impl FnOnce(usize) -> bool,
) -> bool {
    let b = line.as_bytes();
    // The `- ` indicators: where each one's node starts, as `shape_line` finds it.
    let after_dash = |i: usize| -> Option<usize> {
        (b.get(i) == Some(&b'-') && matches!(b.get(i + 1), None | Some(b' '))).then(|| skip_spaces(b, i + 1))
    };
    let mut dashes = 0usize;
    let mut node = indent;
    while let Some(next) = after_dash(node) {
        dashes += 1;
        node = next;
    }
    // Room for the indicators and a `{}` after a key, so no depth check can fail here.
    if stack.len() + dashes + 2 > max_depth || !ignores(dashes) || !plain_to_the_end(b.get(node..).unwrap_or_default())
    {
        return false;
    }
    let mut i = indent;
    while let Some(next) = after_dash(i) {
        if b.get(next).is_some() && stack.last() != Some(&next) {
            stack.push(next);
        }
        i = next;
    }
    true
}

/// Whether the rest of a line holds nothing that could start a multi-line construct or a
/// property: no quote, no block scalar indicator, no tab, no anchor, tag or alias, and
/// brackets only as the empty `{}` and `[]` (a `managedFields` line is mostly `f:name: {}`).
fn plain_to_the_end(rest: &[u8]) -> bool {
    // Eight bytes at a time while none of them is a stop (one branch per eight table lookups,
    // most of a skimmed line's bytes), then byte by byte from the first word that holds one.
    let words = rest.chunks_exact(8).take_while(|word| !word.iter().fold(false, |any, &c| any | stops_at(c))).count();
    plain_from(rest, words * 8)
}

fn stops_at(c: u8) -> bool {
    NOT_PLAIN.get(usize::from(c)).copied().unwrap_or(true)
}

/// [`plain_to_the_end`] from byte `i` on, one byte at a time.
fn plain_from(rest: &[u8], mut i: usize) -> bool {
    while let Some(&c) = rest.get(i) {
        if stops_at(c) {
            let pair = match c {
                b'{' => b'}',
                b'[' => b']',
                _ => return false,
            };
            if rest.get(i + 1) != Some(&pair) {
                return false;
            }
            i += 1;
        }
        i += 1;
    }
    true
}

/// The bytes [`plain_to_the_end`] stops at, as a table: it looks at every byte of half a dump.
#[expect(clippy::indexing_slicing, reason = "evaluated by the compiler: an index out of range fails the build")]
const NOT_PLAIN: [bool; 256] = {
    let mut table = [false; 256];
    let stops = b"\"'|>&!*?%@`\t{}[]";
    let mut i = 0;
    while i < stops.len() {
        table[stops[i] as usize] = true;
        i += 1;
    }
    table
};

/// A line without its `\n` and any `\r` before it (`raw` holds no other `\n`).
fn without_line_end(raw: &str) -> &str {
    let line = raw.strip_suffix('\n').unwrap_or(raw);
    match line.as_bytes().last() {
        Some(b'\r') => line.trim_end_matches('\r'),
        _ => line,
    }
}

/// A quoted scalar the outline could decode, or one it leaves to the parser.
fn scalar_value(text: Option<Cow<'_, str>>) -> Value<'_> {
    text.map_or(Value::Other, Value::Scalar)
}

fn head_of(value: &Value<'_>) -> Head {
    match value {
        Value::Empty => Head::Absent,
        Value::Scalar(s) => Head::Scalar(s.clone().into_owned()),
        Value::Plain(rest) => Head::Scalar(plain_value(rest).to_owned()),
        Value::Other => Head::Unsure,
    }
}

fn too_deep(line: u32, column: usize, limit: usize) -> TooDeep {
    TooDeep { line, column: u32::try_from(column + 1).unwrap_or(u32::MAX), limit }
}

/// Reads one structural line after its indentation: `- ` indicators (each opens a block
/// sequence, so each counts towards the depth), a key, and the start of its value. Returns
/// what carries over to the next line.
fn shape_line<'t>(
    line: &'t str,
    indent: usize,
    stack: &mut Vec<usize>,
    max_depth: usize,
    line_no: u32,
) -> Result<(LineShape<'t>, Carry), TooDeep> {
    let b = line.as_bytes();
    let mut i = indent;
    let mut shape = LineShape { dashes: 0, node_col: indent, key: None, value: Value::Empty, unsure: false };
    // `- ` and `? ` indicators: each nests one level.
    loop {
        let at = b.get(i).copied();
        let indicator = matches!(at, Some(b'-' | b'?')) && matches!(b.get(i + 1), None | Some(b' ' | b'\t'));
        if !indicator {
            break;
        }
        if at == Some(b'?') {
            shape.unsure = true;
        } else {
            shape.dashes += 1;
        }
        i = skip_spaces(b, i + 1);
        if b.get(i).is_some() && stack.last() != Some(&i) {
            stack.push(i);
        }
        if stack.len() > max_depth {
            return Err(too_deep(line_no, i, max_depth));
        }
    }
    if stack.len() > max_depth {
        return Err(too_deep(line_no, i, max_depth));
    }
    shape.node_col = i;
    let carry = node_start(line, i, stack.len(), max_depth, line_no, &mut shape)?;
    Ok((shape, carry))
}

/// Reads the node that starts at byte `i`: a key and its value, or a bare value.
fn node_start<'t>(
    line: &'t str,
    i: usize,
    depth: usize,
    max_depth: usize,
    line_no: u32,
    shape: &mut LineShape<'t>,
) -> Result<Carry, TooDeep> {
    let b = line.as_bytes();
    match b.get(i).copied() {
        None | Some(b'#') => Ok(Carry::None),
        Some(q @ (b'"' | b'\'')) => {
            let Some(end) = find_quote_end(b, i + 1, q) else {
                shape.unsure = true;
                shape.value = Value::Other;
                return Ok(Carry::Quoted(q));
            };
            let rest = skip_spaces(b, end);
            let text = unquote(text_of(line, i, end), q);
            if b.get(rest) == Some(&b':') && matches!(b.get(rest + 1), None | Some(b' ' | b'\t')) {
                if text.is_none() {
                    shape.unsure = true;
                }
                shape.key = text;
                value_after_key(line, rest + 1, i, depth, max_depth, line_no, shape)
            } else {
                shape.value = scalar_value(text);
                Ok(Carry::None)
            }
        }
        Some(b'[' | b'{') => {
            shape.value = Value::Other;
            scan_flow(b, i, 0, None, depth, max_depth, line_no)
        }
        Some(b'&' | b'!' | b'*') => {
            // A property or an alias: skip it; what follows still nests.
            shape.unsure = true;
            let carry = node_start(line, skip_spaces(b, skip_token(b, i)), depth, max_depth, line_no, shape)?;
            shape.value = Value::Other;
            Ok(carry)
        }
        Some(b'|' | b'>') => {
            shape.value = Value::Other;
            let parent = if shape.dashes > 0 { i.saturating_sub(2) } else { i };
            Ok(Carry::BlockScalar(parent))
        }
        Some(_) => match plain_key_end(b, i) {
            Some(colon) => {
                shape.key = Some(Cow::Borrowed(text_of(line, i, colon).trim_end()));
                value_after_key(line, colon + 1, i, depth, max_depth, line_no, shape)
            }
            None => {
                shape.value = Value::Plain(text_of(line, i, line.len()));
                Ok(Carry::None)
            }
        },
    }
}

fn value_after_key<'t>(
    line: &'t str,
    after_colon: usize,
    key_col: usize,
    depth: usize,
    max_depth: usize,
    line_no: u32,
    shape: &mut LineShape<'t>,
) -> Result<Carry, TooDeep> {
    let b = line.as_bytes();
    let i = skip_spaces(b, after_colon);
    match b.get(i).copied() {
        None | Some(b'#') => {
            shape.value = Value::Empty;
            Ok(Carry::None)
        }
        Some(q @ (b'"' | b'\'')) => match find_quote_end(b, i + 1, q) {
            None => {
                shape.value = Value::Other;
                Ok(Carry::Quoted(q))
            }
            Some(end) => {
                shape.value = scalar_value(unquote(text_of(line, i, end), q));
                Ok(Carry::None)
            }
        },
        Some(b'[' | b'{') => {
            shape.value = Value::Other;
            scan_flow(b, i, 0, None, depth + 1, max_depth, line_no)
        }
        Some(b'|' | b'>') => {
            shape.value = Value::Other;
            Ok(Carry::BlockScalar(key_col))
        }
        Some(b'&' | b'!' | b'*') => {
            let carry = value_after_key(line, skip_token(b, i), key_col, depth, max_depth, line_no, shape)?;
            shape.value = Value::Other;
            Ok(carry)
        }
        Some(_) => {
            shape.value = Value::Plain(text_of(line, i, line.len()));
            Ok(Carry::None)
        }
    }
}

/// The end of the token (an anchor, a tag, an alias) that starts at `i`.
fn skip_token(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| !matches!(c, b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// Whether a `#` at `i` starts a comment: it does after a space, not as the first byte of the
/// scalar that starts at `from`.
fn comment_at(b: &[u8], i: usize, from: usize) -> bool {
    b.get(i) == Some(&b'#') && i > from && matches!(b.get(i - 1), Some(b' ' | b'\t'))
}

fn skip_spaces(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t')) {
        i += 1;
    }
    i
}

/// The end (exclusive) of a quoted scalar whose body starts at `from`, or `None` if it goes
/// on past the line.
fn find_quote_end(b: &[u8], from: usize, q: u8) -> Option<usize> {
    let mut i = from;
    while let Some(&c) = b.get(i) {
        if q == b'"' && c == b'\\' {
            i += 2;
            continue;
        }
        if c == q {
            if q == b'\'' && b.get(i + 1) == Some(&b'\'') {
                i += 2;
                continue;
            }
            return Some(i + 1);
        }
        i += 1;
    }
    None
}

/// The text of a single-line quoted scalar; `None` for escapes the outline does not decode.
fn unquote(quoted: &str, q: u8) -> Option<Cow<'_, str>> {
    let s = quoted.get(1..quoted.len().saturating_sub(1))?;
    if q == b'\'' {
        Some(if s.contains("''") { Cow::Owned(s.replace("''", "'")) } else { Cow::Borrowed(s) })
    } else if s.contains('\\') {
        None
    } else {
        Some(Cow::Borrowed(s))
    }
}

/// Where a plain key ends: the first `:` followed by a space or the line's end, before any
/// ` #` comment.
fn plain_key_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(&c) = b.get(i) {
        if comment_at(b, i, from) {
            return None;
        }
        if c == b':' && matches!(b.get(i + 1), None | Some(b' ' | b'\t')) {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// A plain scalar's text (`rest`, from its first byte to the end of its line) without a
/// trailing comment.
fn plain_value(rest: &str) -> &str {
    let b = rest.as_bytes();
    let end = (0..b.len()).find(|&i| comment_at(b, i, 0)).unwrap_or(b.len());
    text_of(rest, 0, end).trim_end()
}

/// `line[from..to]`. The bounds sit next to ASCII bytes, so they are character boundaries;
/// anything else reads as empty rather than panicking.
fn text_of(line: &str, from: usize, to: usize) -> &str {
    line.get(from..to).unwrap_or_default()
}

/// Follows a flow collection from byte `i` of a line, at flow depth `depth` (0 when `i` is
/// its opening bracket) and inside `quote` if a quoted scalar goes on from the line before.
/// Returns `Carry::Flow` if the collection goes on past the line.
fn scan_flow(
    b: &[u8],
    mut i: usize,
    mut depth: usize,
    mut quote: Option<u8>,
    block: usize,
    max_depth: usize,
    line_no: u32,
) -> Result<Carry, TooDeep> {
    // A quote opens a quoted scalar only where a scalar starts (`[it's]` is a plain scalar).
    let mut scalar_start = true;
    while let Some(&c) = b.get(i) {
        if let Some(q) = quote {
            match find_quote_end(b, i, q) {
                Some(end) => {
                    quote = None;
                    scalar_start = false;
                    i = end;
                    continue;
                }
                // The quoted scalar goes on past the line.
                None => return Ok(Carry::Flow(depth, Some(q))),
            }
        }
        match c {
            b'[' | b'{' => {
                depth += 1;
                if block + depth > max_depth {
                    return Err(too_deep(line_no, i, max_depth));
                }
            }
            b']' | b'}' => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    return Ok(Carry::None);
                }
            }
            b'"' | b'\'' if scalar_start => quote = Some(c),
            b'#' if i == 0 || matches!(b.get(i - 1), Some(b' ' | b'\t')) => break,
            _ => {}
        }
        if !matches!(c, b' ' | b'\t') {
            scalar_start = matches!(c, b'[' | b'{' | b',' | b':' | b'?' | b'-');
        }
        i += 1;
    }
    Ok(if depth == 0 && quote.is_none() { Carry::None } else { Carry::Flow(depth, quote) })
}

// ---------------------------------------------------------------------------------------------
// JSON
// ---------------------------------------------------------------------------------------------

/// What an open JSON container is, for the outline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Frame {
    /// The document's root object.
    Root,
    /// The root's `metadata`.
    RootMeta,
    /// The root's `items` array.
    Items,
    /// One item of `items`.
    Item,
    /// An item's `metadata`.
    ItemMeta,
    /// The `metadata.labels` of the root or of an item.
    RootLabels,
    ItemLabels,
    /// Anything else: followed for depth only.
    Other,
}

/// Outlines a JSON document. `Ok(None)`: not JSON the outline follows (the caller parses it).
fn json_outline(text: &str, max_depth: usize, on_item: &mut dyn FnMut(&Item)) -> Result<Option<Outline>, TooDeep> {
    let b = text.as_bytes();
    let mut out = Outline::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut items: Vec<Item> = Vec::new();
    let mut current: Option<Item> = None;
    let mut items_seen = false;
    // The last key read in the innermost object (its raw bytes: only a few names matter).
    let mut key: Option<&[u8]> = None;
    let mut line = 0u32;
    let mut line_start = 0usize;
    let mut i = 0usize;
    let mut done = false;
    while let Some(&c) = b.get(i) {
        match c {
            b'\n' => {
                line += 1;
                line_start = i + 1;
                i += 1;
            }
            // `kubectl get -o json` indents by up to dozens of spaces a line.
            b' ' => i = space_run_end(b, i),
            b'\t' | b'\r' | b',' | b':' => i += 1,
            b'{' | b'[' => {
                if done {
                    return Ok(None);
                }
                let parent = stack.last().copied();
                let frame = match (parent, c, key) {
                    (None, b'{', _) => Frame::Root,
                    (Some(Frame::Root), b'{', Some(b"metadata")) => Frame::RootMeta,
                    (Some(Frame::Root), b'[', Some(b"items")) => {
                        if items_seen {
                            return Ok(None);
                        }
                        items_seen = true;
                        Frame::Items
                    }
                    (Some(Frame::Items), b'{', _) => {
                        // Start the item at its line's start when only spaces come before it,
                        // so columns stay right.
                        let before = b.get(line_start..i).unwrap_or_default();
                        let start = if before.iter().all(|c| matches!(c, b' ' | b'\t')) { line_start } else { i };
                        current = Some(Item { start, end: start, line, heads: Heads::default(), unread: Vec::new() });
                        Frame::Item
                    }
                    (Some(Frame::Items), _, _) => return Ok(None),
                    (Some(Frame::Item), b'{', Some(b"metadata")) => Frame::ItemMeta,
                    (Some(Frame::RootMeta), b'{', Some(b"labels")) => Frame::RootLabels,
                    (Some(Frame::ItemMeta), b'{', Some(b"labels")) => Frame::ItemLabels,
                    (None, _, _) => return Ok(None),
                    _ => Frame::Other,
                };
                stack.push(frame);
                if stack.len() > max_depth {
                    let column = i - line_start;
                    return Err(too_deep(line, column, max_depth));
                }
                key = None;
                i += 1;
            }
            b'}' | b']' => {
                let Some(frame) = stack.pop() else {
                    return Ok(None);
                };
                if frame == Frame::Item
                    && let Some(item) = current.take()
                {
                    let item = Item { end: i + 1, ..item };
                    on_item(&item);
                    items.push(item);
                }
                if stack.is_empty() {
                    done = true;
                }
                key = None;
                i += 1;
            }
            b'"' => {
                if done {
                    return Ok(None);
                }
                let Some(end) = json_string_end(b, i + 1) else {
                    return Ok(None);
                };
                let raw = b.get(i + 1..end - 1).unwrap_or_default();
                let after = skip_ws(b, end);
                let is_key = b.get(after) == Some(&b':') && matches!(stack.last(), Some(f) if *f != Frame::Items);
                if is_key {
                    key = Some(raw);
                } else {
                    let value = || {
                        if raw.contains(&b'\\') {
                            Head::Unsure
                        } else {
                            Head::Scalar(String::from_utf8_lossy(raw).into_owned())
                        }
                    };
                    record(&mut out.heads, current.as_mut(), stack.last().copied(), key.take(), value);
                }
                i = end;
            }
            _ => {
                // A number, true, false or null.
                if stack.is_empty() {
                    return Ok(None);
                }
                let start = i;
                while b.get(i).is_some_and(|c| !matches!(c, b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')) {
                    i += 1;
                }
                if i == start {
                    return Ok(None);
                }
                record(&mut out.heads, current.as_mut(), stack.last().copied(), key.take(), || Head::Unsure);
            }
        }
    }
    out.scanned = b.len() as u64;
    if !done || !stack.is_empty() {
        return Ok(None);
    }
    if items_seen {
        out.items = Some(items);
    }
    Ok(Some(out))
}

/// Records a scalar under `key` when the frame and key name one of the heads; the value is
/// only built then.
fn record(
    root: &mut Heads,
    item: Option<&mut Item>,
    frame: Option<Frame>,
    key: Option<&[u8]>,
    value: impl FnOnce() -> Head,
) {
    // Most values are in frames that hold no head: their keys are not even decoded.
    let (heads, slot_of): (&mut Heads, fn(&str) -> Option<Slot>) = match (frame, item) {
        (Some(Frame::Root), _) => (root, root_slot),
        (Some(Frame::RootMeta), _) => (root, metadata_slot),
        (Some(Frame::Item), Some(item)) => (&mut item.heads, root_slot),
        (Some(Frame::ItemMeta), Some(item)) => (&mut item.heads, metadata_slot),
        (Some(Frame::RootLabels), _) => (root, label_slot),
        (Some(Frame::ItemLabels), Some(item)) => (&mut item.heads, label_slot),
        _ => return,
    };
    let Some(key) = key.and_then(|k| std::str::from_utf8(k).ok()) else {
        return;
    };
    if let Some(slot) = slot_of(key) {
        heads.set(slot, value());
    }
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while matches!(b.get(i), Some(b' ' | b'\t' | b'\r' | b'\n')) {
        i += 1;
    }
    i
}

/// The end of the run of spaces at `i`, eight bytes at a time.
fn space_run_end(b: &[u8], mut i: usize) -> usize {
    const SPACES: u64 = super::lines::ONES * b' ' as u64;
    while let Some(chunk) = b.get(i..i + 8) {
        let differs = <[u8; 8]>::try_from(chunk).map_or(u64::MAX, u64::from_le_bytes) ^ SPACES;
        if differs != 0 {
            // The lowest byte that is not a space (little-endian: the first in the text).
            return i + (differs.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while b.get(i) == Some(&b' ') {
        i += 1;
    }
    i
}

/// The end (exclusive, after the closing quote) of a JSON string whose body starts at `from`.
/// Strings are most of a JSON dump's bytes: the three that matter are found with `memchr`.
fn json_string_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    loop {
        i += memchr::memchr3(b'\\', b'"', b'\n', b.get(i..)?)?;
        match b.get(i)? {
            b'\\' => i += 2,
            b'"' => return Some(i + 1),
            _ => return None,
        }
    }
}

#[cfg(test)]
#[expect(clippy::string_slice, reason = "test code: the spans under test are ASCII")]
mod tests {
    use super::*;

    fn scalar(s: &str) -> Head {
        Head::Scalar(s.to_owned())
    }

    #[test]
    fn heads_of_a_block_resource() {
        let doc = "apiVersion: v1\ndata:\n  kind: not-this\n  x: |\n    kind: nor-this\nkind: ConfigMap\nmetadata:\n  labels:\n    name: no\n  name: cm\n  namespace: 'ns'\n";
        let o = outline(doc, 256).unwrap();
        assert_eq!(o.heads.kind, scalar("ConfigMap"));
        assert_eq!(o.heads.api_version, scalar("v1"));
        assert_eq!(o.heads.name, scalar("cm"));
        assert_eq!(o.heads.namespace, scalar("ns"));
        assert!(!o.heads.unsure);
        assert_eq!(o.items, None);
    }

    #[test]
    fn the_managed_by_label_in_block_and_json() {
        let label = "endpointslice.kubernetes.io/managed-by";
        let block = format!(
            "kind: EndpointSlice\nmetadata:\n  annotations:\n    {label}: not-this\n  labels:\n    a: b\n    {label}: ctrl\n    c:\n      {label}: nor-this\n  name: s\n"
        );
        assert_eq!(outline(&block, 256).unwrap().heads.managed_by, scalar("ctrl"));
        let unlabelled = format!("kind: EndpointSlice\nmetadata:\n  annotations:\n    {label}: not-this\n  name: s\n");
        assert_eq!(outline(&unlabelled, 256).unwrap().heads.managed_by, Head::Absent);
        let json = format!(
            "{{\"items\": [{{\"kind\": \"EndpointSlice\", \"metadata\": {{\"annotations\": {{\"{label}\": \"no\"}}, \"labels\": {{\"{label}\": \"ctrl\"}}}}}}], \"kind\": \"List\"}}"
        );
        let items = outline(&json, 256).unwrap().items.unwrap();
        assert_eq!(items[0].heads.managed_by, scalar("ctrl"));
    }

    #[test]
    fn items_of_a_block_list_with_their_lines_and_unread_subtrees() {
        let doc = "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Secret\n  metadata:\n    managedFields:\n    - manager: x\n    name: s\n  status:\n    phase: x\n- kind: Pod\n  metadata:\n    name: p\nkind: List\n";
        let o = outline(doc, 256).unwrap();
        assert_eq!(o.heads.kind, scalar("List"));
        let items = o.items.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!((items[0].line, items[1].line), (2, 10));
        assert_eq!(items[0].heads.kind, scalar("Secret"));
        assert_eq!(items[0].heads.name, scalar("s"));
        assert_eq!(items[1].heads.name, scalar("p"));
        let unread: Vec<&str> = items[0].unread.iter().map(|&(a, b)| &doc[a..b]).collect();
        assert_eq!(unread, ["    - manager: x\n", "    phase: x\n"]);
        assert_eq!(&doc[items[1].start..items[1].end], "- kind: Pod\n  metadata:\n    name: p\n");
    }

    #[test]
    fn items_of_a_json_list() {
        let doc = "{\n  \"apiVersion\": \"v1\",\n  \"items\": [\n    {\"kind\": \"Pod\", \"metadata\": {\"name\": \"p\"}},\n    {\n      \"kind\": \"Secret\"\n    }\n  ],\n  \"kind\": \"List\"\n}\n";
        let o = outline(doc, 256).unwrap();
        assert_eq!(o.heads.kind, scalar("List"));
        let items = o.items.unwrap();
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].heads.name, scalar("p"));
        assert_eq!(items[1].heads.kind, scalar("Secret"));
        assert_eq!(items[1].line, 4);
        assert!(doc[items[1].start..items[1].end].trim_start().starts_with('{'));
    }

    #[test]
    fn what_the_outline_does_not_follow_makes_it_unsure() {
        for doc in ["kind: &k Secret\n", "? kind\n: Secret\n", "kind: Secret\nkind: Pod\n", "- kind: Secret\n"] {
            let o = outline(doc, 256).unwrap();
            assert!(o.heads.unsure || o.heads.kind == Head::Unsure, "{doc:?}: {o:?}");
        }
        let o = outline("apiVersion: v1\nitems: []\nkind: List\n", 256).unwrap();
        assert_eq!(o.items, None, "flow items are left to the parser");
    }

    #[test]
    fn depth_is_counted_in_block_and_flow() {
        assert!(outline(&format!("a: {}{}\n", "[".repeat(300), "]".repeat(300)), 256).is_err());
        assert!(outline(&format!("{}x\n", "- ".repeat(300)), 256).is_err());
        assert!(outline("a: \"[[[[[[[[\"\nb: '{{{{'\nc: |\n  [[[[[[[[\n", 4).is_ok());
        let mut nested = String::new();
        for i in 0..300 {
            nested.push_str(&" ".repeat(i));
            nested.push_str("a:\n");
        }
        let err = outline(&nested, 256).unwrap_err();
        assert_eq!(err.line, 256);
    }

    /// The outline with unread lines skimmed is the outline with every line shaped.
    fn assert_skim_agrees(text: &str, max_depth: usize) {
        if let Err(difference) = skim_differential(text, max_depth) {
            panic!("max depth {max_depth}, text:\n{text}\n{difference}");
        }
    }

    #[test]
    fn skimming_unread_subtrees_changes_nothing_on_dumps() {
        use crate::synth::{DumpFormat, MeshShape, generate_dump};
        for realistic in [false, true] {
            for format in [DumpFormat::Documents, DumpFormat::ListYaml] {
                let text = generate_dump(&MeshShape::new(12), realistic, format);
                for doc in crate::parse::yaml::split_documents(&text) {
                    for max_depth in [256, 12, 7] {
                        assert_skim_agrees(doc.text, max_depth);
                    }
                }
            }
        }
    }

    #[test]
    fn skimming_unread_subtrees_changes_nothing_at_the_edges() {
        let cases = [
            // A flow collection that goes on below the subtree's column.
            "kind: Pod\nstatus:\n  a: {x: 1,\nb: 2}\nspec:\n  c: 1\n",
            "kind: Pod\nstatus:\n  a: [1,\n2]\nkind: Secret\n",
            // A quoted scalar that goes on below it.
            "kind: Pod\nstatus:\n  a: \"x\n  y\"\nkind: Secret\n",
            "kind: Pod\nstatus:\n  a: 'x\nkind: y'\nmetadata:\n  name: n\n",
            // A block scalar whose text looks like structure.
            "kind: Pod\nstatus:\n  a: |\n    - - - - - -\n      - - - - x\n  b: 1\nkind: Secret\n",
            // Sequences at the subtree's own column, nested on one line.
            "kind: Pod\nmetadata:\n  managedFields:\n  - - - - a: {}\n  - b: []\n  name: n\n",
            "items:\n- kind: Pod\n  status:\n  - a\n  -\n  - - b: {}\n  metadata:\n    name: p\n- kind: Secret\n",
            // Tabs, anchors, aliases, explicit keys inside the subtree.
            "kind: Pod\nstatus:\n  a:\t{}\n  -\tb\n  &x c: 1\n  ? d\n  : e\n  f: *x\nkind: Secret\n",
            // Stray brackets, comments with quotes, a document marker.
            "kind: Pod\nstatus:\n  a: {}}\n  b: x # it's\n  c: ]\n---\nkind: Secret\n",
        ];
        for text in cases {
            for max_depth in [256, 6, 4, 3, 2] {
                assert_skim_agrees(text, max_depth);
            }
        }
        // Nesting inside an unread subtree still counts towards the limit.
        let mut deep = String::from("kind: Pod\nstatus:\n");
        for i in 1..300 {
            deep.push_str(&" ".repeat(i));
            deep.push_str("a:\n");
        }
        assert!(yaml_outline(&deep, 256, Skim::Ignored, &mut |_| {}).is_err());
        assert_skim_agrees(&deep, 256);
        assert_skim_agrees(&format!("kind: Pod\nstatus:\n  {}x\n", "- ".repeat(300)), 256);
    }

    proptest::proptest! {
        #[test]
        fn space_runs_end_where_a_byte_by_byte_scan_ends_them(
            bytes in proptest::collection::vec(proptest::sample::select(b"   a\n".to_vec()), 0..40),
            from in 0usize..12,
        ) {
            let by_byte = from + bytes.iter().skip(from).take_while(|&&c| c == b' ').count();
            proptest::prop_assert_eq!(space_run_end(&bytes, from), by_byte.max(from));
        }

        #[test]
        fn json_strings_end_where_a_byte_by_byte_scan_ends_them(
            bytes in proptest::collection::vec(proptest::sample::select(b"ab\\\"\n ".to_vec()), 0..40),
            from in 0usize..8,
        ) {
            let by_byte = |b: &[u8], mut i: usize| {
                while let Some(&c) = b.get(i) {
                    match c {
                        b'\\' => i += 2,
                        b'"' => return Some(i + 1),
                        b'\n' => return None,
                        _ => i += 1,
                    }
                }
                None
            };
            proptest::prop_assert_eq!(json_string_end(&bytes, from), by_byte(&bytes, from));
        }

        #[test]
        fn plain_lines_are_found_a_word_at_a_time(
            // Mostly plain bytes, so that whole words without a stop come up often.
            bytes in proptest::collection::vec(
                proptest::sample::select(b"abcdefghijklmnopqrstuvwxyz0123456789: -./{}[]'\"|#\t".to_vec()),
                0..80,
            ),
        ) {
            proptest::prop_assert_eq!(plain_to_the_end(&bytes), plain_from(&bytes, 0));
        }

        #[test]
        fn skimming_unread_subtrees_changes_nothing(
            lines in proptest::collection::vec((0usize..7, 0usize..FRAGMENTS.len()), 0..40),
            max_depth in 2usize..10,
        ) {
            let mut text = String::new();
            for (indent, fragment) in lines {
                text.push_str(&" ".repeat(indent));
                text.push_str(FRAGMENTS.get(fragment).copied().unwrap_or_default());
                text.push('\n');
            }
            assert_skim_agrees(&text, max_depth);
            assert_skim_agrees(&text, 256);
        }
    }

    /// Line bodies the property test builds documents from: the keys that open and close unread
    /// subtrees, List items, and everything that makes a line carry over or nest.
    const FRAGMENTS: &[&str] = &[
        "status:",
        "managedFields:",
        "metadata:",
        "items:",
        "kind: List",
        "kind: Pod",
        "name: n",
        "- a: 1",
        "- - b",
        "-",
        "- ",
        "f:x: {}",
        "y: []",
        "- {}",
        "k: [1,",
        "2]",
        "m: {a: 1,",
        "b: 2}",
        "q: \"a",
        "b\"",
        "s: 'x",
        "y'",
        "t: |",
        "text - - -",
        "u: >",
        "# it's",
        "",
        "&a x: 1",
        "*a",
        "? k",
        ": v",
        "\t- t",
        "---",
        "x: {}}",
        "plain value",
        "labels:",
        "spec:",
        "apiVersion: v1",
        "namespace: ns",
        "endpointslice.kubernetes.io/managed-by: m",
        "- name: n",
    ];
}
