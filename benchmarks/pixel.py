"""Throughput of the tracking endpoints against their ceilings, under gunicorn + PostgreSQL.

Run by hand (not by the test suite); only ever loads 127.0.0.1:

    .venv/bin/python benchmarks/pixel.py --ingest both --drain both  # the README's table
    .venv/bin/python benchmarks/pixel.py                 # direct ingestion: five scenarios
    .venv/bin/python benchmarks/pixel.py --ingest redis --drain after  # buffered: a burst
    .venv/bin/python benchmarks/pixel.py --scenarios pixel,click --rounds 3 --duration 3

Scenarios, each with the same client, headers and gunicorn (sync workers):

  (a) gif     bare Django view answering the same GIF, no database  (the ceiling)
  (b) insert  bare Django view doing one ORM INSERT of an Open row  (the synchronous ceiling)
  (c) pixel   GET /t/o/<token>.gif
  (d) click   GET /t/c/<token>  (302)
  (e) push    bare Django view doing one RPUSH to Redis  (the ceiling of buffered ingestion)
  (f) image   GET /t/i/<token>/<slug>.png: a tracked image (the demo's 465-byte chart, found
              by the staticfiles finders), recording an Open as the pixel does

``--ingest`` says how (c) and (d) store their hits: ``direct`` (the default),
``redis`` (LEADPIXEL_INGEST=redis: buffered, a drainer process moving the
buffer into PostgreSQL) or ``both``. Buffered, ``--drain`` says what the
drainer does while the load runs: ``after`` holds it (SIGSTOP) until the load
stops, as a buffer absorbing a burst does; ``during`` lets it drain alongside,
sharing the CPU; ``both`` (the default) runs each. A buffered scenario is
named after its drain: ``pixel[after]``, ``click[during]``. One gunicorn per
ingestion mode is started once, and the scenarios alternate between them.

The machine is assumed busy with other work, so a single run of each
scenario is not to be trusted: every scenario runs ``--rounds`` times for
``--duration`` seconds, each round in its own order (shuffled with
``--seed``). Every ratio ((c)/(b), buffered/direct, ...) is taken within each
round, and reported as the median of those per-round ratios with their
spread (min-max and interquartile range), beside each scenario's median
requests/s. Per round and scenario: requests/s at peak (closed loop,
``--connections``), p50/p99 latency, non-2xx/3xx answers and socket errors;
a row check: rows stored must equal answers (wrk stops mid-flight, so after
a wrk run the server may finish up to one request per connection that wrk
never counted: the check accepts ``0 <= rows - answers <= connections``);
then, right after, p50/p99 at about 80% of that round's peak (wrk's
``delay()`` hook paces each connection), reported as the median over the
rounds with its min-max. Once per scenario, after the rounds, an exact row
check: ``--exact`` requests from a bounded Python client, rows must equal
its 2xx/302 answers exactly.

Needs wrk (``apt-get install wrk``), gunicorn, PostgreSQL on 127.0.0.1:5432 and
Redis on 127.0.0.1:6379 (its database 13 is the benchmark's own: the
production-like off-path enrichment publish, the ingest buffer and (e)'s
list; flushed before and after). The ceiling views live in
example_project/benchviews and are mounted at /bench/ when
LEADPIXEL_BENCH_VIEWS=1 (example settings/urls); when the example project
does not have that switch yet, a settings shim in a temporary directory
mounts them.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from benchenv import ROOT, flush_redis_db  # noqa: E402  (benchmarks/benchenv.py)
from timing import median_spread, round_ratios  # noqa: E402  (benchmarks/timing.py)

EXAMPLE = ROOT / "example_project"
SECRET = "leadpixel-benchmark-not-secret"
CHROME = ("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
          "Chrome/120.0.0.0 Safari/537.36")
REDIS_DB = 13  # the publish queue (no worker consumes it) and the ingest buffer; flushed after
INGEST_REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
CEILINGS = ("gif", "insert", "push")
ENDPOINTS = ("pixel", "click", "image")

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


def server_env(args, shim_dir: Path | None, ingest: str) -> dict[str, str]:
    """The environment of one gunicorn: ``ingest`` is "direct" or "redis"."""
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
        # wrk sends one reader's identical request again and again: with the repeat
        # guard on, every hit after the first would be counted as a repeat of one row,
        # not stored (README "Replays are counted"), and the row checks could not hold.
        "LEADPIXEL_REPEAT_WINDOW": "0",
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
    if ingest == "redis":
        env["LEADPIXEL_INGEST"] = "redis"
        env["LEADPIXEL_INGEST_REDIS_URL"] = INGEST_REDIS_URL
    else:
        env.pop("LEADPIXEL_INGEST", None)
        env.pop("LEADPIXEL_INGEST_REDIS_URL", None)
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
    image = Message.objects.create(recipient="bench@example.com", subject="image",
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
        "image": (urlsplit(image.image_url("demo/climate-impact.png",
                                           alt="Chart of climate change impact")).path,
                  Open, image.pk),
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
    """Hits still waiting in the ingest buffer (0 unless a server buffers)."""
    import redis

    from django_leadpixel.conf import app_settings

    with redis.Redis.from_url(INGEST_REDIS_URL) as connection:
        return connection.llen(app_settings.INGEST_KEY)


def settle(model, message_pk, timeout: float) -> int:
    """Row count once the buffer is empty and the count has stopped moving.

    The buffer matters at the start: the drainer may still be starting up
    while the warm-up's hits wait in Redis and no row moves yet.
    """
    if model is None:
        return 0
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
    probe = run_wrk(url, args, min(2, args.duration), delay)
    # Correct the pause by the rate actually reached (latency falls as load falls).
    delay = max(0.0, delay + 1000.0 * args.connections * (1 / target - 1 / probe["rps"]))
    paced = run_wrk(url, args, args.duration, delay)
    paced["target_rps"] = target
    paced["delay_ms"] = delay
    return paced


# --- scenarios and servers ----------------------------------------------------------------


@dataclass
class Scenario:
    name: str  # in the report: "pixel", "pixel[after]", ...
    target: str  # what it requests: a key of prepare_messages()
    ingest: str  # the gunicorn it loads: "direct" or "redis"
    drain: str | None = None  # buffered: "after" (drainer held during the load) or "during"


def plan(names: list[str], ingest: str, drain: str) -> list[Scenario]:
    """The scenarios of one invocation: ceilings once, endpoints once per ingestion (and drain)."""
    direct, buffered = ingest in ("direct", "both"), ingest in ("redis", "both")
    drains = ["after", "during"] if drain == "both" else [drain]
    scenarios = []
    for name in names:
        if name in CEILINGS:  # they ignore LEADPIXEL_INGEST: any server will do
            scenarios.append(Scenario(name, name, "direct" if direct else "redis"))
            continue
        if direct:
            scenarios.append(Scenario(name, name, "direct"))
        if buffered:
            scenarios += [Scenario(f"{name}[{d}]", name, "redis", d) for d in drains]
    return scenarios


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


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# --- rounds -------------------------------------------------------------------------------


def answered(status: dict) -> int:
    return sum(v for k, v in status.items() if str(k) in ("200", "302"))


def scenario_round(args, port: int, scenario: Scenario, targets: dict, drainer) -> dict:
    """One round of ``scenario``: wrk at peak and rows stored against its answers, then
    wrk paced to ``--fraction`` of that peak; the buffer is drained before it returns."""
    path, model, message_pk = targets[scenario.target]
    url = f"http://127.0.0.1:{port}{path}"
    hold = None if scenario.drain == "during" else drainer
    before = settle(model, message_pk, args.settle)
    with held(hold):
        peak = run_wrk(url, args, args.duration)
    stored = settle(model, message_pk, args.settle) - before if model is not None else None
    ok = answered(peak["status"])
    peak["rows"] = {"stored": stored, "answered": ok,
                    "ok": None if stored is None else 0 <= stored - ok <= args.connections}
    with held(hold):
        paced = paced_run(url, args, peak)
    settle(model, message_pk, args.settle)
    return {"peak": peak, "paced": paced}


def exact_check(args, port: int, scenario: Scenario, targets: dict) -> dict | None:
    """Once per scenario, after the rounds: rows must equal a bounded client's answers."""
    path, model, message_pk = targets[scenario.target]
    if not args.exact or model is None:
        return None
    base_rows = settle(model, message_pk, args.settle)
    exact = exact_load(port, path, args.exact, min(4, args.connections), 60)
    rows = settle(model, message_pk, args.settle) - base_rows
    ok = answered(exact["statuses"])
    exact.update(rows=rows, answered=ok, equal=rows == ok)
    log(f"{scenario.name}: exact {rows} rows / {ok} answers")
    return exact


