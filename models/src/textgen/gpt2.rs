//! Byte-level BPE as stored in GGUF (`tokenizer.ggml.model = "gpt2"`: tokens plus a ranked
//! merge list), used by Qwen2 and most newer models.
//!
//! Follows OpenAI's GPT-2 `encoder.py`: text is first split by a pre-tokenizer regex, each
//! piece's UTF-8 bytes are mapped to printable characters (`bytes_to_unicode`), and within a
//! piece the adjacent pair with the lowest merge rank is merged until none is in the list.
//! Special tokens (GGUF token types control and user-defined, e.g. `<|im_start|>`) are matched
//! whole before any of that, so chat templates can use them.

use std::collections::HashMap;

use fancy_regex::Regex;

/// GPT-2's pre-tokenizer (`encoder.py`), used when GGUF names no other.
pub const GPT2_PATTERN: &str =
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+";
/// Qwen2's pre-tokenizer (its `tokenizer.json`; llama.cpp `LLAMA_VOCAB_PRE_TYPE_QWEN2`).
pub const QWEN2_PATTERN: &str = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// A byte-level BPE vocabulary with its merges.
#[derive(Debug, Clone)]
pub struct ByteLevelBpe {
    tokens: Vec<String>,
    ids: HashMap<String, u32>,
    ranks: HashMap<(String, String), usize>,
    specials: Vec<(String, u32)>,
    pattern: Regex,
    byte_to_char: [char; 256],
    char_to_byte: HashMap<char, u8>,
}

impl ByteLevelBpe {
    /// Builds the tokenizer. `merges` are `"left right"` lines, best first; `specials` are the
    /// ids of tokens matched whole in text (control and user-defined tokens).
    pub fn new(
        tokens: Vec<String>,
        merges: &[String],
        specials: &[u32],
        pattern: &str,
    ) -> Result<Self, String> {
        if tokens.is_empty() {
            return Err("the BPE vocabulary is empty".into());
        }
        let ids = tokens
            .iter()
            .enumerate()
            .map(|(i, t)| (t.clone(), i as u32))
            .collect();
        let mut ranks = HashMap::with_capacity(merges.len());
        for (rank, line) in merges.iter().enumerate() {
            let (l, r) = line.split_once(' ').ok_or_else(|| {
                format!("merge {rank} ({line:?}) is not two tokens separated by a space")
            })?;
            ranks.entry((l.to_string(), r.to_string())).or_insert(rank);
        }
        let mut specials: Vec<(String, u32)> = specials
            .iter()
            .filter_map(|&id| tokens.get(id as usize).map(|t| (t.clone(), id)))
            .filter(|(t, _)| !t.is_empty())
            .collect();
        // Longest first, so `<|im_start|>` wins over a shorter special that prefixes it.
        specials.sort_by_key(|s| std::cmp::Reverse(s.0.len()));
        let pattern = Regex::new(pattern).map_err(|e| format!("pre-tokenizer pattern: {e}"))?;
        let byte_to_char = bytes_to_unicode();
        let char_to_byte = byte_to_char
            .iter()
            .enumerate()
            .map(|(b, &c)| (c, b as u8))
            .collect();
        Ok(Self {
            tokens,
            ids,
            ranks,
            specials,
            pattern,
            byte_to_char,
            char_to_byte,
        })
    }

    /// Number of tokens.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The id of a token spelled exactly `token`.
    pub fn token_id(&self, token: &str) -> Option<u32> {
        self.ids.get(token).copied()
    }

    /// Token ids for `text`. With `parse_special`, special-token strings in `text` become their
    /// ids; without it (untrusted text) they are spelled as ordinary bytes.
    pub fn encode(&self, text: &str, parse_special: bool) -> Result<Vec<u32>, String> {
        let mut ids = Vec::new();
        let mut rest = text;
        while !rest.is_empty() {
            let next_special = if parse_special {
                self.find_special(rest)
            } else {
                None
            };
            let (plain, special) = match next_special {
                Some((at, token, id)) => (&rest[..at], Some((token, id))),
                None => (rest, None),
            };
            self.encode_plain(plain, &mut ids)?;
            match special {
                Some((token, id)) => {
                    ids.push(id);
                    rest = &rest[plain.len() + token.len()..];
                }
                None => rest = "",
            }
        }
        Ok(ids)
    }

