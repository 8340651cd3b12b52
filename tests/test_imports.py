"""Imports: every shape in every format, bad rows (file, line, field named; nothing written), dedupe,
labels imported as annotations by a source annotator."""

import pytest
from django.core.management import CommandError, call_command

from annotate.imports import ImportFileError, import_items
from annotate.models import Annotation, Annotator, Item, Prompt, Response
from tests import factories
from tests.import_files import write

pytestmark = pytest.mark.django_db
FORMATS = ["jsonl", "csv", "parquet"]

CONVO = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "Capital of France?"},
]


def counts():
    return {m.__name__: m.objects.count() for m in (Prompt, Response, Item, Annotation, Annotator)}


def pair_texts(item):
    return item.response_a.text, item.response_b.text


def chosen_side(item):
    """Which response the source label prefers."""
    ann = item.annotations.get(annotator__kind="source")
    return item.response_a.text if ann.preference < 0 else item.response_b.text


# -- shapes, in every format -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_trl_explicit_prompt(tmp_path, project, fmt):
    rows = [{"prompt": f"What is {i}+{i}?", "chosen": str(2 * i), "rejected": str(2 * i + 1)} for i in range(10)]
    result = import_items(project, write(tmp_path / f"trl.{fmt}", rows))
    assert (result.shape, result.items_created, result.annotations_created) == ("preference", 10, 10)
    for item in Item.objects.filter(project=project):
        row = rows[int(item.prompt.text.split()[2].split("+")[0])]
        assert set(pair_texts(item)) == {row["chosen"], row["rejected"]}
        assert chosen_side(item) == row["chosen"]
        assert abs(item.annotations.get().preference) == 2
    annotator = Annotator.objects.get(kind="source")
    assert annotator.name == f"trl.{fmt}"
    # A/B order is shuffled so position never gives the label away.
    sides = [item.annotations.get().preference < 0 for item in Item.objects.all()]
    assert True in sides and False in sides


@pytest.mark.parametrize("fmt", FORMATS)
def test_hh_rlhf_transcripts(tmp_path, project, fmt):
    shared = "\n\nHuman: How do I boil an egg?\n\nAssistant: In water.\n\nHuman: For how long?\n\nAssistant:"
    rows = [{"chosen": shared + " About 9 minutes for hard-boiled.", "rejected": shared + " Forever."}]
    import_items(project, write(tmp_path / f"hh.{fmt}", rows))
    item = Item.objects.get()
    assert item.prompt.text == "For how long?"
    assert item.prompt.messages == [
        {"role": "user", "content": "How do I boil an egg?"},
        {"role": "assistant", "content": "In water."},
        {"role": "user", "content": "For how long?"},
    ]
    assert set(pair_texts(item)) == {"About 9 minutes for hard-boiled.", "Forever."}
    assert chosen_side(item) == "About 9 minutes for hard-boiled."


def test_hh_style_prompt_column(tmp_path, project):
    rows = [
        {
            "prompt": "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Tell me a joke\n\nAssistant:",
            "chosen": " Why did the chicken...",
            "rejected": " No.",
        }
    ]
    import_items(project, write(tmp_path / "hhp.jsonl", rows))
    prompt = Prompt.objects.get()
    assert prompt.text == "Tell me a joke"
    assert [m["role"] for m in prompt.messages] == ["user", "assistant", "user"]
    hh_prompt = "\n\nHuman: Capital of Peru?\n\nAssistant:"
    import_items(
        project,
        write(
            tmp_path / "hhp2.jsonl",
            [{"prompt": hh_prompt, "chosen": hh_prompt + " Lima.", "rejected": hh_prompt + " Cusco."}],
        ),
    )
    assert set(pair_texts(Item.objects.get(prompt__text="Capital of Peru?"))) == {"Lima.", "Cusco."}


