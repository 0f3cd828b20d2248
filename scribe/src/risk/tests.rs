//! Unit tests of the risk rules: indirect language, idioms, negations, clinician questions,
//! history framing, grouping and follow-up answers. Each transcript here is written for the
//! test; none is taken from a corpus.

use super::*;

/// Builds a transcript from `(voice, text)` turns, one second apart.
fn session(turns: &[(&str, &str)]) -> Transcript {
    let cues = turns
        .iter()
        .enumerate()
        .map(|(i, (voice, text))| Cue {
            start_ms: i as u64 * 1000,
            end_ms: i as u64 * 1000 + 900,
            speaker: Some((*voice).to_string()),
            text: (*text).to_string(),
        })
        .collect();
    Transcript { cues }
}

fn flags(turns: &[(&str, &str)]) -> Vec<RiskFlag> {
    detect_risks(&session(turns), &role_of_voice)
}

fn categories(turns: &[(&str, &str)]) -> Vec<RiskCategory> {
    flags(turns).into_iter().map(|f| f.category).collect()
}

#[test]
fn indirect_burden_language_is_passive_suicidal_ideation() {
    let f = flags(&[
        ("Clinician", "What goes through your mind at night?"),
        (
            "Client",
            "Honestly? I think my family would be better off without me.",
        ),
    ]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].category, RiskCategory::SuicidalIdeation);
    assert_eq!(f[0].evidence, vec![2]);
    assert_eq!(
        f[0].quote,
        "I think my family would be better off without me."
    );
    assert!(f[0].severity.contains("passive"), "{}", f[0].severity);
}

#[test]
fn a_stockpile_makes_the_severity_active_with_a_plan() {
    let f = flags(&[
        ("Client", "I keep thinking about ending it all."),
        ("Clinician", "Have you thought about how?"),
        ("Client", "I've been stockpiling my meds in a drawer."),
    ]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].evidence, vec![1, 3]);
    assert!(
        f[0].severity.contains("active") && f[0].severity.contains("plan"),
        "{}",
        f[0].severity
    );
}

#[test]
fn idioms_of_killing_and_dying_are_not_risk() {
    let turns = [
        ("Client", "This commute is killing me."),
        (
            "Client",
            "My back is killing me and I could've died of embarrassment at the store.",
        ),
        (
            "Client",
            "Do you want me to kill myself at work so you can sleep in?",
        ),
        (
            "Partner A",
            "I swear I'm going to kill him if he forgets the permission slip again.",
        ),
        ("Client", "If I'm late again my mom is going to kill me."),
    ];
    assert_eq!(categories(&turns), vec![]);
}

#[test]
fn denials_are_not_flags() {
    let turns = [
        (
            "Clinician",
            "Any thoughts of hurting yourself, or of killing yourself?",
        ),
        (
            "Client",
            "No. Never. I don't want to die, I want this week to be over.",
        ),
        ("Clinician", "And anyone else?"),
        (
            "Client",
            "No, I would never hurt him. I'm not going to do anything to him.",
        ),
    ];
    assert_eq!(categories(&turns), vec![]);
}

#[test]
fn a_clinicians_screening_question_is_not_a_disclosure() {
    let turns = [
        (
            "Clinician",
            "Have you had thoughts of killing yourself, or that everyone would be better off?",
        ),
        ("Client", "I'd rather talk about work."),
    ];
    assert_eq!(categories(&turns), vec![]);
}

#[test]
fn clearly_dated_history_is_not_a_current_flag() {
    let turns = [
        (
            "Client",
            "After my overdose two years ago I don't keep pills around.",
        ),
        ("Client", "My uncle killed himself when I was a teenager."),
        (
            "Client",
            "Back when I was using, I drank every day. I'm eighteen months sober now.",
        ),
    ];
    assert_eq!(categories(&turns), vec![]);
}

#[test]
fn a_euphemism_for_relapse_counts_when_someone_is_in_recovery() {
    let f = flags(&[
        (
            "Client",
            "My sponsor said to say it first. I went out Saturday. Like, went out went out.",
        ),
        ("Clinician", "What does went out mean for you?"),
        ("Client", "I drank. A lot."),
    ]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].category, RiskCategory::SubstanceRelapse);
    assert_eq!(f[0].evidence, vec![1, 3]);
    assert_eq!(f[0].quote, "Like, went out went out.");
    assert!(f[0].severity.contains("alcohol"), "{}", f[0].severity);
}

