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
import subprocess
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from syncclient import SyncClientError, UsageError, service, version
from syncclient import pause as pausing
from syncclient.config import (
    Config,
    check_url,
    default_config_path,
    load_config,
    read_toml,
    state_dir_for,
)
from syncclient.journal import Journal
from syncclient.output import Reporter, plan_json, plan_table, zoned_time
from syncclient.runner import (
    EXIT_CODES_HELP,
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
    g.add_argument(
        "--transport",
        choices=["auto", "webdav", "form"],
        help="for http(s) URLs: webdav, form (HTML-form POSTs), or auto (WebDAV, falling back "
        "to form when a proxy blocks WebDAV verbs; the default)",
    )
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
    g.add_argument("--mail-part-size", help="piece size of the mail transport (default 16MiB)")
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
    p = _Parser(
        prog="syncclient",
        description="Send files from a site PC to a davsync server.",
        epilog=EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"syncclient {version()}")
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
    inst = svc_sub.add_parser(
        "install", help="write a systemd unit, or register a Windows Task Scheduler task"
    )
    uninst = svc_sub.add_parser("uninstall", help="stop the service and remove it")
    for sp in (inst, uninst):
        kind = sp.add_mutually_exclusive_group(required=True)
        kind.add_argument("--systemd", action="store_true", help="a systemd unit (Linux)")
        kind.add_argument("--windows", action="store_true", help="a Task Scheduler task")
        sp.add_argument(
            "--unit-scope",
            choices=["system", "user"],
            default="system",
            help="systemd: a system unit run by a dedicated account (default) or a per-user "
            "unit (systemctl --user)",
        )
        sp.add_argument(
            "--output",
            help="unit file / task XML to write ('-' prints it; default: the standard place)",
        )
        sp.add_argument(
            "--dry-run", action="store_true", help="print the commands instead of running them"
        )
    inst.add_argument(
        "--config",
        type=Path,
        help=f"config the daemon reads (default: {service.SYSTEM_CONFIG} for a system unit, "
        "else the per-user file 'syncclient init' writes)",
    )
    inst.add_argument(
        "--run-as",
        default=None,
        help=f"account the service runs as (systemd system unit: default "
        f"{service.SERVICE_USER}; Windows: default SYSTEM, or e.g. .\\syncclient)",
    )
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
        ("server", "transport"): get("transport"),
        ("state_dir",): get("state_dir"),
        ("windows_names",): get("windows_names"),
        ("transfer", "parallel"): get("parallel"),
        ("transfer", "chunk_size"): get("chunk_size"),
        ("transfer", "chunk_threshold"): get("chunk_threshold"),
        ("transfer", "bwlimit"): get("bwlimit"),
        ("mail", "part_size"): get("mail_part_size"),
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


def config_path(a: argparse.Namespace) -> Path | None:
    """The config file a command reads: ``--config``, else ``SYNCCLIENT_CONFIG``, else the
    default file ``syncclient init`` writes if it exists, else none (flags only)."""
    if getattr(a, "config", None) is not None:
        return Path(a.config)
    if os.environ.get("SYNCCLIENT_CONFIG"):
        return Path(os.environ["SYNCCLIENT_CONFIG"])
    default = default_config_path()
    return default if default.is_file() else None


def _load(a: argparse.Namespace) -> Config:
    path = config_path(a)
    if not getattr(a, "quiet", False):
        where = f"config {path}" if path is not None else "no config file (flags only)"
        print(f"syncclient: using {where}", file=sys.stderr)
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
        return [RunRequest(a.source, check_url(url), a.order, tuple(a.exclude))]
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
    reporter = Reporter("lines", -1 if a.quiet else a.verbose, interval=cfg.output.stats_interval)
    for req in _requests(cfg, a):
        prep, code, error = plan_only(cfg, req, reporter)
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
        since = zoned_time(flag["since"])
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
        opens = start.astimezone().isoformat(timespec="minutes") if start else "never"
        reporter.event("note", message=f"outside the sync windows; next opens {opens}")
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
        since = zoned_time(flag["since"])
        why = f": {flag['reason']}" if flag["reason"] else ""
        print(f"PAUSED since {since}{why} ('syncclient resume' continues)")
    for item in out:
        print(
            f"{item['source']} -> {item['url']}: {item['verified_files']} files verified, "
            f"{len(item['open_sessions'])} uploads open"
        )
        for r in item["last_runs"]:
            when = zoned_time(r.get("finished", 0))
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


def _service_config(a: argparse.Namespace) -> Path:
    if a.config is not None:
        return Path(a.config).absolute()
    if os.environ.get("SYNCCLIENT_CONFIG"):
        return Path(os.environ["SYNCCLIENT_CONFIG"]).absolute()
    if a.systemd and a.unit_scope == "system":
        return Path(service.SYSTEM_CONFIG)
    return default_config_path().absolute()


def _warn_config(config: Path) -> None:
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
            f"warning: {config} does not exist yet ('syncclient init --config {config}' "
            "writes one)",
            file=sys.stderr,
        )