@pytest.mark.parametrize("fmt", FORMATS)
def test_trl_conversational_explicit_and_implicit(tmp_path, project, fmt):
    rows = [
        {
            "prompt": CONVO,
            "chosen": [{"role": "assistant", "content": "Paris."}],
            "rejected": [{"role": "assistant", "content": "Lyon."}],
        },
        {
            "prompt": None,
            "chosen": CONVO[:2] + [{"role": "assistant", "content": "Hey."}],
            "rejected": CONVO[:2] + [{"role": "assistant", "content": "Go away."}],
        },
    ]
    import_items(project, write(tmp_path / f"conv.{fmt}", rows))
    first, second = Item.objects.order_by("id")
    assert first.prompt.messages == CONVO and first.prompt.text == "Capital of France?"
    assert chosen_side(first) == "Paris."
    assert second.prompt.messages == CONVO[:2] and second.prompt.text == "Hi"
    assert chosen_side(second) == "Hey."


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("strategy,pairs", [("best_worst", 1), ("all_pairs", 6), ("adjacent", 2)])
def test_completions_pairs_per_project_strategy(tmp_path, fmt, strategy, pairs):
    project = factories.project(pair_strategy=strategy)
    completions = [{"text": f"answer {s}", "model": f"m{s}", "score": s} for s in (7, 2, 9.5, 4)]
    import_items(project, write(tmp_path / f"uf.{fmt}", [{"prompt": "Explain TCP.", "completions": completions}]))
    assert Response.objects.count() == 4
    assert Item.objects.count() == pairs == Annotation.objects.count()
    assert Response.objects.get(text="answer 9.5").model_name == "m9.5"
    for item in Item.objects.all():
        score = {c["text"]: c["score"] for c in completions}
        a, b = (score[t] for t in pair_texts(item))
        pref = item.annotations.get().preference
        assert (pref > 0) == (b > a) and (pref < 0) == (a > b)
    if strategy == "best_worst":
        assert set(pair_texts(Item.objects.get())) == {"answer 9.5", "answer 2"}
        assert abs(Annotation.objects.get().preference) == 3


def test_ultrafeedback_raw_columns(tmp_path, project):
    row = {
        "source": "evol_instruct",
        "instruction": "Name a prime above 10.",
        "completions": [
            {
                "model": "alpaca-7b",
                "response": "12",
                "overall_score": 2.0,
                "fine-grained_score": 1.5,
                "principle": "honesty",
                "annotations": {},
            },
            {
                "model": "gpt-4",
                "response": "11",
                "overall_score": 9.0,
                "fine-grained_score": 5.0,
                "principle": "honesty",
                "critique": "Correct.",
            },
        ],
    }
    import_items(project, write(tmp_path / "uf.jsonl", [row]))
    item = Item.objects.get()
    assert item.prompt.text == "Name a prime above 10." and chosen_side(item) == "11"
    assert Response.objects.get(text="11").metadata == {"score": 9.0, "principle": "honesty", "critique": "Correct."}
    assert item.metadata["columns"] == {"source": "evol_instruct"}


def test_completions_without_scores_pair_unlabelled(tmp_path):
    project = factories.project(pair_strategy="all_pairs")
    import_items(project, write(tmp_path / "c.jsonl", [{"prompt": "p", "completions": ["x", "y", "z"]}]))
    assert Item.objects.count() == 3 and Annotation.objects.count() == 0 and Annotator.objects.count() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_helpsteer2_strength(tmp_path, project, fmt):
    rows = [
        {
            "prompt": "Write a haiku",
            "response_1": "one",
            "response_2": "two",
            "preference_strength": -3,
            "preference_elaboration": "The first follows 5-7-5.",
        },
        {"prompt": "Write a limerick", "response_1": "three", "response_2": "four", "preference_strength": 1},
        {"prompt": "Write a sonnet", "response_1": "five", "response_2": "six", "preference_strength": None},
    ]
    import_items(project, write(tmp_path / f"hs2.{fmt}", rows))
    assert Item.objects.count() == 3
    labels = {a.item.prompt.text: a for a in Annotation.objects.select_related("item__prompt")}
    assert labels["Write a haiku"].preference == -3 and labels["Write a haiku"].rationale == "The first follows 5-7-5."
    assert labels["Write a limerick"].preference == 1
    assert "Write a sonnet" not in labels
    haiku = Item.objects.get(prompt__text="Write a haiku")
    assert pair_texts(haiku) == ("one", "two")


HS2_INDIVIDUAL = [
    {
        "prompt": "Write a haiku",
        "response_1": "one",
        "response_2": "two",
        "preference_strength": -2,
        "individual_preference": [
            {"strength": -3, "justification": "@Response 1 follows 5-7-5."},
            {"strength": -2, "justification": "@Response 1 is a haiku."},
            {"strength": 1, "justification": "@Response 2 is warmer."},
        ],
    },
    {
        "prompt": "Write a limerick",
        "response_1": "three",
        "response_2": "four",
        "preference_strength": 2,
        "individual_preference": [
            {"strength": 2, "justification": "B rhymes."},
            {"strength": 3, "justification": "B scans."},
            {"strength": 2, "justification": "B is funny."},
        ],
    },
    {"prompt": "Write a sonnet", "response_1": "five", "response_2": "six", "preference_strength": 1},
]


