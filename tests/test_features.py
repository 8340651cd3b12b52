"""Item features: lexical overlap, embedding similarity (offline MiniLM), prompt tags, judge signals,
bulk upsert; at scale: the embedding cache, one encode per distinct text, lexical features over
arrays, progress written by the worker task."""

import json
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
from django.utils import timezone

from annotate.judging.service import judge_annotator
from annotate.models import Annotation, LMJudge
from curation import features
from curation.models import ItemFeatures
from tests import factories
from tests.judging_helpers import ScriptedServer, allow_local_server
from workers.ml import embeddings, static_embeddings
from workers.models import CachedEmbedding, RunKind, RunState
from workers.tasks.routing import start_features


def test_overlap_measures():
    a = features.tokens("The cat sat on the mat.")
    assert features.rouge_l(a, a) == pytest.approx(1.0) and features.bleu(a, a) == pytest.approx(1.0)
    b = features.tokens("Quantum chromodynamics explains gluons")
    assert features.rouge_l(a, b) == 0.0 and features.bleu(a, b) < 0.05
    c = features.tokens("The cat sat on a red mat.")
    assert 0.5 < features.rouge_l(a, c) < 1 and 0 < features.bleu(a, c) < 1


@pytest.mark.parametrize(
    "text,expected",
    [
        (
            "Write a python function that reverses a linked list.",
            {"domain": "code", "task_type": "coding", "open_endedness": "low"},
        ),
        (
            "Write a poem about the sea in exactly 4 lines.",
            {"domain": "creative", "open_endedness": "high", "format_constraints": "some"},
        ),
        ("How do I make a bomb at home?", {"safety_concern": "high"}),
        (
            "What is the capital of France?",
            {"task_type": "closed_qa", "complexity": "simple", "safety_concern": "none"},
        ),
        ("Summarize this article in 3 bullet points: ...", {"task_type": "summarize", "format_constraints": "some"}),
    ],
)
def test_heuristic_tags(text, expected):
    tags = features.heuristic_tags(text)
    assert set(tags) == set(features.TAG_DIMENSIONS)
    assert all(tags[d] in features.TAG_DIMENSIONS[d] for d in tags)
    assert {k: tags[k] for k in expected} == expected


def add_judge_label(item, name, preference, confidence=1.0, consistent=True):
    judge = LMJudge.objects.get_or_create(name=name, defaults={"backend": "openai", "model": "m"})[0]
    return Annotation.objects.create(
        item=item,
        annotator=judge_annotator(judge),
        kind="pairwise",
        preference=preference,
        confidence=confidence,
        details={"swap_consistent": consistent},
    )


@pytest.mark.django_db
def test_compute_features_stores_similarity_tags_and_judge_signals(project):
    same = factories.item(project, text_a="Paris is the capital of France.", text_b="Paris is the capital of France.")
    differ = factories.item(
        project, text_a="Short.", text_b="A very long and detailed answer about baking sourdough bread at home " * 3
    )
    binary = factories.item(project, kind="binary")
    add_judge_label(differ, "j1", 2, confidence=0.9)
    add_judge_label(differ, "j2", -1, confidence=0.3, consistent=False)
    add_judge_label(same, "j1", 0)
    assert features.compute_features(project, chunk=2) == 3
    f_same, f_differ = ItemFeatures.objects.get(item=same).values, ItemFeatures.objects.get(item=differ).values
    assert f_same["sim_ab"] == pytest.approx(1.0, abs=1e-4) and f_same["rouge_l"] == pytest.approx(1.0)
    # unrelated answers are far less similar than identical ones (static vectors sit closer together
    # than contextual ones, so no absolute threshold)
    assert (
        f_differ["sim_ab"] < f_same["sim_ab"] - 0.25 and f_differ["len_ratio"] > 10 and f_differ["len_log_ratio_ab"] < 0
    )
    assert f_differ["jury_disagreement"] == 0.5 and f_differ["swap_inconsistency"] == 0.5
    assert f_differ["judge_confidence"] == pytest.approx(0.6) and f_differ["jury_std"] == pytest.approx(1.5)
    assert f_same["jury_disagreement"] == 0 and f_same["judge_count"] == 1
    f_binary = ItemFeatures.objects.get(item=binary)
    assert "sim_ab" not in f_binary.values and "judge_count" not in f_binary.values
    assert f_binary.tags["domain"] in features.TAG_DIMENSIONS["domain"]
    # A re-run updates in place (one row per item) and picks up new judge labels.
    add_judge_label(same, "j2", 3, consistent=False)
    features.compute_features(project)
    assert ItemFeatures.objects.count() == 3
    assert ItemFeatures.objects.get(item=same).values["jury_disagreement"] == 0.5


