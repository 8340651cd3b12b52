"""The static MiniLM (workers.ml.static_embeddings): the distillation recipe on the real offline
model, the encoder's behaviour, its place in the embedding cache, and which encoder features use."""

import json
from pathlib import Path

import numpy as np
import pytest
from django.test import override_settings
from scipy.stats import spearmanr

from curation import features
from tests import factories
from workers.ml import embeddings, static_embeddings
from workers.ml.static_embeddings import StaticMiniLM
from workers.models import CachedEmbedding, RunState
from workers.tasks.routing import start_features

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


def test_sif_weights_follow_zipf_rank():
    w = static_embeddings.sif_weights(30_000)
    assert w.shape == (30_000,) and np.all((w > 0) & (w < 1))
    assert np.all(np.diff(w) > 0)  # a later (rarer) rank weighs more
    assert w[-1] > 0.9 and w[0] < 0.1  # the commonest pieces are nearly silenced


def test_a_token_vector_is_minilm_on_the_token_alone_times_its_sif_weight():
    import torch
    from transformers import AutoModel, AutoTokenizer

    vectors, path = static_embeddings.token_vectors()
    tokenizer = AutoTokenizer.from_pretrained(str(path))
    model = AutoModel.from_pretrained(str(path)).eval()
    assert vectors.shape == (len(tokenizer), embeddings.DIMENSIONS)
    weights = static_embeddings.sif_weights(len(tokenizer))
    for token in ("cat", "quantum", "##ing"):
        t = tokenizer.convert_tokens_to_ids(token)
        x = torch.tensor([[tokenizer.cls_token_id, t, tokenizer.sep_token_id]])
        with torch.inference_mode():
            expected = model(input_ids=x).last_hidden_state.mean(1)[0].numpy() * weights[t]
        assert np.allclose(vectors[t], expected, atol=1e-4), token


def test_distilled_vectors_are_read_back_not_distilled_again(monkeypatch):
    first, _ = static_embeddings.token_vectors()  # distilled now or by an earlier test, then on disk

    def refuse(*args, **kwargs):
        raise AssertionError("distilled again")

    monkeypatch.setattr(static_embeddings, "distill", refuse)
    again, _ = static_embeddings.token_vectors()
    assert np.array_equal(first, again)
    assert list(static_embeddings.cache_dir().glob("*.tmp")) == []  # written atomically, nothing half-done left


def test_static_encoder_reads_meaning_and_its_token_limit():
    encoder = StaticMiniLM(max_tokens=16)
    texts = [
        "The cat sat on the mat.",
        "A cat was sitting on the mat.",
        "Quarterly tax filings are due in April.",
        "The cat sat on the mat.",
    ]
    v = encoder.encode(texts)
    assert v.shape == (4, embeddings.DIMENSIONS) and v.dtype == np.float32
    assert np.allclose(np.linalg.norm(v, axis=1), 1, atol=1e-5)
    assert np.array_equal(v[0], v[3])
    assert v[0] @ v[1] > v[0] @ v[2] + 0.1  # the paraphrase is closer than the unrelated text
    shared = " ".join(["word"] * 40)
    a, b = encoder.encode([shared + " apples", shared + " volcanoes"])
    assert np.allclose(a, b)  # they differ only after the first 16 tokens
    assert not np.allclose(*StaticMiniLM(max_tokens=128).encode([shared + " apples", shared + " volcanoes"]))


@pytest.mark.django_db
def test_static_vectors_are_encoded_each_time_never_cached():
    texts = [
        "Static vectors are not cached.",
        "Reading them back costs more than encoding.",
        "Static vectors are not cached.",
    ]
    first = embeddings.lookup(texts, encoder=StaticMiniLM(128))
    assert (first.distinct, first.encoded, first.cached) == (2, 2, 0)  # each distinct text once per call
    again = embeddings.lookup(texts, encoder=StaticMiniLM(128))
    assert (again.encoded, again.cached) == (2, 0) and np.array_equal(first.vectors, again.vectors)
    assert not CachedEmbedding.objects.exists()
    contextual = embeddings.lookup(texts, encoder=embeddings.MiniLM(128))
    assert contextual.encoded == 2 and CachedEmbedding.objects.count() == 2  # the contextual ones are
    assert not np.allclose(first.vectors, contextual.vectors, atol=1e-3)


def test_feature_encoder_choice():
    assert features.feature_encoder("static").name == "all-MiniLM-L6-v2-static@128"
    assert features.feature_encoder("contextual").name == "all-MiniLM-L6-v2@128"
    assert features.feature_encoder("auto").name == "all-MiniLM-L6-v2-static@128"  # no GPU here
    with override_settings(FEATURE_EMBEDDINGS="contextual"):
        assert features.feature_encoder().name == "all-MiniLM-L6-v2@128"
    with pytest.raises(ValueError, match="TANDEM_FEATURE_EMBEDDINGS"):
        features.feature_encoder("fast")


@pytest.mark.django_db
def test_feature_run_records_its_encoder(project):
    factories.item(project, text_a="Plants eat sunlight.", text_b="Plants make sugar from light.")
    counts = features.FeatureCounts()
    features.compute_features(project, counts=counts)
    assert counts.metrics()["encoder"] == "all-MiniLM-L6-v2-static@128" and counts.embedded == 3


@pytest.mark.slow
def test_static_similarity_features_track_the_contextual_ones_on_real_responses():
    """On real AlpacaEval pairs (data neither model was built on), cos(A, B) from the static
    vectors ranks pairs in the same direction as the contextual model, if coarsely (Spearman about
    0.37 on these 150 pairs; 0.49–0.67 on 200 items per dataset, bench/features.py). The threshold only catches
    a static reading that has stopped tracking the contextual one at all."""
    rows = [json.loads(line) for line in (DATA / "alpaca_eval_gpt4_judged.jsonl").read_text().splitlines()[:150]]
    texts = [t for r in rows for t in (r["output_1"], r["output_2"])]
    static = StaticMiniLM(128).encode(texts)
    contextual = embeddings.MiniLM(128).encode(texts)

    def cos_ab(v):
        return np.einsum("ij,ij->i", v[0::2], v[1::2])

    assert spearmanr(cos_ab(static), cos_ab(contextual)).statistic > 0.3


@pytest.mark.django_db
def test_a_features_run_on_a_fresh_machine_says_it_is_distilling(project, monkeypatch, settings, tmp_path):
    real, _ = static_embeddings.token_vectors()  # this machine's distilled vectors
    settings.FEATURE_EMBEDDINGS = "static"
    monkeypatch.setenv("TANDEM_MODEL_CACHE_DIR", str(tmp_path))  # a machine without them
    monkeypatch.setattr(static_embeddings, "_MODELS", {})

    def distill(path, on_block=None):  # the recipe itself is checked above; here, what the run reports
        for done in (10_000, 20_000, len(real)):
            on_block(done, len(real))
        return real

    monkeypatch.setattr(static_embeddings, "distill", distill)
    factories.item(project, text_a="Plants eat sunlight.", text_b="Plants make sugar from light.")
    assert not static_embeddings.distilled()
    run = start_features(project)
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED
    assert "distilling MiniLM's static token vectors" in run.log_tail and "static token vectors ready" in run.log_tail
    assert run.metrics["distilled_tokens"] == f"{len(real):,} / {len(real):,}"
    assert static_embeddings.distilled() and list(tmp_path.glob("minilm-static-*.npy"))
    again = start_features(project)  # the machine has them now: nothing to distil, nothing said
    again.refresh_from_db()
    assert again.state == RunState.SUCCEEDED and "distilling" not in again.log_tail