@pytest.mark.parametrize("fmt", FORMATS)
def test_helpsteer2_individual_preferences_are_separate_human_sources(tmp_path, project, fmt):
    from curation.agreement import project_agreement
    from curation.labels import label_rows
    from curation.quality import dawid_skene, ds_table

    result = import_items(project, write(tmp_path / f"hs2p.{fmt}", HS2_INDIVIDUAL), source="hs2p")
    people = {a.name: a for a in Annotator.objects.filter(project=project, name__startswith="hs2p · annotator")}
    assert sorted(people) == ["hs2p · annotator 1", "hs2p · annotator 2", "hs2p · annotator 3"]
    assert all(a.kind == "source" and a.label_kind == "human" for a in people.values())
    haiku = {
        a.annotator.name: a
        for a in Annotation.objects.filter(item__prompt__text="Write a haiku").select_related("annotator")
    }
    assert {n: a.preference for n, a in haiku.items()} == {
        "hs2p · annotator 1": -3,
        "hs2p · annotator 2": -2,
        "hs2p · annotator 3": 1,
    }
    assert haiku["hs2p · annotator 1"].rationale == "@Response 1 follows 5-7-5."
    # the aggregate is derived from them: kept on the item, not counted as one more annotator
    assert Item.objects.get(prompt__text="Write a haiku").metadata["columns"]["preference_strength"] == -2
    sonnet = Annotation.objects.get(item__prompt__text="Write a sonnet")
    assert sonnet.annotator.name == "hs2p" and sonnet.preference == 1  # no individuals: the aggregate, as before
    assert result.annotations_created == 7 and result.label_kind == "mixed"
    # agreement and Dawid–Skene see three people on the individually labelled items
    agreement = project_agreement(project)
    assert agreement["pairwise"]["items_with_overlap"] == 2 and agreement["pairwise"]["alpha_ordinal"] is not None
    ds = dawid_skene(ds_table(label_rows(project), "pairwise"))
    assert {people[n].pk for n in people} <= set(ds.accuracy)
    again = import_items(project, write(tmp_path / f"hs2p-again.{fmt}", HS2_INDIVIDUAL), source="hs2p")
    assert again.annotations_created == 0  # re-import adds nothing


def test_helpsteer2_bad_individual_preference_names_the_field(tmp_path, project):
    rows = [{"prompt": "p", "response_1": "a", "response_2": "b", "individual_preference": [{"strength": 5}]}]
    with pytest.raises(ImportFileError, match=r"individual_preference\[0\]\.strength"):
        import_items(project, write(tmp_path / "bad.jsonl", rows))
    rows[0]["individual_preference"] = [{"justification": "no strength"}]
    with pytest.raises(ImportFileError, match="needs a strength"):
        import_items(project, write(tmp_path / "bad2.jsonl", rows))
    assert Annotation.objects.count() == 0 and Item.objects.count() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_binary_with_optional_labels(tmp_path, project, fmt):
    rows = [
        {"prompt": "q1", "response": "good", "label": True},
        {"prompt": "q2", "response": "bad", "label": False},
        {"prompt": "q3", "response": "unknown", "label": None},
    ]
    result = import_items(project, write(tmp_path / f"bin.{fmt}", rows), source="kto-set")
    assert result.kind == "binary" and Item.objects.filter(kind="binary").count() == 3
    thumbs = dict(Annotation.objects.values_list("item__response_a__text", "thumbs"))
    assert thumbs == {"good": "up", "bad": "down"}
    assert Annotator.objects.get().name == "kto-set"
    assert set(Prompt.objects.values_list("source", flat=True)) == {"kto-set"}


def test_trl_unpaired_completion_column_and_edit_flag(tmp_path, project):
    rows = [
        {
            "prompt": [{"role": "user", "content": "Fix my code"}],
            "completion": [{"role": "assistant", "content": "Here it is."}],
            "label": True,
        }
    ]
    result = import_items(project, write(tmp_path / "kto.jsonl", rows), as_kind="edit")
    item = Item.objects.get()
    assert result.kind == "edit" and item.kind == "edit" and item.response_b is None
    assert item.response_a.text == "Here it is." and item.response_a.metadata == {"source_label": "up"}
    assert Annotation.objects.count() == 0


@pytest.mark.parametrize("fmt", FORMATS)
def test_multi_turn_messages(tmp_path, project, fmt):
    rows = [{"messages": CONVO + [{"role": "assistant", "content": "Paris."}], "label": "up"}]
    import_items(project, write(tmp_path / f"msgs.{fmt}", rows))
    item = Item.objects.get()
    assert item.kind == "binary" and item.prompt.messages == CONVO and item.response_a.text == "Paris."
    assert Annotation.objects.get().thumbs == "up"


