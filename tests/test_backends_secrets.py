"""A sentinel API key must never appear in logs, results, cache files, exceptions or reprs."""

from __future__ import annotations

import logging
import pickle
import traceback

import pytest

from scigenbench.generators.backends import BackendError, get_backend
from scigenbench.generators.backends.testing import Fault, OpenAICompatServer

SENTINEL = "sk-SENTINEL-7f3a9c21e5b44d0b"


def leaky_server_handler(request_json):
    """A hostile server that echoes the caller's key in every kind of answer."""
    text = request_json["messages"][-1]["content"]
    leak = f"Incorrect API key provided: {SENTINEL}"
    return {
        "permanent": Fault.bad_request(leak, status=401),
        "transient": Fault.server_error(500, leak),
        "malformed": Fault.malformed(f"<html>{leak}</html>"),
        "ok": f"fine ({text})",
    }[text]


def test_sentinel_key_never_leaks(tmp_path, monkeypatch, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SENTINEL_KEY", SENTINEL)
    artefacts: list[str] = []
    with OpenAICompatServer(handler=leaky_server_handler, require_api_key=SENTINEL) as server:
        backend = get_backend(f"openai:test-model@{server.base_url}", api_key_env="SENTINEL_KEY",
                              cache_dir=tmp_path, max_retries=1, backoff_base=0.01)
        result = backend.chat([{"role": "user", "content": "ok"}])
        artefacts += [repr(result), str(result.to_dict()), str(result.raw), repr(backend), repr(backend.inner),
                      str(backend.stats()), str(backend.describe())]
        for kind in ("permanent", "transient", "malformed"):
            with pytest.raises(BackendError) as info:
                backend.chat([{"role": "user", "content": kind}])
            err = info.value
            artefacts += [str(err), repr(err), str(err.to_dict()), str(err.args),
                          "".join(traceback.format_exception(err)), str(pickle.dumps(err))]
    assert server.chat_requests()[0].headers["Authorization"] == f"Bearer {SENTINEL}"  # it really was sent
    assert "Incorrect API key provided: ***" in artefacts[7]  # the server's echo was redacted, not dropped
    artefacts += [p.read_text() for p in tmp_path.rglob("*") if p.is_file()]
    artefacts += [caplog.text, capsys.readouterr().out, capsys.readouterr().err]
    leaks = [a[:200] for a in artefacts if SENTINEL in a or SENTINEL[3:] in a]
    assert leaks == []
