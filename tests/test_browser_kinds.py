"""Ranking and Likert driven in a real browser: the keys, a drag, ties, a refused submit, and what is
stored (canonical order, whatever the display order was); each form free of CSP and serious axe
violations and usable at a laptop and a phone width."""

import pytest
from django.urls import reverse

from annotate.kinds import ranking
from annotate.models import Annotation, Assignment, Response
from tests import factories
from tests.browser import axe_violations, browser_page, csp_violations, login, shot  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

HS2 = ["helpfulness", "correctness", "coherence", "complexity", "verbosity"]
RANKED = [
    "Paris is the capital of France.",
    "It is Lyon, the second city.",
    "Paris, on the Seine, has been France's capital for most of its history; it is also its largest city.",
    "No idea, sorry.",
]
LIKERT_TEXT = """Boil the pasta in **salted** water for 9 minutes, then drain it.

```python
minutes = 9
```"""


def build_project():
    project = factories.project(name="ranked and rated", feedback_kinds=["ranking", "likert"], aspects=[])
    for n in range(2):
        prompt = factories.prompt(project, text=f"What is the capital of France? ({n})")
        responses = [Response.objects.create(prompt=prompt, text=t, model_name=f"m{i}") for i, t in enumerate(RANKED)]
        ranking.create_item(project, prompt, responses)
    for n in range(2):
        factories.item(
            project,
            kind="likert",
            text_a=LIKERT_TEXT,
            prompt_obj=factories.prompt(project, text=f"How long do I cook spaghetti? ({n})"),
        )
    return project


def current(page):
    form = page.locator("#item-form")
    return form.get_attribute("data-kind"), Assignment.objects.get(pk=form.get_attribute("data-assignment"))


def submit_and_wait(page, assignment):
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        """(pk) => { const f = document.getElementById('item-form');
                     return !f || f.dataset.assignment !== String(pk); }""",
        arg=assignment.pk,
    )


def canonical(display_ranks, swapped):
    """The stored ranking for ranks typed in display order: dense, and reversed back when swapped."""
    dense = ranking.dense(display_ranks)
    return dense[::-1] if swapped else dense


def display_ranks(page):
    n = page.locator("[data-rank-input]").count()
    return [int(page.locator(f'select[name="rank:{slot}"]').input_value() or 0) for slot in range(n)]


def check_form(page, name):
    """Screens at 1366×768 and 390 px; no sideways scroll at either; no serious axe finding."""
    assert axe_violations(page) == [], name
    size = page.viewport_size
    for width, height in ((1366, 768), (390, 844)):
        page.set_viewport_size({"width": width, "height": height})
        overflow = page.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px at {width}px"
        shot(page, f"{name}-{width}")
    page.set_viewport_size(size)


def rank_by_keys(page, swapped):
    # The item just opened, nothing focused: digits rank the first unranked card and move on,
    # A=2, B=1, C=3, D=2 (A and D tie).
    assert page.evaluate("document.activeElement === document.body")
    for key in "2132":
        page.keyboard.press(key)
    assert display_ranks(page) == [2, 1, 3, 2]
    # Alt+↓ on the first card moves it below the second and renumbers 1..4 in list order (the tie is
    # gone); Alt+↑ moves it back. Then digits on the focused card restore the tie.
    page.locator('[data-rank-slot="0"]').focus()
    page.keyboard.press("Alt+ArrowDown")
    assert page.evaluate("document.activeElement.dataset.rankSlot") == "0"
    assert display_ranks(page) == [2, 1, 3, 4]
    page.keyboard.press("Alt+ArrowUp")
    assert display_ranks(page) == [1, 2, 3, 4]
    page.locator('[data-rank-slot="0"]').focus()
    for key in "2132":
        page.keyboard.press(key)
    assert display_ranks(page) == [2, 1, 3, 2]
    return canonical([2, 1, 3, 2], swapped)


