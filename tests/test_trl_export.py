"""A training job pulls a snapshot over REST with a scoped token and trains on it with TRL, unchanged."""

import json
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse

from curation.models import ExportToken
from curation.snapshots import freeze_snapshot
from tests import curation_data as cd
from tests import factories

pytestmark = pytest.mark.django_db


def token_client(project):
    _, key = ExportToken.issue(project, "trainer", created_by=factories.user(project=project, role="manager"))
    return Client(HTTP_AUTHORIZATION=f"Token {key}")


def body(response):
    return b"".join(response.streaming_content) if response.streaming else response.content


def _download(client, url, path):
    r = client.get(url)
    assert r.status_code == 200, r.content[:300]
    path.write_bytes(b"".join(r.streaming_content) if r.streaming else r.content)
    return path


def _project_with_pairs(project, n=16):
    who = cd.person(project)
    for i in range(n):
        item = factories.item(
            project,
            prompt_obj=factories.prompt(project, text=f"What is {i} plus {i}?"),
            text_a=f"It is {2 * i}.",
            text_b=f"I cannot help with that {i}.",
        )
        cd.label(item, who, preference=-2, rationale="A answers the question.")


def test_dpo_trainer_runs_on_an_exported_snapshot(project, tmp_path):
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import DPOConfig, DPOTrainer

    from workers.ml.tiny_models import build_tiny_causal_lm

    _project_with_pairs(project)
    snapshot = freeze_snapshot(project, test_fraction=0.2)
    _, key = ExportToken.issue(project, "trainer", created_by=factories.user(project=project, role="manager"))
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    manifest = client.get(reverse("api:snapshot_manifest", args=[snapshot.pk])).json()
    train = _download(
        client,
        reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference&split=train",
        tmp_path / "train.jsonl",
    )
    conv = _download(
        client,
        reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference_conversational&split=train",
        tmp_path / "conv.jsonl",
    )

    model_dir = build_tiny_causal_lm(tmp_path / "tiny")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    for data_file, loss in ((train, "sigmoid"), (conv, "robust")):
        dataset = load_dataset("json", data_files=str(data_file), split="train")
        assert dataset.num_rows == manifest["counts"]["by_format"]["preference"]["train"] > 0
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        args = DPOConfig(
            output_dir=str(tmp_path / f"out-{loss}"),
            per_device_train_batch_size=4,
            max_steps=3,
            learning_rate=1e-3,
            max_length=64,
            report_to=[],
            logging_steps=1,
            save_strategy="no",
            loss_type=loss,
            label_smoothing=(manifest["label_smoothing"] or 0.1) if loss == "robust" else 0.0,
            use_cpu=True,
        )
        trainer = DPOTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer)
        result = trainer.train()
        assert result.global_step == 3
        losses = [h["loss"] for h in trainer.state.log_history if "loss" in h]
        assert losses and all(l == l for l in losses)  # finite (not NaN)


def test_exported_jsonl_loads_with_datasets(project, tmp_path):
    from datasets import load_dataset

    cd.labelled_project(project, pairs=5, binaries=3, edits=2)
    snapshot = freeze_snapshot(project, test_fraction=0)
    _, key = ExportToken.issue(project, "trainer", created_by=factories.user(project=project, role="manager"))
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    unpaired = _download(
        client, reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=unpaired", tmp_path / "kto.jsonl"
    )
    ds = load_dataset("json", data_files=str(unpaired), split="train")
    assert set(ds.column_names) >= {"prompt", "completion", "label"} and ds.num_rows == 3 + 2 * 7
    assert json.loads(unpaired.read_text().splitlines()[0])["label"] in (True, False)