def run(args, scenarios: list[Scenario], envs: dict[str, dict], targets: dict) -> dict:
    """Start one gunicorn per ingestion mode (and the drainer), run the rounds, stop."""
    flush_redis_db(REDIS_DB)
    servers: dict[str, tuple[subprocess.Popen, int, Path]] = {}
    drainer = None
    try:
        for mode, env in envs.items():
            servers[mode] = start_gunicorn(args, env)
            log(f"{mode}: gunicorn pid {servers[mode][0].pid} on 127.0.0.1:{servers[mode][1]}, "
                f"{args.workers} sync workers, enrich={args.enrich}; log {servers[mode][2]}")
        if "redis" in envs:
            drainer = start_drainer(envs["redis"])
        # Warm every worker (imports, connections, caches) with rows not counted later.
        for mode, target in dict.fromkeys((s.ingest, s.target) for s in scenarios):
            exact_load(servers[mode][1], targets[target][0], 10 * args.workers, args.workers, 20)
        rounds = []
        rng = random.Random(args.seed)
        for number in range(1, args.rounds + 1):
            order = list(scenarios)
            rng.shuffle(order)
            log(f"round {number}/{args.rounds}: {', '.join(s.name for s in order)}")
            runs = {}
            for scenario in order:
                run_ = runs[scenario.name] = scenario_round(args, servers[scenario.ingest][1],
                                                            scenario, targets, drainer)
                peak, paced, rows = run_["peak"], run_["paced"], run_["peak"]["rows"]
                log(f"  {scenario.name}: {peak['rps']:.0f} req/s p50 {peak['p50_us'] / 1000:.2f} ms "
                    f"p99 {peak['p99_us'] / 1000:.2f} ms"
                    + ("" if rows["stored"] is None else
                       f"; rows {rows['stored']}/{rows['answered']}")
                    + f"; paced {paced['rps']:.0f} req/s (target {paced['target_rps']:.0f}) "
                    f"p99 {paced['p99_us'] / 1000:.2f} ms")
            rounds.append({"order": [s.name for s in order], "runs": runs})
        exact = {s.name: exact_check(args, servers[s.ingest][1], s, targets) for s in scenarios}
    finally:
        for proc, _, _ in servers.values():
            stop(proc)
        if drainer is not None:
            drainer.send_signal(signal.SIGCONT)
            drainer.kill()
            drainer.wait()
        flush_redis_db(REDIS_DB)
    return {"rounds": rounds, "exact": exact}


