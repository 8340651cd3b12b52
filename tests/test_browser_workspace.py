"""Keyboard-only labelling in a real browser: login → each of the three forms → submit → next."""

import pytest
from django.urls import reverse

from annotate.models import Annotation, Assignment
from tests import factories
from tests.browser import axe_violations, browser_page, csp_violations, login, sample_project, shot  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_label_all_three_kinds_by_keyboard(live_server, browser_page):
    page = browser_page
    project, items = sample_project()
    user = factories.user("kbd", project=project)
    base = live_server.url

    login(page, base, "kbd")
    shot(page, "home")
    page.goto(base + reverse("annotate:project", args=[project.pk]))
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
    page.keyboard.type(
        "Photosynthesis is how plants turn sunlight into food. It happens in the chloroplasts, "
        "using water and carbon dioxide, and it releases oxygen."
    )
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
    page.goto(base + reverse("annotate:workspace", args=[project.pk]))
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
    page.goto(base + reverse("annotate:gold", args=[project.pk]))
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
    for path in (
        "/",
        reverse("annotate:project", args=[project.pk]),
        reverse("annotate:workspace", args=[project.pk]),
        reverse("curation:dashboard", args=[project.pk]),
        reverse("curation:routing", args=[project.pk]),
        reverse("workers:project_runs", args=[project.pk]),
        reverse("annotate:gold", args=[project.pk]),
        "/no-such-page/",
    ):
        response = page.goto(base + path)
        assert response.headers.get("content-security-policy"), path
        page.wait_for_load_state("networkidle")
    # Behaviour moved out of inline handlers still works: the routing budget slider drives its box.
    page.goto(base + reverse("curation:routing", args=[project.pk]))
    page.locator('input[type="range"]').fill("45")
    assert page.locator('input[name="budget"]').input_value() == "45"
    # The policy is live: an injected inline script is refused and reported.
    page.goto(base + reverse("annotate:home"))
    page.evaluate("""() => { const s = document.createElement('script'); s.textContent = 'window.ran = 1';
                             document.body.appendChild(s); }""")
    assert page.evaluate("window.ran") is None
    violations = csp_violations(page)
    assert len(violations) == 1 and "script-src" in violations[0], violations


def _open_workspace(page, base, project, username):
    login(page, base, username)
    page.goto(base + reverse("annotate:workspace", args=[project.pk]))
    page.wait_for_selector("#item-form")


def test_axe_finds_nothing_serious_on_all_three_kinds(live_server, browser_page):
    page = browser_page
    project, items = sample_project("axe")
    factories.user("axe-user", project=project)
    base = live_server.url
    _open_workspace(page, base, project, "axe-user")
    page.locator("#recent summary").click()  # the recent list and the guidelines are part of the page too
    page.wait_for_selector("#recent-list :is(ol, p:not(:has-text('Loading')))")
    report = {}
    for kind, choice in (("pairwise", "6"), ("binary", "u"), ("edit", None)):
        page.wait_for_selector(f'#item-form[data-kind="{kind}"]')
        if choice:  # checked states are checked too (white on the B colour, green thumbs)
            page.keyboard.press(choice)
        report[kind] = axe_violations(page)
        if choice:
            page.keyboard.press("Control+Enter")
    page.locator('button[name="accept_as_is"]').click()
    page.wait_for_selector("#edit-result")
    report["edit-result"] = axe_violations(page)
    found = [
        f"{where} {v['id']} ({v['impact']}): {node}" for where, vs in report.items() for v in vs for node in v["nodes"]
    ]
    assert found == [], "\n".join(found)
    assert csp_violations(page) == []


