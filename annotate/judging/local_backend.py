"""A local transformers model as a judge: loaded in the worker (cached per process, so a GPU worker
holds one copy of a model whether it judges or writes rationales with it) and run through the
one batched generation loop, `workers.ml.loading.generate`."""

from types import SimpleNamespace

from annotate.judging.base import BackendError, JudgeBackend, generation_parameters
from workers.ml.loading import generate, load_for_generation
from workers.models import ModelSpec


def resolve_local(judge):
    """A ModelSpec-shaped record for the judge: its model may name a registered ModelSpec."""
    spec = ModelSpec.objects.filter(name=judge.model).first()
    if spec and spec.project_id is not None and set(judge.projects.values_list("pk", flat=True)) != {spec.project_id}:
        raise ValueError(f"model {spec.name} belongs to one project; a judge of other projects cannot use it")
    if spec:
        return spec
    p = judge.parameters or {}
    return SimpleNamespace(
        path_or_id=judge.model,
        dtype=p.get("dtype", "auto"),
        max_length=int(p.get("max_length", 4096)),
        chat_template=p.get("chat_template", ""),
    )


class TransformersBackend(JudgeBackend):
    key = "transformers"
    calls_server = False
    label = "Local transformers model (Celery worker)"
    queue = "gpu"

    def __init__(self, judge):
        super().__init__(judge)
        self.params = generation_parameters(judge)
        self.spec = resolve_local(judge)
        try:
            self.model, self.tokenizer = load_for_generation(self.spec)
        except (OSError, ValueError) as exc:
            raise BackendError(f"cannot load model {self.spec.path_or_id!r}: {exc}") from exc

    def generate(self, conversations):
        limit = (self.judge.parameters or {}).get("max_input_tokens")
        return generate(
            self.spec,
            conversations,
            max_new_tokens=self.params["max_new_tokens"],
            batch_size=self.params["batch_size"],
            temperature=self.params["temperature"],
            top_p=self.params["top_p"],
            max_input_tokens=max(16, int(limit)) if limit else None,
        )
