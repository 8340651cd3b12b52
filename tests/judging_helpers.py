"""Test helpers for the judging area: a scripted OpenAI-compatible server in a thread."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from django.test import override_settings

from annotate.judging.base import JudgeBackend

# Judge servers on loopback are refused unless the deployment allow-lists them; the scripted server
# listens on 127.0.0.1, so tests that talk to it allow-list it as a deployment would.
allow_local_server = override_settings(JUDGE_ALLOWED_HOSTS=["127.0.0.1"])


class ScriptedServer:
    """`reply(body) -> (status, text_or_dict)` decides each answer; `script` (a list) overrides it
    for the first calls in order. Every request body is kept in `requests`."""

    def __init__(self, reply=None):
        self.reply = reply or (lambda body: (200, '{"verdict": 0, "rationale": "same"}'))
        self.script = []
        self.requests = []
        self.headers = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length) or b"{}")
                with server._lock:
                    server.requests.append(body)
                    server.headers.append(self.headers)  # names compare case-insensitively
                    status, content = server.script.pop(0) if server.script else server.reply(body)
                if status == 200 and isinstance(content, str):
                    payload = {
                        "id": "x",
                        "object": "chat.completion",
                        "choices": [
                            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
                        ],
                    }
                else:
                    payload = content if isinstance(content, dict) else {"error": {"message": content}}
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def user_message(body):
    return next(m["content"] for m in body["messages"] if m["role"] == "user")


def shown_first(body, text_a, text_b):
    """Which of two response texts the judge was shown in slot A."""
    content = user_message(body)
    return "a" if content.index(text_a) < content.index(text_b) else "b"


class TieBackend(JudgeBackend):
    """A deployment's own backend, registered through settings.JUDGE_BACKENDS: every verdict a tie."""

    key = "always-tie"
    calls: list = []

    def generate(self, conversations):
        TieBackend.calls.append(len(conversations))
        return ['{"rationale": "the same", "verdict": 0}'] * len(conversations)


class ServerStandIn(TieBackend):
    """Registered under a built-in key, it replaces that backend."""

    key = "openai"


class NotABackend:
    key = "nothing"
