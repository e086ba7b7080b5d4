//! SQL spans from sqlx's query events: sqlx logs each statement it ran (target `sqlx::query`,
//! at DEBUG, with its text, rows and elapsed time) but opens no span, and a service runs its
//! queries through sqlx directly. This layer turns each such event, inside a traced unit, into
//! a client span after OpenTelemetry's database conventions (`db.system.name`,
//! `db.operation.name`, `db.collection.name`, `db.query.text`), ending when the event came and
//! starting `elapsed` before. Statements outside any trace (the outbox relay's polling,
//! migrations) make none.

use std::time::{Duration, SystemTime};

use opentelemetry::KeyValue;
use opentelemetry::trace::{Span as _, SpanKind, TraceContextExt, Tracer as _};
use opentelemetry_sdk::trace::SdkTracer;
use tracing::field::{Field, Visit};
use tracing_opentelemetry::OpenTelemetrySpanExt;
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
        let parent = tracing::Span::current().context();
        if !parent.span().span_context().is_valid() {
            return;
        }
        let mut statement = Statement::default();
        event.record(&mut statement);
        let text = match statement.text.trim() {
            "" => statement.summary.trim(),
            text => text,
        };
        if text.is_empty() {
            return;
        }
        let end = SystemTime::now();
        let start = end
            .checked_sub(Duration::try_from_secs_f64(statement.elapsed_secs).unwrap_or_default())
            .unwrap_or(end);
        let (operation, collection) = operation_of(text);
        let name = match (&operation, &collection) {
            (Some(operation), Some(collection)) => format!("{operation} {collection}"),
            (Some(operation), None) => operation.clone(),
            _ => self.system.to_owned(),
        };
        let mut attributes = vec![
            KeyValue::new("db.system.name", self.system),
            KeyValue::new(
                "db.query.text",
                truncated(text, MAX_QUERY_TEXT).into_owned(),
            ),
        ];
        attributes.extend(operation.map(|o| KeyValue::new("db.operation.name", o)));
        attributes.extend(collection.map(|c| KeyValue::new("db.collection.name", c)));
        if let Some(rows) = statement.rows {
            attributes.push(KeyValue::new("db.response.returned_rows", rows as i64));
        }
        let mut span = self
            .tracer
            .span_builder(name)
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
    /// Its first words.
    summary: String,
    /// Its whole text, when longer than the summary; else empty.
    text: String,
    elapsed_secs: f64,
    /// The rows it returned.
    rows: Option<u64>,
}

impl Visit for Statement {
    fn record_str(&mut self, field: &Field, value: &str) {
        match field.name() {
            "summary" => self.summary = value.to_owned(),
            "db.statement" => self.text = value.to_owned(),
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

/// The statement's operation (its first keyword, `SELECT`) and, for the plain forms, the
/// table it names (`INSERT INTO t`, `UPDATE t`, `DELETE FROM t`, `SELECT ... FROM t`): the
/// conventions' low-cardinality span name. `None` for what it cannot tell.
fn operation_of(text: &str) -> (Option<String>, Option<String>) {
    let mut words = text.split_whitespace();
    let operation = words
        .next()
        .filter(|w| w.len() <= 16 && w.bytes().all(|b| b.is_ascii_alphabetic()))
        .map(str::to_ascii_uppercase);
    let after = match operation.as_deref() {
        Some("INSERT") => Some("INTO"),
        Some("DELETE" | "SELECT") => Some("FROM"),
        Some("UPDATE") => None,
        _ => return (operation, None),
    };
    let mut rest = text.split_whitespace().skip(1);
    let table = match after {
        Some(keyword) => rest
            .by_ref()
            .find(|w| w.eq_ignore_ascii_case(keyword))
            .and_then(|_| rest.next()),
        None => rest.next(),
    };
    let table = table
        .map(|t| t.split('(').next().unwrap_or_default().trim_matches('"'))
        .filter(|t| {
            !t.is_empty()
                && t.len() <= 64
                && t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
        })
        .map(str::to_owned);
    (operation, table)
}

#[cfg(test)]
mod tests {
    use super::operation_of;

    #[test]
    fn names_the_operation_and_the_table_of_plain_statements() {
        let of = |sql| {
            let (op, table) = operation_of(sql);
            (op.unwrap_or_default(), table.unwrap_or_default())
        };
        assert_eq!(
            of("INSERT INTO articles (id, name) VALUES ($1, $2)"),
            ("INSERT".into(), "articles".into())
        );
        assert_eq!(
            of("insert into outbox(id) values ($1)"),
            ("INSERT".into(), "outbox".into())
        );
        assert_eq!(
            of("SELECT id, name FROM articles WHERE id = $1"),
            ("SELECT".into(), "articles".into())
        );
        assert_eq!(
            of("UPDATE \"articles\" SET name = $1"),
            ("UPDATE".into(), "articles".into())
        );
        assert_eq!(
            of("DELETE FROM articles WHERE id = $1"),
            ("DELETE".into(), "articles".into())
        );
        assert_eq!(of("SELECT 1"), ("SELECT".into(), String::new()));
        assert_eq!(of("BEGIN"), ("BEGIN".into(), String::new()));
        assert_eq!(of("(SELECT 1)"), (String::new(), String::new()));
        assert_eq!(
            of("SELECT * FROM (SELECT 1) AS t"),
            ("SELECT".into(), String::new())
        );
    }
}
