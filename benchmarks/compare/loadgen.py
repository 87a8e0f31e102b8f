"""Synthetic exporters and backfill data for the comparison harness.

Everything here is deterministic for a given seed so that every system under
test sees exactly the same load. Two shapes, as in real clusters:

* node-exporter-like: counters (cpu seconds with 2 decimals, bytes that grow
  by multiples of 512, packet counts) and gauges (memory in multiples of 4096,
  load averages with 2 decimals).
* histograms: http_server_resp_time with 12 buckets (+Inf included) plus _sum
  and _count, cumulative and consistent with each other.
"""

import http.server
import math
import os
import random
import socketserver
import threading

BUCKETS = ["0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1",
           "2.5", "5", "10", "+Inf"]


# Counters count from this origin (seconds), as if every process started then.
T0 = 1_700_000_000


class SeriesSpec:
    """One synthetic series: its exposition prefix and a value function."""

    __slots__ = ("name", "labels", "kind", "a", "b")

    def __init__(self, name, labels, kind, a, b):
        self.name = name
        self.labels = labels  # rendered '{k="v",...}' or ''
        self.kind = kind
        self.a = a
        self.b = b

    def value(self, t_s):
        """Value at time t_s (seconds). Deterministic, changes every second."""
        k = self.kind
        t_s = t_s - T0
        if k == "cpu":  # counter, 2 decimals, ~a cpu-seconds per second
            return round(self.b + self.a * t_s, 2)
        if k == "bytes":  # counter in multiples of 512
            return float(int(self.b + self.a * t_s) // 512 * 512)
        if k == "count":  # integer counter
            return float(int(self.b + self.a * t_s))
        if k == "mem":  # gauge in multiples of 4096
            w = math.sin(t_s / 600.0 + self.b) * 0.1 + 1.0
            return float(int(self.a * w) // 4096 * 4096)
        if k == "load":  # gauge, 2 decimals
            return round(abs(math.sin(t_s / 300.0 + self.b)) * self.a, 2)
        raise ValueError(k)


def node_like_series(instance_idx, n):
    """n node-exporter-like series for one target."""
    rnd = random.Random(1000 + instance_idx)
    out = []
    i = 0
    while len(out) < n:
        cpu = i
        for mode, rate in (("idle", 0.9), ("user", 0.05), ("system", 0.03),
                           ("iowait", 0.01)):
            out.append(SeriesSpec(
                "node_cpu_seconds_total",
                '{cpu="%d",mode="%s"}' % (cpu, mode), "cpu",
                rate * rnd.uniform(0.5, 1.5), rnd.uniform(1e4, 1e6)))
        dev = "eth%d" % i
        out.append(SeriesSpec("node_network_receive_bytes_total",
                              '{device="%s"}' % dev, "bytes",
                              rnd.uniform(1e3, 1e6), rnd.uniform(1e8, 1e10)))
        out.append(SeriesSpec("node_network_receive_packets_total",
                              '{device="%s"}' % dev, "count",
                              rnd.uniform(10, 1e3), rnd.uniform(1e5, 1e7)))
        out.append(SeriesSpec("node_memory_MemFree_bytes",
                              '{numa="%d"}' % i, "mem",
                              rnd.uniform(1e9, 8e9), rnd.uniform(0, 6)))
        out.append(SeriesSpec("node_load1", '{shard="%d"}' % i, "load",
                              rnd.uniform(0.5, 4), rnd.uniform(0, 6)))
        i += 1
    return out[:n]


class Histogram:
    """A cumulative histogram whose latency distribution drifts over time.

    Bucket k's share of requests is g_k + h_k*sin(w*t + p), with g the CDF at
    the median latency and |h_{k+1} - h_k| <= g_{k+1} - g_k, so buckets stay
    ordered at every instant; counts are the exact integral of rps times that
    share, so every series is a monotone counter.
    """

    W = 2 * math.pi / 3600.0  # one drift cycle per hour

    def __init__(self, name, labels, seed):
        self.name = name
        self.labels = labels  # without braces: 'job="x",instance="y"'
        rnd = random.Random(seed)
        self.rps = rnd.uniform(5, 50)
        self.phase = rnd.uniform(0, 6)
        self.base = int(rnd.uniform(1e4, 1e6))
        median = rnd.uniform(0.02, 0.2)
        self.g = []
        for le in BUCKETS[:-1]:
            x = float(le) / median
            self.g.append(x / (1.0 + x))
        self.h = [0.3 * g * (1 - g) for g in self.g]
        self.mean = median * 1.3

    def samples(self, t_s):
        """Yields (series_suffix, labels, value) for all 14 series."""
        t = t_s - T0
        c = math.cos(self.W * t + self.phase) / self.W
        total = self.base + int(self.rps * t)
        for k, le in enumerate(BUCKETS[:-1]):
            v = int(self.base * self.g[k] +
                    self.rps * (self.g[k] * t - self.h[k] * c))
            yield ("_bucket", '%s,le="%s"' % (self.labels, le),
                   float(min(v, total)))
        yield ("_bucket", '%s,le="+Inf"' % self.labels, float(total))
        yield ("_sum", self.labels,
               round(self.mean * (self.base + self.rps * (t - 0.3 * c)), 3))
        yield ("_count", self.labels, float(total))


def histograms_for(job, instance, n_hist, seed):
    return [Histogram("http_server_resp_time",
                      'job="%s",instance="%s",path="/p%d"' % (job, instance, h),
                      seed * 1000 + h) for h in range(n_hist)]


class Target:
    """One synthetic target: node-like series and histograms."""

    def __init__(self, idx, series):
        n_hist = max(1, series // 2 // 14)
        self.hists = histograms_for("app", "t%d" % idx, n_hist, idx)
        self.node = node_like_series(idx, max(0, series - n_hist * 14))

    def render(self, t_s):
        parts = []
        for s in self.node:
            parts.append("%s%s %r\n" % (s.name, s.labels, s.value(t_s)))
        for h in self.hists:
            for suffix, labels, v in h.samples(t_s):
                parts.append("%s%s{%s} %r\n" % (h.name, suffix, labels, v))
        return "".join(parts).encode()

    def num_series(self):
        return len(self.node) + 14 * len(self.hists)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 (http.server API)
        import time
        body = self.server.target.render(int(time.time()))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class ExporterFarm:
    """n_targets HTTP exporters on 127.0.0.1, each serving `series` series."""

    def __init__(self, n_targets, series, base_port):
        self.servers = []
        self.ports = []
        for i in range(n_targets):
            srv = _Server(("127.0.0.1", base_port + i), _Handler)
            srv.target = Target(i, series)
            self.servers.append(srv)
            self.ports.append(base_port + i)
        self.total_series = sum(s.target.num_series() for s in self.servers)

    def start(self):
        for s in self.servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()

    def stop(self):
        for s in self.servers:
            s.shutdown()
            s.server_close()


def _render_points(prefix, pts, slice_s):
    """One series' samples as {slice start: (text, text with ms timestamps)}.

    Slices are aligned to multiples of slice_s (Prometheus's 2 h blocks), so
    a backfill tool that reads its whole input once per block can be given
    one slice per run instead.
    """
    out = {}
    for t, v in pts:
        out.setdefault(t - t % slice_s, []).append(
            "%s%r %d" % (prefix, v, t))
    # The ms copy appends "000" to each line's timestamp (the last field).
    return {k: ("\n".join(lines) + "\n", "000\n".join(lines) + "000\n")
            for k, lines in out.items()}


def _render_histogram(args):
    """One histogram's series, each with all its samples in time order."""
    h, steps, slice_s = args
    rows = {}
    for t in steps:
        for suffix, labels, v in h.samples(t):
            rows.setdefault((suffix, labels), []).append((t, v))
    out = []
    samples = 0
    for (suffix, labels), pts in rows.items():
        prefix = "http_server_resp_time%s{%s} " % (suffix, labels)
        out.append(_render_points(prefix, pts, slice_s))
        samples += len(pts)
    return out, len(rows), samples


def _render_counter(args):
    s, steps, slice_s = args
    prefix = "node_cpu_seconds_total{%s} " % s.labels
    pts = [(t, s.value(t)) for t in steps]
    return [_render_points(prefix, pts, slice_s)], 1, len(steps)


def write_backfill(path, jobs, instances, hours, step_s, end_s, node_instances,
                   ms_path=None, slice_dir=None, slice_s=7200):
    """Writes an OpenMetrics file with timestamps (seconds) for backfill.

    Histograms: jobs x instances, one path each, 12 buckets + sum + count.
    Plus node_cpu_seconds_total for `node_instances` instances x 8 cpus x 4
    modes. Returns (series, samples). OpenMetrics requires all samples of a
    metric family to be contiguous, so we write family by family.

    Optionally also writes the same samples as Prometheus text with ms
    timestamps (`ms_path`), and as one OpenMetrics file per aligned
    `slice_s` window into `slice_dir` (slice-<start>.om), in the same pass.
    """
    start_s = end_s - hours * 3600
    steps = list(range(start_s, end_s + 1, step_s))
    hists = []
    for j in range(jobs):
        for i in range(instances):
            hists.extend(histograms_for("job%d" % j, "inst%d" % i, 1,
                                        j * 100 + i))
    cpus = []
    for n in range(node_instances):
        for c in range(8):
            for mode, rate in (("idle", 0.9), ("user", 0.05), ("system", 0.03),
                               ("iowait", 0.01)):
                cpus.append(SeriesSpec(
                    "node_cpu_seconds_total",
                    'instance="node%d",cpu="%d",mode="%s"' % (n, c, mode),
                    "cpu", rate, 1e5 + n * 1000 + c))
    # Rendering is pure Python and CPU-bound: both cores share it (this step
    # was 2 of the harness's 15 minutes at the default scale).
    import multiprocessing
    series = 0
    samples = 0
    slices = {}
    ms = open(ms_path, "w") if ms_path else None

    headers = []  # every slice file starts with the family headers so far

    def header(line):
        headers.append(line)
        f.write(line)
        for sf in slices.values():
            sf.write(line)

    def emit(rows):
        for row in rows:
            keys = sorted(row)
            f.write("".join(row[k][0] for k in keys))
            if ms:
                ms.write("".join(row[k][1] for k in keys))
            if slice_dir is None:
                continue
            for k in keys:
                sf = slices.get(k)
                if sf is None:
                    sf = slices[k] = open(os.path.join(
                        slice_dir, "slice-%d.om" % k), "w")
                    sf.write("".join(headers))
                sf.write(row[k][0])

    if slice_dir is not None:
        os.makedirs(slice_dir, exist_ok=True)
    try:
        with multiprocessing.Pool() as pool, open(path, "w") as f:
            families = [
                ("# TYPE http_server_resp_time histogram\n",
                 _render_histogram, hists, 4),
                ("# TYPE node_cpu_seconds counter\n", _render_counter, cpus,
                 8),
            ]
            for type_line, render, specs, chunksize in families:
                header(type_line)
                for rows, n_series, n_samples in pool.imap(
                        render, [(x, steps, slice_s) for x in specs],
                        chunksize=chunksize):
                    emit(rows)
                    series += n_series
                    samples += n_samples
            header("# EOF\n")
    finally:
        if ms:
            ms.close()
        for sf in slices.values():
            sf.close()
    return series, samples
