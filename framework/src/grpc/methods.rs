//! What the framework keeps per method of each served service (a requirement, a rate limit),
//! found by a call's path. Records name methods as Rust does; a call names them as protobuf
//! does (`/{package.Service}/{Method}`, PROTOCOL-HTTP2.md).

use std::collections::HashMap;

use heck::ToSnakeCase;

/// Per service, per method.
pub(crate) struct MethodTable<T> {
    /// By protobuf service name.
    services: HashMap<&'static str, ServiceTable<T>>,
}

/// One service's methods.
pub(crate) struct ServiceTable<T> {
    /// By the method's Rust name; `None`: nothing for it.
    pub(crate) methods: HashMap<&'static str, Option<T>>,
    /// What a method not found by name gets: a name this table maps wrongly must not lose
    /// its method what it declared (the caller chooses the strictest).
    pub(crate) unmatched: Option<T>,
}

impl<T> MethodTable<T> {
    pub(crate) fn new(services: HashMap<&'static str, ServiceTable<T>>) -> MethodTable<T> {
        MethodTable { services }
    }

    /// What `method` (its Rust name) of `service` has.
    pub(crate) fn method(&self, service: &str, method: &str) -> Option<&T> {
        self.services.get(service)?.methods.get(method)?.as_ref()
    }

    /// What the method at `path` has; `None` when nothing, or for a path no service serves.
    pub(crate) fn of(&self, path: &str) -> Option<&T> {
        let (service, method) = path.strip_prefix('/')?.split_once('/')?;
        let service = self.services.get(service)?;
        match service.methods.get(rust_name(method).as_str()) {
            Some(found) => found.as_ref(),
            None => service.unmatched.as_ref(),
        }
    }
}

/// The Rust name prost-build gives the method `name` (its `to_snake` and
/// `sanitize_identifier`): snake case, with `_` after the names Rust cannot use even raw
/// (keywords it escapes as `r#type` are recorded unescaped).
pub(crate) fn rust_name(name: &str) -> String {
    let mut snake = name.to_snake_case();
    if matches!(snake.as_str(), "self" | "super" | "crate" | "extern") {
        snake.push('_');
    }
    snake
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_map_as_prost_derives_them() {
        assert_eq!(rust_name("CreateArticle"), "create_article");
        assert_eq!(rust_name("GetHTTPStatus"), "get_http_status");
        assert_eq!(rust_name("ListV2"), "list_v2");
        assert_eq!(rust_name("Super"), "super_");
        // Raw identifiers are recorded unescaped.
        assert_eq!(rust_name("Type"), "type");
    }
}
