//! Reminder templates: text with `{field}` placeholders drawn from an allow-list of non-clinical
//! fields (DESIGN invariant: "No PHI in SMS or Telegram text"). A template is parsed once when
//! saved and again before each render; anything else — an unknown field, stray braces, or text
//! that names a diagnosis, a service type or a clinician's specialty — is refused with the reason.

use std::fmt;

use chrono::{DateTime, Utc};
use store::reminders::{ReminderChannel, TemplateKind};

/// The fields a template may use. Nothing here can say why a client is seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    FirstName,
    Date,
    Time,
    PracticeName,
    PracticePhone,
    ConfirmInstructions,
    RescheduleInstructions,
    JoinLink,
    PortalLink,
}

impl Field {
    pub const ALL: [Field; 9] = [
        Field::FirstName,
        Field::Date,
        Field::Time,
        Field::PracticeName,
        Field::PracticePhone,
        Field::ConfirmInstructions,
        Field::RescheduleInstructions,
        Field::JoinLink,
        Field::PortalLink,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Field::FirstName => "first_name",
            Field::Date => "date",
            Field::Time => "time",
            Field::PracticeName => "practice_name",
            Field::PracticePhone => "practice_phone",
            Field::ConfirmInstructions => "confirm_instructions",
            Field::RescheduleInstructions => "reschedule_instructions",
            Field::JoinLink => "join_link",
            Field::PortalLink => "portal_link",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Field::ALL.into_iter().find(|f| f.name() == s)
    }
}

/// Words and phrases that name a diagnosis, a service type or a clinician's specialty. Matched
/// as whole words, case-insensitively ("Anxiety", "PTSD.", "self-harm"). A reminder that says
/// "your couples therapy" or "Dr. Lee, psychiatrist" discloses more than that a visit exists
/// (45 CFR 164.502(b), minimum necessary).
pub const DENIED_TERMS: &[&str] = &[
    // diagnoses and conditions
    "depression", "depressive", "depressed", "anxiety", "anxious", "panic", "phobia", "ptsd", "trauma", "traumatic",
    "bipolar", "mania", "manic", "schizophrenia", "schizoaffective", "psychosis", "psychotic", "ocd", "obsessive compulsive",
    "adhd", "autism", "autistic", "asperger", "eating disorder", "anorexia", "bulimia", "binge", "insomnia",
    "borderline", "personality disorder", "dementia", "grief", "bereavement", "suicide", "suicidal", "self harm",
    "selfharm", "abuse", "domestic violence", "hiv", "diagnosis", "disorder",
    // substance use (42 CFR Part 2)
    "substance", "addiction", "addict", "alcohol", "alcoholism", "opioid", "opioids", "methadone", "suboxone",
    "buprenorphine", "detox", "rehab", "recovery program", "sobriety", "relapse",
    // service types
    "couples therapy", "couples counseling", "couples counselling", "marriage counseling", "marriage counselling",
    "marital therapy", "family therapy", "group therapy", "psychotherapy", "psychiatric", "medication management",
    "emdr", "cbt", "dbt", "cognitive behavioral", "cognitive behavioural", "dialectical", "psychoanalysis",
    "hypnotherapy", "neurofeedback", "ketamine", "tms", "play therapy", "art therapy", "sex therapy",
    "psychological testing", "psych eval", "intake assessment",
    // clinician specialties
    "psychiatrist", "psychologist", "psychoanalyst", "addiction specialist", "trauma specialist", "sex therapist",
    "marriage and family therapist", "lmft", "lcsw", "lpc", "lcadc", "cadc",
];

