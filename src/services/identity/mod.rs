//! Who is calling: logins (WeChat, development, organiser), tokens, the participant's profile and
//! the enrollments they see.

pub mod erasure;
pub mod jwt;
pub mod organiser_accounts;
pub mod password;
pub mod session_keys;
pub mod wechat_login;
pub mod werun;

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IntoActiveModel, QueryFilter,
    QueryOrder, Set,
};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::{
    domain::states::EnrollmentStatus,
    http::{
        error::{ApiError, ApiResult, is_unique_violation},
        ratelimit::Lockout,
    },
    models::{campaigns, cohorts, enrollments, organisers, participants},
    services::wechat::{
        WechatApi,
        content::{NameCheck, check_display_name},
    },
};
use jwt::{IssuedToken, JwtKeys, Role};
use session_keys::SessionKeys;
use wechat_login::{WechatClient, redact_openid};

/// An authenticated participant (the `Participant` extractor in `http::extract` proves it).
#[derive(Debug, Clone, Copy)]
pub struct Participant {
    pub id: i32,
}

/// An authenticated organiser; `admin` may act on every campaign.
#[derive(Debug, Clone, Copy)]
pub struct Organiser {
    pub id: i32,
    pub admin: bool,
}

/// A participant as they see themselves. Never carries openid or session key.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ParticipantView {
    pub id: i32,
    pub display_name: String,
    pub student_no: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<participants::Model> for ParticipantView {
    fn from(p: participants::Model) -> Self {
        Self {
            id: p.id,
            display_name: p.display_name,
            student_no: p.student_no,
            created_at: p.created_at,
        }
    }
}

/// Answer to a participant login.
#[derive(Debug, Serialize, ToSchema)]
pub struct LoginAnswer {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub participant: ParticipantView,
    /// True when this login created the participant.
    pub new: bool,
}

/// Answer to an organiser login.
#[derive(Debug, Serialize, ToSchema)]
pub struct OrganiserLoginAnswer {
    pub token: String,
    pub expires_at: DateTime<Utc>,
    pub organiser: OrganiserView,
}

/// An organiser account (never its password hash).
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct OrganiserView {
    pub id: i32,
    pub username: String,
    pub role: String,
}

/// A cohort as its members see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CohortRef {
    pub id: i32,
    pub name: String,
    pub path: String,
}

/// One enrollment of the participant.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct EnrollmentView {
    pub campaign: String,
    pub campaign_title: String,
    pub cohort: Option<CohortRef>,
    /// `active` or `suspended`.
    pub status: EnrollmentStatus,
    /// Why the participant was suspended, when they are.
    pub suspend_reason: Option<String>,
    pub joined_at: DateTime<Utc>,
}

/// `GET /me`.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeView {
    #[serde(flatten)]
    pub participant: ParticipantView,
    pub enrollments: Vec<EnrollmentView>,
}

/// `PATCH /me` body. Unknown fields are rejected.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatch {
    /// 1–32 characters after trimming.
    pub display_name: Option<String>,
    /// Up to 32 letters, digits or hyphens; an empty string clears it.
    pub student_no: Option<String>,
}

/// Validates a display name: 1–32 characters after trimming, no control characters.
///
/// # Errors
/// 422 naming `display_name`.
pub fn parse_display_name(raw: &str) -> ApiResult<String> {
    let name = raw.trim();
    let n = name.chars().count();
    if n == 0 || n > 32 || name.chars().any(char::is_control) {
        return Err(ApiError::invalid_field(
            "display_name",
            "must be 1–32 characters after trimming",
        ));
    }
    Ok(name.to_owned())
}

/// Validates a student number; `None` for an empty one (clears it).
///
/// # Errors
/// 422 naming `student_no`.
pub fn parse_student_no(raw: &str) -> ApiResult<Option<String>> {
    let s = raw.trim();
    if s.is_empty() {
        return Ok(None);
    }
    if s.chars().count() > 32 || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(ApiError::invalid_field(
            "student_no",
            "use up to 32 letters, digits or hyphens",
        ));
    }
    Ok(Some(s.to_owned()))
}

/// The name a participant has until they choose one: 长征队员 and the openid's last 4 characters.
pub fn default_display_name(openid: &str) -> String {
    let tail: String = openid
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("长征队员{tail}")
}

