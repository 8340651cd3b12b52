"""Safe defaults for a deployment: the secret key, check --deploy, HTTPS switches, the
Content-Security-Policy, styled error pages, password validators and login throttling."""

import os
import re
import secrets
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.test import override_settings
from django.urls import reverse

from annotate import login_throttle
from config.security import PUBLIC_DEV_KEYS, local_secret_key, secret_key
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
PUBLIC_KEY = next(iter(PUBLIC_DEV_KEYS))


def _settings_env(tmp_path, **env):
    """A clean environment for a fresh `manage.py` process (nothing inherited from this run)."""
    keep = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PYTHONPATH")}
    return {**keep, "TANDEM_VAR_DIR": str(tmp_path / "var"), **env}


def _manage(env, *args):
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300
    )


# --- the secret key --------------------------------------------------------------------------


def test_production_without_secret_key_refuses_to_start(tmp_path):
    env = _settings_env(tmp_path, DATABASE_URL="postgres://u@127.0.0.1:1/x")
    result = _manage(env, "check")
    assert result.returncode != 0
    assert "SECRET_KEY is not set" in result.stderr and "TANDEM_DEMO=1" in result.stderr


def test_public_dev_key_refused_whenever_debug_is_off(tmp_path):
    with pytest.raises(ImproperlyConfigured, match="public development key"):
        secret_key(PUBLIC_KEY, debug=False, local=True, var_dir=tmp_path)
    assert secret_key(PUBLIC_KEY, debug=True, local=False, var_dir=tmp_path) == PUBLIC_KEY
    with pytest.raises(ImproperlyConfigured, match="not set"):
        secret_key(None, debug=False, local=False, var_dir=tmp_path)


def test_local_install_generates_a_private_key_once(tmp_path):
    key = secret_key(None, debug=False, local=True, var_dir=tmp_path)
    path = tmp_path / "secret_key"
    assert len(key) >= 50 and key not in PUBLIC_DEV_KEYS
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert local_secret_key(tmp_path) == key  # kept, not regenerated


def test_embedded_default_runs_with_debug_off_and_a_generated_key(tmp_path):
    """What `./tandem demo` runs: no DATABASE_URL, no SECRET_KEY, DEBUG unset."""
    env = _settings_env(tmp_path, TANDEM_DEMO="1")
    code = (
        "from django.conf import settings; import django; django.setup(); "
        "print(settings.DEBUG, settings.SECRET_KEY == open(settings.VAR_DIR / 'secret_key').read().strip(), "
        "settings.WHITENOISE_USE_FINDERS)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True"]
    script = (ROOT / "tandem").read_text()
    demo = script[script.index("cmd_demo()") :]
    assert "DEBUG=${DEBUG:-1}" not in demo and "export TANDEM_DEMO=1" in demo


# --- check --deploy --------------------------------------------------------------------------


def test_check_deploy_warns_only_about_what_the_readme_explains(tmp_path):
    env = _settings_env(
        tmp_path,
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/unused",
        ALLOWED_HOSTS="tandem.example",
        TANDEM_HTTPS="1",
    )
    result = _manage(env, "check", "--deploy")
    output = result.stdout + result.stderr
    warnings = set(re.findall(r"\(([a-z_]+\.[WE]\d+)\)", output))
    section = README[README.index("## Deploying safely") : README.index("## Layout")]
    unexplained = {w for w in warnings if w not in section}
    assert not unexplained, output
    # The switches TANDEM_HTTPS turns on are on: no cookie, HSTS or redirect warning at all.
    for silenced in ("security.W004", "security.W008", "security.W012", "security.W016", "security.W018"):
        assert silenced not in warnings


def test_https_switches_follow_tandem_https(tmp_path):
    code = (
        "import django; django.setup(); from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_SSL_REDIRECT, s.SECURE_HSTS_SECONDS > 0, "
        "s.SECURE_HSTS_INCLUDE_SUBDOMAINS, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
    )

    def run(**extra):
        env = _settings_env(tmp_path, SECRET_KEY="k" * 50, DJANGO_SETTINGS_MODULE="config.settings", **extra)
        out = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
        )
        assert out.returncode == 0, out.stderr
        return out.stdout.strip()

    assert run() == "False False False False False None"
    assert run(TANDEM_HTTPS="1") == "True True True True True None"
    assert run(TANDEM_HTTPS="1", DEBUG="1") == "False False False False False None"  # local HTTPS testing
    assert (
        run(TANDEM_HTTPS="1", SECURE_SSL_REDIRECT="0", TANDEM_PROXY_SSL_HEADER="X-Forwarded-Proto")
        == "True True False True True ('HTTP_X_FORWARDED_PROTO', 'https')"
    )


# --- headers and error pages -----------------------------------------------------------------


@pytest.mark.django_db
def test_every_page_sends_a_csp_without_inline_script(client, annotator_user, project):
    client.force_login(annotator_user)
    response = client.get(reverse("annotate:project", args=[project.pk]))
    policy = response["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"] == "'self'" and "unsafe" not in directives["script-src"]
    assert directives["style-src-elem"] == "'self'" and directives["object-src"] == "'none'"
    assert directives["frame-ancestors"] == "'none'"


def _templates():
    for folder in (ROOT / "templates", *(ROOT / app / "templates" for app in ("annotate", "curation", "workers"))):
        if folder.exists():
            yield from folder.rglob("*.html")


