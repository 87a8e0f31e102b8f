"""Turns the harness's results.json into report.md and PNG charts.

Every figure is shown with its ratio to Prometheus measured in the same run
("x0.25" means a quarter of Prometheus's cost; for rates, "x4.0" means four
times Prometheus's rate).
"""

import datetime
import os
import platform
import shutil
import subprocess


def machine_facts():
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except OSError:
        pass
    return {
        "date": datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem / 2**30, 1),
        "kernel": platform.release(),
    }


def _fmt(v, unit=""):
    if v is None:
        return "n/a"
    if isinstance(v, float):
        if abs(v) >= 100:
            s = "%.0f" % v
        elif abs(v) >= 1:
            s = "%.2f" % v
        else:
            s = "%.3g" % v
    else:
        s = str(v)
    return s + unit


def _ratio(v, ref):
    if v is None or ref in (None, 0) or isinstance(v, str):
        return ""
    return " (x%.2f)" % (v / ref)


# (scenario, metric key, label, unit, lower_is_better)
METRICS = [
    ("ingest", "cpu_us_per_sample", "CPU per ingested sample", " µs", True),
    ("ingest", "rss_bytes_per_series", "RSS per active series", " B", True),
    ("ingest", "stored_fraction", "scraped samples stored", "", False),
    ("storage", "bytes_per_sample", "disk bytes per sample", " B", True),
    ("storage", "import_samples_per_second", "backfill rate", " samples/s",
     False),
    ("restart", "ready_after_sigterm_s", "ready after SIGTERM", " s", True),
    ("restart", "ready_after_sigkill_s", "ready after SIGKILL", " s", True),
    ("restart", "last_window_fraction",
     "samples of the last ~30 s kept after SIGKILL", "", False),
]


def _table(results):
    systems = results["systems"]
    lines = ["| metric | " + " | ".join(systems) + " |",
             "|---|" + "---|" * len(systems)]
    sc = results["scenarios"]
    for scen, key, label, unit, _ in METRICS:
        if scen not in sc:
            continue
        ref = sc[scen].get("prometheus", {}).get(key)
        row = []
        for s in systems:
            r = sc[scen].get(s, {})
            if "error" in r:
                row.append("error")
                continue
            v = r.get(key)
            row.append(_fmt(v, unit) + (_ratio(v, ref) if s != "prometheus"
                                        else ""))
        lines.append("| %s | %s |" % (label, " | ".join(row)))
    if "query" in sc:
        q = sc["query"]
        names = []
        for per in q.values():
            for n in per:
                if n not in names and n != "error":
                    names.append(n)
        for n in names:
            ref = q.get("prometheus", {}).get(n, {}).get("median_s")
            row = []
            for s in systems:
                r = q.get(s, {})
                if "error" in r:
                    row.append("error")
                    continue
                m = r.get(n, {})
                v = m.get("median_s")
                cell = _fmt(v * 1e3 if v is not None else None, " ms")
                if v is not None and s != "prometheus":
                    cell += _ratio(v, ref)
                if m.get("p90_s") is not None:
                    cell += ", p90 %s" % _fmt(m["p90_s"] * 1e3, " ms")
                if m.get("matches_prometheus") is False:
                    cell += ", **differs from Prometheus**"
                row.append(cell)
            lines.append("| query %s (median) | %s |" % (n, " | ".join(row)))
    return "\n".join(lines)


def _errors(results):
    out = []
    for scen, per in results["scenarios"].items():
        for s, r in per.items():
            if isinstance(r, dict) and "error" in r:
                out.append("- %s / %s: %s" % (scen, s, r["error"]))
    return out