# --- summary ------------------------------------------------------------------------------


def ratio_specs(names: list[str]) -> list[tuple[str, str, str, str, float | None]]:
    """(label, numerator, denominator, meaning, target) of every ratio the scenarios allow."""
    present = set(names)
    specs = []
    if {"image", "pixel"} <= present:
        specs.append(("image/pixel", "image", "pixel", "(f)/(c)", None))
    for endpoint in ENDPOINTS:
        letter = {"pixel": "(c)", "click": "(d)", "image": "(f)"}[endpoint]
        if endpoint in present:
            specs.append((f"{endpoint}/insert", endpoint, "insert", f"{letter}/(b)", 0.9))
        for name in (n for n in names if n.startswith(endpoint + "[")):
            specs.append((f"{name}/{endpoint}", name, endpoint, "buffered/direct", 2.0))
            specs.append((f"{name}/push", name, "push", "buffered/(e)", None))
            specs.append((f"{name}/gif", name, "gif", "buffered/(a)", None))
        specs.append((f"push/{endpoint}", "push", endpoint, f"(e)/{letter}", None))
        specs.append((f"gif/{endpoint}", "gif", endpoint, f"(a)/{letter}", None))
    return [spec for spec in specs if spec[1] in present and spec[2] in present]


def summarise(scenarios: list[Scenario], result: dict) -> dict:
    rounds = result["rounds"]
    table = {}
    for scenario in scenarios:
        peaks = [r["runs"][scenario.name]["peak"] for r in rounds]
        paced = [r["runs"][scenario.name]["paced"] for r in rounds]
        rows = [p["rows"] for p in peaks]
        table[scenario.name] = {
            "rps": median_spread([p["rps"] for p in peaks]),
            "p50_ms": median_spread([p["p50_us"] / 1000 for p in peaks])["median"],
            "p99_ms": median_spread([p["p99_us"] / 1000 for p in peaks])["median"],
            "non2xx3xx": sum(w["non2xx3xx"] for w in peaks + paced),
            "socket_errors": sum(w["socket_errors"] for w in peaks + paced),
            "paced": {"rps": median_spread([q["rps"] for q in paced])["median"],
                      "p50_ms": median_spread([q["p50_us"] / 1000 for q in paced])["median"],
                      "p99_ms": median_spread([q["p99_us"] / 1000 for q in paced])},
            "rows": None if rows[0]["stored"] is None else {
                "stored": sum(r["stored"] for r in rows),
                "answered": sum(r["answered"] for r in rows),
                "ok": all(r["ok"] for r in rows)},
            "exact": result["exact"][scenario.name],
        }
    rps = [{name: run_["peak"]["rps"] for name, run_ in r["runs"].items()} for r in rounds]
    ratios = {}
    for label, numerator, denominator, meaning, target in ratio_specs([s.name for s in scenarios]):
        values = round_ratios(rps, numerator, denominator)
        if values:
            ratios[label] = {**median_spread(values), "per_round": values, "meaning": meaning,
                             "target": target}
    return {"scenarios": table, "ratios": ratios}


