"""Throughput of the tracking endpoints against their ceilings, under gunicorn + PostgreSQL.

Run by hand (not by the test suite); only ever loads 127.0.0.1:

    .venv/bin/python benchmarks/pixel.py                 # all five scenarios, 10 s each
    .venv/bin/python benchmarks/pixel.py --ingest redis  # with LEADPIXEL_INGEST=redis
    .venv/bin/python benchmarks/pixel.py --ingest redis --drain after  # buffer a burst
    .venv/bin/python benchmarks/pixel.py --ingest both   # direct, then buffered: one run's ratios
    .venv/bin/python benchmarks/pixel.py --scenarios c,d --duration 5

Scenarios, each with the same client, headers and gunicorn (sync workers):

  (a) gif     bare Django view answering the same GIF, no database  (the ceiling)
  (b) insert  bare Django view doing one ORM INSERT of an Open row  (the synchronous ceiling)
  (c) pixel   GET /t/o/<token>.gif
  (d) click   GET /t/c/<token>  (302)
  (e) push    bare Django view doing one RPUSH to Redis  (the ceiling of buffered ingestion)

For each: requests/s at peak (closed loop, ``--connections``), p50/p99 latency,
non-2xx/3xx answers and socket errors; then p50/p99 again at about 80% of
that peak (wrk's ``delay()`` hook paces each connection); then a row check:
rows stored must equal answers. wrk stops mid-flight, so after a wrk run the
server may finish up to one request per connection that wrk never counted:
the wrk check accepts ``0 <= rows - answers <= connections``; an exact check
follows (``--exact`` requests from a bounded Python client, rows must equal
its 2xx/302 answers exactly).

Needs wrk (``apt-get install wrk``), gunicorn, PostgreSQL on 127.0.0.1:5432 and
(by default, for the production-like off-path enrichment publish) Redis on
127.0.0.1:6379. The ceiling views live in example_project/benchviews and are
mounted at /bench/ when LEADPIXEL_BENCH_VIEWS=1 (example settings/urls); when
the example project does not have that switch yet, a settings shim in a
temporary directory mounts them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchenv import ROOT, flush_redis_db  # noqa: E402  (benchmarks/benchenv.py)

EXAMPLE = ROOT / "example_project"
SECRET = "leadpixel-benchmark-not-secret"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
REDIS_DB = 13  # the publish queue of this benchmark (no worker consumes it); flushed after

LUA = r"""
local threads = {}
wrk.headers["User-Agent"] = "%(ua)s"
local pause = %(delay_ms)s

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
end

function delay()
  return pause
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, t in ipairs(threads) do
    local c = t:get("counts")
    for k, v in pairs(c) do merged[tostring(k)] = (merged[tostring(k)] or 0) + v end
  end
  local parts = {}
  for k, v in pairs(merged) do table.insert(parts, string.format('"%%s": %%d', k, v)) end
  io.write(string.format(
    'WRKJSON {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p90_us": %%d, "p99_us": %%d, '
    .. '"max_us": %%d, "mean_us": %%f, "non2xx3xx": %%d, "connect": %%d, "read": %%d, '
    .. '"write": %%d, "timeout": %%d, "status": {%%s}}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, summary.errors.status,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout,
    table.concat(parts, ", ")))