#[test]
fn drinking_without_any_recovery_context_is_not_a_relapse() {
    assert_eq!(
        categories(&[("Client", "I drank at the wedding and danced all night.")]),
        vec![]
    );
}

#[test]
fn a_follow_up_answer_joins_the_open_disclosure_but_a_denial_does_not() {
    let f = flags(&[
        ("Client", "I've been cutting my arms again."),
        ("Clinician", "How often this week?"),
        ("Client", "Three times, maybe four."),
        ("Clinician", "Any thoughts of dying when you do?"),
        ("Client", "No. It's not about that."),
    ]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].category, RiskCategory::SelfHarm);
    assert_eq!(f[0].evidence, vec![1, 3]);
    assert!(f[0].severity.contains("cutting"), "{}", f[0].severity);
}

#[test]
fn a_clinicians_reflection_adds_evidence_but_never_starts_a_flag() {
    let only_clinician_reflection = [
        ("Client", "Work has been hard."),
        (
            "Clinician",
            "Some people in your spot think everyone would be better off without them.",
        ),
    ];
    assert_eq!(categories(&only_clinician_reflection), vec![]);
    let f = flags(&[
        ("Client", "I don't want to wake up anymore."),
        (
            "Clinician",
            "So you've had thoughts that you'd be better off dead.",
        ),
    ]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].evidence, vec![1, 2]);
}

#[test]
fn a_dictation_counts_the_clinicians_statements_and_reads_denials() {
    let f = flags(&[
        (
            "Clinician",
            "Client denies suicidal ideation, intent or plan. No history of self-harm.",
        ),
        (
            "Clinician",
            "She states that her partner hits her daughter with a belt, leaving marks.",
        ),
    ]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].category, RiskCategory::ChildAbuse);
    assert_eq!(f[0].evidence, vec![2]);
}

#[test]
fn homicidal_ideation_needs_more_than_hyperbole() {
    let f = flags(&[(
        "Client",
        "Some nights I lie there picturing shooting him in the parking lot.",
    )]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].category, RiskCategory::HomicidalIdeation);
}

#[test]
fn elder_neglect_needs_an_older_adult_and_a_deprivation() {
    let f = flags(&[
        (
            "Client",
            "My dad is eighty-seven and my sister lives with him.",
        ),
        (
            "Client",
            "When I got there he had no food in the fridge, and she'd left him alone since Friday.",
        ),
    ]);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].category, RiskCategory::ElderAbuse);
    assert_eq!(f[0].evidence, vec![2]);
    assert_eq!(
        categories(&[(
            "Client",
            "We had no food in the house after the trip, so we ordered pizza."
        )]),
        vec![]
    );
}

#[test]
fn each_quote_is_a_verbatim_substring_of_its_first_cue() {
    let t = session(&[
        ("Partner A", "Our son broke the tablet on Thursday."),
        (
            "Partner B",
            "I lost it. I took off my belt. And I hit him with it.",
        ),
    ]);
    let f = detect_risks(&t, &role_of_voice);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].evidence, vec![2]);
    assert_eq!(f[0].quote, "I took off my belt. And I hit him with it.");
    assert!(t.cues[1].text.contains(&f[0].quote));
}

#[test]
fn flags_serialise_with_snake_case_categories() {
    let f = flags(&[("Client", "I've been thinking about killing myself.")]);
    let json = serde_json::to_string(&f).expect("flags serialise");
    assert!(
        json.contains("\"category\":\"suicidal_ideation\""),
        "{json}"
    );
    assert_eq!(
        RiskCategory::parse("elder_abuse"),
        Some(RiskCategory::ElderAbuse)
    );
    assert_eq!(RiskCategory::parse("elder abuse"), None);
}

