#!/usr/bin/env python3
"""Side-by-side benchmark of Vigil, Prometheus and VictoriaMetrics.

Runs the same loads against each system, one system at a time, on 127.0.0.1,
and writes a markdown report (ratios to Prometheus) plus PNG charts into one
output directory. Systems are described by small JSON adapters in
benchmarks/compare/systems/ (start command, readiness path, how to backfill,
how to flush), so another candidate is one more JSON file.

Scenarios:
  ingest   N synthetic targets x S series scraped every second: CPU per
           ingested sample, RSS per active series, samples actually stored
           (verified by query: nobody is credited for dropped samples).
  storage  24 h of histogram + counter data at 15 s backfilled: bytes per
           sample on disk after persistence, import rate.
  query    quantile, bucket-ratio and rate queries on the backfilled data:
           median and p90 latency over repetitions (result caches off).
  restart  time to ready after SIGKILL and after SIGTERM under scrape load
           (the same live run as ingest, right after its measured window),
           and how many samples of the last 30 s before the SIGKILL survived.

Only the Python standard library is used.
"""

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
import loadgen  # noqa: E402
import report  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")
RUN_STARTED = time.time()
# Every process the harness starts, so none outlives it whatever fails.
STARTED = []
# The Vigil binary under test: $VIGIL_BIN, else the -c opt build of this
# checkout (run.sh builds it; bazel-bin may point at another configuration).
VIGIL_BIN = os.environ.get("VIGIL_BIN") or os.path.join(
    REPO, "bazel-out", "k8-opt", "bin", "server", "vigil")


# Seconds of scrape load before a SIGKILL whose samples must all survive.
RESTART_WINDOW = 30
MIN_QUERY_REPS = 3


@contextlib.contextmanager
def phase(results, name):
    """Records how long a step of the run took (the report lists them)."""
    t0 = time.time()
    try:
        yield
    finally:
        results.setdefault("phases", []).append([name, time.time() - t0])


def log(*args):
    print("[compare %s]" % time.strftime("%H:%M:%S"), *args, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def du_bytes(path):
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            try:
                total += os.lstat(os.path.join(root, f)).st_size
            except OSError:
                pass
    return total


def proc_cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # utime and stime are fields 14 and 15 (1-based) of /proc/PID/stat.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_rss_bytes(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


class System:
    """A running (or startable) system under test, driven by its adapter."""

    def __init__(self, adapter, workdir):
        self.a = adapter
        self.name = adapter["name"]
        self.workdir = workdir
        self.data = os.path.join(workdir, "data")
        self.config = os.path.join(workdir, "scrape.yml")
        self.port = None
        self.proc = None
        os.makedirs(self.data, exist_ok=True)

    def fmt(self, arg, **extra):
        return arg.format(repo=REPO, config=self.config, data=self.data,
                          port=self.port, vigil_bin=VIGIL_BIN, **extra)

    def start(self, timeout=120):
        self.port = free_port()
        cmd = [self.fmt(x) for x in self.a["start"]]
        logf = open(os.path.join(self.workdir, "server.log"), "ab")
        self.proc = subprocess.Popen(cmd, stdout=logf, stderr=subprocess.STDOUT,
                                     cwd=self.workdir)
        STARTED.append(self.proc)
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError("%s exited with %d; see %s/server.log" %
                                   (self.name, self.proc.returncode,
                                    self.workdir))
            try:
                with urllib.request.urlopen(self.url(self.a["ready_path"]),
                                            timeout=2) as r:
                    if r.status == 200:
                        return time.time() - t0
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.05)
        raise RuntimeError("%s not ready after %ds" % (self.name, timeout))

    def stop(self, sig=signal.SIGTERM, timeout=60):
        if not self.proc:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def flush(self):
        if self.a.get("flush_path"):
            urllib.request.urlopen(self.url(self.a["flush_path"]),
                                   timeout=60).read()

    def api(self, path, params, timeout=300):
        q = urllib.parse.urlencode(params)
        req = urllib.request.Request(self.url(path), data=q.encode(),
                                     method="POST")
        req.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as r:
                body = json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise RuntimeError("%s %s %s: HTTP %d: %s" % (
                self.name, path, params.get("query", ""), e.code,
                e.read()[:300].decode(errors="replace")))
        if body.get("status") != "success":
            raise RuntimeError("%s %s: %s" % (self.name, path, body))
        return body["data"]

    def instant(self, expr, t):
        return self.api("/api/v1/query", {"query": expr, "time": t})

    def scalar_result(self, expr, t):
        d = self.instant(expr, t)
        if not d["result"]:
            return 0.0
        return float(d["result"][0]["value"][1])


