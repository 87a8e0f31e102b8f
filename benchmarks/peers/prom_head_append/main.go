// Command prom_head_append measures Prometheus 2.42's head append rate on
// the shape of Vigil's BM_AppendScrape (tsdb/db_benchmark.cc): N series
// with 5 labels, one appender per scrape round holding one sample of every
// series, cached series refs, Commit per round. It reports wall and process
// CPU time per round and per sample, with and without the WAL.
//
// Build and run: see ../README.md (GOPATH mode, no network).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/go-kit/log"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/storage"
	"github.com/prometheus/prometheus/tsdb"
)

const scrapeMs = 15000

func cpuSeconds() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	tv := func(t syscall.Timeval) float64 { return float64(t.Sec) + float64(t.Usec)/1e6 }
	return tv(ru.Utime) + tv(ru.Stime)
}

// The label sets of BM_AppendScrape's MakeSeries.
func makeSeries(n int) []labels.Labels {
	out := make([]labels.Labels, n)
	for i := 0; i < n; i++ {
		out[i] = labels.FromStrings(
			"__name__", fmt.Sprintf("metric_%d", i%100),
			"instance", fmt.Sprintf("host-%d:9100", i/1000),
			"job", "node",
			"cpu", fmt.Sprintf("%d", i%10),
			"series", fmt.Sprintf("%d", i))
	}
	return out
}

// The values of BM_AppendScrape: counter-like small increments.
func value(series, round int) float64 {
	return float64(round*(series%7+1)) + float64(series%3)*0.5
}

func run(dir string, n, rounds, warmup int, wal bool) error {
	os.RemoveAll(dir)
	defer os.RemoveAll(dir)
	opts := tsdb.DefaultOptions()
	if !wal {
		opts.WALSegmentSize = -1 // disables the WAL
	}
	db, err := tsdb.Open(dir, log.NewNopLogger(), nil, opts, nil)
	if err != nil {
		return err
	}
	defer db.Close()
	// No compaction into blocks during the measurement (BM_AppendScrape
	// does no retention or maintenance either).
	db.DisableCompactions()
	lbls := makeSeries(n)
	refs := make([]storage.SeriesRef, n)
	ctx := context.Background()
	scrape := func(round int) error {
		app := db.Appender(ctx)
		t := int64(round) * scrapeMs
		for i := 0; i < n; i++ {
			ref, err := app.Append(refs[i], lbls[i], t, value(i, round))
			if err != nil {
				return err
			}
			refs[i] = ref
		}
		return app.Commit()
	}
	// The first round creates the series; it is not part of the steady
	// state BM_AppendScrape measures.
	if err := scrape(0); err != nil {
		return err
	}
	// Warm-up rounds, then a pause for what creating the series left to
	// the garbage collector (BM_AppendScrape's third argument does the same
	// for its background threads).
	for r := 1; r <= warmup; r++ {
		if err := scrape(r); err != nil {
			return err
		}
	}
	if warmup > 0 {
		time.Sleep(2 * time.Second)
	}
	cpu0, start := cpuSeconds(), time.Now()
	for r := warmup + 1; r <= warmup+rounds; r++ {
		if err := scrape(r); err != nil {
			return err
		}
	}
	wall := time.Since(start).Seconds()
	cpu := cpuSeconds() - cpu0
	samples := float64(n * rounds)
	fmt.Printf("prometheus-2.42 head append wal=%v series=%d warmup=%d rounds=%d: "+
		"%.1f ms/round wall, %.1f ms/round CPU, %.0f ns/sample CPU "+
		"(%.2f M samples/s CPU)\n",
		wal, n, warmup, rounds, wall*1e3/float64(rounds), cpu*1e3/float64(rounds),
		cpu*1e9/samples, samples/cpu/1e6)
	return nil
}

func main() {
	n := flag.Int("series", 100000, "series per scrape")
	rounds := flag.Int("rounds", 200, "measured scrape rounds")
	warmup := flag.Int("warmup", 0, "unmeasured rounds after the first, followed by a 2 s pause")
	dir := flag.String("dir", fmt.Sprintf("/tmp/prom_head_append_%d", os.Getpid()), "scratch data directory")
	mode := flag.String("wal", "both", "with, without or both")
	flag.Parse()
	for _, w := range []bool{false, true} {
		if (*mode == "with" && !w) || (*mode == "without" && w) {
			continue
		}
		if err := run(*dir, *n, *rounds, *warmup, w); err != nil {
			fmt.Fprintln(os.Stderr, "prom_head_append:", err)
			os.Exit(1)
		}
	}
}