#[test]
fn varied_wordings_of_each_risk_are_recognised() {
    let cases: [(&[(&str, &str)], RiskCategory); 9] = [
        (
            &[(
                "Client",
                "Some days I wonder what's the point of going on. I just want to disappear.",
            )],
            RiskCategory::SuicidalIdeation,
        ),
        (
            &[("Client", "I looked up how many pills it would take.")],
            RiskCategory::SuicidalIdeation,
        ),
        (
            &[("Client", "I really want to hurt him for what he did.")],
            RiskCategory::HomicidalIdeation,
        ),
        (
            &[("Client", "I cut again last night, on my thigh.")],
            RiskCategory::SelfHarm,
        ),
        (
            &[(
                "Client",
                "Ninety days sober and then I had a few beers at the game.",
            )],
            RiskCategory::SubstanceRelapse,
        ),
        (
            &[(
                "Parent",
                "He's been in recovery since spring. Last week he got high at a party.",
            )],
            RiskCategory::SubstanceRelapse,
        ),
        (
            &[(
                "Client",
                "My stepdad touches my daughter inappropriately when I'm at work.",
            )],
            RiskCategory::ChildAbuse,
        ),
        (
            &[(
                "Client",
                "My grandmother is ninety and the aide has been stealing from her bank account.",
            )],
            RiskCategory::ElderAbuse,
        ),
        (
            &[(
                "Client",
                "I'm eight months clean. I smoked crystal on Friday.",
            )],
            RiskCategory::SubstanceRelapse,
        ),
    ];
    for (turns, category) in cases {
        assert_eq!(categories(turns), vec![category], "{turns:?}");
    }
}

#[test]
fn ordinary_meanings_of_risk_words_are_not_flags() {
    let turns = [
        (
            "Client",
            "I'm cutting carbs again and I burned myself on the stove.",
        ),
        ("Client", "I hurt myself at the gym lifting."),
        (
            "Client",
            "I had a glass of water and a coffee, I'm in recovery from knee surgery.",
        ),
        (
            "Client",
            "The kids were jumping off the dock all afternoon.",
        ),
        (
            "Client",
            "I wanted to disappear into the floor when he said that at the party.",
        ),
        ("Client", "I could wring his neck, honestly."),
    ];
    assert_eq!(categories(&turns), vec![]);
}

#[test]
fn a_dictation_reports_relapse_and_homicidal_ideation_in_the_third_person() {
    let f = flags(&[
        (
            "Clinician",
            "Client is in recovery from alcohol use disorder, sober since June.",
        ),
        (
            "Clinician",
            "Client reports drinking again last weekend. Client endorsed homicidal ideation toward a neighbor.",
        ),
    ]);
    let got: Vec<RiskCategory> = f.iter().map(|f| f.category).collect();
    assert!(
        got.contains(&RiskCategory::SubstanceRelapse)
            && got.contains(&RiskCategory::HomicidalIdeation),
        "{f:?}"
    );
    assert!(f.iter().all(|f| f.evidence == vec![2]), "{f:?}");
}

#[test]
fn relapse_wordings_keep_their_alcohol_and_drop_ordinary_slips() {
    let lapse = [(
        "Client",
        "I'm ninety days sober. Then I drank a bottle of wine on Friday.",
    )];
    assert_eq!(categories(&lapse), vec![RiskCategory::SubstanceRelapse]);
    let ordinary = [(
        "Client",
        "My sponsor is great. I slipped on the ice and I drank a glass of water after.",
    )];
    assert_eq!(categories(&ordinary), vec![]);
}

#[test]
fn hyperbole_with_a_sign_of_seriousness_is_homicidal_ideation() {
    assert_eq!(
        categories(&[(
            "Client",
            "I'd kill him if I could get away with it, and I mean it."
        )]),
        vec![RiskCategory::HomicidalIdeation]
    );
    assert_eq!(
        categories(&[("Client", "Honestly I'll kill her if she's late again, ha.")]),
        vec![]
    );
}

#[test]
fn health_anxiety_and_work_meetings_are_not_risk() {
    let turns = [
        (
            "Client",
            "In the panic I kept thinking about dying of a heart attack.",
        ),
        (
            "Client",
            "After the meeting I drank two coffees. That's the app I used.",
        ),
    ];
    assert_eq!(categories(&turns), vec![]);
}