def rank_by_drag(page, swapped):
    # Drag D onto the top half of A: D goes first and the list renumbers D=1, A=2, B=3, C=4. The
    # window is tall enough to hold both cards (a scroll mid-drag would end it).
    size = page.viewport_size
    page.set_viewport_size({"width": size["width"], "height": 2000})
    target = page.locator('[data-rank-slot="0"]')
    page.locator('[data-rank-slot="3"] header .side').drag_to(target, target_position={"x": 40, "y": 8})
    page.set_viewport_size(size)
    order = page.eval_on_selector_all("[data-rank-slot]", "els => els.map(e => e.dataset.rankSlot)")
    assert order == ["3", "0", "1", "2"]
    assert display_ranks(page) == [2, 3, 4, 1]
    # Then a tie by key: C gets rank 3, like B.
    page.locator('[data-rank-slot="2"]').focus()
    page.keyboard.press("3")
    assert display_ranks(page) == [2, 3, 3, 1]
    return canonical([2, 3, 3, 1], swapped)


def checked_ratings(page):
    return page.evaluate(
        """() => Object.fromEntries(Array.from(document.querySelectorAll('#item-form input[type=radio]:checked'))
                  .map(i => [i.name.slice('likert:'.length), Number(i.value)]))"""
    )


def rate_with_a_refusal(page, assignment):
    # Two digits with nothing focused rate the first two aspects; submitting is refused.
    page.keyboard.press("3")
    page.keyboard.press("4")
    assert checked_ratings(page) == {"helpfulness": 3, "correctness": 4}
    page.keyboard.press("Control+Enter")
    page.wait_for_selector(".likert .field-error")
    error = page.locator(".likert .field-error").inner_text()
    assert "rate every aspect; missing: coherence, complexity, verbosity" in error
    assert checked_ratings(page) == {"helpfulness": 3, "correctness": 4}  # kept
    shot(page, "likert-refused")
    assert not Annotation.objects.filter(item=assignment.item).exists()
    # g goes to the first unrated aspect; digits rate it and move on.
    page.keyboard.press("g")
    assert page.evaluate("document.activeElement.name") == "likert:coherence"
    for key in "412":
        page.keyboard.press(key)
    return {"helpfulness": 3, "correctness": 4, "coherence": 4, "complexity": 1, "verbosity": 2}


def rate_every_aspect(page):
    for key in "20413":
        page.keyboard.press(key)
    return dict(zip(HS2, (2, 0, 4, 1, 3)))


def test_rank_and_rate_by_keyboard_and_drag(live_server, browser_page):
    page = browser_page
    project = build_project()
    user = factories.user("ranker", project=project)
    base = live_server.url
    login(page, base, "ranker")
    page.goto(base + reverse("annotate:workspace", args=[project.pk]))
    # The guidelines explain the two kinds this project asks for, not the three it does not.
    guidance = page.eval_on_selector_all(".kind-guidance [data-kind]", "els => els.map(e => e.dataset.kind)")
    assert guidance == ["ranking", "likert"]

    expected, ranked, rated = {}, 0, 0
    for _ in range(4):
        page.wait_for_selector("#item-form")
        kind, assignment = current(page)
        if kind == "ranking":
            # The first shown reversed (swapped), the second not: both display orders are covered.
            Assignment.objects.filter(pk=assignment.pk).update(swapped=ranked == 0)
            page.reload()
            kind, assignment = current(page)
            assert assignment.swapped is (ranked == 0)
            first_shown = page.locator('[data-rank-slot="0"] .md').inner_text().strip()
            assert first_shown == (RANKED[-1] if assignment.swapped else RANKED[0])
            if ranked == 0:
                check_form(page, "form-ranking")
                expected[assignment.item_id] = ("ranking", rank_by_keys(page, assignment.swapped))
            else:
                expected[assignment.item_id] = ("ranking", rank_by_drag(page, assignment.swapped))
            shot(page, f"form-ranking-entered-{ranked}")
            ranked += 1
        else:
            assert kind == "likert"
            if rated == 0:
                check_form(page, "form-likert")
                expected[assignment.item_id] = ("likert_ratings", rate_with_a_refusal(page, assignment))
            else:
                expected[assignment.item_id] = ("likert_ratings", rate_every_aspect(page))
            assert checked_ratings(page) == expected[assignment.item_id][1]
            shot(page, f"form-likert-entered-{rated}")
            rated += 1
        submit_and_wait(page, assignment)
    page.wait_for_selector("text=Nothing left for you right now")

    assert (ranked, rated) == (2, 2)
    labels = {a.item_id: a for a in Annotation.objects.filter(annotator__user=user)}
    assert set(labels) == set(expected)
    for item_id, (field, value) in expected.items():
        assert getattr(labels[item_id], field) == value, (item_id, field)
    assert csp_violations(page) == []
