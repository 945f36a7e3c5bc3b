"""A real OpenAI-compatible HTTP server on 127.0.0.1 standing in for the LLM provider.

Each request is recorded, and the number of requests in flight is tracked (`max_in_flight`).
Behaviour is scripted per request by `faults`, consumed in order, and otherwise the reply is made
by `reply(prompt) -> text`, with a tag naming the sample where the reply has SAMPLE (in what the
parsers keep), else at the end of its first line: like a real model's, no two requests' answers are the same
text (`samples=False` for the bare reply). Faults:
- an HTTP status with a JSON error body: '400', '401', '408', '429' (with Retry-After), '500',
  '502', '503' (with Retry-After);
- 'echo-auth' (a 401 whose error message repeats the Authorization header it was sent);
- 'timeout' (answers after hang_s), 'reset' (closes the connection with a TCP reset, no answer);
- bodies with status 200 that are no completion: 'malformed' (cut-off JSON), 'empty', 'html' (a
  gateway page), 'nochoices', 'error502' and 'error400' (an OpenRouter-style error object, sent
  with status 200 when a failure happens after the model started);
- 'truncate' (half the text, finish_reason length), 'empty-length' (no text, finish_reason length).

Like OpenRouter when asked (`openrouter=True`): the charge in usage.cost when the request has
usage: {include: true} (`cost_per_token` a token, made exact in binary), cached and reasoning token
counts; `reasoning` puts a reasoning model's reasoning, which names a different score
(REASONING_SCORE), in message.reasoning ('field'), in <think> blocks before the answer ('tags'),
after an opening the prompt made ('unopened': only the closing tag), or cut off mid-thought
('cutoff'). A request with response_format gets the JSON it asks for unless
`ignore_schema=True`."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

SAMPLE = "{sample}"  # in a reply: where the sample's tag goes (see FakeLLM)
REASONING_SCORE = 2  # the score a reasoning model muses about before answering otherwise
STRUCTURED_SCORE = 6.5  # a structured judge's score
MUSING = "an idea the model only mused about"  # in its reasoning: no parsed draft may hold it


def stage_shaped_reply(prompt: str) -> str:
    if "SCORE" in prompt or "Final Score" in prompt:
        return f"The essay is clear enough{SAMPLE}.\nSCORE: 7\n"
    if "essay-idea" in prompt:
        return (
            'Step 1: start.\n<essay-idea stage="1">first idea</essay-idea>\n'
            f'Step 2: refine.\n<essay-idea stage="2">second, better idea{SAMPLE}</essay-idea>\n'
            "Step 3: done.\n"
        )
    return f"An essay line one{SAMPLE}.\nAn essay line two.\nAn essay line three.\n"


def sample_tag(n: int) -> str:
    """A tag that tells one request's answer from another's, in letters only (no digit a score
    parser could take): like a real model sampling, no two requests get the same text."""
    return "".join(chr(ord("a") + int(digit)) for digit in str(n))


class FakeLLM:
    def __init__(
        self,
        reply=stage_shaped_reply,
        retry_after: str = "0",
        hang_s: float = 3.0,
        latency_s: float = 0.0,
        samples: bool = True,
        openrouter: bool = False,
        cost_per_token: float = 2**-20,
        reasoning: str | None = None,
        ignore_schema: bool = False,
    ):
        self.reply = reply
        self.openrouter = openrouter
        self.cost_per_token = cost_per_token
        self.reasoning = reasoning
        self.ignore_schema = ignore_schema
        self.charged: list[float] = []  # every usage.cost reported
        from batch_server import BatchEndpoints

        self.batches = BatchEndpoints(self)
        self.samples = samples  # each request's text unique (a first line naming the sample)
        self.latency_s = latency_s
        self.gate = threading.Event()  # answers wait until it is set (a test holds calls in flight)
        self.gate.set()
        self.retry_after = retry_after
        self.hang_s = hang_s
        self.faults: list[str] = []
        self.requests: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as real providers offer

            def log_message(self, *args):
                pass

            def do_GET(self):
                server.batches.handle(self, "GET", b"")

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if not self.path.endswith("/chat/completions"):
                    return server.batches.handle(self, "POST", raw)
                body = json.loads(raw or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                    fault = server.faults.pop(0) if server.faults else None
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    server.respond(self, body, fault)
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.handle_error = lambda request, address: None  # a reset connection is the point
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()

    def _send(self, handler, status: int, body: bytes, headers: dict | None = None):
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(body)

    STATUS_FAULTS = {
        "400": b'{"error":{"message":"bad model"}}',
        "401": b'{"error":{"message":"no auth"}}',
        "408": b'{"error":{"message":"request timeout"}}',
        "429": b'{"error":{"message":"rate limited"}}',
        "500": b'{"error":{"message":"upstream failed"}}',
        "502": b'{"error":{"message":"bad gateway"}}',
        "503": b'{"error":{"message":"overloaded"}}',
    }
    BODY_FAULTS = {
        "malformed": b'{"choices": [ {"message": ',
        "empty": b"",
        "html": b"<html><body><h1>502 Bad Gateway</h1></body></html>",
        "nochoices": b'{"id": "gen-x", "object": "chat.completion"}',
        "error502": b'{"error": {"code": 502, "message": "Provider returned error"}}',
        "error400": b'{"error": {"code": 400, "message": "Context length exceeded"}}',
    }

    def respond(self, handler, body: dict, fault: str | None):
        if fault in self.STATUS_FAULTS:
            headers = {"Retry-After": self.retry_after} if fault in ("429", "503") else None
            return self._send(handler, int(fault), self.STATUS_FAULTS[fault], headers)
        if fault in self.BODY_FAULTS:
            return self._send(handler, 200, self.BODY_FAULTS[fault])
        if fault == "echo-auth":  # a careless provider that repeats the credentials it was sent
            message = f"invalid credentials: {handler.headers.get('Authorization')}"
            return self._send(handler, 401, json.dumps({"error": {"message": message}}).encode())
        if fault == "timeout":
            time.sleep(self.hang_s)
            return self._send(handler, 200, b"{}")
        if fault == "reset":
            # SO_LINGER with a zero timeout: close() sends a TCP reset instead of a clean close
            handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            handler.connection.close()
            return None
        if self.latency_s:
            time.sleep(self.latency_s)
        self.gate.wait(timeout=300)
        self._send(handler, 200, json.dumps(self.completion(body, fault)).encode())

    def completion(self, body: dict, fault: str | None = None) -> dict:
        """The chat completion answering a request body."""
        prompt = body["messages"][-1]["content"]
        text = self.reply(prompt)
        tag = ""
        if self.samples:
            with self.lock:
                self.samples_made = getattr(self, "samples_made", 0) + 1
                tag = f" (sample {sample_tag(self.samples_made)})"
        if SAMPLE in text:
            text = text.replace(SAMPLE, tag)
        elif tag:  # at the end of the first line: the lines stay as many as the reply has
            first, newline, rest = text.partition("\n")
            text = f"{first}{tag}{newline}{rest}"
        finish = "stop"
        completion_tokens = len(text.split())
        if fault == "truncate":
            text = text[: max(1, len(text) // 2)]
            finish = "length"
            completion_tokens = body.get("max_tokens", completion_tokens)
        if fault == "empty-length":
            text, finish, completion_tokens = "", "length", body.get("max_tokens", 0)
        if "response_format" in body and not self.ignore_schema:
            text = json.dumps({"reasoning": f"Clear enough{tag}. SCORE: 3", "score": STRUCTURED_SCORE})
            completion_tokens = len(text.split())
        message = {"role": "assistant", "content": text}
        thought = (
            f'Let me think{tag}. <essay-idea stage="9">{MUSING}</essay-idea>\n'
            f"At first sight SCORE: {REASONING_SCORE}\nFinal Score: {REASONING_SCORE}/10"
        )
        if self.reasoning == "field":
            message["reasoning"] = thought
        elif self.reasoning == "tags":
            message["content"] = f"<think>\n{thought}\n</think>\n\n{text}"
        elif self.reasoning == "unopened":
            message["content"] = f"{thought}\n</think>\n{text}"
        elif self.reasoning == "cutoff":
            message["content"], finish = f"<think>\n{thought}", "length"
            completion_tokens = body.get("max_tokens", completion_tokens)
        reasoning_tokens = len(thought.split()) if self.reasoning else 0
        usage = {
            "prompt_tokens": len(prompt.split()),
            "completion_tokens": completion_tokens + reasoning_tokens,
            "total_tokens": len(prompt.split()) + completion_tokens + reasoning_tokens,
        }
        if self.openrouter:
            usage["prompt_tokens_details"] = {"cached_tokens": len(prompt.split()) // 2}
            usage["completion_tokens_details"] = {"reasoning_tokens": reasoning_tokens}
            if (body.get("usage") or {}).get("include"):
                usage["cost"] = usage["total_tokens"] * self.cost_per_token
                with self.lock:
                    self.charged.append(usage["cost"])
        return {
            "id": f"gen-{len(self.requests)}",
            "model": body["model"],
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": usage,
        }
