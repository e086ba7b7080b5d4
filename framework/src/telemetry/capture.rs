//! The spans some code makes, as a layer records them: for unit tests of span names and
//! attributes.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing_subscriber::layer::{Context, SubscriberExt};

/// A span's fields by name: what it was made with and what was recorded on it later, each in
/// its display form (a string's text, a number's digits).
pub(crate) type Fields = HashMap<&'static str, String>;

/// The spans `work` makes (on this thread, at any level), in the order they were made.
pub(crate) fn spans_of(work: impl FnOnce()) -> Vec<Fields> {
    let capture = Capture::default();
    let subscriber = tracing_subscriber::registry().with(capture.clone());
    tracing::subscriber::with_default(subscriber, work);
    let spans = capture.spans.lock().unwrap();
    spans.iter().map(|(_, fields)| fields.clone()).collect()
}

#[derive(Clone, Default)]
struct Capture {
    spans: Arc<Mutex<Vec<(Id, Fields)>>>,
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Capture {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, _: Context<'_, S>) {
        let mut fields = Collect::default();
        attrs.record(&mut fields);
        self.spans.lock().unwrap().push((id.clone(), fields.0));
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, _: Context<'_, S>) {
        let mut spans = self.spans.lock().unwrap();
        if let Some((_, fields)) = spans.iter_mut().rev().find(|(span, _)| span == id) {
            let mut collect = Collect(std::mem::take(fields));
            values.record(&mut collect);
            *fields = collect.0;
        }
    }
}

#[derive(Default)]
struct Collect(Fields);

impl Visit for Collect {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name(), value.to_owned());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(field.name(), format!("{value:?}"));
    }
}