# Metric names the synthetic load produces. Counting per name keeps the
# metric name in each aggregation input, so Prometheus does not reject the
# query for duplicate label sets after count_over_time drops the name.
LOAD_METRICS = ["node_cpu_seconds_total", "node_network_receive_bytes_total",
                "node_network_receive_packets_total",
                "node_memory_MemFree_bytes", "node_load1",
                "http_server_resp_time_bucket", "http_server_resp_time_sum",
                "http_server_resp_time_count"]


def count_samples(system, matchers, window_s, t):
    """Samples stored in (t - window, t] across all load metrics."""
    total = 0.0
    for m in LOAD_METRICS:
        total += system.scalar_result(
            "sum(count_over_time(%s{%s}[%ds]))" % (m, matchers, window_s), t)
    return total


def count_series(system, matchers, t):
    total = 0.0
    for m in LOAD_METRICS:
        total += system.scalar_result("count(%s{%s})" % (m, matchers), t)
    return total


def load_adapters(names):
    out = []
    for n in names:
        path = n if n.endswith(".json") else os.path.join(HERE, "systems",
                                                            n + ".json")
        with open(path) as f:
            out.append(json.load(f))
    return out


def write_scrape_config(path, ports, interval):
    targets = ", ".join('"127.0.0.1:%d"' % p for p in ports)
    with open(path, "w") as f:
        f.write("global:\n  scrape_interval: %ds\n  scrape_timeout: %ds\n"
                "scrape_configs:\n  - job_name: bench\n"
                "    static_configs:\n      - targets: [%s]\n" %
                (interval, interval, targets))


# --- ingest and restart (one live run per system) --------------------------

def measure_ingest(system, farm, args):
    """CPU and RSS over the measured window, then samples actually stored."""
    time.sleep(args.warmup)
    pid = system.proc.pid
    cpu0 = proc_cpu_seconds(pid)
    t_start = time.time()
    time.sleep(args.measure)
    cpu1 = proc_cpu_seconds(pid)
    t_end = time.time()
    rss = proc_rss_bytes(pid)
    time.sleep(2)  # let the last scrapes commit
    system.flush()
    window = int(t_end - t_start)
    stored = count_samples(system, 'job="bench"', window, t_end)
    active = count_series(system, 'job="bench"', t_end)
    expected = farm.total_series * window
    cpu = cpu1 - cpu0
    return {
        "cpu_seconds": cpu,
        "samples_stored": stored,
        "samples_expected": expected,
        "stored_fraction": stored / expected if expected else 0,
        "cpu_us_per_sample": cpu * 1e6 / stored if stored else None,
        "rss_bytes": rss,
        "active_series": active,
        "rss_bytes_per_series": rss / active if active else None,
    }


def measure_restart(system, farm, args, loaded_s):
    """SIGKILL under load, then SIGTERM: time to ready and samples kept.

    `loaded_s` is how long the system has been scraping already; the window
    checked after the kill is the last RESTART_WINDOW seconds of it (less
    the first 10 s of start-up).
    """
    out = {}
    window = max(5, min(RESTART_WINDOW, int(loaded_s) - 10))
    kill_t = time.time()
    # Every sample scraped in the window before the kill should survive.
    os.kill(system.proc.pid, signal.SIGKILL)
    system.proc.wait()
    system.proc = None
    out["ready_after_sigkill_s"] = wait_ready_time(system)
    system.flush()
    got = count_samples(system, 'job="bench"', window, kill_t - 1)
    want = farm.total_series * window
    out["last_window_seconds"] = window
    out["last_window_samples_survived"] = got
    out["last_window_samples_expected"] = want
    out["last_window_fraction"] = got / want if want else 0
    time.sleep(5)  # a few scrapes after recovery, so SIGTERM has work to flush
    system.stop(signal.SIGTERM)
    out["ready_after_sigterm_s"] = wait_ready_time(system)
    return out


def scenario_live(system, farm, args, scenarios):
    """Ingest and restart share one scrape run: the restart measurements
    start where the ingest measurement ends, so the harness does not spend
    another minute of load per system."""
    write_scrape_config(system.config, farm.ports, 1)
    system.start()
    t0 = time.time()
    res = {}
    try:
        if "ingest" in scenarios:
            res["ingest"] = measure_ingest(system, farm, args)
        else:
            time.sleep(args.restart_load)
        if "restart" in scenarios:
            res["restart"] = measure_restart(system, farm, args,
                                             time.time() - t0)
    finally:
        system.stop()
    return res


# --- storage + queries ------------------------------------------------------

