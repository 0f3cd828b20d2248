//! SentencePiece BPE as stored in GGUF (`tokenizer.ggml.model = "llama"`): a vocabulary of
//! pieces with scores, no merge list.
//!
//! Encoding follows SentencePiece's BPE model (`bpe_model.cc`) as llama.cpp's `llm_tokenizer_spm`
//! runs it: spaces become `▁` (U+2581) and one `▁` is prepended (`add_dummy_prefix`); the text
//! starts as single characters; the adjacent pair whose concatenation is a vocabulary piece with
//! the highest score is merged, leftmost first on ties, until no pair is in the vocabulary. A
//! symbol left that is not a piece is spelled with byte-fallback pieces `<0xNN>`, one per UTF-8
//! byte, or `<unk>` if those are missing.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};

/// The word-boundary marker SentencePiece uses for a space.
const SPACE_MARK: &str = "\u{2581}";

/// GGUF `tokenizer.ggml.token_type` values (llama.cpp `llama_token_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceKind {
    Normal,
    Unknown,
    Control,
    UserDefined,
    Unused,
    Byte,
}

impl PieceKind {
    /// Maps the GGUF code; unknown codes count as normal pieces.
    pub fn from_gguf(code: i32) -> Self {
        match code {
            2 => PieceKind::Unknown,
            3 => PieceKind::Control,
            4 => PieceKind::UserDefined,
            5 => PieceKind::Unused,
            6 => PieceKind::Byte,
            _ => PieceKind::Normal,
        }
    }
}

/// A SentencePiece vocabulary ready to encode and decode.
#[derive(Debug, Clone)]
pub struct SentencePiece {
    pieces: Vec<String>,
    scores: Vec<f32>,
    kinds: Vec<PieceKind>,
    /// Pieces a merge may produce (normal and user-defined ones).
    mergeable: HashMap<String, u32>,
    byte_ids: [Option<u32>; 256],
    unk_id: u32,
}

impl SentencePiece {
    /// Builds the tokenizer. `kinds` may be empty (all normal, `<0xNN>` names then mark bytes).
    pub fn new(
        pieces: Vec<String>,
        scores: Vec<f32>,
        kinds: Vec<PieceKind>,
        unk_id: u32,
    ) -> Result<Self, String> {
        if pieces.is_empty() {
            return Err("the SentencePiece vocabulary is empty".into());
        }
        if scores.len() != pieces.len() || (!kinds.is_empty() && kinds.len() != pieces.len()) {
            return Err(format!(
                "vocabulary has {} pieces but {} scores and {} token types",
                pieces.len(),
                scores.len(),
                kinds.len()
            ));
        }
        let kinds = if kinds.is_empty() {
            pieces
                .iter()
                .map(|p| {
                    if byte_value(p).is_some() {
                        PieceKind::Byte
                    } else {
                        PieceKind::Normal
                    }
                })
                .collect()
        } else {
            kinds
        };
        if unk_id as usize >= pieces.len() {
            return Err(format!(
                "unknown-token id {unk_id} is outside the {}-piece vocabulary",
                pieces.len()
            ));
        }
        let mut mergeable = HashMap::new();
        let mut byte_ids = [None; 256];
        for (id, (piece, kind)) in pieces.iter().zip(&kinds).enumerate() {
            match kind {
                PieceKind::Normal | PieceKind::UserDefined => {
                    mergeable.entry(piece.clone()).or_insert(id as u32);
                }
                PieceKind::Byte => {
                    if let Some(b) = byte_value(piece) {
                        byte_ids[b as usize] = Some(id as u32);
                    }
                }
                _ => {}
            }
        }
        Ok(Self {
            pieces,
            scores,
            kinds,
            mergeable,
            byte_ids,
            unk_id,
        })
    }

    /// Number of pieces.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether the vocabulary is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// The id of a piece spelled exactly `piece`, of any kind.
    pub fn piece_id(&self, piece: &str) -> Option<u32> {
        self.pieces
            .iter()
            .position(|p| p == piece)
            .map(|i| i as u32)
    }

    /// Token ids for `text` (no BOS/EOS: the caller adds those).
    pub fn encode(&self, text: &str) -> Vec<u32> {
        if text.is_empty() {
            return Vec::new();
        }
        let normalised = format!("{SPACE_MARK}{}", text.replace(' ', SPACE_MARK));
        let mut symbols: Vec<Symbol> = normalised
            .char_indices()
            .map(|(start, c)| Symbol {
                start,
                len: c.len_utf8(),
                prev: None,
                next: None,
            })
            .collect();
        let n = symbols.len();
        for (i, symbol) in symbols.iter_mut().enumerate() {
            symbol.prev = i.checked_sub(1);
            symbol.next = (i + 1 < n).then_some(i + 1);
        }
        let mut queue = BinaryHeap::new();
        for i in 1..n {
            self.push_pair(&normalised, &symbols, i - 1, i, &mut queue);
        }
        while let Some(pair) = queue.pop() {
            let (l, r) = (pair.left, pair.right);
            // Skip stale candidates: either side already merged away or changed length.
            if symbols[l].len == 0
                || symbols[r].len == 0
                || symbols[l].next != Some(r)
                || symbols[l].len + symbols[r].len != pair.len
            {
                continue;
            }
            symbols[l].len += symbols[r].len;
            symbols[r].len = 0;
            symbols[l].next = symbols[r].next;
            if let Some(next) = symbols[r].next {
                symbols[next].prev = Some(l);
            }
            if let Some(prev) = symbols[l].prev {
                self.push_pair(&normalised, &symbols, prev, l, &mut queue);
            }
            if let Some(next) = symbols[l].next {
                self.push_pair(&normalised, &symbols, l, next, &mut queue);
            }
        }
        let mut ids = Vec::new();
        let mut at = Some(0);
        while let Some(i) = at {
            let s = &symbols[i];
            let piece = &normalised[s.start..s.start + s.len];
            match self.mergeable.get(piece) {
                Some(&id) => ids.push(id),
                None => {
                    for b in piece.bytes() {
                        ids.push(self.byte_ids[b as usize].unwrap_or(self.unk_id));
                    }
                }
            }
            at = s.next;
        }
        ids
    }

