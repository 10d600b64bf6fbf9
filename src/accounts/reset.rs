//! Password reset by email (issue 13): a staff member who forgot a password asks for a link
//! on the sign-in page; the link is single-use and short-lived, and only the SHA-256 of its
//! token is stored. The answer is the same whether the address is known or not (nothing tells
//! an outsider which addresses have accounts), requests are throttled per address and per
//! client like sign-ins (`throttle.rs`, the same `login_failures` counts under their own
//! keys), every step is audited, and a reset ends every session of the user.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use sha2::{Digest, Sha256};

use super::{Accounts, AdminError, invalid, normalize_email, password};
use crate::audit::{self, Who};
use crate::db::accounts::{self as store, PasswordResetRow, UserChanges};
use crate::db::{AnyConnection, DbError, write_transaction};

/// How long a link works after it was sent.
pub const LINK_TTL: Duration = Duration::from_secs(30 * 60);

/// Requests allowed per address and per client before they are slowed down, the first delay
/// (doubling after each further request) and the ceiling.
pub const FREE_REQUESTS: u32 = 3;
pub const REQUEST_DELAY: Duration = Duration::from_secs(60);
pub const REQUEST_MAX_DELAY: Duration = Duration::from_secs(15 * 60);

/// What to mail: only for an active account. The token is in the mail and nowhere else.
#[derive(Clone)]
pub struct ResetMail {
    pub reset_id: String,
    pub to: String,
    pub locale: String,
    pub token: String,
}

impl std::fmt::Debug for ResetMail {
    // Neither the token nor the address.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResetMail")
            .field("reset_id", &self.reset_id)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("too many reset requests; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error(transparent)]
    Db(#[from] DbError),
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn keys(email: &str, ip: Option<&str>) -> Vec<String> {
    let mut keys = vec![format!("reset:account:{email}")];
    if let Some(ip) = ip {
        keys.push(format!("reset:ip:{ip}"));
    }
    keys
}

/// Asks for a reset link for `email`. `Ok(None)` for an unknown or disabled address: the
/// caller answers exactly as for `Ok(Some(_))`. Every request counts towards the throttle.
pub fn request(
    conn: &mut AnyConnection,
    accounts: &Accounts,
    email: &str,
    ip: Option<String>,
) -> Result<Option<ResetMail>, RequestError> {
    let email = normalize_email(email);
    let attempted: String = email.chars().take(254).collect();
    let keys = keys(&email, ip.as_deref());
    let now = Utc::now().naive_utc();
    if let Err(wait) = accounts.reset_throttle.check(conn, &keys, now)? {
        audit::record(
            conn,
            &Who::anonymous(ip.clone()),
            "auth.reset_refused",
            None,
            serde_json::json!({"email": attempted, "reason": "throttled"}),
        )?;
        return Err(RequestError::Throttled(wait));
    }
    accounts.reset_throttle.failed(conn, &keys, now)?;
    let user = store::find_user_by_email(conn, &email)?;
    let Some(user) = user.filter(|u| u.active) else {
        audit::record(
            conn,
            &Who::anonymous(ip),
            "auth.reset_requested",
            None,
            serde_json::json!({"email": attempted, "sent": false}),
        )?;
        return Ok(None);
    };
    let mut bytes = [0u8; 32];
    rand::fill(&mut bytes);
    let token = B64.encode(bytes);
    let ttl = chrono::Duration::from_std(LINK_TTL).unwrap_or(chrono::Duration::minutes(30));
    let row = PasswordResetRow {
        id: uuid::Uuid::now_v7().to_string(),
        user_id: user.id.clone(),
        token_hash: token_hash(&token),
        created_at: now,
        expires_at: now + ttl,
        used_at: None,
    };
    write_transaction(conn, |c| {
        store::insert_password_reset(c, &row)?;
        audit::record(
            c,
            &Who {
                user_id: None,
                label: attempted.clone(),
                ip: ip.clone(),
            },
            "auth.reset_requested",
            Some(&user.id),
            serde_json::json!({"email": attempted, "sent": true, "reset": row.id}),
        )?;
        Ok::<_, DbError>(())
    })?;
    Ok(Some(ResetMail {
        reset_id: row.id,
        to: user.email,
        locale: user.locale,
        token,
    }))
}

/// Whether `token` is a live link (for showing the form; `complete` checks again).
pub fn link_is_live(conn: &mut AnyConnection, token: &str) -> Result<bool, DbError> {
    Ok(store::live_password_reset(conn, &token_hash(token), Utc::now().naive_utc())?.is_some())
}

/// Sets a new password through a link: the link is used up (once, even against a concurrent
/// use), every session of the user ends, and the sign-in failures of the account are
/// forgotten. `Invalid { field: "token" }` for an unknown, used or expired link;
/// `Invalid { field: "new_password" }` for a weak password (the link stays usable).
pub fn complete(
    conn: &mut AnyConnection,
    token: &str,
    new: &str,
    ip: Option<String>,
) -> Result<String, AdminError> {
    let now = Utc::now().naive_utc();
    let link = store::live_password_reset(conn, &token_hash(token), now)?
        .ok_or_else(|| invalid("token", "the link is unknown, used or expired"))?;
    password::check_new(new).map_err(|m| invalid("new_password", m))?;
    let hash = password::hash(new).map_err(|m| invalid("new_password", m))?;
    let user = store::find_user(conn, &link.user_id)?.ok_or(AdminError::NotFound)?;
    write_transaction(conn, |c| {
        if !store::use_password_reset(c, &link.id, now)? {
            return Err(invalid("token", "the link is unknown, used or expired"));
        }
        store::update_user(
            c,
            &user.id,
            &UserChanges {
                password_hash: Some(hash.clone()),
                updated_at: Some(now),
                ..Default::default()
            },
        )?;
        let ended = store::revoke_user_sessions(c, &user.id, None, now)?;
        store::clear_login_failures(c, &format!("account:{}", user.email))?;
        audit::record(
            c,
            &Who {
                user_id: Some(user.id.clone()),
                label: user.email.clone(),
                ip: ip.clone(),
            },
            "auth.password_reset",
            Some(&user.id),
            serde_json::json!({"reset": link.id, "sessions_ended": ended}),
        )?;
        Ok(user.id.clone())
    })
}
