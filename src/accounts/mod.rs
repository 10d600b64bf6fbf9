//! Staff accounts: roles, passwords, sign-in with throttling, sessions (JWT + a sessions row
//! checked on every request), and the administration of users and sites.
//!
//! Every function here is synchronous (diesel, argon2): callers run it on the blocking pool.
//!
//! Layer: use cases (above `audit`). ARCHITECTURE.md maps the layers.

pub mod password;
pub mod reset;
pub mod throttle;
pub mod token;

use std::time::Duration;

use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::audit::{self, Who};
use crate::config::AuthSettings;
use crate::db::accounts::{self as store, SessionRow, SiteRow, UserChanges, UserRow};
use crate::db::{AnyConnection, DbError, write_transaction};

pub use throttle::LoginThrottle;
pub use token::Keys;

/// One role per user. There is no employer or platform role, by design.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Counselor,
    Supervisor,
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Counselor, Role::Supervisor, Role::Admin];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Counselor => "counselor",
            Role::Supervisor => "supervisor",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Counselors and supervisors work alerts; admins do not see individual answers.
    pub fn works_alerts(self) -> bool {
        matches!(self, Role::Counselor | Role::Supervisor)
    }
}

/// The signed-in user of a request.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user_id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// The sites served; empty means all.
    pub sites: Vec<String>,
    pub locale: String,
    pub session_id: String,
    /// The client's address, for the audit log.
    pub ip: Option<String>,
}

impl Principal {
    pub fn who(&self) -> Who {
        Who {
            user_id: Some(self.user_id.clone()),
            label: self.email.clone(),
            ip: self.ip.clone(),
        }
    }

    /// Whether an alert of `site` is within this user's sites.
    pub fn serves(&self, site: Option<&str>) -> bool {
        self.sites.is_empty() || site.is_some_and(|s| self.sites.iter().any(|m| m == s))
    }

    /// For queries: `None` = every site.
    pub fn visible_sites(&self) -> Option<Vec<String>> {
        (!self.sites.is_empty()).then(|| self.sites.clone())
    }
}

/// Sign-in state shared by requests: token keys and the throttle.
#[derive(Debug)]
pub struct Accounts {
    pub keys: Keys,
    pub throttle: LoginThrottle,
    /// Password reset requests (`reset.rs`), counted apart from sign-ins.
    pub reset_throttle: LoginThrottle,
    pub session_ttl: Duration,
}

