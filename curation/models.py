"""What admins touch: item features and routing runs, noise estimates, curation actions,
immutable snapshots and the export tokens training jobs pull them with."""

import hashlib
import secrets

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.db.models import Q

from annotate.errors import Conflict
from annotate.models import Item, Project, Response


class ItemFeatures(models.Model):
    """Features of one item that the router learns from (lengths, overlap, similarity, tags, judge signals)."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, primary_key=True, related_name="features")
    values = models.JSONField(default=dict, help_text="Numeric features by name.")
    tags = models.JSONField(default=dict, blank=True, help_text="Prompt category tags by dimension.")
    encoder = models.CharField(
        max_length=80,
        blank=True,
        default="",
        help_text="The embedding encoder of the similarity features; routing recomputes rows of another one.",
    )
    computed_at = models.DateTimeField(auto_now=True)


class RoutingStrategy(models.TextChoices):
    PPM = "ppm", "PPM gain, linear (Hybrid Preferences)"
    PPM_QUADRATIC = "ppm_quadratic", "PPM gain, quadratic"
    PPM_SIMULATED = "ppm_simulated", "PPM simulated selection among candidate mixes"
    JUDGE_ERROR = "judge_error", "Judge-error model (learning to defer)"
    RANDOM = "random", "Random"
    UNCERTAINTY = "uncertainty", "Judge uncertainty first"
    DISAGREEMENT = "disagreement", "Jury disagreement first"


class RoutingRun(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="routing_runs")
    strategy = models.CharField(max_length=20, choices=RoutingStrategy.choices, default=RoutingStrategy.PPM)
    budget = models.FloatField(help_text="Fraction of items sent to humans (0..1).")
    curve = models.JSONField(
        default=list,
        blank=True,
        help_text="[[budget, measured held-out proxy-RM accuracy (mean over seeds)], ...] of the chosen strategy.",
    )
    model = models.JSONField(default=dict, blank=True, help_text="Learned weights and feature importances.")
    counts = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(budget__gte=0) & Q(budget__lte=1), name="routing_budget_fraction")
        ]


class EpsilonMethod(models.TextChoices):
    """How a noise run's ε was estimated (curation.noise.flip_rate)."""

    PPI = "ppi", "prediction-powered (gold slice)"
    POSTERIOR_MEAN = "posterior-mean", "posterior mean (bootstrap)"


class NoiseRun(models.Model):
    """One dataset-level noise estimate: flip rate ε with its confidence interval (rDPO's label_smoothing)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="noise_runs")
    method = models.CharField(max_length=100)
    # Null when the labels cannot support a flip rate (details["withheld"] says why).
    epsilon = models.FloatField(null=True, blank=True)
    epsilon_low = models.FloatField(null=True, blank=True)
    epsilon_high = models.FloatField(null=True, blank=True)
    # Which estimator gave ε (blank when ε is withheld); the interval is stored as computed, which for
    # PPI can reach below 0 or above 1: `interval_shown` clips it for display.
    epsilon_method = models.CharField(max_length=20, choices=EpsilonMethod.choices, blank=True, default="")
    item_count = models.PositiveIntegerField(default=0)
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def interval_shown(self) -> tuple[float, float] | None:
        """The 95 % interval clipped to [0, 1] for display (None without ε)."""
        if self.epsilon_low is None or self.epsilon_high is None:
            return None
        return max(0.0, self.epsilon_low), min(1.0, self.epsilon_high)

    @property
    def withheld(self):
        """Why this run gives no ε ('' when it does)."""
        return (self.details or {}).get("withheld") or ("" if self.epsilon is not None else "no flip rate estimated")


class PreferenceGroupRun(models.Model):
    """One fit of preference groups (curation.pluralism): the chosen K, each annotator's mixture
    weights, each head's P(B ≻ A) per item, the router, and the items flagged controversial."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="group_runs")
    k = models.PositiveSmallIntegerField()
    heldout = models.JSONField(default=dict, help_text="K → mean held-out log-likelihood per label.")
    annotators = models.JSONField(default=list, help_text="[{annotator_id, name, kind, labels, weights}]")
    item_probs = models.JSONField(default=dict, help_text="item id → [P_k(B ≻ A) for each group].")
    controversial = models.JSONField(default=list, help_text="Item ids whose disagreement the groups explain.")
    router = models.JSONField(default=dict, blank=True, help_text="Router weights and the prompt projection.")
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]


class ItemNoise(models.Model):
    """Latest estimate that an item's aggregated label is wrong."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, primary_key=True, related_name="noise")
    run = models.ForeignKey(NoiseRun, on_delete=models.CASCADE, related_name="items")
    p_wrong = models.FloatField()
    label = models.JSONField(default=dict, help_text="The aggregated label this probability is about.")
    signals = models.JSONField(default=dict, blank=True, help_text="Per-signal contributions.")

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(p_wrong__gte=0) & Q(p_wrong__lte=1), name="item_noise_probability")
        ]
        indexes = [models.Index(fields=["p_wrong"], name="item_noise_p_wrong")]


class CurationAction(models.Model):
    """Audit log: every curation change, who made it, when, on which items."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="curation_actions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    action = models.CharField(max_length=50)
    params = models.JSONField(default=dict, blank=True)
    item_ids = models.JSONField(default=list, blank=True)
    # An "undo" action points at the action it reverts; one-to-one, so an action is undone at most once.
    undo_of = models.OneToOneField("self", null=True, blank=True, on_delete=models.PROTECT, related_name="undone_by")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    @property
    def is_undone(self):
        try:
            return self.undone_by is not None
        except CurationAction.DoesNotExist:
            return False

    @property
    def can_undo(self):
        return self.action != "undo" and self.undo_of_id is None and not self.is_undone


