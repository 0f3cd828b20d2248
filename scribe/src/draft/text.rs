//! Words of spoken English for drafting: sentence splitting, disfluency removal, content words
//! with a light stem, and the few word lists the selector and the grounding check share.

/// A cue's sentences (the risk reader's splitter: after `.`, `?` or `!` and a space, titles
/// such as "Dr." kept whole), trimmed.
pub fn sentences(text: &str) -> Vec<&str> {
    crate::risk::sentences::split(text).into_iter().map(|s| &text[s.start..s.end]).collect()
}

/// Lowercased word tokens (letters, digits, inner apostrophes and hyphens), curly quotes
/// straightened.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    for ch in text.chars() {
        let ch = match ch {
            '\u{2019}' | '\u{2018}' => '\'',
            _ => ch,
        };
        if ch.is_alphanumeric() || ((ch == '\'' || ch == '-') && !cur.is_empty()) {
            cur.extend(ch.to_lowercase());
        } else if !cur.is_empty() {
            out.push(std::mem::take(&mut cur).trim_end_matches(['\'', '-']).to_string());
        }
    }
    if !cur.is_empty() {
        out.push(cur.trim_end_matches(['\'', '-']).to_string());
    }
    out.retain(|w| !w.is_empty());
    out
}

/// Function words, pronouns, auxiliaries and conversational filler: words that carry no content
/// of their own for selection or grounding.
const STOPWORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any",
    "are", "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between",
    "both", "but", "by", "can", "can't", "cannot", "could", "couldn't", "did", "didn't", "do",
    "does", "doesn't", "doing", "don't", "down", "during", "each", "else", "even", "ever", "few",
    "for", "from", "further", "get", "gets", "getting", "got", "gonna", "gotta", "had", "hadn't",
    "has", "hasn't", "have", "haven't", "having", "he", "he'd", "he'll", "he's", "her", "here",
    "here's", "hers", "herself", "him", "himself", "his", "how", "how's", "i", "i'd", "i'll",
    "i'm", "i've", "if", "in", "into", "is", "isn't", "it", "it's", "its", "itself", "just",
    "kinda", "let", "let's", "like", "me", "might", "more", "most", "much", "must", "my",
    "myself", "no", "nor", "not", "now", "of", "off", "on", "once", "one", "only", "or", "other",
    "ought", "our", "ours", "ourselves", "out", "over", "own", "really", "same", "she", "she'd",
    "she'll", "she's", "should", "shouldn't", "so", "some", "something", "such", "than", "that",
    "that's", "the", "their", "theirs", "them", "themselves", "then", "there", "there's",
    "these", "they", "they'd", "they'll", "they're", "they've", "thing", "things", "this",
    "those", "through", "to", "too", "under", "until", "up", "very", "was", "wasn't", "we",
    "we'd", "we'll", "we're", "we've", "were", "weren't", "what", "what's", "when", "when's",
    "where", "where's", "which", "while", "who", "who's", "whom", "why", "why's", "will",
    "with", "won't", "would", "wouldn't", "you", "you'd", "you'll", "you're", "you've", "your",
    "yours", "yourself", "yourselves", "um", "uh", "uhm", "er", "erm", "ah", "oh", "hmm", "mm",
    "mhm", "mm-hm", "mm-hmm", "uh-huh", "yeah", "yep", "yes", "okay", "ok", "well", "right",
    "sure", "ha", "haha", "kind", "sort", "know", "mean", "guess", "actually", "basically",
    "totally", "literally", "anyway", "maybe", "probably", "go", "going", "went", "say", "said",
    "says", "tell", "told", "think", "thought", "want", "wanted", "make", "made", "way", "lot",
    "bit", "stuff", "still", "back", "see", "look", "good", "great", "fine", "cool", "hi",
    "hello", "thanks", "thank", "great", "come", "came", "take", "took", "put", "alright",
];

/// Whether a lowercased word is a stopword.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.contains(&word)
}

/// A light suffix-stripping stem (plural, -ing, -ed, -ly, -ness), enough for "panicked" to meet
/// "panic" and "attacks" to meet "attack" in the grounding check.
pub fn stem(word: &str) -> String {
    let w = word.trim_end_matches("'s");
    for suffix in ["ingly", "edly", "ness", "ments", "ment", "ings", "ing", "ies", "ied", "ed", "ly", "es", "s"] {
        if let Some(base) = w.strip_suffix(suffix)
            && base.chars().count() >= 3
        {
            let base = match suffix {
                "ies" | "ied" => format!("{base}y"),
                _ => base.to_string(),
            };
            // "panicked" -> "panick" -> "panic"; "stopped" -> "stopp" -> "stop".
            let mut chars: Vec<char> = base.chars().collect();
            if chars.len() >= 4 && chars[chars.len() - 1] == chars[chars.len() - 2] && !"lsz".contains(chars[chars.len() - 1]) {
                chars.pop();
            }
            // "panicked" -> "panick" -> "panic" (but "attacked" stays "attack").
            if chars.len() >= 6 && chars.ends_with(&['i', 'c', 'k']) {
                chars.pop();
            }
            return chars.into_iter().collect();
        }
    }
    w.to_string()
}