end
"""

SHIM_SETTINGS = """
from example_project.settings import *  # noqa: F401,F403
INSTALLED_APPS = [*INSTALLED_APPS, "benchviews"]  # noqa: F405
ROOT_URLCONF = "bench_shim_urls"
"""
SHIM_URLS = """
from django.urls import include, path
from example_project.urls import urlpatterns as _base
urlpatterns = [path("bench/", include("benchviews.urls")), *_base]
"""


def log(*parts) -> None:
    print(*parts, file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


# --- environment, database, tokens --------------------------------------------------------


def server_env(args, shim_dir: Path | None) -> dict[str, str]:
    env = {
        **os.environ,
        "DJANGO_SECRET_KEY": SECRET,
        "DJANGO_DEBUG": "0",
        "LEADPIXEL_DB": "postgres",
        "PGHOST": "127.0.0.1",
        "PGPORT": "5432",
        "PGUSER": os.environ.get("PGUSER", "postgres"),
        "PGDATABASE": args.database,
        "LEADPIXEL_BENCH_VIEWS": "1",
        "LEADPIXEL_BASE_URL": "http://127.0.0.1",
        "LEADPIXEL_SPOOL_FILE": str(Path(tempfile.gettempdir()) / "leadpixel-bench-spool.jsonl"),
    }
    paths = [str(ROOT), str(EXAMPLE)]
    if shim_dir is not None:
        paths.insert(0, str(shim_dir))
        env["DJANGO_SETTINGS_MODULE"] = "bench_shim_settings"
    else:
        env["DJANGO_SETTINGS_MODULE"] = "example_project.settings"
    env["PYTHONPATH"] = os.pathsep.join(paths + [env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if args.enrich == "broker":
        env["CELERY_BROKER_URL"] = f"redis://127.0.0.1:6379/{REDIS_DB}"
    else:
        env.pop("CELERY_BROKER_URL", None)  # eager: enrichment runs in the request
    if args.mode:
        env["LEADPIXEL_INGEST"] = args.mode
    else:
        env.pop("LEADPIXEL_INGEST", None)
    return env


def make_shim() -> Path | None:
    settings_text = (EXAMPLE / "example_project" / "settings.py").read_text()
    urls_text = (EXAMPLE / "example_project" / "urls.py").read_text()
    if "LEADPIXEL_BENCH_VIEWS" in settings_text and "LEADPIXEL_BENCH_VIEWS" in urls_text:
        return None
    shim = Path(tempfile.mkdtemp(prefix="leadpixel-bench-"))
    (shim / "bench_shim_settings.py").write_text(SHIM_SETTINGS)
    (shim / "bench_shim_urls.py").write_text(SHIM_URLS)
    return shim


DRAIN_LOOP = """
import time, django
django.setup()
from django_leadpixel.tasks import ingest
while True:  # what Celery beat + a worker do with the "ingest" task, here every 0.2 s
    ingest()
    time.sleep(0.2)
