async fn on_article_event(
    Json(event): Json<ArticleEvent>,
    activity: Inject<ArticleActivity>,
) -> Result<(), ArticleError> {
    activity.record(&event).await
}
const _: () = {
    use ::framework::__private as __framework;
    /// Runs the handler on one message: extracts each parameter (a failure rejects the
    /// message), then turns the handler's result into an outcome.
    #[doc(hidden)]
    fn __framework_handle<'a>(
        container: &'a __framework::Container,
        message: &'a __framework::Message,
    ) -> __framework::BoxFuture<'a, __framework::Outcome> {
        ::std::boxed::Box::pin(async move {
            let __framework_arg0 = match <Json<
                ArticleEvent,
            > as __framework::FromMessage>::from_message(message, container) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(rejection) => {
                    return __framework::Outcome::Rejected(rejection);
                }
            };
            let __framework_arg1 = match <Inject<
                ArticleActivity,
            > as __framework::FromMessage>::from_message(message, container) {
                ::core::result::Result::Ok(value) => value,
                ::core::result::Result::Err(rejection) => {
                    return __framework::Outcome::Rejected(rejection);
                }
            };
            <Result<
                (),
                ArticleError,
            > as __framework::ConsumerResult>::into_outcome(
                on_article_event(__framework_arg0, __framework_arg1).await,
            )
        })
    }
    /// The consumer, as the runtime collects it at startup.
    #[doc(hidden)]
    const __FRAMEWORK_RECORD: __framework::ConsumerRecord = __framework::ConsumerRecord {
        handler: ::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(on_article_event)
        ),
        topic: "${ARTICLES_EVENTS_TOPIC}",
        group: "article-activity",
        concurrency: 4usize,
        retries: 5u32,
        backoff_ms: 100u64,
        dead_letter: ::core::option::Option::None,
        handle: __framework_handle,
        dependencies: || ::std::vec::Vec::from([
            __framework::dependency_of_inject::<ArticleActivity>(),
        ]),
        transactional: || {
            use __framework::{OtherParam as _, TxParam as _};
            false || (&__framework::Param::<Json<ArticleEvent>>::new()).is_tx()
                || (&__framework::Param::<Inject<ArticleActivity>>::new()).is_tx()
        },
        idempotent: false,
        location: __framework::Location {
            file: ::core::file!(),
            line: ::core::line!(),
        },
    };
    __framework::inventory::submit!(__FRAMEWORK_RECORD);
};
