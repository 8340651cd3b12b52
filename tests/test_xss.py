"""Known XSS payloads through every place user or model text is shown; the HTML must stay inert.

The output is parsed (html.parser), not grepped: a payload "survives" only if it becomes a real
tag, attribute or URL, not if it shows up as escaped text.
"""

import re
import uuid
from html.parser import HTMLParser

import pytest
from django.urls import reverse

from annotate import rendering
from annotate.models import Assignment
from tests import factories

pytestmark = pytest.mark.django_db

PAYLOADS = [
    "<script>alert('xss-1')</script>",
    "<img src=x onerror=\"alert('xss-2')\">",
    "<svg onload=alert('xss-3')><circle r=1 /></svg>",
    "[click me](javascript:alert('xss-4'))",
    "[data](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
    "![img](javascript:alert('xss-5'))",
    "\"><script>alert('xss-6')</script>",
    "'><img src=x onerror=alert('xss-7')>",
    "<a href=\"javascript:alert('xss-8')\">link</a>",
    "<a href=\" jav&#x09;ascript:alert('xss-9')\">tab link</a>",
    "```html\n<script>alert('xss-10')</script>\n```",
    "<iframe src=\"javascript:alert('xss-11')\"></iframe>",
    '<div hx-get="/logout/" hx-trigger="load" hx-on:click="alert(\'xss-12\')">htmx</div>',
    "<math><mtext></p><script>alert('xss-13')</script></mtext></math>",
    "<style>body{background:url(javascript:alert('xss-14'))}</style>",
    "<a href='vbscript:msgbox(1)'>vb</a> <form action=javascript:alert('xss-15')><button>go</button></form>",
    "<details open ontoggle=alert('xss-16')>",
    "<object data=\"javascript:alert('xss-17')\"></object><embed src=javascript:alert('xss-18')>",
    "[protocol-relative](//evil.example/xss-19) [backslash](/\\evil.example/xss-20) [rel](/logout/?xss-21)",
    "bidi: \u202egnp.exe\u202c \u2066isolate-xss-22\u2069 \u202aembed\u202b \u202d \u2067 \u2068",
]
ALL = "\n\n".join(PAYLOADS)

# What the test plants: a random token (CSRF, session) is letters and digits only and can contain
# "xss", never these.
PLANTED = re.compile(r"alert\(|xss-(?:\d+|name|aspect|principle|user|draft|edit)\b")
BIDI = re.compile("[\u202a-\u202e\u2066-\u2069]")
SAFE_HREF = re.compile(r"^(?:https?://|mailto:|#)", re.I)
URL_ATTRS = {"href", "src", "action", "formaction", "xlink:href", "data", "background", "poster", "srcdoc", "ping"}
DANGEROUS_TAGS = {
    "iframe",
    "object",
    "embed",
    "svg",
    "math",
    "style",
    "base",
    "meta",
    "link",
    "frame",
    "frameset",
    "form",
}


def _our_link(attrs):
    """The base template's own <link>s: stylesheets and the favicon, from /static/ only."""
    return attrs.get("rel") == "stylesheet" or (
        attrs.get("rel") == "icon" and (attrs.get("href") or "").startswith("/static/")
    )


