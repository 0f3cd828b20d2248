//! Writing a note sentence from what someone said: reported speech in the third person
//! ("Client reported that they ...", "Clinician noted that the client ..."), built only from
//! the speaker's own words. Nothing is added but the frame and the pronoun changes, so every
//! sentence says no more than its evidence.

use super::text::{capitalise, strip_disfluencies};

/// Whose words a sentence reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Speaker {
    Clinician,
    /// The identified client, or another person in the room, by the label used in the note
    /// ("Client", "Parent", "Partner A", "Member C").
    Person(String),
}

/// Most words one drafted sentence keeps from its source; longer speech is cut at a clause.
pub const MAX_SENTENCE_WORDS: usize = 45;

/// A reported-speech sentence for `said` (one or two of the speaker's sentences).
/// `dictated`: the clinician is dictating a note about the client, already in the third
/// person, so the words are kept as they are.
pub fn report(speaker: &Speaker, said: &str, dictated: bool) -> String {
    if dictated {
        let kept = strip_disfluencies(said);
        return if kept.is_empty() { kept } else { finish(&capitalise(&kept)) };
    }
    let cleaned = shorten(&strip_disfluencies(said));
    if cleaned.is_empty() {
        return String::new();
    }
    match speaker {
        Speaker::Person(label) => {
            let body = shift_pronouns(&cleaned, Perspective::Person);
            if is_question(&cleaned) {
                format!("{label} asked, \"{}\"", cleaned.trim())
            } else {
                finish(&format!("{label} reported that {}", lower_first(&body)))
            }
        }
        Speaker::Clinician => {
            if is_question(&cleaned) {
                // Quote the question alone, so the words "Clinician asked" stay in the same
                // sentence as what was asked (a screening question is never a statement).
                let asked = super::text::sentences(&cleaned).into_iter().filter(|s| s.ends_with('?')).collect::<Vec<_>>().join(" ");
                return format!("Clinician asked, \"{}\"", asked.trim());
            }
            let lower = cleaned.to_lowercase();
            if let Some(rest) = lower.strip_prefix("let's ").or_else(|| lower.strip_prefix("let us ")) {
                let rest = &cleaned[cleaned.len() - rest.len()..];
                let body = shift_pronouns(rest, Perspective::Clinician);
                return finish(&format!("Clinician proposed that they {}", lower_first(&body)));
            }
            let body = shift_pronouns(&cleaned, Perspective::Clinician);
            finish(&format!("Clinician noted that {}", lower_first(&body)))
        }
    }
}

/// A sentence for an answer that only makes sense with its question ("Five, yeah." after
/// "And last week you had five?").
pub fn answer(speaker: &Speaker, question: &str, said: &str) -> String {
    let label = match speaker {
        Speaker::Person(label) => label.as_str(),
        Speaker::Clinician => "Clinician",
    };
    let q = shorten(&strip_disfluencies(question));
    let a = shorten(&strip_disfluencies(said));
    let a = a.trim_end_matches(['.', '!']);
    format!("Asked \"{}\", {} answered, \"{}.\"", q.trim(), label.to_lowercase_label(), a.trim())
}

trait LabelCase {
    fn to_lowercase_label(&self) -> String;
}

impl LabelCase for str {
    /// "Client" -> "client"; names with a letter ("Partner A") keep their capitals after the
    /// first word.
    fn to_lowercase_label(&self) -> String {
        let mut parts = self.splitn(2, ' ');
        let first = parts.next().unwrap_or_default().to_lowercase();
        match parts.next() {
            Some(rest) => format!("{first} {rest}"),
            None => first,
        }
    }
}

fn is_question(s: &str) -> bool {
    s.trim_end().ends_with('?')
}

fn finish(s: &str) -> String {
    let s = s.trim().trim_end_matches([',', ';', ':', '—', '-']).trim_end();
    if s.ends_with(['.', '!', '?', '"']) {
        let mut s = s.trim_end_matches('!').to_string();
        if !s.ends_with(['.', '?', '"']) {
            s.push('.');
        }
        s
    } else {
        format!("{s}.")
    }
}

fn lower_first(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        // "I" stays a capital only as the pronoun, which `shift_pronouns` has already replaced.
        Some(c) if c.is_uppercase() && !starts_with_proper(s) => c.to_lowercase().chain(chars).collect(),
        Some(c) => std::iter::once(c).chain(chars).collect(),
        None => String::new(),
    }
}

