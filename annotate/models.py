"""What annotators touch: projects, prompts, responses, items, who labels, and their labels.

Every label (human, LM judge or imported) is an `Annotation` by an `Annotator`, so agreement,
noise and routing treat all sources alike.
"""

import uuid

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from annotate.edits import derive
from annotate.kinds.scale import PREFERENCE_LABELS as PREFERENCE_LABELS  # re-exported: the scale's home is kinds.scale
from annotate.kinds.scale import PREFERENCE_MAX, PREFERENCE_MIN


class FeedbackKind(models.TextChoices):
    PAIRWISE = "pairwise", "Pairwise comparison"
    BINARY = "binary", "Thumbs up / down"
    EDIT = "edit", "Edit the response"
    RANKING = "ranking", "Rank the responses"
    LIKERT = "likert", "Likert ratings"


# Kinds whose items compare responses: they have a response B (a ranking's B is its second response).
MULTI_RESPONSE_KINDS = (FeedbackKind.PAIRWISE, FeedbackKind.RANKING)


class PairStrategy(models.TextChoices):
    """How `prompt/completions[]` rows become pairwise items."""

    BEST_WORST = "best_worst", "Best vs worst by score (UltraFeedback binarized)"
    ALL_PAIRS = "all_pairs", "Every pair of completions"
    ADJACENT = "adjacent", "Consecutive completions (1-2, 3-4, ...)"


def default_feedback_kinds():
    return [FeedbackKind.PAIRWISE, FeedbackKind.BINARY, FeedbackKind.EDIT]


def default_aspects():
    return ["helpfulness", "truthfulness", "harmlessness"]


class QueueOrder(models.TextChoices):
    """Which open item an annotator gets next (see `annotate.queue`)."""

    DEPTH = "depth", "Complete items to k first (items with labels already, then oldest)"
    BREADTH = "breadth", "Breadth first (fewest labels first)"


class Project(models.Model):
    name = models.CharField(max_length=200, unique=True)
    instructions = models.TextField(blank=True, help_text="Markdown shown to annotators.")
    feedback_kinds = models.JSONField(default=default_feedback_kinds)
    overlap = models.PositiveSmallIntegerField(default=1, help_text="Human labels wanted per item (k).")
    queue_order = models.CharField(
        max_length=10,
        choices=QueueOrder.choices,
        default=QueueOrder.DEPTH,
        help_text="Complete items to k first, so agreement can be measured early; or give every item one label before any gets a second.",
    )
    aspects = models.JSONField(default=default_aspects, blank=True, help_text="Aspects rated per response.")
    principles = models.JSONField(
        default=list, blank=True, help_text="Principles offered when a response gets a thumbs down."
    )
    human_budget = models.FloatField(default=1.0, help_text="Fraction of items routed to humans (0..1).")
    pair_strategy = models.CharField(max_length=20, choices=PairStrategy.choices, default=PairStrategy.BEST_WORST)
    gold_rate = models.FloatField(default=0.0, help_text="Fraction of handed-out items that are gold items (0..1).")
    lease_minutes = models.PositiveSmallIntegerField(default=10)
    gold_feedback = models.BooleanField(
        default=False,
        help_text="After a gold item, show the annotator whether they matched its answer (and the answer).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="projects")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=Q(overlap__gte=1), name="project_overlap_positive"),
            models.CheckConstraint(
                condition=Q(human_budget__gte=0) & Q(human_budget__lte=1), name="project_budget_fraction"
            ),
            models.CheckConstraint(
                condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="project_gold_rate_fraction"
            ),
            models.CheckConstraint(condition=Q(queue_order__in=QueueOrder.values), name="project_queue_order_valid"),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        unknown = set(self.feedback_kinds or []) - set(FeedbackKind.values)
        if unknown:
            raise ValidationError({"feedback_kinds": f"unknown feedback kinds: {sorted(unknown)}"})
        for field in ("aspects", "principles"):
            value = getattr(self, field)
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                raise ValidationError({field: "must be a list of non-empty strings"})


class Role(models.TextChoices):
    MANAGER = "manager", "Project manager"
    ANNOTATOR = "annotator", "Annotator"


class Membership(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="membership_unique")]

    def __str__(self):
        return f"{self.user} {self.role} of {self.project}"


