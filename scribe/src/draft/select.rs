//! What a note keeps: each unit's salience (how much clinically relevant content it carries)
//! and the kind of content it is (what the client reports, an intervention, the plan...).
//!
//! Salience is a logistic score over a few readable features: content words, numbers, who is
//! speaking, questions, similarity to clinical and to small-talk anchors, and risk evidence.
//! The weights were fitted once on the public and project corpora (see `evals/README.md`) and
//! are fixed here, so a draft never depends on anything but its transcript.

use super::units::Unit;
use crate::risk::SpeakerRole;
use prompts::ContentKind;

/// Sentences of the sort small talk is made of; similarity to them lowers salience.
pub const SMALL_TALK_ANCHORS: &[&str] = &[
    "Did you find parking okay?",
    "The traffic was terrible on the way over here.",
    "Can I get you some water or coffee?",
    "It's so cold out today, they say it might snow this weekend.",
    "Did you watch the game last night?",
    "I like your new glasses.",
    "Hi, come on in, have a seat wherever you like.",
    "Sorry, let me just silence my phone.",
    "The elevator is broken again.",
    "Nice to see you, how was the drive?",
    "Okay, thanks, you too, take care.",
    "Let me pull up your chart on the computer.",
];

/// Names of the salience features, in the order of [`features`] (for evals and fitting).
pub const FEATURE_NAMES: [&str; 10] = [
    "bias", "ln_content", "number", "client_side", "question", "clinical_sim", "small_talk_sim",
    "risk", "answer", "short",
];

/// Positions of the similarity features in [`FEATURE_NAMES`].
pub const CLINICAL_SIM: usize = 5;
pub const SMALL_TALK_SIM: usize = 6;
/// Position of the risk-evidence feature.
pub const RISK: usize = 7;

/// Weights of [`FEATURE_NAMES`], fitted by logistic regression against gold evidence cues.
const WEIGHTS: [f32; 10] = [-3.68, 1.36, 0.30, 1.38, -0.28, 2.21, -1.17, 1.28, 0.54, -0.28];

/// A unit's salience features.
pub fn features(unit: &Unit, clinical_sim: f32, small_talk_sim: f32, is_risk: bool) -> [f32; 10] {
    let client_side = unit.role != SpeakerRole::Clinician;
    [
        1.0,
        (1.0 + unit.content_words as f32).ln(),
        f32::from(u8::from(unit.has_number)),
        f32::from(u8::from(client_side)),
        f32::from(u8::from(unit.said.trim_end().ends_with('?'))),
        clinical_sim,
        small_talk_sim,
        f32::from(u8::from(is_risk)),
        f32::from(u8::from(unit.question.is_some())),
        f32::from(u8::from(unit.content_words <= 3)),
    ]
}

/// The probability-like salience of a feature vector.
pub fn salience(f: &[f32; 10]) -> f32 {
    let z: f32 = f.iter().zip(WEIGHTS).map(|(x, w)| x * w).sum();
    1.0 / (1.0 + (-z).exp())
}

