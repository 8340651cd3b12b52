"""Tiny models built on the spot, for tests, benchmarks and the demo on machines that cannot
download weights. They load through the same `from_pretrained(path)` as a real model."""

from collections.abc import Iterable
from pathlib import Path
from typing import Any

CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "<|{{ message['role'] }}|>\n{{ message['content'] }}{{ eos_token }}\n"
    "{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% endif %}"
)

_CORPUS = [
    "Which response is better? Answer with a verdict from -3 to 3 and a short rationale.",
    "Response A is more helpful, truthful and harmless than response B.",
    "The user asked a question about python code, math, history, travel and cooking.",
    "Verdict: 2. Rationale: B answers the question directly and correctly.",
    "Thumbs up or down. Does the response follow the principle? yes no",
    "def add(a, b): return a + b  # a small function",
    "The capital of France is Paris. Water boils at 100 degrees Celsius.",
    "I cannot help with that request because it is unsafe.",
    "0 1 2 3 4 5 6 7 8 9 -1 -2 -3 + - * / = ( ) [ ] { } : ; , . ! ? ' \"",
]


def build_tokenizer(out_dir: str | Path, vocab_size: int = 512, extra_texts: Iterable[str] = ()) -> Any:
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>", "<|system|>", "<|user|>", "<|assistant|>"]
    tok = Tokenizer(models.BPE(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=specials, initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    tok.train_from_iterator(list(_CORPUS) + list(extra_texts), trainer=trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, bos_token="<s>", eos_token="</s>", pad_token="<pad>", unk_token="<unk>"
    )
    fast.chat_template = CHAT_TEMPLATE
    fast.save_pretrained(out_dir)
    return fast


def _tiny_llama(out_dir: str | Path, seed: int, hidden_size: int, layers: int, extra_texts: Iterable[str], **config):
    """(directory, tokenizer, LlamaConfig) of a tiny Llama: a trained BPE tokenizer saved in the
    directory, the seed set for the weights the caller builds next."""
    import torch
    from transformers import LlamaConfig

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer = build_tokenizer(out, extra_texts=extra_texts)
    torch.manual_seed(seed)
    llama = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden_size,
        intermediate_size=hidden_size * 2,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=1024,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        **config,
    )
    return out, tokenizer, llama


def build_tiny_causal_lm(
    out_dir: str | Path, seed: int = 0, hidden_size: int = 32, layers: int = 2, extra_texts: Iterable[str] = ()
) -> str:
    """A Llama-shaped causal LM with a trained BPE tokenizer; returns the directory."""
    from transformers import LlamaForCausalLM

    out, tokenizer, config = _tiny_llama(out_dir, seed, hidden_size, layers, extra_texts, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    model.save_pretrained(out)
    return str(out)


def build_tiny_reward_model(
    out_dir: str | Path, seed: int = 0, hidden_size: int = 32, layers: int = 2, extra_texts: Iterable[str] = ()
) -> str:
    """A Llama-shaped sequence-classification reward model (one logit) with a trained BPE tokenizer."""
    from transformers import LlamaForSequenceClassification

    out, _, config = _tiny_llama(out_dir, seed, hidden_size, layers, extra_texts)
    config.num_labels = 1  # one reward logit (set after: LlamaConfig's signature does not declare it)
    LlamaForSequenceClassification(config).save_pretrained(out)
    return str(out)
