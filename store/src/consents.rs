//! Consents: to texting (TCPA), to AI scribing of sessions, and 42 CFR Part 2 disclosure
//! consents, which name a recipient, purpose and scope (42 CFR 2.31(a)) and may expire or be
//! revoked. The Part 2 details are PHI and encrypted under a per-consent data key.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    appointments::text_enum,
    clients::{ClientScope, SCOPE, require_visible, row_key, scoped},
    crypto::RecordKey,
    db::{Row, Sql},
    ids::{ClientId, ConsentId, UserId},
    keyfile::Keyring,
    types::{now, truncate},
};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsentKind {
    Texting,
    AiScribing,
    Part2Disclosure,
}
text_enum!(ConsentKind { Texting = "texting", AiScribing = "ai_scribing", Part2Disclosure = "part2_disclosure" });

/// What a Part 2 consent allows: to whom, why, and how much (42 CFR 2.31(a)(3)-(5)).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Part2Disclosure {
    pub recipient: String,
    pub purpose: String,
    pub scope: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewConsent {
    pub client_id: ClientId,
    pub kind: ConsentKind,
    /// Required for `Part2Disclosure`, absent otherwise.
    pub disclosure: Option<Part2Disclosure>,
    pub granted_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Consent {
    pub consent_id: ConsentId,
    pub client_id: ClientId,
    pub kind: ConsentKind,
    pub disclosure: Option<Part2Disclosure>,
    pub granted_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub recorded_by: Option<UserId>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Consent {
    /// Granted, not revoked, not expired at `t`.
    pub fn is_active_at(&self, t: DateTime<Utc>) -> bool {
        self.granted_at <= t && self.revoked_at.is_none_or(|r| r > t) && self.expires_at.is_none_or(|e| e > t)
    }
}

pub const MAX_FIELD: usize = 1000;

const COLUMNS: &str = "k.consent_id, k.client_id, k.kind, k.details, k.granted_at, k.expires_at, k.revoked_at, k.recorded_by, k.created_at, k.updated_at, \
    k.data_key_id, dk.kek_id, dk.wrapped";
const FROM: &str = "consent k JOIN client c ON c.client_id = k.client_id JOIN data_key dk ON dk.data_key_id = k.data_key_id";

fn from_row(keys: &Keyring, r: &Row) -> Result<Consent> {
    let id: Uuid = r.get("consent_id")?;
    let k = row_key(keys, r)?;
    let disclosure = k
        .open_opt("consent", "details", id, r.get("details")?)?
        .map(|j| serde_json::from_str(&j).map_err(|_| StoreError::Decrypt { table: "consent", column: "details", row_id: id.to_string() }))
        .transpose()?;
    Ok(Consent {
        consent_id: ConsentId::from_uuid(id),
        client_id: ClientId::from_uuid(r.get("client_id")?),
        kind: ConsentKind::parse(&r.get::<String>("kind")?)?,
        disclosure,
        granted_at: r.get("granted_at")?,
        expires_at: r.get("expires_at")?,
        revoked_at: r.get("revoked_at")?,
        recorded_by: r.get::<Option<Uuid>>("recorded_by")?.map(UserId::from_uuid),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

fn check(c: &NewConsent) -> Result<()> {
    match (c.kind, &c.disclosure) {
        (ConsentKind::Part2Disclosure, None) => return Err(StoreError::Invalid("a Part 2 consent must name recipient, purpose and scope".to_owned())),
        (ConsentKind::Part2Disclosure, Some(d)) => {
            for f in [&d.recipient, &d.purpose, &d.scope] {
                if f.trim().is_empty() || f.len() > MAX_FIELD {
                    return Err(StoreError::Invalid(format!("recipient, purpose and scope must be 1-{MAX_FIELD} bytes")));
                }
            }
        }
        (_, Some(_)) => return Err(StoreError::Invalid("only Part 2 consents carry disclosure details".to_owned())),
        (_, None) => {}
    }
    if c.expires_at.is_some_and(|e| e <= c.granted_at) {
        return Err(StoreError::Invalid("expires_at must be after granted_at".to_owned()));
    }
    Ok(())
}

impl Store {
    pub async fn record_consent(&self, actor: &Actor, scope: ClientScope, new: &NewConsent) -> Result<Consent> {
        check(new)?;
        let keys = self.keys();
        let id = ConsentId::new();
        let t = now();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, new.client_id).await?;
        let k = RecordKey::create(&mut tx, &keys).await?;
        let details = new.disclosure.as_ref().map(|d| k.seal("consent", "details", id.as_uuid(), &serde_json::to_string(d).expect("plain struct serialises")));
        tx.execute(
            Sql::new(
                "INSERT INTO consent (consent_id, practice_id, client_id, kind, data_key_id, details, granted_at, expires_at, recorded_by, created_at, updated_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$10)",
            )
            .bind(id)
            .bind(actor.practice_id)
            .bind(new.client_id)
            .bind(new.kind.as_str())
            .bind(k.data_key_id)
            .bind(details)
            .bind(truncate(new.granted_at))
            .bind(new.expires_at.map(truncate))
            .bind(actor.user_id)
            .bind(t),
            "recording a consent",
        )
        .await?;
        self.audit(&mut tx, &keys, actor, "consent.create", "consent", Some(id.to_string())).await?;
        let c = self.consent_in(&mut tx, &keys, actor, ClientScope::Practice, id).await?;
        tx.commit().await?;
        Ok(c)
    }

    async fn consent_in(&self, tx: &mut crate::db::Tx, keys: &Keyring, actor: &Actor, scope: ClientScope, id: ConsentId) -> Result<Consent> {
        let row = tx.fetch_one(scoped(format!("SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND k.consent_id = $3"), actor, scope).bind(id), "reading a consent").await?;
        from_row(keys, &row)
    }

    pub async fn get_consent(&self, actor: &Actor, scope: ClientScope, id: ConsentId) -> Result<Consent> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let c = self.consent_in(&mut tx, &keys, actor, scope, id).await?;
        self.audit(&mut tx, &keys, actor, "consent.read", "consent", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(c)
    }

    pub async fn list_consents(&self, actor: &Actor, scope: ClientScope, client: ClientId) -> Result<Vec<Consent>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        require_visible(&mut tx, actor, scope, client).await?;
        let rows = tx.fetch_all(scoped(format!("SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND k.client_id = $3 ORDER BY k.consent_id"), actor, scope).bind(client), "listing consents").await?;
        let out = rows.iter().map(|r| from_row(&keys, r)).collect::<Result<Vec<_>>>()?;
        self.audit(&mut tx, &keys, actor, "consent.list", "client", Some(client.to_string())).await?;
        tx.commit().await?;
        Ok(out)
    }

    /// Revokes a consent from now on (42 CFR 2.31(a)(6)); revoking twice is a `State` error.
    pub async fn revoke_consent(&self, actor: &Actor, scope: ClientScope, id: ConsentId) -> Result<Consent> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let c = self.consent_in(&mut tx, &keys, actor, scope, id).await?;
        if c.revoked_at.is_some() {
            return Err(StoreError::State("the consent is already revoked".to_owned()));
        }
        let t = now();
        tx.execute(Sql::new("UPDATE consent SET revoked_at = $2, updated_at = $2 WHERE consent_id = $1").bind(id).bind(t), "revoking a consent").await?;
        self.audit(&mut tx, &keys, actor, "consent.revoke", "consent", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(Consent { revoked_at: Some(t), updated_at: t, ..c })
    }

    /// The most recently granted consent of `kind` that is active now, if any.
    pub async fn active_consent(&self, actor: &Actor, scope: ClientScope, client: ClientId, kind: ConsentKind) -> Result<Option<Consent>> {
        let t = Utc::now();
        let all = self.list_consents(actor, scope, client).await?;
        Ok(all.into_iter().filter(|c| c.kind == kind && c.is_active_at(t)).max_by_key(|c| c.granted_at))
    }
}
