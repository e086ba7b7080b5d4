//! A serde deserializer over [`Settings`]: a struct's fields are read from `PREFIX_FIELD`
//! keys, and each scalar is parsed from its string form (like `envy`, but every error names
//! the key and where its value came from).

use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, MapAccess, Visitor};

use super::{ConfigError, Settings};

/// Deserializes `T` from the keys of `settings` that start with `prefix`.
pub(crate) fn from_settings<T: DeserializeOwned>(
    settings: &Settings,
    prefix: &str,
) -> Result<T, ConfigError> {
    T::deserialize(SectionDeserializer { settings, prefix })
        .map_err(|e| e.into_config_error(settings, prefix))
}

/// The key a field is read from: `ARTICLES_` + `page_size` -> `ARTICLES_PAGE_SIZE`.
pub(crate) fn key_of(prefix: &str, field: &str) -> String {
    format!("{prefix}{}", field.to_ascii_uppercase())
}

#[derive(Debug)]
pub(crate) enum Error {
    Missing(String),
    Invalid { key: String, reason: String },
    Custom(String),
}

impl Error {
    fn into_config_error(self, settings: &Settings, prefix: &str) -> ConfigError {
        match self {
            Error::Missing(field) => ConfigError::Missing {
                key: key_of(prefix, &field),
            },
            Error::Invalid { key, reason } => settings.invalid(&key, reason),
            Error::Custom(reason) => settings.invalid(prefix.trim_end_matches('_'), reason),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Missing(field) => write!(f, "missing field `{field}`"),
            Error::Invalid { key, reason } => write!(f, "{key}: {reason}"),
            Error::Custom(reason) => f.write_str(reason),
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::Custom(msg.to_string())
    }
    fn missing_field(field: &'static str) -> Self {
        Error::Missing(field.to_owned())
    }
}

struct SectionDeserializer<'a> {
    settings: &'a Settings,
    prefix: &'a str,
}

impl<'de> de::Deserializer<'de> for SectionDeserializer<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, _visitor: V) -> Result<V::Value, Error> {
        Err(Error::Custom(
            "a config section must be a struct with named fields".into(),
        ))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let present = fields
            .iter()
            .filter_map(|field| {
                let key = key_of(self.prefix, field);
                self.settings.get(&key).map(|value| (*field, key, value))
            })
            .collect::<Vec<_>>();
        visitor.visit_map(Fields {
            iter: present.into_iter(),
            pending: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf option unit unit_struct newtype_struct seq tuple
        tuple_struct map enum identifier ignored_any
    }
}

struct Fields<'a, I> {
    iter: I,
    pending: Option<Value<'a>>,
}

impl<'de, 'a, I> MapAccess<'de> for Fields<'a, I>
where
    I: Iterator<Item = (&'static str, String, &'a str)>,
{
    type Error = Error;

    fn next_key_seed<K: de::DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.iter.next() {
            Some((field, key, raw)) => {
                self.pending = Some(Value { key, raw });
                seed.deserialize(field.into_deserializer()).map(Some)
            }
            None => Ok(None),
        }
    }

    fn next_value_seed<V: de::DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Error> {
        let value = self
            .pending
            .take()
            .ok_or_else(|| Error::Custom("value without key".into()))?;
        let key = value.key.clone();
        // A type's own parse error (an IP address, say) does not know the key: attach it.
        seed.deserialize(value).map_err(|e| match e {
            Error::Custom(reason) => Error::Invalid { key, reason },
            other => other,
        })
    }
}

/// One raw string value, parsed into whatever type the field asks for.
struct Value<'a> {
    key: String,
    raw: &'a str,
}

impl Value<'_> {
    fn parse<T>(&self) -> Result<T, Error>
    where
        T: std::str::FromStr,
        T::Err: fmt::Display,
    {
        self.raw.trim().parse().map_err(|e: T::Err| Error::Invalid {
            key: self.key.clone(),
            reason: format!("expected {}: {e}", short_type_name::<T>()),
        })
    }
}

fn short_type_name<T>() -> &'static str {
    let name = std::any::type_name::<T>();
    name.rsplit("::").next().unwrap_or(name)
}

macro_rules! parse_scalar {
    ($($method:ident => $visit:ident: $ty:ty,)*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
            visitor.$visit(self.parse::<$ty>()?)
        }
    )*};
}

impl<'de> de::Deserializer<'de> for Value<'_> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_str(self.raw)
    }

    parse_scalar! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    /// An empty value is `None`, so `KEY=` in a later layer can unset an optional key.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        if self.raw.trim().is_empty() {
            visitor.visit_none()
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    /// Unit variants are written in any case: `LOG_FORMAT=json` or `JSON`.
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        let raw = self.raw.trim();
        match variants.iter().find(|v| v.eq_ignore_ascii_case(raw)) {
            Some(variant) => visitor.visit_enum(variant.into_deserializer()),
            None => Err(Error::Invalid {
                key: self.key,
                reason: format!("expected one of {}", variants.join(", ")),
            }),
        }
    }

    /// A comma-separated list.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let key = self.key;
        let items = self
            .raw
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(move |raw| Value {
                key: key.clone(),
                raw,
            });
        visitor.visit_seq(de::value::SeqDeserializer::new(items))
    }

    serde::forward_to_deserialize_any! {
        i128 u128 char str string bytes byte_buf unit unit_struct tuple
        tuple_struct map struct identifier ignored_any
    }
}

impl<'de, 'a> IntoDeserializer<'de, Error> for Value<'a> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}
