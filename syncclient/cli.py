"""``syncclient init|plan|run|daemon|status|verify|pause|resume|service|check-ignore``.

Every command works from flags alone; ``--config`` (or ``SYNCCLIENT_CONFIG``) adds a TOML
file for services. Precedence: flags > environment > file > defaults. Exit codes: see
``runner.ExitCode`` and README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from syncclient import SyncClientError, UsageError, service
from syncclient import pause as pausing
from syncclient.config import (
    Config,
    default_config_path,
    load_config,
    read_toml,
    state_dir_for,
)
from syncclient.journal import Journal
from syncclient.output import Reporter, plan_json, plan_table
from syncclient.runner import (
    ExitCode,
    RunRequest,
    ignore_rules,
    open_transport,
    plan_only,
    run_once,
)
from syncclient.schedule import active, next_start
from syncclient.templates import CONFIG_TEMPLATE
from syncclient.transports import TransportError
from syncclient.verify import Status, verify_repository


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors exit 1, as documented
        self.print_usage(sys.stderr)
        self.exit(ExitCode.USAGE, f"{self.prog}: error: {message}\n")


def _common(p: argparse.ArgumentParser, positional: bool = True) -> None:
    if positional:
        p.add_argument("source", nargs="?", type=Path, help="local folder to send")
        p.add_argument("url", nargs="?", help="target collection URL on the server")
    g = p.add_argument_group("connection")
    g.add_argument("--config", type=Path, help="TOML config file (default: SYNCCLIENT_CONFIG)")
    g.add_argument("--user", help="user name")
    g.add_argument("--password-file", type=Path, help="file whose first line is the password")
    g.add_argument("--ca-bundle", type=Path, help="PEM CA bundle instead of the OS trust store")
    g.add_argument("--auth", choices=["auto", "basic", "digest"])
    g.add_argument("--state-dir", type=Path, help="where journals and manifests live")
    g = p.add_argument_group("selection and order")
    g.add_argument(
        "--order",
        help="newest-first, oldest-first, smallest-first, largest-first, "
        "path, latest-only:N, classes:GLOB,...  (combine with +)",
    )
    g.add_argument("--exclude", action="append", default=[], help="gitignore-style pattern")
    g.add_argument("--no-default-ignores", action="store_true")
    g.add_argument("--stable-seconds", type=float, help="stability gate for every rule")
    g.add_argument("--done-marker", help="suffix of done-marker files, e.g. .done")
    g.add_argument("--post-action", choices=["keep", "delete", "move", "delete-after"])
    g.add_argument("--archive-dir", help="folder for --post-action move")
    g.add_argument(
        "--windows-names",
        choices=["report", "skip", "off"],
        help="names Windows cannot hold: report and send (default), skip (exit 2), off",
    )
    g.add_argument("--delete-after-days", type=float)
    g = p.add_argument_group("transfer")
    g.add_argument("--parallel", type=int, help="files sent at once (default 4)")
    g.add_argument("--chunk-size", help="chunk size for resumable uploads (default 10MiB)")
    g.add_argument("--chunk-threshold", help="files this big or bigger use chunks (16MiB)")
    g.add_argument("--bwlimit", help="bandwidth limit in bytes/s, e.g. 512k (0 = none)")
    g.add_argument("--retries", type=int, help="attempts per request (default 8)")
    g.add_argument("--stall-timeout", type=float, help="seconds without progress (default 60)")
    g.add_argument(
        "--no-download-verify",
        action="store_true",
        help="do not download files to verify them on servers that report no hash",
    )
    g = p.add_argument_group("budget")
    g.add_argument("--max-bytes", help="stop sending after this many bytes")
    g.add_argument("--max-duration", help="stop after this long, e.g. 90m")
    g.add_argument("--cutoff", choices=["hard", "soft", "cautious"])
    g.add_argument("--window", action="append", default=[], help="e.g. 'Mon-Fri 19:00-07:00'")
    g = p.add_argument_group("output")
    g.add_argument("--json", action="store_true", help="machine-readable output")
    g.add_argument("-v", "--verbose", action="count", default=0)
    g.add_argument("-q", "--quiet", action="store_true")
    g.add_argument("--manifest", type=Path, help="JSONL manifest of verified files")
    g.add_argument("--summary-file", type=Path, help="write the JSON run summary here")
    g.add_argument("--stats-interval", type=float, help="seconds between stats lines (30)")
    g.add_argument("--after-file", help="command run after each verified file")
    g.add_argument("--after-run", help="command run after each run")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for documentation and tests)."""
    p = _Parser(prog="syncclient", description="Send files from a site PC to a davsync server.")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)
    init = sub.add_parser("init", help="write a commented TOML config file")
    init.add_argument("--config", type=Path, help="where to write (default: per-user path)")
    init.add_argument("--url")
    init.add_argument("--user")
    init.add_argument("--password-file", type=Path)
    init.add_argument("--source", type=Path)
    init.add_argument("--force", action="store_true", help="overwrite an existing file")
    plan = sub.add_parser("plan", help="print what a run would do; sends nothing")
    _common(plan)
    run = sub.add_parser("run", help="sync (with --once: one pass, then exit)")
    _common(run)
    run.add_argument("--once", action="store_true", help="one pass, then exit")
    run.add_argument("--max-cycles", type=int, help=argparse.SUPPRESS)
    daemon = sub.add_parser("daemon", help="sync repeatedly inside the configured windows")
    _common(daemon)
    daemon.add_argument("--interval", type=float, help="seconds between passes (300)")
    daemon.add_argument("--max-cycles", type=int, help="stop after N passes (default: never)")
    status = sub.add_parser("status", help="show the last runs and whether sync is paused")
    _common(status)
    verify = sub.add_parser(
        "verify", help="re-check every verified file against the server and the local copy"
    )
    _common(verify)
    for name, text in (("pause", "stop sending until resume"), ("resume", "undo pause")):
        sp = sub.add_parser(name, help=text)
        sp.add_argument("--config", type=Path)
        sp.add_argument("--state-dir", type=Path)
        sp.add_argument("--json", action="store_true")
        if name == "pause":
            sp.add_argument("--reason", default="", help="shown by status")
    svc = sub.add_parser("service", help="install the daemon as a background service")
    svc_sub = svc.add_subparsers(dest="service_command", required=True, parser_class=_Parser)
    inst = svc_sub.add_parser("install", help="write a systemd unit / print sc.exe create")
    kind = inst.add_mutually_exclusive_group(required=True)
    kind.add_argument("--systemd", action="store_true", help="write a systemd unit")
    kind.add_argument("--windows", action="store_true", help="print the sc.exe command line")
    inst.add_argument("--user", action="store_true", help="a per-user unit (systemctl --user)")
    inst.add_argument("--config", type=Path, help="config the daemon reads (default: per-user)")
    inst.add_argument("--output", help="unit file to write; '-' prints it")
    inst.add_argument("--force", action="store_true", help="overwrite an existing unit file")
    ci = sub.add_parser("check-ignore", help="say which ignore rule matches PATH")
    ci.add_argument("path", help="path relative to the source folder (or inside it)")
    ci.add_argument("--source", type=Path, default=None)
    ci.add_argument("--config", type=Path)
    ci.add_argument("--exclude", action="append", default=[])
    ci.add_argument("--no-default-ignores", action="store_true")
    return p


