//! `ApiError`: the one error type every handler returns, written as RFC 9457
//! `application/problem+json` with a stable snake_case `code`.

use actix_web::{
    HttpResponse, ResponseError,
    http::{StatusCode, header},
};
use sea_orm::{ConnAcquireErr, DbErr, RuntimeErr, SqlErr};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// An error answered to an HTTP client. 4xx variants carry a human sentence meant for the
/// caller; 5xx variants log their cause and answer a generic sentence.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{detail}")]
    BadRequest { code: &'static str, detail: String },
    #[error("{detail}")]
    Unauthorized { code: &'static str, detail: String },
    #[error("{detail}")]
    Forbidden { code: &'static str, detail: String },
    #[error("{detail}")]
    NotFound { code: &'static str, detail: String },
    #[error("{detail}")]
    Conflict { code: &'static str, detail: String },
    #[error("{detail}")]
    PayloadTooLarge { code: &'static str, detail: String },
    #[error("{detail}")]
    Timeout { code: &'static str, detail: String },
    /// Well-formed input that breaks a rule; `errors` may list the fields at fault.
    #[error("{detail}")]
    Unprocessable {
        code: &'static str,
        detail: String,
        errors: Option<Value>,
    },
    #[error("{detail}")]
    TooManyRequests {
        code: &'static str,
        detail: String,
        retry_after_secs: u64,
    },
    #[error("{detail}")]
    Unavailable {
        code: &'static str,
        detail: String,
        retry_after_secs: u64,
    },
    /// An upstream service (WeChat) answered something we can't use.
    #[error("{detail}")]
    BadGateway { code: &'static str, detail: String },
    #[error("database error: {0}")]
    Db(#[from] DbErr),
    #[error("internal error: {0:#}")]
    Internal(#[from] anyhow::Error),
}

/// Shorthand for handler and service results.
pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(code: &'static str, detail: impl Into<String>) -> Self {
        Self::BadRequest {
            code,
            detail: detail.into(),
        }
    }
    pub fn unauthorized(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unauthorized {
            code,
            detail: detail.into(),
        }
    }
    pub fn forbidden(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Forbidden {
            code,
            detail: detail.into(),
        }
    }
    pub fn not_found(code: &'static str, detail: impl Into<String>) -> Self {
        Self::NotFound {
            code,
            detail: detail.into(),
        }
    }
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Conflict {
            code,
            detail: detail.into(),
        }
    }
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unprocessable {
            code,
            detail: detail.into(),
            errors: None,
        }
    }
    /// A validation failure naming the field at fault.
    pub fn invalid_field(field: &str, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        Self::Unprocessable {
            code: "validation_failed",
            errors: Some(serde_json::json!([{ "field": field, "message": detail }])),
            detail: format!("{field}: {detail}"),
        }
    }
    /// 429 with `Retry-After`: whole seconds, at least 1.
    pub fn too_many_requests(code: &'static str, detail: impl Into<String>, retry_after: std::time::Duration) -> Self {
        Self::TooManyRequests {
            code,
            detail: detail.into(),
            retry_after_secs: (retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0)).max(1),
        }
    }
    /// 408: the request took longer than it may.
    pub fn timeout(detail: impl Into<String>) -> Self {
        Self::Timeout {
            code: "request_timeout",
            detail: detail.into(),
        }
    }
    pub fn unavailable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::Unavailable {
            code,
            detail: detail.into(),
            retry_after_secs: 1,
        }
    }

    /// A refusal of the client's request (4xx), decided by our rules; not a failure of the
    /// database or ours (a unique violation answers 409, yet it is the database's verdict).
    pub fn is_refusal(&self) -> bool {
        !matches!(self, Self::Db(_) | Self::Internal(_)) && self.status_code().is_client_error()
    }

    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::BadRequest { code, .. }
            | Self::Unauthorized { code, .. }
            | Self::Forbidden { code, .. }
            | Self::NotFound { code, .. }
            | Self::Conflict { code, .. }
            | Self::PayloadTooLarge { code, .. }
            | Self::Timeout { code, .. }
            | Self::Unprocessable { code, .. }
            | Self::TooManyRequests { code, .. }
            | Self::Unavailable { code, .. }
            | Self::BadGateway { code, .. } => code,
            Self::Db(err) => match classify_db(err) {
                DbClass::Busy => "busy",
                DbClass::Unavailable => "database_unavailable",
                DbClass::Unique => "conflict",
                DbClass::Other => "internal_error",
            },
            Self::Internal(_) => "internal_error",
        }
    }
}

enum DbClass {
    Busy,
    Unavailable,
    Unique,
    Other,
}

fn classify_db(err: &DbErr) -> DbClass {
    if matches!(err.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) {
        return DbClass::Unique;
    }
    match err {
        // A closed pool won't come back by itself, unlike a pool that is merely exhausted.
        DbErr::ConnectionAcquire(ConnAcquireErr::ConnectionClosed) => DbClass::Unavailable,
        DbErr::ConnectionAcquire(_) => DbClass::Busy,
        DbErr::Conn(_) => DbClass::Unavailable,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::PoolTimedOut => DbClass::Busy,
            sea_orm::sqlx::Error::Io(_)
            | sea_orm::sqlx::Error::PoolClosed
            | sea_orm::sqlx::Error::WorkerCrashed
            | sea_orm::sqlx::Error::Tls(_) => DbClass::Unavailable,
            sea_orm::sqlx::Error::Database(db) => {
                // SQLite "database is locked" after busy_timeout, PostgreSQL admin shutdown
                // (57P01) and "cannot connect now" (57P03): transient, worth a retry.
                // A session killed because another backend crashed (57P02) or a connection
                // exception (class 08) means the server went away mid-statement: a 503 with
                // Retry-After like a refused connection, not a 500.
                let code = db.code().unwrap_or_default();
                if code == "5" || code == "517" || code == "57P01" || code == "57P03" {
                    DbClass::Busy
                } else if code == "57P02" || code.starts_with("08") {
                    DbClass::Unavailable
                } else {
                    DbClass::Other
                }
            }
            _ => DbClass::Other,
        },
        _ => DbClass::Other,
    }
}

/// True when a database error is a unique-constraint violation (a concurrent insert won).
pub fn is_unique_violation(err: &DbErr) -> bool {
    matches!(classify_db(err), DbClass::Unique)
}

/// True when a transaction failed only because of a concurrent one and is safe to run again:
/// a unique violation (the other inserted first), a PostgreSQL deadlock (40P01) or
/// serialisation failure (40001), or SQLite still busy or locked after its busy timeout.
pub fn is_retryable(err: &DbErr) -> bool {
    if is_unique_violation(err) {
        return true;
    }
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => match e.as_ref() {
            sea_orm::sqlx::Error::Database(db) => {
                matches!(db.code().as_deref(), Some("40P01" | "40001" | "5" | "6" | "517"))
            }
            _ => false,
        },
        _ => false,
    }
}

