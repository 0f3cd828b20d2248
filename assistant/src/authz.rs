//! Who may do what: the whole staff access policy in one table.
//!
//! Two questions are answered separately:
//! 1. *Function level*: may this role use this capability at all, and over which clients
//!    ([`Reach`])? That is the [`POLICY`] table below.
//! 2. *Object level*: is this particular client within that reach? The store answers it in SQL
//!    from the reach (a client outside it simply is not found), so an object a user may not see
//!    looks exactly like one that does not exist: **404, never 403** — for another practice's
//!    objects, a colleague's clients and random ids alike.
//!
//! Decisions recorded here (HIPAA "minimum necessary", 45 CFR 164.502(b)):
//! - **admin** manages users and settings and sees **no** client records or clinical text; an
//!   administrator who also treats clients is given the clinician role as well.
//! - **front_desk** sees every client's demographics, contacts, consents and the schedule, and no
//!   notes at all.
//! - **biller** sees demographics, contacts, the schedule (dates, services) and note *metadata*
//!   (date, service code, status) but never note text; it changes nothing clinical.
//! - **clinician / trainee / supervisor** work on their caseload: clients they are assigned,
//!   clients explicitly shared with them, and for a supervisor their trainees' clients.
//!   Trainees cannot delete or share clients; that is their supervisor's call.
//! - **secure messages** (client threads): clinicians, trainees and supervisors for their
//!   caseload; front desk for every client (they answer the practice's messages); billers and
//!   administrators never see or write them.
//! - A user with **no role** can do nothing but sign out: 403 everywhere.
//! - Multiple roles combine: the widest reach any of them grants.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A staff role. A user can hold several.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
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
    pub const ALL: [Role; 6] = [
        Role::Admin,
        Role::Clinician,
        Role::Trainee,
        Role::Supervisor,
        Role::FrontDesk,
        Role::Biller,
    ];

    pub fn as_str(&self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Clinician => "clinician",
            Role::Trainee => "trainee",
            Role::Supervisor => "supervisor",
            Role::FrontDesk => "front_desk",
            Role::Biller => "biller",
        }
    }

    fn column(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A role name that is not one of ours.
#[derive(Debug, thiserror::Error)]
#[error("unknown role; use one of admin, clinician, trainee, supervisor, front_desk, biller")]
pub struct UnknownRole;

impl FromStr for Role {
    type Err = UnknownRole;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_lowercase().replace('-', "_");
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or(UnknownRole)
    }
}

/// Something a staff member can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    /// Name, date of birth, time zone, status.
    ReadClient,
    CreateClient,
    UpdateClient,
    DeleteClient,
    /// Phone numbers, e-mail, emergency contacts.
    ReadContacts,
    EditContacts,
    /// Give a colleague access to a client.
    ShareClient,
    /// Appointments: dates, times, services, attendees, status history.
    ReadSchedule,
    EditSchedule,
    ReadConsents,
    EditConsents,
    /// Note date, format, service code, status, author.
    ReadNoteMetadata,
    /// The words of a note.
    ReadNoteText,
    /// Working hours of staff.
    ReadAvailability,
    EditAvailability,
    ManageUsers,
    /// Reminder rules and message templates (no PHI in either).
    ReadMessaging,
    /// Change reminder rules, templates and clinicians' telehealth links.
    ManageMessaging,
    /// A client's secure-message thread (message text) and unread portal replies.
    ReadSecureMessages,
    /// Write a secure message to a client (notice with a portal link only).
    SendSecureMessages,
    /// Start, follow and cancel AI-scribe jobs (recordings, dictation, transcripts) and read
    /// their transcripts and drafts: the clinicians who write the notes.
    UseScribe,
    /// The practice's records policy (retention, overdue-note alerts).
    ManagePractice,
}

/// Which clients a capability reaches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Reach {
    /// None at all.
    Nothing,
    /// The user's caseload: assigned, shared with them, and (supervisors) their trainees'.
    Caseload,
    /// Every client of the user's practice.
    Practice,
}

use Capability as C;
use Reach::{Caseload as Own, Nothing as No, Practice as All};