def _overrides(a: argparse.Namespace) -> dict[tuple[str, ...], Any]:
    def get(name: str) -> Any:
        return getattr(a, name, None)

    o: dict[tuple[str, ...], Any] = {
        ("server", "user"): get("user"),
        ("server", "password_file"): get("password_file"),
        ("server", "ca_bundle"): get("ca_bundle"),
        ("server", "auth"): get("auth"),
        ("state_dir",): get("state_dir"),
        ("windows_names",): get("windows_names"),
        ("transfer", "parallel"): get("parallel"),
        ("transfer", "chunk_size"): get("chunk_size"),
        ("transfer", "chunk_threshold"): get("chunk_threshold"),
        ("transfer", "bwlimit"): get("bwlimit"),
        ("transfer", "retries"): get("retries"),
        ("transfer", "stall_timeout"): get("stall_timeout"),
        ("budget", "max_bytes"): get("max_bytes"),
        ("budget", "max_duration"): get("max_duration"),
        ("budget", "cutoff"): get("cutoff"),
        ("output", "manifest"): get("manifest"),
        ("output", "summary_file"): get("summary_file"),
        ("output", "stats_interval"): get("stats_interval"),
        ("hooks", "after_file"): get("after_file"),
        ("hooks", "after_run"): get("after_run"),
        ("schedule", "interval"): get("interval"),
    }
    if get("no_download_verify"):
        o[("transfer", "download_verify")] = False
    if get("no_default_ignores"):
        o[("default_ignores",)] = False
    if get("window"):
        o[("schedule", "windows")] = list(a.window)
    return o


