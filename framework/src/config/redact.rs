//! Config values as logs, reports and error messages may show them: no passwords in URLs, and
//! nothing at all of keys that name a secret.

/// Parts of key names that mark the whole value as a secret (`SENTRY_DSN`, `API_TOKEN`, ...).
const SECRET_KEY_PARTS: [&str; 10] = [
    "PASSWORD",
    // `OTEL_EXPORTER_OTLP_HEADERS` (and per signal) carry the vendors' API keys.
    "OTLP_HEADERS",
    "OTLP_TRACES_HEADERS",
    "OTLP_METRICS_HEADERS",
    "SECRET",
    "TOKEN",
    "DSN",
    "API_KEY",
    "PRIVATE_KEY",
    "CREDENTIAL",
];

/// `value` of `key` as it may be shown: hidden for a secret key, else without a URL password.
pub fn redact_value(key: &str, value: &str) -> String {
    let key = key.to_ascii_uppercase();
    if SECRET_KEY_PARTS.iter().any(|part| key.contains(part)) {
        "***".to_owned()
    } else {
        redact_url(value)
    }
}

/// Parts of query parameter names that mark a secret (`?password=`, `?sslpassword=`,
/// `?auth_token=`, `?sslkey=` ...).
const SECRET_PARAM_PARTS: [&str; 6] = ["pass", "pwd", "secret", "token", "key", "auth"];

/// `url` with its password replaced, in the user info and in secret-looking query
/// parameters (libpq and sqlx take `?password=`), for logs and reports.
pub fn redact_url(url: &str) -> String {
    // The query starts after the user info: a password may hold an unencoded `?`.
    let host_at = url.rfind('@').map_or(0, |at| at + 1);
    let (url, query) = match url[host_at..].find('?') {
        Some(at) => (
            &url[..host_at + at],
            Some(redact_query(&url[host_at + at + 1..])),
        ),
        None => (url, None),
    };
    let url = redact_user_info(url);
    match query {
        Some(query) => format!("{url}?{query}"),
        None => url,
    }
}

fn redact_user_info(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The last `@`: a password may hold an unencoded `@`.
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
}

fn redact_query(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if is_secret_param(name) => format!("{name}=***"),
            _ => pair.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

fn is_secret_param(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAM_PARTS.iter().any(|part| name.contains(part))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_url_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(
            redact_url("postgres://u:p@ss@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_url("redis://:secret@h:6379"), "redis://:***@h:6379");
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("sqlite://data/x.db"), "sqlite://data/x.db");
        assert_eq!(redact_url("plain"), "plain");
        assert_eq!(
            redact_url("postgres://u@h:1/x?sslmode=require&password=topsecret"),
            "postgres://u@h:1/x?sslmode=require&password=***"
        );
        assert_eq!(
            redact_url("postgres://u:pw@h/x?application_name=a&sslpassword=p&auth_token=t"),
            "postgres://u:***@h/x?application_name=a&sslpassword=***&auth_token=***"
        );
        assert_eq!(
            redact_url("postgres://u:p?w@h/x?password=q"),
            "postgres://u:***@h/x?password=***"
        );
        assert_eq!(
            redact_url("sqlite://data/x.db?mode=rwc"),
            "sqlite://data/x.db?mode=rwc"
        );
    }

    #[test]
    fn hides_secret_keys_whole() {
        let dsn = "https://public-key@o1.ingest.sentry.io/42";
        assert_eq!(redact_value("SENTRY_DSN", dsn), "***");
        assert_eq!(redact_value("github_token", "ghp_x"), "***");
        assert_eq!(
            redact_value("DATABASE_URL", "postgres://u:pw@h/db"),
            "postgres://u:***@h/db"
        );
        assert_eq!(redact_value("APP_NAME", "articles"), "articles");
    }
}
