"""Schemathesis against a real ``jotgate serve``: no input may produce a 5xx."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from .test_cli import JOTGATE, clean_env, free_port


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen(
        [JOTGATE, "serve", "--port", str(port), "--log-level", "error"],
        cwd=tmp_path_factory.mktemp("fuzz"),
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert "listening" in process.stdout.readline()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_no_operation_answers_5xx(base_url: str) -> None:
    schema = schemathesis.openapi.from_url(f"{base_url}/openapi.json")
    examples = int(os.environ.get("JOTGATE_FUZZ_EXAMPLES", "25"))
    failures: list[str] = []

    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=base_url)
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.path}: {response.status_code}")
        elif response.status_code >= 400 and response.content:
            # The OAuth endpoints add error_description (RFC 6749 §5.2) to the two.
            assert {"error", "message"} <= set(response.json()), response.text

    for result in schema.get_all_operations():
        strategy = result.ok().as_strategy()
        run = settings(
            max_examples=examples,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )(given(strategy)(check))
        run()
    assert not failures, failures