@pytest.mark.parametrize("fmt", FORMATS)
def test_other_columns_kept_on_the_item(tmp_path, project, fmt):
    rows = [
        {
            "id": "hh-0042",
            "prompt": "q",
            "chosen": "a",
            "rejected": "b",
            "split": "train",
            "turns": 3,
            "long": "x" * 5000,
        }
    ]
    import_items(project, write(tmp_path / f"extra.{fmt}", rows))
    meta = Item.objects.get().metadata
    assert meta["columns"] == {
        "id": "hh-0042",
        "split": "train",
        "turns": "3" if fmt == "csv" else 3,
    }  # CSV cells are text
    assert meta["import"] == {
        "source": f"extra.{fmt}",
        "file": f"extra.{fmt}",
        "where": "row index 0" if fmt == "parquet" else "line " + ("2" if fmt == "csv" else "1"),
    }


def test_shape_override(tmp_path, project):
    path = write(tmp_path / "x.jsonl", [{"prompt": "p", "response_1": "a", "response_2": "b", "messages": "ignored"}])
    import_items(project, path, shape="helpsteer2")
    assert Item.objects.get().kind == "pairwise"


# -- dedupe and source labels ------------------------------------------------------------------


def test_prompts_dedupe_by_content_hash_within_project(tmp_path, project):
    factories.prompt(project, text="Explain  recursion.")
    other = factories.project()
    factories.prompt(other, text="explain recursion.")
    rows = [
        {"prompt": "explain recursion.", "response": "r1"},
        {"prompt": "Explain recursion. ", "response": "r2"},
        {"prompt": "Explain recursion.", "response": "r1"},
    ]
    result = import_items(project, write(tmp_path / "d.jsonl", rows))
    assert Prompt.objects.filter(project=project).count() == 1
    assert (result.prompts_created, result.prompts_reused, result.items_created) == (0, 1, 2)
    assert Prompt.objects.filter(project=other).count() == 1


def test_reimport_is_a_no_op(tmp_path, project):
    rows = [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(5)]
    path = write(tmp_path / "p.jsonl", rows)
    import_items(project, path)
    before = counts()
    result = import_items(project, path)
    assert counts() == before and result.items_existing == 5 and result.annotations_created == 0


def test_second_source_labels_same_items(tmp_path, project):
    rows = [{"prompt": "q", "chosen": "yes", "rejected": "no"}]
    import_items(project, write(tmp_path / "a.jsonl", rows))
    swapped = [{"prompt": "q", "response_1": "no", "response_2": "yes", "preference_strength": 2}]
    result = import_items(project, write(tmp_path / "b.jsonl", swapped))
    assert result.items_created == 0 and Item.objects.count() == 1
    item = Item.objects.get()
    prefs = {a.annotator.name: a.preference for a in item.annotations.select_related("annotator")}
    # Both say "yes" is better, whichever order the file had the responses in.
    yes_is_b = item.response_b.text == "yes"
    assert (prefs["a.jsonl"] > 0) == yes_is_b and (prefs["b.jsonl"] > 0) == yes_is_b


def test_identical_pair_is_skipped_and_reported(tmp_path, project):
    rows = [{"prompt": "q", "chosen": "same", "rejected": "same"}, {"prompt": "r", "chosen": "a", "rejected": "b"}]
    result = import_items(project, write(tmp_path / "s.jsonl", rows))
    assert Item.objects.count() == 1 and result.identical == ["line 1"]
    assert "skipped 1 pair with identical responses (first: line 1)" in result.summary()
    # Nothing of the skipped pair is kept: no orphan prompt, no responses.
    assert list(Prompt.objects.values_list("text", flat=True)) == ["r"] and Response.objects.count() == 2


def test_sources_are_scoped_to_their_project(tmp_path):
    """Two projects importing under the same source name get two annotators; a person of that
    name is a third. One project's source labels never appear as another project's."""
    alice = factories.human(factories.user("alice"))
    first, second = factories.project(), factories.project()
    rows = [{"prompt": "q", "chosen": "a", "rejected": "b"}]
    import_items(first, write(tmp_path / "p.jsonl", rows), source="alice")
    import_items(second, write(tmp_path / "p.jsonl", rows), source="alice")
    sources = Annotator.objects.filter(name="alice", kind="source")
    assert sorted(a.project_id for a in sources) == sorted([first.pk, second.pk])
    assert alice.pk not in {a.pk for a in sources}
    for project in (first, second):
        assert set(
            Annotation.objects.filter(item__project=project).values_list("annotator__project_id", flat=True)
        ) == {project.pk}


