"""LM judges: templates, parsing that never guesses, position swap, the HTTP backend against a
scripted local server, idempotent re-runs and the judging task."""

import pytest

from annotate.judging import prompts, service
from annotate.judging.backends import BackendError, OpenAIBackend, TransientBackendError
from annotate.kinds import binary as binary_kind
from annotate.kinds import edit as edit_kind
from annotate.kinds import pairwise as pairwise_kind
from annotate.kinds import replies
from annotate.kinds.binary import BinaryKind
from annotate.kinds.pairwise import PairwiseKind
from annotate.models import Annotation, AnnotationStatus, LMJudge
from tests import factories
from tests.judging_helpers import ScriptedServer, allow_local_server, shown_first, user_message
from workers.models import RunState


@pytest.fixture(autouse=True)
def _local_server_allowed():
    with allow_local_server:
        yield


# --- parsing --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "reply,expected",
    [
        ('{"rationale": "B is right", "verdict": 2}', 2),
        ('Sure.\n```json\n{"verdict": -3, "rationale": "A is correct"}\n```\nDone', -3),
        ('thinking {not json} ... {"preference": "+1", "reason": "x"}', 1),
        ("Rationale: B is concise.\nVerdict: -1", -1),
        ("**Verdict:** [[B]]", 2),
        ("Verdict: tie", 0),
        ('{"verdict": 2, "rationale": "x"} To repeat: {"verdict": 2}', 2),
        ("Final verdict: A much better", -3),
    ],
)
def test_pairwise_parses_json_anywhere_and_verdict_lines(reply, expected):
    parsed = pairwise_kind.parse_pairwise(reply)
    assert parsed.ok and parsed.label["preference"] == expected


@pytest.mark.parametrize(
    "reply",
    [
        "",
        "I think both are fine, really.",
        '{"verdict": 5}',
        '{"verdict": 1.5}',
        '{"verdict": true}',
        "Verdict: 2\nVerdict: -2",
        "Verdict: 7",
        "Verdict: A is better because it is long",
        '{"rationale": "no verdict key"}',
        "`{verdict: 2}`",
        'First {"verdict": 2} then again {"verdict": -1}',
    ],
)
def test_pairwise_never_guesses(reply):
    parsed = pairwise_kind.parse_pairwise(reply)
    assert not parsed.ok and parsed.error


def test_binary_needs_every_principle_answered():
    principles = ["Be honest", "Be harmless"]
    ok = binary_kind.parse_binary(
        '{"principles": {"be honest": "yes", "Be harmless": "no"}, "reason": "rude"}', principles
    )
    assert ok.ok and ok.label["thumbs"] == "down" and ok.label["failed_principles"] == ["Be harmless"]
    text = binary_kind.parse_binary("- Be honest: yes\n- Be harmless: yes", principles)
    assert text.ok and text.label["thumbs"] == "up"
    assert not binary_kind.parse_binary('{"principles": {"Be honest": "yes"}}', principles).ok
    assert not binary_kind.parse_binary("Be honest: yes\nBe honest: no\nBe harmless: yes", principles).ok
    assert not binary_kind.parse_binary('{"principles": {"Be honest": "maybe", "Be harmless": "yes"}}', principles).ok
    assert binary_kind.parse_binary('{"verdict": "no", "reason": "wrong"}', []).label["thumbs"] == "down"


def test_edit_requires_text_and_valid_quality():
    ok = edit_kind.parse_edit('{"quality": 3, "rationale": "typo", "edited_text": "Fixed text."}')
    assert ok.ok and ok.label == {"edited_text": "Fixed text.", "quality": 3, "rationale": "typo"}
    assert not edit_kind.parse_edit('{"quality": 9, "edited_text": "x"}').ok
    assert not edit_kind.parse_edit('{"quality": 3, "edited_text": ""}').ok
    assert not edit_kind.parse_edit("Here is the fixed text: ...").ok


# --- templates ------------------------------------------------------------------------------


def test_templates_insert_text_verbatim_and_swap(project):
    item = factories.item(project, text_a="use ${HOME} and {braces} $response_b", text_b="second")
    pairwise = PairwiseKind()
    ab = pairwise.judge_messages(item)[1]["content"]
    ba = pairwise.judge_messages(item, swapped=True)[1]["content"]
    assert "use ${HOME} and {braces} $response_b" in ab
    assert ab.index("use ${HOME}") < ab.index("second") and ba.index("second") < ba.index("use ${HOME}")


def test_template_overrides_and_validation(project):
    item = factories.item(project, kind="binary")
    overrides = {"binary": {"user": "Principles:\n$principles\nResponse: $response"}}
    messages = BinaryKind().judge_messages(item, ["Be honest"], overrides)
    assert messages[1]["content"] == f"Principles:\n- Be honest\nResponse: {item.response_a.text}"
    assert prompts.validate_overrides(overrides) == []
    assert prompts.validate_overrides({"pairwise": "Compare $response_a and $resp"})
    assert prompts.validate_overrides({"no-such-kind": "x"})
    assert prompts.validate_overrides({"ranking": "Rank $count: $responses"}) == []