/// Finds or creates the participant for `openid`, storing the latest session key.
async fn upsert_participant(
    db: &DatabaseConnection,
    openid: &str,
    unionid: Option<String>,
    session_key: Option<&SecretString>,
) -> ApiResult<(participants::Model, bool)> {
    let now = Utc::now();
    for _ in 0..2 {
        if let Some(existing) = participants::Entity::find()
            .filter(participants::Column::Openid.eq(openid))
            .one(db)
            .await?
        {
            let mut active = existing.into_active_model();
            active.last_login_at = Set(now);
            if let Some(key) = session_key {
                active.session_key = Set(Some(key.expose_secret().to_owned()));
            }
            if unionid.is_some() {
                active.unionid = Set(unionid.clone());
            }
            return Ok((active.update(db).await?, false));
        }
        let created = participants::ActiveModel {
            openid: Set(openid.to_owned()),
            unionid: Set(unionid.clone()),
            session_key: Set(session_key.map(|k| k.expose_secret().to_owned())),
            display_name: Set(default_display_name(openid)),
            name_check_pending: Set(false),
            student_no: Set(None),
            created_at: Set(now),
            updated_at: Set(now),
            last_login_at: Set(now),
            ..Default::default()
        }
        .insert(db)
        .await;
        match created {
            Ok(p) => return Ok((p, true)),
            // A concurrent first login of the same user won the insert: read theirs.
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Err(anyhow::anyhow!("participant upsert did not converge").into())
}

fn login_answer(jwt: &JwtKeys, p: participants::Model, new: bool) -> ApiResult<LoginAnswer> {
    let IssuedToken { token, expires_at } = jwt.issue(p.id, Role::Participant, None)?;
    Ok(LoginAnswer {
        token,
        expires_at,
        participant: p.into(),
        new,
    })
}

/// What a participant's login needs: the database, WeChat's `code2Session`, the token
/// keys and the session keys held for WeRun uploads.
#[derive(Clone, Copy)]
pub struct Logins<'a> {
    pub db: &'a DatabaseConnection,
    pub wechat: &'a WechatClient,
    pub jwt: &'a JwtKeys,
    pub session_keys: &'a SessionKeys,
}

/// WeChat login: code2Session, then find or create the participant.
///
/// # Errors
/// The WeChat errors of `WechatClient::code2session`; 422 for an empty code.
#[tracing::instrument(skip_all)]
pub async fn login_wechat(logins: Logins<'_>, code: &str) -> ApiResult<LoginAnswer> {
    let code = code.trim();
    if code.is_empty() || code.len() > 128 {
        return Err(ApiError::invalid_field("code", "must be the code from wx.login"));
    }
    let session = logins.wechat.code2session(code).await?;
    let (p, new) = upsert_participant(logins.db, &session.openid, session.unionid, Some(&session.session_key)).await?;
    logins.session_keys.put(p.id, session.session_key.expose_secret());
    tracing::info!(participant = p.id, openid = %redact_openid(&p.openid), new, "wechat login");
    login_answer(logins.jwt, p, new)
}

/// Development login by openid (only mounted when `auth.dev_login` is on).
///
/// # Errors
/// 422 for an empty or overlong openid.
pub async fn login_dev(db: &DatabaseConnection, jwt: &JwtKeys, openid: &str) -> ApiResult<LoginAnswer> {
    let openid = openid.trim();
    if openid.is_empty() || openid.len() > 64 || !openid.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid_field(
            "openid",
            "must be 1–64 visible ASCII characters",
        ));
    }
    let (p, new) = upsert_participant(db, openid, None, None).await?;
    login_answer(jwt, p, new)
}