def test_kind_the_project_does_not_collect(tmp_path):
    project = factories.project(feedback_kinds=["pairwise"])
    with pytest.raises(ImportFileError, match="does not collect binary feedback"):
        import_items(project, write(tmp_path / "b.jsonl", [{"prompt": "q", "response": "a"}]))
    edit_only = factories.project(feedback_kinds=["edit"])
    assert import_items(edit_only, write(tmp_path / "b.jsonl", [{"prompt": "q", "response": "a"}])).kind == "edit"


# -- bad rows: exact place named, nothing written ----------------------------------------------

GOOD = {"prompt": "fine", "chosen": "yes", "rejected": "no"}


@pytest.mark.parametrize(
    "bad,expected",
    [
        (
            {"prompt": "p", "chosen": None, "rejected": "no"},
            'line 3, field "chosen": expected a string or a list of messages, got null',
        ),
        (
            {"prompt": "p", "chosen": 42, "rejected": "no"},
            'line 3, field "chosen": expected a string or a list of messages, got number 42',
        ),
        (
            {"prompt": "p", "chosen": "yes", "rejected": "  "},
            'line 3, field "rejected": expected a string or a list of messages, got an empty string',
        ),
        (
            {"prompt": "p", "chosen": [{"role": "robot", "content": "x"}], "rejected": "no"},
            "line 3, field \"chosen\": messages[0].role 'robot'",
        ),
        (
            {"prompt": "p", "chosen": [{"role": "assistant"}], "rejected": "no"},
            'line 3, field "chosen[0]": a message needs both',
        ),
        ({"chosen": "just text", "rejected": "other"}, 'line 3, field "prompt": missing'),
        (
            {"prompt": "p", "response_1": "a", "response_2": "b", "preference_strength": 4},
            'line 3, field "preference_strength": expected an integer from -3 to 3, got number 4',
        ),
        (
            {"prompt": "p", "response": "a", "label": "maybe"},
            "line 3, field \"label\": expected true or false, got string 'maybe'",
        ),
        (
            {"messages": [{"role": "user", "content": "hi"}]},
            'line 3, field "messages[0]": the last message must be the assistant\'s response',
        ),
        (
            {"prompt": "p", "completions": [{"text": "a", "score": 1}, {"text": "b"}]},
            'line 3, field "completions[1].score": missing',
        ),
        (
            {"prompt": "p", "completions": [{"text": "a", "score": "high"}, {"text": "b", "score": 2}]},
            'line 3, field "completions[0].score": expected a number',
        ),
        (
            {"prompt": "p", "completions": [{"model": "m"}, {"text": "b"}]},
            'line 3, field "completions[0].text": missing',
        ),
        (
            {"prompt": "p", "chosen": "a", "rejected": "b", "metadata": [1]},
            'line 3, field "metadata": expected an object',
        ),
    ],
)
def test_bad_row_names_line_and_field_and_writes_nothing(tmp_path, project, bad, expected):
    shape = next(
        s
        for cols, s in (
            (("chosen",), "preference"),
            (("response_1",), "helpsteer2"),
            (("completions",), "completions"),
            (("messages",), "messages"),
            (("response",), "binary"),
        )
        if cols[0] in bad
    )
    good = {
        "preference": GOOD,
        "helpsteer2": {"prompt": "fine", "response_1": "a", "response_2": "b", "preference_strength": 1},
        "completions": {"prompt": "fine", "completions": [{"text": "a", "score": 1}, {"text": "b", "score": 2}]},
        "messages": {
            "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
            "label": True,
        },
        "binary": {"prompt": "fine", "response": "ok", "label": True},
    }[shape]
    factories.item(project)
    before = counts()
    path = write(
        tmp_path / "data.jsonl", [good, {**good, "prompt": "fine too"} if "prompt" in good else good, bad, good]
    )
    with pytest.raises(ImportFileError) as err:
        import_items(project, path)
    assert str(err.value).startswith(f"data.jsonl {expected}"), str(err.value)
    assert counts() == before


def test_bad_json_line(tmp_path, project):
    path = tmp_path / "data.jsonl"
    path.write_text('{"prompt": "a", "chosen": "b", "rejected": "c"}\n\n{"prompt": "a", "chosen": \n')
    with pytest.raises(ImportFileError, match=r"^data.jsonl line 3: invalid JSON"):
        import_items(project, path)
    assert Item.objects.count() == 0


def test_csv_line_counts_header_and_multiline_cells(tmp_path, project):
    path = tmp_path / "data.csv"
    path.write_text('prompt,chosen,rejected\n"first\nspans two lines",yes,no\nsecond,yes,no\nthird,yes,\n')
    with pytest.raises(ImportFileError) as err:
        import_items(project, path)
    assert (
        str(err.value)
        == 'data.csv line 5, field "rejected": expected a string or a list of messages, got an empty string'
    )
    assert counts()["Prompt"] == 0


