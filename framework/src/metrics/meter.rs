//! One kind of unit counted and timed by its outcome: what every delivery records (HTTP
//! requests, gRPC calls, consumed Kafka records, job runs).

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, DefaultHasher, Hash, Hasher};
use std::sync::RwLock;
use std::time::Duration;

use ::metrics::{Counter, Histogram, Label};

/// Counts and times the units of one kind (HTTP requests, gRPC calls, consumed records, job
/// runs) by a set of labels: a counter named `total` and a histogram named `duration`
/// (seconds), on the same labels. Each set of label values is looked up in the recorder once;
/// its handles are then reused, so a unit costs a hash, a read lock and two atomic updates
/// ([`Meter::record`]), or only the updates through a [`Series`] kept by the delivery.
///
/// The values must come from a bounded set (a route template, not a path; a method outside
/// the known ones as [`OTHER`](crate::telemetry::OTHER)): each new set is a series kept for
/// the life of the process.
pub struct Meter {
    total: &'static str,
    duration: &'static str,
    names: &'static [&'static str],
    series: RwLock<HashMap<u64, Vec<Entry>, BuildHasherDefault<DefaultHasher>>>,
}

/// One set of label values and its handles.
struct Entry {
    values: Box<[Box<str>]>,
    series: Series,
}

/// The handles of one set of label values of a [`Meter`]: recording a unit is two atomic
/// updates. Cheap to clone.
#[derive(Clone)]
pub struct Series {
    total: Counter,
    duration: Histogram,
}

impl Series {
    /// Counts one unit that took `elapsed`.
    pub fn record(&self, elapsed: Duration) {
        self.total.increment(1);
        self.duration.record(elapsed.as_secs_f64());
    }
}

impl Meter {
    /// A meter of `total` and `duration` whose labels are `names`, in the order
    /// [`Meter::record`] gives their values.
    pub const fn new(
        total: &'static str,
        duration: &'static str,
        names: &'static [&'static str],
    ) -> Meter {
        Meter {
            total,
            duration,
            names,
            series: RwLock::new(HashMap::with_hasher(BuildHasherDefault::new())),
        }
    }

    /// Counts one unit that took `elapsed`, with the label values `values` (one per name).
    pub fn record(&self, values: &[&str], elapsed: Duration) {
        self.with_series(values, |series| series.record(elapsed));
    }

    /// The handles of the label values `values` (one per name), for a delivery that records
    /// many units of the same values (a consumer's records).
    pub fn series(&self, values: &[&str]) -> Series {
        self.with_series(values, Series::clone)
    }

    fn with_series<R>(&self, values: &[&str], then: impl FnOnce(&Series) -> R) -> R {
        debug_assert_eq!(values.len(), self.names.len(), "a value per label");
        let mut hasher = DefaultHasher::new();
        values.hash(&mut hasher);
        let hash = hasher.finish();
        let same = |entry: &&Entry| entry.values.iter().map(|v| &**v).eq(values.iter().copied());
        let series = self.series.read().unwrap_or_else(|e| e.into_inner());
        if let Some(found) = series.get(&hash).and_then(|all| all.iter().find(same)) {
            return then(&found.series);
        }
        drop(series);
        let labels: Vec<Label> = self
            .names
            .iter()
            .zip(values)
            .map(|(&name, &value)| Label::new(name, value.to_owned()))
            .collect();
        let created = Entry {
            values: values.iter().map(|&v| Box::from(v)).collect(),
            series: Series {
                total: ::metrics::counter!(self.total, labels.clone()),
                duration: ::metrics::histogram!(self.duration, labels),
            },
        };
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        let all = series.entry(hash).or_default();
        // Another unit may have created it meanwhile: both handles name the same series.
        let found = match all.iter().position(|s| same(&s)) {
            Some(index) => &all[index],
            None => {
                all.push(created);
                &all[all.len() - 1]
            }
        };
        then(&found.series)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{Arc, Mutex};

    use ::metrics::{Gauge, Key, KeyName, Metadata, Recorder, SharedString, Unit};

    use super::*;

    /// A recorder that keeps each counter it hands out, by its key.
    #[derive(Default)]
    struct Counters(Mutex<Vec<(Key, Arc<AtomicU64>)>>);

    impl Counters {
        fn value(&self, labels: &str) -> Vec<u64> {
            let counters = self.0.lock().unwrap();
            counters
                .iter()
                .filter(|(key, _)| {
                    let text: Vec<String> = key
                        .labels()
                        .map(|l| format!("{}={}", l.key(), l.value()))
                        .collect();
                    text.join(",") == labels
                })
                .map(|(_, value)| value.load(Ordering::SeqCst))
                .collect()
        }
    }

    impl Recorder for Counters {
        fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
        fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
            let value = Arc::new(AtomicU64::new(0));
            self.0.lock().unwrap().push((key.clone(), value.clone()));
            Counter::from_arc(value)
        }
        fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
            Gauge::noop()
        }
        fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
            Histogram::noop()
        }
    }

    #[test]
    fn each_set_of_values_is_one_series_looked_up_once() {
        static METER: Meter = Meter::new("units_total", "unit_duration_seconds", &["a", "b"]);
        let recorder = Counters::default();
        ::metrics::with_local_recorder(&recorder, || {
            METER.record(&["x", "1"], Duration::from_millis(5));
            METER.record(&["x", "1"], Duration::from_millis(7));
            METER.record(&["x", "2"], Duration::from_millis(1));
        });
        // One registration per set of values, counting every unit of it.
        assert_eq!(recorder.value("a=x,b=1"), [2]);
        assert_eq!(recorder.value("a=x,b=2"), [1]);
        assert_eq!(recorder.0.lock().unwrap().len(), 2);
        // A kept series counts into the same registration, and looks nothing up again.
        let kept = ::metrics::with_local_recorder(&recorder, || METER.series(&["x", "2"]));
        kept.record(Duration::from_millis(3));
        kept.record(Duration::from_millis(4));
        assert_eq!(recorder.value("a=x,b=2"), [3]);
        assert_eq!(recorder.0.lock().unwrap().len(), 2);
    }
}