def test_kto_trainer_runs_on_unpaired_export(project, tmp_path):
    """Binary thumbs and both sides of every pair, as TRL's KTOTrainer reads them."""
    from datasets import load_dataset
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import KTOConfig, KTOTrainer

    from workers.ml.tiny_models import build_tiny_causal_lm

    _project_with_pairs(project, n=6)
    who = cd.person(project)
    for i in range(6):
        item = factories.item(
            project,
            kind="binary",
            prompt_obj=factories.prompt(project, text=f"Capital of country {i}?"),
            text_a="Paris." if i % 2 else "I cannot help with that.",
        )
        cd.label(item, who, thumbs="up" if i % 2 else "down")
    snapshot = freeze_snapshot(project, test_fraction=0)
    _, key = ExportToken.issue(project, "trainer", created_by=factories.user(project=project, role="manager"))
    client = Client(HTTP_AUTHORIZATION=f"Token {key}")
    path = _download(
        client,
        reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=unpaired&split=train",
        tmp_path / "kto.jsonl",
    )
    dataset = load_dataset("json", data_files=str(path), split="train")
    assert dataset.num_rows == 6 + 2 * 6
    model_dir = build_tiny_causal_lm(tmp_path / "tiny")
    args = KTOConfig(
        output_dir=str(tmp_path / "kto"),
        per_device_train_batch_size=4,
        max_steps=2,
        learning_rate=1e-3,
        max_length=64,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
    )
    trainer = KTOTrainer(
        model=AutoModelForCausalLM.from_pretrained(model_dir),
        args=args,
        train_dataset=dataset,
        processing_class=AutoTokenizer.from_pretrained(model_dir),
    )
    assert trainer.train().global_step == 2


HH_DEV = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "hh_rlhf_harmless_dev.jsonl"


def _hh_multi_turn(tmp_path):
    """The multi-turn rows of the hh-rlhf dev file whose last Assistant turn is not empty."""
    rows = [json.loads(line) for line in HH_DEV.read_text().splitlines()]
    multi = [
        r
        for r in rows
        if r["chosen"].count("\n\nHuman:") >= 2
        and not any(r[side].rstrip().endswith("Assistant:") for side in ("chosen", "rejected"))
    ]
    path = tmp_path / "hh_multi.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in multi))
    return multi, path


@pytest.mark.skipif(not HH_DEV.exists(), reason="needs ../shared/data/hh_rlhf_harmless_dev.jsonl")
def test_text_exports_carry_the_whole_hh_rlhf_conversation(project, tmp_path):
    """Issue 17: the text formats held only the last user turn (71 % of hh-rlhf rows lost their history,
    and "Go on." was a prompt in both train and test)."""
    from annotate.imports import import_items
    from annotate.models import Item
    from curation.formats import can_copy

    multi, path = _hh_multi_turn(tmp_path)
    import_items(project, path, source="hh")
    snapshot = freeze_snapshot(project, test_fraction=0.3)
    client = token_client(project)

    def fold(text):  # the importer strips each turn
        return " ".join(text.split())

    transcripts = {(fold(r["chosen"]), fold(r["rejected"])) for r in multi}
    chosen_sides, rejected_sides = {c for c, _ in transcripts}, {r for _, r in transcripts}
    conversations = dict(Item.objects.filter(project=project).values_list("id", "prompt__messages"))
    engines = ("python", "copy") if can_copy() else ("python",)

    def rows(query):  # one export through the REST API, parsed
        url = reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?" + query
        return [json.loads(line) for line in body(client.get(url)).decode().splitlines()]

    for engine in engines:
        by_split, whole = {}, 0
        for split in ("train", "test"):
            by_split[split] = rows(f"format=preference&split={split}&engine={engine}")
            for row in by_split[split]:
                earlier = conversations[row["item_id"]]
                assert len(earlier) >= 3 and earlier[-1]["role"] == "user"
                position = 0
                for turn in earlier:  # every earlier turn, in order
                    position = row["prompt"].index(turn["content"], position)
                assert row["prompt"].endswith("\n\nAssistant:") and row["chosen"].startswith(" ")
                # prompt + completion is the hh-rlhf transcript itself (up to whitespace); a few hh rows
                # have sides whose histories differ, and only one of their sides can match
                pair = (fold(row["prompt"] + row["chosen"]), fold(row["prompt"] + row["rejected"]))
                assert pair[0] in chosen_sides or pair[1] in rejected_sides
                whole += pair in transcripts
        assert (
            sum(map(len, by_split.values()))
            == snapshot.counts["by_format"]["preference"]["train"] + snapshot.counts["by_format"]["preference"]["test"]
            > 1000
        )
        assert whole > 0.95 * sum(map(len, by_split.values()))
        assert by_split["test"] and not {r["prompt"] for r in by_split["train"]} & {
            r["prompt"] for r in by_split["test"]
        }
        unpaired = {split: rows(f"format=unpaired&split={split}&engine={engine}") for split in ("train", "test")}
        assert {r["prompt"] for r in unpaired["train"]} == {r["prompt"] for r in by_split["train"]}
        assert not {r["prompt"] for r in unpaired["train"]} & {r["prompt"] for r in unpaired["test"]}
        conv = rows(f"format=preference_conversational&engine={engine}")
        assert all(r["prompt"] == conversations[r["item_id"]] and r["chosen"][0]["role"] == "assistant" for r in conv)
        kto = rows(f"format=unpaired_conversational&engine={engine}")
        assert len(kto) == 2 * len(conv) and all(r["prompt"] == conversations[r["item_id"]] for r in kto)
    # rendered with a model's chat template instead: the same guarantees on the exported strings
    from workers.ml.tiny_models import build_tokenizer
    from workers.models import ModelSpec

    build_tokenizer(tmp_path / "tok")
    ModelSpec.objects.create(name="templated", path_or_id=str(tmp_path / "tok"))
    templated = {split: rows(f"format=preference&split={split}&template=templated") for split in ("train", "test")}
    for row in templated["train"] + templated["test"]:
        position = 0
        for turn in conversations[row["item_id"]]:
            position = row["prompt"].index(f"<|{turn['role']}|>\n{turn['content']}", position)
        assert row["prompt"].endswith("<|assistant|>\n") and row["chosen"].endswith("</s>\n")
    assert not {r["prompt"] for r in templated["train"]} & {r["prompt"] for r in templated["test"]}