class ImmutableError(Conflict):
    """A frozen record (a snapshot, an applied action) cannot be changed."""


class Snapshot(models.Model):
    """A frozen, versioned dataset. Rows hold copies of the data, so later labels never change it."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="snapshots")
    version = models.PositiveIntegerField()
    name = models.CharField(max_length=200, blank=True)
    filters = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)
    counts = models.JSONField(default=dict, blank=True)
    noise_summary = models.JSONField(default=dict, blank=True)
    epsilon = models.FloatField(
        null=True, blank=True, help_text="Estimated flip rate of the pairs (rDPO label_smoothing)."
    )
    test_fraction = models.FloatField(default=0.1)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["project", "-version"]
        constraints = [models.UniqueConstraint(fields=["project", "version"], name="snapshot_version_unique")]

    def __str__(self):
        return f"{self.project} v{self.version}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.pop("_allow_update", False):
            raise ImmutableError("snapshots are immutable; freeze a new version instead")
        super().save(*args, **kwargs)


class Split(models.TextChoices):
    TRAIN = "train", "Train"
    TEST = "test", "Test"


class SnapshotRow(models.Model):
    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="rows")
    item = models.ForeignKey(Item, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    kind = models.CharField(max_length=10, help_text="pairwise, binary or edit: which exports read the row.")
    split = models.CharField(max_length=5, choices=Split.choices)
    prompt_hash = models.CharField(max_length=64)
    data = models.JSONField(help_text="Frozen row: prompt, responses, label, margin, rationales, noise, sources.")

    class Meta:
        indexes = [models.Index(fields=["snapshot", "split", "kind", "id"], name="snapshot_row_stream")]

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ImmutableError("snapshot rows are immutable")
        super().save(*args, **kwargs)


class ExportToken(models.Model):
    """Read-only token scoped to one project. Only a hash is stored; the key is shown once.

    A token works until it is revoked or expires, and only while its issuer could export the
    project themselves (an active manager of it, or an admin): removing someone from a project or
    deactivating them also stops the tokens they issued (`curation.authentication`)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="export_tokens")
    name = models.CharField(max_length=200)
    prefix = models.CharField(max_length=8, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: no expiry.")
    issue_nonce = models.UUIDField(
        null=True,
        blank=True,
        editable=False,
        help_text="The issuing form's nonce: submitting that form again issues nothing.",
    )

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "issue_nonce"], name="exporttoken_once_per_form")]

    @staticmethod
    def hash_key(key):
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, project, name, *, created_by, expires_at=None, nonce=None):
        """Create a token for `created_by` (who must be able to export the project for it to work);
        returns (token, key). The key is never stored.

        With a `nonce` (from the form that asks for it) issuing is idempotent: the same nonce again
        (a reloaded page re-posting its form) returns (the token issued then, None), since its key
        was shown once and cannot be shown again."""
        if nonce is not None:
            earlier = cls.objects.filter(project=project, issue_nonce=nonce).first()
            if earlier is not None:
                return earlier, None
        token = cls(project=project, name=name, created_by=created_by, expires_at=expires_at, issue_nonce=nonce)
        key = token.set_new_key()
        try:
            with transaction.atomic():
                token.save()
        except IntegrityError:
            earlier = cls.objects.filter(project=project, issue_nonce=nonce).first() if nonce is not None else None
            if earlier is None:
                raise
            return earlier, None  # a concurrent post of the same form won
        return token, key

    def set_new_key(self):
        """Give this (unsaved) token a fresh key and return it: only its hash and prefix are kept."""
        key = "tdm_" + secrets.token_urlsafe(32)
        self.prefix, self.key_hash = key[:8], self.hash_key(key)
        return key

    def __str__(self):
        return f"{self.name} ({self.prefix}…) for {self.project}"


class ErrorTag(models.Model):
    """An LM tagger's answer to "does this response contain an error?" (curation/error_tags.py):
    the bias audit's `errors` property. has_error is None when the answer was neither yes nor no."""

    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="error_tags")
    tagger = models.CharField(max_length=200, help_text="The tagging judge's name.")
    has_error = models.BooleanField(null=True)
    answer = models.CharField(max_length=200, blank=True, help_text="The start of the tagger's raw answer.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["response", "tagger"], name="error_tag_once_per_tagger")]


class BiasAuditRun(models.Model):
    """One computed judge-bias audit (curation/bias.py), written by its worker task
    (workers/tasks/bias.py) so that the audit page only reads: the result as JSON
    (curation/bias_store.py), and the stamp of the labels it was computed on (bias.audit_stamp)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="bias_audits")
    task_run = models.ForeignKey(
        "workers.TaskRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="bias_audits"
    )
    stamp = models.CharField(max_length=500, blank=True, help_text="bias.audit_stamp when the audit was computed.")
    result = models.JSONField(default=dict, help_text="The BiasAudit, serialised by curation.bias_store.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