"""


def start_drainer(env: dict) -> subprocess.Popen:
    """With --ingest redis: one process moving the Redis buffer into PostgreSQL."""
    return subprocess.Popen([sys.executable, "-c", DRAIN_LOOP], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


@contextlib.contextmanager
def held(process: subprocess.Popen | None):
    """Stop ``process`` (SIGSTOP) for the duration; it resumes where it was."""
    if process is not None:
        process.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        if process is not None:
            process.send_signal(signal.SIGCONT)


def ensure_database(name: str) -> None:
    import psycopg

    with psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres",
                         autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(env: dict[str, str]) -> None:
    os.environ.update({k: v for k, v in env.items() if k != "PYTHONPATH"})
    for entry in reversed(env["PYTHONPATH"].split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


def prepare_messages():
    """The three messages the scenarios write to, each starting empty."""
    from benchviews.views import BENCH_INSERT_MESSAGE
    from django.db import connection

    from django_leadpixel import tokens
    from django_leadpixel.models import Click, Message, Open

    Open.objects.filter(message__campaign="benchmark").delete()
    Click.objects.filter(message__campaign="benchmark").delete()
    Message.objects.filter(campaign="benchmark").delete()
    insert = Message.objects.create(public_id=BENCH_INSERT_MESSAGE, recipient="bench@example.com",
                                    subject="insert ceiling", campaign="benchmark")
    pixel = Message.objects.create(recipient="bench@example.com", subject="pixel",
                                   campaign="benchmark")
    click = Message.objects.create(recipient="bench@example.com", subject="click",
                                   campaign="benchmark")
    connection.close()
    return {
        "gif": ("/bench/gif", None, None),
        "push": ("/bench/push", None, None),
        "insert": ("/bench/insert", Open, insert.pk),
        "pixel": ("/t/o/" + tokens.make_open_token(pixel.public_id) + ".gif", Open, pixel.pk),
        "click": ("/t/c/" + tokens.make_click_token(click.public_id,
                                                    "https://shop.example.com/offer?id=42", 3),
                  Click, click.pk),
    }


def count_rows(model, message_pk) -> int:
    if model is None:
        return 0
    from django.db import connection

    try:
        return model.objects.filter(message_id=message_pk).count()
    finally:
        connection.close()


def buffered_lines() -> int:
    """Hits still waiting in the ingest buffer (0 unless the server buffers)."""
    if os.environ.get("LEADPIXEL_INGEST") != "redis":
        return 0
    from django_leadpixel.conf import app_settings
    from django_leadpixel.ingest import buffer

    return buffer.client().llen(app_settings.INGEST_KEY)


def settle(model, message_pk, timeout: float) -> int:
    """Row count once the buffer is empty and the count has stopped moving.

    The buffer matters at the start: the drainer may still be starting up
    while the warm-up's hits wait in Redis and no row moves yet.
    """
    last, stable_since = count_rows(model, message_pk), time.monotonic()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = count_rows(model, message_pk)
        if now != last or buffered_lines():
            last, stable_since = now, time.monotonic()
        elif time.monotonic() - stable_since >= 1.5:
            break
    return last


# --- load ---------------------------------------------------------------------------------


def run_wrk(url: str, args, duration: float, delay_ms: float = 0.0) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(LUA % {"ua": CHROME, "delay_ms": f"{delay_ms:.3f}"})
    cmd = ["wrk", "-t", str(args.wrk_threads), "-c", str(args.connections),
           "-d", f"{max(1, round(duration))}s", "--timeout", "5s", "-s", script.name, url]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True,
                             timeout=duration + 30).stdout
    finally:
        os.unlink(script.name)
    line = next((x for x in out.splitlines() if x.startswith("WRKJSON ")), None)
    if line is None:
        raise RuntimeError("wrk gave no summary:\n" + out)
    data = json.loads(line[len("WRKJSON "):])
    data["rps"] = data["requests"] / (data["duration_us"] / 1e6)
    data["socket_errors"] = data["connect"] + data["read"] + data["write"] + data["timeout"]
    return data


def exact_load(port: int, path: str, total: int, threads: int, time_limit: float) -> dict:
    """Exactly ``total`` requests (bounded in count and time) over persistent connections."""
    lock = threading.Lock()
    remaining = [total]
    statuses: dict[int, int] = {}
    errors = [0]
    deadline = time.monotonic() + time_limit

    def take() -> bool:
        with lock:
            if remaining[0] <= 0 or time.monotonic() > deadline:
                return False
            remaining[0] -= 1
            return True

    def worker():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        while take():
            try:
                conn.request("GET", path, headers={"User-Agent": CHROME})
                response = conn.getresponse()
                response.read()
                with lock:
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except (OSError, http.client.HTTPException):
                with lock:
                    errors[0] += 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.close()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join(time_limit + 15)
    return {"statuses": statuses, "errors": errors[0], "sent": total - remaining[0]}


def paced_run(url: str, args, peak: dict) -> dict:
    """wrk paced with delay() to about ``args.fraction`` of the peak rate."""
    target = args.fraction * peak["rps"]
    cycle_ms = 1000.0 * args.connections / target
    delay = max(0.0, cycle_ms - peak["p50_us"] / 1000.0 * 0.5)
    probe = run_wrk(url, args, min(5, args.duration), delay)
    # Correct the pause by the rate actually reached (latency falls as load falls).
    delay = max(0.0, delay + 1000.0 * args.connections * (1 / target - 1 / probe["rps"]))
    paced = run_wrk(url, args, args.duration, delay)
    paced["target_rps"] = target
    paced["delay_ms"] = delay
    return paced


# --- main ---------------------------------------------------------------------------------


def start_gunicorn(args, env) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    logfile = Path(tempfile.gettempdir()) / f"leadpixel-bench-gunicorn-{port}.log"
    cmd = [str(Path(sys.executable).with_name("gunicorn")), "example_project.wsgi:application",
           "--chdir", str(EXAMPLE), "--bind", f"127.0.0.1:{port}", "--workers", str(args.workers),
           "--worker-class", "sync", "--log-level", "warning", "--backlog", "256",
           "--timeout", "30"]
    proc = subprocess.Popen(cmd, env=env, stdout=logfile.open("w"), stderr=subprocess.STDOUT)
    try:
        wait_for_port(port)
    except RuntimeError:
        proc.kill()
        raise RuntimeError(logfile.read_text()) from None
    return proc, port, logfile


def run_mode(args, env: dict, targets: dict, scenarios: list[str]) -> dict[str, dict]:
    """Start gunicorn (and with INGEST=redis the drainer), run ``scenarios``, stop."""
    flush_redis_db(REDIS_DB)
    proc, port, logfile = start_gunicorn(args, env)
    drainer = start_drainer(env) if args.mode == "redis" else None
    base = f"http://127.0.0.1:{port}"
    log(f"gunicorn pid {proc.pid} on {base}, {args.workers} sync workers; "
        f"enrich={args.enrich} ingest={args.mode or 'sync'}; log {logfile}")
    results: dict[str, dict] = {}
    try:
        for name in scenarios:
            path, model, message_pk = targets[name]
            url = base + path
            # Warm every worker (imports, connections, caches) with rows not counted later.
            exact_load(port, path, 10 * args.workers, args.workers, 20)
            before = settle(model, message_pk, args.settle)
            with held(drainer if args.drain == "after" else None):
                peak = run_wrk(url, args, args.duration)
            after = settle(model, message_pk, args.settle)
            answered = sum(v for k, v in peak["status"].items() if k in ("200", "302"))
            stored = after - before if model is not None else None
            with held(drainer if args.drain == "after" else None):
                paced = paced_run(url, args, peak)
            exact = None
            if args.exact and model is not None:
                base_rows = settle(model, message_pk, args.settle)
                exact = exact_load(port, path, args.exact, min(4, args.connections), 60)
                rows = settle(model, message_pk, args.settle) - base_rows
                ok = sum(v for k, v in exact["statuses"].items() if k in (200, 302))
                exact.update(rows=rows, answered=ok, equal=rows == ok)
            results[name] = {
                "peak": peak,
                "paced": paced,
                "wrk_rows": {"stored": stored, "answered": answered,
                             "in_flight_at_cutoff": None if stored is None else stored - answered,
                             "ok": None if stored is None
                             else 0 <= stored - answered <= args.connections},
                "exact": exact,
            }
            log(f"{name}: {peak['rps']:.0f} req/s p50 {peak['p50_us'] / 1000:.2f} ms "
                f"p99 {peak['p99_us'] / 1000:.2f} ms; paced {paced['rps']:.0f} req/s p99 "
                f"{paced['p99_us'] / 1000:.2f} ms")
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
        if drainer is not None:
            drainer.kill()
        if args.enrich == "broker":
            flush_redis_db(REDIS_DB)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default="gif,insert,push,pixel,click")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per wrk run")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--database", default="lp_pixelbench")
    parser.add_argument("--enrich", choices=("broker", "eager"), default="broker",
                        help="broker: publish to Redis off the request path (production); "
                             "eager: enrichment runs inside the request (example default)")
    parser.add_argument("--ingest", default=os.environ.get("LEADPIXEL_INGEST", ""),
                        help="set LEADPIXEL_INGEST for the server (e.g. redis); 'both': the "
                             "endpoints direct, then buffered, in one run")
    parser.add_argument("--fraction", type=float, default=0.8, help="paced load, of peak")
    parser.add_argument("--exact", type=int, default=400,
                        help="requests of the exact row check (0: skip)")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="max seconds to wait for rows to stop moving before counting")
    parser.add_argument("--drain", choices=("during", "after"), default="during",
                        help="with --ingest redis: drain while the load runs (the drainer "
                             "shares the CPU), or hold it (SIGSTOP) until the load stops, "
                             "as a buffer absorbing a burst does")
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()
    scenarios = [s.strip() for s in args.scenarios.split(",") if s.strip()]

    shim = make_shim()
    modes = ["", "redis"] if args.ingest == "both" else [args.ingest]
    results: dict[str, dict] = {}
    for mode in modes:
        args.mode = mode
        env = server_env(args, shim)
        ensure_database(args.database)
        setup_django(env)
        targets = prepare_messages()
        # In the second mode of --ingest both, only the endpoints (the ceilings ran once).
        names = scenarios if mode == modes[0] else [n for n in scenarios if n in ("pixel", "click")]
        suffix = "[redis]" if mode and len(modes) > 1 else ""
        for name, result in run_mode(args, env, targets, names).items():
            results[name + suffix] = result
    report(results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


def report(results: dict, args) -> None:
    print(f"\nleadpixel benchmark: gunicorn {args.workers} sync workers, wrk -t{args.wrk_threads} "
          f"-c{args.connections}, {args.duration:.0f} s per run, PostgreSQL, "
          f"enrich={args.enrich}, ingest={args.ingest or 'sync'}"
          + (f", drain {args.drain} the load" if args.ingest else ""))
    head = (f"{'scenario':12} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'non2xx':>6} "
            f"{'sockerr':>7} | {'@' + format(args.fraction, '.0%'):>5} {'req/s':>7} "
            f"{'p50 ms':>7} {'p99 ms':>7} | {'rows/answers (wrk)':>19} {'exact':>13}")
    print(head)
    print("-" * len(head))
    for name, r in results.items():
        peak, paced, rows, exact = r["peak"], r["paced"], r["wrk_rows"], r["exact"]
        rowtxt = "-" if rows["stored"] is None else (
            f"{rows['stored']}/{rows['answered']} {'ok' if rows['ok'] else 'FAIL'}")
        exacttxt = "-" if exact is None else (
            f"{exact['rows']}/{exact['answered']} {'ok' if exact['equal'] else 'FAIL'}")
        print(f"{name:12} {peak['rps']:8.0f} {peak['p50_us'] / 1000:7.2f} "
              f"{peak['p99_us'] / 1000:7.2f} {peak['non2xx3xx']:6d} {peak['socket_errors']:7d} | "
              f"{'':5} {paced['rps']:7.0f} {paced['p50_us'] / 1000:7.2f} "
              f"{paced['p99_us'] / 1000:7.2f} | {rowtxt:>19} {exacttxt:>13}")
    if "insert" in results:
        ceiling = results["insert"]["peak"]["rps"]
        for name in ("pixel", "click"):
            if name in results:
                ratio = results[name]["peak"]["rps"] / ceiling
                print(f"{name}/(b) = {ratio:.2f}  (target >= 0.90: "
                      f"{'met' if ratio >= 0.9 else 'NOT met'})")
    for name in ("pixel", "click"):
        if name in results and name + "[redis]" in results:
            ratio = results[name + "[redis]"]["peak"]["rps"] / results[name]["peak"]["rps"]
            print(f"{name}: buffered/direct = {ratio:.2f}  (target >= 2: "
                  f"{'met' if ratio >= 2 else 'NOT met'})")
            if "gif" in results:  # a buffered hit still costs what (a) costs, and more
                gif = results["gif"]["peak"]["rps"]
                reached = results[name + "[redis]"]["peak"]["rps"] / gif
                print(f"{name}: (a)/direct = {gif / results[name]['peak']['rps']:.2f}, the most "
                      f"any buffering could give here; buffered reached {reached:.2f} of (a)")
    for name in ("pixel", "click"):
        buffered = results.get(name + "[redis]") or (results.get(name) if args.ingest == "redis"
                                                      else None)
        if buffered and "push" in results:
            print(f"{name} buffered/(e) = "
                  f"{buffered['peak']['rps'] / results['push']['peak']['rps']:.2f}  "
                  "(what the app adds to one RPUSH)")
    for name in ("pixel", "click", "pixel[redis]", "click[redis]"):
        if name in results:
            p99 = results[name]["paced"]["p99_us"] / 1000
            print(f"{name} p99 at ~{args.fraction:.0%} of peak = {p99:.2f} ms (target < 20 ms: "
                  f"{'met' if p99 < 20 else 'NOT met'})")
    print("rows/answers (wrk): rows stored vs 200/302 answers wrk counted; wrk stops mid-flight, "
          f"so up to {args.connections} more rows than answers is expected.")


if __name__ == "__main__":
    sys.exit(main())