/// Names, acronyms and "Tuesday" keep their capital.
fn starts_with_proper(s: &str) -> bool {
    let first: String = s.chars().take_while(|c| c.is_alphanumeric()).collect();
    const COMMON: &[&str] = &[
        "The", "A", "An", "It", "It's", "That", "This", "There", "They", "They're", "Their", "He",
        "She", "We", "You", "My", "And", "But", "So", "When", "What", "If", "Then", "Because",
        "Just", "Maybe", "Last", "Every", "Some", "Most", "Not", "No", "Yes", "Like", "Since",
        "Sometimes", "Today", "Yesterday", "Once", "After", "Before", "Even", "Only", "All",
    ];
    first.chars().skip(1).any(|c| c.is_uppercase()) || (first.len() > 1 && !COMMON.contains(&first.as_str()) && {
        const WEEKDAYS: &[&str] = &["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
        WEEKDAYS.contains(&first.as_str())
    })
}

/// Cuts at the last clause boundary before [`MAX_SENTENCE_WORDS`] words.
fn shorten(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    if words.len() <= MAX_SENTENCE_WORDS {
        return s.trim().to_string();
    }
    let mut cut = MAX_SENTENCE_WORDS;
    for i in (MAX_SENTENCE_WORDS / 2..MAX_SENTENCE_WORDS).rev() {
        if words[i].ends_with([',', ';', '.', '—']) || words[i] == "—" {
            cut = i + 1;
            break;
        }
    }
    let joined = words[..cut].join(" ");
    format!("{} …", joined.trim_end_matches([',', ';', '—', ' ']))
}

/// Whose pronouns change: a client's "I" becomes "they"; a clinician's "you" becomes "the
/// client" and their "I" "the clinician".
#[derive(Clone, Copy, PartialEq, Eq)]
enum Perspective {
    Person,
    Clinician,
}

/// Verbs that follow a subject and take an -s with a third-person singular subject.
const AGREEING_VERBS: &[&str] = &[
    "feel", "think", "want", "need", "know", "notice", "like", "see", "seem", "get", "go", "try",
    "keep", "remember", "mean", "sound", "worry", "start", "stop", "drink", "use", "sleep",
    "eat", "work", "hear", "look", "wonder", "hope", "guess", "believe", "find", "love", "hate",
    "talk", "say", "take", "make", "come", "agree", "wish", "understand", "deserve", "plan",
    "struggle", "avoid", "carry", "check", "miss", "cry", "call", "leave", "live", "walk",
    "run", "drive", "get", "care", "tend", "usually", "always", "never", "still", "also",
];

fn third_singular(verb: &str) -> String {
    match verb {
        "have" => "has".into(),
        "do" => "does".into(),
        "don't" => "doesn't".into(),
        "are" | "am" => "is".into(),
        "were" => "was".into(),
        "aren't" => "isn't".into(),
        "weren't" => "wasn't".into(),
        "haven't" => "hasn't".into(),
        "usually" | "always" | "never" | "still" | "also" => verb.into(),
        v if v.ends_with('y') && !v.ends_with("ay") && !v.ends_with("ey") && !v.ends_with("oy") => {
            format!("{}ies", &v[..v.len() - 1])
        }
        v if v.ends_with("ch") || v.ends_with("sh") || v.ends_with('s') || v.ends_with('x') || v.ends_with('o') => {
            format!("{v}es")
        }
        v => format!("{v}s"),
    }
}

/// Replaces first- and second-person pronouns for reported speech, keeping punctuation and
/// fixing the verb right after a replaced subject.
fn shift_pronouns(text: &str, who: Perspective) -> String {
    let tokens: Vec<&str> = text.split(' ').collect();
    let mut out: Vec<String> = Vec::with_capacity(tokens.len());
    let mut i = 0;
    while i < tokens.len() {
        let token = tokens[i];
        let core_start = token.find(|c: char| c.is_alphanumeric()).unwrap_or(token.len());
        let core_end = token.rfind(|c: char| c.is_alphanumeric()).map_or(core_start, |e| e + 1).max(core_start);
        let (pre, core, post) = (&token[..core_start], &token[core_start..core_end], &token[core_end..]);
        let lower = core.to_lowercase().replace('\u{2019}', "'");
        let replaced = match who {
            Perspective::Person => person_pronoun(&lower),
            Perspective::Clinician => clinician_pronoun(&lower),
        };
        match replaced {
            Some((word, subject)) => {
                let sentence_start = out.last().is_none_or(|prev: &String| prev.ends_with(['.', '?', '!']));
                let word = if sentence_start && i > 0 { capitalise(word) } else { word.to_string() };
                out.push(format!("{pre}{word}{post}"));
                // Verb agreement after a new subject, when the verb is the next word.
                if let Some(subject) = subject
                    && post.is_empty()
                    && let Some(next) = tokens.get(i + 1)
                {
                    let next_lower = next.to_lowercase();
                    let bare = next_lower.trim_end_matches(|c: char| !c.is_alphanumeric() && c != '\'');
                    let tail = &next[bare.len().min(next.len())..];
                    let fixed = match subject {
                        Subject::They => match bare {
                            "am" => Some("are".to_string()),
                            "was" => Some("were".to_string()),
                            "wasn't" => Some("weren't".to_string()),
                            _ => None,
                        },
                        Subject::Singular => match bare {
                            "are" | "am" | "were" | "have" | "do" | "don't" | "aren't" | "weren't" | "haven't" => {
                                Some(third_singular(bare))
                            }
                            v if AGREEING_VERBS.contains(&v) => Some(third_singular(v)),
                            _ => None,
                        },
                    };
                    if let Some(fixed) = fixed {
                        out.push(format!("{fixed}{tail}"));
                        i += 2;
                        continue;
                    }
                }
            }
            None => out.push(token.to_string()),
        }
        i += 1;
    }
    out.join(" ")
}

/// What a replaced subject pronoun needs from its verb.
#[derive(Clone, Copy)]
enum Subject {
    They,
    Singular,
}

fn person_pronoun(word: &str) -> Option<(&'static str, Option<Subject>)> {
    Some(match word {
        "i" => ("they", Some(Subject::They)),
        "i'm" => ("they're", None),
        "i've" => ("they've", None),
        "i'd" => ("they'd", None),
        "i'll" => ("they'll", None),
        "me" => ("them", None),
        "my" => ("their", None),
        "mine" => ("theirs", None),
        "myself" => ("themselves", None),
        "we" => ("they", Some(Subject::They)),
        "we're" => ("they're", None),
        "we've" => ("they've", None),
        "we'd" => ("they'd", None),
        "we'll" => ("they'll", None),
        "us" => ("them", None),
        "our" => ("their", None),
        "ourselves" => ("themselves", None),
        _ => return None,
    })
}

fn clinician_pronoun(word: &str) -> Option<(&'static str, Option<Subject>)> {
    Some(match word {
        "you" => ("the client", Some(Subject::Singular)),
        "you're" => ("the client is", None),
        "you've" => ("the client has", None),
        "you'd" => ("the client would", None),
        "you'll" => ("the client will", None),
        "your" => ("the client's", None),
        "yours" => ("the client's", None),
        "yourself" => ("themselves", None),
        "i" => ("the clinician", Some(Subject::Singular)),
        "i'm" => ("the clinician is", None),
        "i've" => ("the clinician has", None),
        "i'd" => ("the clinician would", None),
        "i'll" => ("the clinician will", None),
        "me" => ("the clinician", None),
        "my" => ("the clinician's", None),
        "myself" => ("themselves", None),
        "we" => ("they", Some(Subject::They)),
        "we're" => ("they're", None),
        "we've" => ("they've", None),
        "we'll" => ("they'll", None),
        "we'd" => ("they'd", None),
        "us" => ("them", None),
        "our" => ("their", None),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client() -> Speaker {
        Speaker::Person("Client".into())
    }

    #[test]
    fn a_client_statement_becomes_reported_speech_in_the_third_person() {
        assert_eq!(
            report(&client(), "Um, I wrote down three. I was so tired of my pulse.", false),
            "Client reported that they wrote down three. They were so tired of their pulse."
        );
    }

    #[test]
    fn a_clinicians_you_becomes_the_client_with_the_verb_agreeing() {
        assert_eq!(
            report(&Speaker::Clinician, "Your score today was a 12, and you feel less tense.", false),
            "Clinician noted that the client's score today was a 12, and the client feels less tense."
        );
        assert_eq!(
            report(&Speaker::Clinician, "I think you are making progress.", false),
            "Clinician noted that the clinician thinks the client is making progress."
        );
    }

    #[test]
    fn lets_becomes_a_proposal_and_questions_are_quoted() {
        assert_eq!(
            report(&Speaker::Clinician, "Let's try breathing through a straw.", false),
            "Clinician proposed that they try breathing through a straw."
        );
        assert_eq!(report(&client(), "Is that bad?", false), "Client asked, \"Is that bad?\"");
    }

    #[test]
    fn dictation_is_kept_as_dictated() {
        assert_eq!(report(&Speaker::Clinician, "Client reports sleeping five hours", true), "Client reports sleeping five hours.");
    }

    #[test]
    fn long_speech_is_cut_at_a_clause_and_marked() {
        let long = format!("{}, and then {}", "word ".repeat(30).trim(), "more ".repeat(30).trim());
        let s = report(&client(), &long, false);
        assert!(s.ends_with('…') || s.ends_with("….") , "{s}");
        assert!(s.split_whitespace().count() <= MAX_SENTENCE_WORDS + 4, "{s}");
    }

    #[test]
    fn a_short_answer_carries_its_question() {
        assert_eq!(
            answer(&client(), "And last week, you had five?", "Five, yeah."),
            "Asked \"Last week, you had five?\", client answered, \"Five, yeah.\""
        );
    }
}
