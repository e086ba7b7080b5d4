//! Rules for `#[validate(custom(function = ...))]` that keep validation in step with what
//! the backends store: input that passes validation must not be refused, or silently
//! changed, by the database it goes to.

use validator::ValidationError;

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
