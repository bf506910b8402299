//! The front door: text in, typed [`Resources`] and located [`Diagnostic`]s out.
//!
//! Accepts multi-document YAML, JSON, and `kind: List` (what `kubectl get -o yaml` prints).
//! A syntax error in one document is reported with its position and the other documents are
//! still read. Limits stop hostile input (alias bombs, pathological nesting, endless streams),
//! not big meshes: a 50k-service export is tens of megabytes.

mod fast;
mod kinds;
mod lines;
pub mod locate;
pub mod outline;
mod read;
pub(crate) mod yaml;

use crate::diagnostic::{Code, Diagnostic};
use crate::model::{ResourceId, Resources};
use crate::source::{Location, Source};
use kinds::Kind;
use locate::Seg;
use outline::{Heads, Item, Outline, TooDeep};
use read::Ctx;
use std::borrow::Cow;
use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicUsize, Ordering};
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

/// When the caller allows more than one thread, a document at least this large is outlined on
/// a second thread while its List items are parsed, and a source this large is split into its
/// documents and outlined on a second thread while they are read: below it a thread costs more
/// than it saves.
const SECOND_THREAD_BYTES: usize = 1 << 20;

/// The outlining thread parses an item (or document) itself, before handing it over, while
/// this many it handed over are still waiting to be read: the outline costs less than parsing
/// and reading, so the reading thread falls behind unless the outlining one takes a share of the
/// parses (more than half of them on a cluster dump), and then both finish together. The
/// backlog stays near this size while the reader keeps pace, and [`HANDED_OVER_AT_MOST`] bounds
/// it when the reader is held up.
const BACKLOG_PARSED_BY_OUTLINER: usize = 2;

/// The second thread waits while this many documents or List items it handed over are not yet
/// taken: what lies between the threads stays bounded when the reader is held up (a large List
/// inside a stream, read with a third thread, while the documents after it are parsed ahead).
const HANDED_OVER_AT_MOST: usize = 64;

/// A List item's or document's parse, done by the thread that outlined it.
type ParsedAhead<'t> = (Result<Node<'t>, yaml::SyntaxError>, Built);

/// Where the second thread works (`usize::MAX`: nowhere, one thread).
#[derive(Debug, Clone, Copy)]
struct SecondThread {
    /// Sources this large or larger are split and their documents outlined there.
    documents_from: usize,
    /// Documents this large or larger are outlined there beside the reading of their items.
    items_from: usize,
    /// It parses what it hands over while this many are waiting to be read.
    parses_from_backlog: usize,
}

impl SecondThread {
    const NONE: Self =
        Self { documents_from: usize::MAX, items_from: usize::MAX, parses_from_backlog: BACKLOG_PARSED_BY_OUTLINER };
}

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
    /// List items read while the rest of their List was outlined on another thread (with
    /// `outlined_ahead`, the only figures that depend on the number of threads).
    pub read_alongside: u64,
    /// Documents split and outlined on another thread while the ones before them were read.
    pub outlined_ahead: u64,
}

impl Work {
    fn add(&mut self, other: &Work) {
        let Work {
            scanned_bytes,
            parsed_bytes,
            nodes_built,
            lines_located,
            skipped_unparsed,
            read_alongside,
            outlined_ahead,
        } = *other;
        self.scanned_bytes += scanned_bytes;
        self.parsed_bytes += parsed_bytes;
        self.nodes_built += nodes_built;
        self.lines_located += lines_located;
        self.skipped_unparsed += skipped_unparsed;
        self.read_alongside += read_alongside;
        self.outlined_ahead += outlined_ahead;
    }

    /// This work without the figures that depend on the number of threads.
    #[doc(hidden)]
    pub fn on_any_threads(self) -> Self {
        Self { read_alongside: 0, outlined_ahead: 0, ..self }
    }

    /// All of it in one number: what the linearity tests compare.
    pub fn total(&self) -> u64 {
        self.scanned_bytes + self.parsed_bytes + self.nodes_built + self.lines_located
    }
}

/// The fast YAML reader against serde_yaml on one text, for the differential fuzz target:
/// `Ok(true)` when the fast reader read it and built exactly serde_yaml's tree, `Ok(false)` when
/// it left the text to serde_yaml, `Err` describing both trees when they differ (a bug).
#[doc(hidden)]
pub fn fast_reader_differential(text: &str) -> Result<bool, String> {
    fast::differential(text)
}

/// The outline scan skimming the lines no head can be in against the scan shaping every line,
/// for the differential fuzz target: `Err` describing both outlines when they differ (a bug).
#[doc(hidden)]
pub fn outline_skim_differential(text: &str) -> Result<(), String> {
    // A small limit too, so that depth errors on skimmed lines are compared where fuzzing reaches.
    outline::skim_differential(text, SCAN_DEPTH_LIMIT).and_then(|()| outline::skim_differential(text, 6))
}

