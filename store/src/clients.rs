//! Clients (patients): identity and contact details encrypted at rest under a per-client data
//! key, searchable by keyed blind index (name tokens and prefixes, E.164 phone), guardian and
//! extra contacts, explicit shares with other clinicians, and [`ClientScope`], the visibility
//! rule every client, appointment, consent, message and note query applies in SQL.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{
    Actor, Result, Store, StoreError, blind_index,
    crypto::RecordKey,
    db::{Row, Sql, Tx, Value},
    ids::{ClientId, ContactId, PracticeId, UserId},
    keyfile::Keyring,
    types::{E164, EmailAddress, TimeZoneName, now},
};

pub use crate::scope::ClientScope;
pub(crate) use crate::scope::{SCOPE, require_visible, scoped};

/// A channel a client can be reached on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Telegram,
    Email,
    Portal,
}

/// A guardian or extra contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactDetails {
    pub name: String,
    /// e.g. "mother", "guardian", "spouse".
    pub relation: String,
    pub phone: Option<E164>,
    pub email: Option<EmailAddress>,
    pub receives_reminders: bool,
}

/// A stored contact.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientContact {
    pub contact_id: ContactId,
    #[serde(flatten)]
    pub details: ContactDetails,
}

/// A client's editable fields. Contacts are replaced as a whole on update.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientDetails {
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<E164>,
    pub email: Option<EmailAddress>,
    pub telegram_chat_id: Option<i64>,
    pub time_zone: TimeZoneName,
    /// In order of preference.
    pub channel_preferences: Vec<Channel>,
    /// Consent to receive texts (TCPA); the detailed record is a `Consent`.
    pub texting_consent: bool,
    pub primary_clinician_id: Option<UserId>,
    pub contacts: Vec<ContactDetails>,
}

/// A stored client, decrypted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Client {
    pub client_id: ClientId,
    pub practice_id: PracticeId,
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub phone: Option<E164>,
    pub email: Option<EmailAddress>,
    pub telegram_chat_id: Option<i64>,
    pub time_zone: TimeZoneName,
    pub channel_preferences: Vec<Channel>,
    pub texting_consent: bool,
    pub primary_clinician_id: Option<UserId>,
    pub contacts: Vec<ClientContact>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

pub const MAX_NAME: usize = 100;
pub const MAX_CONTACTS: usize = 10;
/// Most clients one list or search returns.
pub const MAX_CLIENTS_LISTED: i64 = 5000;
/// Most words in a name search.
pub const MAX_SEARCH_TERMS: usize = 5;

fn check(d: &ClientDetails) -> Result<()> {
    for (what, v) in [("first_name", Some(&d.first_name)), ("last_name", Some(&d.last_name)), ("preferred_name", d.preferred_name.as_ref())] {
        if let Some(v) = v {
            let n = v.trim().chars().count();
            if n == 0 || n > MAX_NAME {
                return Err(StoreError::Invalid(format!("{what} must be 1-{MAX_NAME} characters")));
            }
        }
    }
    if d.contacts.len() > MAX_CONTACTS {
        return Err(StoreError::Invalid(format!("at most {MAX_CONTACTS} contacts per client")));
    }
    for c in &d.contacts {
        if c.name.trim().is_empty() || c.name.chars().count() > MAX_NAME || c.relation.trim().is_empty() || c.relation.chars().count() > MAX_NAME {
            return Err(StoreError::Invalid(format!("contact name and relation must be 1-{MAX_NAME} characters")));
        }
    }
    Ok(())
}

const COLUMNS: &str = "c.client_id, c.practice_id, c.data_key_id, dk.kek_id, dk.wrapped, c.first_name, c.last_name, c.preferred_name, \
    c.date_of_birth, c.phone, c.email, c.telegram_chat_id, c.time_zone, c.channel_preferences, c.texting_consent, \
    c.primary_clinician_id, c.created_at, c.updated_at";
const FROM: &str = "client c JOIN data_key dk ON dk.data_key_id = c.data_key_id";

/// Unwraps the record key from a row that selected `data_key_id, kek_id, wrapped`.
pub(crate) fn row_key(keys: &Keyring, r: &Row) -> Result<RecordKey> {
    RecordKey::unwrap(keys, r.get("data_key_id")?, &r.get::<String>("kek_id")?, &r.get::<Vec<u8>>("wrapped")?)
}

