"""Keyboard-only labelling in a real browser: login → each of the three forms → submit → next."""
import pytest

from annotate.models import Annotation, Assignment
from tests import factories
from tests.browser import browser_page, csp_violations, login, sample_project, shot  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_label_all_three_kinds_by_keyboard(live_server, browser_page):
    page = browser_page
    project, items = sample_project()
    user = factories.user("kbd", project=project)
    base = live_server.url

    login(page, base, "kbd")
    shot(page, "home")
    page.goto(f"{base}/p/{project.pk}/")
    shot(page, "project")
    for _ in range(30):  # the Start button is reachable by Tab and works from the keyboard
        if page.evaluate("document.activeElement && document.activeElement.id") == "start":
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector('#item-form[data-kind="pairwise"]')

    # Pairwise: shortcuts overlay, scale by number key, rationale, Ctrl+Enter while typing.
    page.keyboard.press("?")
    assert page.locator("#shortcuts").is_visible()
    shot(page, "shortcuts", full_page=False)
    page.keyboard.press("Escape")
    assert not page.locator("#shortcuts").is_visible()
    page.keyboard.press("2")  # A better (display order)
    assert page.locator('input[name="preference"][value="-2"]').is_checked()
    page.keyboard.press("r")
    page.keyboard.type("A keeps the order; B does not.")
    shot(page, "form-pairwise")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item-form[data-kind="binary"]')

    # Binary: thumbs down, first principle, reason.
    page.keyboard.press("d")
    page.keyboard.press("1")
    page.keyboard.press("r")
    page.keyboard.type("The height is from before the antenna was added.")
    shot(page, "form-binary")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item-form[data-kind="edit"]')

    # Edit: the editor has focus; rewrite and submit, then see the diff.
    shot(page, "form-edit")
    page.keyboard.press("Control+a")
    page.keyboard.type("Photosynthesis is how plants turn sunlight into food. It happens in the chloroplasts, "
                       "using water and carbon dioxide, and it releases oxygen.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#edit-result")
    assert page.locator("ins.diff-ins").count() > 0 and page.locator("del.diff-del").count() > 0
    shot(page, "edit-result")
    page.keyboard.press("Enter")  # "Next item" has focus
    page.wait_for_selector("text=Nothing left for you right now")
    shot(page, "done")

    labels = {a.kind: a for a in Annotation.objects.filter(annotator__user=user)}
    assert set(labels) == {"pairwise", "binary", "edit"}
    pair_assignment = Assignment.objects.get(item=items["pairwise"], annotator__user=user)
    assert labels["pairwise"].preference == (2 if pair_assignment.swapped else -2)
    assert labels["pairwise"].rationale == "A keeps the order; B does not."
    assert labels["binary"].thumbs == "down" and labels["binary"].failed_principles == ["Be honest"]
    assert labels["edit"].edit_distance > 0 and labels["edit"].diff
    assert all(a.time_spent_ms and a.time_spent_ms > 0 for a in labels.values())
    assert csp_violations(page) == []  # every form, swap and shortcut works under the policy


def test_skip_by_keyboard_and_draft_restored_after_reload(live_server, browser_page):
    page = browser_page
    project = factories.project(name="drafts")
    factories.item(project, kind="edit", text_a="Draft me please.")
    factories.item(project, kind="binary", text_a="Skip me.")
    factories.user("drafter", project=project)
    base = live_server.url
    login(page, base, "drafter")
    page.goto(f"{base}/p/{project.pk}/annotate/")
    page.wait_for_selector('#item-form[data-kind="edit"]')
    page.keyboard.press("End")
    page.keyboard.type(" Half done")
    page.wait_for_selector("text=Draft saved")
    page.reload()
    page.wait_for_selector('#item-form[data-kind="edit"]')
    assert page.locator("textarea[name=edited_text]").input_value() == "Draft me please. Half done"

    page.keyboard.press("Escape")  # leave the editor so single-key shortcuts work
    page.keyboard.press("s")
    page.wait_for_selector("#skip-dialog[open]")
    shot(page, "skip-dialog", full_page=False)
    page.keyboard.type("Not my field")
    page.keyboard.press("Enter")
    page.wait_for_selector('#item-form[data-kind="binary"]')
    assert Assignment.objects.get(item__kind="edit").skip_reason == "Not my field"


def test_manager_marks_gold_in_the_browser(live_server, browser_page):
    page = browser_page
    project, items = sample_project("gold in browser")
    factories.user("boss", project=project, role="manager")
    base = live_server.url
    login(page, base, "boss")
    page.goto(f"{base}/p/{project.pk}/gold/")
    row = page.locator("tr", has=page.locator(f'select[aria-label="Gold thumbs for item {items["binary"].pk}"]'))
    row.locator("select").select_option("down")
    row.locator('button[value="mark"]').click()
    page.wait_for_selector("text=is gold")
    page.locator("details summary").first.click()
    shot(page, "gold-page")
    items["binary"].refresh_from_db()
    assert items["binary"].is_gold and items["binary"].gold_answer == {"thumbs": "down"}


def test_pages_satisfy_the_content_security_policy(live_server, browser_page):
    """No inline script, eval or <style> anywhere a manager goes: Chromium reports no violation."""
    page = browser_page
    project, _ = sample_project("csp")
    factories.user("csp-boss", project=project, role="manager")
    base = live_server.url
    login(page, base, "csp-boss")
    for path in ("/", f"/p/{project.pk}/", f"/p/{project.pk}/annotate/", f"/curation/p/{project.pk}/",
                 f"/curation/p/{project.pk}/routing/", f"/runs/p/{project.pk}/", f"/p/{project.pk}/gold/", "/no-such-page/"):
        response = page.goto(base + path)
        assert response.headers.get("content-security-policy"), path
        page.wait_for_load_state("networkidle")
    # Behaviour moved out of inline handlers still works: the routing budget slider drives its box.
    page.goto(f"{base}/curation/p/{project.pk}/routing/")
    page.locator('input[type="range"]').fill("45")
    assert page.locator('input[name="budget"]').input_value() == "45"
    # The policy is live: an injected inline script is refused and reported.
    page.goto(f"{base}/")
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';
                             document.body.appendChild(s); }""")
    assert page.evaluate("window.ran") is None
    violations = csp_violations(page)
    assert len(violations) == 1 and "script-src" in violations[0], violations
