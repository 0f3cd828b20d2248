//! Risk flags read from the transcript itself, recall first: suicidal ideation (passive or
//! active, plan, intent, means), homicidal ideation, self-harm, child abuse and elder or
//! dependent-adult abuse (mandated-reporting triggers), and substance relapse. Each flag has a
//! category, a severity, the cues it rests on and a verbatim quote; flags sit at the top of a
//! draft for the clinician to review. Nothing here decides anything clinically: a flag asks a
//! person to look.
//!
//! How it reads a session:
//! - per sentence, with the rules in [`patterns`]: idioms, hyperbole, denials ("No, never"),
//!   questions (a clinician's screening question is not a disclosure) and clearly past,
//!   resolved history ("an overdose two years ago") do not fire;
//! - what a client (or parent, partner, group member) says counts; a clinician's words count
//!   in a dictation (one voice, speaking about the client) and otherwise only add evidence to a
//!   disclosure already made (a reflection or formulation of it);
//! - a client's answer to the clinician's follow-up question while a disclosure is open ("And
//!   what do you use?" — "The blade. From a pencil sharpener.") is evidence for it unless it
//!   is a denial;
//! - one flag per category and person at risk: repeated mentions of the same risk by the same
//!   person are one disclosure with several evidence cues, not several flags.

mod patterns;
pub(crate) mod sentences;
#[cfg(test)]
mod tests;

use crate::transcript::{Cue, Transcript};
use patterns::{Gate, Person, RULES, SessionContext};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What kind of risk a flag is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RiskCategory {
    SuicidalIdeation,
    HomicidalIdeation,
    SelfHarm,
    ChildAbuse,
    ElderAbuse,
    SubstanceRelapse,
}

impl RiskCategory {
    pub const ALL: [RiskCategory; 6] = [
        RiskCategory::SuicidalIdeation,
        RiskCategory::HomicidalIdeation,
        RiskCategory::SelfHarm,
        RiskCategory::ChildAbuse,
        RiskCategory::ElderAbuse,
        RiskCategory::SubstanceRelapse,
    ];

    /// The snake_case name used in drafts and gold annotations.
    pub fn as_str(self) -> &'static str {
        match self {
            RiskCategory::SuicidalIdeation => "suicidal_ideation",
            RiskCategory::HomicidalIdeation => "homicidal_ideation",
            RiskCategory::SelfHarm => "self_harm",
            RiskCategory::ChildAbuse => "child_abuse",
            RiskCategory::ElderAbuse => "elder_abuse",
            RiskCategory::SubstanceRelapse => "substance_relapse",
        }
    }

    /// Reads the snake_case name; `None` for anything else.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// Abuse is grouped by victim, whoever reports it; the other risks by the person at risk.
    fn is_abuse(self) -> bool {
        matches!(self, RiskCategory::ChildAbuse | RiskCategory::ElderAbuse)
    }
}

impl fmt::Display for RiskCategory {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Who is speaking, as far as risk is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpeakerRole {
    Clinician,
    /// The identified client.
    Client,
    /// Anyone else in the room: parent, partner, group member, unnamed speaker.
    Other,
}

impl SpeakerRole {
    /// From a WebVTT voice: `Clinician` (or therapist, counselor) and `Client` (or patient);
    /// every other voice (`Parent`, `Partner A`, `Member C`, `Speaker 2`) is `Other`.
    pub fn from_voice(voice: Option<&str>) -> Self {
        let voice = voice.unwrap_or_default().trim().to_lowercase();
        match voice.as_str() {
            "clinician" | "therapist" | "counselor" | "counsellor" | "provider" => {
                SpeakerRole::Clinician
            }
            "client" | "patient" => SpeakerRole::Client,
            _ => SpeakerRole::Other,
        }
    }
}

/// The default role of a cue, from its voice tag.
pub fn role_of_voice(cue: &Cue) -> SpeakerRole {
    SpeakerRole::from_voice(cue.speaker.as_deref())
}

/// One risk flag for the top of a draft.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RiskFlag {
    pub category: RiskCategory,
    /// Free text: passive/active, plan, intent, means; method and recency; lapse or craving.
    pub severity: String,
    /// 1-based cue ids, ascending; the first holds the quote.
    pub evidence: Vec<usize>,
    /// The sentence that carries the risk, an exact substring of the first evidence cue.
    pub quote: String,
}

/// How many cues after a disclosure a follow-up answer or detail still belongs to it.
const FOLLOW_UP_WINDOW: usize = 12;
/// How many follow-up answers in a row (no new disclosure between) may join one disclosure.
const MAX_FOLLOW_UPS: usize = 10;

