"""Background work: the model registry and one record per run (judging, features, noise,
rationales, fine-tunes, generation) with state, progress, metrics and a log tail for the UI."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from annotate.models import Project


class ModelSpecQuerySet(models.QuerySet):
    def for_project(self, project):
        """The models a project may use: the global ones (registered by an admin) and its own."""
        return self.filter(Q(project__isnull=True) | Q(project=project))


class ModelSpec(models.Model):
    """A model Tandem can load with `from_pretrained(path_or_id)`. Global when `project` is empty
    (an admin registers it); a fine-tuned model belongs to the project whose data trained it."""

    name = models.CharField(max_length=200, unique=True)
    project = models.ForeignKey(
        Project,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="model_specs",
        help_text="Empty: every project may use it. Set: only this project (its fine-tunes).",
    )
    path_or_id = models.CharField(max_length=500)
    dtype = models.CharField(max_length=20, default="auto", help_text="auto, float32, bfloat16, float16")
    max_length = models.PositiveIntegerField(default=2048)
    chat_template = models.TextField(blank=True, help_text="Overrides the tokenizer's chat template when set.")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = ModelSpecQuerySet.as_manager()

    def __str__(self):
        return self.name


class RunKind(models.TextChoices):
    JUDGE = "judge", "LM judging"
    JUDGE_TRAINING = "judge_training", "Judge training"
    FEATURES = "features", "Item features"
    ROUTE = "route", "Routing"
    NOISE = "noise", "Noise estimation"
    RATIONALE = "rationale", "Rationale generation"
    FINETUNE = "finetune", "Fine-tune"
    GENERATE = "generate", "Candidate generation"
    PREFERENCES = "preferences", "Latent preferences from edits"
    DEDUPE = "dedupe", "Near-duplicate search"
    GROUPS = "groups", "Preference groups"
    ERROR_TAGS = "error_tags", "Error tagging"
    BIAS_AUDIT = "bias_audit", "Judge-bias audit"


class RunState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


FINISHED_STATES = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)


class TaskRun(models.Model):
    kind = models.CharField(max_length=20, choices=RunKind.choices)
    project = models.ForeignKey(Project, null=True, blank=True, on_delete=models.CASCADE, related_name="task_runs")
    state = models.CharField(max_length=10, choices=RunState.choices, default=RunState.QUEUED)
    params = models.JSONField(default=dict, blank=True)
    progress = models.PositiveIntegerField(default=0)
    total = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(default=dict, blank=True)
    log_tail = models.TextField(blank=True)
    error = models.TextField(blank=True)
    celery_task_id = models.CharField(max_length=100, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    worker = models.CharField(max_length=200, blank=True)
    cancel_requested = models.BooleanField(default=False)
    task_name = models.CharField(
        max_length=200, blank=True, help_text="Celery task that executes the run (for re-queueing)."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life from the worker running it."
    )
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(state__in=RunState.values), name="taskrun_state_valid"),
            models.CheckConstraint(condition=Q(kind__in=RunKind.values), name="taskrun_kind_valid"),
        ]
        indexes = [models.Index(fields=["project", "kind", "state"], name="taskrun_project_kind_state")]

    def __str__(self):
        return f"{self.kind} run {self.pk} ({self.state})"

    @property
    def finished(self):
        return self.state in FINISHED_STATES

    @property
    def percent(self):
        return round(100 * self.progress / self.total) if self.total else (100 if self.finished else 0)


class Rationale(models.Model):
    """A model-written explanation of a label (why the chosen response is better; why thumbs down).
    Stored per item, so every export of a snapshot holding the item carries the latest one."""

    item = models.ForeignKey("annotate.Item", on_delete=models.CASCADE, related_name="generated_rationales")
    text = models.TextField()
    model_name = models.CharField(max_length=200)
    run = models.ForeignKey(TaskRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="rationales")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["item", "run"], name="rationale_once_per_run")]
        indexes = [models.Index(fields=["item", "-created_at"], name="rationale_latest")]


class FineTuneMethod(models.TextChoices):
    DPO = "dpo", "DPO (sigmoid)"
    DPO_RATIONALE = "dpo_rationale", "DPO + rationale NLL (Just et al. 2024; γ = rationale_gamma)"
    RDPO = "rdpo", "Robust DPO (label smoothing = flip rate ε)"
    IPO = "ipo", "IPO"
    KTO = "kto", "KTO (unpaired)"
    BCO = "bco", "BCO, TRL's paired variant (DPO loss_type bco_pair; not Jung et al.'s unpaired BCO)"
    REWARD = "reward", "Reward model"
    REWARD_MIXTURE = "reward_mixture", "Mixture reward model (Bradley–Terry heads per preference group, CPU)"


class NoiseWeighting(models.TextChoices):
    NONE = "none", "Use every row"
    DROP = "drop", "Drop rows whose noise probability is above the threshold"
    SAMPLE = "sample", "Keep each row with probability 1 − p_noise (seeded)"
    WEIGHT = "weight", "Weight each row's loss by 1 − p_noise (DPO family and reward)"


class FineTuneRun(models.Model):
    """A TRL training run on a snapshot. `config` holds TRL config fields by their TRL names
    (beta, learning_rate, num_train_epochs, per_device_train_batch_size, max_length, ...); Tandem
    sets only output_dir, loss_type (from the method) and, for rdpo, label_smoothing = ε when unset."""

    run = models.OneToOneField(TaskRun, on_delete=models.CASCADE, related_name="finetune")
    snapshot = models.ForeignKey("curation.Snapshot", on_delete=models.PROTECT, related_name="finetunes")
    model_spec = models.ForeignKey(ModelSpec, on_delete=models.PROTECT, related_name="finetunes")
    method = models.CharField(max_length=20, choices=FineTuneMethod.choices)
    config = models.JSONField(default=dict, blank=True)
    lora = models.JSONField(null=True, blank=True, help_text="peft LoraConfig fields; empty for full fine-tuning.")
    noise_weighting = models.CharField(max_length=10, choices=NoiseWeighting.choices, default=NoiseWeighting.NONE)
    noise_threshold = models.FloatField(default=0.5)
    seed = models.PositiveIntegerField(default=42)
    output_dir = models.CharField(max_length=500, blank=True)
    evaluation = models.JSONField(default=dict, blank=True)
    result_spec = models.ForeignKey(
        ModelSpec,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="trained_by",
        help_text="The trained model, registered for generation.",
    )

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(method__in=FineTuneMethod.values), name="finetune_method_valid"),
            models.CheckConstraint(
                condition=Q(noise_threshold__gte=0) & Q(noise_threshold__lte=1), name="finetune_noise_threshold"
            ),
        ]

    def __str__(self):
        return f"{self.method} on {self.snapshot} ({self.run_id})"


class FineTuneSchedule(models.Model):
    """ "Every night at 02:00, if the project has ≥ N new labels since the last fire, freeze a
    snapshot and fine-tune with this config." Runs through a django-celery-beat PeriodicTask
    that Tandem keeps in step with this row (workers/schedules.py)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="finetune_schedules")
    name = models.CharField(max_length=200)
    enabled = models.BooleanField(default=True)
    minute = models.CharField(max_length=64, default="0", help_text="crontab minute field")
    hour = models.CharField(max_length=64, default="2", help_text="crontab hour field (UTC)")
    day_of_week = models.CharField(max_length=64, default="*", help_text="crontab day-of-week field")
    min_new_labels = models.PositiveIntegerField(default=100, help_text="Fire only with at least this many new labels.")
    snapshot_filters = models.JSONField(default=dict, blank=True, help_text="Curation filters for the frozen snapshot.")
    test_fraction = models.FloatField(default=0.1)
    model_spec = models.ForeignKey(ModelSpec, on_delete=models.PROTECT, related_name="schedules")
    method = models.CharField(max_length=20, choices=FineTuneMethod.choices, default=FineTuneMethod.DPO)
    config = models.JSONField(default=dict, blank=True)
    lora = models.JSONField(null=True, blank=True)
    noise_weighting = models.CharField(max_length=10, choices=NoiseWeighting.choices, default=NoiseWeighting.NONE)
    noise_threshold = models.FloatField(default=0.5)
    periodic_task = models.OneToOneField(
        "django_celery_beat.PeriodicTask",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tandem_schedule",
    )
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_fired_at = models.DateTimeField(null=True, blank=True)
    last_outcome = models.TextField(blank=True)
    last_run = models.ForeignKey(TaskRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [models.UniqueConstraint(fields=["project", "name"], name="schedule_name_unique_per_project")]

    def __str__(self):
        return f"{self.name} ({self.project})"


class LatentPreference(models.Model):
    """What an annotator's edit says about their taste (PRELUDE/CIPHER, Gao et al. 2024): a short
    description inferred by a model from (context, original, edited), with the context embedding
    used to retrieve it for similar contexts. The annotator may correct it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="latent_preferences")
    annotator = models.ForeignKey("annotate.Annotator", on_delete=models.CASCADE, related_name="latent_preferences")
    annotation = models.OneToOneField("annotate.Annotation", on_delete=models.CASCADE, related_name="latent_preference")
    context = models.TextField(help_text="The prompt the edit answered.")
    description = models.TextField(help_text="Inferred by the model.")
    corrected = models.TextField(blank=True, help_text="The annotator's own wording, used instead when set.")
    embedding = models.JSONField(default=list, help_text="Unit-norm MiniLM embedding of the context.")
    model_name = models.CharField(max_length=200)
    run = models.ForeignKey(TaskRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["project", "annotator", "-created_at"], name="latentpref_annotator")]

    @property
    def text(self):
        return self.corrected or self.description

    def __str__(self):
        return self.text[:80]


class CachedEmbedding(models.Model):
    """One text's embedding, keyed by the model (with its token limit) and the SHA-256 of the text,
    so features, noise, dedupe and latent preferences never encode the same text twice
    (workers.ml.embeddings). Bounded: the least recently used rows are evicted past
    TANDEM_EMBEDDING_CACHE_ROWS."""

    model = models.CharField(max_length=100, help_text="Encoder name and token limit, e.g. all-MiniLM-L6-v2@128.")
    digest = models.CharField(max_length=64, help_text="SHA-256 of the text, hex.")
    vector = models.BinaryField(help_text="float32 little-endian, unit norm.")
    used_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["model", "digest"], name="cached_embedding_key")]