/// Organiser login. Unknown usernames and wrong passwords answer the same 401 after the
/// same Argon2 work, and count the same towards the username's lock-out.
///
/// # Errors
/// 401 `invalid_credentials`; 429 `login_locked` while the username is locked out.
pub async fn login_organiser(
    db: &DatabaseConnection,
    jwt: &JwtKeys,
    lockout: &Lockout,
    username: &str,
    password_plain: &str,
) -> ApiResult<OrganiserLoginAnswer> {
    let username = username.trim();
    // Checked before the lookup, so a locked name answers the same whether or not it exists.
    lockout.begin(username).map_err(|wait| {
        ApiError::too_many_requests(
            "login_locked",
            "Too many failed logins for this username; wait before trying again.",
            wait,
        )
    })?;
    let found = organisers::Entity::find()
        .filter(organisers::Column::Username.eq(username))
        .one(db)
        .await?;
    let ok = password::verify(
        found.as_ref().map(|o| o.password_hash.clone()),
        password_plain.to_owned(),
    )
    .await?;
    match found {
        Some(o) if ok => {
            lockout.succeeded(username);
            let role = if o.role == organiser_accounts::ROLE_ADMIN {
                Role::Admin
            } else {
                Role::Organiser
            };
            let IssuedToken { token, expires_at } = jwt.issue(o.id, role, None)?;
            Ok(OrganiserLoginAnswer {
                token,
                expires_at,
                organiser: OrganiserView {
                    id: o.id,
                    username: o.username,
                    role: o.role,
                },
            })
        }
        _ => Err(ApiError::unauthorized(
            "invalid_credentials",
            "The username or password is wrong.",
        )),
    }
}

pub(crate) async fn participant(db: &impl ConnectionTrait, id: i32) -> ApiResult<participants::Model> {
    participants::Entity::find_by_id(id)
        .one(db)
        .await?
        .ok_or_else(|| ApiError::unauthorized("invalid_token", "The token's participant no longer exists."))
}

/// The participant's profile and enrollments.
///
/// # Errors
/// 401 when the participant no longer exists.
pub async fn me(db: &impl ConnectionTrait, participant_id: i32) -> ApiResult<MeView> {
    let p = participant(db, participant_id).await?;
    let rows = enrollments::Entity::find()
        .filter(enrollments::Column::ParticipantId.eq(participant_id))
        .order_by_asc(enrollments::Column::Id)
        .all(db)
        .await?;
    let mut list = Vec::with_capacity(rows.len());
    for e in rows {
        list.push(enrollment_view(db, &e).await?);
    }
    Ok(MeView {
        participant: p.into(),
        enrollments: list,
    })
}

pub(crate) async fn enrollment_view(db: &impl ConnectionTrait, e: &enrollments::Model) -> ApiResult<EnrollmentView> {
    let c = campaigns::Entity::find_by_id(e.campaign_id)
        .one(db)
        .await?
        .ok_or_else(|| anyhow::anyhow!("enrollment {} without campaign", e.id))?;
    let cohort = match e.cohort_id {
        Some(id) => cohorts::Entity::find_by_id(id).one(db).await?.map(|k| CohortRef {
            id: k.id,
            name: k.name,
            path: k.path,
        }),
        None => None,
    };
    Ok(EnrollmentView {
        campaign: c.slug,
        campaign_title: c.title,
        cohort,
        status: e.status,
        suspend_reason: e.suspend_reason.clone(),
        joined_at: e.joined_at,
    })
}

/// Updates display name and/or student number. A new display name passes WeChat's content
/// check first (see `services::wechat::content`).
///
/// # Errors
/// 422 for invalid values and `display_name_rejected`; 503 `content_check_unavailable`.
pub async fn update_me(
    db: &DatabaseConnection,
    wechat: &WechatApi,
    participant_id: i32,
    patch: ProfilePatch,
) -> ApiResult<MeView> {
    let p = participant(db, participant_id).await?;
    let name = patch.display_name.as_deref().map(parse_display_name).transpose()?;
    let check = checked_name(wechat, &p, name.as_deref()).await?;
    let mut active = p.into_active_model();
    if let (Some(name), Some(check)) = (name, check) {
        active.display_name = Set(name);
        active.name_check_pending = Set(check.pending());
    }
    if let Some(no) = &patch.student_no {
        active.student_no = Set(parse_student_no(no)?);
    }
    active.updated_at = Set(Utc::now());
    let txn = crate::db::begin_write(db).await?;
    // Enrollments first, as every writer of a participant's figures locks them.
    enrollments::touch_participant(&txn, participant_id).await?;
    active.update(&txn).await?;
    txn.commit().await?;
    me(db, participant_id).await
}

/// Runs a new display name through WeChat's content check; `None` when there is no new name
/// (absent or unchanged).
pub(crate) async fn checked_name(
    wechat: &WechatApi,
    p: &participants::Model,
    name: Option<&str>,
) -> ApiResult<Option<NameCheck>> {
    match name {
        Some(name) if name != p.display_name => Ok(Some(check_display_name(wechat, &p.openid, name).await?)),
        _ => Ok(None),
    }
}
