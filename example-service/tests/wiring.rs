//! The service's real wiring: valid on each backend, and a readable startup error when the
//! repository port has no active adapter.

mod common;

use framework::Error;
use framework::registry::WiringError;

#[test]
fn wiring_is_valid_on_both_backends() {
    for url in ["sqlite::memory:", "postgres://user@127.0.0.1:5432/db"] {
        framework::testing::check(&[("DATABASE_URL", url)])
            .unwrap_or_else(|e| panic!("{url}: {e}"));
    }
}

#[tokio::test]
async fn no_database_means_the_repository_ports_are_missing() {
    let Err(Error::Wiring(report)) =
        framework::testing::TestApp::start(&[("DATABASE_URL", "")]).await
    else {
        panic!("the app started without a repository");
    };
    // The article repository, the activity projection's, the transaction of each handler
    // that takes a `Tx` (and of the gRPC service, which injects `Transactions`), and the
    // Idempotency-Key store of `POST /articles`.
    let text = report.to_string();
    let transactions = text.matches("nothing provides `Transactions`").count();
    assert_eq!(
        text.matches("nothing provides `dyn IdempotencyStore`")
            .count(),
        1,
        "{text}"
    );
    assert_eq!(report.errors.len(), 2 + transactions + 1, "{report}");
    for needer in [
        "handler `example_service::article::http::create`",
        "consumer `example_service::article::activity::on_article_event`",
        "job `example_service::article::activity::summarize`",
        "field `transactions` of `ArticleGrpc`",
    ] {
        assert!(text.contains(needer), "{needer} not reported: {text}");
    }
    let article_port = report
        .errors
        .iter()
        .find(|e| e.to_string().contains("`dyn ArticleRepository`"));
    let Some(WiringError::Missing {
        key,
        needed_by,
        inactive,
        ..
    }) = article_port
    else {
        panic!("no missing `dyn ArticleRepository`: {report}");
    };
    assert_eq!(key.short_name(), "dyn ArticleRepository");
    assert_eq!(needed_by.description, "field `repo` of `ArticleService`");
    assert!(needed_by.location.file.ends_with("src/article/service.rs"));
    let adapters: Vec<_> = inactive
        .iter()
        .map(|c| (c.name.rsplit("::").next().unwrap(), c.condition))
        .collect();
    assert_eq!(
        adapters,
        [
            ("PostgresArticles", Some("framework::db::is_postgres")),
            ("SqliteArticles", Some("framework::db::is_sqlite")),
        ]
    );
    // What to set, as the database plugin says it.
    assert!(
        text.contains("help: set DATABASE_URL=postgres://..., or DATABASE_URL=sqlite://..."),
        "{text}"
    );
}

#[test]
fn an_invalid_article_config_names_the_key() {
    let Err(error) = framework::testing::check(&[("ARTICLES_MAX_PAGE_SIZE", "5000")]) else {
        panic!("an out-of-range page size passed the check");
    };
    let text = error.to_string();
    assert!(
        text.contains("invalid config key `ARTICLES_MAX_PAGE_SIZE`=\"5000\""),
        "{text}"
    );
    // One of the modules that read the section (`ArticleService`, `ArticleFeed`, ...).
    assert!(
        text.contains("needed by field `config` of `Article"),
        "{text}"
    );
}

#[tokio::test]
async fn no_broker_means_no_consumer() {
    let Err(Error::Wiring(report)) =
        framework::testing::TestApp::start(&[("KAFKA_BROKERS", "")]).await
    else {
        panic!("the app started without a Kafka broker");
    };
    let text = report.to_string();
    assert!(text.contains("nothing provides `dyn Transport`"), "{text}");
    // Events go through the outbox, whose relay only runs with a broker: the consumer is what
    // needs one.
    assert!(
        text.contains("consumer `example_service::article::activity::on_article_event`"),
        "{text}"
    );
    assert_eq!(report.errors.len(), 1, "{text}");
}