    /// The bytes a token stands for: `▁` is a space, `<0xNN>` the byte NN, control and unknown
    /// pieces nothing.
    pub fn token_bytes(&self, id: u32) -> Vec<u8> {
        let Some(piece) = self.pieces.get(id as usize) else {
            return Vec::new();
        };
        match self.kinds[id as usize] {
            PieceKind::Byte => byte_value(piece).map(|b| vec![b]).unwrap_or_default(),
            PieceKind::Control | PieceKind::Unknown | PieceKind::Unused => Vec::new(),
            PieceKind::Normal | PieceKind::UserDefined => {
                piece.replace(SPACE_MARK, " ").into_bytes()
            }
        }
    }

    /// Text for a whole sequence, dropping the space the encoder prepended.
    pub fn decode(&self, ids: &[u32]) -> String {
        let bytes: Vec<u8> = ids.iter().flat_map(|&id| self.token_bytes(id)).collect();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        text.strip_prefix(' ').map(str::to_owned).unwrap_or(text)
    }

    fn push_pair(
        &self,
        text: &str,
        symbols: &[Symbol],
        left: usize,
        right: usize,
        queue: &mut BinaryHeap<Pair>,
    ) {
        let start = symbols[left].start;
        let len = symbols[left].len + symbols[right].len;
        if let Some(&id) = self.mergeable.get(&text[start..start + len]) {
            queue.push(Pair {
                score: self.scores[id as usize],
                left,
                right,
                len,
            });
        }
    }
}

/// A run of the normalised text; `len == 0` once merged into its left neighbour.
#[derive(Debug, Clone, Copy)]
struct Symbol {
    start: usize,
    len: usize,
    prev: Option<usize>,
    next: Option<usize>,
}

/// A merge candidate. Highest score first; on equal scores the leftmost pair.
#[derive(Debug, PartialEq)]
struct Pair {
    score: f32,
    left: usize,
    right: usize,
    len: usize,
}

impl Eq for Pair {}

impl Ord for Pair {
    fn cmp(&self, other: &Self) -> Ordering {
        self.score
            .total_cmp(&other.score)
            .then_with(|| other.left.cmp(&self.left))
    }
}

impl PartialOrd for Pair {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// `<0x41>` -> 0x41.
fn byte_value(piece: &str) -> Option<u8> {
    let hex = piece.strip_prefix("<0x")?.strip_suffix('>')?;
    if hex.len() != 2 {
        return None;
    }
    u8::from_str_radix(hex, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A toy vocabulary: specials, all 256 byte pieces, then scored pieces.
    fn toy() -> SentencePiece {
        let mut pieces = vec!["<unk>".to_string(), "<s>".into(), "</s>".into()];
        let mut kinds = vec![PieceKind::Unknown, PieceKind::Control, PieceKind::Control];
        for b in 0..=255u8 {
            pieces.push(format!("<0x{b:02X}>"));
            kinds.push(PieceKind::Byte);
        }
        let scored = [
            ("▁", -1.0),
            ("h", -2.0),
            ("i", -2.0),
            ("▁h", -3.0),
            ("hi", -0.5),
            ("▁hi", -0.1),
            ("▁t", -4.0),
            ("t", -2.0),
        ];
        let mut scores = vec![0.0; pieces.len()];
        for (p, s) in scored {
            pieces.push(p.to_string());
            kinds.push(PieceKind::Normal);
            scores.push(s);
        }
        SentencePiece::new(pieces, scores, kinds, 0).expect("valid toy vocabulary")
    }

    #[test]
    fn merges_follow_scores_not_left_to_right_order() {
        let sp = toy();
        // "▁hi": "hi" (-0.5) beats "▁h" (-3.0), then "▁"+"hi" -> "▁hi".
        let ids = sp.encode("hi");
        assert_eq!(ids, vec![sp.piece_id("▁hi").unwrap()]);
    }

    #[test]
    fn characters_outside_the_vocabulary_fall_back_to_utf8_bytes() {
        let sp = toy();
        let ids = sp.encode("hé");
        let e_acute = "é".as_bytes();
        assert_eq!(
            &ids[1..],
            &[
                sp.piece_id("<0xC3>").unwrap(),
                sp.piece_id(&format!("<0x{:02X}>", e_acute[1])).unwrap()
            ]
        );
        assert_eq!(sp.decode(&ids), "hé", "byte pieces reassemble into UTF-8");
    }

    #[test]
    fn control_pieces_are_never_produced_by_merging_and_decode_to_nothing() {
        let sp = toy();
        assert!(!sp.encode("<s>").contains(&1));
        assert_eq!(sp.decode(&[1, sp.piece_id("▁hi").unwrap(), 2]), "hi");
    }

    #[test]
    fn a_vocabulary_with_mismatched_scores_is_rejected() {
        let err =
            SentencePiece::new(vec!["a".into(), "b".into()], vec![0.0], vec![], 0).unwrap_err();
        assert!(err.contains("2 pieces but 1 scores"), "{err}");
    }
}
