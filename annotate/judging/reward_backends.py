"""Reward-model judges: they score both responses of a pair, and the verdict comes from the margin
(`workers.ml.reward_heads.verdict_from_margin`): a sequence-classification reward model, or a
Bradley–Terry head on MiniLM embeddings trained in Tandem."""

from pathlib import Path

from annotate.judging.base import BackendError, JudgeBackend, PairScore
from workers.ml import embeddings
from workers.ml.reward_heads import EMBED_MAX_TOKENS, BradleyTerryHead, SequenceClassifierScorer, response_text
from workers.models import FineTuneMethod, FineTuneRun, ModelSpec

FINETUNE_PREFIX = "finetune:"


def reward_finetune(name: str) -> FineTuneRun | None:
    """The reward-model fine-tune run `finetune:<run id>` names (with its run), or None."""
    run_id = name.removeprefix(FINETUNE_PREFIX).strip()
    if not (run_id.isascii() and run_id.isdigit()):
        return None
    return FineTuneRun.objects.select_related("run").filter(run_id=int(run_id), method=FineTuneMethod.REWARD).first()


def resolve_reward_model(judge) -> str:
    """Path of the judge's reward model: a registered ModelSpec name, `finetune:<run id>` (a reward
    model fine-tuned in Tandem), or a local path / hub id."""
    name = judge.model
    if name.startswith(FINETUNE_PREFIX):
        ft = reward_finetune(name)
        if ft is None or not ft.output_dir:
            raise BackendError(f"no finished reward-model fine-tune run {name!r}")
        _only_its_project(judge, ft.run.project_id, f"fine-tune run {ft.run_id}")
        return str(Path(ft.output_dir) / "model")
    spec = ModelSpec.objects.filter(name=name).first()
    if spec is not None:
        _only_its_project(judge, spec.project_id, f"model {spec.name}")
    return spec.path_or_id if spec else name


def _only_its_project(judge, project_id, what):
    """A model trained on one project's data serves only judges of that project (as resolve_local)."""
    if project_id is not None and set(judge.projects.values_list("pk", flat=True)) != {project_id}:
        raise BackendError(f"{what} belongs to one project; a judge of other projects cannot use it")


def _conversation(item):
    return item.prompt.messages or [{"role": "user", "content": item.prompt.text}]


class SequenceClassifierBackend(JudgeBackend):
    """`AutoModelForSequenceClassification.from_pretrained(...)`: one reward per response."""

    key = "reward_model"
    calls_server = False
    label = "Reward model (sequence classification: scores both responses)"
    scoring = True
    queue = "gpu"

    def __init__(self, judge):
        super().__init__(judge)
        p = judge.parameters or {}
        path = resolve_reward_model(judge)
        try:
            self.scorer = SequenceClassifierScorer(
                path,
                max_length=int(p.get("max_length", 1024)),
                batch_size=int(p.get("batch_size", 8)),
                dtype=p.get("dtype", "auto"),
            )
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load reward model {path!r}: {exc}") from exc

    def score_pairs(self, items):
        texts = [self.scorer.text(_conversation(i), r.text) for i in items for r in (i.response_a, i.response_b)]
        scores = self.scorer.score(texts)
        return [PairScore(scores[2 * k], scores[2 * k + 1]) for k in range(len(items))]


class EmbeddingRewardBackend(JudgeBackend):
    """A Bradley–Terry head on MiniLM embeddings of response + prompt, trained by
    `annotate.judging.reward_training.train_embedding_judge` (weights in `parameters.bt_head`)."""

    key = "embedding_rm"
    calls_server = False
    loads_model = False  # the deployment's MiniLM and the head trained in Tandem; judge.model is a label
    label = "Embedding reward model (Bradley–Terry head on MiniLM, trained on a labelled slice)"
    scoring = True

    def __init__(self, judge):
        super().__init__(judge)
        try:
            self.head = BradleyTerryHead.from_json((judge.parameters or {}).get("bt_head"))
        except ValueError as exc:
            raise BackendError(
                f"judge {judge.name!r} is an embedding reward model that has not been trained yet; "
                "train it on a labelled slice first"
            ) from exc

    def score_pairs(self, items):
        texts = [response_text(i.prompt.text, r.text) for i in items for r in (i.response_a, i.response_b)]
        vectors = embeddings.embed(texts, max_tokens=EMBED_MAX_TOKENS).astype(float)
        scores = vectors @ self.head.weights
        return [PairScore(float(scores[2 * k]), float(scores[2 * k + 1])) for k in range(len(items))]
