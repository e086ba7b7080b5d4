//! The wiring check on records built by hand: no app, no inventory, no I/O. Each test puts
//! `static` records (as the macros would submit them) in a `Registry`, routes in a delivery
//! plugin of its own (through the public seam, as the HTTP plugin does), and asserts the exact
//! errors, and their text where a user reads it.

use super::Registry;
use crate::config::{ConfigError, Settings};
use crate::di::records::Field;
use crate::di::{
    BuildContext, BuildFuture, Condition, Location, Needer, ProviderKind, ProviderRecord, Root,
    WiringError,
};
use crate::di::{Dependency, Graph, Key};
use crate::error::ErrorCodeRecord;
use crate::error::ErrorKind;
use crate::plugin::{Check, Loaded, Plugin, PluginRecord};

struct ArticleApi;
struct ArticleService;
struct AuditLog;
struct Mailer;
struct PgArticles;
struct SqliteArticles;
struct Orders;
struct Billing;
struct Ledger;
struct Pool;
struct Cache;
trait ArticleRepository {}

fn provides<T: 'static>() -> Vec<Key> {
    vec![Key::of::<T>()]
}

/// `#[module(provides = dyn ArticleRepository)]`.
fn provides_repository<T: 'static>() -> Vec<Key> {
    vec![Key::of::<T>(), Key::of::<dyn ArticleRepository>()]
}

fn field<T: ?Sized + 'static>(name: &'static str, line: u32) -> Field {
    Field {
        name,
        line,
        dependency: Dependency::Component(Key::of::<T>()),
    }
}

fn no_fields() -> Vec<Field> {
    Vec::new()
}

/// One field, `first`, on the line after the struct's.
fn needs<T: ?Sized + 'static>() -> Vec<Field> {
    vec![field::<T>("first", 2)]
}

fn needs_both<T: ?Sized + 'static, U: ?Sized + 'static>() -> Vec<Field> {
    vec![field::<T>("first", 2), field::<U>("second", 3)]
}

/// A route's `Inject<T>` argument.
fn injects<T: ?Sized + 'static>() -> Vec<Dependency> {
    vec![Dependency::Component(Key::of::<T>())]
}

fn build(_: &BuildContext) -> BuildFuture<'_> {
    Box::pin(std::future::ready(Ok(Vec::new())))
}

/// A `#[module]` declared on line 1 of `file`.
const fn module(
    name: &'static str,
    file: &'static str,
    provides: fn() -> Vec<Key>,
    fields: fn() -> Vec<Field>,
) -> ProviderRecord {
    ProviderRecord {
        name,
        provides,
        fields,
        condition: None,
        build,
        kind: ProviderKind::Module,
        location: Location { file, line: 1 },
    }
}

/// A framework component, built only when something needs it.
const fn framework(name: &'static str, provides: fn() -> Vec<Key>) -> ProviderRecord {
    ProviderRecord {
        kind: ProviderKind::Framework,
        ..module(name, "framework/src/lib.rs", provides, no_fields)
    }
}

/// A route, as a delivery plugin sees it.
struct Route {
    method: &'static str,
    path: &'static str,
    handler: &'static str,
    dependencies: fn() -> Vec<Dependency>,
    location: Location,
}

const fn route(
    method: &'static str,
    path: &'static str,
    handler: &'static str,
    line: u32,
    dependencies: fn() -> Vec<Dependency>,
) -> Route {
    Route {
        method,
        path,
        handler,
        dependencies,
        location: Location {
            file: "src/api.rs",
            line,
        },
    }
}