/// Reads every source with the default limits.
pub fn parse_sources(sources: &[Source]) -> Parsed {
    parse_with_limits(sources, &Limits::DEFAULT)
}

pub fn parse_with_limits(sources: &[Source], limits: &Limits) -> Parsed {
    parse_with(sources, limits, 1)
}

/// [`parse_with_limits`] on up to `threads` threads (more than 1: a large source is split and
/// its documents outlined on a second thread while this one reads them, and a large document is
/// outlined there while this one parses the List items the outline has passed). The result is
/// the same for any number of threads; where no thread can be started (wasm), one is used.
pub fn parse_with(sources: &[Source], limits: &Limits, threads: usize) -> Parsed {
    let second = if threads > 1 {
        SecondThread { documents_from: SECOND_THREAD_BYTES, items_from: SECOND_THREAD_BYTES, ..SecondThread::NONE }
    } else {
        SecondThread::NONE
    };
    read_all(sources, limits, second)
}

/// How many placements of the second thread [`threads_differential`] knows.
#[doc(hidden)]
pub const THREAD_PLACEMENTS: usize = 3;

/// One thread against two, the second thread placed as `placement` (modulo
/// [`THREAD_PLACEMENTS`]) says: splitting and outlining every source and every document, however
/// small, beside their reading, and parsing all it hands over; or documents only, parsed there
/// while the reader is behind; or List items only. For the differential fuzz target: the text
/// read twice (every resource defined again), with the default limits and with a document limit
/// met early. `Err` describing both when they differ (a bug).
#[doc(hidden)]
pub fn threads_differential(text: &str, placement: usize) -> Result<(), String> {
    let second = match placement % THREAD_PLACEMENTS {
        0 => SecondThread { documents_from: 0, items_from: 0, parses_from_backlog: 0 },
        1 => SecondThread { documents_from: 0, ..SecondThread::NONE },
        _ => SecondThread { items_from: 0, ..SecondThread::NONE },
    };
    let sources = [Source::new("a.yaml", text.to_owned()), Source::new("b.yaml", text.to_owned())];
    for limits in [Limits::DEFAULT, Limits { max_documents: 3, ..Limits::DEFAULT }] {
        let one = format!("{:#?}", read_all(&sources, &limits, SecondThread::NONE));
        let mut two = read_all(&sources, &limits, second);
        two.work = two.work.on_any_threads();
        let two = format!("{two:#?}");
        if one != two {
            return Err(format!("one thread:\n{one}\ntwo threads ({second:?}):\n{two}"));
        }
    }
    Ok(())
}

/// Reads every source, with a second thread where `second` says.
fn read_all(sources: &[Source], limits: &Limits, second: SecondThread) -> Parsed {
    let mut reader = Reader { out: Parsed::default(), seen: Seen::default(), documents: 0, limits, second };
    for source in sources {
        if reader.read_source(source).is_break() {
            break;
        }
    }
    let redefined = reader.seen.redefined;
    finish(reader.out, redefined)
}

/// What reading carries from one document to the next.
struct Reader<'l, 's> {
    out: Parsed,
    seen: Seen<'s>,
    /// Documents and List items read so far, against `limits.max_documents`.
    documents: usize,
    limits: &'l Limits,
    second: SecondThread,
}

/// Where each resource was defined (a later definition is reported and used): `ids`, and for a
/// List read alongside its outline, what was `earlier` defined in the documents before it.
#[derive(Default)]
struct Seen<'s> {
    earlier: Option<&'s HashMap<ResourceId, Location>>,
    ids: HashMap<ResourceId, Location>,
    /// An id was defined again.
    redefined: bool,
}

impl Seen<'_> {
    /// Records where `id` is defined; where it was defined before, if it was.
    fn insert(&mut self, id: ResourceId, at: Location) -> Option<Location> {
        let before = match self.ids.entry(id) {
            std::collections::hash_map::Entry::Occupied(mut known) => Some(known.insert(at)),
            std::collections::hash_map::Entry::Vacant(new) => {
                let before = self.earlier.and_then(|earlier| earlier.get(new.key())).cloned();
                new.insert(at);
                before
            }
        };
        self.redefined |= before.is_some();
        before
    }
}

/// Why reading a List's items stopped before their end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ItemStop {
    /// The document limit: nothing after it is read.
    Limit,
    /// An alias into another item: the List is read whole instead.
    Whole,
}

/// A List's items read on this thread while a second one outlined the List: kept apart, and
/// taken only if the outline, once done, splits the List into exactly the items read.
struct Alongside {
    out: Parsed,
    ids: HashMap<ResourceId, Location>,
    redefined: bool,
    documents: usize,
    /// Where the items the outline handed over start and end (read or not, once a stop was met).
    spans: Vec<(usize, usize)>,
    stop: Option<ItemStop>,
}

