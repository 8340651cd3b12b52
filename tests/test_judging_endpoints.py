"""Judge settings cannot reach the server's secrets or its network: keys only by a declared name,
no loopback/private/link-local hosts unless the deployment allow-lists them (checked on save and
again at connection time), connection settings for admins only, server bodies for admins only."""

import socket

import pytest
from django.contrib.auth.models import Permission
from django.test import Client, override_settings
from django.urls import reverse

from annotate.judging import service
from annotate.judging.backends import BackendError, OpenAIBackend, RequestFailed
from annotate.judging.endpoints import EndpointRefused, address_problem, check_base_url
from annotate.models import Annotation, LMJudge
from config.settings import judge_keys
from tests import factories
from tests.judging_helpers import ScriptedServer, allow_local_server
from workers.models import ModelSpec

INTERNAL = [
    "http://127.0.0.1:8000/v1",
    "http://127.1.2.3/v1",
    "http://localhost:8000/v1",  # loopback (localhost via the resolver)
    "http://169.254.169.254/latest/meta-data/",
    "http://[fe80::1]/v1",  # link-local: the cloud metadata service
    "http://10.1.2.3/v1",
    "http://192.168.0.10/v1",
    "http://172.16.5.4/v1",
    "http://100.64.0.1/v1",  # private, CGNAT
    "http://[::1]:8000/v1",
    "http://[fc00::1]/v1",
    "http://[fd12:3456::1]/v1",  # IPv6 loopback, unique-local
    "http://0.0.0.0:8000/v1",
    "http://[::]/v1",
    "http://224.0.0.1/v1",
    "http://[ff02::1]/v1",  # unspecified, multicast
    "http://[::ffff:127.0.0.1]/v1",
    "http://[::ffff:a9fe:a9fe]/v1",
    "http://[64:ff9b::a9fe:a9fe]/v1",  # v4 inside v6
    "http://2130706433/v1",
    "http://0x7f000001/v1",  # 127.0.0.1 spelled as a number: caught after resolution
]


@pytest.mark.parametrize("url", INTERNAL)
def test_internal_addresses_are_refused_without_the_allow_list(url):
    with pytest.raises(EndpointRefused, match="TANDEM_JUDGE_ALLOWED_HOSTS"):
        check_base_url(url)


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "gopher://127.0.0.1/",
        "ftp://8.8.8.8/",
        "http:///v1",
        "http://user:pw@8.8.8.8/v1",
        "8.8.8.8/v1",
        "http://[::1/v1",
    ],
)
def test_only_plain_http_urls_with_a_host(url):
    with pytest.raises(EndpointRefused):
        check_base_url(url)


def test_public_addresses_pass():
    assert check_base_url("https://8.8.8.8/v1").port == 443
    assert check_base_url("http://[2606:4700:4700::1111]:8080/v1").host == "2606:4700:4700::1111"
    assert address_problem("93.184.216.34") is None and "link-local" in address_problem("169.254.169.254")


def test_allow_list_names_a_host_or_a_host_and_port():
    with override_settings(JUDGE_ALLOWED_HOSTS=["127.0.0.1:8000", "[::1]", "LocalHost"]):
        check_base_url("http://127.0.0.1:8000/v1")
        check_base_url("http://[::1]:1234/v1")
        check_base_url("http://localhost:9/v1")
        with pytest.raises(EndpointRefused):
            check_base_url("http://127.0.0.1:8001/v1")  # another port of the same host
        with pytest.raises(EndpointRefused):
            check_base_url("http://169.254.169.254/")


def test_key_settings_parse_names_to_variables_and_refuse_junk():
    assert judge_keys(" openai=OPENAI_API_KEY, local-vllm = VLLM_KEY ,") == {
        "openai": "OPENAI_API_KEY",
        "local-vllm": "VLLM_KEY",
    }
    assert judge_keys("") == {} and judge_keys(None) == {}
    for bad in ("OPENAI_API_KEY", "name=", "=VAR", "a=b c", "a=1VAR"):
        with pytest.raises(RuntimeError, match="TANDEM_JUDGE_KEYS"):
            judge_keys(bad)


def server_judge(server, project, **fields):
    judge = LMJudge.objects.create(
        name=f"srv-{LMJudge.objects.count()}",
        backend="openai",
        model="m",
        base_url=server.base_url,
        parameters={"retry_backoff": 0.01, "max_retries": 0},
        **fields,
    )
    judge.projects.add(project)
    return judge


@pytest.mark.django_db
def test_a_loopback_server_gets_no_request_unless_allow_listed(project):
    factories.item(project)
    with ScriptedServer() as server:
        judge = server_judge(server, project)  # as an old row, or one written straight to the database
        with pytest.raises(BackendError, match="loopback"):
            service.judge_project(project)
        assert server.requests == [] and not Annotation.objects.exists()
        with allow_local_server:
            service.judge_project(project)
        assert len(server.requests) == 2 and Annotation.objects.get().annotator.judge == judge