/// A reason a template is refused; each says what to change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is empty; write the reminder text")]
    Empty,
    #[error("the template is longer than {max} bytes; shorten it")]
    TooLong { max: usize },
    #[error("{{{0}}} is not an allowed field; use only {{first_name}}, {{date}}, {{time}}, {{practice_name}}, {{practice_phone}}, {{confirm_instructions}}, {{reschedule_instructions}}, {{join_link}}, {{portal_link}}")]
    UnknownField(String),
    #[error("a '{{' or '}}' has no partner; fields are written like {{first_name}}")]
    UnbalancedBrace,
    #[error("the text names \"{0}\", a diagnosis, service type or clinician specialty; reminders may not say why a client is seen")]
    DeniedTerm(&'static str),
    #[error("{{join_link}} belongs only in the telehealth templates (reminder_virtual, join)")]
    JoinLinkNotAllowed,
    #[error("this template must include {{join_link}}: it is what the client uses to join")]
    JoinLinkMissing,
    #[error("{{portal_link}} needs public_url in the settings, so the link can point somewhere")]
    PortalLinkUnconfigured,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Field(Field),
}

/// A checked template.
#[derive(Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
    source: String,
}

impl fmt::Debug for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Template").field("fields", &self.fields().map(Field::name).collect::<Vec<_>>()).finish_non_exhaustive()
    }
}

/// Lowercase words of `text`, split at anything not a letter or digit.
fn words(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric()).filter(|w| !w.is_empty()).map(str::to_lowercase).collect()
}

/// The first denied term in `text`, matched on whole words.
pub fn denied_term(text: &str) -> Option<&'static str> {
    let w = words(text);
    DENIED_TERMS.iter().copied().find(|term| {
        let t = words(term);
        !t.is_empty() && w.windows(t.len()).any(|win| win == t.as_slice())
    })
}

impl Template {
    /// Parses and checks a template of `kind`. `portal_configured`: whether `{portal_link}` can
    /// render (the service has a public URL).
    pub fn parse(source: &str, kind: TemplateKind, portal_configured: bool) -> Result<Self, TemplateError> {
        if source.trim().is_empty() {
            return Err(TemplateError::Empty);
        }
        if source.len() > store::reminders::MAX_TEMPLATE_BYTES {
            return Err(TemplateError::TooLong { max: store::reminders::MAX_TEMPLATE_BYTES });
        }
        let mut pieces = Vec::new();
        let mut rest = source;
        let mut literal = String::new();
        while let Some(i) = rest.find(['{', '}']) {
            literal.push_str(&rest[..i]);
            if rest[i..].starts_with('}') {
                return Err(TemplateError::UnbalancedBrace);
            }
            let after = &rest[i + 1..];
            let end = after.find('}').ok_or(TemplateError::UnbalancedBrace)?;
            let name = &after[..end];
            if name.contains('{') {
                return Err(TemplateError::UnbalancedBrace);
            }
            let field = Field::parse(name.trim()).ok_or_else(|| TemplateError::UnknownField(name.chars().take(40).collect()))?;
            if !literal.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut literal)));
            }
            pieces.push(Piece::Field(field));
            rest = &after[end + 1..];
        }
        literal.push_str(rest);
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        let texts: Vec<&str> = pieces.iter().filter_map(|p| if let Piece::Text(t) = p { Some(t.as_str()) } else { None }).collect();
        // Joined with and without a space: a field that renders empty must not glue two
        // harmless halves into a denied word ("anx{practice_phone}iety").
        if let Some(term) = denied_term(&texts.join(" ")).or_else(|| denied_term(&texts.concat())) {
            return Err(TemplateError::DeniedTerm(term));
        }
        let t = Self { pieces, source: source.to_owned() };
        let has = |f: Field| t.fields().any(|x| x == f);
        match kind {
            TemplateKind::Reminder if has(Field::JoinLink) => return Err(TemplateError::JoinLinkNotAllowed),
            TemplateKind::ReminderVirtual | TemplateKind::Join if !has(Field::JoinLink) => return Err(TemplateError::JoinLinkMissing),
            _ => {}
        }
        if has(Field::PortalLink) && !portal_configured {
            return Err(TemplateError::PortalLinkUnconfigured);
        }
        Ok(t)
    }

    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn fields(&self) -> impl Iterator<Item = Field> + '_ {
        self.pieces.iter().filter_map(|p| if let Piece::Field(f) = p { Some(*f) } else { None })
    }

    /// Fills the fields. A field with no value (no practice phone) renders as nothing, and the
    /// doubled spaces that leaves are closed up.
    pub fn render(&self, v: &Values) -> String {
        let mut out = String::new();
        for p in &self.pieces {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Field(f) => out.push_str(v.get(*f)),
            }
        }
        let mut tidy = String::with_capacity(out.len());
        for part in out.split(' ').filter(|s| !s.is_empty()) {
            if !tidy.is_empty() {
                tidy.push(' ');
            }
            tidy.push_str(part);
        }
        tidy
    }
}

