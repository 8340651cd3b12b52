from django.contrib.auth.decorators import login_required
from django.shortcuts import render

from .permissions import visible_projects


@login_required
def home(request):
    return render(request, "annotate/home.html", {"projects": visible_projects(request.user)})