@pytest.mark.django_db
def test_a_name_that_changes_its_answer_after_validation_is_checked_again_at_connection(project, monkeypatch):
    """DNS rebinding: the name resolves to a public address when checked, to loopback when connecting."""
    real = socket.getaddrinfo
    answers = []

    def resolver(host, port, *args, **kwargs):
        if host == "judge.example":
            host = answers.pop(0) if len(answers) > 1 else answers[0]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    factories.item(project)
    with ScriptedServer() as server:
        judge = server_judge(server, project)
        judge.base_url = server.base_url.replace("127.0.0.1", "judge.example")
        judge.save()
        answers[:] = ["93.184.216.34", "127.0.0.1"]
        with pytest.raises(BackendError, match="loopback"):
            service.judge_project(project)
        assert server.requests == []
        # The same resolver, with the name allow-listed, does reach the server: the refusal above
        # came from the check at connection time, not from a resolver that leads nowhere.
        answers[:] = ["127.0.0.1"]
        with override_settings(JUDGE_ALLOWED_HOSTS=["judge.example"]):
            service.judge_project(project)
        assert len(server.requests) == 2


@pytest.mark.django_db
def test_only_declared_key_names_are_sent(project, settings, monkeypatch):
    monkeypatch.setenv("TANDEM_TEST_JUDGE_KEY", "sk-declared")
    settings.JUDGE_KEYS = {"vllm": "TANDEM_TEST_JUDGE_KEY"}
    settings.JUDGE_ALLOWED_HOSTS = ["127.0.0.1"]
    factories.item(project)
    with ScriptedServer() as server:
        judge = server_judge(server, project, api_key_name="SECRET_KEY")  # an environment variable, not a declared name
        with pytest.raises(BackendError, match="not declared in TANDEM_JUDGE_KEYS"):
            service.judge_project(project)
        assert server.requests == []
        judge.api_key_name = "vllm"
        judge.save()
        OpenAIBackend(judge).complete([{"role": "user", "content": "hi"}])
        assert server.headers[0]["Authorization"] == "Bearer sk-declared"


def judge_post(**fields):
    return {"name": "j", "backend": "openai", "model": "m", "parameters": "{}", "prompt_templates": "{}", **fields}


@pytest.mark.django_db
def test_managers_cannot_set_where_a_judge_connects(client, project, manager_user, settings):
    settings.JUDGE_KEYS = {"openai": "OPENAI_API_KEY"}
    client.force_login(manager_user)
    url = reverse("curation:add_judge", args=[project.pk])
    r = client.post(url, judge_post(base_url="http://8.8.8.8/v1", api_key_name="openai"))
    assert r.status_code == 400 and b"only an admin can add a judge that calls a server" in r.content
    assert not LMJudge.objects.exists()
    page = client.get(reverse("curation:routing", args=[project.pk])).content.decode()
    assert 'name="base_url"' not in page and 'name="api_key_name"' not in page
    # A registered local model is fine; connection fields sent anyway are ignored.
    ModelSpec.objects.create(name="m", path_or_id="/models/m")
    r = client.post(url, judge_post(backend="transformers", base_url="http://169.254.169.254/", api_key_name="openai"))
    assert r.status_code == 302
    assert LMJudge.objects.values_list("backend", "base_url", "api_key_name").get() == ("transformers", "", "")
    # so are the reward-model judges that run in Tandem's workers (a deployment's backend that does
    # not declare calls_server = False stays admin-only)
    for backend, model in (("reward_model", "m"), ("embedding_rm", "all-MiniLM-L6-v2")):
        r = client.post(url, judge_post(name=f"local-{backend}", backend=backend, model=model))
        assert r.status_code == 302, r.content
    assert set(LMJudge.objects.values_list("backend", flat=True)) == {"transformers", "reward_model", "embedding_rm"}
    from annotate.judging import backends

    assert [k for k, _ in backends.choices(local_only=True)] == ["transformers", "reward_model", "embedding_rm"]
    # a manager names a registered model, never a path on the workers' disk, a hub id or another
    # project's fine-tune
    theirs = factories.project()
    ModelSpec.objects.create(name="their-ft", path_or_id="/ft/1", project=theirs)
    for backend, model, words in (
        ("transformers", "/etc/tandem/secret-model", b"not a registered model"),
        ("reward_model", "OpenAssistant/reward-model-deberta", b"not a registered model"),
        ("transformers", "their-ft", b"not a registered model"),
        ("reward_model", "finetune:999", b"no reward-model fine-tune run of this project"),
        ("reward_model", "finetune:\u00b2", b"no reward-model fine-tune run of this project"),  # "²".isdigit()
    ):
        r = client.post(url, judge_post(name=f"x-{model}", backend=backend, model=model))
        assert r.status_code == 400 and words in r.content, (model, r.content[-300:])
    assert not LMJudge.objects.filter(name__startswith="x-").exists()
    trained = judge_post(name="forged", backend="embedding_rm", parameters='{"bt_head": {"w": [1]}}')
    r = client.post(url, trained)
    assert r.status_code == 400 and b"set by training the judge" in r.content

    class Remote(backends.TransformersBackend):  # a deployment's backend built on a local one
        key = "remote-ish"

    assert Remote.calls_server is False and not backends.declares_local(Remote)  # it did not say so itself


