//! JWT issuing and verification: HS256 only, keys built once at start-up, `exp`, `iss` and
//! `aud` required. A previous secret may be configured as verify-only during rotation.

use chrono::{DateTime, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::settings::AuthSettings;

/// Who a token speaks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Participant,
    Organiser,
    Admin,
    /// A read-only token for a campaign's live screen (`/events`), scoped by `campaign`.
    Board,
}

/// Claims of every token this service issues.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    /// The participant's or organiser's id (as a string, per RFC 7519).
    pub sub: String,
    pub role: Role,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    /// For board tokens: the campaign slug they may watch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
}

/// Signing and verification keys, decoded once.
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: Vec<DecodingKey>,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl_secs: i64,
}

/// A freshly issued token.
#[derive(Debug, Clone)]
pub struct IssuedToken {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

impl JwtKeys {
    /// Builds the keys from settings.
    ///
    /// # Errors
    /// When the secret is empty (settings validation refuses that first).
    pub fn new(settings: &AuthSettings) -> anyhow::Result<Self> {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        let mut decoding = vec![DecodingKey::from_secret(secret)?];
        if let Some(previous) = &settings.previous_jwt_secret
            && !previous.expose_secret().is_empty()
        {
            decoding.push(DecodingKey::from_secret(previous.expose_secret().as_bytes())?);
        }
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[settings.issuer.as_str()]);
        validation.set_audience(&[settings.audience.as_str()]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = 30;
        Ok(Self {
            encoding: EncodingKey::from_secret(secret)?,
            decoding,
            validation,
            issuer: settings.issuer.clone(),
            audience: settings.audience.clone(),
            ttl_secs: settings.token_ttl_secs,
        })
    }

    /// Issues a token for `sub` with `role`.
    ///
    /// # Errors
    /// When signing fails (it does not for HMAC keys).
    pub fn issue(&self, sub: i32, role: Role, campaign: Option<String>) -> anyhow::Result<IssuedToken> {
        let now = Utc::now();
        let exp = now.timestamp() + self.ttl_secs;
        let claims = Claims {
            sub: sub.to_string(),
            role,
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            exp,
            campaign,
        };
        let token = encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(IssuedToken {
            token,
            expires_at: DateTime::from_timestamp(exp, 0).unwrap_or(now),
        })
    }

    /// Verifies a token's signature (current key, then the previous one) and claims.
    ///
    /// # Errors
    /// When the token is malformed, expired, signed with another key or algorithm, or
    /// issued for another issuer or audience.
    pub fn verify(&self, token: &str) -> Result<Claims, jsonwebtoken::errors::Error> {
        let mut last = None;
        for key in &self.decoding {
            match decode::<Claims>(token, key, &self.validation) {
                Ok(data) => return Ok(data.claims),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| jsonwebtoken::errors::ErrorKind::InvalidSignature.into()))
    }
}
