"""Shapes of the fine-tune API (workers/views/finetune_api.py): what a request may carry and what a
run looks like. Validation beyond types (the project's snapshots and models, the TRL allow-list, the
length check) is the fine-tune form's, so the form and the API refuse the same things."""

from rest_framework import serializers

from workers.models import FineTuneMethod, FineTuneRun, NoiseWeighting


class FineTuneRequestSerializer(serializers.Serializer):
    snapshot = serializers.IntegerField(help_text="a snapshot id of the project (see /api/projects/<id>/snapshots/)")
    model = serializers.CharField(max_length=200, help_text="the registered model's name (global or this project's)")
    method = serializers.ChoiceField(choices=FineTuneMethod.choices)
    config = serializers.DictField(
        required=False, default=dict, help_text="TRL config fields by their TRL names (an allow-list with caps)"
    )
    lora = serializers.DictField(
        required=False, allow_null=True, default=None, help_text="peft LoraConfig fields; absent: full fine-tune"
    )
    noise_weighting = serializers.ChoiceField(choices=NoiseWeighting.choices, default=NoiseWeighting.NONE)
    noise_threshold = serializers.FloatField(min_value=0, max_value=1, default=0.5)
    start_anyway = serializers.BooleanField(
        default=False, help_text="start even when most sampled rows are longer than max_length"
    )


class FineTuneRunSerializer(serializers.ModelSerializer):
    run = serializers.IntegerField(source="run_id", read_only=True)
    state = serializers.CharField(source="run.state", read_only=True)
    progress = serializers.IntegerField(source="run.progress", read_only=True)
    total = serializers.IntegerField(source="run.total", read_only=True)
    error = serializers.SerializerMethodField(help_text="why the run failed: the error's last line (the page has more)")
    snapshot_version = serializers.IntegerField(source="snapshot.version", read_only=True)
    model = serializers.CharField(source="model_spec.name", read_only=True)
    result_model = serializers.CharField(source="result_spec.name", read_only=True, allow_null=True, default=None)
    rows = serializers.SerializerMethodField(help_text="rows kept, dropped, weighted and cut, and rdpo's ε")
    created_at = serializers.DateTimeField(source="run.created_at", read_only=True)
    finished_at = serializers.DateTimeField(source="run.finished_at", read_only=True, allow_null=True)

    def get_error(self, ft: FineTuneRun) -> str:
        """A traceback's last line names the exception; its frames are for the run page, not clients."""
        lines = [line for line in (ft.run.error or "").splitlines() if line.strip()]
        return lines[-1].strip() if lines else ""

    class Meta:
        model = FineTuneRun
        fields = [
            "run",
            "state",
            "progress",
            "total",
            "error",
            "method",
            "snapshot",
            "snapshot_version",
            "model",
            "config",
            "lora",
            "noise_weighting",
            "noise_threshold",
            "seed",
            "evaluation",
            "result_model",
            "rows",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_rows(self, ft: FineTuneRun) -> dict:
        return (ft.run.metrics or {}).get("rows") or {}
