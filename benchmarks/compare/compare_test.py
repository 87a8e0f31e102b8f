"""Unit tests for the comparison harness: load shapes, result matching and
report rendering. They run in the normal test suite (no peers needed)."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import compare  # noqa: E402
import loadgen  # noqa: E402
import report  # noqa: E402


class LoadgenTest(unittest.TestCase):
    def test_histogram_buckets_ordered_and_monotone(self):
        h = loadgen.Histogram("x", 'job="a"', 7)
        prev = None
        for t in range(1795000000, 1795000000 + 4 * 3600, 15):
            cur = [v for _, _, v in h.samples(t)]
            buckets = cur[:12]
            self.assertEqual(buckets, sorted(buckets), t)
            self.assertEqual(buckets[-1], cur[13])  # +Inf == _count
            if prev:
                for a, b in zip(cur, prev):
                    self.assertGreaterEqual(a, b, t)
            prev = cur

    def test_counters_monotone_and_target_size(self):
        t = loadgen.Target(3, 5000)
        self.assertEqual(t.num_series(), 5000)
        for s in t.node:
            if s.kind in ("cpu", "bytes", "count"):
                self.assertLessEqual(s.value(1795000000),
                                     s.value(1795000015))
        body = t.render(1795000000).decode()
        lines = body.splitlines()
        self.assertEqual(len(lines), 5000)
        # Regression: cpu labels once wrapped at 64 and repeated series.
        names = [line.rsplit(" ", 1)[0] for line in lines]
        self.assertEqual(len(set(names)), 5000)

    def test_backfill_file_counts(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "b.om")
            ms = os.path.join(d, "b.ms.prom")
            sl = os.path.join(d, "slices")
            series, samples = loadgen.write_backfill(
                path, 2, 1, 3, 15, 1795000000, 1, ms_path=ms, slice_dir=sl)
            self.assertEqual(series, 2 * 14 + 32)
            self.assertEqual(samples, series * 721)
            with open(path) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[-1], "# EOF")
            body = [x for x in lines if not x.startswith("#")]
            self.assertEqual(len(body), samples)
            # The ms copy: the same lines in the same order, ts x 1000.
            with open(ms) as f:
                ms_lines = f.read().splitlines()
            self.assertEqual(len(ms_lines), samples)
            for a, b in zip(body[:500], ms_lines[:500]):
                self.assertEqual(a + "000", b)
            # Slices: 2 h aligned, each a complete OpenMetrics file; together
            # exactly the samples of the whole file.
            files = sorted(os.listdir(sl))
            self.assertEqual(len(files), 2)  # 3 h around a 2 h boundary
            got = []
            for name in files:
                k = int(name[len("slice-"):-len(".om")])
                self.assertEqual(k % 7200, 0)
                with open(os.path.join(sl, name)) as f:
                    sl_lines = f.read().splitlines()
                self.assertEqual(sl_lines[0],
                                 "# TYPE http_server_resp_time histogram")
                self.assertIn("# TYPE node_cpu_seconds counter", sl_lines)
                self.assertEqual(sl_lines[-1], "# EOF")
                for x in sl_lines:
                    if not x.startswith("#"):
                        t = int(x.rsplit(" ", 1)[1])
                        self.assertTrue(k <= t < k + 7200, x)
                        got.append(x)
            self.assertEqual(sorted(got), sorted(body))


class MatchTest(unittest.TestCase):
    def vec(self, *vals):
        return {"resultType": "vector", "result": [
            {"metric": {"a": str(i)}, "value": [1, v]}
            for i, v in enumerate(vals)]}

    def test_tolerance_order_and_nan(self):
        self.assertTrue(compare.results_match(self.vec("1", "NaN"),
                                              self.vec("1.0000000001", "NaN")))
        self.assertFalse(compare.results_match(self.vec("1"),
                                               self.vec("1.01")))
        a = self.vec("1", "2")
        b = {"resultType": "vector", "result": list(reversed(a["result"]))}
        self.assertTrue(compare.results_match(a, b))
        self.assertFalse(compare.results_match(self.vec("1"),
                                               self.vec("1", "2")))


class ReportTest(unittest.TestCase):
    def test_ratios_and_errors(self):
        results = {
            "machine": {"date": "d", "cpu": "c", "cores": 2,
                        "memory_gib": 1, "kernel": "k"},
            "args": {"targets": 1, "series": 2, "warmup": 1, "measure": 1,
                     "hours": 1, "query_reps": 1, "query_budget": 1},
            "phases": [["live vigil", 70.0], ["query vigil", 3.0]],
            "total_seconds": 73.0,
            "systems": ["vigil", "prometheus"],
            "scenarios": {
                "ingest": {"prometheus": {"cpu_us_per_sample": 2.0},
                           "vigil": {"cpu_us_per_sample": 0.5}},
                "storage": {"prometheus": {"bytes_per_sample": 3.0},
                            "vigil": {"error": "boom"}},
            },
        }
        with tempfile.TemporaryDirectory() as d:
            report.write(results, d)
            with open(os.path.join(d, "report.md")) as f:
                text = f.read()
        self.assertIn("| 0.5 µs (x0.25) | 2.00 µs |", text)
        self.assertIn("storage / vigil: boom", text)
        self.assertIn("Run time: 1.2 min in all. live vigil 70 s; "
                      "query vigil 3 s.", text)
        json.dumps(results)


if __name__ == "__main__":
    unittest.main()
