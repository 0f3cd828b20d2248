//! Client request bodies as submitted, and their parsing into the store's types: phone numbers
//! to E.164 in the practice's region, IANA time zones, e-mail addresses. Each error names the
//! field (`phone`, `contacts[0].phone`) so the 422 says exactly what to fix.

use super::{ApiResult, Error};
use crate::app::AppState;
use crate::domain::{Email, PhoneNumber, TimeZone};
use serde::Deserialize;
use store::UserId;
use store::clients::{Channel, ClientDetails, ContactDetails};

/// A contact as submitted.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
pub struct ContactInput {
    pub name: String,
    pub relation: String,
    pub phone: Option<String>,
    pub email: Option<String>,
    #[serde(default)]
    pub receives_reminders: bool,
}

/// A client as submitted (create and full update).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientInput {
    pub first_name: String,
    pub last_name: String,
    pub preferred_name: Option<String>,
    pub date_of_birth: Option<chrono::NaiveDate>,
    /// As typed; read in the practice's phone region unless it starts with `+`.
    pub phone: Option<String>,
    pub email: Option<String>,
    pub telegram_chat_id: Option<i64>,
    /// IANA name, e.g. America/New_York.
    pub time_zone: String,
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub channel_preferences: Vec<Channel>,
    #[serde(default)]
    pub texting_consent: bool,
    #[schema(value_type = Option<String>)]
    pub primary_clinician_id: Option<UserId>,
    #[serde(default)]
    pub contacts: Vec<ContactInput>,
}

pub(crate) fn phone(
    field: &str,
    v: Option<&str>,
    region: crate::domain::Region,
) -> ApiResult<Option<store::E164>> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| {
            let p = PhoneNumber::parse(s, region).map_err(|e| Error::field(field, e.message))?;
            store::E164::parse(p.as_e164()).map_err(|e| Error::field(field, e.to_string()))
        })
        .transpose()
}

pub(crate) fn email(field: &str, v: Option<&str>) -> ApiResult<Option<store::EmailAddress>> {
    v.filter(|s| !s.trim().is_empty())
        .map(|s| {
            let e = Email::parse(s).map_err(|e| Error::field(field, e.message))?;
            store::EmailAddress::parse(e.as_str()).map_err(|e| Error::field(field, e.to_string()))
        })
        .transpose()
}

pub(crate) fn contacts(
    input: &[ContactInput],
    region: crate::domain::Region,
) -> ApiResult<Vec<ContactDetails>> {
    input
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(ContactDetails {
                name: c.name.clone(),
                relation: c.relation.clone(),
                phone: phone(&format!("contacts[{i}].phone"), c.phone.as_deref(), region)?,
                email: email(&format!("contacts[{i}].email"), c.email.as_deref())?,
                receives_reminders: c.receives_reminders,
            })
        })
        .collect()
}

impl ClientInput {
    /// Parses every field, naming the first bad one.
    pub(crate) fn parse(self, state: &AppState) -> ApiResult<ClientDetails> {
        let region = state.settings.phone_region;
        let time_zone =
            TimeZone::parse(&self.time_zone).map_err(|e| Error::field("time_zone", e.message))?;
        Ok(ClientDetails {
            first_name: self.first_name,
            last_name: self.last_name,
            preferred_name: self.preferred_name,
            date_of_birth: self.date_of_birth,
            phone: phone("phone", self.phone.as_deref(), region)?,
            email: email("email", self.email.as_deref())?,
            telegram_chat_id: self.telegram_chat_id,
            time_zone: store::TimeZoneName::parse(time_zone.name())
                .map_err(|e| Error::field("time_zone", e.to_string()))?,
            channel_preferences: self.channel_preferences,
            texting_consent: self.texting_consent,
            primary_clinician_id: self.primary_clinician_id,
            contacts: contacts(&self.contacts, region)?,
        })
    }
}

