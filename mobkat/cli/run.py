"""``mobkat run FILE``: start a mob, show what happens, feed it input, save audio, print where history is.

Input lines (typed, from ``--script FILE``, or piped): ``text`` goes to the default member,
``name: text`` to a named one; ``/say TEXT`` speaks TEXT (synthesised) into the default live member,
``/audio FILE.wav [member]`` speaks a WAV file, ``/wait SECONDS`` pauses, ``/quit`` ends. With no
input at all (stdin closed or empty), the definition's ``[demo]`` lines are spoken; in a terminal the
demo runs first (unless ``--no-demo``), then a prompt takes typed lines.
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from mobkat.audio import WavFormatError, encode_speech, load_wav, silence
from mobkat.errors import MobError, MobkatError

if TYPE_CHECKING:  # the mob runtime (and the openai SDK under it) loads only when `run` runs
    from mobkat.cli.run_view import AudioRecorder
    from mobkat.cli.run_watch import FailureWatch
    from mobkat.mob.mob import Mob

CHUNK_BYTES = 4800  # 100 ms of pcm16 24 kHz mono
QUIET_S = 1.0
SETTLE_EVENTS = {"turn_committed", "peer_message_routed", "user_transcript", "transcript_delta",
                 "assistant_transcript", "live_opened"}
COMMANDS = ("/say TEXT", "/audio FILE.wav [MEMBER]", "/wait [SECONDS]", "/quit")
PREFIX = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+):\s+(?P<text>.*)$")
TURNS_FAILED = 3  # exit code: some member's turns failed (provider unreachable, key refused, ...)
PROMPT = "you> "


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = subparsers.add_parser("run", help="run a mob defined in a TOML file")
    parser.add_argument("file", help="the mob definition, e.g. mobs/live-demo.toml")
    parser.add_argument("--simulator", action="store_true", help="use the built-in simulator even with an API key")
    parser.add_argument("--audio", metavar="FILE.wav", help="speak a WAV file (any rate or channels)")
    parser.add_argument("--script", metavar="FILE", help="read input lines from FILE instead of stdin")
    parser.add_argument("--member", help="the member input goes to by default")
    parser.add_argument("--no-demo", action="store_true", help="in a terminal, skip the [demo] before the prompt")
    parser.add_argument("--out", metavar="DIR", help="save assistant audio as WAV files here")
    parser.add_argument("--state-root", metavar="PATH", help="where histories are stored (default ~/.mobkat/state)")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for each input to settle")
    parser.add_argument("--web", nargs="?", const="127.0.0.1:0", default=None, metavar="ADDR", type=_web_address,
                        help="serve the browser console while the mob runs (default 127.0.0.1, a free port) and "
                             "print its URL; the run then lasts until Ctrl-C (docs/console.md)")
    parser.add_argument("--ray", metavar="ADDRESS", default=None,
                        help="spread the members over a Ray cluster: 'local' starts one on this machine, HOST:PORT "
                             "joins a running head (pip install 'mobkat[ray]'; docs/distributed.md)")
    parser.add_argument("--store-dsn", metavar="DSN", default=os.environ.get("MOBKAT_STORE_DSN"),
                        help="keep histories in PostgreSQL (needed with --ray on several machines; default "
                             "$MOBKAT_STORE_DSN, else SQLite under --state-root)")
    parser.set_defaults(func=_run)


def _web_address(text: str) -> tuple[str, int]:
    from mobkat.console.address import parse_web_address

    return parse_web_address(text)


def _store_label(mob: Mob) -> str:
    """Where the histories are: the SQLite file, or the PostgreSQL server (never its password)."""
    store = mob.services.store
    path = getattr(store, "path", None)
    if path is not None:
        return str(path)
    return str(getattr(store, "location", type(store).__name__))


def _state_root(arg: str | None) -> Path:
    if arg:
        return Path(arg)
    return Path(os.environ.get("MOBKAT_STATE_ROOT") or Path.home() / ".mobkat" / "state")


def _run(args: argparse.Namespace) -> int:
    from mobkat.cli.run_view import EventPrinter, summary
    from mobkat.cli.run_watch import FailureWatch, reach_of
    from mobkat.mob.mob import Mob

    for flag, value in (("--audio", args.audio), ("--script", args.script)):
        if value and not Path(value).is_file():
            raise MobError(f"{flag} {value}: no such file")
    if args.audio:
        _load_wav(args.audio)  # a bad WAV is reported before anything starts
    state_root = _state_root(args.state_root)
    engine: dict[str, Any] = {"engine": "ray", "ray_address": args.ray} if args.ray else {}
    mob = Mob.from_toml(args.file, simulator=True if args.simulator else None, state_root=state_root,
                        fresh=True, store_dsn=args.store_dsn, **engine)  # each run is a new mob; sessions stay
    out_dir = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix=f"mobkat-{mob.id}-"))
    with mob:
        if mob.simulator is not None:
            print(f"[mob] OFFLINE: the built-in simulator stands in for OpenAI at {mob.simulator.base_url} "
                  "(set OPENAI_API_KEY to use the real service)", flush=True)
            from mobkat.speech import describe as describe_speech

            print(f"[mob] simulator speech: {describe_speech()}", flush=True)
        if mob.ray_link is not None:
            print(f"[mob] engine: Ray cluster at {args.ray}, {mob.ray_link.alive_nodes()} node(s) alive; every "
                  f"member is placed on one (histories: {_store_label(mob)})", flush=True)
        reach = reach_of(mob)
        for info in reach.values():
            print(info.line(), flush=True)
        watch = FailureWatch(reach)
        printer = EventPrinter(mob, sys.stdout, watch.observe).start()
        driver = Driver(mob, args, out_dir, watch)
        console = None
        try:
            driver.start()
            if args.web is not None:
                from mobkat.cli.run_web import start_console

                console = start_console(mob, args.web)
            if sys.stdin is not None and not sys.stdin.closed and sys.stdin.isatty() and not args.script:
                driver.interactive(sys.stdin)
            else:
                driver.feed(_input_lines(args))
            if console is not None:
                from mobkat.cli.run_web import serve_until_interrupted

                serve_until_interrupted(console, watch.fatal)
        except KeyboardInterrupt:
            print("[mob] interrupted; stopping", flush=True)
        finally:
            if console is not None:
                console.stop()
        driver.settle()
        if watch.fatal.is_set():
            print(f"mobkat run: error: {watch.fatal_line}", file=sys.stderr, flush=True)
        lines = summary(mob, driver.recorders, _store_label(mob), getattr(mob.services.store, "schema", None))
    printer.join()
    for line in lines:
        print(line)
    failed = watch.failed_members()
    if failed:
        print(f"turns failed: {', '.join(failed)}", flush=True)
        return TURNS_FAILED
    return 0


def _load_wav(path: str | Path) -> bytes:
    try:
        return load_wav(path)
    except WavFormatError as exc:
        raise MobError(str(exc)) from None


def _input_lines(args: argparse.Namespace) -> Iterable[str] | None:
    """Lines to feed, or None when there is no input at all (then the demo runs)."""
    if args.script:
        return Path(args.script).read_text(encoding="utf-8").splitlines()
    stdin = sys.stdin
    if stdin is None or stdin.closed:
        return None
    try:
        lines = stdin.read().splitlines()
    except OSError:
        return None
    return lines or None


class Driver:
    """Feeds input into the mob and waits for it to settle."""

    def __init__(self, mob: Mob, args: argparse.Namespace, out_dir: Path, watch: FailureWatch) -> None:
        self.mob = mob
        self.watch = watch
        self.args = args
        self.out_dir = out_dir
        self.recorders: list[AudioRecorder] = []
        self.live_members: list[str] = []
        self.default_member = ""

    def start(self) -> None:
        names = self.mob.spawn_members()
        definition = self.mob.definition
        wanted = [n for n in names if self._wants_live(n)]
        for name in wanted:
            if not self._wait_live(name):
                continue
            if self.mob.member(name).live.channel_id is not None:
                from mobkat.cli.run_view import AudioRecorder

                recorder = AudioRecorder(name, self.out_dir)
                self.mob.member(name).live.subscribe(recorder)
                self.recorders.append(recorder)
                self.live_members.append(name)
        demo = definition.demo.member if definition.demo else None
        orchestrators = [m["name"] for m in self.mob.members() if m["role"] == definition.orchestrator_profile]
        self.default_member = (self.args.member or demo or (self.live_members[0] if self.live_members else None)
                               or (orchestrators[0] if orchestrators else None) or names[0])
        if self.args.audio and not self.watch.fatal.is_set():
            self.speak_wav(Path(self.args.audio), self.default_member)
            self.settle()

    def _wait_live(self, name: str) -> bool:
        """Wait for ``name``'s live channel to open or fail; False if a provider failure ends the run first."""
        deadline = time.monotonic() + self.args.timeout
        cursor = 0
        while not self.watch.fatal.is_set():
            for event in self.mob.events(cursor, timeout=0.2):
                cursor = event.cursor
                if event.type in ("live_opened", "live_failed") and event.get("member") == name:
                    return True
            if time.monotonic() > deadline:
                print(f"[mob] {name}: live channel did not open within {self.args.timeout:g} s", flush=True)
                return False
        return False

    def _wants_live(self, name: str) -> bool:
        profile = next(m["role"] for m in self.mob.members() if m["name"] == name)
        return self.mob.definition.live_settings(profile).open_on_spawn and \
            self.mob.definition.model_profile(profile).capabilities.realtime

    def interactive(self, stdin: TextIO) -> None:
        """A terminal: the demo first (unless ``--no-demo`` or ``--audio``), then a prompt until /quit or Ctrl-D."""
        if not self.args.no_demo and not self.args.audio and self.mob.definition.demo is not None:
            self.run_demo()
        if self.watch.fatal.is_set():
            return
        print(f"[mob] type lines for the members: TEXT (to {self.default_member}), MEMBER: TEXT, "
              f"{', '.join(COMMANDS)}; Ctrl-D ends", flush=True)
        while not self.watch.fatal.is_set():
            print(PROMPT, end="", flush=True)
            raw = stdin.readline()
            if not raw:
                print(flush=True)
                return
            if not self.feed_line(raw):
                return

    def run_demo(self) -> None:
        demo = self.mob.definition.demo
        if demo is None:
            print("[mob] no input and no [demo] in the definition: nothing to do", flush=True)
            return
        for text in demo.say:
            if self.watch.fatal.is_set():
                return
            if demo.member in self.live_members:
                print(f"[you -> {demo.member}] (speaking) {text}", flush=True)
                self.speak_text(text, demo.member)
            else:
                print(f"[you -> {demo.member}] {text}", flush=True)
                self.mob.send(demo.member, text)
            self.settle(demo.wait_s)

    def feed(self, lines: Iterable[str] | None) -> None:
        if lines is None:
            if not self.args.audio:
                self.run_demo()
            return
        for raw in lines:
            if self.watch.fatal.is_set() or not self.feed_line(raw):
                return

    def feed_line(self, raw: str) -> bool:
        """Handle one input line; False when input should stop (/quit)."""
        line = raw.strip()
        if not line or line.startswith("#"):
            return True
        if line == "/quit":
            return False
        try:
            self.handle(line)
        except (MobkatError, OSError, ValueError, IndexError) as exc:
            print(f"[mob] cannot do {line!r}: {exc}", flush=True)  # report and carry on
            return True
        self.settle()
        return True

    def handle(self, line: str) -> None:
        command, _, rest = line.partition(" ")
        if line.startswith("/"):
            if command == "/wait":
                time.sleep(float(rest) if rest.strip() else 1.0)
            elif command == "/say" and rest.strip():
                self.speak_text(rest.strip(), self.default_member)
            elif command == "/audio" and rest.strip():
                parts = rest.split()
                self.speak_wav(Path(parts[0]), parts[1] if len(parts) > 1 else self.default_member)
            else:
                usage = next((c for c in COMMANDS if c.split()[0] == command), None)
                problem = f"usage: {usage}" if usage else f"unknown command {command}"
                raise MobError(f"{problem} (commands: {', '.join(COMMANDS)})")
        else:
            member, text = self.default_member, line
            prefix = PREFIX.match(line)
            if prefix:
                names = [m["name"] for m in self.mob.members()]
                if prefix["name"] not in names:
                    raise MobError(f"unknown member {prefix['name']!r} (members: {', '.join(names)})")
                member, text = prefix["name"], prefix["text"].strip()
            if member in self.live_members:
                self.mob.member(member).live.send_text(text)
            else:
                self.mob.send(member, text)

    def speak_text(self, text: str, member: str) -> None:
        self._speak(encode_speech(text) + silence(700), member)

    def speak_wav(self, path: Path, member: str) -> None:
        self._speak(_load_wav(path) + silence(700), member)

    def _speak(self, pcm: bytes, member: str) -> None:
        from mobkat.live.wire import AudioChunk

        if member not in self.live_members:
            raise MobError(f"member {member!r} has no live channel to speak into; live members: "
                           f"{', '.join(self.live_members) or 'none'}")
        live = self.mob.member(member).live
        cursor = self.mob.events_log.latest
        for offset in range(0, len(pcm), CHUNK_BYTES):
            live.send_input(AudioChunk(data=base64.b64encode(pcm[offset:offset + CHUNK_BYTES]).decode()))
        # Hearing real speech takes longer than settle()'s quiet spell: wait for the member's answer.
        try:
            self.mob.wait_for_event(lambda e: e.type == "turn_committed" and e.get("member") == member,
                                    after=cursor, timeout=self.args.timeout)
        except TimeoutError:
            print(f"[mob] {member} did not answer within {self.args.timeout:g} s; moving on", flush=True)

    def settle(self, timeout: float | None = None) -> None:
        """Wait until routed messages are consumed and nothing has happened for a short quiet spell."""
        deadline = time.monotonic() + (timeout or self.args.timeout)
        cursor = self.mob.events_log.latest
        while time.monotonic() < deadline:
            while True:  # wait_idle in short steps, so that a provider failure ends the wait at once
                if self.watch.fatal.is_set():
                    return
                try:
                    self.mob.wait_idle(min(0.5, max(0.1, deadline - time.monotonic())))
                    break
                except TimeoutError:
                    if time.monotonic() >= deadline:
                        print(f"[mob] still busy after {timeout or self.args.timeout:g} s; moving on", flush=True)
                        return
            busy = False
            for event in self.mob.events(cursor, timeout=QUIET_S):
                cursor = event.cursor
                if event.type in SETTLE_EVENTS:
                    busy = True
                    break
            if not busy and self.mob.events_log.latest == cursor:
                return