def _charts(results, outdir):
    """One PNG bar chart per metric, ratio to Prometheus (1.0 = parity)."""
    if not shutil.which("gnuplot"):
        return []
    pngs = []
    sc = results["scenarios"]
    rows = []
    for scen, key, label, _, lower in METRICS:
        ref = sc.get(scen, {}).get("prometheus", {}).get(key)
        if not ref:
            continue
        vals = []
        for s in results["systems"]:
            v = sc[scen].get(s, {}).get(key)
            vals.append(v / ref if isinstance(v, (int, float)) else 0)
        rows.append((label + (" (lower is better)" if lower else
                              " (higher is better)"), vals))
    for scen in ("query",):
        q = sc.get(scen, {})
        ref = q.get("prometheus", {})
        for n, m in ref.items():
            if not isinstance(m, dict) or not m.get("median_s"):
                continue
            vals = []
            for s in results["systems"]:
                v = q.get(s, {}).get(n, {}).get("median_s")
                vals.append(v / m["median_s"] if v else 0)
            rows.append(("query %s latency (lower is better)" % n, vals))
    for i, (title, vals) in enumerate(rows):
        dat = os.path.join(outdir, "chart%02d.dat" % i)
        with open(dat, "w") as f:
            for s, v in zip(results["systems"], vals):
                f.write('"%s" %g\n' % (s, v))
        png = "chart%02d.png" % i
        script = (
            'set terminal pngcairo size 640,360 noenhanced\n'
            'set output "%s"\n'
            'set title "%s — ratio to Prometheus"\n'
            'set style fill solid 0.7\nset boxwidth 0.6\nset yrange [0:*]\n'
            'set grid ytics\nunset key\n'
            'plot "%s" using 0:2:xtic(1) with boxes, 1 with lines dt 2\n'
            % (os.path.join(outdir, png), title.replace('"', "'"), dat))
        try:
            subprocess.run(["gnuplot"], input=script.encode(), check=True,
                           stderr=subprocess.DEVNULL, timeout=30)
            pngs.append((title, png))
        except (subprocess.SubprocessError, OSError):
            # pngcairo may be missing in gnuplot-nox; fall back to png.
            try:
                subprocess.run(["gnuplot"], input=script.replace(
                    "pngcairo", "png").encode(), check=True,
                    stderr=subprocess.DEVNULL, timeout=30)
                pngs.append((title, png))
            except (subprocess.SubprocessError, OSError):
                pass
        os.remove(dat)
    return pngs


def write(results, outdir):
    m = results["machine"]
    a = results["args"]
    lines = [
        "# Vigil side-by-side benchmark",
        "",
        "%s, %s, %d cores, %s GiB RAM, Linux %s." % (
            m["date"], m["cpu"], m["cores"], m["memory_gib"], m["kernel"]),
        "Systems: %s. One system at a time, same load, 127.0.0.1 only." %
        ", ".join(results["systems"]),
        "",
        "Loads: ingest %d targets x %d series at 1 s (warm-up %d s, measured "
        "%d s); backfill %d h at 15 s (%s series, %s samples); queries "
        "repeated %d times (at most %s s each after the third); restart "
        "right after the ingest window, same load." % (
            a["targets"], a["series"], a["warmup"], a["measure"], a["hours"],
            results.get("dataset", {}).get("series", "?"),
            results.get("dataset", {}).get("samples", "?"), a["query_reps"],
            a.get("query_budget", "?")),
        "",
        "Ratios in parentheses are to Prometheus in the same run.",
        "",
        _table(results),
        "",
    ]
    if results.get("phases"):
        lines += ["Run time: %.1f min in all. %s." % (
            results.get("total_seconds", 0) / 60,
            "; ".join("%s %.0f s" % (n, t) for n, t in results["phases"])),
            ""]
    errs = _errors(results)
    if errs:
        lines += ["## Errors", ""] + errs + [""]
    pngs = _charts(results, outdir)
    if pngs:
        lines += ["## Charts", ""]
        for title, png in pngs:
            lines.append("![%s](%s)" % (title, png))
        lines.append("")
    with open(os.path.join(outdir, "report.md"), "w") as f:
        f.write("\n".join(lines))
