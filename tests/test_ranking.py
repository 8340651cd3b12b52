"""The ranking kind end to end, on the real database: import (plain rankings and UltraFeedback
completions ranked by score), annotate through the workspace POST (ties, swapped display), an LM
judge's ranking parsed and stored like any label, Krippendorff's α over ranks, gold, and the export
as every implied pair with the rank difference as margin."""

import json
import re

import pytest

from annotate import gold, queue
from annotate.imports import import_items
from annotate.judging.service import judge_items
from annotate.kinds import ranking, registry
from annotate.kinds import ranking as ranking_kind
from annotate.models import Annotation, AnnotationStatus, Assignment, Item, ItemResponse, LMJudge
from curation.agreement import project_agreement
from curation.formats import iter_export_rows
from curation.snapshots import freeze_snapshot
from tests import factories

pytestmark = pytest.mark.django_db

RESPONSES = ["Paris is the capital.", "It is Lyon.", "Paris, on the Seine, is France's capital.", "No idea."]


@pytest.fixture
def rproject():
    return factories.project(feedback_kinds=["ranking", "pairwise"])


def _write(path, rows):
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    return path


def _sid(html):
    return re.search(r'name="submission_id" value="([0-9a-f-]{36})"', html).group(1)


class ScriptedBackend:
    """A judge backend that answers every request with the same reply."""

    def __init__(self, reply):
        self.reply, self.seen = reply, []

    def generate(self, conversations):
        self.seen.extend(conversations)
        return [self.reply for _ in conversations]


def test_helpers_rank_and_pair():
    assert ranking.dense([3, 1, 3]) == [2, 1, 2]
    assert ranking.implied_pairs([2, 1, 2, 3]) == [(1, 0, 1), (0, 3, 1), (1, 2, 1), (1, 3, 2), (2, 3, 1)]
    assert ranking.mean_ranks([[1, 2, 3], [2, 1, 3]]) == [1.5, 1.5, 3.0]
    assert registry.get("ranking").direction({"ranking": [2, 1, 3]}) == 1


def test_parse_ranking_replies():
    ok = ranking_kind.parse_ranking('Thinking... {"rationale": "3 is fullest", "ranking": [3, [1, 4], 2]}', 4)
    assert ok.ok and ok.label == {"ranking": [2, 3, 1, 2], "rationale": "3 is fullest"}
    assert not ranking_kind.parse_ranking('{"ranking": [1, 2]}', 3).ok  # response 3 unranked
    assert not ranking_kind.parse_ranking('{"ranking": [1, 1, 2]}', 3).ok  # twice
    assert not ranking_kind.parse_ranking('{"ranking": [1, 2, 7]}', 3).ok  # no such response
    assert not ranking_kind.parse_ranking("I prefer the first one.", 3).ok


def test_import_plain_rankings_and_ultrafeedback_completions(rproject, tmp_path):
    plain = _write(
        tmp_path / "ranked.jsonl",
        [{"prompt": "Capital of France?", "responses": RESPONSES, "ranking": [2, 3, 1, 3]}],
    )
    result = import_items(rproject, plain, source="oasst", label_kind="human")
    assert result.kind == "ranking" and result.items_created == 1 and result.annotations_created == 1
    item = Item.objects.get(project=rproject, kind="ranking")
    assert [r.text for r in ranking.responses_of(item)] == RESPONSES
    assert item.response_a.text == RESPONSES[0] and item.response_b.text == RESPONSES[1]
    assert Annotation.objects.get(item=item).ranking == [2, 3, 1, 3]
    # Importing the same file again finds the item by all its responses: nothing new.
    again = import_items(rproject, plain, source="oasst", label_kind="human")
    assert again.items_created == 0 and again.items_existing == 1 and again.annotations_created == 0

    uf = _write(
        tmp_path / "uf.jsonl",
        [
            {
                "prompt": "Say hi",
                "completions": [
                    {"text": "hi", "model": "m1", "score": 7},
                    {"text": "hello there", "model": "m2", "score": 9},
                    {"text": "hey", "model": "m3", "score": 7},
                ],
            }
        ],
    )
    result = import_items(rproject, uf, as_kind="ranking", source="ultrafeedback")
    assert result.kind == "ranking" and result.items_created == 1
    uf_item = Item.objects.get(project=rproject, kind="ranking", prompt__text="Say hi")
    assert Annotation.objects.get(item=uf_item).ranking == [2, 1, 2]  # equal scores tie
    assert ItemResponse.objects.filter(item=uf_item).count() == 3

    bad = _write(tmp_path / "bad.jsonl", [{"prompt": "Two?", "responses": ["a", "b"]}])
    with pytest.raises(Exception, match="3 to 9 responses"):
        import_items(rproject, bad)


