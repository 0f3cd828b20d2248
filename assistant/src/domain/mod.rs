//! Values that cross the HTTP boundary, parsed once into types that are valid by construction
//! ("parse, don't validate"): phone numbers, IANA time zones and e-mail addresses.
//!
//! Each parser returns a [`FieldError`] that names what is wrong and what to do, so handlers can
//! turn it into a 422 that names the request field.

mod email;
mod phone;
mod time_zone;

pub use email::Email;
pub use phone::{PhoneNumber, Region};
pub use time_zone::TimeZone;

/// Why a submitted value was refused, in words a front-desk user can act on.
///
/// The message never repeats the submitted value: it may be PHI and errors can be logged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct FieldError {
    /// What to do, e.g. "enter a phone number with its area code, like 201-555-0123".
    pub message: &'static str,
}

impl FieldError {
    pub(crate) const fn new(message: &'static str) -> Self {
        Self { message }
    }
}
