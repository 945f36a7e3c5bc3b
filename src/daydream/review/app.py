"""The review app (Flask, served by waitress): a cohort's essays ranked by score, one essay per
page with everything it came from and every judge's response, and a form (and keys) to record
accept / reject / undecided, a 0-10 score and a comment in the cohort's human_labels.csv.

What it defends against (SECURITY.md): model output is text (Jinja autoescaping, and a content
security policy that lets only the page's own script run); it answers only to its own loopback
host names (a web page elsewhere cannot reach it by DNS rebinding); a label is saved only with
the form token of this run of the app (another site cannot post one); listening beyond loopback
needs --allow-remote and then every request carries the access token."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
import threading
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from daydream.review.essays import FACETS, CohortEssays
from daydream.store import labels as label_store

TOKEN_COOKIE = "daydream_review_token"
REVIEWER_COOKIE = "daydream_reviewer"
STATES = ("unlabelled", "accepted", "rejected", "undecided")
KEYS = {"a": "accept", "r": "reject", "u": "undecided"}


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ReviewSettings:
    data_root: str
    cohort_id: str
    reviewer: str  # the default name on the form
    token: str | None = None  # required of every request when set (listening beyond loopback)


def create_app(essays: CohortEssays, settings: ReviewSettings):
    from flask import Flask, abort, g, redirect, render_template, request, url_for

    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = 1_000_000
    form_token = secrets.token_urlsafe(32)
    reload_lock = threading.Lock()

    @app.before_request
    def guard():
        g.nonce = secrets.token_urlsafe(16)
        host = urlsplit(f"//{request.host}").hostname or ""
        if settings.token is None:
            if not is_loopback(host):  # a foreign name resolving to us: DNS rebinding
                abort(403)
        else:
            supplied = request.args.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
            if not hmac.compare_digest(supplied.encode(), settings.token.encode()):
                abort(403)
        if request.method == "POST":
            if not hmac.compare_digest(request.form.get("form_token", "").encode(), form_token.encode()):
                abort(403)
            origin = request.headers.get("Origin")
            if origin and urlsplit(origin).netloc != request.host:
                abort(403)

    @app.after_request
    def protect(response):
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{g.get('nonce', '')}'; style-src 'unsafe-inline'; "
            "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
        )
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"  # no-referrer would make the form's Origin "null"
        if settings.token and request.args.get("token") == settings.token:
            response.set_cookie(TOKEN_COOKIE, settings.token, httponly=True, samesite="Strict")
        return response

    def filters() -> dict:
        chosen = {name: request.args.get(name, "") for name in (*FACETS, "state")}
        return {name: value for name, value in chosen.items() if value}

    def listed(verdicts) -> list:
        chosen = filters()
        result = []
        for entry in essays.entries:
            if any(getattr(entry, name) != chosen[name] for name in FACETS if name in chosen):
                continue
            state = verdicts[entry.gen_id].state if entry.gen_id in verdicts else "unlabelled"
            if chosen.get("state") and state != chosen["state"]:
                continue
            result.append(entry)
        return result

    def query(**extra) -> str:
        values = {**filters(), **extra}
        return ("?" + urlencode(values)) if values else ""

    def cohort_labels(gen_id: str | None = None) -> list:
        """The cohort's labels as the file has them now (404 for an essay not in the cohort)."""
        if gen_id is not None and gen_id not in essays.by_id:
            abort(404)
        return label_store.cohort_labels(settings.data_root, settings.cohort_id)

    def reviewer() -> str:
        return request.cookies.get(REVIEWER_COOKIE) or settings.reviewer

    @app.context_processor
    def every_page() -> dict:
        return {
            "cohort_id": settings.cohort_id,
            "top_n": essays.top_n,
            "query": query(),
            "nonce": g.get("nonce", ""),
            "form_token": form_token,
        }

    @app.get("/")
    def index():
        verdicts = label_store.verdicts(cohort_labels())
        entries = listed(verdicts)
        counts = {state: 0 for state in STATES}
        for entry in essays.entries:
            counts[verdicts[entry.gen_id].state if entry.gen_id in verdicts else "unlabelled"] += 1
        return render_template(
            "list.html",
            entries=entries,
            total=len(essays.entries),
            verdicts=verdicts,
            counts=counts,
            filters=filters(),
            facets={name: essays.facet_values(name) for name in FACETS},
            states=STATES,
        )

    @app.get("/essay/<gen_id>")
    def essay(gen_id: str):
        labels = cohort_labels(gen_id)
        verdicts = label_store.verdicts(labels)
        entries = listed(verdicts)
        ids = [entry.gen_id for entry in entries]
        position = ids.index(gen_id) if gen_id in ids else None
        previous_id = ids[position - 1] if position else None
        next_id = ids[position + 1] if position is not None and position + 1 < len(ids) else None
        mine = label_store.latest(labels).get((gen_id, reviewer()))
        return render_template(
            "essay.html",
            page=essays.page(gen_id),
            position=position,
            shown=len(ids),
            previous_id=previous_id,
            next_id=next_id,
            mine=mine,
            reviewer=reviewer(),
            history=[label for label in labels if label.essay_gen_id == gen_id],
            verdict=verdicts.get(gen_id),
            keys=KEYS,
        )

    @app.post("/essay/<gen_id>/label")
    def label(gen_id: str):
        before = label_store.verdicts(cohort_labels(gen_id))
        ids = [entry.gen_id for entry in listed(before)]  # the order before this label moves it
        form = request.form
        try:
            made = label_store.make_label(
                form.get("reviewer", ""),
                gen_id,
                form.get("verdict", ""),
                form.get("score", ""),
                form.get("comment", ""),
            )
        except ValueError as exc:
            return render_template("error.html", message=str(exc)), 400
        label_store.append_label(settings.data_root, settings.cohort_id, made)
        target = gen_id
        if form.get("advance") == "1" and gen_id in ids:
            following = ids[ids.index(gen_id) + 1 :]
            target = following[0] if following else None
        where = url_for("essay", gen_id=target) if target else url_for("index")
        response = redirect(where + query(), code=303)
        response.set_cookie(REVIEWER_COOKIE, made.reviewer, samesite="Strict")
        return response

    @app.post("/reload")
    def reload():
        with reload_lock:
            essays.reload()
        return redirect(url_for("index") + query(), code=303)

    return app


def serve(app, host: str, port: int, announce) -> None:
    """Serve until interrupted; announce(address) once listening (port 0: a free one)."""
    from waitress import create_server

    server = create_server(app, host=host, port=port, threads=8, ident="daydream-review")
    shown = f"[{host}]" if ":" in host else host
    announce(f"http://{shown}:{server.effective_port}/")
    try:
        server.run()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()
