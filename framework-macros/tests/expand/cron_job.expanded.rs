async fn summarize(
    context: JobContext,
    activity: Inject<ArticleActivity>,
) -> Result<(), ArticleError> {
    activity.summarize(context.tick).await
}
const _: () = {
    use ::framework::__private as __framework;
    /// Runs the job once: extracts each parameter, then reports the job's result.
    #[doc(hidden)]
    fn __framework_run<'a>(
        container: &'a __framework::Container,
        context: &'a __framework::JobContext,
    ) -> __framework::BoxFuture<'a, ::core::result::Result<(), __framework::Failure>> {
        ::std::boxed::Box::pin(async move {
            let __framework_arg0 = <JobContext as __framework::FromJob>::from_job(
                context,
                container,
            )?;
            let __framework_arg1 = <Inject<
                ArticleActivity,
            > as __framework::FromJob>::from_job(context, container)?;
            <Result<
                (),
                ArticleError,
            > as __framework::JobResult>::into_result(
                summarize(__framework_arg0, __framework_arg1).await,
            )
        })
    }
    /// The job, as the runtime collects it at startup.
    #[doc(hidden)]
    const __FRAMEWORK_RECORD: __framework::JobRecord = __framework::JobRecord {
        handler: ::core::concat!(
            ::core::module_path!(), "::", ::core::stringify!(summarize)
        ),
        schedule: "0 */5 * * * *",
        singleton: true,
        overlap: __framework::Overlap::Skip,
        timeout_secs: ::core::option::Option::Some(60u64),
        run: __framework_run,
        dependencies: || ::std::vec::Vec::from([
            __framework::dependency_of_inject::<ArticleActivity>(),
        ]),
        transactional: || {
            use __framework::{OtherParam as _, TxParam as _};
            false || (&__framework::Param::<JobContext>::new()).is_tx()
                || (&__framework::Param::<Inject<ArticleActivity>>::new()).is_tx()
        },
        location: __framework::Location {
            file: ::core::file!(),
            line: ::core::line!(),
        },
    };
    __framework::inventory::submit!(__FRAMEWORK_RECORD);
};
