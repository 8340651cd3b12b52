"""Web workers stay light: loading every URL's view must not import the model stack (torch,
transformers, scikit-learn, ...), which only background workers and the views' own requests need."""

import json
import os
import subprocess
import sys
from pathlib import Path

HEAVY = ["torch", "transformers", "sentence_transformers", "trl", "peft", "sklearn", "crowdkit", "pandas"]


def test_loading_the_url_configuration_imports_no_model_stack():
    code = (
        "import django, json, sys; django.setup();"
        "from django.urls import get_resolver; get_resolver().url_patterns;"
        "import config.wsgi;"
        f"print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=Path(__file__).resolve().parent.parent,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