def _rule_overrides(cfg: Config, a: argparse.Namespace) -> Config:
    """Apply --stable-seconds, --done-marker and post-action flags to every rule."""
    upd: dict[str, Any] = {}
    for flag, key in (
        ("stable_seconds", "stable_seconds"),
        ("done_marker", "done_marker"),
        ("post_action", "post_action"),
        ("archive_dir", "archive_dir"),
        ("delete_after_days", "delete_after_days"),
    ):
        value = getattr(a, flag, None)
        if value is not None:
            upd[key] = value
    if not upd:
        return cfg
    rules = [r.model_copy(update=upd) for r in cfg.rule]
    return cfg.model_copy(
        update={"rule": rules, "default_rule": cfg.default_rule.model_copy(update=upd)}
    )


def _load(a: argparse.Namespace) -> Config:
    path = a.config or (
        Path(os.environ["SYNCCLIENT_CONFIG"]) if os.environ.get("SYNCCLIENT_CONFIG") else None
    )
    overrides = _overrides(a)
    if getattr(a, "url", None):
        overrides[("server", "url")] = a.url
    cfg = load_config(path, overrides)
    return _rule_overrides(cfg, a)


def _requests(cfg: Config, a: argparse.Namespace) -> list[RunRequest]:
    """One request for SOURCE URL on the command line, else one per configured repository."""
    if getattr(a, "source", None) is not None:
        url = a.url or cfg.server.url
        if not url:
            raise UsageError("give the target URL (argument, SYNCCLIENT_URL or server.url)")
        url = url if url.endswith("/") else url + "/"
        return [RunRequest(a.source, url, a.order, tuple(a.exclude))]
    repos = cfg.repositories()
    if not repos:
        raise UsageError("give SOURCE_DIR URL, or configure [[repository]] in the config file")
    return [RunRequest(root, url, a.order, tuple(a.exclude)) for root, url in repos]


def _reporter(cfg: Config, a: argparse.Namespace) -> Reporter:
    verbosity = -1 if a.quiet else a.verbose
    return Reporter.auto(a.json, verbosity, cfg.output.stats_interval)


def cmd_plan(a: argparse.Namespace) -> int:
    """Print the plan of each repository."""
    cfg = _load(a)
    worst = ExitCode.OK
    docs = []
    for req in _requests(cfg, a):
        prep, code, error = plan_only(cfg, req)
        if prep is None:
            print(f"error: {error}", file=sys.stderr)
            worst = max(worst, code)
            continue
        if a.json:
            docs.append(
                {
                    "source": str(req.root),
                    "url": req.url,
                    "server": {
                        "listing": prep.remote.method.value,
                        "chunking": prep.info.chunking,
                        "notes": list(prep.info.notes),
                    },
                    "counts": prep.plan.counts(),
                    "actions": plan_json(prep.plan),
                }
            )
        else:
            for note in prep.info.notes:
                print(f"note: {note}")
            print(plan_table(prep.plan, a.verbose))
    if a.json:
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=1))
    return int(worst)


