"""The record browser: the items behind the dashboard's figures, paginated, searchable, sortable,
and bulk actions on a selection. Views are thin: the work is in curation/records.py."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from annotate.errors import ServiceError
from annotate.permissions import project_for_manager
from curation import records
from curation.actions import CurationError
from curation.views.dashboard import FilterForm
from workers.tasks.judging import start_judging
from workers.views.common import tell_outcome

PAGE_SIZE = 50
KEPT = list(FilterForm.base_fields) + ["q", "sort", "dir"]


def _query(data, **changes):
    kept = [(k, v) for k in KEPT for v in data.getlist(k) if v not in ("", None) and k not in changes]
    kept += [(k, v) for k, v in changes.items() if v not in ("", None)]
    return urlencode(kept)


@login_required
@require_GET
def record_list(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = FilterForm(request.GET)
    sort = request.GET.get("sort") if request.GET.get("sort") in records.SORTS else "id"
    descending = request.GET.get("dir") == "desc"
    query = request.GET.get("q", "")[:200]
    rows, error = [], None
    if form.is_valid():
        try:
            rows = records.find_records(project, form.to_filters(), query, sort, descending)
        except CurationError as exc:
            error = str(exc)
    else:
        error = "; ".join(f"{k}: {' '.join(map(str, v))}" for k, v in form.errors.items())
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    sorts = [
        {
            "key": key,
            "label": label,
            "active": key == sort,
            "query": _query(request.GET, sort=key, dir="asc" if key == sort and descending else "desc", page=""),
        }
        for key, label in records.SORTS.items()
    ]
    return render(
        request,
        "curation/records.html",
        {
            "project": project,
            "form": form,
            "page": page,
            "total": len(rows),
            "query": query,
            "error": error,
            "sorts": sorts,
            "descending": descending,
            "bulk_actions": records.BULK_ACTIONS,
            "here": _query(request.GET),
            "prev_query": _query(request.GET, page=page.number - 1) if page.has_previous() else "",
            "next_query": _query(request.GET, page=page.number + 1) if page.has_next() else "",
        },
    )


@login_required
@require_POST
def record_bulk(request, project_id):
    project = project_for_manager(request.user, project_id)
    action = request.POST.get("action", "")
    try:
        result = records.bulk_action(project, request.user, action, request.POST.getlist("items"))
        messages.success(request, result.message)
        if action == "rejudge":
            for run in start_judging(
                project, user=request.user, item_ids=sorted(int(i) for i in request.POST.getlist("items"))
            ):
                tell_outcome(request, run, "Judging")
    except ServiceError as exc:
        messages.error(request, f"Not applied: {exc}")
    back = request.POST.get("back", "")
    url = reverse("curation:records", args=[project.pk])
    return redirect(f"{url}?{back}" if back and "//" not in back else url)
