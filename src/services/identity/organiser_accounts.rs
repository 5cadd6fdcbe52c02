//! Organiser accounts.

use chrono::Utc;
use sea_orm::{ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

use crate::{
    http::error::{ApiError, ApiResult},
    models::organisers,
    services::identity::password,
};

/// Organiser roles.
pub const ROLE_ADMIN: &str = "admin";
pub const ROLE_ORGANISER: &str = "organiser";

/// Creates an organiser account with an Argon2id password hash.
///
/// # Errors
/// 422 for a bad username, role or a password under 10 characters; 409 when the username
/// is taken.
pub async fn create(
    db: &impl ConnectionTrait,
    username: &str,
    password_plain: &str,
    role: &str,
) -> ApiResult<organisers::Model> {
    let username = username.trim();
    if username.is_empty()
        || username.chars().count() > 64
        || !username.chars().all(|c| c.is_alphanumeric() || "._-@".contains(c))
    {
        return Err(ApiError::invalid_field(
            "username",
            "use 1–64 letters, digits, dots, hyphens, underscores or @",
        ));
    }
    if password_plain.chars().count() < password::MIN_PASSWORD_CHARS {
        return Err(ApiError::invalid_field(
            "password",
            format!("must be at least {} characters", password::MIN_PASSWORD_CHARS),
        ));
    }
    if role != ROLE_ADMIN && role != ROLE_ORGANISER {
        return Err(ApiError::invalid_field("role", "must be admin or organiser"));
    }
    if organisers::Entity::find()
        .filter(organisers::Column::Username.eq(username))
        .one(db)
        .await?
        .is_some()
    {
        return Err(ApiError::conflict(
            "username_taken",
            format!("An organiser named `{username}` already exists."),
        ));
    }
    let hash = password::hash(password_plain.to_owned()).await?;
    let model = organisers::ActiveModel {
        username: Set(username.to_owned()),
        password_hash: Set(hash),
        role: Set(role.to_owned()),
        created_at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(model)
}
