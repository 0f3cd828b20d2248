//! The CPT psychotherapy code suggested for a session, with its reason, from the session kind and
//! the psychotherapy time. A suggestion for the clinician to confirm, never a claim.
//!
//! CPT time rules (AMA CPT, Psychiatry "Psychotherapy" guidelines): the psychotherapy codes are
//! chosen by the time closest to the code's typical time, and a unit of time is attained when
//! its midpoint is passed. So 90832 (30 min) covers 16-37 minutes, 90834 (45 min) 38-52, and
//! 90837 (60 min) 53 or more; under 16 minutes no psychotherapy code is reported. Family
//! psychotherapy 90846 (without the patient) and 90847 (with the patient) are 50-minute
//! services, reported from 26 minutes. Group psychotherapy 90853 is per session, not timed.
//! A dictation is documentation, not a session: no code.

use crate::transcript::Transcript;
use serde::{Deserialize, Serialize};

/// What kind of session a transcript records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionKind {
    Individual,
    /// Conjoint psychotherapy with the client and partner: a family code with the patient present.
    Couples,
    Family {
        client_present: bool,
    },
    Group,
    /// The clinician alone, dictating about a session.
    Dictation,
}

/// The suggested code (`None` when no psychotherapy code applies) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CptSuggestion {
    pub code: Option<String>,
    pub reason: String,
}

/// Individual psychotherapy: the least time that reports any code, and each band's upper bound.
const INDIVIDUAL_MIN: u32 = 16;
const CODE_90832_MAX: u32 = 37;
const CODE_90834_MAX: u32 = 52;
/// Family psychotherapy (50 minutes): its midpoint passed.
const FAMILY_MIN: u32 = 26;

/// Suggests the code for `psychotherapy_minutes` of a session of `kind`.
pub fn suggest_cpt(kind: SessionKind, psychotherapy_minutes: u32) -> CptSuggestion {
    let m = psychotherapy_minutes;
    let (code, reason) = match kind {
        SessionKind::Dictation => (
            None,
            "a dictation documents a session; it is not one, so no psychotherapy code".to_string(),
        ),
        SessionKind::Group => (
            Some("90853"),
            format!("group psychotherapy ({m} min); 90853 is reported per session, not by time"),
        ),
        SessionKind::Couples | SessionKind::Family { .. } => {
            let who = match kind {
                SessionKind::Couples => "couples (conjoint) psychotherapy with the client present",
                SessionKind::Family {
                    client_present: false,
                } => "family psychotherapy without the client present",
                _ => "family psychotherapy with the client present",
            };
            let code = if matches!(
                kind,
                SessionKind::Family {
                    client_present: false
                }
            ) {
                "90846"
            } else {
                "90847"
            };
            if m < FAMILY_MIN {
                (
                    None,
                    format!(
                        "{who}, {m} min: under the {FAMILY_MIN} minutes (midpoint of 50) that {code} needs"
                    ),
                )
            } else {
                (
                    Some(code),
                    format!(
                        "{who}, {m} min: {code} (50-minute code, reported from {FAMILY_MIN} minutes)"
                    ),
                )
            }
        }
        SessionKind::Individual => {
            if m < INDIVIDUAL_MIN {
                (
                    None,
                    format!(
                        "individual psychotherapy, {m} min: under {INDIVIDUAL_MIN} minutes no psychotherapy code is reported"
                    ),
                )
            } else if m <= CODE_90832_MAX {
                (
                    Some("90832"),
                    format!(
                        "individual psychotherapy, {m} min: 90832 covers {INDIVIDUAL_MIN}-{CODE_90832_MAX} minutes"
                    ),
                )
            } else if m <= CODE_90834_MAX {
                (
                    Some("90834"),
                    format!(
                        "individual psychotherapy, {m} min: 90834 covers {}-{CODE_90834_MAX} minutes",
                        CODE_90832_MAX + 1
                    ),
                )
            } else {
                (
                    Some("90837"),
                    format!(
                        "individual psychotherapy, {m} min: 90837 covers {} minutes or more",
                        CODE_90834_MAX + 1
                    ),
                )
            }
        }
    };
    CptSuggestion {
        code: code.map(str::to_string),
        reason,
    }
}

/// The session kind from the voices: `Member …` is a group, `Parent` a family session (with
/// the client when a `Client` voice speaks too), `Partner A/B` a couples session, a clinician
/// alone a dictation, clinician and client an individual session. Unnamed voices are counted:
/// one is a dictation, two an individual session, three a couples session, more a group.
pub fn infer_kind(transcript: &Transcript) -> SessionKind {
    let mut voices: Vec<String> = Vec::new();
    for cue in &transcript.cues {
        let v = cue
            .speaker
            .as_deref()
            .unwrap_or_default()
            .trim()
            .to_lowercase();
        if !voices.contains(&v) {
            voices.push(v);
        }
    }
    let has = |prefix: &str| voices.iter().any(|v| v.starts_with(prefix));
    let client = has("client") || has("patient");
    if has("member") {
        SessionKind::Group
    } else if has("parent") {
        SessionKind::Family {
            client_present: client,
        }
    } else if has("partner") {
        SessionKind::Couples
    } else if client {
        SessionKind::Individual
    } else if voices
        .iter()
        .all(|v| v == "clinician" || v == "therapist" || v.is_empty())
    {
        SessionKind::Dictation
    } else {
        match voices.len() {
            0 | 1 => SessionKind::Dictation,
            2 => SessionKind::Individual,
            3 => SessionKind::Couples,
            _ => SessionKind::Group,
        }
    }
}