def scenario_storage(system, dataset, args):
    write_scrape_config(system.config, [], 15)
    b = system.a["backfill"]
    t0 = time.time()
    if b["kind"] == "command":
        # "per_slice": the tool reads its whole input once per block it
        # writes (promtool: once per 2 h), so it is given one aligned 2 h
        # slice per run, which is how to backfill a day with it quickly.
        files = dataset["slices"] if b.get("per_slice") else [dataset["file"]]
        for path in files:
            cmd = [system.fmt(x, file=path) for x in b["command"]]
            subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, cwd=system.workdir)
        import_s = time.time() - t0
        system.start()
    else:
        system.start()
        t0 = time.time()
        src = dataset["file_ms"] if b.get("timestamps") == "ms" else \
            dataset["file"]
        with open(src, "rb") as f:
            req = urllib.request.Request(system.url(b["path"]), data=f,
                                         method="POST")
            req.add_header("Content-Length", str(os.path.getsize(src)))
            urllib.request.urlopen(req, timeout=1800).read()
        system.flush()
        import_s = time.time() - t0
    try:
        stored = count_samples(system, "", (args.hours + 1) * 3600,
                               dataset["end"])
    finally:
        system.stop()
    disk = du_bytes(system.data)
    return {
        "import_seconds": import_s,
        "import_samples_per_second": dataset["samples"] / import_s,
        "samples_stored": stored,
        "samples_expected": dataset["samples"],
        "disk_bytes": disk,
        "bytes_per_sample": disk / dataset["samples"],
    }


def query_set(end, hours):
    start = end - hours * 3600
    return [
        ("quantile_range_24h",
         "histogram_quantile(0.99, sum by (le, job) "
         "(rate(http_server_resp_time_bucket[5m])))",
         {"start": start, "end": end, "step": 60}),
        ("quantile_instant",
         "histogram_quantile(0.99, sum by (le, job) "
         "(rate(http_server_resp_time_bucket[5m])))",
         {"time": end}),
        ("bucket_ratio_range_6h",
         'sum(rate(http_server_resp_time_bucket{job="job0", le="0.1"}[5m])) '
         '/ sum(rate(http_server_resp_time_count{job="job0"}[5m]))',
         {"start": end - 6 * 3600, "end": end, "step": 15}),
        ("cpu_rate_range_24h",
         "sum by (instance) (rate(node_cpu_seconds_total[5m]))",
         {"start": start, "end": end, "step": 60}),
    ]


def scenario_query(system, dataset, args):
    system.start()
    out = {}
    try:
        for name, expr, params in query_set(dataset["end"], args.hours):
            path = "/api/v1/query_range" if "step" in params else \
                "/api/v1/query"
            p = dict(params, query=expr)
            system.api(path, p)  # warm-up, not counted
            lat = []
            result = None
            began = time.perf_counter()
            for i in range(args.query_reps):
                # A slow system gets at least MIN_QUERY_REPS repetitions, then
                # stops once --query-budget is spent.
                if (i >= MIN_QUERY_REPS and
                        time.perf_counter() - began > args.query_budget):
                    break
                t0 = time.perf_counter()
                result = system.api(path, p)
                lat.append(time.perf_counter() - t0)
            lat.sort()
            out[name] = {
                "repetitions": len(lat),
                "median_s": statistics.median(lat),
                "p90_s": lat[min(len(lat) - 1, int(0.9 * len(lat)))],
                "result": result,
            }
    finally:
        system.stop()
    return out


def results_match(a, b, tol=1e-6):
    """Compares two API results modulo series order, with relative tolerance."""
    def norm(data):
        res = data["result"]
        if data["resultType"] in ("scalar", "string"):
            return {"": [res]}
        out = {}
        for s in res:
            key = json.dumps(s["metric"], sort_keys=True)
            vals = s.get("values") or [s["value"]]
            out[key] = vals
        return out
    na, nb = norm(a), norm(b)
    if set(na) != set(nb):
        return False
    for k in na:
        va, vb = na[k], nb[k]
        if len(va) != len(vb):
            return False
        for (ta, xa), (tb, xb) in zip(va, vb):
            if abs(float(ta) - float(tb)) > 1e-3:
                return False
            fa, fb = float(xa), float(xb)
            if fa != fa and fb != fb:
                continue
            if fa == fb:
                continue
            if abs(fa - fb) > tol * max(abs(fa), abs(fb)):
                return False
    return True


# --- restart ---------------------------------------------------------------

def wait_ready_time(system, timeout=300):
    return system.start(timeout)


