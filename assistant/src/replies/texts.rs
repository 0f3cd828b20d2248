//! Every text a reply conversation sends. Fixed wording with dates and times only: no names,
//! no clinician, no service or clinical words (DESIGN invariant "No PHI in SMS or Telegram
//! text"). Times are shown in the client's own zone.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use store::replies::OfferedSlot;

/// The menu number that cancels the visit after "R" (never the word CANCEL: an opt-out).
pub const CANCEL_CHOICE: u8 = 4;

/// To a number no client has: says nothing about the practice or anyone in it.
pub const UNKNOWN_SENDER: &str = "This number is not recognised. Please call the office. If this is an emergency call 911 or 988.";
/// A message left for staff (questions, distress, anything not understood).
pub const TO_STAFF: &str = "Thanks, the office will get back to you. If this is an emergency call 911 or 988.";
pub const STAY_ON_WAITLIST: &str = "OK, you stay on the waitlist.";

/// "Thu Jun 10, 2:00 PM EDT".
pub fn when(t: DateTime<Utc>, tz: Tz) -> String {
    t.with_timezone(&tz).format("%a %b %-d, %-I:%M %p %Z").to_string()
}

pub fn confirmed(starts_at: DateTime<Utc>, tz: Tz) -> String {
    format!("Thanks, your visit on {} is confirmed.", when(starts_at, tz))
}

/// The numbered menu after "R": up to three open times, then cancelling.
pub fn slot_menu(intro: &str, slots: &[OfferedSlot], tz: Tz) -> String {
    let mut s = String::from(intro);
    if slots.is_empty() {
        s.push_str(" No open times to offer by text; please call the office to reschedule.");
    } else {
        s.push_str(" Reply with a number:");
        for (i, slot) in slots.iter().enumerate() {
            s.push_str(&format!("\n{} = {}", i + 1, when(slot.starts_at, tz)));
        }
    }
    s.push_str(&format!("\n{CANCEL_CHOICE} = cancel the visit"));
    s
}

pub fn offer(slots: &[OfferedSlot], tz: Tz) -> String {
    slot_menu("To move your visit:", slots, tz)
}

pub fn taken(slots: &[OfferedSlot], tz: Tz) -> String {
    slot_menu("Sorry, that time was just taken.", slots, tz)
}

pub fn invalid_choice(slots: usize) -> String {
    match slots {
        0 => format!("Please call the office to reschedule, or reply {CANCEL_CHOICE} to cancel the visit."),
        1 => format!("Please reply 1 to pick that time or {CANCEL_CHOICE} to cancel the visit."),
        n => format!("Please reply 1-{n} to pick a time or {CANCEL_CHOICE} to cancel the visit."),
    }
}

pub fn rescheduled(starts_at: DateTime<Utc>, tz: Tz) -> String {
    format!("Done: your visit is now {}.", when(starts_at, tz))
}

pub fn cancelled(starts_at: DateTime<Utc>, tz: Tz) -> String {
    format!("Your visit on {} is cancelled. Please call the office to book again.", when(starts_at, tz))
}

pub fn waitlist_offer(starts_at: DateTime<Utc>, tz: Tz) -> String {
    format!("An earlier visit opened: {}. Reply 1 to take it; the first reply gets it.", when(starts_at, tz))
}

pub fn waitlist_booked(starts_at: DateTime<Utc>, tz: Tz) -> String {
    format!("You're booked for {}. Reply R to reschedule.", when(starts_at, tz))
}

pub fn waitlist_gone(starts_at: DateTime<Utc>, tz: Tz) -> String {
    format!("Sorry, the {} opening has been taken. You stay on the waitlist.", when(starts_at, tz))
}

pub const WAITLIST_GONE: &str = "Sorry, that opening has been taken. You stay on the waitlist.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_menu_lists_local_times_and_the_cancel_number() {
        let t: DateTime<Utc> = "2027-06-08T14:00:00Z".parse().expect("instant");
        let slots = [OfferedSlot { starts_at: t, ends_at: t + chrono::Duration::minutes(50) }];
        let m = offer(&slots, chrono_tz::America::Los_Angeles);
        assert_eq!(m, "To move your visit: Reply with a number:\n1 = Tue Jun 8, 7:00 AM PDT\n4 = cancel the visit");
        assert!(offer(&[], chrono_tz::America::Los_Angeles).contains("call the office"));
    }
}