def report(summary: dict, args) -> None:
    print(f"\nleadpixel benchmark: gunicorn {args.workers} sync workers, wrk -t{args.wrk_threads} "
          f"-c{args.connections}, PostgreSQL, enrich={args.enrich}, ingest={args.ingest}"
          + (f", drain {args.drain}" if args.ingest != "direct" else "")
          + f"; {args.rounds} rounds x {args.duration:g} s per scenario, order shuffled "
          f"(seed {args.seed})")
    head = (f"{'scenario':14} {'req/s [min-max]':>20} {'p50 ms':>6} {'p99 ms':>6} "
            f"{'non2xx':>6} {'sockerr':>7} | {'@' + format(args.fraction, '.0%'):>4} {'req/s':>5} "
            f"{'p50 ms':>6} {'p99 ms [min-max]':>18} | {'rows/answers (wrk)':>20} {'exact':>13}")
    print(head)
    print("-" * len(head))
    for name, r in summary["scenarios"].items():
        rps, paced, rows, exact = r["rps"], r["paced"], r["rows"], r["exact"]
        spread = f"{rps['median']:.0f} [{rps['min']:.0f}-{rps['max']:.0f}]"
        p99 = paced["p99_ms"]
        p99txt = f"{p99['median']:.2f} [{p99['min']:.1f}-{p99['max']:.1f}]"
        rowtxt = "-" if rows is None else (
            f"{rows['stored']}/{rows['answered']} {'ok' if rows['ok'] else 'FAIL'}")
        exacttxt = "-" if exact is None else (
            f"{exact['rows']}/{exact['answered']} {'ok' if exact['equal'] else 'FAIL'}")
        print(f"{name:14} {spread:>20} {r['p50_ms']:6.2f} {r['p99_ms']:6.2f} {r['non2xx3xx']:6d} "
              f"{r['socket_errors']:7d} | {'':4} {paced['rps']:5.0f} {paced['p50_ms']:6.2f} "
              f"{p99txt:>18} | {rowtxt:>20} {exacttxt:>13}")
    print(f"Medians of {args.rounds} rounds: req/s, p50 and p99 at peak, and paced to "
          f"~{args.fraction:.0%} of each round's peak (@). rows/answers (wrk): summed over the "
          f"rounds (wrk stops mid-flight, so each round may store up to {args.connections} rows "
          "more than it counted answers); exact: one bounded run after the rounds.")
    if summary["ratios"]:
        print(f"\n{'ratio (within each round)':38} {'median':>6} {'min-max':>11} {'IQR':>11}  "
              f"{'target':14} (per round)")
        for label, r in summary["ratios"].items():
            target = "" if r["target"] is None else (
                f">= {r['target']:g} {'met' if r['median'] >= r['target'] else 'NOT met'}")
            print(f"{label:22} {r['meaning']:16} {r['median']:6.2f} "
                  f"{r['min']:5.2f}-{r['max']:<5.2f} {r['q1']:5.2f}-{r['q3']:<5.2f}  {target:14} "
                  f"({' '.join(format(v, '.2f') for v in r['per_round'])})")
    for name, r in summary["scenarios"].items():
        if name.split("[")[0] in ENDPOINTS:
            p99 = r["paced"]["p99_ms"]
            print(f"{name} p99 at ~{args.fraction:.0%} of peak = {p99['median']:.2f} ms, "
                  f"{p99['min']:.2f}-{p99['max']:.2f} over the rounds (target < 20 ms: "
                  f"{'met' if p99['median'] < 20 else 'NOT met'})")


