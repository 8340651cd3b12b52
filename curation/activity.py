"""Who labelled what, when: per-annotator throughput, time per item, the label distribution and
agreement over time, for the dashboard's Activity section.

Only people count here (people in Tandem and imported sources declared human), except in the
label distribution, which shows LM judges beside people so their skew can be compared.
Time per item is `Annotation.time_spent_ms`, recorded at submit (the client's timer, capped
server-side by the lease); labels without it are left out, never counted as zero.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from statistics import median

from django.db.models import Count
from django.db.models.functions import TruncDate

from annotate.models import (
    PREFERENCE_LABELS,
    Annotation,
    AnnotationStatus,
    FeedbackKind,
    Thumbs,
    human_label_q,
    judge_label_q,
)
from curation import plots
from curation.agreement import PREFERENCE_DOMAIN, krippendorff_alpha


@dataclass
class Distribution:
    """Shares of each preference value (−3..3) and of thumbs up/down for one group of annotators."""

    preferences: dict[int, int] = field(default_factory=dict)
    thumbs: dict[str, int] = field(default_factory=dict)

    @property
    def pairwise_total(self) -> int:
        return sum(self.preferences.values())

    @property
    def binary_total(self) -> int:
        return sum(self.thumbs.values())


@dataclass
class WeeklyAlpha:
    week: date  # the Monday
    alpha: float | None
    units: int  # items with two or more people's labels made that week


@dataclass
class Activity:
    days: list[date]
    per_day: dict[str, dict[date, int]]  # annotator → day → labels
    seconds_per_item: dict[str, tuple[float, int]]  # annotator → (median seconds, labels timed)
    people: Distribution
    judges: Distribution
    weekly_alpha: list[WeeklyAlpha]


def _people(project):
    return Annotation.objects.filter(item__project=project, status=AnnotationStatus.OK).filter(human_label_q())


def throughput(project) -> dict[str, dict[date, int]]:
    rows = (
        _people(project)
        .annotate(day=TruncDate("created_at"))
        .values("annotator__name", "day")
        .annotate(n=Count("id"))
        .order_by("day")
    )
    per_day: defaultdict[str, dict[date, int]] = defaultdict(dict)
    for r in rows:
        per_day[r["annotator__name"]][r["day"]] = r["n"]
    return dict(per_day)


def seconds_per_item(project) -> dict[str, tuple[float, int]]:
    times = defaultdict(list)
    for name, ms in (
        _people(project).filter(time_spent_ms__isnull=False).values_list("annotator__name", "time_spent_ms").iterator()
    ):
        times[name].append(ms / 1000)
    return {name: (median(values), len(values)) for name, values in sorted(times.items())}


def distribution(project, judges: bool) -> Distribution:
    qs = Annotation.objects.filter(item__project=project, status=AnnotationStatus.OK)
    qs = qs.filter(judge_label_q()) if judges else qs.filter(human_label_q())
    prefs = dict(qs.filter(kind=FeedbackKind.PAIRWISE).values_list("preference").annotate(n=Count("id")))
    thumbs = dict(qs.filter(kind=FeedbackKind.BINARY).values_list("thumbs").annotate(n=Count("id")))
    return Distribution(
        preferences={p: prefs.get(p, 0) for p in PREFERENCE_DOMAIN} if prefs else {},
        thumbs={t: thumbs.get(t, 0) for t in Thumbs.values} if thumbs else {},
    )


def weekly_alpha(project) -> list[WeeklyAlpha]:
    """Krippendorff's α (ordinal, −3..3) over the pairwise labels people made in each week: an item
    counts in a week when two or more of its labels were made that week (labels of one item spread
    over several weeks are left out of this chart, not of the dashboard's overall α)."""
    units: defaultdict[date, defaultdict[int, dict[int, int]]] = defaultdict(lambda: defaultdict(dict))
    rows = (
        _people(project)
        .filter(kind=FeedbackKind.PAIRWISE, preference__isnull=False)
        .values_list("item_id", "annotator_id", "preference", "created_at")
    )
    for item_id, annotator_id, preference, created in rows.iterator():
        day = created.date()
        units[day - timedelta(days=day.weekday())][item_id][annotator_id] = preference
    out = []
    for week in sorted(units):
        overlapping = {i: v for i, v in units[week].items() if len(v) >= 2}
        out.append(
            WeeklyAlpha(
                week,
                krippendorff_alpha(overlapping, "ordinal", PREFERENCE_DOMAIN) if overlapping else None,
                len(overlapping),
            )
        )
    return out


def project_activity(project) -> Activity:
    per_day = throughput(project)
    days = sorted({d for series in per_day.values() for d in series})
    return Activity(
        days=days,
        per_day=per_day,
        seconds_per_item=seconds_per_item(project),
        people=distribution(project, judges=False),
        judges=distribution(project, judges=True),
        weekly_alpha=weekly_alpha(project),
    )


def activity_charts(activity: Activity) -> dict:
    """The Activity section's SVG charts (escaped by curation.plots)."""
    index = {d: i for i, d in enumerate(activity.days)}
    span = (f"{activity.days[0]:%Y-%m-%d}", f"{activity.days[-1]:%Y-%m-%d}") if activity.days else ()
    throughput_plot = plots.lines(
        {name: [(index[d], n) for d, n in sorted(series.items())] for name, series in activity.per_day.items()},
        x_labels=span,
        y_lo=0,
        fmt="{:.0f}",
        label="Labels per day, per annotator",
    )
    slowest = max((s for s, _ in activity.seconds_per_item.values()), default=0)
    time_plot = plots.hbars(
        [(f"{name} ({n})", s, False) for name, (s, n) in activity.seconds_per_item.items()],
        hi=max(slowest, 1),
        fmt="{:.1f} s",
        label="Median seconds per item, per annotator",
    )

    def prefs(dist):
        total = dist.pairwise_total or 1
        return plots.hbars(
            [(PREFERENCE_LABELS[p], n / total, False) for p, n in dist.preferences.items()],
            label="Share of each preference value",
        )

    def thumbs(dist):
        total = dist.binary_total or 1
        return plots.hbars(
            [(Thumbs(t).label, n / total, t == Thumbs.DOWN) for t, n in dist.thumbs.items()], label="Thumbs up and down"
        )

    weeks = [(w.week, w.alpha) for w in activity.weekly_alpha if w.alpha is not None]
    alpha_plot = plots.lines(
        {"α": [(i, alpha) for i, (_, alpha) in enumerate(weeks)]},
        x_labels=(f"{weeks[0][0]:%Y-%m-%d}", f"{weeks[-1][0]:%Y-%m-%d}") if weeks else (),
        y_lo=min([0.0] + [alpha for _, alpha in weeks]),
        y_hi=1.0,
        fmt="{:.2f}",
        label="Krippendorff's alpha per week (people, pairwise)",
    )
    return {
        "throughput_plot": throughput_plot,
        "time_plot": time_plot,
        "people_prefs_plot": prefs(activity.people),
        "people_thumbs_plot": thumbs(activity.people),
        "judge_prefs_plot": prefs(activity.judges) if activity.judges.pairwise_total else None,
        "judge_thumbs_plot": thumbs(activity.judges) if activity.judges.binary_total else None,
        "alpha_plot": alpha_plot,
        "weekly_alpha": activity.weekly_alpha,
    }
