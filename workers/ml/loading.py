"""ModelSpec → a loaded model and tokenizer, with the real `from_pretrained(path_or_id)`.

The device follows the worker: a GPU worker sees the GPU(s) CUDA_VISIBLE_DEVICES exposes and takes
the first; without one everything runs on the CPU. Loaded models are cached per process (a worker
runs many tasks with the same model), keyed by the spec's fields so an edited spec reloads.
"""

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import torch


class ModelSpecLike(Protocol):
    """What loading reads of a `workers.models.ModelSpec` (or the plain copy the cache is keyed by)."""

    @property
    def path_or_id(self) -> str: ...
    @property
    def dtype(self) -> str: ...
    @property
    def max_length(self) -> int: ...
    @property
    def chat_template(self) -> str: ...


DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
    "float16": "float16",
    "fp16": "float16",
}


def device() -> str:
    import torch

    if torch.cuda.is_available():  # honours CUDA_VISIBLE_DEVICES
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def torch_dtype(name: str | None, on: str | None = None) -> "torch.dtype":
    import torch

    on = on or device()
    if not name or name == "auto":
        # Half precision only where the hardware does it well; the CPU trains in float32.
        if on == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    if name not in DTYPES:
        raise ValueError(f"unknown dtype {name!r}; one of auto, {', '.join(sorted(set(DTYPES.values())))}")
    return getattr(torch, DTYPES[name])


def load_tokenizer(spec: ModelSpecLike, padding_side: str = "left") -> Any:
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(spec.path_or_id)
    if spec.chat_template:
        tokenizer.chat_template = spec.chat_template
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    tokenizer.padding_side = padding_side
    if padding_side == "left":  # generation: keep the end of a long prompt, where the answer starts
        tokenizer.truncation_side = "left"
    tokenizer.model_max_length = min(tokenizer.model_max_length or spec.max_length, spec.max_length)
    return tokenizer


def load_causal_lm(spec: ModelSpecLike, on: str | None = None) -> Any:
    from transformers import AutoModelForCausalLM

    on = on or device()
    model: Any = AutoModelForCausalLM.from_pretrained(spec.path_or_id, dtype=torch_dtype(spec.dtype, on))
    return model.to(on).eval()


@functools.lru_cache(maxsize=2)
def _cached(path_or_id, dtype, max_length, chat_template, on):
    from types import SimpleNamespace

    spec = SimpleNamespace(path_or_id=path_or_id, dtype=dtype, max_length=max_length, chat_template=chat_template)
    return load_causal_lm(spec, on), load_tokenizer(spec)


def release() -> None:
    """Drop cached generation models (before a fine-tune needs the accelerator's memory). A full
    garbage collection costs a few tenths of a second, so it runs only when there was a model to free."""
    if _cached.cache_info().currsize == 0:
        return
    _cached.cache_clear()
    import gc

    gc.collect()
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def load_for_generation(spec: ModelSpecLike) -> tuple[Any, Any]:
    """(model, tokenizer) ready for batched generation, cached per worker process."""
    return _cached(spec.path_or_id, spec.dtype, spec.max_length, spec.chat_template, device())


def chat_prompt(tokenizer: Any, messages: list[dict[str, str]]) -> str:
    """Render a conversation for generation, with or without a chat template."""
    if tokenizer.chat_template:
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return "\n\n".join(f"{m['role']}: {m['content']}" for m in messages) + "\n\nassistant: "


def input_token_limit(model: Any, spec: ModelSpecLike, max_new_tokens: int) -> int:
    """How many prompt tokens fit: the smaller of the model's positions and the spec's max_length,
    less the room the reply needs."""
    positions = getattr(model.config, "max_position_embeddings", None) or spec.max_length
    return max(8, min(positions, spec.max_length) - max_new_tokens)


def generate(
    spec: ModelSpecLike,
    conversations: list[list[dict[str, str]]],
    max_new_tokens: int = 128,
    batch_size: int = 8,
    temperature: float = 0.0,
    on_batch: Callable[[int, list[str]], object] | None = None,
    seed: int = 0,
    top_p: float = 1.0,
    max_input_tokens: int | None = None,
) -> list[str]:
    """Generate one reply per conversation, in left-padded batches (the one generation loop: runs,
    rationales and local judges all use it). `on_batch(offset, replies)` after each batch (save
    partial work, progress, cancellation). Over-long prompts lose their beginning (the system
    prompt), never the request at their end. Returns the replies in order."""
    import torch

    model, tokenizer = load_for_generation(spec)
    tokenizer.padding_side = tokenizer.truncation_side = "left"
    limit = max_input_tokens or input_token_limit(model, spec, max_new_tokens)
    replies = []
    for start in range(0, len(conversations), batch_size):
        batch = [chat_prompt(tokenizer, c) for c in conversations[start : start + batch_size]]
        enc = tokenizer(
            batch,
            return_tensors="pt",
            padding=True,
            truncation=True,
            max_length=limit,
            add_special_tokens=False,
        ).to(model.device)
        kwargs = {"max_new_tokens": max_new_tokens, "pad_token_id": tokenizer.pad_token_id}
        if temperature > 0:
            torch.manual_seed(seed + start)
            kwargs.update(do_sample=True, temperature=temperature, top_p=top_p)
        else:
            kwargs.update(do_sample=False)
        with torch.inference_mode():
            out = model.generate(**enc, **kwargs)
        texts = [
            storable(t).strip()
            for t in tokenizer.batch_decode(out[:, enc["input_ids"].shape[1] :], skip_special_tokens=True)
        ]
        if on_batch:
            on_batch(start, texts)
        replies.extend(texts)
    return replies


def storable(text: str) -> str:
    """Model output as text PostgreSQL can store: a NUL character (which a model, a tiny random one
    especially, can emit) is refused by text and JSONB columns, so it is dropped."""
    return text.replace("\x00", "") if text else text