    /// The bytes a token stands for.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(token) = self.tokens.get(id as usize) else {
            return Vec::new();
        };
        if self.specials.iter().any(|(_, s)| *s == id) {
            return token.as_bytes().to_vec();
        }
        token
            .chars()
            .map(|c| self.char_to_byte.get(&c).copied().unwrap_or(b'?'))
            .collect()
    }

    /// Text for a sequence of ids.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        String::from_utf8_lossy(&bytes).into_owned()
    }

    fn find_special<'a>(&'a self, text: &str) -> Option<(usize, &'a str, u32)> {
        self.specials
            .iter()
            .filter_map(|(t, id)| text.find(t.as_str()).map(|at| (at, t.as_str(), *id)))
            .min_by_key(|(at, t, _)| (*at, usize::MAX - t.len()))
    }

    fn encode_plain(&self, text: &str, ids: &mut Vec<u32>) -> Result<(), String> {
        for piece in self.pattern.find_iter(text) {
            let piece = piece.map_err(|e| format!("pre-tokenizing: {e}"))?;
            let mapped: Vec<String> = piece
                .as_str()
                .bytes()
                .map(|b| self.byte_to_char[b as usize].to_string())
                .collect();
            for part in self.merge(mapped) {
                let id = self
                    .ids
                    .get(&part)
                    .ok_or_else(|| format!("the vocabulary lacks byte-level token {part:?}"))?;
                ids.push(*id);
            }
        }
        Ok(())
    }

    /// Repeatedly merges the adjacent pair with the lowest rank (GPT-2 `encoder.py::bpe`).
    fn merge(&self, mut parts: Vec<String>) -> Vec<String> {
        while parts.len() > 1 {
            let best = (0..parts.len() - 1)
                .filter_map(|i| {
                    self.ranks
                        .get(&(parts[i].clone(), parts[i + 1].clone()))
                        .map(|&r| (r, i))
                })
                .min();
            let Some((_, i)) = best else { break };
            let right = parts.remove(i + 1);
            parts[i].push_str(&right);
        }
        parts
    }
}

/// GPT-2's reversible map from bytes to printable characters: printable Latin-1 bytes map to
/// themselves, the rest to U+0100 onwards in order (`encoder.py::bytes_to_unicode`).
pub fn bytes_to_unicode() -> [char; 256] {
    let mut map = ['\0'; 256];
    let mut extra = 0u32;
    for b in 0..=255u8 {
        let printable =
            (b'!'..=b'~').contains(&b) || (0xA1..=0xAC).contains(&b) || (0xAE..=0xFF).contains(&b);
        map[b as usize] = if printable {
            char::from(b)
        } else {
            extra += 1;
            char::from_u32(255 + extra).expect("U+0100..U+0143 are valid scalar values")
        };
    }
    map
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small vocabulary: the 256 byte characters, a few merges, two ChatML specials.
    pub(crate) fn toy() -> ByteLevelBpe {
        let mut tokens: Vec<String> = bytes_to_unicode().iter().map(|c| c.to_string()).collect();
        let merges: Vec<String> = [
            "h e", "l l", "he ll", "hell o", "Ġ w", "o r", "l d", "Ġw or", "Ġwor ld",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for m in &merges {
            tokens.push(m.replace(' ', ""));
        }
        tokens.push("<|im_start|>".into());
        tokens.push("<|im_end|>".into());
        let specials = [tokens.len() as u32 - 2, tokens.len() as u32 - 1];
        ByteLevelBpe::new(tokens, &merges, &specials, QWEN2_PATTERN).expect("valid toy vocabulary")
    }

    #[test]
    fn the_byte_map_is_a_bijection_and_maps_space_to_g_dot() {
        let map = bytes_to_unicode();
        let distinct: std::collections::HashSet<char> = map.iter().copied().collect();
        assert_eq!(distinct.len(), 256);
        assert_eq!(map[b' ' as usize], 'Ġ');
        assert_eq!(map[b'a' as usize], 'a');
    }

    #[test]
    fn merges_apply_by_rank_within_each_pretoken() {
        let bpe = toy();
        let ids = bpe.encode("hello world", false).unwrap();
        assert_eq!(
            ids,
            vec![
                bpe.token_id("hello").unwrap(),
                bpe.token_id("Ġworld").unwrap()
            ]
        );
    }

    #[test]
    fn any_text_round_trips_through_bytes() {
        let bpe = toy();
        let text = "Héllo wörld! 12 \n\t ✓ <|im_end|>";
        let ids = bpe.encode(text, false).unwrap();
        assert_eq!(bpe.decode(&ids), text);
        assert!(
            !ids.contains(&bpe.token_id("<|im_end|>").unwrap()),
            "untrusted text cannot inject specials"
        );
    }

    #[test]
    fn special_tokens_are_matched_whole_when_allowed() {
        let bpe = toy();
        let ids = bpe.encode("<|im_start|>hello<|im_end|>", true).unwrap();
        let start = bpe.token_id("<|im_start|>").unwrap();
        let end = bpe.token_id("<|im_end|>").unwrap();
        assert_eq!(ids, vec![start, bpe.token_id("hello").unwrap(), end]);
        assert_eq!(bpe.decode(&ids), "<|im_start|>hello<|im_end|>");
    }

    #[test]
    fn a_malformed_merge_line_is_rejected() {
        let err =
            ByteLevelBpe::new(vec!["a".into()], &["ab".into()], &[], GPT2_PATTERN).unwrap_err();
        assert!(err.contains("not two tokens"), "{err}");
    }
}