def test_submit_failure_shows_retry_and_stores_one_label(live_server, browser_page):
    page = browser_page
    project = factories.project(name="flaky network")
    factories.item(project, kind="binary", text_a="Fine answer.")
    factories.item(project, kind="binary", text_a="Second answer.")
    user = factories.user("flaky", project=project)
    base = live_server.url
    _open_workspace(page, base, project, "flaky")
    page.keyboard.press("d")
    page.keyboard.press("r")
    page.keyboard.type("Too short.")

    attempts = []

    def flaky(route):
        attempts.append(route.request.url)
        if len(attempts) == 1:
            route.abort("internetdisconnected")  # offline
        elif len(attempts) == 2:
            route.fulfill(status=500, body="boom")  # the server fails
        else:
            route.continue_()

    page.route("**/submit/", flaky)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-failure:not([hidden])")
    assert "No connection" in page.locator("#submit-failure").inner_text()
    assert page.evaluate("document.activeElement.dataset.action") == "retry-submit"
    assert page.locator('#item-form textarea[name="reason"]').input_value() == "Too short."  # nothing lost
    assert page.locator('input[name="thumbs"][value="down"]').is_checked()
    assert Annotation.objects.count() == 0
    page.keyboard.press("Enter")  # Retry has focus
    page.wait_for_selector("#submit-failure:has-text('error 500')")
    shot(page, "submit-failure", full_page=False)
    page.locator("#submit-failure button").click()
    page.wait_for_selector("#item-form:has-text('Second answer.')")
    assert len(attempts) == 3
    labels = list(Annotation.objects.filter(annotator__user=user))
    assert len(labels) == 1 and labels[0].thumbs == "down" and labels[0].reason == "Too short."
    assert csp_violations(page) == []


def test_retry_after_a_lost_reply_does_not_store_twice(live_server, browser_page):
    """The server stored the label but its reply never arrived: the retry replays, one label."""
    page = browser_page
    project = factories.project(name="lost reply")
    factories.item(project, kind="binary", text_a="Only answer.")
    factories.item(project, kind="binary", text_a="Next answer.")
    user = factories.user("lost", project=project)
    base = live_server.url
    _open_workspace(page, base, project, "lost")
    page.keyboard.press("u")
    calls = []

    def lose_first_reply(route):
        calls.append(1)
        if len(calls) == 1:
            route.fetch()  # reaches the server, which stores the label
            route.abort("connectionreset")
        else:
            route.continue_()

    page.route("**/submit/", lose_first_reply)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#submit-failure:not([hidden])")
    assert Annotation.objects.filter(annotator__user=user).count() == 1
    page.locator("#submit-failure button").click()
    page.wait_for_selector("#item-form:has-text('Next answer.')")
    assert Annotation.objects.filter(annotator__user=user).count() == 1


def test_scale_and_submit_visible_together_at_1366x768(live_server, browser_page):
    page = browser_page
    project, _ = sample_project("laptop")
    factories.user("laptop", project=project)
    page.set_viewport_size({"width": 1366, "height": 768})
    _open_workspace(page, live_server.url, project, "laptop")
    page.wait_for_selector('#item-form[data-kind="pairwise"]')
    for scroll in (0, 400, 100_000):  # at the top, mid-way, at the bottom
        page.evaluate(f"window.scrollTo(0, {scroll})")
        boxes = page.evaluate("""() => {
            const r = el => el.getBoundingClientRect();
            const opts = Array.from(document.querySelectorAll('.scale-opt')).map(r);
            const submit = r(document.querySelector('#item-form button.primary[type=submit]'));
            const onScreen = b => b.top >= 0 && b.bottom <= window.innerHeight && b.left >= 0 && b.right <= window.innerWidth;
            // what is painted at each option's centre is the option itself, not a bar over it
            const topmost = opts.every(b => document.elementFromPoint(b.left + b.width / 2, b.top + b.height / 2)?.closest('.scale-opt'));
            return {opts: opts.every(onScreen), submit: onScreen(submit), topmost};
        }""")
        assert boxes == {"opts": True, "submit": True, "topmost": True}, (scroll, boxes)
    shot(page, "laptop-1366", full_page=False)


