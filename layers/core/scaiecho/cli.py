"""``scaiecho`` command line: run the local stack, manage API keys and nodes, invoke a function
with an event, read workflow executions.

Commands find the running local stack through its state file; with no local stack they act on
the AWS account the environment points at (SCAIECHO_* table names, AWS credentials).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from scaiecho.errors import NotFound, ScaiEchoError, ValidationFailed


def _use_local_stack() -> dict[str, Any] | None:
    from scaiecho.local.state import apply_state_env, read_state

    state = read_state()
    if state and not os.environ.get("SCAIECHO_NO_LOCAL_STACK"):
        apply_state_env(state)
    return state


def _cmd_serve(args: argparse.Namespace) -> int:
    from scaiecho.local.stack import StackConfig, serve

    port = args.port or int(os.environ.get("SCAIECHO_PORT", "8000"))
    return serve(StackConfig(port=port, nodes=args.nodes, model_dir=args.model_dir))


def _print(data: Any, as_json: bool, lines: list[str]) -> None:
    if as_json:
        print(json.dumps(data, indent=2, default=str))
    else:
        print("\n".join(lines))


def _cmd_keys_create(args: argparse.Namespace) -> int:
    from scaiecho.services.keys import create_key

    _use_local_stack()
    created = create_key(args.tenant, args.scopes, user_id=args.user_id, label=args.label)
    data = {
        "api_key": created.api_key,
        "key_id": created.key.key_id,
        "tenant_id": created.key.tenant_id,
        "scopes": sorted(s.value for s in created.key.scopes),
        "user_id": created.key.user_id,
    }
    scopes = ", ".join(sorted(s.value for s in created.key.scopes))
    _print(data, args.json, [
        f"api key:  {created.api_key}",
        f"key id:   {created.key.key_id}",
        f"tenant:   {created.key.tenant_id}",
        f"scopes:   {scopes}",
        *([f"user:     {created.key.user_id}"] if created.key.user_id else []),
        "The key is shown once; store it now.",
    ])
    return 0


def _cmd_keys_list(args: argparse.Namespace) -> int:
    from scaiecho.api.schemas.accounts import KeyPublic
    from scaiecho.services.keys import list_keys

    _use_local_stack()
    keys = [KeyPublic.from_domain(k).model_dump() for k in list_keys(args.tenant)]
    lines = [
        f"{k['key_id']}  {k['tenant_id']:<16} {','.join(k['scopes'] or []):<55} "
        f"{'revoked' if k['revoked_at'] else 'active'}"
        for k in keys
    ] or ["(no keys)"]
    _print(keys, args.json, lines)
    return 0


def _cmd_keys_revoke(args: argparse.Namespace) -> int:
    from scaiecho.services.keys import revoke_key

    _use_local_stack()
    key = revoke_key(args.key_id)
    _print({"key_id": key.key_id, "revoked_at": key.revoked_at}, args.json,
           [f"revoked {key.key_id}"])
    return 0


def _cmd_nodes_list(args: argparse.Namespace) -> int:
    from scaiecho.adapters.nodes import NodeStore

    _use_local_stack()
    nodes = [n.serialize() for n in NodeStore().list()]
    _print(nodes, args.json, [f"{n['node_id']:<10} {n['status']:<8} {n['endpoint_name']}" for n in nodes]
           or ["(no nodes)"])
    return 0


def _cmd_nodes_register(args: argparse.Namespace) -> int:
    from scaiecho.adapters.nodes import NodeStore

    _use_local_stack()
    node = NodeStore().register(args.node_id, args.endpoint_name)
    _print(node.serialize(), args.json, [f"registered {node.node_id} -> {node.endpoint_name}"])
    return 0


def _cmd_nodes_deregister(args: argparse.Namespace) -> int:
    from scaiecho.adapters.nodes import NodeStore

    _use_local_stack()
    if not NodeStore().deregister(args.node_id):
        raise NotFound(f"no node {args.node_id!r}", code="node_not_found")
    _print({"node_id": args.node_id, "deregistered": True}, args.json, [f"deregistered {args.node_id}"])
    return 0


def _cmd_stream(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scaiecho.audio.decode import decode_audio
    from scaiecho.local.state import read_state
    from scaiecho.local.stream_client import stream_samples

    state = read_state() or {}
    url = args.url or state.get("stream_url")
    key = args.key or os.environ.get("SCAIECHO_API_KEY") or state.get("demo_api_key")
    if not url or not key:
        print("error: no running local stack (make run) and no --url/--key given", file=sys.stderr)
        return 2
    audio = decode_audio(Path(args.file).read_bytes())

    def show(frame: dict[str, Any]) -> None:
        if frame["type"] == "delta":
            label = frame.get("speaker_name") or frame.get("speaker_label")
            who = f"{label}: " if label else ""
            print(f"[{frame['start']:7.2f} - {frame['end']:7.2f}] {who}{frame['text']}", flush=True)
        elif frame["type"] == "error":
            print(f"error: {frame['code']}: {frame['message']}", file=sys.stderr, flush=True)
        elif frame["type"] == "ready":
            print(f"(streaming {audio.duration_s:.1f} s, backend {frame['backend_used']})",
                  file=sys.stderr, flush=True)

    result = stream_samples(url, key, audio.samples, diarize=args.diarize, language=args.language,
                            speed=args.speed, on_frame=show)
    return 1 if result.errors else 0


def _require_local_stack() -> dict[str, Any]:
    from scaiecho.local.state import read_state, state_path

    state = read_state()
    if state is None:
        raise NotFound(f"no running local stack (start one with `make run`; looked at {state_path()})",
                       code="no_local_stack")
    return state


def _cmd_invoke(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scaiecho.local.invoke import LocalFunctions, fill_placeholders

    functions = LocalFunctions.from_state(_require_local_stack())
    spec = functions.find(args.function)
    text = sys.stdin.read() if args.event == "-" else Path(args.event).read_text()
    malformed = [v for v in args.set or [] if "=" not in v]
    if malformed:
        raise ValidationFailed(f"--set takes NAME=VALUE, not {malformed[0]!r}", code="invalid_set")
    values = dict(v.split("=", 1) for v in args.set or [])
    try:
        event = json.loads(fill_placeholders(text, values))
    except ValueError as exc:
        raise ValidationFailed(f"the event is not JSON: {exc}", code="invalid_event") from exc
    result = functions.invoke(spec, event)
    print(json.dumps(result.payload, indent=2, default=str))
    return 1 if result.errored else 0


def _cmd_env(args: argparse.Namespace) -> int:
    from pathlib import Path

    from scaiecho.local.invoke import LocalFunctions

    functions = LocalFunctions.from_state(_require_local_stack())
    text = json.dumps(functions.sam_env_vars(endpoint_host=args.endpoint_host), indent=2) + "\n"
    if args.out == "-":
        print(text, end="")
    else:
        Path(args.out).write_text(text)
        print(f"wrote {args.out}: sam local invoke FUNCTION_LOGICAL_ID -e EVENT.json --env-vars {args.out}",
              file=sys.stderr)
    return 0


def _cmd_executions_list(args: argparse.Namespace) -> int:
    from scaiecho.adapters.execution_history import ExecutionHistory

    _use_local_stack()
    found = ExecutionHistory().recent(workflow=args.workflow, status=args.status, limit=args.limit)
    lines = [f"{e.started:%Y-%m-%d %H:%M:%S}  {e.status:<9} {e.workflow:<14} {e.name}" for e in found]
    _print([e.serialize() for e in found], args.json, lines or ["(no executions)"])
    return 0


def _cmd_executions_show(args: argparse.Namespace) -> int:
    from scaiecho.adapters.execution_history import ExecutionHistory

    _use_local_stack()
    detail = ExecutionHistory().show(args.execution)
    doc = detail.serialize()
    lines = [f"{detail.summary.name}  ({detail.summary.workflow})  {detail.summary.status}",
             f"  started {doc['started']}  stopped {doc['stopped'] or '-'}",
             f"  input   {json.dumps(detail.input)}"]
    if detail.output is not None:
        lines.append(f"  output  {json.dumps(detail.output)}")
    if detail.error or detail.cause:
        lines.append(f"  error   {detail.error}: {detail.cause}")
    lines.append("  states:")
    for step in detail.steps:
        problem = (f"  {step.error}" + (f": {step.cause}" if step.cause else "")) if step.error else ""
        lines.append(f"    {step.status:<8} {step.kind:<9} {step.name}{problem}")
    if doc["console_url"]:
        lines.append(f"  console {doc['console_url']}")
    _print(doc, args.json, lines)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="scaiecho", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the embedded local stack on 127.0.0.1")
    serve.add_argument(
        "--port", type=int, default=None, help="REST/WebSocket port (default 8000 or $SCAIECHO_PORT)"
    )
    serve.add_argument("--nodes", type=int, default=int(os.environ.get("SCAIECHO_NODES", "2")),
                       help="local pyannote nodes to start (default 2)")
    serve.add_argument("--model-dir", default=os.environ.get("SCAIECHO_MODEL_DIR"),
                       help="pyannote pipeline directory for the nodes")
    serve.set_defaults(func=_cmd_serve)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(dest="keys_cmd", required=True)
    create = keys.add_parser("create", help="create a key for a tenant")
    create.add_argument("--tenant", required=True)
    create.add_argument(
        "--scopes", required=True, help="comma-separated, e.g. scaiecho:enroll,scaiecho:transcribe"
    )
    create.add_argument("--user", "--user-id", dest="user_id", default=None,
                        help="bind the key to a user of the tenant (needed for /users/me/voice-profile)")
    create.add_argument("--label", default=None)
    create.add_argument("--json", action="store_true")
    create.set_defaults(func=_cmd_keys_create)
    lst = keys.add_parser("list", help="list keys (never their secrets)")
    lst.add_argument("--tenant", default=None)
    lst.add_argument("--json", action="store_true")
    lst.set_defaults(func=_cmd_keys_list)
    revoke = keys.add_parser("revoke", help="revoke a key by id")
    revoke.add_argument("key_id")
    revoke.add_argument("--json", action="store_true")
    revoke.set_defaults(func=_cmd_keys_revoke)

    stream = sub.add_parser("stream", help="stream an audio file over the WebSocket API, print deltas")
    stream.add_argument("file", help="any accepted audio file (wav, flac, mp3, ogg, m4a)")
    stream.add_argument("--diarize", action="store_true", help="label speakers (scaiecho:diarize)")
    stream.add_argument("--language", default="en", help="language hint (default en)")
    stream.add_argument("--speed", type=float, default=1.0,
                        help="pace: 1 = real time (default), 0 = as fast as possible")
    stream.add_argument("--url", default=None, help="WebSocket URL (default: the local stack's)")
    stream.add_argument("--key", default=None,
                        help="API key (default: $SCAIECHO_API_KEY, else the local stack's demo key)")
    stream.set_defaults(func=_cmd_stream)

    nodes = sub.add_parser("nodes", help="pyannote nodes").add_subparsers(dest="nodes_cmd", required=True)
    nlist = nodes.add_parser("list")
    nlist.add_argument("--json", action="store_true")
    nlist.set_defaults(func=_cmd_nodes_list)
    reg = nodes.add_parser("register", help="register a SageMaker endpoint as a node")
    reg.add_argument("node_id")
    reg.add_argument("endpoint_name")
    reg.add_argument("--json", action="store_true")
    reg.set_defaults(func=_cmd_nodes_register)
    dereg = nodes.add_parser("deregister", help="forget a node (before deleting its endpoint): "
                             "enrollments, jobs and erasures stop waiting on it")
    dereg.add_argument("node_id")
    dereg.add_argument("--json", action="store_true")
    dereg.set_defaults(func=_cmd_nodes_deregister)

    invoke = sub.add_parser("invoke", help="run one function's real handler with an event against the "
                            "local stack, as Lambda would (no Docker)")
    invoke.add_argument("function", help="folder under functions/ (e.g. intake), logical id or name")
    invoke.add_argument("event", help="event JSON file (e.g. events/intake/get_speaker.json), - for stdin")
    invoke.add_argument("--set", action="append", metavar="NAME=VALUE",
                        help="fill a {{NAME}} placeholder of a sample event (repeatable)")
    invoke.set_defaults(func=_cmd_invoke)

    env = sub.add_parser("env", help="environment files for other tools")
    env.add_argument("--sam", action="store_true", required=True,
                     help="the --env-vars file for `sam local invoke` against the local stack")
    env.add_argument("--out", default="env.json", help="file to write (default env.json, - for stdout)")
    env.add_argument("--endpoint-host", default=None,
                     help="host the Lambda container reaches the local stack by (default 127.0.0.1, "
                          "for --docker-network host; e.g. host.docker.internal)")
    env.set_defaults(func=_cmd_env)

    executions = sub.add_parser("executions", help="Step Functions executions (the local stack has no "
                                "console)").add_subparsers(dest="executions_cmd", required=True)
    xlist = executions.add_parser("list", help="newest first: status, workflow, name")
    xlist.add_argument("--workflow", default=None, help="enroll, transcribe, erasure-retry or node-probe")
    xlist.add_argument("--status", default=None, choices=["RUNNING", "SUCCEEDED", "FAILED", "TIMED_OUT",
                                                          "ABORTED"])
    xlist.add_argument("--limit", type=int, default=50)
    xlist.add_argument("--json", action="store_true")
    xlist.set_defaults(func=_cmd_executions_list)
    xshow = executions.add_parser("show", help="one execution: input, output, each state, errors")
    xshow.add_argument("execution", help="name (enroll-<speaker_id>-<n>, job-<job_id>, "
                       "erasure-<audit_id>-<n>) or ARN")
    xshow.add_argument("--json", action="store_true")
    xshow.set_defaults(func=_cmd_executions_show)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ScaiEchoError as exc:
        print(f"error: {exc.code}: {exc.message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