/// The policy. Columns: admin, clinician, trainee, supervisor, front_desk, biller.
#[rustfmt::skip]
pub const POLICY: &[(Capability, [Reach; 6])] = &[
    //                      admin clinician trainee supervisor front_desk biller
    (C::ReadClient,        [No,   Own,      Own,    Own,       All,       All]),
    (C::CreateClient,      [No,   Own,      Own,    Own,       All,       No ]),
    (C::UpdateClient,      [No,   Own,      Own,    Own,       All,       No ]),
    (C::DeleteClient,      [No,   Own,      No,     Own,       No,        No ]),
    (C::ReadContacts,      [No,   Own,      Own,    Own,       All,       All]),
    (C::EditContacts,      [No,   Own,      Own,    Own,       All,       No ]),
    (C::ShareClient,       [No,   Own,      No,     Own,       No,        No ]),
    (C::ReadSchedule,      [No,   Own,      Own,    Own,       All,       All]),
    (C::EditSchedule,      [No,   Own,      Own,    Own,       All,       No ]),
    (C::ReadConsents,      [No,   Own,      Own,    Own,       All,       No ]),
    (C::EditConsents,      [No,   Own,      Own,    Own,       All,       No ]),
    (C::ReadNoteMetadata,  [No,   Own,      Own,    Own,       No,        All]),
    (C::ReadNoteText,      [No,   Own,      Own,    Own,       No,        No ]),
    (C::ReadAvailability,  [All,  All,      All,    All,       All,       No ]),
    (C::EditAvailability,  [All,  Own,      Own,    Own,       All,       No ]),
    (C::ManageUsers,       [All,  No,       No,     No,        No,        No ]),
    (C::ReadMessaging,     [All,  All,      All,    All,       All,       No ]),
    (C::ManageMessaging,   [All,  No,       No,     No,        No,        No ]),
    (C::ReadSecureMessages,[No,   Own,      Own,    Own,       All,       No ]),
    (C::SendSecureMessages,[No,   Own,      Own,    Own,       All,       No ]),
    (C::UseScribe,         [No,   Own,      Own,    Own,       No,        No ]),
    (C::ManagePractice,    [All,  No,       No,     No,        No,        No ]),
];

/// The widest reach any of `roles` has for `capability`.
pub fn reach(roles: &[Role], capability: Capability) -> Reach {
    let row = POLICY
        .iter()
        .find(|(c, _)| *c == capability)
        .map(|(_, row)| row)
        .expect("every Capability has a row in POLICY (checked by a unit test)");
    roles
        .iter()
        .map(|r| row[r.column()])
        .max()
        .unwrap_or(Reach::Nothing)
}

/// What a request for a capability should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Go ahead, limited to these clients.
    Granted(Reach),
    /// The user has no role at all: 403 (their account is not set up).
    NoRole,
    /// The roles lack this capability: 403 on collection routes, 404 on routes with an id so
    /// that nothing about the object is revealed.
    Denied,
}

/// Decides function-level access.
pub fn check(roles: &[Role], capability: Capability) -> Access {
    if roles.is_empty() {
        return Access::NoRole;
    }
    match reach(roles, capability) {
        Reach::Nothing => Access::Denied,
        r => Access::Granted(r),
    }
}

/// How much of a note a user sees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoteView {
    Full,
    MetadataOnly,
    Hidden,
}

