//! SQL spans from sqlx's query events: sqlx logs each statement it ran (target `sqlx::query`,
//! at DEBUG, with its text, rows and elapsed time) but opens no span, and a service runs its
//! queries through sqlx directly. This layer turns each such event, inside a traced unit, into
//! a client span after OpenTelemetry's database conventions (semantic conventions 1.42:
//! `db.system.name`, `db.query.summary`, `db.query.text`, `db.response.returned_rows`), named
//! after the summary and ending when the event came, starting `elapsed` before. Statements
//! outside any trace (the outbox relay's polling, migrations) make none.
//!
//! `db.operation.name` and `db.collection.name` are left out: the conventions forbid parsing
//! them from the text of a query language that allows several operations in one query, as
//! PostgreSQL's and SQLite's do. The summary is the low-cardinality form they allow instead.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;
use tracing::field::{Field, Visit};
use tracing_subscriber::Layer;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::Context;

use crate::telemetry::bounded::truncated;

/// sqlx's target for its statement events.
const TARGET: &str = "sqlx::query";

/// The longest `db.query.text` kept, in bytes: a statement built from a client's input could
/// be any size.
const MAX_QUERY_TEXT: usize = 4096;

/// The layer, filtered to sqlx's statement events at every level (sqlx logs slow ones at
/// WARN).
pub(super) fn layer(
    tracer: SdkTracer,
    system: &'static str,
) -> impl Layer<crate::telemetry::Subscriber> + Send + Sync {
    SqlSpans { tracer, system }
        .with_filter(Targets::new().with_target(TARGET, tracing::Level::TRACE))
}

struct SqlSpans {
    tracer: SdkTracer,
    /// `db.system.name`: `postgresql`, `sqlite`.
    system: &'static str,
}

impl<S: tracing::Subscriber> Layer<S> for SqlSpans {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        // The OpenTelemetry context, not `tracing::Span::current()`: inside a layer's
        // callback the dispatcher is taken once a scoped one was ever set, so the current
        // span reads as none. tracing-opentelemetry makes the entered span's context current.
        let parent = opentelemetry::Context::current();
        if !parent.span().span_context().is_valid() {
            return;
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        let text = match statement.text.as_str() {
            "" => statement.summary.as_str(),
            text => text,
        };
        if text.is_empty() {
            return;
        }
        let end = SystemTime::now();
        let start = end
            .checked_sub(Duration::try_from_secs_f64(statement.elapsed_secs).unwrap_or_default())
            .unwrap_or(end);
        let summary = summary_of(text);
        let mut attributes = vec![
            KeyValue::new("db.system.name", self.system),
            KeyValue::new("db.query.text", statement.take_text()),
        ];
        if let Some(summary) = &summary {
            attributes.push(KeyValue::new("db.query.summary", summary.clone()));
        }
        if let Some(rows) = statement.rows {
            attributes.push(KeyValue::new("db.response.returned_rows", rows as i64));
        }
        let mut span = self
            .tracer
            .span_builder(summary.map_or(Cow::Borrowed(self.system), Cow::Owned))
            .with_kind(SpanKind::Client)
            .with_start_time(start)
            .with_attributes(attributes)
            .start_with_context(&self.tracer, &parent);
        span.end_with_timestamp(end);
    }
}

/// What sqlx's event says of a statement.
#[derive(Default)]
struct Statement {
    /// Its first words, trimmed.
    summary: String,
    /// Its whole text when longer than the summary, trimmed and bounded by
    /// [`MAX_QUERY_TEXT`]; else empty.
    text: String,
    elapsed_secs: f64,
    /// The rows it returned.
    rows: Option<u64>,
}

impl Statement {
    /// The text for `db.query.text`: the whole text, or the summary when that is all of it.
    fn take_text(&mut self) -> String {
        match self.text.is_empty() {
            true => std::mem::take(&mut self.summary),
            false => std::mem::take(&mut self.text),
        }
    }
}

impl Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        // Bounded before it is copied: the text may be megabytes.
        let bounded = || truncated(value.trim(), MAX_QUERY_TEXT).into_owned();
        match field.name() {
            "summary" => self.summary = bounded(),
            "db.statement" => self.text = bounded(),
            _ => {}
        }
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        if field.name() == "elapsed_secs" {
            self.elapsed_secs = value;
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        if field.name() == "rows_returned" {
            self.rows = Some(value);
        }
    }

    fn record_debug(&mut self, _: &Field, _: &dyn std::fmt::Debug) {}
}