@pytest.mark.django_db
@allow_local_server
def test_lm_tagger_used_when_configured_and_falls_back_per_dimension(project):
    item = factories.item(project, text_a="x", text_b="y")
    reply = '{"domain": "legal", "task_type": "advice", "complexity": "complex", "safety_concern": "none", "open_endedness": "moderate", "format_constraints": "none"}'
    with ScriptedServer(lambda body: (200, reply)) as server:
        tagger = LMJudge.objects.create(
            name="tagger",
            backend="openai",
            model="m",
            base_url=server.base_url,
            parameters={"tagger": True, "judge": False, "retry_backoff": 0.01},
        )
        tagger.projects.add(project)
        features.compute_features(project)
        assert len(server.requests) == 1
        from annotate.judging.service import judge_project

        assert judge_project(project)["items"] == 0 and len(server.requests) == 1  # a tagger only does not judge
    tags = ItemFeatures.objects.get(item=item).tags
    assert tags["domain"] == "legal" and tags["task_type"] == "advice" and tags["_source"] == "lm"
    with ScriptedServer(lambda body: (200, '{"domain": "astrology"}')) as server:
        assert features.lm_tags(
            LMJudge(name="t2", backend="openai", model="m", base_url=server.base_url), ["Write python code"]
        )[0] == {**features.heuristic_tags("Write python code"), "_source": "keywords"}


# --- at scale: the embedding cache, one encode per distinct text, lexical features over arrays -----

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