/// Words that mark each kind of content. Matched on lowercased text with word boundaries at
/// both ends (a marker may be several words).
const PLAN_MARKERS: &[&str] = &[
    "homework", "this week", "next week", "next session", "next time", "before we meet",
    "between now and", "between sessions", "for next", "i'd like you to", "i want you to",
    "schedule", "appointment", "refer", "referral", "bring", "tomorrow", "safety plan",
    "see you", "follow up", "follow-up", "going forward", "over the next", "each day",
    "every day", "once a day", "twice a day", "every morning", "every night", "daily", "plan is",
    "the plan", "call intake", "sign the release", "release of information", "will call",
    "we'll meet", "we will meet", "next appointment", "book", "reschedule", "practice it",
    "practise", "keep track", "keep filling", "log it", "write down",
];
const GOAL_MARKERS: &[&str] = &[
    "goal", "goals", "i want to be able", "i'd like to be able", "get back to", "work toward",
    "working toward", "hope to", "someday", "i want to get", "i'd love to", "what i want is",
    "be able to", "treatment plan",
];
const ASSESSMENT_MARKERS: &[&str] = &[
    "sounds like", "it seems", "seems like", "it looks like", "pattern", "progress",
    "i'm concerned", "i am concerned", "concern", "makes sense", "what i'm noticing",
    "what i'm hearing", "cycle", "right direction", "improvement", "improving", "keeps the",
    "maintaining", "maintains", "what keeps", "that tells me", "my sense", "i think what",
    "moderate range", "mild range", "severe range", "risk", "safe", "meets", "criteria",
    "overall", "stuck", "working", "i'm glad", "i'm worried", "worried about you",
];
const INTERVENTION_MARKERS: &[&str] = &[
    "let's", "let us", "try", "practice", "imagine", "notice", "breathe", "breathing",
    "what if", "what would", "evidence", "exercise", "worksheet", "skill", "chain", "step",
    "turn to", "tell him", "tell her", "can you", "would you be willing", "psychoeducation",
    "the way", "what happens", "when you avoid", "on a scale", "rate", "ready", "timer",
    "together", "role", "validate", "reframe", "thought", "urge", "surf", "ground",
    "five things", "what went through", "alternative", "predict", "experiment",
];
const OBSERVATION_MARKERS: &[&str] = &[
    "score", "scored", "rated", "rating", "scale", "out of ten", "out of 10", "/10", "phq",
    "gad", "pcl", "audit", "percent", "questionnaire", "screen", "appears", "tearful", "crying",
];
const RESPONSE_MARKERS: &[&str] = &[
    "felt", "feels", "helped", "helps", "better", "easier", "harder", "weird", "proud", "calmer",
    "less", "worked", "noticed", "came down", "went down", "went up", "surprised", "didn't expect",
    "makes sense", "i can do", "i could do", "i'll try", "i will try", "okay, i'll", "i get it",
];

fn marker_hits(lower: &str, markers: &[&str]) -> usize {
    markers.iter().filter(|m| contains_word(lower, m)).count()
}

/// `needle` in `hay` with non-alphanumeric characters (or the ends) on both sides.
pub fn contains_word(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(at) = hay[from..].find(needle) {
        let start = from + at;
        let end = start + needle.len();
        let alnum = |c: char| c.is_alphanumeric();
        let before_ok = !needle.starts_with(alnum) || hay[..start].chars().next_back().is_none_or(|c| !alnum(c));
        let after_ok = !needle.ends_with(alnum) || hay[end..].chars().next().is_none_or(|c| !alnum(c));
        if before_ok && after_ok {
            return true;
        }
        from = start + needle.len().max(1);
        while !hay.is_char_boundary(from) {
            from += 1;
        }
    }
    false
}

/// Names of the content-kind features, in the order of [`kind_features`].
pub const KIND_FEATURE_NAMES: [&str; 16] = [
    "bias", "clinician", "question", "answer", "rating", "number", "position", "late", "end",
    "plan_markers", "goal_markers", "assessment_markers", "intervention_markers",
    "observation_markers", "response_markers", "after_intervention",
];

/// Words of an in-session rating question ("zero to ten", "how similar").
const RATING_MARKERS: &[&str] = &[
    "scale", "zero to ten", "0 to 10", "out of ten", "out of 10", "rate", "rating", "similar",
    "similarity", "how anxious", "how strong", "how high", "what number", "percent", "how much do you believe",
];