/// The stems of a text's content words (no stopwords, no one-letter words), in order.
pub fn content_stems(text: &str) -> Vec<String> {
    words(text)
        .into_iter()
        .filter(|w| !is_stopword(w) && (w.chars().count() > 1 || w.chars().all(|c| c.is_ascii_digit())))
        .map(|w| stem(&w))
        .collect()
}

/// Number words and digits: counts, scores, dates and ratings are what notes are made of.
pub fn has_number(text: &str) -> bool {
    const NUMBER_WORDS: &[&str] = &[
        "zero", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven",
        "twelve", "fifteen", "twenty", "thirty", "forty", "fifty", "sixty", "hundred", "half",
        "percent", "twice", "once",
    ];
    text.chars().any(|c| c.is_ascii_digit()) || words(text).iter().any(|w| NUMBER_WORDS.contains(&w.as_str()))
}

/// Leading disfluencies and discourse markers removed from a sentence ("Um, so, like, I ..."),
/// and repeated false starts ("I — I") collapsed. The words that remain are the speaker's.
pub fn strip_disfluencies(sentence: &str) -> String {
    const LEADERS: &[&str] = &[
        "um", "uh", "uhm", "er", "erm", "ah", "oh", "hmm", "mm", "mhm", "mm-hm", "so", "and",
        "but", "well", "yeah", "yes", "okay", "ok", "like", "honestly", "i mean", "you know",
        "anyway", "right", "alright", "see", "look", "no", "ha", "huh",
    ];
    let mut s = sentence.trim().to_string();
    // Inline fillers between commas: ", um," / ", like," / ", you know,".
    for filler in ["um", "uh", "uhm", "like", "you know", "I mean", "kind of", "sort of"] {
        for (from, to) in [(format!(", {filler},"), ""), (format!(" {filler},"), ""), (format!("— {filler} —"), "—")] {
            s = replace_ignore_case(&s, &from, to);
        }
    }
    loop {
        let lower = s.to_lowercase();
        let mut stripped = false;
        for leader in LEADERS {
            if let Some(rest) = lower.strip_prefix(leader)
                && (rest.starts_with([',', ' ', '.', '—', '-']) || rest.is_empty())
            {
                // Keep "No," only when more follows that is not a denial we would lose: "no" at
                // the start of an answer is content, so never strip it unless followed by a comma
                // and then more words that restate it.
                if *leader == "no" {
                    break;
                }
                s = s[leader.len()..].trim_start_matches([',', ' ', '.', '—', '-']).to_string();
                stripped = true;
                break;
            }
        }
        if !stripped {
            break;
        }
    }
    // "I — I" / "it's — it's" false starts.
    let mut words: Vec<&str> = s.split_whitespace().collect();
    let mut i = 0;
    while i + 2 < words.len() {
        if (words[i + 1] == "—" || words[i + 1] == "--") && words[i].eq_ignore_ascii_case(words[i + 2]) {
            words.drain(i..i + 2);
        } else {
            i += 1;
        }
    }
    let s = words.join(" ");
    let s = s.trim_matches(|c: char| c == ',' || c == '—' || c.is_whitespace()).to_string();
    capitalise(&s)
}

fn replace_ignore_case(haystack: &str, needle: &str, with: &str) -> String {
    let lower = haystack.to_lowercase();
    let needle_lower = needle.to_lowercase();
    if lower.len() != haystack.len() {
        return haystack.to_string();
    }
    let mut out = String::with_capacity(haystack.len());
    let mut last = 0;
    for (at, _) in lower.match_indices(&needle_lower) {
        if at < last {
            continue;
        }
        out.push_str(&haystack[last..at]);
        out.push_str(with);
        last = at + needle.len();
    }
    out.push_str(&haystack[last..]);
    out
}

/// The first letter in upper case.
pub fn capitalise(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_split_at_end_punctuation_but_not_inside_numbers() {
        assert_eq!(sentences("I rated it 2.5 today. Is that bad? No!"), vec!["I rated it 2.5 today.", "Is that bad?", "No!"]);
        assert_eq!(sentences("Just this"), vec!["Just this"]);
        assert_eq!(sentences("I saw Dr. Ruiz. Fine."), vec!["I saw Dr. Ruiz.", "Fine."]);
    }

    #[test]
    fn stems_meet_across_inflections() {
        assert_eq!(stem("attacks"), stem("attack"));
        assert_eq!(stem("panicked"), "panic");
        assert_eq!(stem("worries"), stem("worry"));
        assert_eq!(stem("drinking"), stem("drink"));
        assert_eq!(stem("stopped"), "stop");
    }

    #[test]
    fn content_stems_drop_filler_and_function_words() {
        assert_eq!(content_stems("Um, I had, like, three panic attacks."), vec!["three", "panic", "attack"]);
    }

    #[test]
    fn disfluencies_at_the_start_and_false_starts_go_but_no_stays() {
        assert_eq!(strip_disfluencies("Um, so, like, I — I wrote down three."), "I wrote down three.");
        assert_eq!(strip_disfluencies("No, I never did."), "No, I never did.");
        assert_eq!(strip_disfluencies("It was, um, Tuesday."), "It was Tuesday.");
    }

    #[test]
    fn numbers_are_seen_as_digits_or_words() {
        assert!(has_number("three attacks"));
        assert!(has_number("a 12 today"));
        assert!(!has_number("no numbers here"));
    }
}
