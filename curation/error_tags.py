"""The bias audit's LM-tagged property: does a response contain an error?

A project configures a tagger by giving one of its generative judges (backend `transformers` or
`openai`) the parameter `"error_tagger": true`. The tagging runs in a worker
(workers/tasks/error_tags.py), never in a request: each response of the project's pairwise items
that this tagger has not tagged yet is asked about once, in batches through the judge's backend
(the same generation loop judging uses), and the first "yes" or "no" of the answer is stored as
an ErrorTag (None when the answer has neither). Responses whose request failed are not stored, so
a re-run asks again. The audit (curation/bias.py) adds `errors` (B's error minus A's) to the
property dissection once every tagged item has both sides tagged; until the task ran it says
"not computed".
"""

import re
from dataclasses import dataclass

from django.db.models import Q

from annotate.errors import Invalid
from annotate.judging.backends import RequestFailed, backend_for
from annotate.models import FeedbackKind, Item, LMJudge, Response
from curation.models import ErrorTag

GENERATIVE = ("transformers", "openai")
BATCH = 64
SYSTEM = (
    "You check answers for mistakes. Reply with one word: yes if the response contains a factual, "
    "logical, mathematical or code error, no if it does not."
)
_ANSWER = re.compile(r"\b(yes|no)\b", re.I)


def tagger_for(project) -> LMJudge | None:
    """The project's configured error tagger, if any (the first by id)."""
    for judge in project.judges.filter(backend__in=GENERATIVE).order_by("pk"):
        if (judge.parameters or {}).get("error_tagger") is True:
            return judge
    return None


def parse_yes_no(text: str) -> bool | None:
    """True for yes, False for no: the first of the two words in the answer; None for neither."""
    match = _ANSWER.search((text or "")[:300])
    return None if match is None else match.group(1).lower() == "yes"


def conversation(prompt: str, response: str) -> list:
    return [
        {"role": "system", "content": SYSTEM},
        {
            "role": "user",
            "content": f"Question:\n{prompt}\n\nResponse:\n{response}\n\n"
            "Does the response contain an error? Answer yes or no.",
        },
    ]


def _responses(project):
    items = Item.objects.filter(project=project, kind=FeedbackKind.PAIRWISE)
    return Response.objects.filter(Q(pk__in=items.values("response_a_id")) | Q(pk__in=items.values("response_b_id")))


@dataclass
class TagResult:
    tagger: str
    asked: int
    stored: int
    unparsed: int
    failed: int


def tag_errors(project, judge=None, backend=None, log=print) -> TagResult:
    """Ask the tagger about every untagged response of the project's pairwise items."""
    judge = judge or tagger_for(project)
    if judge is None:
        raise Invalid(
            'no error tagger configured: give a generative judge of the project the parameter "error_tagger": true'
        )
    todo = list(
        _responses(project)
        .exclude(error_tags__tagger=judge.name)
        .order_by("pk")
        .values_list("pk", "prompt__text", "text")
    )
    backend = backend or backend_for(judge)
    stored = unparsed = failed = 0
    try:
        for start in range(0, len(todo), BATCH):
            chunk = todo[start : start + BATCH]
            answers = backend.generate([conversation(p, r) for _, p, r in chunk])
            tags = []
            for (pk, _, _), answer in zip(chunk, answers):
                if isinstance(answer, RequestFailed):
                    failed += 1
                    continue
                verdict = parse_yes_no(answer)
                unparsed += verdict is None
                tags.append(ErrorTag(response_id=pk, tagger=judge.name, has_error=verdict, answer=(answer or "")[:200]))
            ErrorTag.objects.bulk_create(tags, ignore_conflicts=True)  # a retried task keeps the first answer
            stored += len(tags)
            log(f"error tags: {min(start + BATCH, len(todo))}/{len(todo)} responses asked")
    finally:
        close = getattr(backend, "close", None)
        if close:
            close()
    return TagResult(judge.name, len(todo), stored, unparsed, failed)


def error_tags(project, tagger: str) -> dict:
    """{response id: has_error (True, False or None)} of the tagger's answers in the project."""
    return dict(
        ErrorTag.objects.filter(tagger=tagger, response__in=_responses(project)).values_list("response_id", "has_error")
    )