class Prompt(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    text = models.TextField(help_text="The prompt; for a conversation, its last user turn.")
    messages = models.JSONField(null=True, blank=True, help_text="Multi-turn conversation as [{role, content}, ...].")
    metadata = models.JSONField(default=dict, blank=True)
    source = models.CharField(max_length=200, blank=True)
    content_hash = models.CharField(max_length=64, db_index=True, help_text="sha256 of the normalised conversation.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "content_hash"], name="prompt_project_hash")]

    def __str__(self):
        return self.text[:80]


class Response(models.Model):
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    model_name = models.CharField(max_length=200, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.text[:80]


class Routing(models.TextChoices):
    UNROUTED = "unrouted", "Not routed yet"
    HUMAN = "human", "Humans"
    JUDGE = "judge", "LM judges"
    BOTH = "both", "Humans and LM judges"


HUMAN_ROUTES = (Routing.UNROUTED, Routing.HUMAN, Routing.BOTH)


class Item(models.Model):
    """One unit of annotation work."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="items")
    kind = models.CharField(max_length=10, choices=FeedbackKind.choices)
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+", null=True, blank=True)
    routing = models.CharField(max_length=10, choices=Routing.choices, default=Routing.UNROUTED)
    route_score = models.FloatField(null=True, blank=True, help_text="Predicted gain of a human label (router).")
    route_reason = models.JSONField(default=dict, blank=True, help_text="Top features behind the routing decision.")
    is_gold = models.BooleanField(default=False)
    gold_answer = models.JSONField(
        null=True, blank=True, help_text='{"preference": -3..3}, {"thumbs": "up"|"down"} or {"ranking": [ranks]}'
    )
    human_label_count = models.PositiveIntegerField(
        default=0,
        help_text="People's labels: submitted in Tandem, or imported from a source declared human (denormalised for the queue).",
    )
    calibration = models.BooleanField(
        default=False,
        help_text="In the random calibration slice: labelled by people and judges; routers learn only here.",
    )
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind__in=MULTI_RESPONSE_KINDS) & Q(response_b__isnull=False))
                | (~Q(kind__in=MULTI_RESPONSE_KINDS) & Q(response_b__isnull=True)),
                name="item_pairwise_has_two_responses",
            ),
            models.CheckConstraint(condition=Q(kind__in=FeedbackKind.values), name="item_kind_valid"),
            models.CheckConstraint(condition=Q(routing__in=Routing.values), name="item_routing_valid"),
            models.CheckConstraint(
                condition=Q(is_gold=False) | Q(gold_answer__isnull=False), name="item_gold_has_answer"
            ),
        ]
        indexes = [
            # The queue: open human work in a project, fewest labels first.
            models.Index(fields=["project", "routing", "human_label_count", "id"], name="item_queue"),
            # Next item walks this in order and stops at the first free one (no sort of the backlog).
            models.Index(
                fields=["project", "human_label_count", "id"], condition=Q(is_gold=False), name="item_queue_open"
            ),
            # The same walk for "complete items to k first": most labels first, then oldest.
            models.Index(
                fields=["project", "-human_label_count", "id"], condition=Q(is_gold=False), name="item_queue_depth"
            ),
            models.Index(fields=["project", "kind"], name="item_project_kind"),
            models.Index(fields=["project", "is_gold"], name="item_project_gold"),
        ]

    def __str__(self):
        return f"{self.kind} item {self.pk}"


class ItemResponse(models.Model):
    """The responses of a ranking item, in their canonical order (position 0 is response A, 1 is B).
    Pairwise and single-response items keep using response_a/response_b alone."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="ranked_responses")
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["item", "position"]
        constraints = [
            models.UniqueConstraint(fields=["item", "position"], name="item_response_position_unique"),
            models.UniqueConstraint(fields=["item", "response"], name="item_response_once"),
        ]

    def __str__(self):
        return f"item {self.item_id} #{self.position}: response {self.response_id}"


class JudgeBackend(models.TextChoices):
    TRANSFORMERS = "transformers", "Local transformers model (Celery worker)"
    OPENAI = "openai", "OpenAI-compatible chat-completions server"
    REWARD_MODEL = "reward_model", "Reward model (sequence classification: scores both responses)"
    EMBEDDING_RM = "embedding_rm", "Embedding reward model (Bradley–Terry head on MiniLM, trained on a labelled slice)"


class LMJudge(models.Model):
    name = models.CharField(max_length=200, unique=True)
    # A key of the judge backend registry (annotate.judging.backends): the built-in ones above, or one a
    # deployment registers (TANDEM_JUDGE_BACKENDS). Forms offer the registry's keys; the registry refuses
    # an unknown key with a clear error when the judge runs.
    backend = models.CharField(max_length=100)
    model = models.CharField(max_length=500, help_text="Local path or hub id (transformers) or model name (server).")
    base_url = models.CharField(
        max_length=500, blank=True, help_text="OpenAI-compatible server, e.g. http://127.0.0.1:8000/v1"
    )
    api_key_name = models.CharField(
        max_length=100,
        blank=True,
        help_text="Name of a key the deployment declares in TANDEM_JUDGE_KEYS (not an environment variable).",
    )
    prompt_templates = models.JSONField(
        default=dict, blank=True, help_text="Overrides per kind: pairwise, binary, edit, ranking."
    )
    parameters = models.JSONField(default=dict, blank=True, help_text="temperature, max_new_tokens, batch_size, ...")
    family = models.CharField(
        max_length=40,
        blank=True,
        help_text="Model family (openai, anthropic, meta, alibaba, mistral, google, ...): the bias audit's self-preference.",
    )
    projects = models.ManyToManyField(Project, related_name="judges", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class AnnotatorKind(models.TextChoices):
    HUMAN = "human", "Person"
    JUDGE = "judge", "LM judge"
    SOURCE = "source", "Imported source"


class LabelKind(models.TextChoices):
    """Who made an imported source's labels: people, or a model (score-derived labels such as
    UltraFeedback's or AlpacaEval's are GPT-4's). Only people's labels count as human."""

    HUMAN = "human", "People"
    JUDGE = "judge", "A model"


class Annotator(models.Model):
    """Who or what gave a label: a person, an LM judge, or the dataset a label was imported from.

    People and judges are global (one row per user or judge); an imported source belongs to the
    project it was imported into, so two projects' "hh-rlhf" sources are different annotators.
    A source's labels count as human only when its import declared them so (`label_kind`)."""

    kind = models.CharField(max_length=10, choices=AnnotatorKind.choices)
    name = models.CharField(max_length=200)
    project = models.ForeignKey("Project", null=True, blank=True, on_delete=models.CASCADE, related_name="sources")
    label_kind = models.CharField(
        max_length=10,
        choices=LabelKind.choices,
        default=LabelKind.JUDGE,
        help_text="For imported sources: whether people or a model made the labels.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="annotator"
    )
    judge = models.OneToOneField(LMJudge, null=True, blank=True, on_delete=models.CASCADE, related_name="annotator")

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=(Q(kind=AnnotatorKind.HUMAN) & Q(user__isnull=False) & Q(judge__isnull=True))
                | (Q(kind=AnnotatorKind.JUDGE) & Q(judge__isnull=False) & Q(user__isnull=True))
                | (Q(kind=AnnotatorKind.SOURCE) & Q(judge__isnull=True) & Q(user__isnull=True)),
                name="annotator_identity_matches_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind=AnnotatorKind.SOURCE) | Q(project__isnull=True),
                name="annotator_project_only_for_sources",
            ),
            models.UniqueConstraint(
                fields=["name"], condition=Q(project__isnull=True), name="annotator_global_name_unique"
            ),
            models.UniqueConstraint(
                fields=["project", "name"],
                condition=Q(project__isnull=False),
                name="annotator_source_name_unique_per_project",
            ),
        ]

    def __str__(self):
        return self.name

    @property
    def is_human(self):
        """Whether this annotator's labels are people's: a person, or a source declared human."""
        return self.kind == AnnotatorKind.HUMAN or (
            self.kind == AnnotatorKind.SOURCE and self.label_kind == LabelKind.HUMAN
        )


def human_label_q(prefix="annotator__"):
    """Q over Annotation (or, with prefix="", over Annotator) matching labels made by people:
    people in Tandem, and imported sources whose import declared their labels human."""
    return Q(**{f"{prefix}kind": AnnotatorKind.HUMAN}) | Q(
        **{f"{prefix}kind": AnnotatorKind.SOURCE, f"{prefix}label_kind": LabelKind.HUMAN}
    )


def judge_label_q(prefix="annotator__"):
    """Q over Annotation (or, with prefix="", over Annotator) matching labels made by models: LM and
    reward-model judges run in Tandem, and imported sources whose labels are a model's (the default,
    e.g. UltraFeedback's or AlpacaEval's GPT-4 verdicts). The complement of `human_label_q`."""
    return Q(**{f"{prefix}kind": AnnotatorKind.JUDGE}) | Q(
        **{f"{prefix}kind": AnnotatorKind.SOURCE, f"{prefix}label_kind": LabelKind.JUDGE}
    )


class Thumbs(models.TextChoices):
    UP = "up", "Thumbs up"
    DOWN = "down", "Thumbs down"


class AnnotationStatus(models.TextChoices):
    OK = "ok", "Parsed"
    UNPARSED = "unparsed", "Reply could not be parsed"


class Annotation(models.Model):
    """A label on an item. Preference is from A's side: −3 A much better … 0 tie … +3 B much better,
    always in the item's canonical A/B order whatever order was shown (`swapped` records that)."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(Annotator, on_delete=models.PROTECT, related_name="annotations")
    kind = models.CharField(max_length=10, choices=FeedbackKind.choices)
    status = models.CharField(max_length=10, choices=AnnotationStatus.choices, default=AnnotationStatus.OK)
    # pairwise
    preference = models.SmallIntegerField(null=True, blank=True)
    aspect_ratings = models.JSONField(
        default=dict, blank=True, help_text='pairwise: {aspect: {"a": 1-5, "b": 1-5}}; single: {aspect: 1-5}'
    )
    rationale = models.TextField(blank=True)
    swapped = models.BooleanField(default=False, help_text="B was shown on the left.")
    # binary
    thumbs = models.CharField(max_length=4, choices=Thumbs.choices, blank=True)
    failed_principles = models.JSONField(default=list, blank=True)
    reason = models.TextField(blank=True)
    # edit
    edited_text = models.TextField(null=True, blank=True)
    diff = models.JSONField(default=list, blank=True, help_text="Word-level opcodes [[op, old, new], ...].")
    edit_distance = models.FloatField(null=True, blank=True, help_text="Normalised word-level edit distance 0..1.")
    # ranking
    ranking = models.JSONField(
        null=True,
        blank=True,
        help_text="Rank per response in the item's canonical order, 1 = best, ties share a rank: [2, 1, 2].",
    )
    # likert
    likert_ratings = models.JSONField(
        null=True, blank=True, help_text="likert: {aspect: 0-4}, every aspect of the item's project rated."
    )
    # every kind
    time_spent_ms = models.PositiveIntegerField(null=True, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    submission_id = models.UUIDField(default=uuid.uuid4)
    details = models.JSONField(
        default=dict, blank=True, help_text="Judge raw output, both swap verdicts, import fields."
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["annotator", "submission_id"], name="annotation_submission_idempotent"),
            models.UniqueConstraint(fields=["item", "annotator"], name="annotation_one_per_item_annotator"),
            models.CheckConstraint(
                condition=Q(preference__isnull=True)
                | (Q(preference__gte=PREFERENCE_MIN) & Q(preference__lte=PREFERENCE_MAX)),
                name="annotation_preference_range",
            ),
            models.CheckConstraint(
                condition=Q(status=AnnotationStatus.UNPARSED)
                | (Q(kind=FeedbackKind.PAIRWISE) & Q(preference__isnull=False))
                | (Q(kind=FeedbackKind.BINARY) & Q(thumbs__in=Thumbs.values))
                | (Q(kind=FeedbackKind.EDIT) & Q(edited_text__isnull=False))
                | (Q(kind=FeedbackKind.RANKING) & Q(ranking__isnull=False))
                | (Q(kind=FeedbackKind.LIKERT) & Q(likert_ratings__isnull=False)),
                name="annotation_has_its_kind_label",
            ),
            models.CheckConstraint(
                condition=Q(confidence__isnull=True) | (Q(confidence__gte=0) & Q(confidence__lte=1)),
                name="annotation_confidence_fraction",
            ),
            models.CheckConstraint(
                condition=Q(edit_distance__isnull=True) | (Q(edit_distance__gte=0) & Q(edit_distance__lte=1)),
                name="annotation_edit_distance_fraction",
            ),
        ]
        indexes = [models.Index(fields=["annotator", "created_at"], name="annotation_annotator_time")]

    def __str__(self):
        return f"{self.annotator} on {self.item_id}"

    def save(self, *args, **kwargs):
        # The diff and distance are derived, never trusted from the client.
        if self.kind == FeedbackKind.EDIT and self.edited_text is not None and self.item_id:
            derived = derive(self.item.response_a.text, self.edited_text)
            self.diff, self.edit_distance = derived["diff"], derived["edit_distance"]
        super().save(*args, **kwargs)


class AssignmentState(models.TextChoices):
    LEASED = "leased", "Leased"
    SUBMITTED = "submitted", "Submitted"
    SKIPPED = "skipped", "Skipped"


class Assignment(models.Model):
    """An item handed to a human annotator. A lease that passes `leased_until` unsubmitted frees the slot."""

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="assignments")
    annotator = models.ForeignKey(Annotator, on_delete=models.CASCADE, related_name="assignments")
    state = models.CharField(max_length=10, choices=AssignmentState.choices, default=AssignmentState.LEASED)
    leased_until = models.DateTimeField()
    swapped = models.BooleanField(default=False, help_text="Show B on the left for this assignment.")
    skip_reason = models.TextField(blank=True)
    draft = models.JSONField(default=dict, blank=True, help_text="Half-done form, restored within the lease.")
    annotation = models.OneToOneField(
        Annotation, null=True, blank=True, on_delete=models.SET_NULL, related_name="assignment"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["item", "annotator"], name="assignment_once_per_annotator"),
            models.CheckConstraint(condition=Q(state__in=AssignmentState.values), name="assignment_state_valid"),
        ]
        indexes = [
            models.Index(fields=["annotator", "state"], name="assignment_annotator_state"),
            models.Index(fields=["item", "state", "leased_until"], name="assignment_item_active"),
        ]

    def __str__(self):
        return f"{self.item_id} → {self.annotator} ({self.state})"


class ImportRecord(models.Model):
    """One import that wrote to a project: what was read and created, and the report of the rows
    it skipped ("skip invalid rows"): [{file, line, field, reason}, ...]. Dry runs leave none."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="imports")
    file = models.CharField(max_length=255)
    source = models.CharField(max_length=200, blank=True, help_text="Source annotator(s) whose labels the file held.")
    shape = models.CharField(max_length=20)
    kind = models.CharField(max_length=10, choices=FeedbackKind.choices)
    label_kind = models.CharField(
        max_length=10, choices=LabelKind.choices, blank=True, help_text="Blank: the file held no labels."
    )
    skip_invalid = models.BooleanField(default=False)
    rows_read = models.PositiveIntegerField(default=0, help_text="Rows in the file, good and bad.")
    rows_imported = models.PositiveIntegerField(default=0)
    rows_skipped = models.PositiveIntegerField(
        default=0, help_text="Invalid rows left out (all of them, even past the report's cap)."
    )
    identical_pairs = models.PositiveIntegerField(
        default=0, help_text="Pairs left out because both responses were the same text."
    )
    prompts_created = models.PositiveIntegerField(default=0)
    items_created = models.PositiveIntegerField(default=0)
    items_existing = models.PositiveIntegerField(default=0)
    annotations_created = models.PositiveIntegerField(default=0)
    skipped = models.JSONField(
        default=list, blank=True, help_text="The skipped rows: [{file, line, field, reason}, ...]."
    )
    imported_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.file} into {self.project} ({self.created_at:%Y-%m-%d %H:%M})"


class Invite(models.Model):
    """A link that lets a signed-in user join a project with a role. Only the key's hash is stored;
    the link is shown once, to the manager who made it. It stops working when it expires, when it
    is revoked, or (single-use) once someone has joined with it."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="invites")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.ANNOTATOR)
    key_hash = models.CharField(max_length=64, unique=True)
    prefix = models.CharField(max_length=8, help_text="The key's first characters, to tell invites apart.")
    single_use = models.BooleanField(default=True)
    uses = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.CheckConstraint(condition=Q(role__in=Role.values), name="invite_role_valid")]

    def __str__(self):
        return f"invite {self.prefix}… to {self.project} as {self.role}"