def _annotate(client, project, user, ranks_by_text):
    """Rank the leased ranking item through the workspace form: `ranks_by_text` maps text → rank."""
    client.force_login(user)
    html = client.get(f"/p/{project.pk}/annotate/").content.decode()
    assert "data-rank-list" in html and "Rank the responses" in html
    lease = Assignment.objects.get(annotator__user=user, state="leased")
    shown = [r.text for r in registry.get("ranking").display_responses(lease.item, lease.swapped)]
    for text in shown:
        assert text.split(",")[0] in html
    post = {"submission_id": _sid(html), "rationale": "fullest answer first"}
    post.update({f"rank:{slot}": str(ranks_by_text[text]) for slot, text in enumerate(shown)})
    resp = client.post(f"/p/{project.pk}/annotate/a/{lease.pk}/submit/", post, HTTP_HX_REQUEST="true")
    assert resp.status_code == 200
    return lease


def test_ranking_end_to_end(rproject, tmp_path, client, settings):
    import_items(rproject, _write(tmp_path / "r.jsonl", [{"prompt": "Capital of France?", "responses": RESPONSES}]))
    item = Item.objects.get(project=rproject, kind="ranking")
    rproject.overlap = 2
    rproject.save()
    # Two people rank it; the second sees it swapped (reversed), and ties two responses.
    wanted = {RESPONSES[0]: 2, RESPONSES[1]: 3, RESPONSES[2]: 1, RESPONSES[3]: 4}
    tied = {RESPONSES[0]: 2, RESPONSES[1]: 3, RESPONSES[2]: 1, RESPONSES[3]: 3}
    first_user = factories.user("r1", project=rproject)
    queue.next_assignment(rproject, factories.human(first_user))
    Assignment.objects.filter(annotator__user=first_user).update(swapped=False)
    _annotate(client, rproject, first_user, wanted)
    second_user = factories.user("r2", project=rproject)
    queue.next_assignment(rproject, factories.human(second_user))
    Assignment.objects.filter(annotator__user=second_user).update(swapped=True)
    second = _annotate(client, rproject, second_user, tied)
    labels = {a.annotator.name: a for a in Annotation.objects.filter(item=item)}
    assert labels["r1"].ranking == [2, 3, 1, 4] and labels["r1"].swapped is False
    assert labels["r2"].ranking == [2, 3, 1, 3] and labels["r2"].swapped is True  # canonical order kept
    assert second.item_id == item.pk

    # A bad submission is refused with the form shown again.
    third_user = factories.user("r3", project=rproject)
    rproject.overlap = 3
    rproject.save()
    client.force_login(third_user)
    html = client.get(f"/p/{rproject.pk}/annotate/").content.decode()
    lease = Assignment.objects.get(annotator__user=third_user)
    body = client.post(
        f"/p/{rproject.pk}/annotate/a/{lease.pk}/submit/", {"submission_id": _sid(html), "rank:0": "9"}
    ).content.decode()
    assert "rank all 4 responses" in body or "a rank is 1 to 4" in body
    assert not Annotation.objects.filter(item=item, annotator__user=third_user).exists()

    # An LM judge ranks it: one request listing the responses, the reply parsed and stored.
    judge = LMJudge.objects.create(name="ranker", backend="openai", model="m", base_url="http://127.0.0.1:9/v1")
    judge.projects.add(rproject)
    backend = ScriptedBackend('{"rationale": "3 is the most complete", "ranking": [3, 1, [2, 4]]}')
    counts = judge_items(judge, Item.objects.filter(pk=item.pk), backend=backend)
    assert counts["ok"] == 1
    assert "[Response 4]" in backend.seen[0][1]["content"]
    judged = Annotation.objects.get(item=item, annotator__judge=judge)
    assert judged.status == AnnotationStatus.OK and judged.ranking == [2, 3, 1, 3] and judged.kind == "ranking"

    # Agreement: Krippendorff's α over ranks (people only), shown where agreement is shown.
    agreement = project_agreement(rproject)
    assert agreement["ranking"]["items_with_overlap"] == 1
    alpha = agreement["ranking"]["alpha_ordinal"]
    assert alpha is not None and 0 < alpha <= 1
    assert agreement["pairwise"]["items"] == 0

    # Gold: the best response must match.
    gold.mark_gold(item, {"ranking": ["2", "3", "1", "4"]})
    item.refresh_from_db()
    assert item.gold_answer == {"ranking": [2, 3, 1, 4]}
    assert gold.is_correct(item, labels["r2"]) is True
    assert gold.is_correct(item, Annotation(kind="ranking", ranking=[1, 2, 3, 4])) is False

    # Export: every implied pair of the people's mean ranks, margin = rank difference.
    gold.unmark_gold(item)
    snap = freeze_snapshot(rproject, test_fraction=0)
    pairs = list(iter_export_rows(snap, "preference"))
    # mean ranks [2, 3, 1, 3.5] order all 6 pairs
    assert len(pairs) == 6
    by = {(p["chosen"].strip(), p["rejected"].strip()): p["margin"] for p in pairs}
    assert by[(RESPONSES[2], RESPONSES[3])] == 2.5
    assert by[(RESPONSES[0], RESPONSES[1])] == 1.0
    assert all(p["prompt"].startswith("\n\nHuman: Capital of France?") for p in pairs)
    unpaired = list(iter_export_rows(snap, "unpaired"))
    assert len(unpaired) == 12
