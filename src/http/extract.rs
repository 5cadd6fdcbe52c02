//! Request extractors: a handler's signature says who may call it.
//!
//! `Participant` and `Organiser` demand a valid bearer token of their kind (401 without one,
//! 403 with the other kind); `Viewer` accepts any valid token that may read a campaign's boards;
//! `MaybeAuth` accepts anyone and tells who, if anyone, it is.

use std::{
    future::{Ready, ready},
    sync::Arc,
};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use sea_orm::DatabaseConnection;

use crate::{
    http::error::ApiError,
    services::{
        boards::leaderboard::Viewer,
        identity::{
            Organiser, Participant,
            erasure::ErasedParticipants,
            jwt::{Claims, JwtKeys, Role},
        },
    },
};

/// Anyone; the verified claims when a valid token came along.
#[derive(Debug, Clone)]
pub struct MaybeAuth(pub Option<Claims>);

fn bearer(req: &HttpRequest) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value
        .to_str()
        .map_err(|_| ApiError::unauthorized("invalid_token", "The Authorization header is not valid text."))?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") && !token.trim().is_empty() => {
            Ok(Some(token.trim()))
        }
        _ => Err(ApiError::unauthorized(
            "invalid_token",
            "Use `Authorization: Bearer <token>`.",
        )),
    }
}

/// The verified claims of the request's bearer token, if any.
///
/// # Errors
/// 401 when a token is present but invalid.
pub fn claims(req: &HttpRequest) -> Result<Option<Claims>, ApiError> {
    let Some(token) = bearer(req)? else {
        return Ok(None);
    };
    let check = req
        .app_data::<web::Data<TokenCheck>>()
        .ok_or_else(|| anyhow::anyhow!("TokenCheck is not configured"))?;
    match check.jwt.verify(token) {
        Ok(c) if c.role == Role::Participant && c.sub.parse().is_ok_and(|id| check.erased(id)) => {
            Err(ApiError::unauthorized(
                "token_revoked",
                "This account's data was erased; log in again to start afresh.",
            ))
        }
        Ok(c) => Ok(Some(c)),
        Err(e) => {
            use jsonwebtoken::errors::ErrorKind;
            let (code, detail) = match e.kind() {
                ErrorKind::ExpiredSignature => ("token_expired", "The token has expired; log in again."),
                _ => ("invalid_token", "The token is not valid."),
            };
            Err(ApiError::unauthorized(code, detail))
        }
    }
}

/// What a bearer token is checked against: the signing keys, and the participants whose
/// data was erased (their tokens are refused). Registered as app data at start-up.
#[derive(Clone)]
pub struct TokenCheck {
    pub jwt: Arc<JwtKeys>,
    pub erased: Arc<ErasedParticipants>,
    pub db: DatabaseConnection,
}

impl TokenCheck {
    /// True when the participant's data was erased: their tokens are no longer accepted.
    fn erased(&self, participant_id: i32) -> bool {
        self.erased.refresh_if_due(&self.db);
        self.erased.contains(participant_id)
    }
}

fn required(req: &HttpRequest) -> Result<Claims, ApiError> {
    claims(req)?.ok_or_else(|| ApiError::unauthorized("missing_token", "This endpoint needs a bearer token."))
}

fn subject(claims: &Claims) -> Result<i32, ApiError> {
    claims
        .sub
        .parse()
        .map_err(|_| ApiError::unauthorized("invalid_token", "The token's subject is not valid."))
}

/// The caller of a token whose role is among `roles`, built from its subject and role.
/// 401 without a valid token; 403 `refusal` (code, detail) with another role.
fn with_role<T>(
    req: &HttpRequest,
    roles: &[Role],
    refusal: (&'static str, &'static str),
    build: impl FnOnce(i32, Role) -> T,
) -> Ready<Result<T, ApiError>> {
    ready(required(req).and_then(|c| {
        if !roles.contains(&c.role) {
            return Err(ApiError::forbidden(refusal.0, refusal.1));
        }
        Ok(build(subject(&c)?, c.role))
    }))
}

impl FromRequest for Participant {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let refusal = ("participant_only", "Only a participant may call this endpoint.");
        with_role(req, &[Role::Participant], refusal, |id, _| Participant { id })
    }
}

impl FromRequest for Organiser {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let refusal = ("organiser_only", "Only an organiser may call this endpoint.");
        with_role(req, &[Role::Organiser, Role::Admin], refusal, |id, role| Organiser {
            id,
            admin: role == Role::Admin,
        })
    }
}

impl FromRequest for MaybeAuth {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(claims(req).map(MaybeAuth))
    }
}

impl FromRequest for Viewer {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(claims(req).and_then(Viewer::from_claims))
    }
}
