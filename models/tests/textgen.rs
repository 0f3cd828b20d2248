//! Text generation with the real stories260K GGUF (llama architecture, SentencePiece vocab).

use std::ops::ControlFlow;
use std::path::PathBuf;

use models::Error;
use models::textgen::{
    ChatTemplate, FinishReason, GenerateRequest, GgufGenerator, SamplingParams, TextGenerator,
};

fn stories() -> GgufGenerator {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models");
    GgufGenerator::load_verified("stories260K", &dir)
        .unwrap_or_else(|e| panic!("{e}\n(the test model lives in ../shared/models)"))
}

fn sampled(seed: u64, max_tokens: usize) -> GenerateRequest {
    GenerateRequest {
        sampling: SamplingParams {
            seed,
            temperature: 0.9,
            top_p: Some(0.95),
        },
        ..GenerateRequest::text("Once upon a time", max_tokens)
    }
}

fn run(
    model: &mut GgufGenerator,
    req: &GenerateRequest,
) -> (models::textgen::Generation, Vec<String>) {
    let mut pieces = Vec::new();
    let out = model
        .generate(req, &mut |p| {
            pieces.push(p.to_string());
            ControlFlow::Continue(())
        })
        .expect("generation succeeds");
    (out, pieces)
}

#[test]
fn the_model_loads_as_a_llama_base_model_with_its_own_tokenizer() {
    let model = stories();
    assert_eq!(model.architecture(), "llama");
    assert_eq!(
        model.template(),
        ChatTemplate::Plain,
        "stories260K has no chat template"
    );
    assert_eq!(model.context_length(), 2048);
    assert_eq!(model.tokenizer().bos, Some(1));
    assert!(model.tokenizer().eos.contains(&2));
}

#[test]
fn a_sentence_round_trips_through_encode_and_decode() {
    let model = stories();
    let tok = model.tokenizer();
    for text in [
        "Lily went to the park with her mom.",
        "Tom said, \"I'm happy!\" Then he smiled 2 times.",
    ] {
        let ids = tok.encode_prompt(text).unwrap();
        assert_eq!(ids[0], 1, "prompts start with BOS");
        assert!(
            ids.len() < text.len(),
            "pieces merge into multi-character tokens"
        );
        assert_eq!(tok.decode(&ids), text);
    }
}

#[test]
fn the_same_seed_gives_the_same_text_every_time() {
    let mut model = stories();
    let (a, _) = run(&mut model, &sampled(7, 40));
    let (b, _) = run(&mut model, &sampled(7, 40));
    assert_eq!(a, b);
    assert!(!a.text.trim().is_empty());
}

#[test]
fn different_seeds_can_give_different_text() {
    let mut model = stories();
    let texts: std::collections::HashSet<String> = (1..=5)
        .map(|seed| run(&mut model, &sampled(seed, 30)).0.text)
        .collect();
    assert!(
        texts.len() >= 2,
        "5 seeds gave {} distinct texts",
        texts.len()
    );
}

#[test]
fn generated_text_is_readable_english() {
    let mut model = stories();
    let (out, _) = run(&mut model, &GenerateRequest::text("Once upon a time", 120));

    let words: Vec<String> = out
        .text
        .split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| !c.is_alphanumeric())
                .to_lowercase()
        })
        .filter(|w| !w.is_empty())
        .collect();
    let alphabetic = words
        .iter()
        .filter(|w| w.chars().all(|c| c.is_ascii_alphabetic() || c == '\''))
        .count();
    let common = [
        "the", "a", "was", "and", "to", "she", "he", "they", "her", "his", "it", "in", "little",
        "day", "said",
    ];
    let common_seen: std::collections::HashSet<&str> = words
        .iter()
        .filter_map(|w| common.iter().find(|c| **c == w.as_str()).copied())
        .collect();

    assert!(words.len() >= 20, "enough words: {:?}", out.text);
    assert!(
        alphabetic * 10 >= words.len() * 9,
        "most words are alphabetic: {:?}",
        out.text
    );
    assert!(
        common_seen.len() >= 4,
        "several common English words, saw {common_seen:?} in {:?}",
        out.text
    );
}

#[test]
fn streaming_pieces_concatenate_to_the_final_text() {
    let mut model = stories();
    let (out, pieces) = run(&mut model, &sampled(3, 50));
    assert!(pieces.len() > 5);
    assert_eq!(pieces.concat(), out.text);
}

