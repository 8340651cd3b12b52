"""Forms of the runs pages; they validate input and hand it to the services."""

from django import forms
from django.db.models import QuerySet

from annotate import strict_input
from annotate.forms import field_of
from annotate.models import Annotator
from curation.models import Snapshot
from workers import finetune_data, reward_mixture
from workers.finetune import DEFAULTS as FINETUNE_DEFAULTS
from workers.finetune_config import ConfigError, check_lora, check_training
from workers.models import FineTuneMethod, ModelSpec, NoiseWeighting
from workers.rationales import KINDS


class JSONObjectField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 3, "spellcheck": "false"})

    def to_python(self, value):
        value = (value or "").strip()
        if not value:
            return {}
        try:
            parsed = strict_input.loads(value)  # no NaN, Infinity, duplicate keys, NUL, huge numbers
        except strict_input.InputError as exc:
            raise forms.ValidationError(exc.message) from exc
        if not isinstance(parsed, dict):
            raise forms.ValidationError('expected a JSON object, e.g. {"beta": 0.1}')
        return parsed


def check_finetune_fields(form, data):
    """The allow-list on the form itself, so a refused field is reported next to the box it came from.
    reward_mixture fits its own heads, not a TRL trainer: its config has its own fields."""
    spec = data.get("model_spec")
    if data.get("method") == FineTuneMethod.REWARD_MIXTURE:
        try:
            reward_mixture.check_config(data.get("config"), data.get("lora"))
        except ValueError as exc:
            form.add_error("config", str(exc))
        return
    if data.get("method") and "config" in data:
        try:
            check_training(data["config"], data["method"], spec.max_length if spec else None)
        except ConfigError as exc:
            form.add_error("config", str(exc))
    if data.get("lora"):
        try:
            check_lora(data["lora"])
        except ConfigError as exc:
            form.add_error("lora", str(exc))


def set_queryset(form: forms.BaseForm, name: str, queryset: QuerySet) -> None:
    """Narrow a model choice field to the project's objects (declared with `.none()`)."""
    field_of(form, name, forms.ModelChoiceField).queryset = queryset