impl Alongside {
    fn reads(&self, outline: &Outline) -> bool {
        self.stop != Some(ItemStop::Whole)
            && list_items(outline)
                .is_some_and(|items| items.iter().map(|item| (item.start, item.end)).eq(self.spans.iter().copied()))
    }
}

impl Reader<'_, '_> {
    fn read_source(&mut self, source: &Source) -> ControlFlow<()> {
        let file = source.name.as_str();
        if source.text.len() > self.limits.max_source_bytes {
            let msg = format!(
                "input is {} bytes, over the limit of {} bytes; it is not read",
                source.text.len(),
                self.limits.max_source_bytes
            );
            self.out.diagnostics.push(Diagnostic::new(Code::InputLimit, msg, &Location::new(file, 1, 1)));
            self.out.unreadable += 1;
            return ControlFlow::Continue(());
        }
        if source.text.len() >= self.second.documents_from {
            return self.read_documents_ahead(file, &source.text);
        }
        self.read_documents(file, &source.text)
    }

    /// Splits `text` into its documents and reads them in order, on this thread alone.
    fn read_documents(&mut self, file: &str, text: &str) -> ControlFlow<()> {
        for doc in yaml::split_documents(text) {
            self.read_document_text(file, &doc, None, None)?;
        }
        ControlFlow::Continue(())
    }

    /// Splits `text` into its documents and outlines them on a second thread (which also parses
    /// the ones it hands over while this one is behind) while this one reads them in order, as
    /// [`Reader::read_documents`] does on one thread: a `---` stream's outlines and parses, its two
    /// largest costs, side by side. Which thread outlined or parsed a document changes nothing
    /// read; this thread alone counts the documents against the limit, reports and reads.
    fn read_documents_ahead(&mut self, file: &str, text: &str) -> ControlFlow<()> {
        let second = self.second;
        // Documents handed over and not yet taken by the reading thread.
        let backlog = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let (documents, handed) = std::sync::mpsc::sync_channel::<Ahead<'_>>(HANDED_OVER_AT_MOST);
            let waiting = &backlog;
            let splitter = std::thread::Builder::new().spawn_scoped(scope, move || {
                for doc in yaml::split_documents(text) {
                    let behind = waiting.load(Ordering::Relaxed) >= second.parses_from_backlog;
                    let ahead = Ahead::of(doc, second.items_from, behind);
                    waiting.fetch_add(1, Ordering::Relaxed);
                    // The reader stopped (the document limit; a wait for room ends there too):
                    // nothing more is needed.
                    if documents.send(ahead).is_err() {
                        break;
                    }
                }
            });
            let Ok(splitter) = splitter else {
                return self.read_documents(file, text);
            };
            for ahead in handed {
                backlog.fetch_sub(1, Ordering::Relaxed);
                self.out.work.outlined_ahead += 1;
                self.read_document_text(file, &ahead.doc, ahead.outline, ahead.parsed)?;
            }
            match splitter.join() {
                Ok(()) => ControlFlow::Continue(()),
                // A panic there is a bug; it surfaces as it would on one thread.
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// Reads one document of a source: counted against the document limit, outlined (unless
    /// another thread did: `outlined`), refused when too deep, read (`parsed`: its parse, when
    /// another thread has done it).
    fn read_document_text<'t>(
        &mut self,
        file: &str,
        doc: &DocumentText<'t>,
        outlined: Option<Result<Outline, TooDeep>>,
        parsed: Option<ParsedAhead<'t>>,
    ) -> ControlFlow<()> {
        self.documents += 1;
        if self.documents > self.limits.max_documents {
            let msg = format!("more than {} documents; the rest of the input is not read", self.limits.max_documents);
            let at = Location::new(file, doc.first_line, 1);
            self.out.diagnostics.push(Diagnostic::new(Code::InputLimit, msg, &at));
            self.out.unreadable += 1;
            return ControlFlow::Break(());
        }
        let (outline, alongside) = match outlined {
            Some(outline) => (outline, None),
            None if doc.text.len() >= self.second.items_from => self.outline_alongside(file, doc),
            None => (outline::outline(doc.text, SCAN_DEPTH_LIMIT), None),
        };
        let outline = match outline {
            Ok(o) => o,
            Err(deep) => {
                let msg =
                    format!("nesting deeper than {} levels (the limit is 128); the document is refused", deep.limit);
                let at = Location::new(file, doc.first_line.saturating_add(deep.line), deep.column);
                self.out.diagnostics.push(Diagnostic::new(Code::InputLimit, msg, &at));
                self.out.unreadable += 1;
                return ControlFlow::Continue(());
            }
        };
        self.out.work.scanned_bytes += outline.scanned;
        match alongside.filter(|a| a.reads(&outline)) {
            Some(items_read) => self.take(items_read),
            None => self.read_outlined(file, doc, &outline, parsed),
        }
    }

    /// Reads one document whose outline is known: a List item by item, a resource of a kind
    /// that does not bear on mTLS by its outline alone, anything else parsed whole (`parsed`:
    /// that parse, when another thread has done it).
    fn read_outlined<'t>(
        &mut self,
        file: &str,
        doc: &DocumentText<'t>,
        outline: &Outline,
        parsed: Option<ParsedAhead<'t>>,
    ) -> ControlFlow<()> {
        let Some(items) = list_items(outline) else {
            self.read_whole(file, doc, &outline.heads, &outline.unread, parsed);
            return ControlFlow::Continue(());
        };
        for item in items {
            match self.read_item(file, doc, item, None) {
                ControlFlow::Continue(()) => {}
                ControlFlow::Break(ItemStop::Limit) => return ControlFlow::Break(()),
                ControlFlow::Break(ItemStop::Whole) => {
                    // An alias into another item: the items cannot be read apart. Read the
                    // List whole, as the parser sees it (slower, but exact).
                    self.read_whole(file, doc, &Heads::default(), &[], None);
                    return ControlFlow::Continue(());
                }
            }
        }
        ControlFlow::Continue(())
    }