@pytest.mark.django_db
def test_admins_set_connections_within_the_rules(client, project, admin_user, settings):
    settings.JUDGE_KEYS = {"openai": "OPENAI_API_KEY"}
    client.force_login(admin_user)
    url = reverse("curation:add_judge", args=[project.pk])
    r = client.post(url, judge_post(base_url="http://169.254.169.254/v1"))
    assert r.status_code == 400 and b"link-local" in r.content
    r = client.post(url, judge_post(base_url="https://8.8.8.8/v1", api_key_name="SECRET_KEY"))
    assert r.status_code == 400 and b"not a key declared in TANDEM_JUDGE_KEYS" in r.content
    assert not LMJudge.objects.exists()
    assert client.post(url, judge_post(base_url="https://8.8.8.8/v1", api_key_name="openai")).status_code == 302
    assert LMJudge.objects.values_list("base_url", "api_key_name").get() == ("https://8.8.8.8/v1", "openai")
    # The Django admin applies the same rules.
    r = client.post(
        "/admin/annotate/lmjudge/add/",
        {
            "name": "meta",
            "backend": "openai",
            "model": "m",
            "base_url": "http://[::ffff:169.254.169.254]/",
            "api_key_name": "",
            "prompt_templates": "{}",
            "parameters": "{}",
        },
    )
    assert (
        r.status_code == 200
        and "not allowed" in r.content.decode()
        and not LMJudge.objects.filter(name="meta").exists()
    )


@pytest.mark.django_db
def test_staff_managers_see_connection_settings_read_only_in_the_admin(project, manager_user):
    judge = LMJudge.objects.create(
        name="srv", backend="openai", model="m", base_url="https://8.8.8.8/v1", api_key_name="openai"
    )
    manager_user.is_staff = True
    manager_user.save()
    manager_user.user_permissions.add(*Permission.objects.filter(codename__in=["view_lmjudge", "change_lmjudge"]))
    c = Client()
    c.force_login(manager_user)
    r = c.post(
        f"/admin/annotate/lmjudge/{judge.pk}/change/",
        {
            "name": "srv",
            "backend": "openai",
            "model": "m2",
            "base_url": "http://169.254.169.254/",
            "api_key_name": "SECRET_KEY",
            "prompt_templates": "{}",
            "parameters": "{}",
        },
    )
    assert r.status_code == 302
    judge.refresh_from_db()
    # the model it loads (a path on the workers' disk, a hub id) is read-only too, as are its projects
    assert (judge.model, judge.base_url, judge.api_key_name) == ("m", "https://8.8.8.8/v1", "openai")


@pytest.mark.django_db
def test_managers_attach_server_judges_an_admin_configured(client, project, manager_user):
    server = LMJudge.objects.create(name="hosted", backend="openai", model="m", base_url="https://8.8.8.8/v1")
    elsewhere = LMJudge.objects.create(name="someone-elses-local", backend="transformers", model="m")
    elsewhere.projects.add(factories.project())
    client.force_login(manager_user)
    page = client.get(reverse("curation:routing", args=[project.pk])).content.decode()
    assert "hosted" in page and "someone-elses-local" not in page
    url = reverse("curation:attach_judge", args=[project.pk])
    assert client.post(url, {"judge": elsewhere.pk}).status_code == 400
    assert client.post(url, {"judge": server.pk}).status_code == 302
    assert list(project.judges.all()) == [server]


@pytest.mark.django_db
def test_server_error_bodies_are_shown_to_admins_only(client, project, manager_user, admin_user):
    item = factories.item(project)
    judge = LMJudge.objects.create(name="srv", backend="openai", model="m", base_url="https://8.8.8.8/v1")
    failed = RequestFailed("the server answered HTTP 400", detail="DATABASE_URL=postgres://secret@db")
    service.build_annotation(item, service.judge_annotator(judge), [failed, failed]).save()
    url = reverse("curation:item", args=[project.pk, item.pk])
    client.force_login(manager_user)
    page = client.get(url).content.decode()
    assert "the server answered HTTP 400" in page and "postgres://secret" not in page
    client.force_login(admin_user)
    assert "postgres://secret" in client.get(url).content.decode()


@pytest.mark.django_db
def test_nothing_from_the_workers_environment_reaches_a_judge_server(project, monkeypatch):
    """The openai client would read OPENAI_API_KEY, OPENAI_ORG_ID, ...; a judge sends only the key it names."""
    for variable, value in (("OPENAI_API_KEY", "sk-env"), ("OPENAI_ADMIN_KEY", "sk-admin"), ("OPENAI_ORG_ID", "org")):
        monkeypatch.setenv(variable, value)
    with allow_local_server, ScriptedServer() as server:
        judge = server_judge(server, project)
        assert (
            OpenAIBackend(judge).complete([{"role": "user", "content": "hi"}]) == '{"verdict": 0, "rationale": "same"}'
        )
    sent = server.headers[0]
    assert "Authorization" not in sent and "OpenAI-Organization" not in sent and "OpenAI-Project" not in sent
