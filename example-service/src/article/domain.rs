use chrono::{DateTime, Utc};
use framework::utoipa::{self, ToSchema};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::Validate;

/// An article.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Article {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub created_at: DateTime<Utc>,
    /// Never earlier than the `updated_at` of the version before.
    pub updated_at: DateTime<Utc>,
    /// 1 when created, incremented by the database on every update: the order of the
    /// article's changes and of their events.
    pub version: i64,
}

/// The writable fields, for create and full update.
#[derive(Debug, Clone, Deserialize, Validate, ToSchema)]
pub struct ArticleInput {
    #[validate(
        length(min = 3, max = 50),
        custom(function = "framework::validation::not_blank"),
        custom(function = "framework::validation::no_nul")
    )]
    // framework::validation::NON_BLANK_TEXT_PATTERN, which tests/articles.rs compares.
    #[schema(
        min_length = 3,
        max_length = 50,
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000][^\u0000]*$"
    )]
    pub name: String,
    #[validate(
        length(min = 5, max = 100),
        custom(function = "framework::validation::not_blank"),
        custom(function = "framework::validation::no_nul")
    )]
    // framework::validation::NON_BLANK_TEXT_PATTERN, which tests/articles.rs compares.
    #[schema(
        min_length = 5,
        max_length = 100,
        pattern = r"^[\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]*[^\t-\r \u0085\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000\u0000][^\u0000]*$"
    )]
    pub description: String,
}

/// One page of articles.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Page {
    pub items: Vec<Article>,
    pub total: i64,
    pub limit: u32,
    pub offset: u32,
}