    /// Reads one item of a List.
    /// `ahead`: its input and parse, when another thread has done it.
    fn read_item<'t>(
        &mut self,
        file: &str,
        doc: &DocumentText<'t>,
        item: &Item,
        ahead: Option<ItemParsedAhead<'t>>,
    ) -> ControlFlow<ItemStop> {
        self.documents += 1;
        let (ItemInput { doc: item_doc, unread, role }, ahead) = match ahead {
            Some((input, parsed)) => (input, Some(parsed)),
            None => (ItemInput::of(doc, item), None),
        };
        if self.documents > self.limits.max_documents {
            let msg = format!("more than {} documents; the rest of the list is not read", self.limits.max_documents);
            let (line, column) = locate::locate(item_doc.text, item_doc.first_line, &[]);
            self.out.diagnostics.push(Diagnostic::new(Code::InputLimit, msg, &Location::new(file, line, column)));
            self.out.unreadable += 1;
            return ControlFlow::Break(ItemStop::Limit);
        }
        if self.skip_unparsed(file, &item_doc, &item.heads) {
            return ControlFlow::Continue(());
        }
        if let Err(e) = self.parse_and_read(file, &item_doc, &unread, role, ahead) {
            if e.message.contains("unknown anchor") {
                return ControlFlow::Break(ItemStop::Whole);
            }
            self.syntax_error(file, e);
        }
        ControlFlow::Continue(())
    }

    /// Outlines `doc` on a second thread while this one reads each List item the outline has
    /// passed, as [`Reader::read_outlined`] would, into a reader of its own: a cluster dump's
    /// outline and the reading of its items, its two largest costs, side by side (the outlining
    /// thread also parses the items it hands over while this one is behind). Which thread
    /// parsed an item changes nothing read. `None` for the items when no thread could be
    /// started (the outline is then made here).
    fn outline_alongside(&self, file: &str, doc: &DocumentText<'_>) -> (Result<Outline, TooDeep>, Option<Alongside>) {
        let (text, parses_from_backlog) = (doc.text, self.second.parses_from_backlog);
        // Items handed over and not yet taken by the reading thread.
        let backlog = AtomicUsize::new(0);
        std::thread::scope(|scope| {
            let (items, handed) =
                std::sync::mpsc::sync_channel::<(Item, Option<ItemParsedAhead<'_>>)>(HANDED_OVER_AT_MOST);
            let waiting = &backlog;
            let outliner = std::thread::Builder::new().spawn_scoped(scope, move || {
                outline::outline_streaming(text, SCAN_DEPTH_LIMIT, &mut |item| {
                    let behind = waiting.load(Ordering::Relaxed) >= parses_from_backlog;
                    let parsed = (behind && skip_reason(&item.heads).is_none()).then(|| {
                        let input = ItemInput::of(doc, item);
                        let parsed = parse_unread(&input.doc, &input.unread, input.role);
                        (input, parsed)
                    });
                    waiting.fetch_add(1, Ordering::Relaxed);
                    // The receiver takes every item until this thread ends: a send neither
                    // fails nor waits for ever.
                    let _ = items.send((item.clone(), parsed));
                })
            });
            let Ok(outliner) = outliner else {
                return (outline::outline(text, SCAN_DEPTH_LIMIT), None);
            };
            let mut reader = Reader {
                out: Parsed::default(),
                seen: Seen { earlier: Some(&self.seen.ids), ids: HashMap::new(), redefined: false },
                documents: self.documents,
                limits: self.limits,
                second: SecondThread::NONE,
            };
            let (mut spans, mut stop) = (Vec::new(), None);
            for (item, parsed) in handed {
                backlog.fetch_sub(1, Ordering::Relaxed);
                spans.push((item.start, item.end));
                if stop.is_none() {
                    reader.out.work.read_alongside += 1;
                    stop = reader.read_item(file, doc, &item, parsed).break_value();
                }
            }
            let outline = match outliner.join() {
                Ok(outline) => outline,
                // A panic in the outline is a bug; it surfaces as it would on one thread.
                Err(panic) => std::panic::resume_unwind(panic),
            };
            let Reader { out, seen, documents, .. } = reader;
            let Seen { ids, redefined, .. } = seen;
            (outline, Some(Alongside { out, ids, redefined, documents, spans, stop }))
        })
    }

    /// Takes the items read alongside the outline as if they had been read here, in order.
    fn take(&mut self, items_read: Alongside) -> ControlFlow<()> {
        let Alongside { out, ids, redefined, documents, stop, .. } = items_read;
        let Parsed { resources, diagnostics, unreadable, work } = out;
        self.out.resources.append(resources);
        self.out.diagnostics.extend(diagnostics);
        self.out.unreadable += unreadable;
        self.out.work.add(&work);
        self.seen.ids.extend(ids);
        self.seen.redefined |= redefined;
        self.documents = documents;
        match stop {
            Some(ItemStop::Limit) => ControlFlow::Break(()),
            Some(ItemStop::Whole) | None => ControlFlow::Continue(()),
        }
    }

    /// Parses a document whole and reads it (a resource, or a List the outline could not split).
    /// `parsed`: that parse, when another thread has done it.
    fn read_whole<'t>(
        &mut self,
        file: &str,
        doc: &DocumentText<'t>,
        heads: &Heads,
        unread: &[(usize, usize)],
        parsed: Option<ParsedAhead<'t>>,
    ) {
        if self.skip_unparsed(file, doc, heads) {
            return;
        }
        if let Err(e) = self.parse_and_read(file, doc, unread, document_role(heads), parsed) {
            self.syntax_error(file, e);
        }
    }

    /// Parses `doc` as `role`, its `unread` lines (byte ranges of its text) read as empty, and
    /// reads the resources in it; diagnostics are located in `doc`'s own text. `ahead`: the
    /// same parse, done by another thread.
    fn parse_and_read<'t>(
        &mut self,
        file: &str,
        doc: &DocumentText<'t>,
        unread: &[(usize, usize)],
        role: Role,
        ahead: Option<ParsedAhead<'t>>,
    ) -> Result<(), yaml::SyntaxError> {
        let skipped: usize = unread.iter().map(|&(from, to)| to.saturating_sub(from)).sum();
        self.out.work.parsed_bytes += doc.text.len().saturating_sub(skipped) as u64;
        let (parsed, built) = ahead.unwrap_or_else(|| parse_unread(doc, unread, role));
        self.out.work.nodes_built += built.nodes;
        let node = parsed?;
        let resources = match (role, &node) {
            (Role::Resources | Role::WorkloadResources(_), Node::Seq(items)) => items.as_slice(),
            _ => std::slice::from_ref(&node),
        };
        let mut ctx = Ctx::new(file, doc.text, doc.first_line, &mut self.out.diagnostics);
        for r in resources {
            read_document(&mut ctx, r, &mut self.out.resources, &mut self.seen, &mut self.documents, self.limits);
        }
        self.out.work.lines_located += ctx.located;
        Ok(())
    }

    fn syntax_error(&mut self, file: &str, e: yaml::SyntaxError) {
        let code = if e.message.contains("limit") { Code::InputLimit } else { Code::YamlSyntax };
        self.out.diagnostics.push(Diagnostic::new(code, e.message, &Location::new(file, e.line, e.column)));
        self.out.unreadable += 1;
    }

    /// A resource whose outline shows a kind that does not bear on mTLS (or a ConfigMap that
    /// is not the mesh config) is reported as skipped without being parsed: a dump's Secrets,
    /// Events and ConfigMaps cost a scan, not a tree. The messages are the ones the full read
    /// gives. An outline that is unsure of anything leaves the document to the parser.
    fn skip_unparsed(&mut self, file: &str, doc: &DocumentText<'_>, heads: &Heads) -> bool {
        let Some((message, resource)) = skip_reason(heads) else {
            return false;
        };
        if let Some(kind) = heads.kind.scalar() {
            self.out.resources.inventory.count_skipped(kind);
        }
        let (line, column) = locate::locate(doc.text, doc.first_line, &[]);
        let mut d = Diagnostic::new(Code::UnknownKind, message, &Location::new(file, line, column));
        if let Some(r) = resource {
            d = d.with_resource(r);
        }
        self.out.diagnostics.push(d);
        self.out.work.skipped_unparsed += 1;
        true
    }
}