def _window_deadline(cfg: Config, now: datetime) -> tuple[bool, float | None, int | None]:
    """(inside a window, seconds until it closes, its bandwidth limit)."""
    windows = cfg.windows()
    if not windows:
        return True, None, None
    hit = active(windows, now)
    if hit is None:
        return False, None, None
    end, bw = hit
    return True, (end - now).total_seconds(), bw or None


def _run_all(cfg: Config, a: argparse.Namespace, reporter: Reporter) -> ExitCode:
    flag = pausing.paused(cfg)
    if flag is not None:
        reason = "paused, backlog left"
        since = datetime.fromtimestamp(flag["since"]).isoformat(timespec="seconds")
        note = f"{reason} (since {since}{'; ' + flag['reason'] if flag['reason'] else ''})"
        reporter.event("note", message=note + "; 'syncclient resume' continues")
        reporter.event(
            "summary",
            paused=True,
            exit_code=int(ExitCode.BACKLOG),
            exit_reason=reason,
            nothing_transferred=True,
        )
        return ExitCode.BACKLOG
    inside, deadline, bw = _window_deadline(cfg, datetime.now())
    if not inside:
        start = next_start(cfg.windows(), datetime.now())
        reporter.event("note", message=f"outside the sync windows; next opens {start}")
        return ExitCode.BACKLOG
    worst = ExitCode.OK
    for req in _requests(cfg, a):
        req = RunRequest(req.root, req.url, req.order, req.excludes, deadline, bw)
        code, _summary = run_once(cfg, req, reporter)
        worst = _combine(worst, code)
    return worst


_SEVERITY = [
    ExitCode.OK,
    ExitCode.WAITING,
    ExitCode.BACKLOG,
    ExitCode.PARTIAL,
    ExitCode.VERIFY,
    ExitCode.SOURCE,
    ExitCode.USAGE,
    ExitCode.UNREACHABLE,
]


def _combine(a: ExitCode, b: ExitCode) -> ExitCode:
    return a if _SEVERITY.index(a) >= _SEVERITY.index(b) else b


def cmd_run(a: argparse.Namespace) -> int:
    """``run --once``: one pass; without ``--once``: like ``daemon``."""
    if not a.once:
        a.interval = None
        return cmd_daemon(a)
    cfg = _load(a)
    return int(_run_all(cfg, a, _reporter(cfg, a)))


def cmd_daemon(a: argparse.Namespace) -> int:
    """Repeat passes every ``interval`` seconds, sleeping outside the windows. Bounded by
    ``--max-cycles``; SIGTERM ends it after the current pass."""
    cfg = _load(a)
    reporter = _reporter(cfg, a)
    cycles = a.max_cycles if a.max_cycles is not None else sys.maxsize
    code = ExitCode.OK
    for cycle in range(cycles):
        code = _run_all(cfg, a, reporter)
        if code in (ExitCode.USAGE, ExitCode.SOURCE) or cycle + 1 >= cycles:
            break
        wait = cfg.schedule.interval
        start = next_start(cfg.windows(), datetime.now()) if cfg.windows() else None
        if start is not None:
            wait = max(wait, (start - datetime.now()).total_seconds())
        time.sleep(min(wait, 3600.0))
    return int(code)


