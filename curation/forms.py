"""Forms of the curation pages: filters, snapshot freezing, noise and dedupe actions, export tokens,
judges, routing and judge training. Views construct and validate them; services do the work."""

import uuid
from datetime import timedelta

from django import forms
from django.utils import timezone

from annotate.forms import field_of
from annotate.judging import backends, prompts
from annotate.judging.endpoints import connection_errors, declared_key_names
from annotate.judging.reward_backends import FINETUNE_PREFIX, reward_finetune
from annotate.kinds import registry as kind_registry
from annotate.models import (
    JudgeBackend,
    LMJudge,
    Routing,
)
from annotate.permissions import is_admin
from curation import actions, calibration, dedupe, routing_sim
from curation.noise import AGGREGATOR_LABELS
from workers.models import ModelSpec

SOURCES = [("human", "People only"), ("judge", "LM judges only"), ("both", "People and judges")]


def attachable_judges(project):
    """Server judges an admin configured that this project does not use yet."""
    return LMJudge.objects.filter(backend=JudgeBackend.OPENAI).exclude(projects=project).order_by("name")


class NoiseRunForm(forms.Form):
    aggregator = forms.ChoiceField(choices=list(AGGREGATOR_LABELS.items()), initial="dawid-skene")


class FilterForm(forms.Form):
    kinds = forms.MultipleChoiceField(
        choices=kind_registry.choices, required=False, widget=forms.CheckboxSelectMultiple
    )
    sources = forms.MultipleChoiceField(choices=SOURCES, required=False, widget=forms.CheckboxSelectMultiple)
    min_agreement = forms.FloatField(
        min_value=0, max_value=1, required=False, help_text="share of labels agreeing (items with ≥ 2 labels)"
    )
    max_noise = forms.FloatField(min_value=0, max_value=1, required=False, help_text="p(label wrong) at most")
    min_margin = forms.FloatField(min_value=0, max_value=3, required=False, help_text="|mean preference|")
    min_labels = forms.IntegerField(min_value=1, required=False)
    min_length = forms.IntegerField(min_value=0, required=False, help_text="characters, longest response")
    max_length = forms.IntegerField(min_value=0, required=False)
    tag = forms.CharField(required=False, help_text="dimension=value, e.g. domain=coding")
    aspect = forms.CharField(required=False, help_text="aspect>=value, e.g. helpfulness>=4")
    created_after = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    created_before = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    exclude_gold = forms.BooleanField(required=False)

    def clean_tag(self):
        value = self.cleaned_data["tag"].strip()
        if value and "=" not in value:
            raise forms.ValidationError("write dimension=value")
        return value

    def clean_aspect(self):
        value = self.cleaned_data["aspect"].strip()
        if value and ">=" not in value:
            raise forms.ValidationError("write aspect>=value")
        if value:
            try:
                float(value.split(">=", 1)[1])
            except ValueError:
                raise forms.ValidationError("the value after >= must be a number") from None
        return value

    def to_filters(self):
        data = dict(self.cleaned_data)
        tag, aspect = data.pop("tag"), data.pop("aspect")
        if tag:
            dim, value = (s.strip() for s in tag.split("=", 1))
            data["tags"] = {dim: [value]}
        if aspect:
            name, value = (s.strip() for s in aspect.split(">=", 1))
            data["aspects"] = {name: {"min": float(value)}}
        for key in ("created_after", "created_before"):
            if data.get(key):
                data[key] = data[key].isoformat()
        return actions.validate_filters({k: v for k, v in data.items() if v not in (None, "", [], False)})


class FreezeForm(forms.Form):
    name = forms.CharField(max_length=200, required=False)
    test_fraction = forms.FloatField(min_value=0, max_value=0.9, initial=0.1)
    group = forms.TypedChoiceField(
        coerce=int,
        empty_value=None,
        required=False,
        label="Preference group",
        help_text="a per-group snapshot keeps only the labels of that group's members (numbered as on the groups page)",
    )

    def __init__(self, *args, groups=None, **kwargs):
        """groups: the latest preference-group fit's [(number, member count)]."""
        super().__init__(*args, **kwargs)
        field_of(self, "group", forms.ChoiceField).choices = [("", "Everyone (all labels)")] + [
            (g, f"Group {g + 1} ({n} member{'s' if n != 1 else ''})") for g, n in (groups or [])
        ]