/// RFC 9457 problem details: the body of every error answer, sent as
/// `application/problem+json`. The OpenAPI document refers to it from every 4xx and 5xx
/// response, so this struct is both what is sent and what is documented.
#[derive(Debug, Serialize, ToSchema)]
pub struct Problem {
    /// `urn:longmarch:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:longmarch:problem:invalid_query")]
    pub kind: String,
    /// The reason phrase of the status.
    #[schema(example = "Bad Request")]
    pub title: String,
    /// The HTTP status, repeated.
    #[schema(example = 400)]
    pub status: u16,
    /// A sentence for people; never a stack trace or SQL.
    pub detail: String,
    /// The stable snake_case code clients branch on.
    #[schema(example = "invalid_query")]
    pub code: String,
    /// What is wrong, item by item: fields (`validation_failed`) or CSV lines (`csv_invalid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Vec<ProblemItem>>)]
    pub errors: Option<Value>,
}

/// One item of [`Problem::errors`]: a field (`field`, `message`) or an import line
/// (`line`, `code`, `message`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemItem {
    /// The request body field at fault.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The 1-based line of an imported file (the header is line 1).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// The line's problem code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::NotFound { .. } => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Timeout { .. } => StatusCode::REQUEST_TIMEOUT,
            Self::Unprocessable { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::BadGateway { .. } => StatusCode::BAD_GATEWAY,
            Self::Db(err) => match classify_db(err) {
                DbClass::Busy | DbClass::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
                DbClass::Unique => StatusCode::CONFLICT,
                DbClass::Other => StatusCode::INTERNAL_SERVER_ERROR,
            },
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let status = self.status_code();
        let detail = match self {
            Self::Db(err) => {
                let generic = match classify_db(err) {
                    DbClass::Busy => "The service is busy; please retry shortly.",
                    DbClass::Unavailable => "The database is unavailable; please retry shortly.",
                    DbClass::Unique => "This conflicts with an existing record.",
                    DbClass::Other => "An internal error occurred.",
                };
                if status.is_server_error() {
                    tracing::error!(error = %err, code = self.code(), "database error");
                }
                generic.to_owned()
            }
            Self::Internal(err) => {
                tracing::error!(error = format!("{err:#}"), "internal error");
                "An internal error occurred.".to_owned()
            }
            other => other.to_string(),
        };
        let errors = match self {
            Self::Unprocessable { errors, .. } => errors.as_ref(),
            _ => None,
        };
        let code = self.code();
        let body = Problem {
            kind: format!("urn:longmarch:problem:{code}"),
            title: status.canonical_reason().unwrap_or("Error").to_owned(),
            status: status.as_u16(),
            detail,
            code: code.to_owned(),
            errors: errors.cloned(),
        };
        let mut resp = HttpResponse::build(status);
        resp.insert_header((header::CONTENT_TYPE, "application/problem+json"));
        match self {
            Self::Unauthorized { .. } => {
                resp.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
            }
            Self::TooManyRequests { retry_after_secs, .. } | Self::Unavailable { retry_after_secs, .. } => {
                resp.insert_header((header::RETRY_AFTER, retry_after_secs.to_string()));
            }
            Self::Db(_) if status == StatusCode::SERVICE_UNAVAILABLE => {
                resp.insert_header((header::RETRY_AFTER, "1"));
            }
            _ => {}
        }
        resp.body(serde_json::to_string(&body).unwrap_or_default())
    }
}