def cmd_status(a: argparse.Namespace) -> int:
    """Print the last runs recorded in each repository's journal."""
    cfg = _load(a)
    flag = pausing.paused(cfg)
    out: list[dict[str, Any]] = []
    for req in _requests(cfg, a):
        journal = Journal(state_dir_for(cfg, req.root, req.url) / "journal.sqlite")
        try:
            runs = journal.last_runs(5)
            view = journal.view()
        finally:
            journal.close()
        out.append(
            {
                "source": str(req.root),
                "url": req.url,
                "paused": flag is not None,
                "paused_since": flag["since"] if flag else None,
                "pause_reason": flag["reason"] if flag else None,
                "verified_files": len(view.sent),
                "open_sessions": sorted(view.open_sessions),
                "last_runs": runs,
            }
        )
    if a.json:
        print(json.dumps(out, indent=1, default=str))
        return 0
    if flag is not None:
        since = datetime.fromtimestamp(flag["since"]).isoformat(timespec="seconds")
        why = f": {flag['reason']}" if flag["reason"] else ""
        print(f"PAUSED since {since}{why} ('syncclient resume' continues)")
    for item in out:
        print(
            f"{item['source']} -> {item['url']}: {item['verified_files']} files verified, "
            f"{len(item['open_sessions'])} uploads open"
        )
        for r in item["last_runs"]:
            when = datetime.fromtimestamp(r.get("finished", 0)).isoformat(timespec="seconds")
            print(f"  {when}  exit {r.get('exit_code')}  {r.get('exit_reason')}")
    return 0


def cmd_verify(a: argparse.Namespace) -> int:
    """Re-check every verified file; exit 0 if all are OK, 4 on any mismatch or missing."""
    cfg = _load(a)
    worst = ExitCode.OK
    docs: list[dict[str, Any]] = []
    for req in _requests(cfg, a):
        transport = open_transport(cfg, req.url)
        try:
            checks = verify_repository(
                cfg, req.root, req.url, transport, cfg.transfer.download_verify
            )
        except TransportError as exc:
            print(f"error: {exc}", file=sys.stderr)
            worst = _combine(worst, ExitCode.UNREACHABLE)
            continue
        finally:
            transport.close()
        counts: dict[str, int] = {}
        for c in checks:
            counts[c.status.value] = counts.get(c.status.value, 0) + 1
        bad = sum(1 for c in checks if c.status is not Status.OK)
        if bad:
            worst = _combine(worst, ExitCode.VERIFY)
        docs.append(
            {
                "source": str(req.root),
                "url": req.url,
                "counts": counts,
                "files": [
                    {
                        "path": c.path,
                        "status": c.status.value,
                        "detail": c.detail,
                        "server_by": c.server_by,
                        "local": c.local,
                    }
                    for c in checks
                ],
            }
        )
        if not a.json:
            for c in checks:
                if c.status is not Status.OK or not a.quiet:
                    print(
                        f"{c.status.value:<17}  {c.path}" + (f"  ({c.detail})" if c.detail else "")
                    )
            total = len(checks)
            print(
                f"{req.root}: {total} verified files re-checked, {total - bad} OK, {bad} not"
                if total
                else f"{req.root}: no files recorded as verified yet"
            )
    if a.json:
        print(json.dumps(docs[0] if len(docs) == 1 else docs, indent=1))
    return int(worst)


def cmd_pause(a: argparse.Namespace) -> int:
    """Set the pause flag."""
    cfg = _load(a)
    info = pausing.pause(cfg, a.reason)
    if a.json:
        print(json.dumps({"paused": True, **info}))
    else:
        print(f"paused; runs send nothing until 'syncclient resume' ({pausing.flag_path(cfg)})")
    return 0


def cmd_resume(a: argparse.Namespace) -> int:
    """Remove the pause flag."""
    cfg = _load(a)
    was = pausing.resume(cfg)
    if a.json:
        print(json.dumps({"paused": False, "was_paused": was}))
    else:
        print("resumed" if was else "was not paused")
    return 0


def _daemon_exe() -> list[str]:
    exe = shutil.which("syncclient")
    return [str(Path(exe).resolve())] if exe else [sys.executable, "-m", "syncclient.cli"]


