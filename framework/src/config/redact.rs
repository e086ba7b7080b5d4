//! Config values as logs, reports and error messages may show them: no passwords in URLs, and
//! nothing at all of keys that name a secret.

/// Parts of key names that mark the whole value as a secret (`SENTRY_DSN`, `API_TOKEN`, ...).
const SECRET_KEY_PARTS: [&str; 7] = [
    "PASSWORD",
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

/// `url` with its password replaced, for logs and reports.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    // The last `@`: a password may hold an unencoded `@`. A query holding one gets more of it
    // hidden than needed, which is the safe way round.
    let Some((userinfo, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match userinfo.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_owned(),
    }
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
