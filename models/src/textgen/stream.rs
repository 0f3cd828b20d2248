//! Turning a stream of token bytes into a stream of text that never shows a partial UTF-8
//! character or any part of a stop sequence.

/// What one token added.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// Text that is now final and can be shown.
    pub emit: String,
    /// A stop sequence was reached; the text ends before it.
    pub stopped: bool,
}

/// Accumulates generated text, finds stop sequences, and holds back what might still become one.
#[derive(Debug)]
pub struct StopScanner {
    stops: Vec<String>,
    longest_stop: usize,
    pending: Vec<u8>,
    text: String,
    emitted: usize,
}

impl StopScanner {
    /// A scanner for these stop sequences (may be empty).
    pub fn new(stops: &[String]) -> Self {
        let longest_stop = stops.iter().map(String::len).max().unwrap_or(0);
        Self {
            stops: stops.to_vec(),
            longest_stop,
            pending: Vec::new(),
            text: String::new(),
            emitted: 0,
        }
    }

    /// Adds one token's bytes.
    pub fn push(&mut self, bytes: &[u8]) -> Step {
        self.pending.extend_from_slice(bytes);
        self.drain_complete_chars();
        // Only the tail can hold a new match: everything before it was scanned already.
        let from = floor_char_boundary(&self.text, self.emitted.saturating_sub(self.longest_stop));
        let first_stop = self
            .stops
            .iter()
            .filter_map(|s| self.text[from..].find(s.as_str()).map(|i| from + i))
            .min();
        if let Some(at) = first_stop {
            self.text.truncate(at);
            self.pending.clear();
            let emit = self.text[self.emitted.min(at)..].to_string();
            self.emitted = at;
            return Step {
                emit,
                stopped: true,
            };
        }
        let safe = self.text.len() - self.held_back();
        let emit = self.text[self.emitted..safe].to_string();
        self.emitted = safe;
        Step {
            emit,
            stopped: false,
        }
    }

    /// Ends the stream: returns what was held back (incomplete bytes become U+FFFD).
    pub fn finish(&mut self) -> String {
        if !self.pending.is_empty() {
            self.text.push_str(&String::from_utf8_lossy(&self.pending));
            self.pending.clear();
        }
        let rest = self.text[self.emitted..].to_string();
        self.emitted = self.text.len();
        rest
    }

    /// All text so far (after a stop, the text before it).
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Moves complete UTF-8 characters from `pending` to `text`; invalid bytes become U+FFFD.
    fn drain_complete_chars(&mut self) {
        loop {
            match std::str::from_utf8(&self.pending) {
                Ok(s) => {
                    self.text.push_str(s);
                    self.pending.clear();
                    return;
                }
                Err(e) => {
                    let valid = e.valid_up_to();
                    let good = std::str::from_utf8(&self.pending[..valid])
                        .expect("valid_up_to marks valid UTF-8");
                    self.text.push_str(good);
                    match e.error_len() {
                        Some(bad) => {
                            self.text.push('\u{FFFD}');
                            self.pending.drain(..valid + bad);
                        }
                        None => {
                            // An incomplete character at the end: wait for the next token.
                            self.pending.drain(..valid);
                            return;
                        }
                    }
                }
            }
        }
    }

    /// Length of the longest end of `text` (after what was emitted) that begins a stop sequence.
    fn held_back(&self) -> usize {
        let tail = &self.text[self.emitted..];
        self.stops
            .iter()
            .flat_map(|stop| {
                (1..stop.len())
                    .filter(|&k| stop.is_char_boundary(k))
                    .map(move |k| &stop[..k])
            })
            .filter(|prefix| tail.ends_with(prefix))
            .map(str::len)
            .max()
            .unwrap_or(0)
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(stops: &[&str], tokens: &[&str]) -> (Vec<String>, bool, String) {
        let stops: Vec<String> = stops.iter().map(|s| s.to_string()).collect();
        let mut sc = StopScanner::new(&stops);
        let mut out = Vec::new();
        for t in tokens {
            let step = sc.push(t.as_bytes());
            out.push(step.emit);
            if step.stopped {
                return (out, true, sc.text().to_string());
            }
        }
        out.push(sc.finish());
        (out, false, sc.text().to_string())
    }

    #[test]
    fn text_that_might_start_a_stop_sequence_is_held_back_until_it_cannot() {
        let (out, stopped, text) = run(&["\nUser:"], &["Hello", "\n", "Us", "ual day"]);
        assert_eq!(out, vec!["Hello", "", "", "\nUsual day", ""]);
        assert!(!stopped);
        assert_eq!(text, "Hello\nUsual day");
    }

    #[test]
    fn a_stop_sequence_split_across_tokens_ends_the_text_before_it() {
        let (out, stopped, text) = run(&["END"], &["The story", " E", "ND here"]);
        assert!(stopped);
        assert_eq!(text, "The story ");
        assert_eq!(out.concat(), "The story ");
    }

    #[test]
    fn a_character_split_across_tokens_is_emitted_whole() {
        let mut sc = StopScanner::new(&[]);
        let e = "é".as_bytes();
        assert_eq!(sc.push(&e[..1]).emit, "");
        assert_eq!(sc.push(&e[1..]).emit, "é");
    }

    #[test]
    fn invalid_bytes_become_replacement_characters() {
        let mut sc = StopScanner::new(&[]);
        assert_eq!(sc.push(&[b'a', 0xFF, b'b']).emit, "a\u{FFFD}b");
        sc.push(&[0xC3]);
        assert_eq!(
            sc.finish(),
            "\u{FFFD}",
            "a dangling lead byte is flushed at the end"
        );
    }
}