impl Accounts {
    pub fn new(settings: &AuthSettings) -> Result<Accounts, token::KeyError> {
        Ok(Accounts {
            keys: Keys::new(settings)?,
            throttle: LoginThrottle::new(
                settings.login_free_failures,
                settings.login_delay,
                settings.login_max_delay,
            ),
            reset_throttle: LoginThrottle::new(
                reset::FREE_REQUESTS,
                reset::REQUEST_DELAY,
                reset::REQUEST_MAX_DELAY,
            ),
            session_ttl: settings.session_ttl,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// One message for every failure: it must not tell which part was wrong.
    #[error("the email or password is not right, or the account is disabled")]
    BadCredentials,
    #[error("too many failed sign-ins; try again in {} seconds", .0.as_secs().max(1))]
    Throttled(Duration),
    #[error("not signed in, or the session has ended")]
    Unauthenticated,
    #[error(transparent)]
    Db(#[from] DbError),
}

/// A started session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub token: String,
    pub expires_at: NaiveDateTime,
    pub principal: Principal,
}

pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn now() -> chrono::NaiveDateTime {
    chrono::Utc::now().naive_utc()
}

/// The account's key first (a success clears that one only), then the address's.
fn throttle_keys(ip: Option<&str>, email: &str) -> Vec<String> {
    let mut keys = vec![format!("account:{email}")];
    if let Some(ip) = ip {
        keys.push(format!("ip:{ip}"));
    }
    keys
}

fn principal(
    conn: &mut AnyConnection,
    user: UserRow,
    session_id: &str,
    ip: Option<String>,
) -> Result<Principal, DbError> {
    // The column is constrained to the three roles; anything else is never read as a role.
    let role = Role::parse(&user.role)
        .ok_or_else(|| DbError::Connect(format!("user {} has an unknown role", user.id)))?;
    let sites = store::user_sites(conn, &user.id)?;
    Ok(Principal {
        role,
        user_id: user.id,
        email: user.email,
        name: user.name,
        sites,
        locale: user.locale,
        session_id: session_id.to_string(),
        ip,
    })
}

fn start_session(
    conn: &mut AnyConnection,
    accounts: &Accounts,
    user: UserRow,
    ip: Option<String>,
) -> Result<SignedIn, AuthError> {
    let now = Utc::now();
    let ttl =
        chrono::Duration::from_std(accounts.session_ttl).unwrap_or(chrono::Duration::hours(12));
    let expires = now + ttl;
    let session_id = uuid::Uuid::new_v4().to_string();
    store::insert_session(
        conn,
        &SessionRow {
            id: session_id.clone(),
            user_id: user.id.clone(),
            created_at: now.naive_utc(),
            expires_at: expires.naive_utc(),
            revoked_at: None,
        },
    )?;
    let token = accounts
        .keys
        .sign(&user.id, &session_id, now.timestamp(), expires.timestamp())
        .map_err(|e| {
            AuthError::Db(DbError::Connect(format!(
                "cannot sign a session token: {e}"
            )))
        })?;
    Ok(SignedIn {
        token,
        expires_at: expires.naive_utc(),
        principal: principal(conn, user, &session_id, ip)?,
    })
}

/// Signs in. Every failure is `BadCredentials` (unknown email, wrong password, disabled
/// account) after the same argon2 work; throttled attempts are refused before any.
pub fn login(
    conn: &mut AnyConnection,
    accounts: &Accounts,
    email: &str,
    password_given: &str,
    ip: Option<String>,
) -> Result<SignedIn, AuthError> {
    let email = normalize_email(email);
    let keys = throttle_keys(ip.as_deref(), &email);
    let attempted = &email.chars().take(254).collect::<String>();
    if let Err(wait) = accounts.throttle.check(conn, &keys, now())? {
        audit::record(
            conn,
            &Who::anonymous(ip.clone()),
            "auth.login_failed",
            None,
            serde_json::json!({"email": attempted, "reason": "throttled"}),
        )?;
        return Err(AuthError::Throttled(wait));
    }
    let user = store::find_user_by_email(conn, &email)?;
    let hash = user
        .as_ref()
        .map_or(password::dummy_hash(), |u| u.password_hash.as_str());
    let matches = password::verify(password_given, hash);
    match user {
        Some(user) if matches && user.active => {
            accounts.throttle.succeeded(conn, &keys[0])?;
            write_transaction(conn, |c| {
                let signed = start_session(c, accounts, user, ip)?;
                audit::record(
                    c,
                    &signed.principal.who(),
                    "auth.login_succeeded",
                    Some(&signed.principal.user_id),
                    serde_json::json!({"session": signed.principal.session_id}),
                )?;
                Ok(signed)
            })
        }
        user => {
            accounts.throttle.failed(conn, &keys, now())?;
            let reason = match &user {
                None => "unknown_email",
                Some(u) if !u.active => "disabled",
                Some(_) => "wrong_password",
            };
            audit::record(
                conn,
                &Who {
                    user_id: user.as_ref().map(|u| u.id.clone()),
                    label: attempted.clone(),
                    ip,
                },
                "auth.login_failed",
                user.as_ref().map(|u| u.id.as_str()),
                serde_json::json!({"email": attempted, "reason": reason}),
            )?;
            Err(AuthError::BadCredentials)
        }
    }
}

/// The principal of a session token, if its signature, claims and session row are all good.
pub fn authenticate(
    conn: &mut AnyConnection,
    accounts: &Accounts,
    token: &str,
    ip: Option<String>,
) -> Result<Principal, AuthError> {
    let claims = accounts
        .keys
        .verify(token)
        .map_err(|_| AuthError::Unauthenticated)?;
    let user = store::live_session(conn, &claims.sid, &claims.sub, Utc::now().naive_utc())?
        .ok_or(AuthError::Unauthenticated)?;
    Ok(principal(conn, user, &claims.sid, ip)?)
}

pub fn logout(conn: &mut AnyConnection, who: &Principal) -> Result<(), AuthError> {
    write_transaction(conn, |c| {
        store::revoke_session(c, &who.session_id, Utc::now().naive_utc())?;
        audit::record(
            c,
            &who.who(),
            "auth.logout",
            Some(&who.user_id),
            serde_json::json!({}),
        )?;
        Ok(())
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("{0}")]
    Conflict(String),
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Db(#[from] DbError),
}

fn invalid(field: &str, message: impl Into<String>) -> AdminError {
    AdminError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Changes the signed-in user's own password: all their sessions end (other browsers are
/// signed out) and this browser gets a new one.
pub fn change_password(
    conn: &mut AnyConnection,
    accounts: &Accounts,
    who: &Principal,
    current: &str,
    new: &str,
) -> Result<SignedIn, AdminError> {
    let keys = throttle_keys(who.ip.as_deref(), &who.email);
    if accounts.throttle.check(conn, &keys, now())?.is_err() {
        return Err(invalid(
            "current_password",
            "too many failed attempts; try again later",
        ));
    }
    let user = store::find_user(conn, &who.user_id)?.ok_or(AdminError::NotFound)?;
    if !password::verify(current, &user.password_hash) {
        accounts.throttle.failed(conn, &keys, now())?;
        return Err(invalid(
            "current_password",
            "the current password is not right",
        ));
    }
    password::check_new(new).map_err(|m| invalid("new_password", m))?;
    if current == new {
        return Err(invalid(
            "new_password",
            "the new password must differ from the current one",
        ));
    }
    let hash = password::hash(new).map_err(|m| invalid("new_password", m))?;
    let now = Utc::now().naive_utc();
    write_transaction(conn, |c| {
        store::update_user(
            c,
            &who.user_id,
            &UserChanges {
                password_hash: Some(hash),
                updated_at: Some(now),
                ..Default::default()
            },
        )?;
        store::revoke_user_sessions(c, &who.user_id, None, now)?;
        audit::record(
            c,
            &who.who(),
            "auth.password_changed",
            Some(&who.user_id),
            serde_json::json!({}),
        )?;
        let user = store::find_user(c, &who.user_id)?.ok_or(AdminError::NotFound)?;
        start_session(c, accounts, user, who.ip.clone()).map_err(|e| match e {
            AuthError::Db(d) => AdminError::Db(d),
            other => AdminError::Conflict(other.to_string()),
        })
    })
}

/// A user as administrators see it (no hash).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub role: Role,
    /// Sites served; empty means all.
    pub sites: Vec<String>,
    pub active: bool,
    pub locale: String,
    /// E.164 (`+8613800138000`): SMS and voice pages reach this number. Staff data only.
    pub phone: Option<String>,
}

#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    #[schema(
        min_length = 3,
        max_length = 254,
        pattern = r"^[^\s\x00-\x1F\x7F-\x9F<>,@]+@[^\s\x00-\x1F\x7F-\x9F<>,@.][^\s\x00-\x1F\x7F-\x9F<>,@]*\.[^\s\x00-\x1F\x7F-\x9F<>,@]*[^\s\x00-\x1F\x7F-\x9F<>,@.]$"
    )]
    pub email: String,
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
    #[schema(pattern = "^(counselor|supervisor|admin)$")]
    pub role: String,
    #[serde(default)]
    pub sites: Vec<String>,
    /// At least 12 characters. Leave out to have one generated (returned once).
    #[serde(default)]
    pub password: Option<String>,
    #[serde(default)]
    pub locale: Option<String>,
    /// E.164, e.g. `+8613800138000` (for SMS and voice pages).
    #[serde(default)]
    #[schema(pattern = r"^\+[1-9][0-9]{7,14}$")]
    pub phone: Option<String>,
}

/// At least one field.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(min_properties = 1)]
pub struct UserPatch {
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: Option<String>,
    #[schema(pattern = "^(counselor|supervisor|admin)$")]
    pub role: Option<String>,
    pub sites: Option<Vec<String>>,
    pub active: Option<bool>,
    pub password: Option<String>,
    pub locale: Option<String>,
    /// E.164, e.g. `+8613800138000`; `""` removes the number.
    #[schema(pattern = r"^(\+[1-9][0-9]{7,14})?$")]
    pub phone: Option<String>,
}

pub const LOCALES: [&str; 3] = ["zh-CN", "zh-TW", "en"];

fn check_email(email: &str) -> Result<(), AdminError> {
    let ok = (3..=254).contains(&email.len())
        && email.split_once('@').is_some_and(|(l, d)| {
            !l.is_empty() && d.contains('.') && !d.starts_with('.') && !d.ends_with('.')
        })
        && !email
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '<' || c == '>' || c == ',');
    if ok {
        Ok(())
    } else {
        Err(invalid(
            "email",
            "must be an email address like name@example.org",
        ))
    }
}

fn check_name(name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "must be 1 to 100 characters, without control characters",
        ));
    }
    Ok(name.to_string())
}