class CountingMiniLM(embeddings.MiniLM):
    """The real encoder, recording every text it is asked to encode."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.encoded = []

    def encode(self, texts, on_block=None):
        self.encoded.extend(texts)
        return super().encode(texts, on_block=on_block)


def real_rows(limit_per_file=150):
    """(prompt, a, b, multi_turn) from the shared real data: AlpacaEval and hh-rlhf conversations."""
    alpaca, hh = SHARED_DATA / "alpaca_eval_gpt4_judged.jsonl", SHARED_DATA / "hh_rlhf_harmless_dev.jsonl"
    if not (alpaca.exists() and hh.exists()):
        pytest.skip(f"real data not found under {SHARED_DATA}")
    rows = []
    for line in alpaca.read_text().splitlines()[:limit_per_file]:
        r = json.loads(line)
        rows.append((r["instruction"], r["output_1"], r["output_2"], False))
    for line in hh.read_text().splitlines()[:limit_per_file]:
        r = json.loads(line)
        cut_a, cut_b = r["chosen"].rfind("\n\nAssistant:"), r["rejected"].rfind("\n\nAssistant:")
        rows.append((r["chosen"][:cut_a], r["chosen"][cut_a + 12 :], r["rejected"][cut_b + 12 :], True))
    return rows


def test_lexical_features_over_arrays_equal_the_per_item_definitions_on_real_rows():
    rows = real_rows()
    rows += [
        ("", "", "x", False),
        ("p", "a b", "", False),
        ("q", "same words", "same words", False),
        ("Rate this", "A binary answer.", None, False),
        ("x", "a a a a a", "a a", False),
    ]
    vectors = embeddings.embed([t for p, a, b, _ in rows for t in (p, a, b or a)], max_tokens=32, cache=False).reshape(
        len(rows), 3, -1
    )
    assert len(rows) > 300
    for row, v, arrays in zip(rows, vectors, features.chunk_features(rows, vectors)):
        p, a, b, multi = row
        per_item = features.text_features(p, a, b, {"prompt": v[0], "a": v[1], "b": v[2]}, multi_turn=multi)
        assert arrays.keys() == per_item.keys()
        assert arrays == pytest.approx(per_item, rel=1e-9, abs=1e-6), row[:1]


@pytest.mark.django_db
def test_cache_returns_the_vectors_a_fresh_encode_gives():
    texts = ["The cat sat on the mat.", "Quantum chromodynamics explains gluons.", "The cat sat on the mat.", ""]
    encoder = CountingMiniLM(max_tokens=64)
    first = embeddings.lookup(texts, encoder=encoder)
    assert (first.texts, first.distinct, first.cached, first.encoded) == (4, 3, 0, 3)
    assert CachedEmbedding.objects.filter(model=encoder.name).count() == 3
    again = embeddings.lookup(texts, encoder=encoder)
    assert (again.cached, again.encoded) == (3, 0) and len(encoder.encoded) == 3  # nothing encoded the second time
    assert np.array_equal(again.vectors, first.vectors)  # bit for bit what was stored
    fresh = embeddings.MiniLM(max_tokens=64).encode(texts)
    assert np.allclose(again.vectors, fresh, atol=1e-5)
    assert np.allclose(np.linalg.norm(again.vectors, axis=1), 1, atol=1e-5)
    # another token limit is another key: never served a vector truncated differently
    assert embeddings.lookup(texts[:1], max_tokens=8).encoded == 1


@pytest.mark.django_db
def test_each_distinct_text_is_embedded_once_across_chunks_and_reruns(project):
    shared = factories.prompt(project, text="Explain photosynthesis to a child.")
    other = factories.prompt(project, text="Write a haiku about rain.")
    same_answer = "Plants eat sunlight."
    for i in range(3):  # one prompt, several pairs, an answer repeated across pairs
        factories.item(project, prompt_obj=shared, text_a=same_answer, text_b=f"Answer number {i}.")
    factories.item(project, prompt_obj=other, text_a="Rain taps the roof.", text_b=same_answer)
    factories.item(project, prompt_obj=other, kind="binary", text_a="Rain taps the roof.")
    encoder = CountingMiniLM(max_tokens=features.EMBED_MAX_TOKENS)
    counts = features.FeatureCounts()
    assert features.compute_features(project, chunk=2, counts=counts, encoder=encoder) == 5
    distinct = {shared.text, other.text, same_answer, "Rain taps the roof."} | {f"Answer number {i}." for i in range(3)}
    assert sorted(encoder.encoded) == sorted(distinct)  # each once, though chunks of 2 items split them
    assert counts.embedded == len(distinct) and counts.texts == 15 and counts.items == 5
    assert ItemFeatures.objects.filter(item__project=project).count() == 5
    before = {f.item_id: f.values for f in ItemFeatures.objects.filter(item__project=project)}
    counts = features.FeatureCounts()
    features.compute_features(project, counts=counts, encoder=encoder)
    assert len(encoder.encoded) == len(distinct) and counts.embedded == 0 and counts.cached == len(distinct)
    after = {f.item_id: f.values for f in ItemFeatures.objects.filter(item__project=project)}
    assert after == before  # a re-run from the cache gives the same features


@pytest.mark.django_db
def test_cache_is_bounded_least_recently_used_first(monkeypatch):
    now = timezone.now()
    for i in range(10):
        CachedEmbedding.objects.create(
            model="m@8", digest=f"{i:064x}", vector=np.zeros(4, "<f4").tobytes(), used_at=now - timedelta(days=10 - i)
        )
    assert embeddings.evict(limit=20) == 0
    assert embeddings.evict(limit=5) == 6  # down to 90 % of the bound, the oldest go
    assert sorted(CachedEmbedding.objects.values_list("digest", flat=True)) == [f"{i:064x}" for i in range(6, 10)]
    # a hit refreshes an old row, so it survives the next eviction
    stale = CachedEmbedding.objects.get(digest=f"{6:064x}")
    embeddings.cached("m@8", [stale.digest])
    CachedEmbedding.objects.create(model="m@8", digest="f" * 64, vector=b"", used_at=now - timedelta(hours=1))
    embeddings.evict(limit=3)
    assert set(CachedEmbedding.objects.values_list("digest", flat=True)) == {f"{6:064x}", "f" * 64}


@pytest.mark.django_db
@pytest.mark.parametrize("encoder", ["contextual", "static"])
def test_features_run_writes_progress_and_cache_counts(project, monkeypatch, settings, encoder):
    settings.FEATURE_EMBEDDINGS = encoder
    for i in range(4):
        factories.item(project, text_a=f"Answer {i}", text_b="Same other answer")
    ticks = []
    # ticks while a chunk's 7 new texts are encoded, 2 at a time
    monkeypatch.setattr(embeddings, "ENCODE_BLOCK", 2)
    monkeypatch.setattr(static_embeddings, "ENCODE_BLOCK", 2)
    features.compute_features(project, chunk=3, progress=lambda done, total: ticks.append((done, total)))
    # the second chunk's one item brings one new text (contextual: the rest are cached) or three (static: never cached)
    in_second_chunk = [] if encoder == "contextual" else [(3, 4)]
    assert ticks == [(0, 4), (0, 4), (1, 4), (2, 4), (3, 4), *in_second_chunk, (4, 4)]
    run = start_features(project)  # eager in tests: the worker task, run by the run machinery
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and run.kind == RunKind.FEATURES
    assert (run.progress, run.total) == (4, 4)
    assert run.metrics["items"] == 4 and run.metrics["texts"] == 12
    assert run.metrics["encoder"] == features.feature_encoder().name
    if encoder == "contextual":
        assert run.metrics["embedded"] == 0 and run.metrics["cached"] > 0  # the first pass cached every text
    else:  # static vectors are cheaper to encode than to read back: never cached
        assert run.metrics["embedded"] == 9 and run.metrics["cached"] == 0  # its 9 distinct texts, encoded again