#[test]
fn max_tokens_is_honoured() {
    let mut model = stories();
    let (out, _) = run(&mut model, &GenerateRequest::text("Once upon a time", 5));
    assert_eq!(out.generated_tokens, 5);
    assert_eq!(out.finish, FinishReason::MaxTokens);
}

#[test]
fn a_stop_sequence_ends_the_text_before_it() {
    let mut model = stories();
    let (free, _) = run(&mut model, &GenerateRequest::text("Once upon a time", 60));
    // Stop at the second word of the free-running text; greedy decoding repeats it exactly.
    let stop_word = free
        .text
        .split_whitespace()
        .nth(2)
        .expect("several words")
        .to_string();
    let cut = free.text.find(&stop_word).expect("word is in the text");
    let req = GenerateRequest {
        stop: vec![stop_word.clone()],
        ..GenerateRequest::text("Once upon a time", 60)
    };

    let (out, pieces) = run(&mut model, &req);

    assert_eq!(out.finish, FinishReason::StopSequence);
    assert_eq!(out.text, free.text[..cut]);
    assert!(
        !pieces.concat().contains(&stop_word),
        "no part of the stop word is streamed"
    );
}

#[test]
fn the_callback_can_cancel_generation() {
    let mut model = stories();
    let mut calls = 0;
    let out = model
        .generate(&GenerateRequest::text("Once upon a time", 100), &mut |_| {
            calls += 1;
            if calls == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
    assert_eq!(out.finish, FinishReason::Cancelled);
    assert_eq!(calls, 3);
}

#[test]
fn out_of_range_requests_are_refused_with_the_limit() {
    let mut model = stories();
    let cases = [
        (
            GenerateRequest::text("Hi", 0),
            "max_tokens must be between 1 and 8192",
        ),
        (
            GenerateRequest {
                sampling: SamplingParams {
                    temperature: -1.0,
                    ..Default::default()
                },
                ..GenerateRequest::text("Hi", 5)
            },
            "temperature",
        ),
        (
            GenerateRequest {
                sampling: SamplingParams {
                    top_p: Some(0.0),
                    ..Default::default()
                },
                ..GenerateRequest::text("Hi", 5)
            },
            "top_p",
        ),
        (
            GenerateRequest::text("word ".repeat(3000), 5),
            "context is 2048",
        ),
    ];
    for (req, needle) in cases {
        let err = model
            .generate(&req, &mut |_| ControlFlow::Continue(()))
            .expect_err("refused");
        assert!(matches!(err, Error::InvalidRequest(_)), "{err}");
        assert!(err.to_string().contains(needle), "{err}");
    }
}

#[test]
fn a_file_that_is_not_gguf_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.gguf");
    std::fs::write(&path, b"not a model at all").unwrap();
    let err = GgufGenerator::load(&path).err().expect("not GGUF");
    assert!(err.to_string().contains("bad.gguf"), "{err}");
}

#[tokio::test]
async fn generation_streams_through_the_engine_thread() {
    use models::engine::{EngineConfig, EngineHandle};
    use models::textgen::generate_streaming;
    let engine = EngineHandle::spawn(EngineConfig::new("textgen", 4), || {
        Ok(Box::new(stories()) as Box<dyn TextGenerator>)
    })
    .expect("valid config");
    engine.wait_ready().await.expect("model loads");
    let (tx, mut rx) = tokio::sync::mpsc::channel(8);

    let collector = tokio::spawn(async move {
        let mut pieces = Vec::new();
        while let Some(p) = rx.recv().await {
            pieces.push(p);
        }
        pieces
    });
    let out = generate_streaming(&engine, sampled(11, 30), tx)
        .await
        .expect("generates");
    let pieces = collector.await.unwrap();

    assert_eq!(pieces.concat(), out.text);
    assert!((1..=30).contains(&out.generated_tokens));
}

#[test]
fn a_tokenizer_json_can_stand_in_for_the_gguf_vocabulary() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/models/all-MiniLM-L6-v2/tokenizer.json");
    let tok = models::textgen::TextTokenizer::from_tokenizer_json(&path, &["[SEP]"])
        .expect("a real tokenizer.json loads");

    let ids = tok.encode_prompt("hello world").unwrap();

    assert_eq!(
        ids,
        vec![7592, 2088],
        "WordPiece ids of the MiniLM vocabulary"
    );
    assert_eq!(tok.decode(&ids), "hello world");
    assert_eq!(tok.eos, vec![102]);
}