/// A document as the splitting thread hands it over.
struct Ahead<'t> {
    doc: DocumentText<'t>,
    /// `None` for a document large enough to be outlined beside the reading of its items.
    outline: Option<Result<Outline, TooDeep>>,
    /// Its parse, done there while the reader was behind (never a List's: its items are
    /// parsed one by one).
    parsed: Option<ParsedAhead<'t>>,
}

impl<'t> Ahead<'t> {
    /// Outlines `doc` unless it is `items_from` bytes or larger, and parses it if `parse` and
    /// the reader will parse it whole.
    fn of(doc: DocumentText<'t>, items_from: usize, parse: bool) -> Self {
        let outline = (doc.text.len() < items_from).then(|| outline::outline(doc.text, SCAN_DEPTH_LIMIT));
        let parsed = match &outline {
            Some(Ok(o)) if parse && list_items(o).is_none() && skip_reason(&o.heads).is_none() => {
                Some(parse_unread(&doc, &o.unread, document_role(&o.heads)))
            }
            _ => None,
        };
        Self { doc, outline, parsed }
    }
}

/// The role a document is parsed whole in.
fn document_role(heads: &Heads) -> Role {
    workload_role(heads).map_or(Role::Document, Role::WorkloadResource)
}

/// Parses a document (or List item) with its `unread` lines read as empty.
fn parse_unread<'t>(doc: &DocumentText<'t>, unread: &[(usize, usize)], role: Role) -> ParsedAhead<'t> {
    let mut built = Built::default();
    let parsed = yaml::parse_document_unread(doc, unread, role, &mut built);
    (parsed, built)
}