# --- position swap --------------------------------------------------------------------------


def P(pref):
    return replies.Parsed(True, {"preference": pref, "rationale": "r"}, source="json")


def test_swap_consistent_verdicts_map_to_canonical_order():
    fields, details = service.combine_swap(P(-2), P(2))  # A better shown first, and shown second
    assert fields["preference"] == -2 and fields["confidence"] == 1.0 and details["swap_consistent"] is True


def test_swap_inconsistent_is_low_confidence_and_leans_to_tie():
    fields, details = service.combine_swap(P(-2), P(-2))  # always the first slot: position bias
    assert details["swap_consistent"] is False and fields["preference"] == 0 and fields["confidence"] < 0.5
    fields, _ = service.combine_swap(P(-3), P(-1))  # second order says B slightly better (canonical +1)
    assert fields["preference"] == -1


def test_swap_with_one_order_unparsed():
    fields, details = service.combine_swap(P(1), replies.unparsed("garbage"))
    assert fields["status"] == AnnotationStatus.OK and fields["confidence"] == service.SINGLE_ORDER_CONFIDENCE
    fields, _ = service.combine_swap(replies.unparsed("x"), replies.unparsed("y"))
    assert fields["status"] == AnnotationStatus.UNPARSED and fields["preference"] is None


# --- HTTP backend ---------------------------------------------------------------------------


def http_judge(server, project, **params):
    judge = LMJudge.objects.create(
        name=f"http-{project.pk}-{len(params)}",
        backend="openai",
        model="judge-model",
        base_url=server.base_url,
        parameters={"retry_backoff": 0.01, "concurrency": 2, **params},
    )
    judge.projects.add(project)
    return judge


@pytest.mark.django_db
def test_http_judge_retries_500_and_records_garbage_unparsed(project):
    good = factories.item(project, text_a="GOOD answer", text_b="BAD answer")
    biased = factories.item(project, text_a="first thing", text_b="other thing")
    garbage = factories.item(project, text_a="junk one", text_b="junk two")

    def reply(body):
        content = user_message(body)
        if "GOOD answer" in content:  # a consistent judge: prefers GOOD in either slot
            return 200, '{"rationale": "correct", "verdict": %d}' % (  # noqa: UP031
                -2 if shown_first(body, "GOOD answer", "BAD answer") == "a" else 2
            )
        if "first thing" in content:  # a position-biased judge: always slot A
            return 200, "Rationale: the first is better.\nVerdict: -2"
        return 200, "lorem ipsum <script>alert(1)</script> no verdict here"

    with ScriptedServer(reply) as server:
        server.script = [(500, "overloaded"), (429, "slow down")]
        judge = http_judge(server, project, concurrency=1)
        result = service.judge_project(project)
    assert result["judges"][judge.name]["ok"] == 2 and result["judges"][judge.name]["unparsed"] == 1
    assert len(server.requests) == 6 + 2  # 3 pairs × 2 orders, plus the two retried calls
    a_good = Annotation.objects.get(item=good)
    assert a_good.preference == -2 and a_good.confidence == 1.0 and a_good.rationale == "correct"
    assert a_good.annotator.judge == judge and a_good.annotator.kind == "judge"
    a_biased = Annotation.objects.get(item=biased)
    assert a_biased.details["swap_consistent"] is False and a_biased.confidence < 0.5 and a_biased.preference == 0
    a_garbage = Annotation.objects.get(item=garbage)
    assert a_garbage.status == AnnotationStatus.UNPARSED and a_garbage.preference is None
    assert "<script>" in a_garbage.details["raw"]["ab"]["reply"]  # kept verbatim for review; escaped when shown

    with ScriptedServer(reply) as again:  # re-running skips what the judge labelled, unparsed included
        judge.base_url = again.base_url
        judge.save()
        assert service.judge_project(project)["items"] == 0 and again.requests == []
    assert Annotation.objects.filter(annotator__judge=judge).count() == 3


