//! Typed ids: one newtype per table key, so a `ClientId` can never be passed where a `NoteId` is
//! expected. New ids are UUIDv7 (time-ordered, so b-tree inserts stay local).

use std::{fmt, str::FromStr};

use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta] $name:ident),* $(,)?) => {$(
        #[$doc]
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A fresh time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
            /// Wraps an id read from elsewhere (a URL, a token).
            pub fn from_uuid(id: Uuid) -> Self {
                Self(id)
            }
            pub fn as_uuid(&self) -> Uuid {
                self.0
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($name), self.0)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(s).map(Self)
            }
        }

        impl From<$name> for crate::db::Value {
            fn from(id: $name) -> Self {
                crate::db::Value::Uuid(Some(id.0))
            }
        }

        impl From<Option<$name>> for crate::db::Value {
            fn from(id: Option<$name>) -> Self {
                crate::db::Value::Uuid(id.map(|i| i.0))
            }
        }
    )*};
}

id_type! {
    /// A practice (the tenant boundary).
    PracticeId,
    /// A staff user (`staff_user` table).
    UserId,
    /// A login session (`auth_session`); the session token itself is never stored.
    SessionId,
    /// A client (patient).
    ClientId,
    /// A guardian or extra contact of a client.
    ContactId,
    /// A weekly availability slot.
    SlotId,
    /// An availability exception (time off, extra hours).
    ExceptionId,
    /// An appointment.
    AppointmentId,
    /// A consent record.
    ConsentId,
    /// A message in a client's thread.
    MessageId,
    /// A clinical note.
    NoteId,
    /// An addendum to a signed note.
    AddendumId,
    /// A psychotherapy note (45 CFR 164.501), kept apart from the clinical notes.
    PsychotherapyNoteId,
    /// An audit event.
    AuditEventId,
    /// An outbound message waiting in, or sent from, the outbox.
    OutboxMessageId,
    /// An inbound message in the staff inbox.
    InboundMessageId,
    /// A scribe job: a recording, dictation or transcript on its way to a draft note.
    ScribeJobId,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_its_string_form() {
        let id = ClientId::new();
        let parsed: ClientId = id.to_string().parse().expect("Display writes a uuid");
        assert_eq!(id, parsed);
    }

    #[test]
    fn a_malformed_id_is_rejected() {
        assert!("not-a-uuid".parse::<NoteId>().is_err());
    }

    #[test]
    fn new_ids_are_time_ordered() {
        let a = NoteId::new();
        let b = NoteId::new();
        assert!(a < b, "UUIDv7 sorts by creation time");
    }
}
