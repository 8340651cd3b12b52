"""Judge backends are chosen by key from a registry; a deployment registers its own through
settings (TANDEM_JUDGE_BACKENDS, dotted paths) without touching Tandem's code."""

import pytest

from annotate.judging import service
from annotate.judging.backends import BackendError, OpenAIBackend, backend_class, backend_for, is_scoring, registry
from annotate.judging.local_backend import TransformersBackend
from annotate.judging.reward_backends import EmbeddingRewardBackend, SequenceClassifierBackend
from annotate.models import Annotation, JudgeBackend, LMJudge
from tests import factories
from tests.judging_helpers import ServerStandIn, TieBackend


def test_every_judge_backend_choice_has_a_registered_class():
    assert set(registry()) == set(JudgeBackend.values)
    assert backend_class("transformers") is TransformersBackend and backend_class("openai") is OpenAIBackend
    assert backend_class("reward_model") is SequenceClassifierBackend
    assert backend_class("embedding_rm") is EmbeddingRewardBackend
    assert [k for k, cls in registry().items() if cls.scoring] == ["reward_model", "embedding_rm"]


def test_an_unknown_key_is_a_clear_error():
    with pytest.raises(BackendError, match=r"unknown judge backend 'gpt-5'; one of embedding_rm, openai, reward_model"):
        backend_class("gpt-5")
    with pytest.raises(BackendError, match="unknown judge backend"):
        backend_for(LMJudge(name="x", backend="gpt-5", model="m"))


def test_a_backend_registered_from_settings_is_chosen_by_its_key(settings):
    settings.JUDGE_BACKENDS = ["tests.judging_helpers.TieBackend"]
    judge = LMJudge(name="custom", backend="always-tie", model="m")
    backend = backend_for(judge)
    assert isinstance(backend, TieBackend) and not is_scoring(judge)
    assert backend.generate([[{"role": "user", "content": "?"}]] * 2) == ['{"rationale": "the same", "verdict": 0}'] * 2
    settings.JUDGE_BACKENDS = []
    with pytest.raises(BackendError, match="unknown judge backend 'always-tie'"):
        backend_for(judge)


@pytest.mark.parametrize(
    "path,error",
    [("tests.judging_helpers.Missing", "cannot import"), ("tests.judging_helpers.NotABackend", "not a JudgeBackend")],
)
def test_a_bad_setting_says_which_path(settings, path, error):
    settings.JUDGE_BACKENDS = [path]
    with pytest.raises(BackendError, match=f"TANDEM_JUDGE_BACKENDS: .*{error}"):
        registry()


@pytest.mark.django_db
def test_a_registered_backend_labels_items_through_the_service(settings, project):
    """A deployment's class under a built-in key replaces the built-in one, all the way to stored labels."""
    settings.JUDGE_BACKENDS = ["tests.judging_helpers.ServerStandIn"]
    judge = LMJudge.objects.create(name="stand-in", backend="openai", model="m")  # no base_url: not a server
    judge.projects.add(project)
    items = [factories.item(project) for _ in range(3)]
    TieBackend.calls.clear()
    assert isinstance(backend_for(judge), ServerStandIn)
    result = service.judge_project(project)
    assert result["judges"]["stand-in"]["ok"] == 3 and sum(TieBackend.calls) == 6  # both orders of each pair
    labels = Annotation.objects.filter(annotator__judge=judge)
    assert sorted(a.item_id for a in labels) == [i.pk for i in items] and {a.preference for a in labels} == {0}


@pytest.mark.django_db
def test_a_new_key_registered_from_settings_is_saved_through_the_form_and_judges(settings, project, admin_user):
    """A deployment's backend under a key of its own: the routing page's form offers it, the judge is
    stored with it, and judging labels items with it. Without the setting the form refuses the key."""
    from curation.forms import JudgeForm

    data = {"name": "tie-judge", "backend": "always-tie", "model": "m", "parameters": "{}", "prompt_templates": "{}"}
    settings.JUDGE_BACKENDS = []
    refused = JudgeForm(data, user=admin_user)
    assert not refused.is_valid() and "backend" in refused.errors
    settings.JUDGE_BACKENDS = ["tests.judging_helpers.TieBackend"]
    form = JudgeForm(data, user=admin_user)
    assert ("always-tie", "always-tie") in form.fields["backend"].choices
    assert form.is_valid(), form.errors
    judge = form.save()
    judge.projects.add(project)
    assert LMJudge.objects.get(pk=judge.pk).backend == "always-tie"
    factories.item(project)
    assert service.judge_project(project)["judges"]["tie-judge"]["ok"] == 1