def cmd_service(a: argparse.Namespace) -> int:
    """``service install``: write a systemd unit, or print the Windows sc.exe command."""
    config = a.config or (
        Path(os.environ["SYNCCLIENT_CONFIG"])
        if os.environ.get("SYNCCLIENT_CONFIG")
        else default_config_path()
    )
    config = config.absolute()
    if config.exists():
        server = read_toml(config).get("server", {})
        if not isinstance(server, dict) or not server.get("password_file"):
            print(
                f"warning: {config} names no server.password_file; a service has no "
                "interactive login, so give it a password file readable only by its account",
                file=sys.stderr,
            )
    else:
        print(
            f"warning: {config} does not exist yet ('syncclient init' writes one)", file=sys.stderr
        )
    command = service.daemon_command(_daemon_exe(), config)
    if a.windows:
        print(service.sc_create(command))
        print(
            "REM not executed. The daemon does not speak the Windows service protocol itself:"
            " run this under a service wrapper, or use Task Scheduler ('at startup')."
        )
        return 0
    unit = service.systemd_unit(command, a.user)
    out = a.output
    if out is None:
        base = (
            Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config") / "systemd" / "user"
            if a.user
            else Path("/etc/systemd/system")
        )
        out = str(base / f"{service.NAME}.service")
    if out == "-":
        sys.stdout.write(unit)
        return 0
    path = Path(out)
    if path.exists() and not a.force:
        raise UsageError(f"{path} exists; use --force to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit, encoding="utf-8")
    print(f"wrote {path}\nenable it with:\n{service.enable_hint(str(path), a.user)}")
    return 0


def cmd_check_ignore(a: argparse.Namespace) -> int:
    """Print the rule that ignores PATH; exit 0 if ignored, 1 if not (as git check-ignore)."""
    cfg = load_config(a.config, {("default_ignores",): False} if a.no_default_ignores else {})
    root = a.source
    rel = a.path
    if root is not None and Path(rel).is_absolute():
        rel = str(Path(rel).resolve().relative_to(root.resolve()))
    rel = rel.replace(os.sep, "/").strip("/")
    rules = ignore_rules(cfg, root or Path("."), cfg.rules(), a.exclude)
    is_dir = root is not None and (root / rel).is_dir()
    parts = rel.split("/")
    for i in range(1, len(parts)):
        hit = rules.ignored("/".join(parts[:i]), is_dir=True)
        if hit is not None:
            print(f"{hit.describe()}\t{rel}  (folder {'/'.join(parts[:i])}/ is ignored)")
            return 0
    m = rules.match(rel, is_dir)
    if m is None or not m.ignored:
        print(f"not ignored\t{rel}" + (f"  (re-included by {m.describe()})" if m else ""))
        return 1
    print(f"{m.describe()}\t{rel}")
    return 0


def cmd_init(a: argparse.Namespace) -> int:
    """Write a commented config file; refuses to overwrite without --force."""
    path: Path = a.config or default_config_path()
    if path.exists() and not a.force:
        raise UsageError(f"{path} exists; use --force to overwrite")
    text = CONFIG_TEMPLATE.format(
        url=json.dumps(a.url or "https://dav.example.org/remote.php/dav/files/site1/incoming/"),
        user=json.dumps(a.user or "site1"),
        password_file=json.dumps(str(a.password_file or "password.txt")),
        source=json.dumps(str(a.source or "data")),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    load_config(path, {}, environ={"SYNCCLIENT_PASSWORD": "x"})  # the template must parse
    print(f"wrote {path}")
    return 0


COMMANDS = {
    "init": cmd_init,
    "plan": cmd_plan,
    "run": cmd_run,
    "daemon": cmd_daemon,
    "status": cmd_status,
    "verify": cmd_verify,
    "pause": cmd_pause,
    "resume": cmd_resume,
    "service": cmd_service,
    "check-ignore": cmd_check_ignore,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``syncclient`` console script; returns the exit code."""
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except UsageError as exc:
        print(f"syncclient: {exc}", file=sys.stderr)
        return int(ExitCode.USAGE)
    except SyncClientError as exc:
        print(f"syncclient: {exc}", file=sys.stderr)
        return int(ExitCode.SOURCE)


if __name__ == "__main__":
    sys.exit(main())
