"""One function, one event, against the running local stack: what `sam local invoke` does, without
Docker (`scaiecho invoke`), and the `--env-vars` file that lets `sam local invoke` reach the local
stack's resources (`scaiecho env --sam`).

The local stack records, per function, what template.yaml gives it on AWS (handler, memory,
timeout, Globals + its own variables resolved to the local resource names). An invocation runs
the real handler in this process with exactly that environment plus what makes it reach the stack
(moto's endpoint and credentials), and with nothing else of the caller's ``SCAIECHO_*`` / ``AWS_*``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from scaiecho.errors import NotFound, ValidationFailed
from scaiecho.local import moto_patches
from scaiecho.local.provision import FunctionSpec
from scaiecho.local.template import ACCOUNT_ID

# What the local stack adds to every function's template environment (on AWS these come from the
# Lambda service or are the template's values): moto's endpoint and credentials, and the two
# workflow settings moto needs (no StartSyncExecution; slower CPU-only nodes).
STACK_VARIABLES = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_REGION",
                   "AWS_DEFAULT_REGION", "SCAIECHO_WORKFLOW_SYNC_API", "SCAIECHO_WORKFLOW_WAIT_S")
# Variables of the caller's shell that a Lambda function would not see.
_FOREIGN_PREFIXES = ("SCAIECHO_", "AWS_", "POWERTOOLS_")
# `sam local invoke` only overrides variables the template declares; the template declares this
# one (empty on AWS) so the container can be pointed at the local stack.
SAM_ENDPOINT_VARIABLE = "SCAIECHO_AWS_ENDPOINT_URL"
_PLACEHOLDER = re.compile(r"\{\{([A-Z0-9_]+)\}\}")


@dataclass(frozen=True)
class Invocation:
    payload: Any  # the handler's result, or Lambda's error document when it raised
    errored: bool


@dataclass(frozen=True)
class LocalFunctions:
    """The running local stack's functions, read from its state file."""

    root: Path
    specs: dict[str, FunctionSpec]  # logical id -> spec
    stack_environment: dict[str, str]

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> LocalFunctions:
        if "functions" not in state:
            raise ValidationFailed("the running local stack is older than `scaiecho invoke`: restart it")
        return cls(
            root=Path(state["project_root"]),
            specs={k: FunctionSpec.from_stored(v) for k, v in state["functions"].items()},
            stack_environment=dict(state["environment"]),
        )

    def find(self, name: str) -> FunctionSpec:
        """By folder (``intake``, as in functions/ and events/), logical id or function name."""
        for spec in self.specs.values():
            if name in (folder_of(spec), spec.logical_id, spec.name):
                return spec
        known = ", ".join(sorted(folder_of(s) for s in self.specs.values()))
        raise NotFound(f"no function {name!r}; one of: {known}", code="function_not_found")

    def lambda_environment(self, spec: FunctionSpec) -> dict[str, str]:
        env = dict(spec.environment)
        env.update({k: self.stack_environment[k] for k in STACK_VARIABLES if k in self.stack_environment})
        env.update({
            "AWS_LAMBDA_FUNCTION_NAME": spec.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(spec.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        })
        return env

    def sam_env_vars(self, endpoint_host: str | None = None) -> dict[str, dict[str, str]]:
        """`sam local invoke --env-vars` content: per logical id, every variable the template
        declares for it, with the local stack's values (SAM ignores undeclared ones)."""
        endpoint = self.stack_environment.get("AWS_ENDPOINT_URL", "")
        if endpoint and endpoint_host:
            parts = urlsplit(endpoint)
            endpoint = urlunsplit(parts._replace(netloc=f"{endpoint_host}:{parts.port}"))
        local = {k: v for k, v in self.stack_environment.items() if k.startswith("SCAIECHO_")}
        local[SAM_ENDPOINT_VARIABLE] = endpoint
        return {
            logical: {k: local.get(k, v) for k, v in sorted(spec.environment.items())}
            for logical, spec in sorted(self.specs.items())
        }

    def invoke(self, spec: FunctionSpec, event: Any) -> Invocation:
        """Run the real handler here, as Lambda would: its environment only, a Lambda context,
        an exception reported as Lambda's error document. Handler output goes to stderr, so
        stdout carries the result alone."""
        _replace_environment(self.lambda_environment(spec))
        handler = moto_patches.load_handler(self.root / spec.code_uri, spec.handler)
        region = spec.environment.get("AWS_REGION") or self.stack_environment.get("AWS_REGION", "us-east-1")
        context = moto_patches.LambdaContext(
            function_name=spec.name, memory_limit_in_mb=spec.memory_mb, timeout_ms=spec.timeout_s * 1000,
            invoked_function_arn=f"arn:aws:lambda:{region}:{ACCOUNT_ID}:function:{spec.name}",
        )
        with contextlib.redirect_stdout(sys.stderr):
            body, errored = moto_patches.call_handler(handler, event, context)
        return Invocation(payload=json.loads(body), errored=errored)


def folder_of(spec: FunctionSpec) -> str:
    return Path(spec.code_uri).name


def fill_placeholders(text: str, values: Mapping[str, str]) -> str:
    """Sample events name what they act on as ``{{SPEAKER_ID}}``; every one must be given."""
    filled = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    missing = sorted(set(_PLACEHOLDER.findall(filled)))
    if missing:
        raise ValidationFailed(
            f"the event needs values for {', '.join(missing)} (e.g. --set {missing[0]}=…)",
            code="event_placeholders", details={"missing": missing},
        )
    return filled


def _replace_environment(env: Mapping[str, str]) -> None:
    from scaiecho.adapters.aws import reset_clients
    from scaiecho.settings import get_settings

    for key in [k for k in os.environ if k.startswith(_FOREIGN_PREFIXES)]:
        del os.environ[key]
    os.environ.update(env)
    get_settings.cache_clear()
    reset_clients()