class NoiseActionForm(forms.Form):
    action = forms.ChoiceField(choices=[("flip", "Flip"), ("drop", "Drop")])
    threshold = forms.FloatField(min_value=0, max_value=1, initial=0.8)
    expected = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class DedupeForm(forms.Form):
    mode = forms.ChoiceField(choices=[("merge", "Merge (same split)"), ("drop", "Drop all but the first")])
    threshold = forms.FloatField(min_value=0.5, max_value=1, initial=dedupe.DEFAULT_THRESHOLD)
    expected = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)
    run = forms.IntegerField(required=False, widget=forms.HiddenInput)


class TokenForm(forms.Form):
    name = forms.CharField(max_length=200, initial="training job")
    expires_in_days = forms.IntegerField(
        required=False, min_value=1, max_value=3650, label="Expires in (days)", help_text="Empty: no expiry."
    )
    # A fresh nonce per rendered form: posting the same form twice (a reload) issues one token.
    nonce = forms.UUIDField(widget=forms.HiddenInput, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["nonce"] = uuid.uuid4()

    def expires_at(self):
        days = self.cleaned_data.get("expires_in_days")
        return timezone.now() + timedelta(days=days) if days else None


TRAINED_PARAMETERS = {"bt_head", "training_items"}  # annotate.judging.reward_training writes them


def _loads_model(key):
    """Whether the backend loads the model judge.model names (any backend, a deployment's included,
    unless it says otherwise)."""
    try:
        return backends.backend_class(key).loads_model if key else False
    except backends.BackendError:
        return True


def unregistered_model(project, backend, model):
    """Why a manager may not load `model` in a judge of `project`, or None. Managers name a model an
    admin registered (or one fine-tuned in the project: its ModelSpec, or `finetune:<run>` for a
    reward model), never a path on the workers' disk or a hub id the workers would download."""
    registered = ModelSpec.objects.for_project(project) if project is not None else ModelSpec.objects.none()
    if registered.filter(name=model).exists():
        return None
    if backend == JudgeBackend.REWARD_MODEL and model.startswith(FINETUNE_PREFIX):
        ft = reward_finetune(model)
        if ft is not None and project is not None and ft.run.project_id == project.pk:
            return None
        return f"{model}: no reward-model fine-tune run of this project has that id"
    names = ", ".join(sorted(registered.values_list("name", flat=True))[:20]) or "none yet"
    return (
        f"{model!r} is not a registered model; choose one ({names}). Only an admin registers a new "
        "path or hub id (Django admin → Model specs)."
    )


class JudgeForm(forms.ModelForm):
    """A new judge. Where a judge connects (base URL, key) is for admins only: a manager adds local
    models, or attaches a server judge an admin configured (`AttachJudgeForm`)."""

    CONNECTION_FIELDS = ("base_url", "api_key_name")
    api_key_name = forms.ChoiceField(
        required=False,
        label="API key",
        help_text="One of the keys the deployment declares (TANDEM_JUDGE_KEYS).",
        error_messages={"invalid_choice": "%(value)s is not a key declared in TANDEM_JUDGE_KEYS"},
    )
    parameters = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text='e.g. {"temperature": 0, "max_new_tokens": 384, "batch_size": 8}',
    )
    prompt_templates = forms.JSONField(
        required=False,
        initial=dict,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Overrides per kind: pairwise, binary, edit.",
    )
    tagger = forms.BooleanField(required=False, help_text="Also tag prompts (domain, task type, ...) with this model.")

    backend = forms.ChoiceField(help_text="A judge backend registered in annotate.judging.backends.")

    class Meta:
        model = LMJudge
        fields = ["name", "backend", "model", "family", "base_url", "api_key_name", "parameters", "prompt_templates"]
        labels = {"base_url": "Base URL"}

    def __init__(self, *args, user, project=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.admin = is_admin(user)
        self.project = project
        field_of(self, "backend", forms.ChoiceField).choices = backends.choices()
        if self.admin:
            field_of(self, "api_key_name", forms.ChoiceField).choices = [("", "none")] + [
                (name, name) for name in declared_key_names()
            ]
            return
        for name in self.CONNECTION_FIELDS:
            del self.fields[name]
        self.fields["model"].help_text = (
            "A registered model's name (or finetune:<run id> of this project's reward-model fine-tune); "
            "an admin registers new paths and hub ids. Ignored by the embedding reward model."
        )
        backend = field_of(self, "backend", forms.ChoiceField)
        backend.choices = backends.choices(local_only=True)  # local models, reward models, embedding heads
        backend.error_messages["invalid_choice"] = (
            "only an admin can add a judge that calls a server; attach one an admin configured, or add a local model"
        )

    def clean(self):
        super().clean()
        data = self.cleaned_data
        if self.admin:
            if data.get("backend") == JudgeBackend.OPENAI and not data.get("base_url"):
                self.add_error(
                    "base_url", "an OpenAI-compatible judge needs the server's base URL, e.g. http://127.0.0.1:8000/v1"
                )
            for field, error in connection_errors(data.get("base_url") or "", data.get("api_key_name") or "").items():
                self.add_error(field, error)
        params = data.get("parameters") or {}
        if not isinstance(params, dict):
            self.add_error("parameters", "must be a JSON object")
        elif reserved := sorted(set(params) & TRAINED_PARAMETERS):
            self.add_error("parameters", f"{', '.join(reserved)}: set by training the judge, not by hand")
        loads_a_model = not self.admin and _loads_model(data.get("backend")) and data.get("model")
        if loads_a_model and (error := unregistered_model(self.project, data["backend"], data["model"])):
            self.add_error("model", error)
        for error in prompts.validate_overrides(data.get("prompt_templates") or {}):
            self.add_error("prompt_templates", error)
        return data

    def save(self, commit=True):
        judge = super().save(commit=False)
        judge.parameters = {
            **(self.cleaned_data.get("parameters") or {}),
            **({"tagger": True} if self.cleaned_data.get("tagger") else {}),
        }
        judge.prompt_templates = self.cleaned_data.get("prompt_templates") or {}
        if commit:
            judge.save()
        return judge


class AttachJudgeForm(forms.Form):
    judge = forms.ModelChoiceField(queryset=LMJudge.objects.none(), help_text="A server judge an admin configured.")

    def __init__(self, *args, project, **kwargs):
        super().__init__(*args, **kwargs)
        field_of(self, "judge", forms.ModelChoiceField).queryset = attachable_judges(project)


class RouteForm(forms.Form):
    budget = forms.IntegerField(
        min_value=0,
        max_value=100,
        initial=30,
        required=False,
        help_text="Percent of items labelled by humans (calibration slice included).",
    )
    count = forms.IntegerField(min_value=0, required=False, help_text="Or a number of items (overrides the percent).")
    strategy = forms.ChoiceField(
        choices=[(s, routing_sim.STRATEGY_LABELS[s]) for s in routing_sim.STRATEGIES], initial="ppm"
    )
    human_route = forms.ChoiceField(
        choices=[(Routing.HUMAN, "humans only"), (Routing.BOTH, "humans and judges")], initial=Routing.HUMAN
    )
    calibration_percent = forms.IntegerField(
        min_value=1,
        max_value=50,
        initial=10,
        help_text="Calibration slice: percent of items labelled by both (drawn once, at random).",
    )
    calibration_minimum = forms.IntegerField(
        min_value=0, initial=calibration.DEFAULT_MINIMUM, help_text="At least this many items in the slice."
    )

    def clean(self):
        data = super().clean() or self.cleaned_data
        if data.get("budget") is None and data.get("count") is None and not {"budget", "count"} & set(self.errors):
            self.add_error("budget", "Give a percent of the items, or a number of items.")
        return data


class TrainJudgeForm(forms.Form):
    max_items = forms.IntegerField(
        min_value=10,
        max_value=100000,
        initial=500,
        help_text="Random human- or gold-labelled items outside the calibration slice.",
    )