class Inspector(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.problems = []
        self.text = []
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        self._check(tag, attrs)

    def handle_startendtag(self, tag, attrs):
        self._check(tag, attrs)

    def _check(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            src = attrs.get("src") or ""
            if not src.startswith("/static/"):
                self.problems.append(f"inline or foreign <script> {attrs}")
            self._in_script = True
        ours = tag == "svg" and attrs.get("class") == "icon" and attrs.get("aria-hidden") == "true"  # template icons
        if (
            tag in DANGEROUS_TAGS
            and tag not in ("link", "meta", "form")
            and not ours
            or (tag == "link" and not _our_link(attrs))
        ):
            self.problems.append(f"<{tag}> {attrs}")
        if tag == "form" and (attrs.get("action") or "").lower().strip().startswith(("javascript", "data", "vbscript")):
            self.problems.append(f"<form action={attrs.get('action')}>")
        for name, value in attrs.items():
            value = value or ""
            if name.startswith(("on", "hx-on")):
                self.problems.append(f"<{tag} {name}={value!r}>")
            if name.startswith(("hx-", "data-hx")) and PLANTED.search(value):
                self.problems.append(f"<{tag} {name}={value!r}> carries a payload")
            if name in URL_ATTRS:
                scheme = re.sub(r"[\x00-\x20]", "", value).lower()
                if scheme.startswith(("javascript:", "vbscript:", "data:")):
                    self.problems.append(f"<{tag} {name}={value!r}>")
                if tag == "a" and name == "href" and PLANTED.search(value) and not SAFE_HREF.match(value.strip()):
                    self.problems.append(f"<a href={value!r}> leaves the site as a relative link")
            if name == "style" and ("expression(" in value or "url(" in value):
                self.problems.append(f"<{tag} style={value!r}>")
            if BIDI.search(value):
                self.problems.append(f"<{tag} {name}=...> holds a bidi control")

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False

    def handle_data(self, data):
        self.text.append(data)
        if BIDI.search(data):
            self.problems.append(f"bidi control in text: {data[:60]!r}")
        if self._in_script and PLANTED.search(data):
            self.problems.append(f"payload inside <script>: {data[:60]!r}")


def assert_inert(html, where):
    inspector = Inspector()
    inspector.feed(html)
    inspector.close()
    assert not inspector.problems, f"{where}: {inspector.problems[:5]}"
    return "".join(inspector.text)


def test_markdown_renderer_alone_is_inert_for_each_payload():
    for payload in PAYLOADS:
        assert_inert(str(rendering.markdown(payload)), payload)
        assert_inert(str(rendering.plain(payload)), payload)
    ops = [
        ["equal", "<b>", "<b>"],
        ["delete", "<script>alert('xss')</script>", ""],
        ["insert", "", '"><img src=x onerror=alert(1)>'],
    ]
    assert_inert(str(rendering.diff_html(ops)), "diff")


def hrefs(html):
    return re.findall(r'href="([^"]*)"', html)


def test_links_keep_only_absolute_web_addresses_and_same_page_anchors():
    html = str(
        rendering.markdown(
            "[a](//evil.example) [b](/\\evil.example) [c](\\\\evil.example) [d](/logout/) [e](rel/path) [f]( //evil.example)\n\n"
            "[ok](https://ok.example/x) [mail](mailto:a@example.org) [top](#section-2) <https://auto.example>"
        )
    )
    assert hrefs(html) == ["https://ok.example/x", "mailto:a@example.org", "#section-2", "https://auto.example"]
    assert "evil.example" not in "".join(hrefs(html)) and ">a</a>" in html  # the link text stays


def test_bidi_controls_become_visible_markers():
    text = "invoice\u202egnp.exe\u202c and \u2066x\u2069 \u202a\u202b\u202d\u2067\u2068"
    for html in (
        rendering.markdown(text),
        rendering.plain(text),
        rendering.markdown(f'[t](https://e.org "{text}")'),
        rendering.markdown(f"```\n{text}\n```"),
        rendering.diff_html([["insert", "", text]]),
    ):
        html = str(html)
        assert not BIDI.search(html), html
        assert "[U+202E]gnp.exe[U+202C]" in html and "[U+2066]x[U+2069]" in html
    from curation import plots

    assert "[U+202E]" in str(plots.hbars([("judge\u202e1", 0.5, False)], label="agreement"))


def test_code_blocks_keep_html_as_text():
    html = str(rendering.markdown("```html\n<script>alert(1)</script>\n```"))
    assert "<script" not in html and "&lt;" in html
    text = re.sub(r"<[^>]+>", "", html)  # drop Pygments' spans: the code reads as written
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


@pytest.fixture
def hostile(db):
    project = factories.project(
        name="<script>alert('xss-name')</script> proj",
        instructions=ALL,
        aspects=["help\"><script>alert('xss-aspect')</script>", "plain"],
        principles=["<img src=x onerror=alert('xss-principle')>", "Be honest"],
    )
    messages = [
        {"role": "system", "content": ALL},
        {"role": "user", "content": PAYLOADS[0]},
        {"role": "assistant", "content": ALL},
        {"role": "user", "content": ALL},
    ]
    prompt = factories.prompt(project, text=ALL, messages=messages)
    items = [
        factories.item(project, kind="pairwise", text_a=ALL, text_b=ALL, prompt_obj=prompt),
        factories.item(project, kind="binary", text_a=ALL, prompt_obj=factories.prompt(project, text=ALL)),
        factories.item(project, kind="edit", text_a=ALL, prompt_obj=factories.prompt(project, text=ALL)),
    ]
    user = factories.user("<svg onload=alert('xss-user')>", project=project, role="manager")
    return project, items, user


def _sid(html):
    return re.search(r'name="submission_id" value="([0-9a-f-]{36})"', html).group(1)


def test_every_page_is_inert(client, hostile):
    project, items, user = hostile
    client.force_login(user)
    pages = {
        "home": "/",
        "project": reverse("annotate:project", args=[project.pk]),
        "gold": reverse("annotate:gold", args=[project.pk]),
    }
    for where, url in pages.items():
        resp = client.get(url)
        assert resp.status_code == 200, where
        assert_inert(resp.content.decode(), where)

    # Pairwise form, then the same form re-rendered with a hostile rationale after an error.
    html = client.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    text = assert_inert(html, "pairwise form")
    # The payloads are there, shown as text: the page was really exercised.
    assert "alert('xss-1')" in text and "javascript:alert('xss-4')" in text and "xss-aspect" in text
    lease = Assignment.objects.get(item=items[0])
    html = client.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {"submission_id": _sid(html), "rationale": ALL, "aspect:plain:left": ALL},
    ).content.decode()
    assert_inert(html, "pairwise error re-render")
    client.post(
        reverse("annotate:save_draft", args=[project.pk, lease.pk]),
        {"rationale": ALL, "preference": '"><script>alert(1)</script>'},
    )
    assert_inert(
        client.get(reverse("annotate:workspace", args=[project.pk])).content.decode(), "pairwise draft restore"
    )
    html = client.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {"submission_id": str(uuid.uuid4()), "preference": "1", "rationale": ALL},
    ).content.decode()
    assert_inert(html, "binary form")

    # Binary with hostile reason and principle values.
    lease = Assignment.objects.get(item=items[1])
    html = client.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {"submission_id": str(uuid.uuid4()), "thumbs": "up", "failed_principles": [ALL], "reason": ALL},
    ).content.decode()
    assert "not principles of this project" in html
    assert_inert(html, "binary error re-render")
    html = client.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {
            "submission_id": str(uuid.uuid4()),
            "thumbs": "down",
            "failed_principles": [project.principles[0]],
            "reason": ALL,
        },
    ).content.decode()
    assert_inert(html, "edit form")

    # Edit: hostile edit text, then the diff.
    lease = Assignment.objects.get(item=items[2])
    client.post(
        reverse("annotate:save_draft", args=[project.pk, lease.pk]),
        {"edited_text": ALL + "</textarea><script>alert('xss-draft')</script>"},
    )
    html = client.get(reverse("annotate:workspace", args=[project.pk])).content.decode()
    assert "xss-draft" in assert_inert(html, "edit draft restore")
    html = client.post(
        reverse("annotate:submit_item", args=[project.pk, lease.pk]),
        {"submission_id": _sid(html), "edited_text": ALL + "\n<script>alert('xss-edit')</script>"},
    ).content.decode()
    assert 'class="diff-ins"' in html
    assert_inert(html, "edit diff")

    # Skip dialog with hostile reason; gold page after hostile answers and an accuracy row.
    from annotate import gold

    gold.mark_gold(items[1], {"thumbs": "up"})
    assert_inert(client.get(reverse("annotate:gold", args=[project.pk])).content.decode(), "gold page with accuracy")
    assert_inert(
        client.get(reverse("annotate:project", args=[project.pk])).content.decode(), "project page after labels"
    )
    # A manager's page that shows model text through plain `{{ }}` (bidi controls only the page-wide pass catches).
    html = client.get(reverse("curation:item", args=[project.pk, items[0].pk])).content.decode()
    assert "[U+202E]gnp.exe" in assert_inert(html, "routing item page")


def test_inspector_is_not_fooled_by_random_tokens():
    """A CSRF token is random letters and digits: it can spell "xss" (this once failed the page test)."""
    token = "aB3xssQ9" * 8
    assert_inert(
        f'<body hx-headers=\'{{"X-CSRFToken": "{token}"}}\'><input type="hidden" name="csrfmiddlewaretoken" value="{token}">'
        f'<script src="/static/app.js">var t = "{token}";</script></body>',
        "token",
    )


def test_inspector_catches_what_it_should():
    for bad in [
        '<img src=x onerror="x()">',
        "<a href='javascript:x()'>",
        "<script>x</script>",
        "<svg onload=x>",
        "<a href=' JaVa\tScRiPt:x'>",
        '<div hx-on:click="x()">',
        '<iframe src="https://e.org">',
        "<a href='//evil.example/xss-19'>",
        "<p>\u202eexe</p>",
        '<div hx-get="/x?alert(1)">',
    ]:
        with pytest.raises(AssertionError):
            assert_inert(bad, "self-test")
