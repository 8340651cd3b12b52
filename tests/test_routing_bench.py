"""The routing benches' inputs: the synthetic generator is deterministic and matches the bundled
file, real dataset shapes are read (MultiPref-style rows, hh-rlhf transcripts), bad rows are named.
(Whether routing beats random on the synthetic set is tested in tests/test_ppm.py.)"""

import json
from pathlib import Path

import pytest

from bench import routing as bench
from bench import routing_real
from bench.data.make_routing_synthetic import generate

DATA = Path(bench.__file__).resolve().parent / "data" / "routing_synthetic.jsonl"


def test_generator_is_deterministic_and_matches_bundled_file():
    assert generate(50, seed=3) == generate(50, seed=3)
    bundled = [json.loads(line) for line in DATA.read_text().splitlines()]
    assert bundled == json.loads(json.dumps(generate(len(bundled), seed=0)))


@pytest.mark.parametrize(
    "row,human,judges",
    [
        ({"prompt": "p", "response_1": "a", "response_2": "b", "preference_strength": 2, "lm": -1}, 2, {"lm": -1}),
        (
            {
                "prompt": "p",
                "response_a": "a",
                "response_b": "b",
                "overall_pref": "A-is-clearly-better",
                "judges": {"gpt4": "B-is-slightly-better"},
            },
            -2,
            {"gpt4": 1},
        ),
        (
            {"prompt": "p", "response_a": "a", "response_b": "b", "human": [1, 3, -1], "judges": {"j": "[[A]]"}},
            1,
            {"j": -2},
        ),
        (  # allenai/multipref as released: human labels only (the bench's own judge labels it)
            {
                "text": "p",
                "completion_a": "a",
                "completion_b": "b",
                "normal_worker_annotations": [{"overall_pref": "A-is-clearly-better"}, {"overall_pref": "Tie"}],
                "expert_worker_annotations": [{"overall_pref": "A-is-slightly-better"}],
            },
            -1,
            {},
        ),
    ],
)
def test_real_dataset_shapes_are_read(row, human, judges):
    out = bench.normalise(row, 0)
    assert out["human"] == human and out["judges"] == judges


def test_bad_rows_are_named():
    with pytest.raises(ValueError, match="row 7"):
        bench.normalise({"prompt": "p", "response_a": "a"}, 7)


def test_hh_transcripts_split_into_prompt_and_final_replies(tmp_path):
    chosen = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help me?\n\nAssistant: Sure, here is how."
    rejected = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help me?\n\nAssistant: No."
    prompt, good, bad = routing_real.split_transcripts(chosen, rejected)
    assert prompt.endswith("help me?\n\nAssistant:") and good == "Sure, here is how." and bad == "No."
    path = tmp_path / "hh.jsonl"
    path.write_text(
        "\n".join(json.dumps({"chosen": chosen.replace("how", f"how {i}"), "rejected": rejected}) for i in range(40))
    )
    rows = routing_real.read_rows(path)
    assert len(rows) == 40 and all(r["judge"] is None for r in rows)
    # the human's choice is on A or B at random, and always the chosen reply
    assert 5 < sum(r["human"] == 1 for r in rows) < 35
    assert all((r["b"] if r["human"] == 1 else r["a"]).startswith("Sure") for r in rows)