/// Who a group of mentions is about.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Speaker(String),
    SomeoneElse,
}

struct Group {
    category: RiskCategory,
    subject: Subject,
    evidence: Vec<usize>,
    quote: String,
    tags: Vec<&'static str>,
    last: usize,
    follow_ups: usize,
}

/// A rule that fired in a cue.
struct Hit {
    category: RiskCategory,
    tag: &'static str,
    person: Person,
    quote: String,
}

/// Reads risk flags from a transcript. `roles` says who speaks each cue (use
/// [`role_of_voice`] for voice-tagged transcripts). Flags come in order of first evidence.
pub fn detect_risks(transcript: &Transcript, roles: &dyn Fn(&Cue) -> SpeakerRole) -> Vec<RiskFlag> {
    let norms: Vec<String> = transcript
        .cues
        .iter()
        .map(|c| sentences::normalise(&c.text))
        .collect();
    let context = SessionContext::read(&norms);
    let role_list: Vec<SpeakerRole> = transcript.cues.iter().map(roles).collect();
    // A dictation is one clinician speaking about the client: its statements are the disclosure.
    let dictation = !role_list.is_empty() && role_list.iter().all(|r| *r == SpeakerRole::Clinician);
    let mut groups: Vec<Group> = Vec::new();

    for (index, cue) in transcript.cues.iter().enumerate() {
        let id = index + 1;
        let role = role_list[index];
        let open = |category: RiskCategory, groups: &[Group]| {
            groups
                .iter()
                .any(|g| g.category == category && g.last + FOLLOW_UP_WINDOW >= id)
        };
        let hits = scan_cue(cue, &context, |c| open(c, &groups));
        if hits.is_empty() {
            if role != SpeakerRole::Clinician {
                join_as_answer(&mut groups, id, &norms, &role_list);
            }
            continue;
        }
        for hit in hits {
            if role == SpeakerRole::Clinician && !dictation {
                // A reflection or formulation adds evidence to a disclosure; it never starts one.
                let open_group = groups
                    .iter_mut()
                    .filter(|g| g.category == hit.category && g.last + FOLLOW_UP_WINDOW >= id);
                if let Some(g) = open_group.max_by_key(|g| g.last) {
                    let follow_ups = g.follow_ups;
                    g.add(id, hit.tag, false);
                    g.follow_ups = follow_ups;
                }
                continue;
            }
            let subject = match (hit.category.is_abuse(), hit.person) {
                (false, Person::Speaker) => {
                    Subject::Speaker(cue.speaker.clone().unwrap_or_default())
                }
                _ => Subject::SomeoneElse,
            };
            match groups
                .iter_mut()
                .find(|g| g.category == hit.category && g.subject == subject)
            {
                Some(g) => g.add(id, hit.tag, false),
                None => groups.push(Group {
                    category: hit.category,
                    subject,
                    evidence: vec![id],
                    quote: hit.quote,
                    tags: vec![hit.tag],
                    last: id,
                    follow_ups: 0,
                }),
            }
        }
    }

    let mut flags: Vec<RiskFlag> = groups
        .into_iter()
        .map(|g| {
            let severity = severity(g.category, &g.tags, &g.evidence, &norms);
            RiskFlag {
                category: g.category,
                severity,
                evidence: g.evidence,
                quote: g.quote,
            }
        })
        .collect();
    flags.sort_by_key(|f| (f.evidence.first().copied().unwrap_or(0), f.category));
    flags
}

impl Group {
    fn add(&mut self, id: usize, tag: &'static str, follow_up: bool) {
        if !self.evidence.contains(&id) {
            self.evidence.push(id);
        }
        if !tag.is_empty() && !self.tags.contains(&tag) {
            self.tags.push(tag);
        }
        self.last = self.last.max(id);
        self.follow_ups = if follow_up { self.follow_ups + 1 } else { 0 };
    }
}

/// A client's answer to the clinician's question while a disclosure is open is part of it
/// (frequency, method, a date), unless the answer is a denial.
fn join_as_answer(groups: &mut [Group], id: usize, norms: &[String], roles: &[SpeakerRole]) {
    let asked = id >= 2
        && roles[id - 2] == SpeakerRole::Clinician
        && sentences::asks_follow_up(&norms[id - 2]);
    if !asked || sentences::starts_with_denial(&norms[id - 1]) {
        return;
    }
    let open = groups
        .iter_mut()
        .filter(|g| g.last + FOLLOW_UP_WINDOW >= id && g.follow_ups < MAX_FOLLOW_UPS)
        .max_by_key(|g| g.last);
    if let Some(g) = open {
        g.add(id, "", true);
    }
}

