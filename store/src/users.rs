//! Staff users: login email, roles (a set), supervisor for trainees, disabled flag, argon2
//! password hash (hashed by the assistant), TOTP secret (encrypted at rest), the last accepted
//! TOTP time step (replay guard, RFC 6238 §5.2) and single-use recovery-code hashes.

use std::collections::BTreeSet;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    db::{Row, Sql, Tx},
    ids::{PracticeId, UserId},
    types::{EmailAddress, now},
};

/// A staff role. A user holds a set of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Clinician,
    Trainee,
    Supervisor,
    FrontDesk,
    Biller,
}

impl Role {
    pub const ALL: [Role; 6] = [Role::Admin, Role::Clinician, Role::Trainee, Role::Supervisor, Role::FrontDesk, Role::Biller];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Trainee => "trainee",
            Role::Supervisor => "supervisor",
            Role::FrontDesk => "front_desk",
            Role::Biller => "biller",
        }
    }

    pub fn parse(s: &str) -> Result<Self> {
        Role::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| {
            StoreError::Invalid(format!("unknown role '{s}': use admin, clinician, trainee, supervisor, front_desk or biller"))
        })
    }
}

/// A set of roles, stored as a sorted comma-separated list.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoleSet(BTreeSet<Role>);

impl RoleSet {
    pub fn new(roles: impl IntoIterator<Item = Role>) -> Self {
        Self(roles.into_iter().collect())
    }
    pub fn contains(&self, r: Role) -> bool {
        self.0.contains(&r)
    }
    pub fn iter(&self) -> impl Iterator<Item = Role> + '_ {
        self.0.iter().copied()
    }
    fn encode(&self) -> String {
        self.0.iter().map(|r| r.as_str()).collect::<Vec<_>>().join(",")
    }
    fn decode(s: &str) -> Result<Self> {
        s.split(',').filter(|p| !p.is_empty()).map(Role::parse).collect::<Result<_>>().map(Self)
    }
}

/// A staff user, without secrets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct StaffUser {
    pub user_id: UserId,
    pub practice_id: PracticeId,
    pub email: EmailAddress,
    pub display_name: String,
    pub roles: RoleSet,
    pub supervisor_id: Option<UserId>,
    pub disabled: bool,
    pub has_totp: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Fields to create a user.
#[derive(Clone, Debug)]
pub struct NewStaffUser {
    pub email: EmailAddress,
    pub display_name: String,
    pub roles: RoleSet,
    /// Required when `roles` contains `Trainee`.
    pub supervisor_id: Option<UserId>,
    /// An argon2 PHC string produced by the assistant.
    pub password_hash: String,
}

/// Editable profile fields.
#[derive(Clone, Debug)]
pub struct StaffUserUpdate {
    pub display_name: String,
    pub roles: RoleSet,
    pub supervisor_id: Option<UserId>,
    pub disabled: bool,
}

/// What login needs: the user plus the password hash and TOTP state.
pub struct LoginRecord {
    pub user: StaffUser,
    pub password_hash: String,
    pub totp_last_step: Option<i64>,
}

impl std::fmt::Debug for LoginRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoginRecord").field("user", &self.user).finish_non_exhaustive()
    }
}

pub use crate::second_factor::{RecoveryCode, TotpStep};

pub const MAX_DISPLAY_NAME: usize = 100;

pub(crate) const COLUMNS: &str = "staff_user_id, practice_id, login_email, display_name, roles, supervisor_id, disabled, \
    (totp_secret IS NOT NULL) AS has_totp, created_at, updated_at";