def test_text_export_with_a_models_chat_template(project, tmp_path):
    """?template=<model> renders the text formats as TRL's apply_chat_template does; the model must be
    global or the project's own, and have a chat template."""
    from trl.data_utils import apply_chat_template

    from workers.ml.tiny_models import build_tokenizer
    from workers.models import ModelSpec

    tokenizer = build_tokenizer(tmp_path / "tok")
    ModelSpec.objects.create(name="templated", path_or_id=str(tmp_path / "tok"))
    conv = [
        {"role": "user", "content": "Hi, I am planning a trip."},
        {"role": "assistant", "content": "Where to?"},
        {"role": "user", "content": "Paris. What should I pack?"},
    ]
    item = factories.item(
        project,
        prompt_obj=factories.prompt(project, text=conv[-1]["content"], messages=conv),
        text_a="A coat.",
        text_b="Nothing.",
    )
    cd.label(item, cd.person(project), preference=-2)
    snapshot = freeze_snapshot(project, test_fraction=0)
    client = token_client(project)
    (row,) = [
        json.loads(line)
        for line in body(
            client.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference&template=templated")
        )
        .decode()
        .splitlines()
    ]
    expected = apply_chat_template(
        {
            "prompt": conv,
            "chosen": [{"role": "assistant", "content": "A coat."}],
            "rejected": [{"role": "assistant", "content": "Nothing."}],
        },
        tokenizer,
    )
    assert {k: row[k] for k in ("prompt", "chosen", "rejected")} == expected and row["item_id"] == item.pk
    assert row["prompt"].startswith("<|user|>\nHi, I am planning a trip.</s>\n<|assistant|>\nWhere to?")
    unpaired = [
        json.loads(line)
        for line in body(
            client.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=unpaired&template=templated")
        )
        .decode()
        .splitlines()
    ]
    assert [r["completion"] for r in unpaired] == [expected["chosen"], expected["rejected"]]
    parquet = client.get(
        reverse("api:snapshot_rows_parquet", args=[snapshot.pk]) + "?format=preference&template=templated"
    )
    assert parquet.status_code == 200
    theirs = factories.project()
    ModelSpec.objects.create(name="run-5-dpo", path_or_id=str(tmp_path / "tok"), project=theirs)
    r = client.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?format=preference&template=run-5-dpo")
    assert r.status_code == 400 and "no model of that name" in r.json()["template"]
    ModelSpec.objects.create(name="plain", path_or_id=str(tmp_path / "missing"))
    assert client.get(reverse("api:snapshot_rows_jsonl", args=[snapshot.pk]) + "?template=plain").status_code == 400