class _ProjectForm(forms.Form):
    def __init__(self, project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        if "snapshot" in self.fields:
            set_queryset(self, "snapshot", Snapshot.objects.filter(project=project))
        if "model_spec" in self.fields:
            set_queryset(self, "model_spec", ModelSpec.objects.for_project(project).order_by("name"))


class FineTuneForm(_ProjectForm):
    snapshot = forms.ModelChoiceField(queryset=Snapshot.objects.none())
    model_spec = forms.ModelChoiceField(queryset=ModelSpec.objects.none(), label="Model")
    method = forms.ChoiceField(
        choices=FineTuneMethod.choices,
        help_text=(
            "dpo_rationale adds γ·NLL of each row's rationale given the prompt and both responses (set γ as "
            '"rationale_gamma" in the config, default 1.0; rows without a rationale train on DPO alone). '
            "bco is TRL's paired variant (loss_type bco_pair), not BCO on unpaired thumbs up/down (Jung et al.). "
            "kto weights desirable/undesirable rows from the class counts unless the config sets them."
        ),
    )
    config = JSONObjectField(
        required=False,
        label="TRL config (JSON)",
        help_text='Training fields of the TRL config (an allow-list with caps: epochs, learning rate, batch sizes, max_length, max_prompt_length, beta, …), e.g. {"beta": 0.1, "learning_rate": 5e-6, "num_train_epochs": 1}; add {"eval_strategy": "steps", "eval_steps": 50} for an eval-loss curve on the test split',
    )
    lora = JSONObjectField(
        required=False, label="LoRA (JSON, empty = full fine-tune)", help_text='e.g. {"r": 16, "lora_alpha": 32}'
    )
    noise_weighting = forms.ChoiceField(
        choices=NoiseWeighting.choices,
        initial=NoiseWeighting.NONE,
        help_text=(
            "weight multiplies each training row's loss by 1 − p_noise (pair methods and the reward model); "
            "drop and sample change which rows are trained instead."
        ),
    )
    noise_threshold = forms.FloatField(min_value=0, max_value=1, initial=0.5)
    start_anyway = forms.BooleanField(required=False, label="Start even if most rows are longer than max_length")

    def clean(self):
        data = super().clean() or self.cleaned_data
        check_finetune_fields(self, data)
        if not self.errors and not data.get("start_anyway"):
            self.warn_on_length(data)
        return data

    def warn_on_length(self, data):
        """Most rows longer than max_length lose their oldest turns or have their completions cut:
        say so before a run is queued (a token count of a sample with the model's tokenizer)."""
        spec = data["model_spec"]
        max_length = (data.get("config") or {}).get("max_length") or min(
            FINETUNE_DEFAULTS["max_length"], spec.max_length
        )
        estimate = finetune_data.estimate_for_form(data["snapshot"], spec, data["method"], max_length)
        self.length_estimate = estimate
        if estimate is not None and not estimate.most_fit:
            self.add_error(
                None,
                f"Only {estimate.fit} of {estimate.sampled} sampled training rows fit in max_length "
                f"{max_length} tokens (median {estimate.median}, longest {estimate.longest}). The others "
                f"lose their oldest turns or have their answers cut. Raise max_length (the model takes "
                f'up to {spec.max_length}), or tick "start anyway".',
            )


class RationaleForm(_ProjectForm):
    snapshot = forms.ModelChoiceField(queryset=Snapshot.objects.none())
    model_spec = forms.ModelChoiceField(queryset=ModelSpec.objects.none(), label="Model")
    kinds = forms.MultipleChoiceField(
        choices=[(k, k) for k in KINDS], initial=list(KINDS), widget=forms.CheckboxSelectMultiple
    )
    batch_size = forms.IntegerField(min_value=1, max_value=256, initial=8)
    max_new_tokens = forms.IntegerField(min_value=8, max_value=1024, initial=128)


class ScheduleForm(forms.ModelForm):
    config = JSONObjectField(required=False, label="TRL config (JSON)")
    lora = JSONObjectField(required=False, label="LoRA (JSON, empty = full fine-tune)")

    class Meta:
        from workers.models import FineTuneSchedule

        model = FineTuneSchedule
        fields = [
            "name",
            "hour",
            "minute",
            "day_of_week",
            "min_new_labels",
            "model_spec",
            "method",
            "config",
            "lora",
            "noise_weighting",
            "noise_threshold",
            "test_fraction",
        ]
        labels = {
            "hour": "Hour (UTC, crontab)",
            "minute": "Minute (crontab)",
            "day_of_week": "Days of week (crontab)",
            "min_new_labels": "Fire with at least N new labels",
            "model_spec": "Model",
        }

    def __init__(self, project, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.project = project
        self.instance.project = project
        set_queryset(self, "model_spec", ModelSpec.objects.for_project(project).order_by("name"))

    def clean_lora(self):
        return self.cleaned_data.get("lora") or None

    def clean(self):
        data = super().clean()
        check_finetune_fields(self, data)
        return data

    def clean_test_fraction(self):
        value = self.cleaned_data["test_fraction"]
        if not 0 <= value < 1:
            raise forms.ValidationError("between 0 and 1")
        return value


class GenerationForm(_ProjectForm):
    model_spec = forms.ModelChoiceField(queryset=ModelSpec.objects.none(), label="Model (registered or fine-tuned)")
    item_kind = forms.ChoiceField(
        choices=[
            ("pairwise", "pairwise: new response vs the latest other response"),
            ("binary", "binary: thumbs up/down"),
            ("edit", "edit: rewrite"),
        ]
    )
    n = forms.IntegerField(min_value=1, max_value=16, initial=1, label="Responses per prompt")
    max_new_tokens = forms.IntegerField(min_value=8, max_value=4096, initial=256)
    temperature = forms.FloatField(min_value=0, max_value=2, initial=0.7)
    instruction = forms.CharField(
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Given to the model as a system message.",
    )
    preference_annotator = forms.ModelChoiceField(
        queryset=Annotator.objects.none(),
        required=False,
        label="Follow the latent preferences of",
        help_text="Adds the preference learned from this annotator's edits, per prompt.",
    )

    def __init__(self, project, *args, **kwargs):
        super().__init__(project, *args, **kwargs)
        set_queryset(
            self, "preference_annotator", Annotator.objects.filter(latent_preferences__project=project).distinct()
        )
