//! `quickstart --trace`: the day's spans as an indented tree with durations.
//!
//! [`TreeLayer`] is a `tracing` layer that collects each top-level span with everything under
//! it and, when that span closes, writes the tree: one line per span, children indented under
//! their parent, consecutive siblings of the same name and fields folded into one line
//! (`×n`, total time). It prints span names and a fixed set of fields ([`SHOWN_FIELDS`]:
//! tenant ids, outcomes, error kinds, …) and nothing else, so no value the SDK did not mean
//! for telemetry reaches the terminal. The quickstart wraps its setup in a [`start_span`] and
//! each phase of the day in a [`phase_span`], so the tree has one top-level line for the
//! setup and one per phase.
//!
//! ```text
//! quickstart.phase phase=Leads  41.2 ms
//!   crm.capture ×6 tenant=0195… outcome=ok  9.8 ms
//!   crm.allocation.allocate ×6 tenant=0195… outcome=ok  3.1 ms
//! ```

use std::fmt::{self, Write as _};
use std::io::Write;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::Subscriber;
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use crate::scenario::Phase;

/// The span fields the tree shows; any other field is left out.
pub const SHOWN_FIELDS: [&str; 12] = [
    "phase",
    "tenant",
    "outcome",
    "error_kind",
    "backend",
    "unit",
    "result",
    "channel",
    "platform",
    "status",
    "sink",
    "kind",
];

/// The span a phase of the day runs in: the tree's top-level lines.
pub fn phase_span(phase: Phase) -> tracing::Span {
    tracing::info_span!("quickstart.phase", phase = ?phase)
}

/// The span of the day's setup (the scenario's services and ledger accounts), before the
/// first phase.
pub fn start_span() -> tracing::Span {
    tracing::info_span!("quickstart.start")
}

/// One span, collected until its top-level ancestor closes.
#[derive(Debug, Clone)]
struct Node {
    name: &'static str,
    fields: Vec<(&'static str, String)>,
    elapsed: Duration,
    count: usize,
    children: Vec<Node>,
}

impl Node {
    fn label(&self) -> String {
        let mut label = self.name.to_string();
        if self.count > 1 {
            let _ = write!(label, " ×{}", self.count);
        }
        for (name, value) in &self.fields {
            let _ = write!(label, " {name}={value}");
        }
        label
    }

    fn same_kind(&self, other: &Node) -> bool {
        self.name == other.name && self.fields == other.fields
    }
}

/// Fold runs of siblings of the same name and fields into one node (counts and times add up,
/// children are concatenated and folded in turn).
fn fold(nodes: Vec<Node>) -> Vec<Node> {
    let mut folded: Vec<Node> = Vec::new();
    for node in nodes {
        match folded.last_mut() {
            Some(last) if last.same_kind(&node) => {
                last.count += node.count;
                last.elapsed += node.elapsed;
                last.children.extend(node.children);
            }
            _ => folded.push(node),
        }
    }
    for node in &mut folded {
        node.children = fold(std::mem::take(&mut node.children));
    }
    folded
}

fn render(out: &mut String, node: &Node, depth: usize) {
    let _ = writeln!(
        out,
        "{:indent$}{}  {:.1} ms",
        "",
        node.label(),
        node.elapsed.as_secs_f64() * 1e3,
        indent = depth * 2
    );
    for child in &node.children {
        render(out, child, depth + 1);
    }
}

/// What a span carries while it is open (a span extension).
struct Open {
    node: Node,
    started: Instant,
}

/// Collects a span's [`SHOWN_FIELDS`].
struct Shown<'a>(&'a mut Vec<(&'static str, String)>);

impl Shown<'_> {
    fn put(&mut self, field: &Field, value: String) {
        let name = field.name();
        if let Some(shown) = SHOWN_FIELDS.iter().find(|f| **f == name) {
            match self.0.iter_mut().find(|(n, _)| n == shown) {
                Some(slot) => slot.1 = value,
                None => self.0.push((shown, value)),
            }
        }
    }
}

impl Visit for Shown<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}"));
    }
}

/// The layer writing each top-level span's tree to a writer (see the [module docs](self)).
pub struct TreeLayer {
    out: Arc<Mutex<dyn Write + Send>>,
}

impl TreeLayer {
    /// Write the trees to `out`.
    pub fn new(out: Arc<Mutex<dyn Write + Send>>) -> TreeLayer {
        TreeLayer { out }
    }

    /// Write the trees to stderr.
    pub fn stderr() -> TreeLayer {
        TreeLayer::new(Arc::new(Mutex::new(std::io::stderr())))
    }
}

impl<S> Layer<S> for TreeLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let mut fields = Vec::new();
        attrs.record(&mut Shown(&mut fields));
        span.extensions_mut().insert(Open {
            node: Node {
                name: attrs.metadata().name(),
                fields,
                elapsed: Duration::ZERO,
                count: 1,
                children: Vec::new(),
            },
            started: Instant::now(),
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if let Some(open) = span.extensions_mut().get_mut::<Open>() {
            values.record(&mut Shown(&mut open.node.fields));
        };
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        let mut node = open.node;
        node.elapsed = open.started.elapsed();
        // Hand it to the nearest open ancestor this layer tracks; none: it is a top-level span.
        if let Some(parent) = span
            .scope()
            .skip(1)
            .find(|s| s.extensions().get::<Open>().is_some())
        {
            if let Some(open) = parent.extensions_mut().get_mut::<Open>() {
                open.node.children.push(node);
            };
            return;
        }
        let mut text = String::new();
        for root in fold(vec![node]) {
            render(&mut text, &root, 0);
        }
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        // Telemetry never fails the run: a closed stderr loses the tree.
        let _ = out.write_all(text.as_bytes());
        let _ = out.flush();
    }
}