/// A delivery whose routes are roots of the graph, labelled as the HTTP plugin labels them.
struct Routes(Vec<&'static Route>);

#[crate::async_trait]
impl Plugin for Routes {
    fn check(&self, check: &mut Check<'_>) {
        for route in &self.0 {
            let name = format!("{} {}", route.method, route.path);
            let needer = Needer {
                description: format!("handler `{}` of `{name}`", route.handler),
                location: route.location,
            };
            let label = format!("{name} ({})", route.location);
            let dependencies = (route.dependencies)();
            check.root(Root {
                label,
                needer,
                dependencies,
            });
        }
    }
}

fn routes(routes: &[&'static Route]) -> Loaded {
    static RECORD: PluginRecord = PluginRecord {
        name: "routes",
        order: 100,
        create: |_: &Settings| -> Result<Box<dyn Plugin>, ConfigError> {
            Ok(Box::new(Routes(Vec::new())))
        },
        location: Location {
            file: file!(),
            line: line!(),
        },
    };
    Loaded {
        record: &RECORD,
        plugin: Box::new(Routes(routes.to_vec())),
    }
}

const fn error_code(
    code: &'static str,
    kind: ErrorKind,
    error_type: &'static str,
    variant: &'static str,
    file: &'static str,
) -> ErrorCodeRecord {
    ErrorCodeRecord {
        code,
        kind,
        error_type,
        variant,
        location: Location { file, line: 5 },
    }
}

/// The core's records, and a delivery plugin over `routes`.
struct Wired {
    registry: Registry,
    plugins: Vec<Loaded>,
}

fn registry(
    providers: &[&'static ProviderRecord],
    routes: &[&'static Route],
    error_codes: &[&'static ErrorCodeRecord],
) -> Wired {
    Wired {
        registry: Registry {
            providers: providers.to_vec(),
            error_codes: error_codes.to_vec(),
        },
        plugins: vec![self::routes(routes)],
    }
}

#[track_caller]
fn passes(wired: &Wired, settings: &Settings) -> Graph {
    match wired.registry.validate(settings, &wired.plugins) {
        Ok(graph) => graph,
        Err(report) => panic!("{report}"),
    }
}

#[track_caller]
fn fails(wired: &Wired, settings: &Settings) -> Vec<WiringError> {
    match wired.registry.validate(settings, &wired.plugins) {
        Ok(_) => panic!("the wiring check passed"),
        Err(report) => report.errors,
    }
}

fn build_order(graph: &Graph) -> Vec<&'static str> {
    graph.order.iter().map(|p| p.short_name()).collect()
}

/// `ArticleService`, which needs an article repository: the component most tests miss.
static ARTICLE_SERVICE: ProviderRecord = module(
    "app::ArticleService",
    "src/service.rs",
    provides::<ArticleService>,
    needs::<dyn ArticleRepository>,
);

#[test]
fn a_missing_dependency_is_reported_with_its_path_from_each_root() {
    static API: ProviderRecord = module(
        "app::ArticleApi",
        "src/api.rs",
        provides::<ArticleApi>,
        needs::<ArticleService>,
    );
    static SERVICE: ProviderRecord = module(
        "app::ArticleService",
        "src/service.rs",
        provides::<ArticleService>,
        needs::<Mailer>,
    );
    static NOTIFY: Route = route("POST", "/notify", "api::notify", 7, injects::<Mailer>);
    let errors = fails(
        &registry(&[&API, &SERVICE], &[&NOTIFY], &[]),
        &Settings::default(),
    );

    let [
        WiringError::Missing {
            key,
            needed_by,
            path,
            inactive,
        },
        WiringError::Missing {
            key: by_route,
            path: route_path,
            ..
        },
    ] = &errors[..]
    else {
        panic!("{errors:#?}");
    };
    assert_eq!(*key, Key::of::<Mailer>());
    assert_eq!(needed_by.description, "field `first` of `ArticleService`");
    assert_eq!(
        needed_by.location,
        Location {
            file: "src/service.rs",
            line: 2
        }
    );
    assert_eq!(
        *path,
        [
            "ArticleApi (src/api.rs:1)",
            "ArticleService (src/service.rs:1)",
            "Mailer"
        ]
    );
    assert!(inactive.is_empty());
    assert_eq!(
        errors[0].to_string(),
        "missing binding: nothing provides `Mailer`\n\
         \x20 needed by field `first` of `ArticleService` at src/service.rs:2\n\
         \x20 dependency path: ArticleApi (src/api.rs:1) -> ArticleService (src/service.rs:1) -> Mailer\n\
         \x20 help: add `#[module]` to `Mailer`"
    );
    assert_eq!(*by_route, Key::of::<Mailer>());
    assert_eq!(*route_path, ["POST /notify (src/api.rs:7)", "Mailer"]);
}

#[test]
fn two_active_providers_of_one_component_are_ambiguous() {
    static PG: ProviderRecord = module(
        "store::PgArticles",
        "src/pg.rs",
        provides_repository::<PgArticles>,
        no_fields,
    );
    static SQLITE: ProviderRecord = module(
        "store::SqliteArticles",
        "src/sqlite.rs",
        provides_repository::<SqliteArticles>,
        no_fields,
    );
    let errors = fails(
        &registry(&[&ARTICLE_SERVICE, &PG, &SQLITE], &[], &[]),
        &Settings::default(),
    );

    let [
        WiringError::Ambiguous {
            key,
            needed_by,
            candidates,
        },
    ] = &errors[..]
    else {
        panic!("{errors:#?}");
    };
    assert_eq!(*key, Key::of::<dyn ArticleRepository>());
    assert_eq!(needed_by.description, "field `first` of `ArticleService`");
    let names: Vec<&str> = candidates.iter().map(|c| c.name).collect();
    assert_eq!(names, ["store::PgArticles", "store::SqliteArticles"]);
    assert_eq!(
        errors[0].to_string(),
        "ambiguous binding: 2 providers of `dyn ArticleRepository`\n\
         \x20 needed by field `first` of `ArticleService` at src/service.rs:2\n\
         \x20 provided by `store::PgArticles` at src/pg.rs:1\n\
         \x20 provided by `store::SqliteArticles` at src/sqlite.rs:1\n\
         \x20 help: keep one, or give each a `when = ...` predicate so exactly one is active"
    );
}

#[test]
fn a_provider_whose_condition_is_false_is_named_in_the_missing_report() {
    fn is_postgres(settings: &Settings) -> bool {
        settings
            .get("DATABASE_URL")
            .is_some_and(|url| url.starts_with("postgres://"))
    }
    static PG: ProviderRecord = ProviderRecord {
        condition: Some(Condition {
            name: "store::is_postgres",
            check: is_postgres,
            hint: None,
        }),
        ..module(
            "store::PgArticles",
            "src/pg.rs",
            provides_repository::<PgArticles>,
            no_fields,
        )
    };
    let registry = registry(&[&ARTICLE_SERVICE, &PG], &[], &[]);

    let on_sqlite = Settings::from_pairs([("DATABASE_URL", "sqlite://articles.db")]);
    let errors = fails(&registry, &on_sqlite);
    let [
        WiringError::Missing {
            key,
            inactive,
            path,
            ..
        },
    ] = &errors[..]
    else {
        panic!("{errors:#?}");
    };
    assert_eq!(*key, Key::of::<dyn ArticleRepository>());
    assert_eq!(
        *path,
        ["ArticleService (src/service.rs:1)", "dyn ArticleRepository"]
    );
    let [candidate] = &inactive[..] else {
        panic!("{inactive:?}");
    };
    assert_eq!(candidate.name, "store::PgArticles");
    assert_eq!(candidate.condition, Some("store::is_postgres"));
    let text = errors[0].to_string();
    assert!(
        text.contains(
            "\n  not active under the current config: `store::PgArticles` at src/pg.rs:1 \
             (when store::is_postgres)\n"
        ),
        "{text}"
    );
    assert!(
        text.ends_with(
            "\n  help: add `#[module(provides = dyn ArticleRepository)]` to a struct that \
             implements it"
        ),
        "{text}"
    );

    let on_postgres = Settings::from_pairs([("DATABASE_URL", "postgres://db/articles")]);
    let graph = passes(&registry, &on_postgres);
    assert_eq!(build_order(&graph), ["PgArticles", "ArticleService"]);
}

#[test]
fn a_module_under_a_plugins_predicate_gets_the_plugins_hint() {
    fn is_postgres(settings: &Settings) -> bool {
        settings.get("DATABASE_URL").is_some()
    }
    const ON_POSTGRES: Condition = Condition {
        name: "db::is_postgres",
        check: is_postgres,
        hint: None,
    };
    struct Pool;
    // The user's adapter names the predicate; the plugin's own provider says what to set.
    static PG: ProviderRecord = ProviderRecord {
        condition: Some(ON_POSTGRES),
        ..module(
            "store::PgArticles",
            "src/pg.rs",
            provides_repository::<PgArticles>,
            no_fields,
        )
    };
    static POOL: ProviderRecord = ProviderRecord {
        condition: Some(Condition {
            hint: Some("DATABASE_URL=postgres://..."),
            ..ON_POSTGRES
        }),
        ..framework("db::Pool", provides::<Pool>)
    };
    let registry = registry(&[&ARTICLE_SERVICE, &PG, &POOL], &[], &[]);
    let errors = fails(&registry, &Settings::default());
    let [WiringError::Missing { inactive, .. }] = &errors[..] else {
        panic!("{errors:#?}");
    };
    assert_eq!(inactive[0].hint, Some("DATABASE_URL=postgres://..."));
    let text = errors[0].to_string();
    assert!(
        text.ends_with("\n  help: set DATABASE_URL=postgres://..."),
        "{text}"
    );
}

#[test]
fn components_that_need_each_other_are_a_cycle_with_its_steps() {
    static ORDERS: ProviderRecord = module(
        "shop::Orders",
        "src/orders.rs",
        provides::<Orders>,
        needs::<Billing>,
    );
    static BILLING: ProviderRecord = module(
        "shop::Billing",
        "src/billing.rs",
        provides::<Billing>,
        needs::<Ledger>,
    );
    static LEDGER: ProviderRecord = module(
        "shop::Ledger",
        "src/ledger.rs",
        provides::<Ledger>,
        needs::<Orders>,
    );
    let errors = fails(
        &registry(&[&ORDERS, &BILLING, &LEDGER], &[], &[]),
        &Settings::default(),
    );

    let [WiringError::Cycle { steps }] = &errors[..] else {
        panic!("{errors:#?}");
    };
    assert_eq!(
        *steps,
        [
            "Orders (src/orders.rs:1)",
            "Billing (src/billing.rs:1)",
            "Ledger (src/ledger.rs:1)",
            "Orders (src/orders.rs:1)"
        ]
    );
    assert_eq!(
        errors[0].to_string(),
        "dependency cycle: Orders (src/orders.rs:1) -> Billing (src/billing.rs:1) -> \
         Ledger (src/ledger.rs:1) -> Orders (src/orders.rs:1)\n\
         \x20 help: break the cycle, for example by moving the shared part into its own module"
    );
}

#[test]
fn one_code_on_two_error_variants_clashes() {
    static NOT_FOUND: ErrorCodeRecord = error_code(
        "ARTICLE_NOT_FOUND",
        ErrorKind::NotFound,
        "errors::ArticleError",
        "NotFound",
        "src/errors.rs",
    );
    static MISSING: ErrorCodeRecord = error_code(
        "ARTICLE_NOT_FOUND",
        ErrorKind::Internal,
        "store::StoreError",
        "Missing",
        "src/store.rs",
    );
    static TAKEN: ErrorCodeRecord = error_code(
        "TITLE_TAKEN",
        ErrorKind::Conflict,
        "errors::ArticleError",
        "TitleTaken",
        "src/errors.rs",
    );
    let errors = fails(
        &registry(&[], &[], &[&NOT_FOUND, &MISSING, &TAKEN]),
        &Settings::default(),
    );

    let [WiringError::Clash { headline, items }] = &errors[..] else {
        panic!("{errors:#?}");
    };
    assert_eq!(headline, "duplicate error code `ARTICLE_NOT_FOUND`");
    assert_eq!(
        *items,
        [
            "`errors::ArticleError::NotFound` at src/errors.rs:5",
            "`store::StoreError::Missing` at src/store.rs:5"
        ]
    );
    assert_eq!(
        errors[0].to_string(),
        "duplicate error code `ARTICLE_NOT_FOUND`\n\
         \x20 `errors::ArticleError::NotFound` at src/errors.rs:5\n\
         \x20 `store::StoreError::Missing` at src/store.rs:5"
    );
}

#[test]
fn a_clean_graph_builds_dependencies_first_and_only_the_needed_framework_parts() {
    static API: ProviderRecord = module(
        "app::ArticleApi",
        "src/api.rs",
        provides::<ArticleApi>,
        needs_both::<ArticleService, AuditLog>,
    );
    static SERVICE: ProviderRecord = module(
        "app::ArticleService",
        "src/service.rs",
        provides::<ArticleService>,
        needs::<AuditLog>,
    );
    static AUDIT: ProviderRecord = module(
        "app::AuditLog",
        "src/audit.rs",
        provides::<AuditLog>,
        needs::<Pool>,
    );
    static POOL: ProviderRecord = framework("framework::db::Pool", provides::<Pool>);
    static CACHE: ProviderRecord = framework("framework::cache::Cache", provides::<Cache>);
    static GET: Route = route(
        "GET",
        "/articles",
        "api::list",
        10,
        injects::<ArticleService>,
    );
    let graph = passes(
        &registry(&[&API, &SERVICE, &AUDIT, &POOL, &CACHE], &[&GET], &[]),
        &Settings::default(),
    );

    assert_eq!(
        build_order(&graph),
        ["Pool", "AuditLog", "ArticleService", "ArticleApi"],
        "dependencies first; the cache nobody needs is not built"
    );
    assert_eq!(graph.bindings[&Key::of::<AuditLog>()].name, "app::AuditLog");
    assert_eq!(
        graph.bindings[&Key::of::<Pool>()].name,
        "framework::db::Pool"
    );
}
