"""Manager pages: the judge-bias audit and the project's preference groups."""
from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.views.decorators.http import require_GET

from annotate.permissions import project_for_manager

from . import bias, plots


@login_required
@require_GET
def bias_page(request, project_id):
    project = project_for_manager(request.user, project_id)
    result = bias.audit(project)
    charts = {p: plots.coefficient_bars([(r.name, r.properties.get(p)) for r in result.rows], label=f"{p} coefficient")
              for p in result.properties}
    length_chart = plots.coefficient_bars([(r.name, r.length) for r in result.rows], label="length coefficient")
    return render(request, "curation/bias.html", {
        "project": project, "audit": result, "charts": charts, "length_chart": length_chart,
        "families": bias.FAMILY_PREFIXES, "min_labels": bias.MIN_LABELS,
    })
