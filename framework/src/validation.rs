//! Validation failures as field errors (what HTTP, gRPC and config errors report), and rules
//! for `#[validate(custom(function = ...))]` that keep validation in step with what
//! the backends store: input that passes validation must not be refused, or silently
//! changed, by the database it goes to; and the patterns that say the same in an OpenAPI
//! schema, so a client that follows the schema is never refused by validation.

use serde::Serialize;
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

/// The messages for one failing field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    /// The field, dotted for nested values: `author.email`, `tags[2]`.
    pub field: String,
    /// What is wrong with it.
    pub messages: Vec<String>,
}

/// Flattens validator's nested errors into one entry per field path.
pub fn field_errors(errors: &ValidationErrors) -> Vec<FieldError> {
    let mut out = Vec::new();
    collect(errors, "", &mut out);
    out.sort_by(|a, b| a.field.cmp(&b.field));
    out
}

fn collect(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() {
            field.to_string()
        } else {
            format!("{prefix}.{field}")
        };
        match kind {
            ValidationErrorsKind::Field(list) => out.push(FieldError {
                field: path,
                messages: list.iter().map(message).collect(),
            }),
            ValidationErrorsKind::Struct(inner) => collect(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

/// The rule's own message, or one written from its code and parameters.
fn message(error: &validator::ValidationError) -> String {
    if let Some(message) = &error.message {
        return message.to_string();
    }
    let param = |name: &str| error.params.get(name).map(|v| v.to_string());
    let unit = if error.code == "length" {
        " characters"
    } else {
        ""
    };
    match (
        error.code.as_ref(),
        param("min"),
        param("max"),
        param("equal"),
    ) {
        ("length" | "range", _, _, Some(equal)) => format!("must be exactly {equal}{unit}"),
        ("length" | "range", Some(min), Some(max), _) => {
            format!("must be between {min} and {max}{unit}")
        }
        ("length" | "range", Some(min), None, _) => format!("must be at least {min}{unit}"),
        ("length" | "range", None, Some(max), _) => format!("must be at most {max}{unit}"),
        ("email", ..) => "must be a valid email address".into(),
        ("url", ..) => "must be a valid URL".into(),
        ("required", ..) => "is required".into(),
        (code, ..) => format!("failed the `{code}` rule"),
    }
}

/// The NUL character (U+0000), which PostgreSQL cannot store in `text` or `varchar` (it
/// answers SQLSTATE 22021, `character_not_in_repertoire`) while SQLite stores it: rejecting it
/// here gives every backend the same answer, a 400 (HTTP) or `INVALID_ARGUMENT` (gRPC) naming
/// the field, with the code `nul_character`.
///
/// ```
/// use validator::Validate;
///
/// #[derive(Validate)]
/// struct Input {
///     #[validate(custom(function = "framework::validation::no_nul"))]
///     name: String,
/// }
///
/// assert!(Input { name: "Nul\u{0}byte".into() }.validate().is_err());
/// assert!(Input { name: "plain".into() }.validate().is_ok());
/// ```
pub fn no_nul(value: &str) -> Result<(), ValidationError> {
    if value.contains('\0') {
        Err(ValidationError::new("nul_character")
            .with_message("must not contain the NUL character (U+0000)".into()))
    } else {
        Ok(())
    }
}

/// A string with something besides whitespace: refuses `""` and `"   "` with the code
/// `blank`. Whitespace is what [`str::trim`] removes, Unicode's `White_Space` property.
///
/// ```
/// use validator::Validate;
///
/// #[derive(Validate)]
/// struct Input {
///     #[validate(custom(function = "framework::validation::not_blank"))]
///     name: String,
/// }
///
/// assert!(Input { name: " \t\u{3000}".into() }.validate().is_err());
/// assert!(Input { name: " x ".into() }.validate().is_ok());
/// ```
pub fn not_blank(value: &str) -> Result<(), ValidationError> {
    if value.trim().is_empty() {
        Err(ValidationError::new("blank").with_message("must not be blank".into()))
    } else {
        Ok(())
    }
}

/// The `pattern` (JSON Schema, ECMA-262 regular expression) of a string that
/// [`no_nul`] accepts: `#[schema(pattern = ...)]` with this text.
pub const NO_NUL_PATTERN: &str = r"^[^\u0000]*$";

/// The `pattern` of a string that both [`not_blank`] and [`no_nul`] accept: any whitespace,
/// then a character that is neither whitespace nor NUL, then anything but NUL.
///
/// Whitespace is spelled out as the 25 characters of Unicode's `White_Space` property
/// rather than `\s`, whose meaning differs between ECMA-262 (which adds U+FEFF and drops
/// U+0085), Python (which adds U+001C to U+001F) and Rust: a schema-driven client or
/// fuzzer then agrees with the server on every character. `utoipa` takes only a literal,
/// so a field writes the text out; a test compares the two.
pub const NON_BLANK_TEXT_PATTERN: &str = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000][^\u0000]*$";

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    /// Every character, between blanks and after a letter, gets the same verdict from the patterns
    /// as from the validators.
    #[test]
    fn the_patterns_agree_with_the_validators() {
        let no_nul_pattern = Regex::new(NO_NUL_PATTERN).expect("a valid pattern");
        let text_pattern = Regex::new(NON_BLANK_TEXT_PATTERN).expect("a valid pattern");
        let mut whitespace = 0;
        for c in (0..=0x10FFFF).filter_map(char::from_u32) {
            whitespace += usize::from(c.is_whitespace());
            for sample in [format!(" {c} "), format!("a{c}")] {
                let accepted = no_nul(&sample).is_ok();
                assert_eq!(no_nul_pattern.is_match(&sample), accepted, "{sample:?}");
                let accepted = accepted && not_blank(&sample).is_ok();
                assert_eq!(text_pattern.is_match(&sample), accepted, "{sample:?}");
            }
        }
        assert_eq!(
            whitespace, 25,
            "Unicode's White_Space property has 25 characters"
        );
    }
}
