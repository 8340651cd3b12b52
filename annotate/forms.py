"""Forms for creating and configuring a project in the app (no raw JSON: lists are one per line)."""

from typing import TypeVar

from django import forms

from annotate.kinds import registry as kind_registry
from annotate.models import Project, Role

F = TypeVar("F", bound=forms.Field)


def field_of(form: forms.BaseForm, name: str, cls: type[F]) -> F:
    """The form's field `name` as the field class it is (`form.fields` is typed as plain Fields), to
    set its choices or queryset; a field of another class is a TypeError."""
    field = form.fields[name]
    if not isinstance(field, cls):
        raise TypeError(f"{type(form).__name__}.{name} is not a {cls.__name__}")
    return field


class LinesField(forms.CharField):
    """A list of non-empty strings, written one per line (blank lines and surrounding spaces dropped,
    duplicates kept once, in order)."""

    widget = forms.Textarea

    def __init__(self, *args, max_items=50, max_length_each=500, **kwargs):
        self.max_items, self.max_length_each = max_items, max_length_each
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)
        self.widget.attrs.setdefault("rows", 4)

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, (list, tuple)) else value

    def to_python(self, value):
        lines = [line.strip() for line in (super().to_python(value) or "").splitlines()]
        return list(dict.fromkeys(line for line in lines if line))

    def validate(self, value):
        super().validate(value)
        if len(value) > self.max_items:
            raise forms.ValidationError(f"at most {self.max_items} lines")
        long = [v for v in value if len(v) > self.max_length_each]
        if long:
            raise forms.ValidationError(
                f"each line at most {self.max_length_each} characters ({long[0][:30]}… is longer)"
            )


class ProjectForm(forms.ModelForm):
    feedback_kinds = forms.MultipleChoiceField(
        choices=kind_registry.choices,
        widget=forms.CheckboxSelectMultiple,
        label="Feedback kinds",
        help_text="What annotators may be asked for.",
    )
    aspects = LinesField(
        label="Aspects", help_text="One per line; each response is rated 1–5 on each. Empty: no aspect ratings."
    )
    principles = LinesField(label="Principles", help_text="One per line; offered when a response gets a thumbs down.")
    overlap = forms.IntegerField(min_value=1, max_value=20, label="Labels per item (k)")
    gold_rate = forms.FloatField(
        min_value=0, max_value=1, label="Gold rate", help_text="Share of handed-out items that are gold (0–1)."
    )
    human_budget = forms.FloatField(
        min_value=0, max_value=1, label="Human budget", help_text="Share of items routed to people (0–1)."
    )
    lease_minutes = forms.IntegerField(
        min_value=1,
        max_value=24 * 60,
        label="Lease (minutes)",
        help_text="How long an item stays reserved for the annotator who opened it.",
    )

    class Meta:
        model = Project
        fields = [
            "name",
            "instructions",
            "feedback_kinds",
            "aspects",
            "principles",
            "overlap",
            "queue_order",
            "pair_strategy",
            "gold_rate",
            "gold_feedback",
            "human_budget",
            "lease_minutes",
        ]
        labels = {"instructions": "Guidelines", "pair_strategy": "Pairs from several completions"}
        help_texts = {"instructions": "Markdown, shown to annotators on the project page."}
        widgets = {"instructions": forms.Textarea(attrs={"rows": 8})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk is None:  # a new project starts from the model's defaults
            defaults = Project()
            for name in self.fields:
                self.initial.setdefault(name, getattr(defaults, name))


class MemberForm(forms.Form):
    identifier = forms.CharField(max_length=254, label="Username or e-mail")
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InviteForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR, label="Join as")
    expires_in_days = forms.IntegerField(min_value=1, max_value=90, initial=7, label="Expires in (days)")
    single_use = forms.BooleanField(required=False, initial=True, label="Single use")


class GoldRateForm(forms.Form):
    """The share of gold items in the queue, typed as a percentage."""

    gold_rate = forms.FloatField(
        min_value=0, max_value=100, error_messages={"invalid": "The gold rate is a percentage from 0 to 100."}
    )

    def rate(self) -> float:
        return self.cleaned_data["gold_rate"] / 100
