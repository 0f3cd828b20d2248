//! Practices: the tenant boundary. Every other record belongs to exactly one practice, and every
//! query is scoped to the actor's.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError,
    db::{Row, Sql},
    ids::PracticeId,
    types::{E164, TimeZoneName, now},
};

/// A practice's editable fields.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PracticeDetails {
    pub name: String,
    pub phone: Option<E164>,
    pub time_zone: TimeZoneName,
    /// Practice rules (reminder offsets, quiet hours…) as JSON, owned by the assistant.
    pub settings: serde_json::Value,
}

/// A stored practice.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Practice {
    pub practice_id: PracticeId,
    #[serde(flatten)]
    pub details: PracticeDetails,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Longest practice name accepted.
pub const MAX_PRACTICE_NAME: usize = 200;

fn check(d: &PracticeDetails) -> Result<()> {
    let n = d.name.trim();
    if n.is_empty() || n.chars().count() > MAX_PRACTICE_NAME {
        return Err(StoreError::Invalid(format!("practice name must be 1-{MAX_PRACTICE_NAME} characters")));
    }
    if !d.settings.is_object() {
        return Err(StoreError::Invalid("practice settings must be a JSON object".to_owned()));
    }
    Ok(())
}

fn from_row(r: &Row) -> Result<Practice> {
    let phone: Option<String> = r.get("phone")?;
    let settings: String = r.get("settings")?;
    Ok(Practice {
        practice_id: PracticeId::from_uuid(r.get::<Uuid>("practice_id")?),
        details: PracticeDetails {
            name: r.get("name")?,
            phone: phone.map(|p| E164::parse(&p)).transpose()?,
            time_zone: TimeZoneName::parse(&r.get::<String>("time_zone")?)?,
            settings: serde_json::from_str(&settings)
                .map_err(|e| StoreError::Invalid(format!("stored practice settings are not JSON: {e}")))?,
        },
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    })
}

const COLUMNS: &str = "practice_id, name, phone, time_zone, settings, created_at, updated_at";

impl Store {
    /// Creates a practice (first-run setup; audited as the system of the new practice).
    pub async fn create_practice(&self, details: &PracticeDetails) -> Result<Practice> {
        check(details)?;
        let keys = self.keys();
        let id = PracticeId::new();
        let t = now();
        let mut tx = self.begin().await?;
        tx.execute(
            Sql::new("INSERT INTO practice (practice_id, name, phone, time_zone, settings, created_at, updated_at) VALUES ($1,$2,$3,$4,$5,$6,$6)")
                .bind(id)
                .bind(details.name.trim())
                .bind(details.phone.as_ref().map(|p| p.as_str().to_owned()))
                .bind(details.time_zone.as_str())
                .bind(details.settings.to_string())
                .bind(t),
            "creating a practice",
        )
        .await?;
        self.audit(&mut tx, &keys, &Actor::system(id), "practice.create", "practice", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(Practice { practice_id: id, details: PracticeDetails { name: details.name.trim().to_owned(), ..details.clone() }, created_at: t, updated_at: t })
    }

    /// The actor's practice.
    pub async fn get_practice(&self, actor: &Actor) -> Result<Practice> {
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_one(Sql::dynamic(format!("SELECT {COLUMNS} FROM practice WHERE practice_id = $1")).bind(actor.practice_id), "reading a practice")
            .await?;
        from_row(&row)
    }

    /// Every practice (for the scheduler and CLI; practices hold no PHI).
    pub async fn list_practices(&self) -> Result<Vec<Practice>> {
        let mut tx = self.begin().await?;
        let rows = tx.fetch_all(Sql::dynamic(format!("SELECT {COLUMNS} FROM practice ORDER BY name")), "listing practices").await?;
        rows.iter().map(from_row).collect()
    }

    /// Replaces the actor's practice details.
    pub async fn update_practice(&self, actor: &Actor, details: &PracticeDetails) -> Result<Practice> {
        check(details)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let n = tx
            .execute(
                Sql::new("UPDATE practice SET name = $2, phone = $3, time_zone = $4, settings = $5, updated_at = $6 WHERE practice_id = $1")
                    .bind(actor.practice_id)
                    .bind(details.name.trim())
                    .bind(details.phone.as_ref().map(|p| p.as_str().to_owned()))
                    .bind(details.time_zone.as_str())
                    .bind(details.settings.to_string())
                    .bind(now()),
                "updating a practice",
            )
            .await?;
        if n == 0 {
            return Err(StoreError::NotFound);
        }
        self.audit(&mut tx, &keys, actor, "practice.update", "practice", Some(actor.practice_id.to_string())).await?;
        let row = tx
            .fetch_one(Sql::dynamic(format!("SELECT {COLUMNS} FROM practice WHERE practice_id = $1")).bind(actor.practice_id), "reading a practice")
            .await?;
        tx.commit().await?;
        from_row(&row)
    }
}