def test_nothing_overflows_on_a_390px_phone(live_server, browser_page):
    page = browser_page
    project, _ = sample_project("phone")
    factories.user("phone", project=project)
    page.set_viewport_size({"width": 390, "height": 844})
    _open_workspace(page, live_server.url, project, "phone")
    widths = {}
    for kind, advance in (("pairwise", "4"), ("binary", "u"), ("edit", None)):
        page.wait_for_selector(f'#item-form[data-kind="{kind}"]')
        widths[kind] = page.evaluate("document.documentElement.scrollWidth")
        if widths[kind] > 390:  # name the culprits
            widths[kind] = (
                widths[kind],
                page.evaluate("""() => Array.from(document.querySelectorAll('body *'))
                .filter(el => el.getBoundingClientRect().right > 391).slice(0, 8)
                .map(el => el.tagName + '.' + el.className + ' ' + Math.round(el.getBoundingClientRect().right))"""),
            )
        if kind == "pairwise":
            shot(page, "phone-390-pairwise")
        if advance:
            page.keyboard.press(advance)
            page.keyboard.press("Control+Enter")
    assert widths == {"pairwise": 390, "binary": 390, "edit": 390}, widths


def test_aspect_keys_and_focus_on_the_error(live_server, browser_page):
    page = browser_page
    project, items = sample_project("aspect keys")
    user = factories.user("rater", project=project)
    _open_workspace(page, live_server.url, project, "rater")
    page.wait_for_selector('#item-form[data-kind="pairwise"]')
    # Submitting without a choice: the error is shown and focus lands on the scale.
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#preference-error")
    assert page.evaluate("document.activeElement.name") == "preference"
    page.keyboard.press("Escape")
    page.keyboard.press("g")  # the first aspect of A
    assert page.evaluate("document.activeElement.name") == "aspect:helpfulness:left"
    for digit in "452":  # helpfulness A, helpfulness B, truthfulness A
        page.keyboard.press(digit)
    assert page.evaluate("document.activeElement.name") == "aspect:truthfulness:right"
    page.keyboard.press("Escape")
    page.keyboard.press("g")  # the first unrated one
    assert page.evaluate("document.activeElement.name") == "aspect:truthfulness:right"
    page.keyboard.press("Escape")
    page.keyboard.press("6")  # the scale again: B better (display order)
    page.keyboard.press("Control+Enter")
    page.wait_for_selector('#item-form[data-kind="binary"]')
    label = Annotation.objects.get(annotator__user=user, item=items["pairwise"])
    swapped = Assignment.objects.get(item=items["pairwise"], annotator__user=user).swapped
    left, right = ("b", "a") if swapped else ("a", "b")
    assert label.aspect_ratings == {"helpfulness": {left: 4, right: 5}, "truthfulness": {left: 2}}
    assert label.preference == (-2 if swapped else 2)


def test_guidelines_panel_remembers_its_state(live_server, browser_page):
    page = browser_page
    project, _ = sample_project("guidelines")
    factories.user("reader", project=project)
    _open_workspace(page, live_server.url, project, "reader")
    panel = page.locator("#guidelines")
    assert panel.get_attribute("open") is not None  # open the first time
    text = panel.inner_text()  # the project's instructions and the guidance for the kind on screen
    assert "Correctness first" in text and "Pick the point on the scale" in text and "Accept as is" not in text
    page.locator("#guidelines summary").click()
    assert panel.get_attribute("open") is None
    page.reload()
    page.wait_for_selector("#item-form")
    assert page.locator("#guidelines").get_attribute("open") is None  # stays closed
    page.locator("#guidelines summary").click()
    page.reload()
    page.wait_for_selector("#item-form")
    assert page.locator("#guidelines").get_attribute("open") is not None


def test_amend_a_recent_label_in_the_browser(live_server, browser_page):
    page = browser_page
    project = factories.project(name="amend in browser")
    first = factories.item(project, kind="binary", text_a="First answer.")
    factories.item(project, kind="binary", text_a="Second answer.")
    user = factories.user("amender", project=project)
    _open_workspace(page, live_server.url, project, "amender")
    page.keyboard.press("u")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#item-form:has-text('Second answer.')")
    page.locator("#recent summary").click()
    page.locator("#recent-list button", has_text="Amend").click()
    page.wait_for_selector("#item-form.amending:has-text('First answer.')")
    assert page.locator('input[name="thumbs"][value="up"]').is_checked()
    page.keyboard.press("d")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("text=was changed")
    page.wait_for_selector("#item-form:has-text('Second answer.')")
    labels = list(Annotation.objects.filter(annotator__user=user))
    assert len(labels) == 1 and labels[0].item_id == first.pk and labels[0].thumbs == "down"
    assert csp_violations(page) == []
