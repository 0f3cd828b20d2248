//! Appointment reminders: the scheduler that turns due reminder rows into outbox messages,
//! templates limited to non-clinical fields, telehealth join links, and the staff routes for
//! rules and templates. Planning (which reminders a visit gets, quiet hours, caps) is pure code
//! in `store::reminders::plan`, run by the store in the transaction that saves the visit.

/// Staff routes: rules, templates, previews, clinicians' join links, a visit's reminders.
pub mod routes;
/// The leader-elected tick that renders due reminders into the outbox.
pub mod scheduler;
/// Templates: the allow-listed fields, the deny list, rendering, defaults.
pub mod template;
/// Join links validated by host, and generated Jitsi rooms.
pub mod telehealth;

pub use routes::router;