/// The statement's `db.query.summary`, the conventions' low-cardinality name of a query: its
/// operation (its first keyword, `SELECT`) and, for the plain forms, the table it names
/// (`INSERT INTO t`, `UPDATE t`, `DELETE FROM t`, `SELECT ... FROM t`): `INSERT articles`.
/// `None` when it cannot tell the operation.
fn summary_of(text: &str) -> Option<String> {
    let mut words = text.split_whitespace();
    let operation = words
        .next()
        .filter(|w| w.len() <= 16 && w.bytes().all(|b| b.is_ascii_alphabetic()))?
        .to_ascii_uppercase();
    let table = match operation.as_str() {
        "INSERT" => words
            .find(|w| w.eq_ignore_ascii_case("INTO"))
            .and(words.next()),
        "DELETE" | "SELECT" => words
            .find(|w| w.eq_ignore_ascii_case("FROM"))
            .and(words.next()),
        "UPDATE" => words.next(),
        _ => None,
    };
    let table = table
        .map(|t| t.split('(').next().unwrap_or_default().trim_matches('"'))
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        });
    Some(match table {
        Some(table) => format!("{operation} {table}"),
        None => operation,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use opentelemetry_sdk::error::OTelSdkResult;
    use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// The spans exported, as they end.
    #[derive(Debug, Clone, Default)]
    struct Exported(Arc<Mutex<Vec<SpanData>>>);

    impl SpanExporter for Exported {
        async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
            self.0.lock().unwrap().extend(batch);
            Ok(())
        }
    }

    #[test]
    fn a_statement_in_a_traced_unit_is_a_child_span_named_by_its_summary() {
        let exported = Exported::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exported.clone())
            .build();
        let tracer = provider.tracer("test");
        let subscriber = tracing_subscriber::registry().with(vec![
            tracing_opentelemetry::layer()
                .with_tracer(tracer.clone())
                .boxed(),
            layer(tracer, "postgresql").boxed(),
        ]);
        // A scoped dispatcher: inside a layer's callback `tracing::Span::current()` sees none.
        tracing::subscriber::with_default(subscriber, || {
            let unit = tracing::info_span!("unit");
            let _entered = unit.enter();
            let text = format!(
                "INSERT INTO articles (id) VALUES ($1) -- {}",
                "x".repeat(9_000)
            );
            tracing::debug!(
                target: "sqlx::query",
                summary = "INSERT INTO articles …",
                db.statement = text.as_str(),
                rows_returned = 0u64,
                elapsed_secs = 0.002,
            );
        });
        let spans = exported.0.lock().unwrap();
        let sql = spans
            .iter()
            .find(|s| s.span_kind == SpanKind::Client)
            .expect("the statement's span");
        let unit = spans
            .iter()
            .find(|s| s.name == "unit")
            .expect("the unit's span");
        assert_eq!(sql.name, "INSERT articles");
        assert_eq!(sql.parent_span_id, unit.span_context.span_id());
        let attribute = |key: &str| {
            let found = sql.attributes.iter().find(|kv| kv.key.as_str() == key);
            found.map(|kv| kv.value.as_str().into_owned())
        };
        assert_eq!(attribute("db.system.name").as_deref(), Some("postgresql"));
        assert_eq!(
            attribute("db.query.summary").as_deref(),
            Some("INSERT articles")
        );
        assert_eq!(attribute("db.operation.name"), None);
        assert_eq!(attribute("db.collection.name"), None);
        let text = attribute("db.query.text").unwrap();
        assert!(text.starts_with("INSERT INTO articles (id)"), "{text}");
        assert_eq!(text.len(), MAX_QUERY_TEXT);
    }

    #[test]
    fn summarizes_the_operation_and_the_table_of_plain_statements() {
        let of = |sql| summary_of(sql).unwrap_or_default();
        assert_eq!(
            of("INSERT INTO articles (id, name) VALUES ($1, $2)"),
            "INSERT articles"
        );
        assert_eq!(of("insert into outbox(id) values ($1)"), "INSERT outbox");
        assert_eq!(
            of("SELECT id, name FROM articles WHERE id = $1"),
            "SELECT articles"
        );
        assert_eq!(of("UPDATE \"articles\" SET name = $1"), "UPDATE articles");
        assert_eq!(of("DELETE FROM articles WHERE id = $1"), "DELETE articles");
        assert_eq!(of("SELECT 1"), "SELECT");
        assert_eq!(of("BEGIN"), "BEGIN");
        assert_eq!(of("SELECT * FROM (SELECT 1) AS t"), "SELECT");
        assert_eq!(summary_of("(SELECT 1)"), None);
        assert_eq!(summary_of(""), None);
    }
}
