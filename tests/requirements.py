"""Tests that need real services or a browser: required in CI, skipped with a reason on a
developer machine that lacks them.

CI (.ci/run) sets SECONDLOOK_REQUIRE_SERVICES=1 and SECONDLOOK_REQUIRE_BROWSER=1: there a
missing service or browser fails the test instead of skipping it."""

import os

import pytest


def unavailable(requirement_env: str, reason: str):
    if os.environ.get(requirement_env) == "1":
        pytest.fail(f"{reason} (required because {requirement_env}=1)")
    pytest.skip(reason)