/// The features the content-kind model reads. `position` is the unit's place in the session
/// (0 at the start, 1 at the end): plans come late, check-ins early.
pub fn kind_features(unit: &Unit, after_intervention: bool, position: f32) -> [f32; 16] {
    let lower = unit.said.to_lowercase().replace('\u{2019}', "'");
    let question_lower = unit.question.as_deref().unwrap_or_default().to_lowercase();
    let hits = |m: &[&str]| (marker_hits(&lower, m) as f32).min(3.0);
    let flag = |b: bool| f32::from(u8::from(b));
    [
        1.0,
        flag(unit.role == SpeakerRole::Clinician),
        flag(lower.trim_end().ends_with('?')),
        flag(unit.question.is_some()),
        flag(marker_hits(&question_lower, RATING_MARKERS) + marker_hits(&lower, RATING_MARKERS) > 0),
        flag(unit.has_number),
        position,
        flag(position >= 0.66),
        flag(position >= 0.85),
        hits(PLAN_MARKERS),
        hits(GOAL_MARKERS),
        hits(ASSESSMENT_MARKERS),
        hits(INTERVENTION_MARKERS),
        hits(OBSERVATION_MARKERS),
        hits(RESPONSE_MARKERS),
        flag(after_intervention),
    ]
}

/// Weights of the content-kind model, one row per kind in the order of [`ContentKind::ALL`],
/// one column per [`KIND_FEATURE_NAMES`]; fitted by multinomial logistic regression on the
/// kinds the gold annotations imply (see `evals/tools/fit_kinds.py`).
const KIND_WEIGHTS: [[f32; 16]; 7] = [
    // client_report
    [3.11, -1.12, 0.46, -0.29, 0.24, 0.35, -3.06, -0.32, 0.03, 0.02, 0.01, -0.75, -0.20, 0.54, 0.15, 0.34],
    // observation
    [0.63, 0.68, 0.44, 0.30, -0.41, 0.26, -2.80, -0.24, 1.14, 0.09, -0.15, -0.14, -0.28, 0.53, 0.01, -0.38],
    // intervention
    [1.30, 0.38, 0.03, 0.18, 0.55, -0.04, 1.09, -1.34, -1.45, -0.61, -0.28, 0.16, 0.34, -0.27, 0.35, -0.26],
    // response
    [0.07, -0.62, -0.72, 0.11, 0.32, -0.33, 1.30, 0.29, -0.45, -0.23, -0.17, -0.27, 0.59, -0.42, 0.41, -0.13],
    // assessment
    [-1.76, 1.12, -0.34, 0.26, -0.24, -0.35, 0.73, -0.08, 0.49, 0.23, -0.39, 1.14, -0.08, 0.28, -0.05, 0.05],
    // plan
    [-0.63, -0.13, -0.01, -0.29, -0.38, -0.15, 2.33, 0.93, 0.65, 0.71, -0.31, 0.03, 0.00, -0.62, -0.62, 0.14],
    // goal
    [-2.72, -0.30, 0.14, -0.28, -0.07, 0.26, 0.43, 0.75, -0.41, -0.22, 1.29, -0.17, -0.37, -0.04, -0.24, 0.24],
];

/// How likely each kind of content is for a unit, in the order of [`ContentKind::ALL`]
/// (they sum to 1). A heading the clinician said aloud in a dictation decides outright.
pub fn content_kinds(unit: &Unit, features: &[f32; 16]) -> [f32; 7] {
    if let Some(kind) = unit.spoken_kind {
        let mut p = [0.0; 7];
        p[kind.index()] = 1.0;
        return p;
    }
    let mut z = [0.0f32; 7];
    for (zk, w) in z.iter_mut().zip(KIND_WEIGHTS) {
        *zk = w.iter().zip(features).map(|(a, b)| a * b).sum();
    }
    softmax(z, 1.0)
}

/// Whether a clinician's turn looks like an intervention (for the next turns' response kind).
pub fn is_intervention(unit: &Unit, kinds: &[f32; 7]) -> bool {
    let i = ContentKind::Intervention.index();
    unit.role == SpeakerRole::Clinician && kinds.iter().enumerate().all(|(k, v)| k == i || *v <= kinds[i])
}