def test_templates_have_no_inline_script_style_or_handlers():
    """What the policy forbids never appears in the app's own templates."""
    for path in _templates():
        text = path.read_text(encoding="utf-8")
        for match in re.finditer(r"<script\b([^>]*)>", text):
            assert "src=" in match.group(1), f"{path}: inline <script>"
        assert "<style" not in text, f"{path}: inline <style>"
        assert not re.search(r"\son[a-z]+\s*=\s*[\"']", text), f"{path}: inline event handler"
        assert "javascript:" not in text and "hx-on" not in text, path


@pytest.mark.django_db
@override_settings(DEBUG=False)
def test_404_and_403_are_the_styled_pages_without_a_traceback(client, project):
    client.force_login(factories.user("outsider"))
    response = client.get(reverse("annotate:project", args=[project.pk]))
    assert response.status_code == 404
    html = response.content.decode()
    assert "Not found" in html and 'class="topbar"' in html and "tandem.css" in html
    assert "Traceback" not in html and "URLconf" not in html and "Django" not in html
    annotator = factories.user("ann-403", project=project)
    client.force_login(annotator)
    response = client.get(reverse("curation:routing", args=[project.pk]))
    assert response.status_code == 403
    html = response.content.decode()
    assert "Not allowed" in html and 'class="topbar"' in html and "Traceback" not in html


def test_500_page_renders_without_context():
    from django.template import loader

    html = loader.get_template("500.html").render({})
    assert "Something went wrong" in html and "tandem.css" in html


@pytest.mark.django_db
def test_csrf_failure_is_styled_for_people_and_json_for_the_api(annotator_user, project):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(annotator_user)
    page = client.post(reverse("annotate:skip_item", args=[project.pk, 1]), {"reason": "x"})
    assert page.status_code == 403 and "Form expired" in page.content.decode()
    api = client.post(reverse("annotate_api:skip", args=[1]), "{}", content_type="application/json")
    assert api.status_code == 403 and "CSRF" in api.json()["error"]


# --- passwords and logins --------------------------------------------------------------------


def test_standard_password_validators(db):
    user = factories.user("carol")
    for weak in ("short1", "password123", "12345678901", "carol1234"):
        with pytest.raises(ValidationError):
            validate_password(weak, user)
    validate_password("lantern-orbit-velvet-42", user)


@pytest.fixture
def fresh_throttle():
    """Throttle counts live in the real cache (Redis with REDIS_CACHE_URL): start each test clean."""
    cache.clear()
    yield
    cache.clear()


@pytest.mark.django_db
@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_FAILURE_IP_LIMIT=5, LOGIN_LOCKOUT_SECONDS=60)
def test_login_locks_an_account_after_repeated_failures(client, fresh_throttle):
    factories.user("dora", password="right-horse-battery")
    for _ in range(2):
        response = client.post("/login/", {"username": "dora", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 200 and "didn't match" in response.content.decode()
    response = client.post("/login/", {"username": "dora", "password": "wrong"}, REMOTE_ADDR="10.0.0.1")
    assert "Too many failed logins for this account" in response.content.decode()  # the third one locks
    response = client.post("/login/", {"username": "dora", "password": "right-horse-battery"}, REMOTE_ADDR="10.0.0.2")
    html = response.content.decode()
    assert response.status_code == 200 and "Too many failed logins for this account" in html
    assert "_auth_user_id" not in client.session
    admin_page = client.post(
        "/admin/login/", {"username": "dora", "password": "right-horse-battery"}, REMOTE_ADDR="10.0.0.3"
    )
    assert "Too many failed logins for this account" in admin_page.content.decode()
    # Also refused below the login pages (API clients, any authenticate() call): the backend checks.
    assert authenticate(username="dora", password="right-horse-battery") is None
    assert authenticate(username="DORA ", password="right-horse-battery") is None  # same account however typed
    # Another account is not affected; after the lockout expires (cleared here) the right password works.
    factories.user("erin", password="other-horse-battery")
    assert authenticate(username="erin", password="other-horse-battery") is not None
    cache.clear()
    response = client.post("/login/", {"username": "dora", "password": "right-horse-battery"}, REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 302


@pytest.mark.django_db
@override_settings(LOGIN_FAILURE_LIMIT=50, LOGIN_FAILURE_IP_LIMIT=4, LOGIN_LOCKOUT_SECONDS=60)
def test_login_locks_an_address_spraying_many_accounts(client, fresh_throttle):
    factories.user("fay", password="right-horse-battery")
    for n in range(4):
        client.post("/login/", {"username": f"guess{n}", "password": "x"}, REMOTE_ADDR="10.9.9.9")
    response = client.post("/login/", {"username": "fay", "password": "right-horse-battery"}, REMOTE_ADDR="10.9.9.9")
    assert "Too many failed logins for your network address" in response.content.decode()
    response = client.post("/login/", {"username": "fay", "password": "right-horse-battery"}, REMOTE_ADDR="10.1.1.1")
    assert response.status_code == 302  # from elsewhere the account still works


@pytest.mark.django_db
@override_settings(LOGIN_FAILURE_LIMIT=3, LOGIN_LOCKOUT_SECONDS=60)
def test_success_clears_the_count(fresh_throttle):
    factories.user("gil", password="right-horse-battery")
    for _ in range(2):
        assert authenticate(username="gil", password="nope") is None
    assert authenticate(username="gil", password="right-horse-battery") is not None
    for _ in range(2):
        assert authenticate(username="gil", password="nope") is None
    assert login_throttle.locked_out("gil", None) is None
    assert authenticate(username="gil", password="right-horse-battery") is not None