def test_csv_too_many_cells(tmp_path, project):
    path = tmp_path / "data.csv"
    path.write_text("prompt,response\nq,a\nq2,a2,extra\n")
    with pytest.raises(ImportFileError, match=r"^data.csv line 3: 3 cells but the header names 2 columns"):
        import_items(project, path)


def test_parquet_names_row_index(tmp_path, project):
    rows = [GOOD, GOOD, {"prompt": "p", "chosen": "x", "rejected": None}]
    with pytest.raises(ImportFileError) as err:
        import_items(project, write(tmp_path / "data.parquet", rows))
    assert (
        str(err.value)
        == 'data.parquet row index 2, field "rejected": expected a string or a list of messages, got null'
    )
    assert counts()["Item"] == 0


def test_bad_row_at_the_end_of_a_large_file_writes_nothing(tmp_path, project):
    rows = [{"prompt": f"q{i}", "chosen": "a", "rejected": "b"} for i in range(3000)] + [
        {"prompt": "last", "chosen": "a", "rejected": False}
    ]
    before = counts()
    with pytest.raises(ImportFileError, match=r'line 3001, field "rejected": .*got boolean false'):
        import_items(project, write(tmp_path / "big.jsonl", rows))
    assert counts() == before


def test_nul_characters_are_refused_with_their_place(tmp_path, project):
    rows = [GOOD, {"prompt": "p", "chosen": "ok\x00", "rejected": "no"}]
    with pytest.raises(ImportFileError, match=r'line 2, field "chosen": contains a NUL character .* at position 2'):
        import_items(project, write(tmp_path / "nul.jsonl", rows))
    with pytest.raises(ImportFileError, match=r'line 1, field "metadata.note": contains a NUL'):
        import_items(project, write(tmp_path / "nul2.jsonl", [{**GOOD, "metadata": {"note": "a\x00b"}}]))
    assert counts()["Prompt"] == 0


def test_json_array_file(tmp_path, project):
    import json

    (tmp_path / "arr.json").write_text(json.dumps([GOOD, {"prompt": "two", "chosen": "a", "rejected": "b"}], indent=2))
    assert import_items(project, tmp_path / "arr.json").items_created == 2
    (tmp_path / "bad.json").write_text(json.dumps([GOOD, {"prompt": "two", "chosen": "a", "rejected": []}]))
    with pytest.raises(ImportFileError, match=r'^bad.json array index 1, field "rejected"'):
        import_items(project, tmp_path / "bad.json")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_imports_of_one_file_do_not_duplicate(tmp_path):
    import threading

    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL row locks")
    project = factories.project()
    path = write(tmp_path / "same.jsonl", [{"prompt": f"q{i}", "chosen": "yes", "rejected": "no"} for i in range(300)])
    errors, barrier = [], threading.Barrier(3)

    def run():
        from django.db import connection as own

        try:
            barrier.wait()
            import_items(project, path)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            own.close()

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert Prompt.objects.filter(project=project).count() == 300 == Item.objects.filter(project=project).count()
    assert Annotation.objects.filter(item__project=project).count() == 300


def test_unknown_shape_and_format(tmp_path, project):
    with pytest.raises(ImportFileError, match="cannot tell the shape from the columns"):
        import_items(project, write(tmp_path / "x.jsonl", [{"question": "q", "answer": "a"}]))
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(ImportFileError, match="cannot tell the file format"):
        import_items(project, tmp_path / "x.txt")
    (tmp_path / "empty.jsonl").write_text("\n")
    with pytest.raises(ImportFileError, match="^empty.jsonl: the file has no rows"):
        import_items(project, tmp_path / "empty.jsonl")


# -- the command -------------------------------------------------------------------------------


def test_import_items_command(tmp_path, project, capsys):
    path = write(tmp_path / "cmd.jsonl", [{"prompt": "q", "response": "a"}])
    call_command("import_items", project.name, str(path), "--as", "edit", "--source", "seed")
    assert Item.objects.get().kind == "edit"
    assert "1 new edit item " in capsys.readouterr().out
    bad = write(tmp_path / "bad.jsonl", [{"prompt": "q", "response": None}])
    with pytest.raises(CommandError, match='bad.jsonl line 1, field "response"'):
        call_command("import_items", str(project.pk), str(bad))
    with pytest.raises(CommandError, match="no project"):
        call_command("import_items", "nope", str(path))
    call_command("import_items", "brand new", str(path), "--create")
    assert Item.objects.filter(project__name="brand new").count() == 1


# -- admin upload ------------------------------------------------------------------------------