/// What the fields render to for one message.
#[derive(Clone, Default)]
pub struct Values {
    pub first_name: String,
    pub date: String,
    pub time: String,
    pub practice_name: String,
    pub practice_phone: String,
    pub confirm_instructions: String,
    pub reschedule_instructions: String,
    pub join_link: String,
    pub portal_link: String,
}

impl fmt::Debug for Values {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Values(..)")
    }
}

/// How clients are told to confirm and to reschedule by reply (YES is an opt-in keyword too,
/// which is harmless for a number that has not opted out: see `channels::keywords`).
pub const CONFIRM_INSTRUCTIONS: &str = "Reply YES to confirm.";
pub const RESCHEDULE_INSTRUCTIONS: &str = "Reply R to reschedule.";

impl Values {
    /// Values for a visit at `starts_at`, shown in the client's zone as e.g. "Tuesday, March 10"
    /// and "3:30 PM EDT" (the abbreviation tells a traveller which clock is meant).
    pub fn for_visit(first_name: &str, starts_at: DateTime<Utc>, tz: chrono_tz::Tz, practice_name: &str, practice_phone: Option<&str>) -> Self {
        let local = starts_at.with_timezone(&tz);
        Self {
            first_name: first_name.to_owned(),
            date: local.format("%A, %B %-d").to_string(),
            time: local.format("%-I:%M %p %Z").to_string(),
            practice_name: practice_name.to_owned(),
            practice_phone: practice_phone.unwrap_or_default().to_owned(),
            confirm_instructions: CONFIRM_INSTRUCTIONS.to_owned(),
            reschedule_instructions: RESCHEDULE_INSTRUCTIONS.to_owned(),
            join_link: String::new(),
            portal_link: String::new(),
        }
    }

    fn get(&self, f: Field) -> &str {
        match f {
            Field::FirstName => &self.first_name,
            Field::Date => &self.date,
            Field::Time => &self.time,
            Field::PracticeName => &self.practice_name,
            Field::PracticePhone => &self.practice_phone,
            Field::ConfirmInstructions => &self.confirm_instructions,
            Field::RescheduleInstructions => &self.reschedule_instructions,
            Field::JoinLink => &self.join_link,
            Field::PortalLink => &self.portal_link,
        }
    }
}

/// The template used when a practice has not saved its own.
pub fn default_source(_channel: ReminderChannel, kind: TemplateKind) -> &'static str {
    match kind {
        TemplateKind::Reminder => {
            "Hi {first_name}, a reminder of your appointment with {practice_name} on {date} at {time}. {confirm_instructions} {reschedule_instructions} Reply STOP to opt out."
        }
        TemplateKind::ReminderVirtual => {
            "Hi {first_name}, your video appointment with {practice_name} is {date} at {time}. Join: {join_link} {confirm_instructions} Reply STOP to opt out."
        }
        TemplateKind::Join => "Hi {first_name}, your video appointment with {practice_name} starts at {time}. Join: {join_link}",
    }
}