/// An E.164 number: `+`, a country code and number, 8 to 15 digits in all, no spaces.
pub fn valid_e164(phone: &str) -> bool {
    phone.strip_prefix('+').is_some_and(|d| {
        (8..=15).contains(&d.len()) && d.bytes().all(|b| b.is_ascii_digit()) && !d.starts_with('0')
    })
}

fn check_phone(phone: &str) -> Result<String, AdminError> {
    let phone = phone.trim();
    if valid_e164(phone) {
        Ok(phone.to_string())
    } else {
        Err(invalid(
            "phone",
            "must be an E.164 number: + then country code and number, 8 to 15 digits, no spaces, e.g. +8613800138000",
        ))
    }
}

fn check_role(role: &str) -> Result<Role, AdminError> {
    Role::parse(role).ok_or_else(|| invalid("role", "must be counselor, supervisor or admin"))
}

fn check_locale(locale: &str) -> Result<String, AdminError> {
    LOCALES
        .iter()
        .find(|l| l.eq_ignore_ascii_case(locale))
        .map(|l| l.to_string())
        .ok_or_else(|| invalid("locale", "must be zh-CN, zh-TW or en"))
}

fn check_sites(conn: &mut AnyConnection, sites: &[String]) -> Result<Vec<String>, AdminError> {
    let mut out: Vec<String> = Vec::new();
    for s in sites {
        if !store::site_exists(conn, s)? {
            return Err(invalid(
                "sites",
                format!(
                    "no site `{}`; create it first",
                    s.chars().take(64).collect::<String>()
                ),
            ));
        }
        if !out.contains(s) {
            out.push(s.clone());
        }
    }
    Ok(out)
}