async fn from_row(tx: &mut Tx, keys: &Keyring, r: &Row) -> Result<Client> {
    const T: &str = "client";
    let id: Uuid = r.get("client_id")?;
    let k = row_key(keys, r)?;
    let open = |col: &'static str| -> Result<String> { k.open(T, col, id, &r.get::<Vec<u8>>(col)?) };
    let open_opt = |col: &'static str| -> Result<Option<String>> { k.open_opt(T, col, id, r.get(col)?) };
    let bad = |col: &'static str| StoreError::Decrypt { table: T, column: col, row_id: id.to_string() };
    let prefs: String = r.get("channel_preferences")?;
    let mut client = Client {
        client_id: ClientId::from_uuid(id),
        practice_id: PracticeId::from_uuid(r.get("practice_id")?),
        first_name: open("first_name")?,
        last_name: open("last_name")?,
        preferred_name: open_opt("preferred_name")?,
        date_of_birth: open_opt("date_of_birth")?
            .map(|d| NaiveDate::parse_from_str(&d, "%Y-%m-%d").map_err(|_| bad("date_of_birth")))
            .transpose()?,
        phone: open_opt("phone")?.map(|p| E164::parse(&p)).transpose()?,
        email: open_opt("email")?.map(|e| EmailAddress::parse(&e)).transpose()?,
        telegram_chat_id: open_opt("telegram_chat_id")?.map(|t| t.parse().map_err(|_| bad("telegram_chat_id"))).transpose()?,
        time_zone: TimeZoneName::parse(&r.get::<String>("time_zone")?)?,
        channel_preferences: serde_json::from_str(&prefs).map_err(|e| StoreError::Invalid(format!("stored channel_preferences: {e}")))?,
        texting_consent: r.get("texting_consent")?,
        primary_clinician_id: r.get::<Option<Uuid>>("primary_clinician_id")?.map(UserId::from_uuid),
        contacts: Vec::new(),
        created_at: r.get("created_at")?,
        updated_at: r.get("updated_at")?,
    };
    client.contacts = tx
        .fetch_all(
            Sql::new("SELECT client_contact_id, name, relation, phone, email, receives_reminders FROM client_contact WHERE client_id = $1 ORDER BY position")
                .bind(id),
            "reading client contacts",
        )
        .await?
        .iter()
        .map(|c| {
            const CT: &str = "client_contact";
            let cid: Uuid = c.get("client_contact_id")?;
            Ok(ClientContact {
                contact_id: ContactId::from_uuid(cid),
                details: ContactDetails {
                    name: k.open(CT, "name", cid, &c.get::<Vec<u8>>("name")?)?,
                    relation: k.open(CT, "relation", cid, &c.get::<Vec<u8>>("relation")?)?,
                    phone: k.open_opt(CT, "phone", cid, c.get("phone")?)?.map(|p| E164::parse(&p)).transpose()?,
                    email: k.open_opt(CT, "email", cid, c.get("email")?)?.map(|e| EmailAddress::parse(&e)).transpose()?,
                    receives_reminders: c.get("receives_reminders")?,
                },
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(client)
}

/// Writes everything derived from `d` for client `id`: contacts, name tokens, shares stay.
async fn write_children(tx: &mut Tx, keys: &Keyring, k: &RecordKey, id: ClientId, d: &ClientDetails) -> Result<()> {
    tx.execute(Sql::new("DELETE FROM client_contact WHERE client_id = $1").bind(id), "replacing contacts").await?;
    tx.execute(Sql::new("DELETE FROM client_name_token WHERE client_id = $1").bind(id), "replacing name tokens").await?;
    let t = now();
    for (i, c) in d.contacts.iter().enumerate() {
        const CT: &str = "client_contact";
        let cid = Uuid::now_v7();
        tx.execute(
            Sql::new(
                "INSERT INTO client_contact (client_contact_id, client_id, position, name, relation, phone, email, receives_reminders, created_at, updated_at) \
                 VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$9)",
            )
            .bind(cid)
            .bind(id)
            .bind(i as i64)
            .bind(k.seal(CT, "name", cid, c.name.trim()))
            .bind(k.seal(CT, "relation", cid, c.relation.trim()))
            .bind(k.seal_opt(CT, "phone", cid, c.phone.as_ref().map(E164::as_str)))
            .bind(k.seal_opt(CT, "email", cid, c.email.as_ref().map(EmailAddress::as_str)))
            .bind(c.receives_reminders)
            .bind(t),
            "storing a contact",
        )
        .await?;
    }
    let names = [Some(d.first_name.as_str()), Some(d.last_name.as_str()), d.preferred_name.as_deref()];
    let mut terms: Vec<String> = names.into_iter().flatten().flat_map(blind_index::index_terms).collect();
    terms.sort();
    terms.dedup();
    for term in terms {
        tx.execute(
            Sql::new("INSERT INTO client_name_token (client_id, token) VALUES ($1, $2)").bind(id).bind(blind_index::name_term(&keys.index_key, &term)),
            "indexing a client name",
        )
        .await?;
    }
    Ok(())
}

/// Binds `$3..` for the encrypted client columns in the order used by create and update.
fn sealed_columns(keys: &Keyring, k: &RecordKey, id: ClientId, d: &ClientDetails) -> Vec<Value> {
    const T: &str = "client";
    let u = id.as_uuid();
    vec![
        k.seal(T, "first_name", u, d.first_name.trim()).into(),
        k.seal(T, "last_name", u, d.last_name.trim()).into(),
        k.seal_opt(T, "preferred_name", u, d.preferred_name.as_deref().map(str::trim)).into(),
        k.seal_opt(T, "date_of_birth", u, d.date_of_birth.map(|x| x.format("%Y-%m-%d").to_string()).as_deref()).into(),
        k.seal_opt(T, "phone", u, d.phone.as_ref().map(E164::as_str)).into(),
        d.phone.as_ref().map(|p| blind_index::phone(&keys.index_key, p)).into(),
        k.seal_opt(T, "email", u, d.email.as_ref().map(EmailAddress::as_str)).into(),
        k.seal_opt(T, "telegram_chat_id", u, d.telegram_chat_id.map(|t| t.to_string()).as_deref()).into(),
        d.time_zone.as_str().into(),
        serde_json::to_string(&d.channel_preferences).expect("a Vec of unit enums serialises").into(),
        d.texting_consent.into(),
        d.primary_clinician_id.into(),
    ]
}

impl Store {
    pub async fn create_client(&self, actor: &Actor, d: &ClientDetails) -> Result<Client> {
        check(d)?;
        let keys = self.keys();
        let id = ClientId::new();
        let t = now();
        let mut tx = self.begin().await?;
        self.check_clinician(&mut tx, actor, d.primary_clinician_id).await?;
        let k = RecordKey::create(&mut tx, &keys).await?;
        let mut q = Sql::new(
            "INSERT INTO client (client_id, practice_id, first_name, last_name, preferred_name, date_of_birth, phone, phone_index, email, \
             telegram_chat_id, time_zone, channel_preferences, texting_consent, primary_clinician_id, data_key_id, created_at, updated_at) \
             VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$16)",
        )
        .bind(id)
        .bind(actor.practice_id);
        for v in sealed_columns(&keys, &k, id, d) {
            q = q.bind(v);
        }
        tx.execute(q.bind(k.data_key_id).bind(t), "creating a client").await?;
        write_children(&mut tx, &keys, &k, id, d).await?;
        self.audit(&mut tx, &keys, actor, "client.create", "client", Some(id.to_string())).await?;
        let client = self.read_client(&mut tx, &keys, actor, ClientScope::Practice, id).await?;
        tx.commit().await?;
        Ok(client)
    }

    async fn check_clinician(&self, tx: &mut Tx, actor: &Actor, user: Option<UserId>) -> Result<()> {
        if let Some(u) = user {
            Self::user_in(tx, actor.practice_id, u)
                .await
                .map_err(|e| if matches!(e, StoreError::NotFound) { StoreError::Invalid("primary_clinician_id is not a user of this practice".to_owned()) } else { e })?;
        }
        Ok(())
    }

    pub(crate) async fn read_client(&self, tx: &mut Tx, keys: &Keyring, actor: &Actor, scope: ClientScope, id: ClientId) -> Result<Client> {
        let row = tx.fetch_one(scoped(format!("SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND c.client_id = $3"), actor, scope).bind(id), "reading a client").await?;
        from_row(tx, keys, &row).await
    }

    pub async fn get_client(&self, actor: &Actor, scope: ClientScope, id: ClientId) -> Result<Client> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let client = self.read_client(&mut tx, &keys, actor, scope, id).await?;
        self.audit(&mut tx, &keys, actor, "client.read", "client", Some(id.to_string())).await?;
        tx.commit().await?;
        Ok(client)
    }

    pub async fn update_client(&self, actor: &Actor, scope: ClientScope, id: ClientId, d: &ClientDetails) -> Result<Client> {
        check(d)?;
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let row = tx
            .fetch_one(scoped(format!("SELECT c.data_key_id, dk.kek_id, dk.wrapped FROM {FROM} WHERE {SCOPE} AND c.client_id = $3"), actor, scope).bind(id), "reading a client")
            .await?;
        let k = row_key(&keys, &row)?;
        self.check_clinician(&mut tx, actor, d.primary_clinician_id).await?;
        let mut q = Sql::new(
            "UPDATE client SET first_name = $3, last_name = $4, preferred_name = $5, date_of_birth = $6, phone = $7, phone_index = $8, \
             email = $9, telegram_chat_id = $10, time_zone = $11, channel_preferences = $12, texting_consent = $13, \
             primary_clinician_id = $14, updated_at = $15 WHERE client_id = $1 AND practice_id = $2",
        )
        .bind(id)
        .bind(actor.practice_id);
        for v in sealed_columns(&keys, &k, id, d) {
            q = q.bind(v);
        }
        tx.execute(q.bind(now()), "updating a client").await?;
        write_children(&mut tx, &keys, &k, id, d).await?;
        self.audit(&mut tx, &keys, actor, "client.update", "client", Some(id.to_string())).await?;
        let client = self.read_client(&mut tx, &keys, actor, ClientScope::Practice, id).await?;
        tx.commit().await?;
        Ok(client)
    }

    /// Deletes a client with no appointments, consents, messages or notes (those are retained
    /// records; deleting them is a retention decision, not an edit).
    pub async fn delete_client(&self, actor: &Actor, scope: ClientScope, id: ClientId) -> Result<()> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let row = tx.fetch_one(scoped(format!("SELECT c.data_key_id FROM client c WHERE {SCOPE} AND c.client_id = $3"), actor, scope).bind(id), "reading a client").await?;
        let dk: Uuid = row.get("data_key_id")?;
        tx.execute(Sql::new("DELETE FROM client WHERE client_id = $1").bind(id), "deleting a client").await.map_err(|e| match e {
            StoreError::Database { source: sqlx::Error::Database(d), .. } if d.is_foreign_key_violation() => StoreError::State(
                "the client has appointments, consents, messages, outbound messages or notes, which are retained; the client cannot be deleted".to_owned(),
            ),
            other => other,
        })?;
        tx.execute(Sql::new("DELETE FROM data_key WHERE data_key_id = $1").bind(dk), "deleting a data key").await?;
        self.audit(&mut tx, &keys, actor, "client.delete", "client", Some(id.to_string())).await?;
        tx.commit().await
    }

    async fn read_clients(&self, actor: &Actor, action: &str, q: Sql) -> Result<Vec<Client>> {
        let keys = self.keys();
        let mut tx = self.begin().await?;
        let rows = tx.fetch_all(q, "listing clients").await?;
        let mut out = Vec::with_capacity(rows.len());
        for r in &rows {
            out.push(from_row(&mut tx, &keys, r).await?);
        }
        // One event per client disclosed, so an accounting per client is complete.
        self.audit_each(&mut tx, &keys, actor, action, "client", out.iter().map(|c| c.client_id.to_string())).await?;
        if out.is_empty() {
            self.audit(&mut tx, &keys, actor, action, "client", None).await?;
        }
        tx.commit().await?;
        Ok(out)
    }

    /// Clients visible in `scope`, by creation order.
    pub async fn list_clients(&self, actor: &Actor, scope: ClientScope) -> Result<Vec<Client>> {
        let q = scoped(format!("SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} ORDER BY c.client_id LIMIT $3"), actor, scope).bind(MAX_CLIENTS_LISTED);
        self.read_clients(actor, "client.list", q).await
    }

    /// Clients whose names contain every word of `query`, each word as a whole name token or
    /// a prefix of at least 3 characters.
    pub async fn search_clients(&self, actor: &Actor, scope: ClientScope, query: &str) -> Result<Vec<Client>> {
        let terms = blind_index::name_tokens(query);
        if terms.is_empty() || terms.len() > MAX_SEARCH_TERMS {
            return Err(StoreError::Invalid(format!("search needs 1-{MAX_SEARCH_TERMS} words")));
        }
        let keys = self.keys();
        let mut hashes: Vec<Vec<u8>> = terms.iter().map(|t| blind_index::name_term(&keys.index_key, t)).collect();
        hashes.sort();
        hashes.dedup();
        let placeholders: Vec<String> = (0..hashes.len()).map(|i| format!("${}", i + 4)).collect();
        let sql = format!(
            "SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND c.client_id IN (SELECT client_id FROM client_name_token WHERE token IN ({}) \
             GROUP BY client_id HAVING COUNT(DISTINCT token) = {}) ORDER BY c.client_id LIMIT $3",
            placeholders.join(", "),
            hashes.len()
        );
        let mut q = scoped(sql, actor, scope).bind(MAX_CLIENTS_LISTED);
        for h in hashes {
            q = q.bind(h);
        }
        self.read_clients(actor, "client.search", q).await
    }

    /// Clients of the actor's practice with this phone number (matching inbound texts).
    pub async fn find_clients_by_phone(&self, actor: &Actor, phone: &E164) -> Result<Vec<Client>> {
        let idx = blind_index::phone(&self.keys().index_key, phone);
        let q = scoped(format!("SELECT {COLUMNS} FROM {FROM} WHERE {SCOPE} AND c.phone_index = $3 ORDER BY c.client_id"), actor, ClientScope::Practice).bind(idx);
        self.read_clients(actor, "client.lookup_phone", q).await
    }
}