@pytest.mark.django_db
def test_http_judge_sends_key_and_fails_cleanly(project, monkeypatch, settings):
    settings.JUDGE_KEYS = {"test-key": "TANDEM_TEST_JUDGE_KEY"}
    factories.item(project, kind="binary")
    with ScriptedServer(
        lambda body: (
            200,
            '{"principles": {"Be honest": "yes", "Be harmless": "yes", "Follow the instructions": "no"}, "reason": "ignored the ask"}',
        )
    ) as server:
        judge = http_judge(server, project, max_retries=1)
        judge.api_key_name = "test-key"
        judge.save()
        with pytest.raises(BackendError, match="TANDEM_TEST_JUDGE_KEY"):
            OpenAIBackend(judge)
        monkeypatch.setenv("TANDEM_TEST_JUDGE_KEY", "sk-test")
        service.judge_project(project)
        assert server.headers[0]["Authorization"] == "Bearer sk-test"
        assert server.requests[0]["model"] == "judge-model" and server.requests[0]["temperature"] == 0.0
    a = Annotation.objects.get()
    assert a.thumbs == "down" and a.failed_principles == ["Follow the instructions"] and a.reason == "ignored the ask"

    factories.item(project, kind="binary")
    with ScriptedServer(lambda body: (503, "down")) as server:
        judge.base_url = server.base_url
        judge.save()
        with pytest.raises(TransientBackendError):
            service.judge_project(project)
    assert Annotation.objects.count() == 1  # nothing guessed or stored for the failed item
    with ScriptedServer(lambda body: (401, "bad key")) as server:
        judge.base_url = server.base_url
        judge.save()
        with pytest.raises(BackendError, match="401") as failed:
            service.judge_project(project)
    # The server's own words are kept for admins, never put in the message a manager sees.
    assert "bad key" not in str(failed.value) and "bad key" in failed.value.detail


@pytest.mark.django_db
def test_http_judge_edit_item_and_per_item_rejection(project):
    edit = factories.item(project, kind="edit", text_a="Teh answer is 4.")
    too_long = factories.item(project, kind="edit", text_a="x " * 50)

    def reply(body):
        if "x x x" in user_message(body):
            return 400, "context length exceeded"
        return 200, '{"quality": 2, "rationale": "typo", "edited_text": "The answer is 4."}'

    with ScriptedServer(reply) as server:
        http_judge(server, project)
        service.judge_project(project)
    a = Annotation.objects.get(item=edit)
    assert a.edited_text == "The answer is 4." and a.aspect_ratings == {"quality": 2} and 0 < a.edit_distance <= 1
    rejected = Annotation.objects.get(item=too_long)
    assert rejected.status == AnnotationStatus.UNPARSED and "400" in rejected.details["raw"]["error"]
    assert "context length" not in rejected.details["raw"]["error"]  # the body is for admins only
    assert "context length exceeded" in rejected.details["raw"]["error_detail"]


@pytest.mark.django_db
def test_jury_each_judge_stores_its_own_label_and_task_tracks_the_run(project):
    from workers.tasks.judging import start_judging

    items = [factories.item(project, text_a=f"A{i}", text_b=f"B{i}") for i in range(5)]
    with (
        ScriptedServer(lambda body: (200, '{"verdict": 1, "rationale": "ok"}')) as s1,
        ScriptedServer(lambda body: (200, '{"verdict": -1, "rationale": "no"}')) as s2,
    ):
        j1, j2 = http_judge(s1, project), http_judge(s2, project, other=1)
        (run,) = start_judging(project, user=None)
    assert run.state == RunState.SUCCEEDED and run.progress == run.total == 10
    assert Annotation.objects.filter(item__in=items).count() == 10
    # +1 in both slots is a positional verdict: inconsistent, tie-leaning, low confidence
    assert set(Annotation.objects.filter(annotator__judge=j1).values_list("preference", flat=True)) == {0}
    assert set(Annotation.objects.filter(annotator__judge=j2).values_list("details__swap_consistent", flat=True)) == {
        False
    }


@pytest.mark.django_db(transaction=True)
def test_cancelling_a_judging_run_stops_after_the_current_batch(project):
    from workers import runs
    from workers.models import TaskRun
    from workers.tasks.judging import start_judging

    for i in range(4):
        factories.item(project, text_a=f"A{i}", text_b=f"B{i}")

    def reply(body):
        from django.db import connection

        try:  # a manager presses cancel while the first batch is being judged (another connection)
            runs.request_cancel(TaskRun.objects.filter(project=project, kind="judge").first())
        finally:
            connection.close()
        return 200, '{"verdict": 1, "rationale": "ok"}'

    with ScriptedServer(reply) as server:
        http_judge(server, project, batch_size=1, concurrency=1)
        (run,) = start_judging(project)
    assert run.state == RunState.CANCELLED
    assert Annotation.objects.count() == 1 and run.progress == 1  # the finished batch is kept; a re-run resumes


def test_a_judging_run_whose_server_stays_down_fails_in_process_and_keeps_the_reason(project):
    """TransientBackendError is Retryable (annotate.errors): a worker retries the run with backoff;
    in-process (the test settings) the run fails at once, saying why, and a re-run resumes."""
    from workers.tasks.judging import start_judging

    factories.item(project, kind="binary")
    with ScriptedServer(lambda body: (503, "down")) as server:
        http_judge(server, project, max_retries=0)
        (run,) = start_judging(project, user=None)
    assert run.state == RunState.FAILED and "TransientBackendError" in run.error
