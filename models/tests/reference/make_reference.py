"""Reference sentence embeddings for all-MiniLM-L6-v2 from an independent implementation.

A plain numpy BERT forward pass (no candle, no torch) reading model.safetensors, so the Rust
embedder is checked against separately written maths. Tokenisation uses the Python `tokenizers`
package with the same 256-token limit and no fixed padding that sentence-transformers applies
(`sentence_bert_config.json`: max_seq_length 256).

Run once, from the repository root:
    python3 -m venv /tmp/refenv && /tmp/refenv/bin/pip install numpy safetensors tokenizers
    /tmp/refenv/bin/python models/tests/reference/make_reference.py ../shared/models/all-MiniLM-L6-v2
It writes models/tests/reference/minilm.json.
"""

import json
import math
import os
import sys

import numpy as np
from safetensors.numpy import load_file
from tokenizers import Tokenizer

SENTENCES = [
    "The weather is lovely today.",
    "It's so sunny outside!",
    "He drove to the stadium.",
    "The new movie is awesome",
    "The new movie is so great",
    "The client reported feeling anxious before work most mornings.",
    "She said she has been nervous every morning before her job.",
    "We scheduled the next appointment for Tuesday at three.",
    "The recipe calls for two cups of flour and a pinch of salt.",
    "Sleep has improved since starting the evening routine.",
    "Café au lait, naïve résumé — UTF-8 text with accents.",
    "",
    # 200-256 tokens: proves the 256-token limit (the shipped tokenizer.json would cut at 128).
    " ".join(
        [
            "During the session the client described a long week at work, trouble falling asleep,",
            "frequent worries about money and family, and a plan to walk every evening after dinner.",
        ]
        * 7
    ),
    # Over 256 tokens: both implementations must truncate at exactly 256.
    " ".join(["Grounding exercises helped the client notice the present moment."] * 40),
]


def gelu(x):
    # Exact (erf) GELU, as BERT's "gelu" activation.
    erf = np.vectorize(math.erf)
    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


def layer_norm(x, w, b, eps=1e-12):
    mean = x.mean(-1, keepdims=True)
    var = ((x - mean) ** 2).mean(-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * w + b


def softmax(x):
    x = x - x.max(-1, keepdims=True)
    e = np.exp(x)
    return e / e.sum(-1, keepdims=True)


def embed(weights, config, ids):
    """One sentence, no padding: BERT encoder, mean pooling, L2 normalisation."""
    w = lambda name: weights[name].astype(np.float64)
    n = len(ids)
    x = w("embeddings.word_embeddings.weight")[ids]
    x = x + w("embeddings.position_embeddings.weight")[:n]
    x = x + w("embeddings.token_type_embeddings.weight")[np.zeros(n, dtype=int)]
    x = layer_norm(x, w("embeddings.LayerNorm.weight"), w("embeddings.LayerNorm.bias"))
    heads = config["num_attention_heads"]
    d = config["hidden_size"] // heads
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        lin = lambda t, name: t @ w(p + name + ".weight").T + w(p + name + ".bias")
        q = lin(x, "attention.self.query").reshape(n, heads, d).transpose(1, 0, 2)
        k = lin(x, "attention.self.key").reshape(n, heads, d).transpose(1, 0, 2)
        v = lin(x, "attention.self.value").reshape(n, heads, d).transpose(1, 0, 2)
        att = softmax(q @ k.transpose(0, 2, 1) / math.sqrt(d)) @ v
        att = att.transpose(1, 0, 2).reshape(n, heads * d)
        att = lin(att, "attention.output.dense")
        x = layer_norm(att + x, w(p + "attention.output.LayerNorm.weight"), w(p + "attention.output.LayerNorm.bias"))
        h = gelu(lin(x, "intermediate.dense"))
        h = lin(h, "output.dense")
        x = layer_norm(h + x, w(p + "output.LayerNorm.weight"), w(p + "output.LayerNorm.bias"))
    pooled = x.mean(0)
    return pooled / max(np.linalg.norm(pooled), 1e-12)


def main():
    model_dir = sys.argv[1] if len(sys.argv) > 1 else "../shared/models/all-MiniLM-L6-v2"
    config = json.load(open(os.path.join(model_dir, "config.json")))
    weights = load_file(os.path.join(model_dir, "model.safetensors"))
    tok = Tokenizer.from_file(os.path.join(model_dir, "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(max_length=256)
    out = []
    for s in SENTENCES:
        ids = tok.encode(s).ids
        vec = embed(weights, config, ids)
        out.append({"text": s, "tokens": len(ids), "embedding": [round(float(v), 7) for v in vec]})
        print(f"{len(ids):4d} tokens  {s[:60]!r}")
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "minilm.json")
    json.dump({"model": "sentence-transformers/all-MiniLM-L6-v2", "max_tokens": 256,
               "implementation": "numpy float64 BERT forward pass (make_reference.py)",
               "sentences": out}, open(path, "w"), indent=1)
    print("wrote", path)


if __name__ == "__main__":
    main()
