"""``mobkat mob ...``: drive the mobs of a running ``mobkat rpc --tcp`` server (upstream's ``rkat mob ...``).

Every verb connects with mobkat's own client (:mod:`mobkat.client`) to ``--tcp HOST:PORT`` (default:
``$MOBKAT_RPC_TCP``), presenting the secret of ``--auth-token-file`` when the server has one, makes one
or two calls and prints the answer: short lines by default, the raw JSON result with ``--json``.
``events --follow`` streams the mob's events until the mob stops or Ctrl-C.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tomllib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from mobkat.cli.rpc import parse_address, read_auth_token
from mobkat.client import MobkatClient
from mobkat.client.errors import MobkatClientError
from mobkat.errors import InvalidInputError

TCP_ENV = "MOBKAT_RPC_TCP"
LIFECYCLE = ("stop", "resume", "complete", "reset", "destroy")
Verb = Callable[[MobkatClient, argparse.Namespace], Awaitable[Any]]


def _pairs(values: list[str] | None, flag: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidInputError(f"{flag} {item!r}: expected KEY=VALUE", details={"flag": flag})
        out[key] = value
    return out


def _params(values: list[str] | None) -> dict[str, Any]:
    """``--param k=v``: the value as JSON when it parses (numbers, true, objects), else as text."""
    out: dict[str, Any] = {}
    for key, value in _pairs(values, "--param").items():
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _definition(path: Path) -> dict[str, Any]:
    """A definition file as the JSON form ``mob/create`` takes (a TOML file's tables as they are)."""
    try:
        text = path.read_text(encoding="utf-8")
        data: dict[str, Any] = json.loads(text) if path.suffix == ".json" else tomllib.loads(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise InvalidInputError(f"{path}: cannot read the definition: {exc}", details={"file": str(path)}) from None
    return data


# -- verbs: each returns what --json prints; the human form is printed by _show --------------------------
async def _list(client: MobkatClient, _args: argparse.Namespace) -> Any:
    return await client.request("mob/list", {})


async def _status(client: MobkatClient, args: argparse.Namespace) -> Any:
    if args.member:
        return await client.request("mob/member_status", {"mob_id": args.mob, "agent_identity": args.member})
    return await client.request("mob/snapshot", {"mob_id": args.mob})


async def _create(client: MobkatClient, args: argparse.Namespace) -> Any:
    if args.server_path:
        return await client.request("mob/create", {"path": args.file})
    return await client.request("mob/create", {"definition": _definition(Path(args.file))})


async def _spawn(client: MobkatClient, args: argparse.Namespace) -> Any:
    params: dict[str, Any] = {"mob_id": args.mob, "profile": args.profile, "agent_identity": args.name or args.profile}
    if args.message is not None:
        params["initial_message"] = args.message
    if args.runtime_mode is not None:
        params["runtime_mode"] = args.runtime_mode
    if args.label:
        params["labels"] = _pairs(args.label, "--label")
    return await client.request("mob/spawn", params)


async def _member(client: MobkatClient, args: argparse.Namespace) -> Any:
    method = {"retire": "mob/retire", "respawn": "mob/respawn", "cancel": "mob/force_cancel"}[args.verb]
    return await client.request(method, {"mob_id": args.mob, "agent_identity": args.name})


async def _wire(client: MobkatClient, args: argparse.Namespace) -> Any:
    return await client.request(f"mob/{args.verb}", {"mob_id": args.mob, "member": args.a, "peer": {"local": args.b}})


async def _send(client: MobkatClient, args: argparse.Namespace) -> Any:
    return await client.request("mob/member_send", {"mob_id": args.mob, "agent_identity": args.name,
                                                     "content": args.text, "handling_mode": args.handling_mode})


async def _events(client: MobkatClient, args: argparse.Namespace) -> Any:
    if not args.follow:
        return await client.request("mob/events", {"mob_id": args.mob, "after_cursor": args.after,
                                                   "limit": args.limit})
    seen = -1
    async with client.mob(args.mob).events() as events:
        if args.after is not None:  # what happened before the stream opened, then the stream
            for event in (await client.request("mob/events", {"mob_id": args.mob, "after_cursor": args.after,
                                                              "limit": args.limit}))["events"]:
                _print_event(event, args.json)
                seen = event["cursor"]
        async for streamed in events:
            if streamed.cursor > seen:  # an event both read and streamed is printed once
                _print_event(streamed.to_wire(), args.json)
    return None


async def _flows(client: MobkatClient, args: argparse.Namespace) -> Any:
    return await client.request("mob/flows", {"mob_id": args.mob})


async def _run_flow(client: MobkatClient, args: argparse.Namespace) -> Any:
    params: dict[str, Any] = {"mob_id": args.mob, "flow_id": args.flow, "params": _params(args.param)}
    if args.prompt is not None:
        params["params"].setdefault("prompt", args.prompt)
    started = await client.request("mob/flow_run", params)
    if not args.wait:
        return started
    deadline = asyncio.get_running_loop().time() + args.wait
    while True:  # the run is persisted before mob/flow_run answers: its status is always readable
        run = (await client.request("mob/flow_status", {"mob_id": args.mob, "run_id": started["run_id"]})).get("run")
        if run and run.get("status") in ("completed", "failed", "canceled"):
            return await client.request("mob/run_result", {"mob_id": args.mob, "run_id": started["run_id"]})
        if asyncio.get_running_loop().time() > deadline:
            raise InvalidInputError(f"flow run {started['run_id']} is still {run and run.get('status')} after "
                                    f"--wait {args.wait:g} s", details={"run_id": started["run_id"]})
        await asyncio.sleep(0.2)  # polling interval; bounded by --wait


async def _lifecycle(client: MobkatClient, args: argparse.Namespace) -> Any:
    return await client.request("mob/lifecycle", {"mob_id": args.mob, "action": args.verb})


# -- output -------------------------------------------------------------------------------------------
def _print_event(event: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps(event), flush=True)
        return
    fields = dict(event["kind"])
    kind = fields.pop("type")
    print(f"{event['cursor']:>5} {kind:<22} {json.dumps(fields, sort_keys=True)}", flush=True)


def _show(verb: str, result: Any) -> None:
    if verb == "list":
        for mob in result["mobs"]:
            print(f"{mob['mob_id']}\t{mob['status']}")
    elif verb == "status" and "members" in result:
        print(f"mob {result['mob_id']}: {result['status']}, {len(result['members'])} member(s)")
        for m in result["members"]:
            wired = ", ".join(m.get("wired_to", [])) or "-"
            print(f"  {m['agent_identity']:<16} {m['role']:<12} {m['status']:<8} {m['runtime_mode']:<16} "
                  f"wired: {wired}")
    elif verb == "events":
        for event in result["events"]:
            _print_event(event, False)
    elif verb == "flows":
        for flow in result["flows"]:
            print(flow)
    else:
        print(json.dumps(result, indent=2, sort_keys=True))


# -- wiring the parser --------------------------------------------------------------------------------
def _connect_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tcp", type=parse_address, metavar="ADDR",
                        help=f"the running `mobkat rpc --tcp` server (default: ${TCP_ENV})")
    parser.add_argument("--auth-token-file", type=Path, metavar="FILE",
                        help="the server's --auth-token-file secret")
    parser.add_argument("--json", action="store_true", help="print the raw JSON result")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``mob`` subcommand and its verbs."""
    parser = subparsers.add_parser("mob", help="drive the mobs of a running `mobkat rpc --tcp` server",
                                   description="Drive mobs on a running server (docs/mob-cli.md).")
    verbs = parser.add_subparsers(dest="verb", metavar="VERB", required=True)

    def verb(name: str, fn: Verb, help_text: str, *, mob: bool = True) -> argparse.ArgumentParser:
        sub = verbs.add_parser(name, help=help_text, description=help_text)
        _connect_flags(sub)
        if mob:
            sub.add_argument("mob", help="the mob id")
        sub.set_defaults(func=lambda args: _run(fn, args), verb_fn=fn)
        return sub

    verb("list", _list, "list the server's mobs and their states", mob=False)
    status = verb("status", _status, "a mob's state and members (or one member's status)")
    status.add_argument("member", nargs="?", help="a member: its status (tokens, kickoff, ...)")
    create = verb("create", _create, "create a mob from a definition file (TOML or JSON)", mob=False)
    create.add_argument("file", help="the definition file (read here), or with --server-path a path on the server")
    create.add_argument("--server-path", action="store_true",
                        help="FILE is a path inside the server's --definitions-root")
    spawn = verb("spawn", _spawn, "spawn a member from a profile")
    spawn.add_argument("profile")
    spawn.add_argument("name", nargs="?", help="its identity (default: the profile name)")
    spawn.add_argument("--message", help="its first message")
    spawn.add_argument("--runtime-mode", choices=("autonomous_host", "turn_driven"))
    spawn.add_argument("--label", action="append", metavar="KEY=VALUE")
    for name, what in (("retire", "retire a member"), ("respawn", "respawn a member (generation + 1)"),
                       ("cancel", "force-cancel a member's running turn")):
        verb(name, _member, what).add_argument("name")
    for name, what in (("wire", "wire two members"), ("unwire", "unwire two members")):
        sub = verb(name, _wire, what)
        sub.add_argument("a")
        sub.add_argument("b")
    send = verb("send", _send, "send a member a message (its profile must be external_addressable)")
    send.add_argument("name")
    send.add_argument("text")
    send.add_argument("--handling-mode", choices=("queue", "steer"), default="queue")
    events = verb("events", _events, "the mob's events (--follow: as they happen, until the mob stops)")
    events.add_argument("--after", type=int, default=None, metavar="CURSOR",
                        help="events after this cursor (default: all kept; with --follow: only new ones)")
    events.add_argument("--limit", type=int, default=1000)
    events.add_argument("--follow", "-f", action="store_true")
    verb("flows", _flows, "the flows of a mob's definition")
    run_flow = verb("run-flow", _run_flow, "start a flow run (--wait: until it ends, then its result)")
    run_flow.add_argument("flow")
    run_flow.add_argument("--param", action="append", metavar="KEY=VALUE", help="a run parameter (JSON or text)")
    run_flow.add_argument("--prompt", help="sugar for --param prompt=TEXT")
    run_flow.add_argument("--wait", type=float, default=0.0, metavar="SECONDS")
    for action in LIFECYCLE:
        verb(action, _lifecycle, f"mob/lifecycle {action}")


def _run(fn: Verb, args: argparse.Namespace) -> int:
    address = args.tcp
    if address is None:
        raw = os.environ.get(TCP_ENV)
        if not raw:
            raise InvalidInputError(f"mobkat mob {args.verb}: say which server with --tcp HOST:PORT (or ${TCP_ENV})",
                                    details={"flag": "--tcp"})
        address = parse_address(raw)
    token = read_auth_token(args.auth_token_file) if args.auth_token_file else None
    if args.verb == "events" and args.after is None and not args.follow:
        args.after = 0
    host, port = address
    try:
        result = asyncio.run(_call(fn, args, f"[{host}]:{port}" if ":" in host else f"{host}:{port}", token))
    except MobkatClientError as exc:
        print(f"mobkat mob {args.verb}: error: {exc.message} ({exc.code})", file=sys.stderr)
        return 1
    except (ConnectionError, OSError) as exc:
        print(f"mobkat mob {args.verb}: cannot reach the server at {host}:{port}: {exc}", file=sys.stderr)
        return 1
    if result is not None:
        if args.json:
            print(json.dumps(result, indent=2, sort_keys=True))
        else:
            _show(args.verb, result)
    return 0


async def _call(fn: Verb, args: argparse.Namespace, address: str, token: str | None) -> Any:
    client = MobkatClient(auth_token=token)
    await client.connect(tcp=address)
    try:
        return await fn(client, args)
    finally:
        await client.close()
