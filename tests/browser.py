"""Playwright helpers for the workspace browser tests: sample data, a logged-in page, screenshots.

Debian's chromium is launched through `executable_path`; Playwright's own browser downloads are
never needed.
"""

import os
from pathlib import Path

import pytest

from tests import factories

CHROMIUM = os.environ.get("TANDEM_CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = Path(
    os.environ.get("TANDEM_SCREENSHOTS", Path(__file__).resolve().parent.parent / "test-output" / "screenshots")
)


INSTRUCTIONS = """Compare the two answers as a careful expert would.

* **Correctness first**: a wrong answer loses to a right one, however well written.
* Then **helpfulness**: does it answer what was asked, at the right length?
* Use the *tie* only when you truly cannot choose.

Code must run as shown; check edge cases.
"""

PAIR_A = """Use a set to drop duplicates while keeping the **first** occurrence:

```python
def dedupe(items):
    seen = set()
    out = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out
```

This runs in *O(n)* time."""

PAIR_B = """You can write `list(set(items))`, which removes duplicates.

Note that this does **not** keep the original order."""

BINARY = """The Eiffel Tower is in Paris and was completed in **1889** for the World's Fair.
It is about 330 m tall and was the tallest structure in the world until 1930."""

EDIT = """Photosynthesis is the process by which plants turns sunlight into food. It happen in the chloroplasts,
using water and carbon dioxide, and it release oxygen."""


def sample_project(name="Assistant preferences"):
    project = factories.project(
        name=name,
        instructions=INSTRUCTIONS,
        aspects=["helpfulness", "truthfulness", "harmlessness"],
        principles=["Be honest", "Be harmless", "Follow the instructions", "Cite sources when asked"],
        overlap=2,
    )
    messages = [
        {"role": "system", "content": "You are a concise Python tutor."},
        {"role": "user", "content": "What's a set in Python?"},
        {"role": "assistant", "content": "An unordered collection of unique, hashable items."},
        {"role": "user", "content": "How do I remove duplicates from a list but keep the order?"},
    ]
    pair_prompt = factories.prompt(project, text=messages[-1]["content"], messages=messages)
    items = {
        "pairwise": factories.item(project, kind="pairwise", text_a=PAIR_A, text_b=PAIR_B, prompt_obj=pair_prompt),
        "binary": factories.item(
            project,
            kind="binary",
            text_a=BINARY,
            prompt_obj=factories.prompt(project, text="When and where was the Eiffel Tower built?"),
        ),
        "edit": factories.item(
            project,
            kind="edit",
            text_a=EDIT,
            prompt_obj=factories.prompt(project, text="Explain photosynthesis in two sentences for a 10-year-old."),
        ),
    }
    return project, items


@pytest.fixture
def browser_page():
    """A chromium page, closed afterwards; skips when chromium or playwright is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no chromium at {CHROMIUM}")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    # Playwright's sync API keeps an event loop on this thread; the test's own ORM calls are
    # still plain synchronous calls, which Django would otherwise refuse.
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        context = browser.new_context(viewport={"width": 1360, "height": 900}, device_scale_factor=1)
        page = context.new_page()
        page.set_default_timeout(20_000)  # generous: CI machines are often busy
        # Chromium reports every Content-Security-Policy refusal on the console: collected here
        # for csp_violations(page).
        page.csp_violations = []
        page.on(
            "console",
            lambda msg: "Content Security Policy" in msg.text and page.csp_violations.append(f"{page.url}: {msg.text}"),
        )
        try:
            yield page
        finally:
            context.close()
            browser.close()
            if previous is None:
                os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
            else:
                os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


def csp_violations(page):
    """The Content-Security-Policy violations Chromium reported on this page so far."""
    return list(page.csp_violations)


def login(page, base_url, username, password="pw-123456"):
    page.goto(f"{base_url}/login/")
    page.fill('input[name="username"]', username)
    page.fill('input[name="password"]', password)
    page.press('input[name="password"]', "Enter")
    page.wait_for_url(f"{base_url}/")


def shot(page, name, full_page=True):
    path = SCREENSHOTS / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    if not full_page:
        page.screenshot(path=str(path))
        return path
    # A viewport as tall as the page, so sticky bars sit where a reader sees them (a full-page
    # capture would paint them mid-page).
    size = page.viewport_size
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": size["width"], "height": max(size["height"], min(height, 4000))})
    page.screenshot(path=str(path))
    page.set_viewport_size(size)
    return path


AXE_SOURCE = Path(__file__).resolve().parent / "vendor" / "axe-4.14.1.min.js"  # axe-core 4.14.1, MPL-2.0
BLOCKING_IMPACTS = ("critical", "serious")


def axe_violations(page, impacts=BLOCKING_IMPACTS, include=None):
    """axe-core's violations on the page as it is now, of the given impacts.

    The script is evaluated through the DevTools protocol rather than added as a <script>, so the
    page's Content-Security-Policy neither blocks it nor reports it. Each violation is a dict with
    id, impact, help and up to five offending nodes (selector :: why)."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SOURCE.read_text(encoding="utf-8") + "\n;true")
    found = page.evaluate(
        """async (include) => {
            const result = await window.axe.run(include || document, {resultTypes: ["violations"]});
            return result.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 5).map(n => n.target.join(" ") + " :: " + (n.failureSummary || ""))}));
        }""",
        include,
    )
    return [v for v in found if v["impact"] in impacts]