/// Runs every rule over every sentence of one cue; at most one hit per category.
fn scan_cue(cue: &Cue, context: &SessionContext, open: impl Fn(RiskCategory) -> bool) -> Vec<Hit> {
    let parts = sentences::split(&cue.text);
    let cue_norm = sentences::normalise(&cue.text);
    let mut hits: Vec<Hit> = Vec::new();
    for (si, sentence) in parts.iter().enumerate() {
        if sentence.is_question() || sentences::is_history(&sentence.norm) {
            continue;
        }
        for rule in RULES.iter() {
            if hits.iter().any(|h| h.category == rule.category) || !context.allows(rule.gate) {
                continue;
            }
            if rule.gate == Gate::Follows && !open(rule.category) {
                continue;
            }
            let Some(m) = rule.re.find(&sentence.norm) else {
                continue;
            };
            if rule.negatable && sentences::negated_before(&sentence.norm, m.start()) {
                continue;
            }
            if rule
                .unless
                .as_ref()
                .is_some_and(|u| u.is_match(&sentence.norm))
            {
                continue;
            }
            // The quote reaches back to the sentence naming what the rule also needs
            // ("I took off my belt. And I hit him with it."), at most two sentences back.
            let mut from = si;
            if let Some(also) = &rule.cue_also {
                if !also.is_match(&cue_norm) {
                    continue;
                }
                if !also.is_match(&sentence.norm) {
                    from = (si.saturating_sub(2)..si)
                        .rev()
                        .find(|&k| also.is_match(&parts[k].norm))
                        .unwrap_or(si);
                }
            }
            hits.push(Hit {
                category: rule.category,
                tag: rule.tag,
                person: rule.person,
                quote: cue.text[parts[from].start..sentence.end].to_string(),
            });
        }
    }
    hits
}

/// Severity: the features the rules established, in order, plus means, method or substance
/// named in the evidence cues.
fn severity(category: RiskCategory, tags: &[&str], evidence: &[usize], norms: &[String]) -> String {
    let text: String = evidence
        .iter()
        .filter_map(|id| norms.get(id - 1))
        .cloned()
        .collect::<Vec<_>>()
        .join(" ");
    let named = |pairs: &[(&str, &'static str)]| -> Vec<&'static str> {
        let mut out: Vec<&'static str> = Vec::new();
        for (needle, label) in pairs {
            if text.contains(needle) && !out.contains(label) {
                out.push(label);
            }
        }
        out
    };
    let mut parts: Vec<String> = Vec::new();
    let passive_only = tags
        .iter()
        .all(|t| t.starts_with("passive") || t.starts_with("intent"));
    if category == RiskCategory::SuicidalIdeation && !passive_only {
        parts.extend(
            tags.iter()
                .filter(|t| !t.starts_with("passive"))
                .map(|t| t.to_string()),
        );
    } else {
        parts.extend(tags.iter().map(|t| t.to_string()));
    }
    let extra = match category {
        RiskCategory::SuicidalIdeation | RiskCategory::HomicidalIdeation => named(&[
            ("pill", "pills"),
            ("overdose", "pills"),
            ("pistol", "firearm"),
            ("gun", "firearm"),
            ("rifle", "firearm"),
            ("rope", "hanging"),
            ("knife", "knife"),
        ]),
        RiskCategory::SelfHarm => named(&[
            ("cut", "cutting"),
            ("blade", "cutting"),
            ("razor", "cutting"),
            ("burn", "burning"),
            ("lighter", "burning"),
            ("again", "recurrent"),
            ("last week", "recent"),
        ]),
        RiskCategory::SubstanceRelapse => named(&[
            ("drank", "alcohol"),
            ("drink", "alcohol"),
            ("drunk", "alcohol"),
            ("beer", "alcohol"),
            ("brewery", "alcohol"),
            ("bottles", "alcohol"),
            ("pills", "opioids"),
            ("opioid", "opioids"),
            ("heroin", "opioids"),
            ("fentanyl", "opioids"),
            ("crystal", "methamphetamine"),
            ("meth", "methamphetamine"),
            ("cocaine", "cocaine"),
            ("weed", "cannabis"),
        ]),
        RiskCategory::ChildAbuse | RiskCategory::ElderAbuse => Vec::new(),
    };
    let label = match category {
        RiskCategory::SelfHarm => "method/recency",
        RiskCategory::SubstanceRelapse => "substance",
        _ => "means",
    };
    if !extra.is_empty() {
        parts.push(format!("{label}: {}", extra.join(", ")));
    }
    parts.join("; ")
}