/// The note view for `roles` on a client within their reach.
pub fn note_view(roles: &[Role]) -> NoteView {
    if reach(roles, C::ReadNoteText) != Reach::Nothing {
        NoteView::Full
    } else if reach(roles, C::ReadNoteMetadata) != Reach::Nothing {
        NoteView::MetadataOnly
    } else {
        NoteView::Hidden
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL_CAPS: [Capability; 22] = [
        C::ReadClient,
        C::CreateClient,
        C::UpdateClient,
        C::DeleteClient,
        C::ReadContacts,
        C::EditContacts,
        C::ShareClient,
        C::ReadSchedule,
        C::EditSchedule,
        C::ReadConsents,
        C::EditConsents,
        C::ReadNoteMetadata,
        C::ReadNoteText,
        C::ReadAvailability,
        C::EditAvailability,
        C::ManageUsers,
        C::ReadMessaging,
        C::ManageMessaging,
        C::ReadSecureMessages,
        C::SendSecureMessages,
        C::UseScribe,
        C::ManagePractice,
    ];

    #[test]
    fn every_capability_has_exactly_one_row() {
        for c in ALL_CAPS {
            assert_eq!(POLICY.iter().filter(|(p, _)| *p == c).count(), 1, "{c:?}");
        }
        assert_eq!(POLICY.len(), ALL_CAPS.len());
    }

    #[test]
    fn the_role_columns_follow_the_declared_order() {
        let order: Vec<_> = Role::ALL.iter().map(|r| r.column()).collect();
        assert_eq!(order, vec![0, 1, 2, 3, 4, 5]);
    }

    #[test]
    fn a_user_with_no_role_can_do_nothing() {
        for c in ALL_CAPS {
            assert_eq!(check(&[], c), Access::NoRole, "{c:?}");
        }
    }

    #[test]
    fn the_admin_manages_users_but_never_reads_client_records_or_notes() {
        assert_eq!(
            check(&[Role::Admin], C::ManageUsers),
            Access::Granted(Reach::Practice)
        );
        for c in [
            C::ReadClient,
            C::ReadContacts,
            C::ReadNoteText,
            C::ReadNoteMetadata,
            C::ReadSchedule,
        ] {
            assert_eq!(check(&[Role::Admin], c), Access::Denied, "{c:?}");
        }
        assert_eq!(note_view(&[Role::Admin]), NoteView::Hidden);
    }

    #[test]
    fn only_the_admin_manages_users() {
        for r in Role::ALL.into_iter().filter(|r| *r != Role::Admin) {
            assert_eq!(check(&[r], C::ManageUsers), Access::Denied, "{r}");
        }
    }

    #[test]
    fn front_desk_sees_schedules_and_contacts_but_no_clinical_text() {
        let fd = [Role::FrontDesk];
        assert_eq!(reach(&fd, C::ReadSchedule), Reach::Practice);
        assert_eq!(reach(&fd, C::EditContacts), Reach::Practice);
        assert_eq!(note_view(&fd), NoteView::Hidden);
    }

    #[test]
    fn a_biller_sees_note_metadata_but_never_note_text_and_changes_nothing() {
        let b = [Role::Biller];
        assert_eq!(note_view(&b), NoteView::MetadataOnly);
        for c in [
            C::CreateClient,
            C::UpdateClient,
            C::DeleteClient,
            C::EditContacts,
            C::EditSchedule,
            C::EditConsents,
        ] {
            assert_eq!(check(&b, c), Access::Denied, "{c:?}");
        }
    }

    #[test]
    fn clinicians_reach_only_their_caseload() {
        for r in [Role::Clinician, Role::Trainee, Role::Supervisor] {
            assert_eq!(reach(&[r], C::ReadClient), Reach::Caseload, "{r}");
            assert_eq!(note_view(&[r]), NoteView::Full, "{r}");
        }
    }

    #[test]
    fn a_trainee_cannot_delete_or_share_a_client() {
        assert_eq!(check(&[Role::Trainee], C::DeleteClient), Access::Denied);
        assert_eq!(check(&[Role::Trainee], C::ShareClient), Access::Denied);
    }

    #[test]
    fn several_roles_combine_to_the_widest_reach() {
        let both = [Role::Clinician, Role::FrontDesk];
        assert_eq!(reach(&both, C::ReadClient), Reach::Practice);
        assert_eq!(reach(&both, C::ReadNoteText), Reach::Caseload);
        assert_eq!(
            reach(&[Role::Admin, Role::Clinician], C::ReadNoteText),
            Reach::Caseload
        );
    }

    #[test]
    fn role_names_parse_in_the_forms_people_type() {
        assert_eq!("front-desk".parse::<Role>().unwrap(), Role::FrontDesk);
        assert_eq!(" Supervisor ".parse::<Role>().unwrap(), Role::Supervisor);
        assert!("owner".parse::<Role>().is_err());
        for r in Role::ALL {
            assert_eq!(r.as_str().parse::<Role>().unwrap(), r);
        }
    }
}