# --- driver ----------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--systems", default="vigil,prometheus,victoria-metrics",
                    help="adapter names (systems/NAME.json) or JSON paths")
    ap.add_argument("--scenarios", default="ingest,storage,query,restart")
    ap.add_argument("--out", default=os.path.join(
        HERE, "out", time.strftime("%Y%m%d-%H%M%S")))
    ap.add_argument("--targets", type=int, default=10)
    ap.add_argument("--series", type=int, default=5000)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--measure", type=int, default=40)
    ap.add_argument("--hours", type=int, default=24)
    ap.add_argument("--jobs", type=int, default=50)
    ap.add_argument("--instances", type=int, default=4)
    ap.add_argument("--node-instances", type=int, default=6)
    ap.add_argument("--query-reps", type=int, default=7)
    ap.add_argument("--query-budget", type=float, default=25,
                    help="seconds per query and system after which no more "
                    "repetitions start (at least %d are run)" % 3)
    ap.add_argument("--restart-load", type=int, default=40,
                    help="seconds of scrape load before the SIGKILL when "
                    "the ingest scenario is not run (otherwise its warm-up "
                    "and measured window are the load)")
    args = ap.parse_args()

    os.makedirs(args.out, exist_ok=True)
    scenarios = args.scenarios.split(",")
    adapters = load_adapters(args.systems.split(","))
    work = tempfile.mkdtemp(prefix="vigil-compare-")
    results = {"machine": report.machine_facts(), "args": vars(args),
               "systems": [a["name"] for a in adapters], "scenarios": {}}
    try:
        live = [x for x in ("ingest", "restart") if x in scenarios]
        if live:
            farm = loadgen.ExporterFarm(args.targets, args.series, free_port())
            farm.start()
            for x in live:
                results["scenarios"][x] = {}
            for a in adapters:
                log("%s: %s" % ("+".join(live), a["name"]))
                with phase(results, "live " + a["name"]):
                    try:
                        res = scenario_live(
                            System(a, os.path.join(work, "live-" + a["name"])),
                            farm, args, live)
                    except Exception as e:  # report, continue with the others
                        res = {x: {"error": str(e)} for x in live}
                for x in live:
                    results["scenarios"][x][a["name"]] = res.get(
                        x, {"error": "not measured (an earlier step failed)"})
                log("  ", res)
            farm.stop()
        if "storage" in scenarios or "query" in scenarios:
            end = (int(time.time()) // 3600 - 1) * 3600
            ds_file = os.path.join(work, "backfill.om")
            log("generating backfill data")
            ms_file = ds_file + ".ms.prom"
            slice_dir = os.path.join(work, "slices")
            with phase(results, "generate backfill data"):
                series, samples = loadgen.write_backfill(
                    ds_file, args.jobs, args.instances, args.hours, 15, end,
                    args.node_instances, ms_path=ms_file, slice_dir=slice_dir)
            dataset = {"file": ds_file, "file_ms": ms_file, "end": end,
                       "series": series, "samples": samples,
                       "slices": [os.path.join(slice_dir, x)
                                  for x in sorted(os.listdir(slice_dir))]}
            log("backfill: %d series, %d samples" % (series, samples))
            st, qr = {}, {}
            for a in adapters:
                sysobj = System(a, os.path.join(work, "store-" + a["name"]))
                log("storage:", a["name"])
                with phase(results, "storage " + a["name"]):
                    try:
                        st[a["name"]] = scenario_storage(sysobj, dataset, args)
                    except Exception as e:
                        st[a["name"]] = {"error": str(e)}
                log("  ", st[a["name"]])
                if "query" in scenarios and "error" not in st[a["name"]]:
                    log("query:", a["name"])
                    with phase(results, "query " + a["name"]):
                        try:
                            qr[a["name"]] = scenario_query(sysobj, dataset,
                                                           args)
                        except Exception as e:
                            qr[a["name"]] = {"error": str(e)}
            if "storage" in scenarios:
                results["scenarios"]["storage"] = st
            if "query" in scenarios:
                ref = qr.get("prometheus", {})
                for name, per in qr.items():
                    for q, r in per.items():
                        if not isinstance(r, dict) or "result" not in r:
                            continue
                        if q in ref and "result" in ref[q]:
                            r["matches_prometheus"] = results_match(
                                r["result"], ref[q]["result"])
                for per in qr.values():
                    for r in per.values():
                        if isinstance(r, dict):
                            r.pop("result", None)
                results["scenarios"]["query"] = qr
                for name, per in qr.items():
                    log("  ", name, per)
            results["dataset"] = {k: v for k, v in dataset.items()
                                  if k in ("series", "samples", "end")}
    finally:
        for p in STARTED:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(work, ignore_errors=True)
    started = float(os.environ.get("VIGIL_COMPARE_STARTED") or 0)
    if started:  # run.sh's setup and build count toward the total
        results.setdefault("phases", []).insert(
            0, ["set-up and build", RUN_STARTED - started])
    results["total_seconds"] = time.time() - (started or RUN_STARTED)
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump(results, f, indent=2, sort_keys=True)
    report.write(results, args.out)
    log("report:", os.path.join(args.out, "report.md"))


if __name__ == "__main__":
    main()