fn from_row(r: &Row) -> Result<StaffUser> {
    Ok(StaffUser {
        user_id: UserId::from_uuid(r.get("staff_user_id")?),
        practice_id: PracticeId::from_uuid(r.get("practice_id")?),
        email: EmailAddress::parse(&r.get::<String>("login_email")?)?,
        display_name: r.get("display_name")?,
        roles: RoleSet::decode(&r.get::<String>("roles")?)?,
        supervisor_id: r.get::<Option<Uuid>>("supervisor_id")?.map(UserId::from_uuid),
        disabled: r.get("disabled")?,
        has_totp: r.get("has_totp")?,
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn check_name(name: &str) -> Result<()> {
    let n = name.trim().chars().count();
    if n == 0 || n > MAX_DISPLAY_NAME {
        return Err(StoreError::Invalid(format!("display name must be 1-{MAX_DISPLAY_NAME} characters")));
    }
    Ok(())
}

/// A trainee needs a supervisor in the same practice; a non-trainee has none.
async fn check_supervisor(tx: &mut Tx, actor: &Actor, roles: &RoleSet, supervisor: Option<UserId>) -> Result<()> {
    match (roles.contains(Role::Trainee), supervisor) {
        (true, None) => Err(StoreError::Invalid("a trainee needs a supervisor_id".to_owned())),
        (false, Some(_)) => Err(StoreError::Invalid("only trainees have a supervisor".to_owned())),
        (false, None) => Ok(()),
        (true, Some(s)) => {
            let found = tx
                .fetch_optional(
                    Sql::new("SELECT 1 AS one FROM staff_user WHERE staff_user_id = $1 AND practice_id = $2").bind(s).bind(actor.practice_id),
                    "checking the supervisor",
                )
                .await?;
            found.map(|_| ()).ok_or_else(|| StoreError::Invalid("supervisor_id is not a user of this practice".to_owned()))
        }
    }
}

impl Store {
    pub async fn create_user(&self, actor: &Actor, new: &NewStaffUser) -> Result<StaffUser> {
        check_name(&new.display_name)?;
        if new.roles.0.is_empty() {
            return Err(StoreError::Invalid("a user needs at least one role".to_owned()));
        }
        let keys = self.keys();
        let id = UserId::new();
        let t = now();
        let mut tx = self.begin().await?;
        check_supervisor(&mut tx, actor, &new.roles, new.supervisor_id).await?;
        tx.execute(
            Sql::new(
                "INSERT INTO staff_user (staff_user_id, practice_id, login_email, display_name, roles, supervisor_id, disabled, \
                 password_hash, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,FALSE,$7,$8,$8)",
            )
            .bind(id)
            .bind(actor.practice_id)
            .bind(new.email.as_str())
            .bind(new.display_name.trim())
            .bind(new.roles.encode())
            .bind(new.supervisor_id)
            .bind(new.password_hash.as_str())
            .bind(t),
            "creating a staff user",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "user.create", "staff_user", Some(id.to_string())).await?;
        let user = Self::user_in(&mut tx, actor.practice_id, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub(crate) async fn user_in(tx: &mut Tx, practice: PracticeId, id: UserId) -> Result<StaffUser> {
        let row = tx
            .fetch_one(
                Sql::dynamic(format!("SELECT {COLUMNS} FROM staff_user WHERE staff_user_id = $1 AND practice_id = $2")).bind(id).bind(practice),
                "reading a staff user",
            )
            .await?;
        from_row(&row)
    }

    pub async fn get_user(&self, actor: &Actor, id: UserId) -> Result<StaffUser> {
        let mut tx = self.begin().await?;
        Self::user_in(&mut tx, actor.practice_id, id).await
    }

    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<StaffUser>> {
        let mut tx = self.begin().await?;
        let rows = tx
            .fetch_all(
                Sql::dynamic(format!("SELECT {COLUMNS} FROM staff_user WHERE practice_id = $1 ORDER BY display_name")).bind(actor.practice_id),
                "listing staff users",
            )
            .await?;
        rows.iter().map(from_row).collect()
    }

    pub async fn update_user(&self, actor: &Actor, id: UserId, upd: &StaffUserUpdate) -> Result<StaffUser> {
        check_name(&upd.display_name)?;
        if upd.supervisor_id == Some(id) {
            return Err(StoreError::Invalid("a user cannot supervise themself".to_owned()));
        }
        let keys = self.keys();
        let mut tx = self.begin().await?;
        check_supervisor(&mut tx, actor, &upd.roles, upd.supervisor_id).await?;
        let n = tx
            .execute(
                Sql::new("UPDATE staff_user SET display_name = $3, roles = $4, supervisor_id = $5, disabled = $6, updated_at = $7 WHERE staff_user_id = $1 AND practice_id = $2")
                    .bind(id)
                    .bind(actor.practice_id)
                    .bind(upd.display_name.trim())
                    .bind(upd.roles.encode())
                    .bind(upd.supervisor_id)
                    .bind(upd.disabled)
                    .bind(now()),
                "updating a staff user",
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.audit(&mut tx, &keys, actor, "user.update", "staff_user", Some(id.to_string())).await?;
        let user = Self::user_in(&mut tx, actor.practice_id, id).await?;
        tx.commit().await?;
        Ok(user)
    }

    pub async fn set_password_hash(&self, actor: &Actor, id: UserId, password_hash: &str) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new("UPDATE staff_user SET password_hash = $3, updated_at = $4 WHERE staff_user_id = $1 AND practice_id = $2")
                    .bind(id)
                    .bind(actor.practice_id)
                    .bind(password_hash)
                    .bind(now()),
                "setting a password",
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.audit(&mut tx, &keys, actor, "user.password", "staff_user", Some(id.to_string())).await?;
        tx.commit().await
    }

    /// Looks a user up by login email for sign-in (before any actor exists). Login emails are
    /// unique across practices.
    pub async fn find_login(&self, email: &EmailAddress) -> Result<Option<LoginRecord>> {
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_optional(
                Sql::dynamic(format!("SELECT {COLUMNS}, password_hash, totp_last_step FROM staff_user WHERE login_email = $1")).bind(email.as_str()),
                "looking up a login",
            )
            .await?;
        row.map(|r| Ok(LoginRecord { user: from_row(&r)?, password_hash: r.get("password_hash")?, totp_last_step: r.get("totp_last_step")? }))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_sets_round_trip_through_their_stored_form() {
        let r = RoleSet::new([Role::Trainee, Role::Clinician]);
        assert_eq!(r.encode(), "clinician,trainee");
        assert_eq!(RoleSet::decode(&r.encode()).expect("valid"), r);
    }

    #[test]
    fn unknown_roles_are_rejected_with_the_valid_list() {
        let err = Role::parse("owner").expect_err("unknown");
        assert!(err.to_string().contains("front_desk"));
    }
}