fn view(conn: &mut AnyConnection, u: UserRow) -> Result<UserView, DbError> {
    let sites = store::user_sites(conn, &u.id)?;
    Ok(UserView {
        role: Role::parse(&u.role).unwrap_or(Role::Counselor),
        id: u.id,
        email: u.email,
        name: u.name,
        sites,
        active: u.active,
        locale: u.locale,
        phone: u.phone,
    })
}

/// Creates a user; returns it and, when none was given, the generated password (shown once).
pub fn create_user(
    conn: &mut AnyConnection,
    who: &Who,
    new: &NewUser,
) -> Result<(UserView, Option<String>), AdminError> {
    let email = normalize_email(&new.email);
    check_email(&email)?;
    let name = check_name(&new.name)?;
    let role = check_role(&new.role)?;
    let locale = check_locale(new.locale.as_deref().unwrap_or("zh-CN"))?;
    let phone = new.phone.as_deref().map(check_phone).transpose()?;
    let (password, generated) = match &new.password {
        Some(p) => (p.clone(), None),
        None => {
            let p = password::generate();
            (p.clone(), Some(p))
        }
    };
    password::check_new(&password).map_err(|m| invalid("password", m))?;
    let sites = check_sites(conn, &new.sites)?;
    let hash = password::hash(&password).map_err(|m| invalid("password", m))?;
    let now = Utc::now().naive_utc();
    let row = UserRow {
        id: uuid::Uuid::now_v7().to_string(),
        email: email.clone(),
        name,
        role: role.as_str().into(),
        password_hash: hash,
        active: true,
        locale,
        created_at: now,
        updated_at: now,
        phone,
    };
    let result = write_transaction(conn, |c| {
        store::insert_user(c, &row)?;
        store::set_user_sites(c, &row.id, &sites)?;
        audit::record(
            c,
            who,
            "user.created",
            Some(&row.id),
            serde_json::json!({"email": email, "role": role.as_str(), "sites": sites, "phone": row.phone.is_some()}),
        )
    });
    match result {
        Ok(()) => {}
        Err(e) if e.is_unique_violation() => {
            return Err(AdminError::Conflict("a user with this email exists".into()));
        }
        Err(e) => return Err(e.into()),
    }
    Ok((view(conn, row)?, generated))
}

