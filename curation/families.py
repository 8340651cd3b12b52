"""Model families from model names: the judge-bias audit's self-preference and the router's
"own family" feature both ask whether a judge rates its own family's output."""

# Model-name prefixes → family; the name's last path segment is matched first, then its owner
# ("meta-llama/…"). Extend here, not in callers.
FAMILY_PREFIXES = (
    ("gpt", "openai"),
    ("chatgpt", "openai"),
    ("o1", "openai"),
    ("o3", "openai"),
    ("o4", "openai"),
    ("text-davinci", "openai"),
    ("openai", "openai"),
    ("claude", "anthropic"),
    ("anthropic", "anthropic"),
    ("llama", "meta"),
    ("meta-llama", "meta"),
    ("meta", "meta"),
    ("qwen", "alibaba"),
    ("mistral", "mistral"),
    ("mixtral", "mistral"),
    ("ministral", "mistral"),
    ("codestral", "mistral"),
    ("gemini", "google"),
    ("gemma", "google"),
    ("palm", "google"),
    ("google", "google"),
    ("deepseek", "deepseek"),
    ("phi", "microsoft"),
)
FAMILIES = sorted({f for _, f in FAMILY_PREFIXES})


def family_of(model_name: str) -> str:
    """The model family a response's model name belongs to ('' when unknown)."""
    name = (model_name or "").strip().lower().replace("_", "-")
    for part in (name.rsplit("/", 1)[-1], name.split("/", 1)[0]):
        for prefix, family in FAMILY_PREFIXES:
            if part.startswith(prefix):
                return family
    return ""