/// Psychotherapy time in whole minutes (rounded down): session start to the end of the last
/// cue. A late arrival's waiting silence is inside the session the clinician held open (the
/// couples corpus session with a partner arriving five minutes late still codes 90847).
pub fn psychotherapy_minutes(transcript: &Transcript) -> u32 {
    u32::try_from(transcript.duration_ms() / 60_000).unwrap_or(u32::MAX)
}

/// The suggestion for a transcript, its kind inferred from the voices unless `kind` is given.
pub fn suggest_for_transcript(transcript: &Transcript, kind: Option<SessionKind>) -> CptSuggestion {
    suggest_cpt(
        kind.unwrap_or_else(|| infer_kind(transcript)),
        psychotherapy_minutes(transcript),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transcript::Cue;

    fn code(kind: SessionKind, minutes: u32) -> Option<String> {
        suggest_cpt(kind, minutes).code
    }

    #[test]
    fn individual_time_bands_turn_at_16_38_and_53_minutes() {
        let i = SessionKind::Individual;
        assert_eq!(code(i, 15), None);
        assert_eq!(code(i, 16).as_deref(), Some("90832"));
        assert_eq!(code(i, 37).as_deref(), Some("90832"));
        assert_eq!(code(i, 38).as_deref(), Some("90834"));
        assert_eq!(code(i, 52).as_deref(), Some("90834"));
        assert_eq!(code(i, 53).as_deref(), Some("90837"));
        assert_eq!(code(i, 0), None);
    }

    #[test]
    fn family_codes_need_26_minutes_and_follow_the_clients_presence() {
        assert_eq!(
            code(
                SessionKind::Family {
                    client_present: true
                },
                25
            ),
            None
        );
        assert_eq!(
            code(
                SessionKind::Family {
                    client_present: true
                },
                26
            )
            .as_deref(),
            Some("90847")
        );
        assert_eq!(
            code(
                SessionKind::Family {
                    client_present: false
                },
                50
            )
            .as_deref(),
            Some("90846")
        );
        assert_eq!(code(SessionKind::Couples, 45).as_deref(), Some("90847"));
    }

    #[test]
    fn a_dictation_gets_no_code_and_a_group_gets_90853() {
        let d = suggest_cpt(SessionKind::Dictation, 60);
        assert_eq!(d.code, None);
        assert!(d.reason.contains("dictation"));
        assert_eq!(code(SessionKind::Group, 77).as_deref(), Some("90853"));
    }

    #[test]
    fn every_suggestion_gives_its_minutes_in_the_reason() {
        let s = suggest_cpt(SessionKind::Individual, 39);
        assert!(
            s.reason.contains("39 min") && s.reason.contains("38-52"),
            "{}",
            s.reason
        );
    }

    fn voices(names: &[&str]) -> Transcript {
        let cues = names
            .iter()
            .enumerate()
            .map(|(i, n)| Cue {
                start_ms: i as u64 * 1000,
                end_ms: i as u64 * 1000 + 900,
                speaker: Some(n.to_string()),
                text: "Hello.".into(),
            })
            .collect();
        Transcript { cues }
    }

    #[test]
    fn the_kind_is_read_from_the_voices() {
        assert_eq!(
            infer_kind(&voices(&["Clinician", "Client"])),
            SessionKind::Individual
        );
        assert_eq!(
            infer_kind(&voices(&["Clinician", "Partner A", "Partner B"])),
            SessionKind::Couples
        );
        assert_eq!(
            infer_kind(&voices(&["Clinician", "Client", "Parent"])),
            SessionKind::Family {
                client_present: true
            }
        );
        assert_eq!(
            infer_kind(&voices(&["Clinician", "Parent", "Partner B"])),
            SessionKind::Family {
                client_present: false
            }
        );
        assert_eq!(
            infer_kind(&voices(&["Clinician", "Member A", "Member B"])),
            SessionKind::Group
        );
        assert_eq!(infer_kind(&voices(&["Clinician"])), SessionKind::Dictation);
    }

    #[test]
    fn minutes_are_whole_minutes_to_the_last_cue_end() {
        let mut t = voices(&["Clinician", "Client"]);
        t.cues[1].end_ms = 38 * 60_000 + 59_999;
        assert_eq!(psychotherapy_minutes(&t), 38);
        assert_eq!(
            suggest_for_transcript(&t, None).code.as_deref(),
            Some("90834")
        );
        assert_eq!(
            suggest_for_transcript(&t, Some(SessionKind::Group))
                .code
                .as_deref(),
            Some("90853")
        );
    }
}
