"""Curation dashboard benchmark: the page on a cold and a warm figure cache, against the work the
page used to do inline on a cold cache (compute every figure, then render).

    python bench/dashboard.py [--project Demo] [--repeat 3]

Uses an existing project (`manage.py load_demo` makes "Demo"); requests go through Django's test
client as a superuser, so the time is the server's (views, queries, templates), not a browser's.
Figures: cold page (placeholder, the figures asked of a task), the refresh itself (what the task
does), warm page (cached figures shown), and the baseline = refresh + cold page.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")


def timed(fn):
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def main():
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.test import Client
    from django.urls import reverse

    from annotate.models import Annotation, Project
    from curation import dashboard_figures
    from workers.charts import edit_distance_context

    parser = argparse.ArgumentParser()
    parser.add_argument("--project", default="Demo")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    project = Project.objects.get(name=args.project)
    admin = get_user_model().objects.filter(is_superuser=True, is_active=True).first()
    client = Client(SERVER_NAME="127.0.0.1")
    client.force_login(admin)
    url = reverse("curation:dashboard", args=[project.pk])
    cold, refresh, warm = [], [], []
    for _ in range(args.repeat):
        dashboard_figures.forget(project)
        t, r = timed(lambda: client.get(url))
        assert r.status_code == 200 and "computing…" in r.content.decode()
        cold.append(t)
        t, _ = timed(lambda: dashboard_figures.refresh(project, extra=edit_distance_context))
        refresh.append(t)
        t, r = timed(lambda: client.get(url))
        assert "Figures computed" in r.content.decode()
        warm.append(t)
    med = statistics.median
    baseline = med(refresh) + med(cold)
    lines = [
        f"project {project.name!r}: {project.items.count()} items, {Annotation.objects.filter(item__project=project).count()} labels",
        f"cold page (placeholder): {med(cold) * 1000:.0f} ms",
        f"refresh (the task):      {med(refresh) * 1000:.0f} ms",
        f"warm page (cached):      {med(warm) * 1000:.0f} ms",
        f"baseline (figures computed inline, then the page): {baseline * 1000:.0f} ms",
        f"ratio warm / baseline: {med(warm) / baseline:.2f}; cold / baseline: {med(cold) / baseline:.2f}",
    ]
    print("\n".join(lines))
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / "dashboard.txt").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
