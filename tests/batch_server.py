"""The OpenAI-compatible file and batch endpoints of FakeLLM (llm_server.py), on the same server:
POST /v1/files (multipart, purpose batch), POST /v1/batches, GET /v1/batches[/ID], POST
/v1/batches/ID/cancel, GET /v1/files/ID/content.

A batch is in progress for `delay_s` seconds after it is created, then completed: each line of
its input file is answered by FakeLLM.completion, except the custom ids `fail(custom_id)` picks
(answered in the error file with a 500), or, when the batch's number is in `expire` (1 = the
first batch created), the second half of its lines (status expired). `faults` script the
endpoints, consumed in order per request: 'drop-after-upload' and 'drop-after-create' do the
work and then reset the connection before answering (the client never learns the id), '500'
and '429' answer with that status, 'echo-auth' with a 200 page that is no JSON
and repeats the Authorization header. Every batch created is recorded with the custom ids in it:
`submitted` counts how often each custom id was put in a batch."""

from __future__ import annotations

import itertools
import json
import socket
import struct
import threading
import time
from collections import Counter
from email.parser import BytesParser
from email.policy import HTTP


class BatchEndpoints:
    def __init__(self, llm):
        self.llm = llm
        self.delay_s = 0.3
        self.fail = lambda custom_id: False
        self.expire: set[int] = set()
        self.faults: list[str] = []
        self.files: dict[str, bytes] = {}
        self.file_names: dict[str, str] = {}
        self.batches: dict[str, dict] = {}
        self.order: list[str] = []  # batch ids in creation order
        self.submitted: Counter = Counter()
        self.calls: list[tuple[str, str]] = []  # (method, path) of every request
        self.lock = threading.Lock()
        self._ids = itertools.count(1)

    # ---- plumbing --------------------------------------------------------------------------
    def _send(self, handler, status: int, payload) -> None:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "application/json")
        handler.send_header("Content-Length", str(len(body)))
        if status == 429:
            handler.send_header("Retry-After", "0")
        handler.end_headers()
        handler.wfile.write(body)

    @staticmethod
    def _drop(handler) -> None:
        handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        handler.close_connection = True
        handler.connection.close()

    def handle(self, handler, method: str, raw: bytes) -> None:
        path = handler.path.split("?", 1)[0]
        with self.lock:
            self.calls.append((method, path))
            fault = self.faults.pop(0) if self.faults else None
        if fault in ("500", "429", "404"):
            return self._send(handler, int(fault), {"error": {"message": "try again"}})
        if fault == "echo-auth":  # a gateway page that is no JSON, repeating the credentials it got
            return self._send(handler, 200, f"<html>seen: {handler.headers.get('Authorization')}</html>".encode())
        parts = path.rstrip("/").split("/")[2:]  # after /v1
        if method == "POST" and parts == ["files"]:
            file_id = self._upload(handler, raw)
            if fault == "drop-after-upload":
                return self._drop(handler)
            return self._send(handler, 200, {"id": file_id, "object": "file", "purpose": "batch"})
        if method == "POST" and parts == ["batches"]:
            batch = self._create(json.loads(raw))
            if batch is None:
                return self._send(handler, 400, {"error": {"message": "no such input file"}})
            if fault == "drop-after-create":
                return self._drop(handler)
            return self._send(handler, 200, self._view(batch))
        if method == "GET" and parts == ["batches"]:
            with self.lock:
                listed = [self._view(self.batches[i]) for i in reversed(self.order)]
            return self._send(handler, 200, {"object": "list", "data": listed, "has_more": False})
        if method == "GET" and len(parts) == 2 and parts[0] == "batches" and parts[1] in self.batches:
            return self._send(handler, 200, self._view(self._advance(self.batches[parts[1]])))
        if method == "POST" and len(parts) == 3 and parts[0] == "batches" and parts[2] == "cancel":
            batch = self.batches.get(parts[1])
            if batch is None:
                return self._send(handler, 404, {"error": {"message": "no such batch"}})
            with self.lock:
                if batch["status"] in ("validating", "in_progress"):
                    batch["status"] = "cancelling"
                    batch["cancel_at"] = time.monotonic()
            return self._send(handler, 200, self._view(batch))
        if method == "GET" and len(parts) == 3 and parts[0] == "files" and parts[2] == "content":
            content = self.files.get(parts[1])
            if content is None:
                return self._send(handler, 404, {"error": {"message": "no such file"}})
            handler.send_response(200)
            handler.send_header("Content-Type", "application/jsonl")
            handler.send_header("Content-Length", str(len(content)))
            handler.end_headers()
            handler.wfile.write(content)
            return None
        return self._send(handler, 404, {"error": {"message": f"no route {method} {path}"}})

    # ---- the endpoints ---------------------------------------------------------------------
    def _upload(self, handler, raw: bytes) -> str:
        header = f"Content-Type: {handler.headers['Content-Type']}\r\n\r\n".encode()
        message = BytesParser(policy=HTTP).parsebytes(header + raw)
        fields = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        assert fields["purpose"][1] == b"batch"
        filename, content = fields["file"]
        with self.lock:
            file_id = f"file-{next(self._ids)}"
            self.files[file_id] = content
            self.file_names[file_id] = filename
        return file_id

    def _create(self, body: dict) -> dict | None:
        content = self.files.get(body.get("input_file_id"))
        if content is None or body.get("endpoint") != "/v1/chat/completions":
            return None
        lines = [json.loads(line) for line in content.decode().splitlines() if line.strip()]
        with self.lock:
            batch_id = f"batch_{next(self._ids)}"
            batch = {
                "id": batch_id,
                "number": len(self.order) + 1,
                "input_file_id": body["input_file_id"],
                "completion_window": body.get("completion_window"),
                "metadata": body.get("metadata"),
                "status": "in_progress",
                "created": time.monotonic(),
                "lines": lines,
                "output_file_id": None,
                "error_file_id": None,
            }
            self.batches[batch_id] = batch
            self.order.append(batch_id)
            self.submitted.update(line["custom_id"] for line in lines)
        return batch

    def _advance(self, batch: dict) -> dict:
        with self.lock:
            if batch["status"] == "cancelling" and time.monotonic() - batch["cancel_at"] >= self.delay_s / 2:
                self._finish(batch, "cancelled", len(batch["lines"]) // 2)
            elif batch["status"] == "in_progress" and time.monotonic() - batch["created"] >= self.delay_s:
                expired = batch["number"] in self.expire
                answered = len(batch["lines"]) // 2 if expired else len(batch["lines"])
                self._finish(batch, "expired" if expired else "completed", answered)
        return batch

    def _finish(self, batch: dict, status: str, answered: int) -> None:
        outputs, errors = [], []
        for line in batch["lines"][:answered]:
            custom_id = line["custom_id"]
            if self.fail(custom_id):
                response = {"status_code": 500, "body": {"error": {"message": "the model failed"}}}
                errors.append({"id": f"r-{custom_id}", "custom_id": custom_id, "response": response, "error": None})
                continue
            body = self.llm.completion(line["body"])
            response = {"status_code": 200, "request_id": f"req-{custom_id}", "body": body}
            outputs.append({"id": f"r-{custom_id}", "custom_id": custom_id, "response": response, "error": None})
        batch["status"] = status
        batch["counts"] = {"total": len(batch["lines"]), "completed": len(outputs), "failed": len(errors)}
        for kind, found in (("output_file_id", outputs), ("error_file_id", errors)):
            if found:
                file_id = f"file-{next(self._ids)}"
                self.files[file_id] = "".join(json.dumps(item) + "\n" for item in found).encode()
                batch[kind] = file_id

    @staticmethod
    def _view(batch: dict) -> dict:
        view = {key: batch[key] for key in ("id", "input_file_id", "status", "output_file_id", "error_file_id")}
        view["object"] = "batch"
        view["metadata"] = batch["metadata"]
        view["request_counts"] = batch.get("counts") or {"total": len(batch["lines"]), "completed": 0, "failed": 0}
        return view