/// A List item as the reader parses it.
struct ItemInput<'t> {
    /// Its text and first line.
    doc: DocumentText<'t>,
    /// Its unread lines, as offsets into its text.
    unread: Vec<(usize, usize)>,
    /// The role of its tree.
    role: Role,
}

/// A List item's input and its parse, made by the outlining thread (the reader then makes
/// neither again).
type ItemParsedAhead<'t> = (ItemInput<'t>, ParsedAhead<'t>);

impl<'t> ItemInput<'t> {
    fn of(doc: &DocumentText<'t>, item: &Item) -> Self {
        let text = doc.text.get(item.start..item.end).unwrap_or_default();
        let first_line = doc.first_line.saturating_add(item.line);
        // A YAML item keeps its `- `, so its lines keep their columns: it parses as a
        // one-element sequence of resources.
        let role = match (text.trim_start().starts_with('-'), workload_role(&item.heads)) {
            (true, Some(pod)) => Role::WorkloadResources(pod),
            (false, Some(pod)) => Role::WorkloadResource(pod),
            (true, None) => Role::Resources,
            (false, None) => Role::Resource,
        };
        let unread = relative_to(item.start, item.end, &item.unread);
        Self { doc: DocumentText { text, first_line }, unread, role }
    }
}

/// The items of a document the outline found to be a `kind: List` it could split.
fn list_items(outline: &Outline) -> Option<&Vec<Item>> {
    let is_list = !outline.heads.unsure && outline.heads.kind.scalar().is_some_and(is_list_kind);
    outline.items.as_ref().filter(|_| is_list)
}

/// The unread ranges of an item (`start..end` of its document) as offsets into the item's text.
fn relative_to(start: usize, end: usize, unread: &[(usize, usize)]) -> Vec<(usize, usize)> {
    unread
        .iter()
        .map(|&(from, to)| (from.clamp(start, end) - start, to.clamp(start, end) - start))
        .filter(|(from, to)| to > from)
        .collect()
}

/// Whether the outline shows a workload (`Some(true)` for a Pod, its own template), whose
/// tree may then hold only the fields `kinds::workload` reads ([`Role::WorkloadResource`]).
fn workload_role(heads: &Heads) -> Option<bool> {
    if heads.unsure {
        return None;
    }
    match kinds::classify("", heads.kind.scalar()?)? {
        (Kind::Workload(k), _) => Some(k == crate::model::WorkloadKind::Pod),
        _ => None,
    }
}

fn is_list_kind(kind: &str) -> bool {
    kind == "List" || kind.ends_with("List")
}