# --- main ---------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(CEILINGS + ENDPOINTS),
                        help="of gif, insert, push, pixel, click")
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating rounds: every scenario once in each, in shuffled order")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per wrk run")
    parser.add_argument("--seed", type=int, default=1, help="of the rounds' shuffled orders")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--wrk-threads", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4, help="gunicorn sync workers")
    parser.add_argument("--database", default="lp_pixelbench")
    parser.add_argument("--enrich", choices=("broker", "eager"), default="broker",
                        help="broker: publish to Redis off the request path (production); "
                             "eager: enrichment runs inside the request (example default)")
    parser.add_argument("--ingest", choices=("direct", "redis", "both"),
                        default=os.environ.get("LEADPIXEL_INGEST") or "direct",
                        help="how the pixel and the click store hits: direct, redis (buffered, "
                             "LEADPIXEL_INGEST=redis) or both, alternating in the same rounds")
    parser.add_argument("--drain", choices=("after", "during", "both"), default="both",
                        help="buffered: hold the drainer (SIGSTOP) until the load stops, as a "
                             "buffer absorbing a burst does (after), drain while the load runs, "
                             "sharing the CPU (during), or each as its own scenario (both)")
    parser.add_argument("--fraction", type=float, default=0.8, help="paced load, of peak")
    parser.add_argument("--exact", type=int, default=400,
                        help="requests of the exact row check (0: skip)")
    parser.add_argument("--settle", type=float, default=30.0,
                        help="max seconds to wait for rows to stop moving before counting")
    parser.add_argument("--json", help="also write the rounds and the summary to this file")
    args = parser.parse_args()
    names = [s.strip() for s in args.scenarios.split(",") if s.strip()]
    unknown = set(names) - set(CEILINGS + ENDPOINTS)
    if unknown or args.rounds < 1:
        parser.error(f"unknown scenarios {sorted(unknown)}" if unknown else "--rounds must be >= 1")

    scenarios = plan(names, args.ingest, args.drain)
    shim = make_shim()
    modes = [m for m in ("direct", "redis") if any(s.ingest == m for s in scenarios)]
    envs = {mode: server_env(args, shim, mode) for mode in modes}
    ensure_database(args.database)
    setup_django(envs[modes[0]])
    import django_leadpixel

    log(f"django_leadpixel from {Path(django_leadpixel.__file__).parent}")
    targets = prepare_messages()
    result = run(args, scenarios, envs, targets)
    summary = summarise(scenarios, result)
    report(summary, args)
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), **result, **summary}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
