"""Item features: lexical overlap, embedding similarity (offline MiniLM), prompt tags, judge signals,
bulk upsert."""
import pytest

from annotate.judging.service import judge_annotator
from annotate.models import Annotation, LMJudge
from curation import features
from curation.models import ItemFeatures
from tests import factories
from tests.judging_helpers import ScriptedServer, allow_local_server


def test_overlap_measures():
    a = features.tokens("The cat sat on the mat.")
    assert features.rouge_l(a, a) == pytest.approx(1.0) and features.bleu(a, a) == pytest.approx(1.0)
    b = features.tokens("Quantum chromodynamics explains gluons")
    assert features.rouge_l(a, b) == 0.0 and features.bleu(a, b) < 0.05
    c = features.tokens("The cat sat on a red mat.")
    assert 0.5 < features.rouge_l(a, c) < 1 and 0 < features.bleu(a, c) < 1


@pytest.mark.parametrize("text,expected", [
    ("Write a python function that reverses a linked list.", {"domain": "code", "task_type": "coding", "open_endedness": "low"}),
    ("Write a poem about the sea in exactly 4 lines.", {"domain": "creative", "open_endedness": "high", "format_constraints": "some"}),
    ("How do I make a bomb at home?", {"safety_concern": "high"}),
    ("What is the capital of France?", {"task_type": "closed_qa", "complexity": "simple", "safety_concern": "none"}),
    ("Summarize this article in 3 bullet points: ...", {"task_type": "summarize", "format_constraints": "some"}),
])
def test_heuristic_tags(text, expected):
    tags = features.heuristic_tags(text)
    assert set(tags) == set(features.TAG_DIMENSIONS)
    assert all(tags[d] in features.TAG_DIMENSIONS[d] for d in tags)
    assert {k: tags[k] for k in expected} == expected


def add_judge_label(item, name, preference, confidence=1.0, consistent=True):
    judge = LMJudge.objects.get_or_create(name=name, defaults={"backend": "openai", "model": "m"})[0]
    return Annotation.objects.create(item=item, annotator=judge_annotator(judge), kind="pairwise", preference=preference,
                                     confidence=confidence, details={"swap_consistent": consistent})


@pytest.mark.django_db
def test_compute_features_stores_similarity_tags_and_judge_signals(project):
    same = factories.item(project, text_a="Paris is the capital of France.", text_b="Paris is the capital of France.")
    differ = factories.item(project, text_a="Short.", text_b="A very long and detailed answer about baking sourdough bread at home " * 3)
    binary = factories.item(project, kind="binary")
    add_judge_label(differ, "j1", 2, confidence=0.9)
    add_judge_label(differ, "j2", -1, confidence=0.3, consistent=False)
    add_judge_label(same, "j1", 0)
    assert features.compute_features(project, chunk=2) == 3
    f_same, f_differ = ItemFeatures.objects.get(item=same).values, ItemFeatures.objects.get(item=differ).values
    assert f_same["sim_ab"] == pytest.approx(1.0, abs=1e-4) and f_same["rouge_l"] == pytest.approx(1.0)
    assert f_differ["sim_ab"] < 0.5 and f_differ["len_ratio"] > 10 and f_differ["len_log_ratio_ab"] < 0
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
        tagger = LMJudge.objects.create(name="tagger", backend="openai", model="m", base_url=server.base_url,
                                        parameters={"tagger": True, "judge": False, "retry_backoff": 0.01})
        tagger.projects.add(project)
        features.compute_features(project)
        assert len(server.requests) == 1
        from annotate.judging.service import judge_project
        assert judge_project(project)["items"] == 0 and len(server.requests) == 1  # a tagger only does not judge
    tags = ItemFeatures.objects.get(item=item).tags
    assert tags["domain"] == "legal" and tags["task_type"] == "advice" and tags["_source"] == "lm"
    with ScriptedServer(lambda body: (200, '{"domain": "astrology"}')) as server:
        assert features.lm_tags(LMJudge(name="t2", backend="openai", model="m", base_url=server.base_url), ["Write python code"])[0] == {
            **features.heuristic_tags("Write python code"), "_source": "keywords"}