/// Why a resource can be skipped on its outline alone (the message and the resource id the
/// full read would report), or `None` when it must be parsed.
fn skip_reason(heads: &Heads) -> Option<(String, Option<String>)> {
    use outline::Head;
    if heads.unsure {
        return None;
    }
    let kind = heads.kind.scalar()?;
    let api_version = match &heads.api_version {
        Head::Scalar(v) => v.as_str(),
        Head::Absent => "",
        Head::Unsure => return None,
    };
    if is_list_kind(kind) {
        return None;
    }
    match kinds::classify(api_version, kind) {
        None => Some((format!("kind `{kind}` ({api_version}) does not bear on mTLS; skipped"), None)),
        Some((Kind::ConfigMap, true)) => {
            let name = heads.name.scalar()?;
            if name.is_empty() || name == "istio" || name.starts_with("istio-") {
                return None;
            }
            let id = outlined_id(kind, heads)?;
            Some(("ConfigMap is not the mesh config (`istio`, key `mesh`); skipped".to_owned(), Some(id.to_string())))
        }
        Some((Kind::EndpointSlice, true)) if kinds::is_controller_slice(heads.managed_by.scalar()) => {
            let id = outlined_id(kind, heads)?;
            Some((kinds::CONTROLLER_SLICE_SKIPPED.to_owned(), Some(id.to_string())))
        }
        Some(_) => None,
    }
}

/// The id of a namespaced resource from its outline, as the full read would build it (`None`
/// when a name or namespace is not plain, so the full read decides).
fn outlined_id(kind: &str, heads: &Heads) -> Option<ResourceId> {
    use outline::Head;
    let name = heads.name.scalar().filter(|n| !n.is_empty())?;
    let namespace = match &heads.namespace {
        Head::Scalar(n) if !n.is_empty() => n.clone(),
        Head::Scalar(_) | Head::Absent => "default".to_owned(),
        Head::Unsure => return None,
    };
    Some(ResourceId { kind: kind.to_owned(), namespace, name: name.to_owned() })
}