fn softmax(s: [f32; 7], sharpness: f32) -> [f32; 7] {
    let max = s.iter().copied().fold(f32::MIN, f32::max);
    let e: Vec<f32> = s.iter().map(|v| ((v - max) * sharpness).exp()).collect();
    let total: f32 = e.iter().sum();
    let mut out = [0.0; 7];
    for (o, v) in out.iter_mut().zip(e) {
        *o = v / total;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::draft::phrase::Speaker;

    fn unit(role: SpeakerRole, said: &str) -> Unit {
        Unit {
            evidence: vec![1],
            speaker: if role == SpeakerRole::Clinician { Speaker::Clinician } else { Speaker::Person("Client".into()) },
            role,
            said: said.into(),
            question: None,
            spoken_kind: None,
            content_words: super::super::text::content_stems(said).len(),
            has_number: super::super::text::has_number(said),
            safety_talk: false,
        }
    }

    fn top(p: [f32; 7]) -> ContentKind {
        let (i, _) = p.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap();
        ContentKind::ALL[i]
    }

    fn kinds(u: &Unit, after: bool, position: f32) -> [f32; 7] {
        content_kinds(u, &kind_features(u, after, position))
    }

    #[test]
    fn kinds_follow_the_speaker_the_markers_and_the_place_in_the_session() {
        assert_eq!(top(kinds(&unit(SpeakerRole::Client, "I had three attacks at the store."), false, 0.4)), ContentKind::ClientReport);
        assert_eq!(top(kinds(&unit(SpeakerRole::Clinician, "For homework this week, practise the breathing every day."), false, 0.4)), ContentKind::Plan);
        assert_eq!(top(kinds(&unit(SpeakerRole::Clinician, "It sounds like the avoidance is what keeps the panic going, and that's the pattern."), false, 0.4)), ContentKind::Assessment);
        assert_eq!(top(kinds(&unit(SpeakerRole::Clinician, "Let's try breathing through a straw. Ready?"), false, 0.4)), ContentKind::Intervention);
        // Goals are rare in the fitting data: the markers raise the odds rather than decide.
        let goal = ContentKind::Goal.index();
        let with = kinds(&unit(SpeakerRole::Client, "My goal is to be able to ride the subway again."), false, 0.4)[goal];
        let without = kinds(&unit(SpeakerRole::Client, "I rode the subway to work again on Monday."), false, 0.4)[goal];
        assert!(with > 2.0 * without, "{with} {without}");
        let response = ContentKind::Response.index();
        let after = kinds(&unit(SpeakerRole::Client, "That felt weird but it helped, it came down faster."), true, 0.4)[response];
        let plain = kinds(&unit(SpeakerRole::Client, "I had three attacks at the store."), false, 0.4)[response];
        assert!(after > plain, "{after} {plain}");
        // Late in the session the same words lean to the plan.
        let plan = ContentKind::Plan.index();
        let u = unit(SpeakerRole::Client, "I'll try the breathing every morning.");
        assert!(kinds(&u, false, 0.95)[plan] > kinds(&u, false, 0.2)[plan]);
    }

    #[test]
    fn feature_positions_name_the_right_features() {
        assert_eq!(FEATURE_NAMES[CLINICAL_SIM], "clinical_sim");
        assert_eq!(FEATURE_NAMES[SMALL_TALK_SIM], "small_talk_sim");
        assert_eq!(FEATURE_NAMES[RISK], "risk");
    }

    #[test]
    fn word_matching_respects_boundaries() {
        assert!(contains_word("i rate it a five", "rate"));
        assert!(!contains_word("i was irate", "rate"));
        assert!(contains_word("score 8/10 today", "/10"));
    }

    #[test]
    fn salience_rises_with_clinical_content_and_falls_with_small_talk() {
        let u = unit(SpeakerRole::Client, "I had three panic attacks this week, the worst at the grocery store.");
        let clinical = salience(&features(&u, 0.6, 0.1, false));
        let chatty = salience(&features(&u, 0.1, 0.6, false));
        assert!(clinical > 0.5 && chatty < clinical, "{clinical} {chatty}");
    }
}
