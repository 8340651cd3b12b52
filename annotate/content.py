"""Normalising prompts: the text shown, the conversation, and the hash used for dedupe and splits."""

import hashlib
import json


def normalise_messages(messages):
    """[{role, content}, ...] with roles lower-cased and content stripped; rejects anything else."""
    if not isinstance(messages, list) or not messages:
        raise ValueError("messages must be a non-empty list of {role, content}")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or "role" not in message or "content" not in message:
            raise ValueError(f"messages[{i}] must have 'role' and 'content'")
        role = str(message["role"]).strip().lower()
        if role not in {"system", "user", "assistant", "tool"}:
            raise ValueError(f"messages[{i}].role {message['role']!r} is not system/user/assistant/tool")
        if not isinstance(message["content"], str):
            raise ValueError(f"messages[{i}].content must be text")
        out.append({"role": role, "content": message["content"]})
    return out


def prompt_hash(text, messages=None):
    payload = messages if messages else [{"role": "user", "content": text}]
    canonical = json.dumps([[m["role"], " ".join(m["content"].split()).lower()] for m in payload], ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()