def _run_commands(commands: list[list[str]], dry_run: bool, check: bool = True) -> int:
    """Run (or with ``dry_run`` print) each command; the first failure ends it."""
    for argv in commands:
        line = service.cmd_line(argv) if sys.platform == "win32" else service.shell_line(argv)
        if dry_run:
            print(line)
            continue
        print(f"running: {line}")
        try:
            code = subprocess.run(argv, check=False).returncode
        except OSError as exc:
            raise UsageError(f"cannot run {argv[0]}: {exc.strerror}") from exc
        if code != 0 and check:
            print(f"syncclient: {argv[0]} exited {code}", file=sys.stderr)
            return int(ExitCode.USAGE)
    return 0


def _unit_path(a: argparse.Namespace) -> Path:
    if a.output:
        return Path(a.output)
    if a.unit_scope == "user":
        base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
        return base / "systemd" / "user" / f"{service.NAME}.service"
    return Path("/etc/systemd/system") / f"{service.NAME}.service"


def _task_path(a: argparse.Namespace) -> Path:
    if a.output:
        return Path(a.output)
    base = os.environ.get("PROGRAMDATA") if sys.platform == "win32" else None
    folder = Path(base) / "syncclient" if base else default_config_path().parent
    return folder / f"{service.NAME}-task.xml"


def cmd_service(a: argparse.Namespace) -> int:
    """``service install``: a systemd unit, or a Windows Task Scheduler task;
    ``service uninstall`` stops and removes it."""
    if a.service_command == "uninstall":
        return _uninstall(a)
    config = _service_config(a)
    _warn_config(config)
    command = service.daemon_command(_daemon_exe(), config)
    if a.windows:
        return _install_task(a, command, config)
    user = a.unit_scope == "user"
    run_as = a.run_as or service.SERVICE_USER
    unit = service.systemd_unit(command, user, run_as)
    if a.output == "-":
        sys.stdout.write(unit)
        return 0
    path = _unit_path(a)
    if path.exists() and not a.force:
        raise UsageError(f"{path} exists; use --force to overwrite")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(unit, encoding="utf-8")
    print(f"wrote {path}\nto finish:\n{service.enable_hint(str(path), user, run_as, str(config))}")
    return 0


def _install_task(a: argparse.Namespace, command: list[str], config: Path) -> int:
    account = a.run_as or "SYSTEM"
    xml = service.task_xml(command, account, str(config.parent))
    if a.output == "-":
        sys.stdout.write(xml)
        return 0
    path = _task_path(a)
    service.write_task_xml(path, xml)
    print(f"wrote {path}")
    register = [service.schtasks_create(str(path), account), service.schtasks_run()]
    if sys.platform != "win32" or a.dry_run:
        print("register and start it on the site PC (as administrator):")
        for argv in register:
            print("  " + service.cmd_line(argv))
        print("check it:\n  " + service.cmd_line(service.schtasks_query()))
        return 0
    return _run_commands(register, dry_run=False)


def _uninstall(a: argparse.Namespace) -> int:
    if a.windows:
        dry = a.dry_run or sys.platform != "win32"
        code = _run_commands(service.schtasks_delete()[:1], dry, check=False)
        code = code or _run_commands(service.schtasks_delete()[1:], dry)
        if code == 0 and not dry and a.output:
            Path(a.output).unlink(missing_ok=True)
        return code
    user = a.unit_scope == "user"
    path = _unit_path(a)
    dry = a.dry_run or shutil.which("systemctl") is None
    if dry and not a.dry_run:
        print("systemctl not found; run these where the unit is installed:")
    _run_commands(service.systemd_disable(path.name, user), dry, check=False)
    if path.exists():
        if a.dry_run:
            print(f"rm {path}")
        else:
            path.unlink()
            print(f"removed {path}")
    else:
        print(f"{path} does not exist")
    _run_commands([service.systemd_reload(user)], dry, check=False)
    if not user:
        print(
            f"left in place: {service.SYSTEM_STATE_DIR} (journal and manifests), the config "
            f"and the {service.SERVICE_USER} account (sudo userdel {service.SERVICE_USER})"
        )
    return 0


def cmd_check_ignore(a: argparse.Namespace) -> int:
    """Print the rule that ignores PATH; exit 0 if ignored, 1 if not (as git check-ignore)."""
    cfg = load_config(config_path(a), {("default_ignores",): False} if a.no_default_ignores else {})
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
