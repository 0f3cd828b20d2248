//! all-MiniLM-L6-v2 embeddings against an independent numpy implementation
//! (tests/reference/make_reference.py -> minilm.json) and the published similarity values.

use std::path::PathBuf;

use models::embed::{Embedder, MiniLmEmbedder, cosine};
use models::engine::{EngineConfig, EngineHandle};

fn shared_models() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/models")
}

fn embedder() -> MiniLmEmbedder {
    MiniLmEmbedder::load_verified(&shared_models())
        .unwrap_or_else(|e| panic!("{e}\n(the test model lives in ../shared/models)"))
}

struct Reference {
    text: String,
    tokens: usize,
    embedding: Vec<f32>,
}

fn reference() -> Vec<Reference> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/reference/minilm.json");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("reference file is committed"))
            .expect("reference file is JSON");
    json["sentences"]
        .as_array()
        .expect("sentences array")
        .iter()
        .map(|s| Reference {
            text: s["text"].as_str().expect("text").to_string(),
            tokens: s["tokens"].as_u64().expect("tokens") as usize,
            embedding: s["embedding"]
                .as_array()
                .expect("embedding")
                .iter()
                .map(|v| v.as_f64().unwrap() as f32)
                .collect(),
        })
        .collect()
}

#[test]
fn embeddings_match_the_independent_reference_to_1e_4_cosine() {
    let mut model = embedder();
    let refs = reference();
    assert!(refs.len() >= 10, "at least 10 reference sentences");
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();

    let ours = model.embed(&texts).expect("embedding succeeds");

    for (r, v) in refs.iter().zip(&ours) {
        assert_eq!(v.len(), 384);
        let sim = cosine(v, &r.embedding);
        assert!(
            sim >= 1.0 - 1e-4,
            "cosine {sim} for {:?}",
            &r.text[..r.text.len().min(40)]
        );
        let norm: f32 = v.iter().map(|x| x * x).sum::<f32>().sqrt();
        assert!((norm - 1.0).abs() < 1e-5, "unit length, got {norm}");
    }
}

#[test]
fn texts_up_to_256_tokens_are_used_whole_and_longer_ones_are_cut_at_256() {
    let model = embedder();
    let refs = reference();
    let long = refs
        .iter()
        .find(|r| (200..256).contains(&r.tokens))
        .expect("a 200-255-token reference sentence");
    let longest = refs
        .iter()
        .find(|r| r.tokens == 256)
        .expect("a truncated reference sentence");

    assert_eq!(
        model.token_count(&long.text).unwrap(),
        long.tokens,
        "not cut at the tokenizer.json's 128"
    );
    assert_eq!(
        model.token_count(&longest.text).unwrap(),
        MiniLmEmbedder::MAX_TOKENS
    );
}

#[test]
fn published_sentence_transformers_similarities_are_reproduced() {
    let mut model = embedder();
    let texts = [
        "The weather is lovely today.",
        "It's so sunny outside!",
        "He drove to the stadium.",
        "The new movie is awesome",
        "The new movie is so great",
    ];
    let v = model.embed(&texts).unwrap();

    // sentence-transformers documentation, quoted in ../shared/models/README.md.
    for (a, b, published) in [(0, 1, 0.6660), (0, 2, 0.1046), (3, 4, 0.8939)] {
        let sim = cosine(&v[a], &v[b]);
        assert!(
            (sim - published).abs() < 1e-3,
            "{:?} vs {:?}: {sim}, published {published}",
            texts[a],
            texts[b]
        );
    }
}

#[test]
fn paraphrases_rank_above_unrelated_sentences() {
    let mut model = embedder();
    let query = "The client reported feeling anxious before work most mornings.";
    let candidates = [
        "She said she has been nervous every morning before her job.",
        "The recipe calls for two cups of flour and a pinch of salt.",
        "We scheduled the next appointment for Tuesday at three.",
        "He drove to the stadium.",
    ];
    let mut texts = vec![query];
    texts.extend(candidates);
    let v = model.embed(&texts).unwrap();

    let sims: Vec<f32> = (1..v.len()).map(|i| cosine(&v[0], &v[i])).collect();

    let best = sims.iter().cloned().fold(f32::MIN, f32::max);
    assert_eq!(sims[0], best, "the paraphrase ranks first: {sims:?}");
    assert!(
        sims[1..].iter().all(|s| sims[0] - s > 0.2),
        "by a clear margin: {sims:?}"
    );
}

#[test]
fn batching_and_padding_do_not_change_an_embedding() {
    let mut model = embedder().with_batch_size(3).expect("valid batch size");
    let refs = reference();
    let texts: Vec<&str> = refs.iter().map(|r| r.text.as_str()).collect();

    let batched = model.embed(&texts).unwrap();
    let single: Vec<Vec<f32>> = texts
        .iter()
        .map(|t| model.embed(&[t]).unwrap().remove(0))
        .collect();

    for (b, s) in batched.iter().zip(&single) {
        assert!(cosine(b, s) > 1.0 - 1e-5);
    }
    assert!(model.embed(&[]).unwrap().is_empty());
}

#[test]
fn too_many_texts_in_one_call_is_a_clear_error() {
    let mut model = embedder();
    let texts = vec!["x"; MiniLmEmbedder::MAX_TEXTS_PER_CALL + 1];
    let err = model.embed(&texts).expect_err("over the limit");
    assert!(err.to_string().contains("split the request"), "{err}");
    assert!(MiniLmEmbedder::load(std::path::Path::new("/nonexistent")).is_err());
}

#[tokio::test]
async fn the_embedder_serves_requests_through_its_engine_thread() {
    let engine = EngineHandle::spawn(EngineConfig::new("embeddings", 8), || {
        Ok(Box::new(embedder()) as Box<dyn Embedder>)
    })
    .expect("valid config");
    engine.wait_ready().await.expect("model loads");

    let v = engine
        .call(|e: &mut Box<dyn Embedder>| {
            e.embed(&["The weather is lovely today.", "It's so sunny outside!"])
        })
        .await
        .expect("embedding through the queue");

    assert!((cosine(&v[0], &v[1]) - 0.6660).abs() < 1e-3);
    engine
        .ping(std::time::Duration::from_secs(30))
        .await
        .expect("healthy");
}