/// `redefined`: some resource was defined more than once (otherwise there is nothing to drop).
fn finish(mut out: Parsed, redefined: bool) -> Parsed {
    if redefined {
        keep_last_definitions(&mut out.resources);
    }
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
    let index: HashMap<(&str, &str, &str), usize> = res
        .workloads
        .iter()
        .enumerate()
        .map(|(i, w)| ((w.meta.namespace(), w.meta.id.kind.as_str(), w.meta.name()), i))
        .collect();
    // Each workload's top controller in the input, if it has one.
    let top = |i: usize| -> Option<usize> {
        let mut at = i;
        let mut found = None;
        // Owner chains are short (Pod -> ReplicaSet -> Deployment); the bound stops a cycle.
        for _ in 0..8 {
            let Some((w, Some((kind, name)))) = res.workloads.get(at).map(|w| (w, &w.controller)) else {
                break;
            };
            match index.get(&(w.meta.namespace(), kind.as_str(), name.as_str())) {
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
        let running_sidecar = match res.workloads.get(i) {
            Some(w) if w.kind == WorkloadKind::Pod => w.containers.iter().any(|c| c == "istio-proxy"),
            _ => continue,
        };
        if let Some(owner) = res.workloads.get_mut(t) {
            if running_sidecar {
                owner.running_pods.with_sidecar += 1;
            } else {
                owner.running_pods.without_sidecar += 1;
            }
        }
    }
    let mut keep = vec![true; res.workloads.len()];
    for &(i, _) in &folds {
        if let Some(k) = keep.get_mut(i) {
            *k = false;
        }
    }
    retain_marked(&mut res.workloads, &keep);
}

/// Keeps the items whose mark is `true` (an item past the marks is kept).
fn retain_marked<T>(items: &mut Vec<T>, keep: &[bool]) {
    let mut marks = keep.iter();
    items.retain(|_| marks.next().copied().unwrap_or(true));
}

fn read_document(
    ctx: &mut Ctx<'_>,
    node: &Node<'_>,
    res: &mut Resources,
    seen: &mut Seen<'_>,
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
                let items_path = vec![Seg::Key(Cow::Borrowed("items"))];
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
                    ctx.base.push(Seg::Key(Cow::Borrowed("items")));
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

fn read_resource(ctx: &mut Ctx<'_>, node: &Node<'_>, res: &mut Resources, seen: &mut Seen<'_>) {
    ctx.resource = None;
    let api_version =
        ctx.scalar_string(node.get("apiVersion"), &[Seg::Key(Cow::Borrowed("apiVersion"))]).unwrap_or_default();
    let Some(kind_name) = ctx.scalar_string(node.get("kind"), &[Seg::Key(Cow::Borrowed("kind"))]) else {
        ctx.report(Code::MissingField, "document has no `kind`; it is skipped", &[]);
        return;
    };
    let Some((kind, served)) = kinds::classify(&api_version, &kind_name) else {
        res.inventory.count_skipped(&kind_name);
        ctx.report(
            Code::UnknownKind,
            format!("kind `{kind_name}` ({api_version}) does not bear on mTLS; skipped"),
            &[],
        );
        return;
    };
    if !served {
        let msg = format!("`{kind_name}` is not served as `apiVersion: {api_version}`; the resource is skipped");
        ctx.report(Code::InvalidField, msg, &[Seg::Key(Cow::Borrowed("apiVersion"))]);
        return;
    }
    let cluster_scoped = matches!(kind, Kind::Namespace | Kind::MeshPolicy);
    let Some(meta) = kinds::read_meta(ctx, node, &kind_name, cluster_scoped) else {
        return;
    };
    ctx.resource = Some(meta.id.to_string());
    if kind == Kind::EndpointSlice
        && kinds::is_controller_slice(meta.labels.get(outline::MANAGED_BY).map(String::as_str))
    {
        res.inventory.count_skipped(&kind_name);
        ctx.report(Code::UnknownKind, kinds::CONTROLLER_SLICE_SKIPPED, &[]);
        return;
    }
    if kind != Kind::ConfigMap {
        res.inventory.count_read(&kind_name);
    }
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
                res.inventory.count_read(&kind_name);
                if let Some(mc) = kinds::mesh_config(ctx, node, false) {
                    res.mesh_config = Some(mc);
                }
            } else {
                res.inventory.count_skipped(&kind_name);
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
        Kind::WorkloadEntry => {
            let w = kinds::workload_entry(ctx, meta, node);
            res.workloads.push(w);
        }
        Kind::Endpoints | Kind::EndpointSlice => {
            if let Some(list) = kinds::service_endpoint_list(ctx, meta, node, kind == Kind::EndpointSlice) {
                res.service_endpoints.push(list);
            }
        }
    }
}

/// A resource defined twice (same kind, namespace, name) is used in its later definition, as
/// `kubectl apply` of the stream would leave it.
fn keep_last_definitions(res: &mut Resources) {
    keep_last(&mut res.namespaces, |x| &x.meta.id);
    keep_last(&mut res.workloads, |x| &x.meta.id);
    keep_last(&mut res.services, |x| &x.meta.id);
    keep_last(&mut res.service_entries, |x| &x.meta.id);
    keep_last(&mut res.service_endpoints, |x| &x.meta.id);
    keep_last(&mut res.service_accounts, |x| &x.meta.id);
    keep_last(&mut res.virtual_services, |x| &x.meta.id);
    keep_last(&mut res.peer_authentications, |x| &x.meta.id);
    keep_last(&mut res.destination_rules, |x| &x.meta.id);
    keep_last(&mut res.alpha_policies, |x| &x.meta.id);
    keep_last(&mut res.gateways, |x| &x.meta.id);
    keep_last(&mut res.authorization_policies, |x| &x.meta.id);
}

/// The rule of [`keep_last_definitions`] for one kind: of the items with the same id, only the
/// last is kept, at its own position.
fn keep_last<T>(items: &mut Vec<T>, id: impl Fn(&T) -> &ResourceId) {
    let mut last: HashMap<&ResourceId, usize> = HashMap::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        last.insert(id(item), i);
    }
    if last.len() == items.len() {
        // No id is defined twice (the usual case).
        return;
    }
    let keep: Vec<bool> = items.iter().enumerate().map(|(i, item)| last.get(id(item)) == Some(&i)).collect();
    drop(last);
    retain_marked(items, &keep);
}

/// The policies of `later` read after `earlier`, as one stream of documents is read: each
/// PeerAuthentication, DestinationRule and MeshPolicy/Policy of `later` replaces the one of
/// `earlier` with the same kind, namespace and name ([`keep_last_definitions`]). What
/// `meshlock plan` applies its steps with; the API tests check it against reading the whole
/// stream.
pub(crate) fn append_policies(earlier: &mut Resources, later: Resources) {
    earlier.peer_authentications.extend(later.peer_authentications);
    earlier.destination_rules.extend(later.destination_rules);
    earlier.alpha_policies.extend(later.alpha_policies);
    keep_last(&mut earlier.peer_authentications, |x| &x.meta.id);
    keep_last(&mut earlier.destination_rules, |x| &x.meta.id);
    keep_last(&mut earlier.alpha_policies, |x| &x.meta.id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_definition_of_an_id_is_kept_in_place() {
        let id =
            |name: &str| ResourceId { kind: "Service".to_owned(), namespace: "ns".to_owned(), name: name.to_owned() };
        let mut items = vec![(id("a"), 0), (id("b"), 1), (id("a"), 2), (id("c"), 3), (id("b"), 4)];
        keep_last(&mut items, |x| &x.0);
        assert_eq!(items.iter().map(|x| x.1).collect::<Vec<_>>(), vec![2, 3, 4]);
        let mut unique = vec![(id("a"), 0), (id("b"), 1)];
        keep_last(&mut unique, |x| &x.0);
        assert_eq!(unique.len(), 2);
    }
}