pub fn list_users(conn: &mut AnyConnection) -> Result<Vec<UserView>, AdminError> {
    let users = store::list_users(conn)?;
    let mut sites = std::collections::HashMap::<String, Vec<String>>::new();
    for (user, site) in store::all_user_sites(conn)? {
        sites.entry(user).or_default().push(site);
    }
    Ok(users
        .into_iter()
        .map(|u| UserView {
            role: Role::parse(&u.role).unwrap_or(Role::Counselor),
            sites: sites.remove(&u.id).unwrap_or_default(),
            id: u.id,
            email: u.email,
            name: u.name,
            active: u.active,
            locale: u.locale,
            phone: u.phone,
        })
        .collect())
}

/// Changes a user. A change of role, password or active state ends their sessions at once.
/// The last active admin cannot be disabled or demoted.
pub fn update_user(
    conn: &mut AnyConnection,
    who: &Who,
    id: &str,
    patch: &UserPatch,
) -> Result<UserView, AdminError> {
    let mut changes = UserChanges::default();
    let mut changed: Vec<&str> = Vec::new();
    if let Some(name) = &patch.name {
        changes.name = Some(check_name(name)?);
        changed.push("name");
    }
    let role = patch.role.as_deref().map(check_role).transpose()?;
    if let Some(role) = role {
        changes.role = Some(role.as_str().into());
        changed.push("role");
    }
    if let Some(locale) = &patch.locale {
        changes.locale = Some(check_locale(locale)?);
        changed.push("locale");
    }
    if let Some(phone) = &patch.phone {
        changes.phone = Some(if phone.trim().is_empty() {
            None
        } else {
            Some(check_phone(phone)?)
        });
        changed.push("phone");
    }
    if let Some(active) = patch.active {
        changes.active = Some(active);
        changed.push("active");
    }
    if let Some(p) = &patch.password {
        password::check_new(p).map_err(|m| invalid("password", m))?;
        changes.password_hash = Some(password::hash(p).map_err(|m| invalid("password", m))?);
        changed.push("password");
    }
    let sites = patch
        .sites
        .as_deref()
        .map(|s| check_sites(conn, s))
        .transpose()?;
    if sites.is_some() {
        changed.push("sites");
    }
    if changed.is_empty() {
        return Err(invalid(
            "body",
            "nothing to change: give name, role, sites, active, password, locale or phone",
        ));
    }
    let now = Utc::now().naive_utc();
    changes.updated_at = Some(now);
    write_transaction(conn, |c| {
        let user = store::find_user(c, id)?.ok_or(AdminError::NotFound)?;
        let demoted = user.role == "admin"
            && (role.is_some_and(|r| r != Role::Admin) || patch.active == Some(false));
        if demoted && user.active && store::count_admins(c)? <= 1 {
            return Err(AdminError::Conflict(
                "this is the last active admin: make another admin first".into(),
            ));
        }
        let old_sites = store::user_sites(c, id)?;
        store::update_user(c, id, &changes)?;
        if let Some(sites) = &sites {
            store::set_user_sites(c, id, sites)?;
        }
        // What a session may do changed: it ends. A name or language change does not.
        let mut new_sites = sites.clone().unwrap_or_else(|| old_sites.clone());
        new_sites.sort();
        let mut was = old_sites.clone();
        was.sort();
        let ends_sessions = role.is_some_and(|r| r.as_str() != user.role)
            || patch.active.is_some_and(|a| a != user.active)
            || patch.password.is_some()
            || new_sites != was;
        if ends_sessions {
            store::revoke_user_sessions(c, id, None, now)?;
        }
        audit::record(
            c,
            who,
            "user.updated",
            Some(id),
            serde_json::json!({"changed": changed, "role": role.map(Role::as_str), "active": patch.active, "sites": sites}),
        )?;
        let user = store::find_user(c, id)?.ok_or(AdminError::NotFound)?;
        Ok(view(c, user)?)
    })
}

/// A station, as listed.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Site {
    #[schema(example = "station-12", pattern = "^[a-z0-9_-]{1,64}$")]
    pub slug: String,
    #[schema(
        example = "望京站",
        min_length = 1,
        max_length = 100,
        pattern = r"^[^\x00-\x1F\x7F-\x9F]*[^\s\x00-\x1F\x7F-\x9F][^\x00-\x1F\x7F-\x9F]*$"
    )]
    pub name: String,
}

