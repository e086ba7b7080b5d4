//! The record `#[derive(DomainError)]` submits: not public API (`framework::__private` names
//! it).

use super::ErrorKind;

/// One variant of a `#[derive(DomainError)]` enum.
pub struct ErrorCodeRecord {
    /// The stable code clients see.
    pub code: &'static str,
    /// The kind, which fixes the status mapping.
    pub kind: ErrorKind,
    /// The error type's path.
    pub error_type: &'static str,
    /// The variant's name.
    pub variant: &'static str,
    /// Where the variant was declared.
    pub location: crate::di::Location,
}

inventory::collect!(ErrorCodeRecord);
