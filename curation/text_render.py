"""A conversation → the prompt and completion strings of TRL's *text* formats.

TRL's text rows are plain strings that the trainer tokenises as they are (it applies a chat template
only to conversational rows), so a text prompt must carry the whole conversation itself. Tandem
renders it the way Anthropic's hh-rlhf transcripts are written, which TRL's own hh-rlhf text
datasets use:

    prompt      "\\n\\nHuman: {turn}\\n\\nAssistant: {turn}…\\n\\nHuman: {last turn}\\n\\nAssistant:"
    completion  " {response}"          (a leading space, so prompt + completion is the transcript)

Roles: user → Human, assistant → Assistant, any other role capitalised (system → System).
A single-turn prompt is rendered the same way, so every row of a dataset has one shape.

The rendering is a function of the message list alone, as is the prompt's content hash that
decides its train/test side (annotate/content.py), so two rows whose rendered prompts are equal
share a split. For a model's own chat template, the export takes `template=<model>` (rendered by
TRL's apply_chat_template, curation/formats.to_format's `render`), or use the conversational
formats: TRL applies the tokenizer's template to them (the in-app fine-tunes do so whenever the
model has a template).

curation/formats.py renders the same strings in SQL for the COPY fast path; the parity test in
tests/test_export_api.py holds the two together.
"""

ROLE_LABELS = {"user": "Human", "assistant": "Assistant"}
ASSISTANT_CUE = "\n\nAssistant:"


def role_label(role: str) -> str:
    return ROLE_LABELS.get(role) or role[:1].upper() + role[1:].lower()


def render_prompt(messages: list[dict]) -> str:
    """The whole conversation before the answer, ending with the assistant's cue."""
    return "".join(f"\n\n{role_label(m['role'])}: {m['content']}" for m in messages) + ASSISTANT_CUE


def render_completion(text: str) -> str:
    return " " + text
