import pytest

from tests import workers_helpers as wh
from tests.workers_helpers import tiny_model_dir  # noqa: F401
from workers.ml import loading

pytestmark = pytest.mark.django_db


def test_model_spec_loads_with_from_pretrained(tiny_model_dir):
    import torch

    spec = wh.model_spec(tiny_model_dir, chat_template="{% for m in messages %}[{{ m['content'] }}]{% endfor %}")
    model = loading.load_causal_lm(spec)
    assert model.dtype == torch.float32 and str(model.device) == "cpu"
    tok = loading.load_tokenizer(spec)
    assert tok.padding_side == "left" and tok.truncation_side == "left" and tok.model_max_length <= 256
    assert loading.chat_prompt(tok, [{"role": "user", "content": "hi"}]) == "[hi]"  # the spec's template wins


def test_dtype_and_device(monkeypatch):
    import torch

    assert loading.torch_dtype("auto", "cpu") == torch.float32
    assert loading.torch_dtype("bf16", "cpu") == torch.bfloat16
    with pytest.raises(ValueError, match="unknown dtype"):
        loading.torch_dtype("int3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert loading.device() in ("cpu", "mps")


def test_batched_generation_in_order(tiny_model_dir):
    spec = wh.model_spec(tiny_model_dir)
    seen = []
    convs = [[{"role": "user", "content": f"question {i}"}] for i in range(5)]
    out = loading.generate(
        spec, convs, max_new_tokens=4, batch_size=2, on_batch=lambda off, texts: seen.append((off, len(texts)))
    )
    assert len(out) == 5 and seen == [(0, 2), (2, 2), (4, 1)]
    single = loading.generate(spec, convs[3:4], max_new_tokens=4)
    assert single == [out[3]]  # greedy: batching and padding do not change the answer


def test_release_frees_cached_generation_models_and_is_free_when_none(tiny_model_dir, monkeypatch):
    import gc

    loading.release()  # models cached by earlier tests in this process
    spec = wh.model_spec(tiny_model_dir)
    loading.load_for_generation(spec)
    assert loading._cached.cache_info().currsize == 1
    collections = []
    monkeypatch.setattr(gc, "collect", lambda *a: collections.append(a) or 0)
    loading.release()
    assert loading._cached.cache_info().currsize == 0 and len(collections) == 1
    loading.release()  # nothing cached: no full collection (it costs tenths of a second per fine-tune)
    assert len(collections) == 1
