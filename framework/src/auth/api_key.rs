//! Static API keys from `AUTH_API_KEYS`: `name=key scope scope...; name2=sha256:<hex> scope`.
//! A presented key is looked up by its SHA-256, so the comparison takes the same time whatever
//! the key's characters, and the config may hold digests instead of keys.

use std::collections::HashMap;

use sha2::{Digest, Sha256};

use crate::identity::{AuthError, Principal, Scheme};

/// The shortest plain key accepted: shorter ones can be guessed.
const MIN_KEY_CHARS: usize = 16;

/// The longest key a client may present; a longer one is refused without hashing.
const MAX_KEY_BYTES: usize = 512;

/// The configured keys, by digest, each with its principal (the entry's name and scopes),
/// built once: a request with a key clones a reference count.
#[derive(Debug, Clone)]
pub(crate) struct ApiKeys {
    by_digest: HashMap<[u8; 32], Principal>,
}

impl ApiKeys {
    /// Parses `AUTH_API_KEYS`.
    ///
    /// # Errors
    /// What is wrong with which entry (never quoting a key).
    pub(crate) fn parse(value: &str) -> Result<ApiKeys, String> {
        let mut by_digest = HashMap::new();
        let mut names = Vec::new();
        for (index, entry) in value.split(';').map(str::trim).enumerate() {
            if entry.is_empty() {
                continue;
            }
            let at = format!("entry {}", index + 1);
            let (name, rest) = entry
                .split_once('=')
                .ok_or_else(|| format!("{at}: expected `name=key scope...`"))?;
            let name = name.trim();
            if name.is_empty() || !name.bytes().all(|b| b.is_ascii_graphic()) {
                return Err(format!("{at}: the name must be visible ASCII, not empty"));
            }
            if names.contains(&name) {
                return Err(format!("{at}: the name `{name}` is used twice"));
            }
            let mut words = rest.split_ascii_whitespace();
            let key = words
                .next()
                .ok_or_else(|| format!("{at} (`{name}`): the key is missing"))?;
            let digest = match key.strip_prefix("sha256:") {
                Some(hex) => decode_hex(hex).ok_or_else(|| {
                    format!("{at} (`{name}`): `sha256:` takes 64 hexadecimal digits")
                })?,
                None if key.chars().count() < MIN_KEY_CHARS => {
                    return Err(format!(
                        "{at} (`{name}`): a key has at least {MIN_KEY_CHARS} characters"
                    ));
                }
                None => Sha256::digest(key.as_bytes()).into(),
            };
            let principal = Principal::new(name, Scheme::ApiKey, words, None);
            if by_digest.insert(digest, principal).is_some() {
                return Err(format!("{at} (`{name}`): the same key as an earlier entry"));
            }
            names.push(name);
        }
        if by_digest.is_empty() {
            return Err("no key: write `name=key scope...` entries separated by `;`".to_owned());
        }
        Ok(ApiKeys { by_digest })
    }

    /// How many keys are configured.
    pub(crate) fn len(&self) -> usize {
        self.by_digest.len()
    }

    /// The principal of `key`: its entry's name as the subject, its scopes.
    pub(crate) fn verify(&self, key: &str) -> Result<Principal, AuthError> {
        if key.len() > MAX_KEY_BYTES {
            return Err(AuthError::InvalidToken("the API key is not known"));
        }
        let digest: [u8; 32] = Sha256::digest(key.as_bytes()).into();
        self.by_digest
            .get(&digest)
            .cloned()
            .ok_or(AuthError::InvalidToken("the API key is not known"))
    }
}

fn decode_hex(hex: &str) -> Option<[u8; 32]> {
    if hex.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (byte, pair) in out.iter_mut().zip(hex.as_bytes().chunks(2)) {
        *byte = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_verify_by_value_or_digest_with_their_scopes() {
        // sha256("another-key-0123456789")
        let digest = Sha256::digest(b"another-key-0123456789");
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        let keys = ApiKeys::parse(&format!(
            "ci=ci-key-0123456789abcdef articles:write articles:read; ops=sha256:{hex}"
        ))
        .unwrap();
        assert_eq!(keys.len(), 2);
        let ci = keys.verify("ci-key-0123456789abcdef").unwrap();
        assert_eq!(ci.subject(), "ci");
        assert!(ci.has_scope("articles:write"));
        let ops = keys.verify("another-key-0123456789").unwrap();
        assert_eq!(ops.subject(), "ops");
        assert_eq!(ops.scopes().count(), 0);
        assert!(keys.verify("ci-key-0123456789abcdeX").is_err());
        assert!(keys.verify(&"k".repeat(10_000)).is_err());
    }

    #[test]
    fn bad_entries_are_refused_without_quoting_the_key() {
        for (value, says) in [
            ("ci", "expected `name=key"),
            ("ci=short", "at least 16"),
            ("ci=sha256:abc", "64 hexadecimal"),
            ("a=0123456789abcdef0; a=0123456789abcdef1", "used twice"),
            ("a=0123456789abcdef0; b=0123456789abcdef0", "same key"),
            (" ; ", "no key"),
        ] {
            let error = ApiKeys::parse(value).unwrap_err();
            assert!(error.contains(says), "{value}: {error}");
            assert!(!error.contains("0123456789abcdef"), "{error}");
        }
    }
}