pub const KINDS: [TemplateKind; 3] = [TemplateKind::Reminder, TemplateKind::ReminderVirtual, TemplateKind::Join];
pub const CHANNELS: [ReminderChannel; 2] = [ReminderChannel::Sms, ReminderChannel::Telegram];

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parse(s: &str) -> Result<Template, TemplateError> {
        Template::parse(s, TemplateKind::Reminder, true)
    }

    #[test]
    fn every_default_template_passes_its_own_checks() {
        for c in CHANNELS {
            for k in KINDS {
                assert!(Template::parse(default_source(c, k), k, false).is_ok(), "{c:?} {k:?}");
            }
        }
    }

    #[test]
    fn a_field_outside_the_allow_list_is_refused_by_name() {
        assert_eq!(parse("Hi {first_name}, see {clinician_name}").unwrap_err(), TemplateError::UnknownField("clinician_name".into()));
        assert_eq!(parse("Your {diagnosis} visit").unwrap_err(), TemplateError::UnknownField("diagnosis".into()));
        assert_eq!(parse("Hi {last_name}").unwrap_err(), TemplateError::UnknownField("last_name".into()));
    }

    #[test]
    fn clinical_words_are_refused_whole_word_and_case_insensitively() {
        assert_eq!(parse("Your ANXIETY group is {date}").unwrap_err(), TemplateError::DeniedTerm("anxiety"));
        assert_eq!(parse("Couples  Therapy on {date}").unwrap_err(), TemplateError::DeniedTerm("couples therapy"));
        assert_eq!(parse("See our psychiatrist at {time}").unwrap_err(), TemplateError::DeniedTerm("psychiatrist"));
        assert_eq!(parse("EMDR session {date}").unwrap_err(), TemplateError::DeniedTerm("emdr"));
        assert_eq!(parse("PTSD. {date}").unwrap_err(), TemplateError::DeniedTerm("ptsd"));
        // Whole words only: "address" contains "add", "panicle" contains "panic".
        assert!(parse("Our address is on the site; {date} {time}").is_ok());
        assert!(parse("Therapists at {practice_name}: see you {date}").is_ok());
    }

    #[test]
    fn stray_braces_are_refused() {
        assert_eq!(parse("Hi {first_name").unwrap_err(), TemplateError::UnbalancedBrace);
        assert_eq!(parse("Hi first_name}").unwrap_err(), TemplateError::UnbalancedBrace);
        assert_eq!(parse("Hi {{first_name}}").unwrap_err(), TemplateError::UnbalancedBrace);
    }

    #[test]
    fn the_join_link_goes_only_where_it_belongs_and_must_be_there() {
        assert_eq!(parse("Join {join_link}").unwrap_err(), TemplateError::JoinLinkNotAllowed);
        assert_eq!(Template::parse("See you {time}", TemplateKind::Join, true).unwrap_err(), TemplateError::JoinLinkMissing);
        assert!(Template::parse("Join {join_link}", TemplateKind::ReminderVirtual, true).is_ok());
        assert_eq!(Template::parse("{portal_link}", TemplateKind::Reminder, false).unwrap_err(), TemplateError::PortalLinkUnconfigured);
    }

    #[test]
    fn rendering_fills_fields_in_the_clients_zone_and_closes_up_empty_ones() {
        let t = parse("Hi {first_name}, {date} at {time}. Call {practice_phone} {practice_name}").expect("valid");
        let starts: DateTime<Utc> = "2026-03-10T19:30:00Z".parse().expect("instant");
        let v = Values::for_visit("Sam", starts, chrono_tz::America::New_York, "Hearth", None);
        assert_eq!(t.render(&v), "Hi Sam, Tuesday, March 10 at 3:30 PM EDT. Call Hearth");
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_accepted_templates_only_use_allowed_fields(s in "\\PC{0,200}") {
            if let Ok(t) = parse(&s) {
                prop_assert!(t.fields().all(|f| Field::ALL.contains(&f)));
                prop_assert_eq!(denied_term(&t.render(&Values::default())), None);
            }
        }

        #[test]
        fn any_denied_term_anywhere_is_refused(i in 0..DENIED_TERMS.len(), pre in "[a-z ]{0,20}", upper in any::<bool>()) {
            let term = if upper { DENIED_TERMS[i].to_uppercase() } else { DENIED_TERMS[i].to_owned() };
            let s = format!("{pre} {term} on {{date}}");
            prop_assert!(matches!(parse(&s), Err(TemplateError::DeniedTerm(_))));
        }
    }
}