def _upload(client, project, name, content, **fields):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return client.post(
        f"/admin/annotate/project/{project.pk}/import/", {"file": SimpleUploadedFile(name, content), **fields}
    )


def test_admin_upload_imports_and_redirects(client, project, admin_user):
    client.force_login(admin_user)
    page = client.get(f"/admin/annotate/project/{project.pk}/change/")
    assert f"/admin/annotate/project/{project.pk}/import/" in page.content.decode()
    assert client.get(f"/admin/annotate/project/{project.pk}/import/").status_code == 200
    response = _upload(client, project, "up.csv", b"prompt,chosen,rejected\nq,yes,no\n", source="vendor-x")
    assert response.status_code == 302 and response.url == f"/admin/annotate/project/{project.pk}/change/"
    assert Item.objects.filter(project=project).count() == 1
    assert Annotation.objects.get().annotator.name == "vendor-x"
    assert "1 new pairwise item " in client.get(response.url).content.decode()


def test_admin_upload_bad_file_shows_error_and_writes_nothing(client, project, admin_user):
    client.force_login(admin_user)
    before = counts()
    response = _upload(
        client,
        project,
        "bad.jsonl",
        b'{"prompt": "q", "chosen": "a", "rejected": "b"}\n{"prompt": "q2", "chosen": "a", "rejected": 7}\n',
    )
    assert response.status_code == 400
    html = response.content.decode()
    assert "bad.jsonl line 2, field &quot;rejected&quot;: expected a string or a list of messages, got number 7" in html
    assert "nothing was imported" in html
    assert counts() == before


def test_admin_upload_spooled_to_disk(client, project, admin_user, settings):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # every upload becomes a TemporaryUploadedFile
    client.force_login(admin_user)
    response = _upload(client, project, "disk.csv", b"prompt,response,label\nq,a,true\nq2,b,false\n")
    assert response.status_code == 302 and Item.objects.filter(kind="binary").count() == 2


def test_admin_upload_as_edit_and_parquet(client, project, admin_user, tmp_path):
    client.force_login(admin_user)
    path = write(tmp_path / "e.parquet", [{"prompt": "q", "response": "draft"}])
    response = _upload(client, project, "e.parquet", path.read_bytes(), as_kind="edit")
    assert response.status_code == 302 and Item.objects.get().kind == "edit"


def test_admin_upload_is_for_managers_of_the_project(client, project, manager_user, annotator_user):
    manager_user.is_staff = True
    manager_user.save()
    other = factories.project()
    client.force_login(manager_user)
    assert _upload(client, project, "m.jsonl", b'{"prompt": "q", "response": "a"}\n').status_code == 302
    assert _upload(client, other, "m.jsonl", b'{"prompt": "q", "response": "a"}\n').status_code == 404
    assert Item.objects.filter(project=other).count() == 0
    client.force_login(annotator_user)  # not staff: sent to the admin login
    assert _upload(client, project, "m.jsonl", b'{"prompt": "q2", "response": "a"}\n').status_code == 302
    assert Prompt.objects.filter(text="q2").count() == 0


def test_admin_action_leads_to_the_upload_form(client, project, admin_user):
    client.force_login(admin_user)
    response = client.post(
        "/admin/annotate/project/", {"action": "import_items_action", "_selected_action": [project.pk]}
    )
    assert response.status_code == 302 and response.url == f"/admin/annotate/project/{project.pk}/import/"


@pytest.mark.parametrize("fmt", FORMATS)
def test_edited_column_becomes_source_edit(tmp_path, project, fmt):
    rows = [
        {"prompt": "Moon landing year?", "response": "It was 1968.", "edited": "It was 1969."},
        {"prompt": "Say hi", "response": "Hello", "edited": None},
    ]
    result = import_items(project, write(tmp_path / f"edits.{fmt}", rows), source="editors")
    assert result.kind == "edit" and Item.objects.filter(kind="edit").count() == 2
    ann = Annotation.objects.get()
    assert ann.kind == "edit" and ann.edited_text == "It was 1969." and ann.annotator.name == "editors"
    assert ann.diff == [["equal", "It was ", "It was "], ["replace", "1968.", "1969."]]
    assert 0 < ann.edit_distance <= 1


def test_not_a_parquet_file(tmp_path, project):
    (tmp_path / "fake.parquet").write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ImportFileError, match="^fake.parquet: not a readable Parquet file"):
        import_items(project, tmp_path / "fake.parquet")


def test_blank_source_falls_back_to_file_name(tmp_path, project):
    import_items(project, write(tmp_path / "s.jsonl", [GOOD]), source="   ")
    assert Annotator.objects.get().name == "s.jsonl"


