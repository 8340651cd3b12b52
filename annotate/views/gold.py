"""Manager page for gold items: mark/unmark, set the answer and the rate, see accuracy per annotator."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from annotate import gold
from annotate.forms import GoldRateForm
from annotate.kinds import registry as kind_registry
from annotate.kinds.scale import SCALE
from annotate.models import Item
from annotate.permissions import project_for_manager


@login_required
def gold_page(request, project_id):
    project = project_for_manager(request.user, project_id)
    show = request.GET.get("show", "all")
    items = (
        Item.objects.filter(project=project, kind__in=kind_registry.with_gold())
        .select_related("prompt", "response_a", "response_b")
        .order_by("-is_gold", "id")
    )
    if show == "gold":
        items = items.filter(is_gold=True)
    page = Paginator(items, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "annotate/gold.html",
        {
            "project": project,
            "page": page,
            "show": show,
            "accuracy": gold.gold_accuracy(project),
            "gold_count": gold.gold_items(project).count(),
            "gold_templates": {k.key: k.gold_form_template for k in kind_registry.all_kinds() if k.has_gold},
            "scale": SCALE,
            **{k: v for spec in kind_registry.all_kinds() for k, v in spec.gold_form_context(project).items()},
        },
    )


@login_required
@require_POST
def gold_mark(request, project_id, item_id):
    project = project_for_manager(request.user, project_id)
    item = get_object_or_404(Item, project=project, pk=item_id)
    if request.POST.get("action") == "unmark":
        gold.unmark_gold(item)
        messages.success(request, f"Item {item.pk} is no longer gold.")
    else:
        answer = kind_registry.get(item.kind).gold_answer_from_form(item, request.POST)
        try:
            gold.mark_gold(item, answer)
            messages.success(request, f"Item {item.pk} is gold.")
        except ValidationError as exc:
            messages.error(request, f"Item {item.pk}: {' '.join(exc.messages)}")
    back = str(request.POST.get("back", ""))
    # Only back to a page of this project: never an open redirect.
    return redirect(
        back
        if back.startswith(reverse("annotate:project", args=[project.pk]))
        else reverse("annotate:gold", args=[project.pk])
    )


@login_required
@require_POST
def gold_rate(request, project_id):
    project = project_for_manager(request.user, project_id)
    form = GoldRateForm(request.POST)
    if not form.is_valid():
        messages.error(request, "The gold rate is a percentage from 0 to 100.")
    else:
        rate = form.rate()
        project.gold_rate = rate
        project.save(update_fields=["gold_rate"])
        messages.success(request, f"Gold items now make up {rate:.0%} of the queue.")
    return redirect("annotate:gold", project.pk)


@login_required
@require_POST
def gold_feedback(request, project_id):
    project = project_for_manager(request.user, project_id)
    project.gold_feedback = request.POST.get("gold_feedback") == "1"
    project.save(update_fields=["gold_feedback"])
    messages.success(
        request,
        "Annotators now see gold feedback." if project.gold_feedback else "Annotators no longer see gold feedback.",
    )
    return redirect("annotate:gold", project.pk)