/// A station code that screenings used but no site has: a misprinted or retired poster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnknownSite {
    #[schema(example = "statoin-1", pattern = "^[a-z0-9_-]{1,64}$")]
    pub code: String,
    /// Screenings with this code in the window.
    #[schema(example = 3, minimum = 1)]
    pub count: i64,
    /// The latest, in UTC (RFC 3339).
    #[schema(example = "2026-12-02T06:30:00Z")]
    pub last_seen: String,
    /// The same in China time.
    #[schema(example = "2026-12-02T14:30:00+08:00")]
    pub last_seen_local: String,
}

/// How many China-time days (today included) the unknown codes are listed for.
pub const UNKNOWN_SITE_DAYS: i64 = 7;

/// Unknown station codes of the last 7 China-time days (today and the 6 before), most recent
/// first; a code that has since been created as a site is left out.
pub fn unknown_sites(
    conn: &mut AnyConnection,
    now: NaiveDateTime,
) -> Result<Vec<UnknownSite>, AdminError> {
    let since =
        crate::china_time::local(now).date() - chrono::Duration::days(UNKNOWN_SITE_DAYS - 1);
    let known: std::collections::HashSet<String> = store::list_sites(conn)?
        .into_iter()
        .map(|s| s.slug)
        .collect();
    let mut by_code: std::collections::BTreeMap<String, (i64, NaiveDateTime)> =
        std::collections::BTreeMap::new();
    for (code, _day, count, last_seen) in store::unknown_site_codes(conn, since)? {
        if known.contains(&code) {
            continue;
        }
        let e = by_code.entry(code).or_insert((0, last_seen));
        e.0 += i64::from(count);
        e.1 = e.1.max(last_seen);
    }
    let mut seen: Vec<(String, (i64, NaiveDateTime))> = by_code.into_iter().collect();
    seen.sort_by(|a, b| b.1.1.cmp(&a.1.1).then(a.0.cmp(&b.0)));
    let list = seen
        .into_iter()
        .map(|(code, (count, last))| UnknownSite {
            code,
            count,
            last_seen: crate::china_time::utc_rfc3339(last),
            last_seen_local: crate::china_time::local_rfc3339(last),
        })
        .collect();
    Ok(list)
}

pub fn valid_slug(slug: &str) -> bool {
    (1..=64).contains(&slug.len())
        && slug
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
}

fn check_site_name(name: &str) -> Result<String, AdminError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(invalid(
            "name",
            "must be 1 to 100 characters, without control characters",
        ));
    }
    Ok(name.to_string())
}

pub fn list_sites(conn: &mut AnyConnection) -> Result<Vec<Site>, AdminError> {
    Ok(store::list_sites(conn)?
        .into_iter()
        .map(|s| Site {
            slug: s.slug,
            name: s.name,
        })
        .collect())
}

pub fn create_site(conn: &mut AnyConnection, who: &Who, site: &Site) -> Result<Site, AdminError> {
    if !valid_slug(&site.slug) {
        return Err(invalid(
            "slug",
            "must be 1 to 64 of a-z, 0-9, - and _ (it goes in QR code links)",
        ));
    }
    let name = check_site_name(&site.name)?;
    let row = SiteRow {
        slug: site.slug.clone(),
        name: name.clone(),
        created_at: Utc::now().naive_utc(),
    };
    let result = write_transaction(conn, |c| {
        store::insert_site(c, &row)?;
        audit::record(
            c,
            who,
            "site.created",
            Some(&row.slug),
            serde_json::json!({"name": name}),
        )
    });
    match result {
        Ok(()) => Ok(Site {
            slug: row.slug,
            name: row.name,
        }),
        Err(e) if e.is_unique_violation() => {
            Err(AdminError::Conflict("a site with this slug exists".into()))
        }
        Err(e) => Err(e.into()),
    }
}

pub fn rename_site(
    conn: &mut AnyConnection,
    who: &Who,
    slug: &str,
    name: &str,
) -> Result<Site, AdminError> {
    let name = check_site_name(name)?;
    write_transaction(conn, |c| {
        if store::rename_site(c, slug, &name)? == 0 {
            return Err(AdminError::NotFound);
        }
        audit::record(
            c,
            who,
            "site.updated",
            Some(slug),
            serde_json::json!({"name": name}),
        )?;
        Ok(Site {
            slug: slug.to_string(),
            name: name.clone(),
        })
    })
}