def test_id_pool_never_reuses_ids(project):
    from django.db import transaction

    from annotate.bulk import IdPool, insert_rows

    last = factories.prompt(project)
    deleted = factories.prompt(project)
    deleted_id = deleted.pk
    deleted.delete()
    with transaction.atomic():
        pool = IdPool(Prompt, block=3)
        ids = [next(pool) for _ in range(5)]  # crosses a block boundary
        insert_rows(
            Prompt, ["id", "project_id", "text", "content_hash"], [(i, project.pk, f"t{i}", f"h{i}") for i in ids]
        )
    assert len(set(ids)) == 5 and min(ids) > max(last.pk, deleted_id)
    assert Prompt.objects.filter(pk__in=ids).count() == 5
    assert factories.prompt(project).pk > max(ids)  # the database's own counter moved past them


def test_dry_run_counts_and_writes_nothing(tmp_path, project, client, admin_user):
    rows = [{"prompt": f"q{i}", "chosen": "a", "rejected": "b"} for i in range(4)] + [
        {"prompt": "q0", "chosen": "a", "rejected": "b"}
    ]
    path = write(tmp_path / "dry.jsonl", rows)
    before = counts()
    result = import_items(project, path, dry_run=True)
    assert (result.items_created, result.items_existing, result.annotations_created) == (4, 1, 4)
    assert result.summary().startswith("checked, nothing written: ")
    assert counts() == before
    call_command("import_items", project.name, str(path), "--dry-run")
    assert counts() == before
    client.force_login(admin_user)
    response = _upload(client, project, "dry.jsonl", path.read_bytes(), dry_run="on")
    assert response.status_code == 302 and response.url.endswith("/import/")
    assert "checked, nothing written" in client.get(response.url).content.decode().lower()
    assert counts() == before


MULTIPREF = [
    {
        "comparison_id": "c1",
        "text": "How do I boil an egg?",
        "completion_a": "Put it in boiling water for 9 minutes.",
        "model_a": "tulu-2-70b",
        "completion_b": "Eggs are oval.",
        "model_b": "gpt-3.5-turbo",
        "normal_worker_annotations": [
            {"evaluator": "w-17", "overall_pref": "A-is-clearly-better", "helpful_pref": "A-is-clearly-better"},
            {"evaluator": "w-23", "overall_pref": "A-is-slightly-better", "overall_confidence": 3},
        ],
        "expert_worker_annotations": [{"evaluator": "x-02", "overall_pref": "Tie"}],
    },
    {
        "comparison_id": "c2",
        "text": "Name a prime.",
        "completion_a": "Four.",
        "completion_b": "Seven.",
        "normal_worker_annotations": [{"evaluator": "w-17", "overall_pref": "B-is-clearly-better"}],
        "expert_worker_annotations": [],
    },
]


def test_multipref_workers_are_human_sources_of_their_own(tmp_path, project):
    """Hybrid Preferences' own data as released: each worker's overall preference is a human label
    of its own source (named by the evaluator id), so agreement, Dawid–Skene and routing count them
    as people; the same worker across rows is one source."""
    result = import_items(project, write(tmp_path / "multipref.jsonl", MULTIPREF), source="multipref")
    assert result.items_created == 2 and result.annotations_created == 4 and result.label_kind == "human"
    egg = {
        a.annotator.name: a
        for a in Annotation.objects.filter(item__prompt__text="How do I boil an egg?").select_related("annotator")
    }
    assert {n: a.preference for n, a in egg.items()} == {
        "multipref · normal w-17": -2,
        "multipref · normal w-23": -1,
        "multipref · expert x-02": 0,
    }
    assert egg["multipref · normal w-17"].details["helpful_pref"] == "A-is-clearly-better"
    assert egg["multipref · normal w-23"].details["overall_confidence"] == 3
    assert Annotator.objects.filter(project=project, name="multipref · normal w-17").count() == 1
    assert all(a.annotator.is_human for a in egg.values())
    item = Item.objects.get(prompt__text="How do I boil an egg?")
    assert (item.response_a.model_name, item.response_b.model_name, item.human_label_count) == (
        "tulu-2-70b",
        "gpt-3.5-turbo",
        3,
    )
    assert item.metadata["columns"]["comparison_id"] == "c1"


def test_multipref_bad_preference_names_the_field_and_imports_nothing(tmp_path, project):
    rows = [{**MULTIPREF[0], "expert_worker_annotations": [{"overall_pref": "A-is-better-ish"}]}]
    with pytest.raises(ImportFileError, match=r"expert_worker_annotations\[0\]\.overall_pref"):
        import_items(project, write(tmp_path / "bad.jsonl", rows))
    assert Annotation.objects.count() == 0 and Item.objects.count() == 0
