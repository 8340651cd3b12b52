"""Static MiniLM: sentence embeddings without running the transformer per text.

Features for 100k items mean about 300k texts. On a 2-core CPU the contextual MiniLM encodes about
25 texts a second at 128 tokens (bench/features.py), so a contextual pass over 100k fresh items
takes hours; a GPU does it in minutes. For CPU machines Tandem distils MiniLM into static token
vectors in the manner of Model2Vec (Tulkens & van Dongen 2024, the `model2vec` package):

1. every token of MiniLM's vocabulary is passed through MiniLM alone (`[CLS] token [SEP]`), and its
   output is mean-pooled: one 384-d vector per token, computed once per machine (about a minute on
   2 cores) and kept under `TANDEM_MODEL_CACHE_DIR` (default `var/models`);
2. each vector is weighted by SIF, a / (a + p(token)), with p from Zipf's law over the vocabulary's
   id order (model2vec's `sif_coefficient` = 1e-4, as its code does). In MiniLM's (BERT's) vocabulary
   the lowest ids are [unused] slots and single characters, so this mostly quiets punctuation and
   characters; "the" (id 1996) keeps a weight of about 0.68;
3. a text's embedding is the normalised mean of its first 128 tokens' vectors (`model2vec.StaticModel`).

Where this differs from model2vec's `distill`: no PCA. In a one-off check during development (1,000
real AlpacaEval and hh-rlhf rows pooled, not kept as a results file) PCA to 256 dimensions lowered the
rank agreement of cos(A, B) with the contextual model (Spearman 0.73 without PCA, 0.61 with; pooled
across the two datasets, which inflates both: bench/features.py measures 0.49–0.67 per dataset without
PCA). model2vec's own `distill` needs
transformers < 5.4, older than Tandem's, so the recipe above is run here with the same steps. Static
vectors are a coarser reading of a text than the contextual model (word order is lost);
bench/features.py prints how well the two agree on the similarity features.
"""

import hashlib
import os
import tempfile
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings

from workers.ml.embeddings import DIMENSIONS, MODEL_NAME, OnBlock, model_path

SIF_COEFFICIENT = 1e-4  # model2vec's default
DISTILL_BATCH = 1024  # tokens per forward pass (each a 3-token sequence)
ENCODE_BLOCK = 20_000  # texts per StaticModel call: a progress tick every few seconds
RECIPE = "mean-of-[CLS]t[SEP]/sif1e-4/no-pca/v1"
_LOCK = threading.Lock()
_MODELS: dict[str, Any] = {}


def cache_dir() -> Path:
    return Path(os.environ.get("TANDEM_MODEL_CACHE_DIR") or settings.VAR_DIR / "models")


def _model_digest(path: Path) -> str:
    """Identifies the source model and the recipe: a changed model or recipe distils afresh."""
    h = hashlib.sha256(RECIPE.encode())
    for name in ("config.json", "tokenizer.json", "model.safetensors"):
        f = path / name
        if f.exists():
            h.update(name.encode())
            h.update(str(f.stat().st_size).encode())
            with f.open("rb") as fh:
                h.update(fh.read(1 << 20))
    return h.hexdigest()[:16]


def sif_weights(vocab_size: int, a: float = SIF_COEFFICIENT) -> np.ndarray:
    """a / (a + p(rank)), p ∝ 1 / (rank + 1) (Zipf) over the vocabulary in id order, as model2vec does."""
    inv_rank = 1.0 / np.arange(2, vocab_size + 2)
    p = inv_rank / inv_rank.sum()
    return a / (a + p)


def distill(path: Path, on_block: OnBlock | None = None) -> np.ndarray:
    """One SIF-weighted vector per vocabulary id: MiniLM's mean-pooled output for `[CLS] t [SEP]`."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(path))
    encoder = AutoModel.from_pretrained(str(path)).eval()
    size = len(tokenizer)
    out = np.empty((size, DIMENSIONS), dtype=np.float32)
    with torch.inference_mode():
        for start in range(0, size, DISTILL_BATCH):
            ids = torch.arange(start, min(size, start + DISTILL_BATCH))
            x = torch.stack(
                [torch.full_like(ids, tokenizer.cls_token_id), ids, torch.full_like(ids, tokenizer.sep_token_id)], 1
            )
            hidden = encoder(input_ids=x, attention_mask=torch.ones_like(x), token_type_ids=torch.zeros_like(x))
            out[start : start + len(ids)] = hidden.last_hidden_state.mean(1).numpy()
            if on_block:
                on_block(start + len(ids), size)
    return (out * sif_weights(size)[:, None]).astype(np.float32)


def vectors_file() -> Path:
    return cache_dir() / f"minilm-static-{_model_digest(model_path())}.npy"


def distilled() -> bool:
    """Whether this machine has the static vectors already (else the first use distils them)."""
    return vectors_file().exists()


def token_vectors(on_block: OnBlock | None = None) -> tuple[np.ndarray, Path]:
    """The distilled vectors of the installed MiniLM, from the cache directory or distilled now
    (written atomically, so concurrent workers never read half a file)."""
    path, target = model_path(), vectors_file()
    if target.exists():
        return np.load(target), path
    vectors = distill(path, on_block)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".npy.tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            np.save(fh, vectors)
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return vectors, path


def static_model(on_block: OnBlock | None = None) -> Any:
    """The model2vec StaticModel over the distilled vectors and MiniLM's own tokenizer (one per process)."""
    with _LOCK:
        found = _MODELS.get("minilm")
        if found is None:
            from model2vec import StaticModel
            from tokenizers import Tokenizer

            vectors, path = token_vectors(on_block)
            found = _MODELS["minilm"] = StaticModel(
                vectors, Tokenizer.from_file(str(path / "tokenizer.json")), normalize=True, max_length=None
            )
        return found


class StaticMiniLM:
    """Encoder (workers.ml.embeddings.Encoder) over the static vectors, with a token limit.
    Its name keys its vectors apart from the contextual model's.

    Not cached in the database (`cacheable`): encoding is cheaper than reading the vectors back
    (bench/features.py at 100k items, run once with caching on during development: a warm re-run
    from the cache took 121 s, the cold run 80 s),
    and 300k static rows would evict the contextual vectors that are expensive to recompute."""

    cacheable = False

    def __init__(self, max_tokens: int = 128):
        self.max_tokens = max_tokens

    @property
    def name(self) -> str:
        return f"{MODEL_NAME}-static@{self.max_tokens}"

    def prepare(self, on_block: OnBlock | None = None) -> None:
        """Load the vectors, distilling them first on a machine that has none (on_block(tokens done, total))."""
        static_model(on_block)

    def encode(self, texts: Iterable[str], on_block: OnBlock | None = None) -> np.ndarray:
        texts = list(texts)
        model = static_model()
        out = np.empty((len(texts), DIMENSIONS), dtype=np.float32)
        for start in range(0, len(texts), ENCODE_BLOCK):
            block: Sequence[str] = texts[start : start + ENCODE_BLOCK]
            out[start : start + len(block)] = model.encode(
                list(block), max_length=self.max_tokens, use_multiprocessing=False, show_progress_bar=False
            )
            if on_block:
                on_block(start + len(block), len(texts))
        return out
