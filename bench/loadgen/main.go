// Command loadgen is an open-loop, fixed-rate HTTP load generator.
//
// Requests are scheduled at exact times start + i/rate, independent of how fast the server answers
// (open loop). A fixed pool of worker goroutines (one per keep-alive connection) takes scheduled
// requests from a channel; latency is measured from the request's *scheduled* send time, not from
// when a worker got round to sending it, so a server that stalls is charged for the requests that
// queued up behind the stall (no coordinated omission, as in wrk2).
//
// Output: one JSON document (stdout, or -out FILE) and one human-readable line on stderr.
//
//	loadgen -url http://127.0.0.1:8080/v2/models/iris/infer -rate 10000 -duration 20s \
//	  -connections 64 -body-file body.json -header "Authorization: Bearer $T" \
//	  -count-header x-hotswap-model-version
//
// Only the Go standard library is used.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"math/bits"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ---- histogram --------------------------------------------------------------------------------

// hist is a log-linear histogram of non-negative durations in nanoseconds (HdrHistogram-like):
// values below 256 ns are exact; above, each power-of-two range is split into 128 buckets, so a
// reported percentile is within 0.8% of the true value. Not thread-safe: one per worker, merged.
type hist struct {
	counts []int64
	n      int64
	sum    float64
	max    int64
}

const (
	histExact = 256 // values below are their own bucket
	histSub   = 128 // buckets per power of two above that
)

func newHist() *hist { return &hist{counts: make([]int64, histExact+64*histSub)} }

func histIndex(v int64) int {
	if v < histExact {
		return int(v)
	}
	e := bits.Len64(uint64(v)) // >= 9
	shift := e - 8             // top 8 bits kept: top in [128, 255]
	top := v >> uint(shift)
	return histExact + (shift-1)*histSub + int(top-histSub)
}

// histUpper is the highest value that lands in bucket idx.
func histUpper(idx int) int64 {
	if idx < histExact {
		return int64(idx)
	}
	k := idx - histExact
	shift := k/histSub + 1
	top := int64(k%histSub + histSub)
	return ((top + 1) << uint(shift)) - 1
}

func (h *hist) add(v int64) {
	if v < 0 {
		v = 0
	}
	h.counts[histIndex(v)]++
	h.n++
	h.sum += float64(v)
	if v > h.max {
		h.max = v
	}
}

func (h *hist) merge(o *hist) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	if o.max > h.max {
		h.max = o.max
	}
}

// quantile returns the value at percentile p (0..100), in nanoseconds.
func (h *hist) quantile(p float64) int64 {
	if h.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(p / 100 * float64(h.n)))
	if rank < 1 {
		rank = 1
	}
	var cum int64
	for i, c := range h.counts {
		cum += c
		if cum >= rank {
			u := histUpper(i)
			if u > h.max {
				u = h.max
			}
			return u
		}
	}
	return h.max
}

func ms(ns int64) float64 { return math.Round(float64(ns)/1e3) / 1e3 } // ns -> ms, µs precision

type latencySummary struct {
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
	Mean float64 `json:"mean"`
}

func (h *hist) summary() latencySummary {
	s := latencySummary{
		P50: ms(h.quantile(50)), P90: ms(h.quantile(90)), P99: ms(h.quantile(99)),
		P999: ms(h.quantile(99.9)), Max: ms(h.max),
	}
	if h.n > 0 {
		s.Mean = ms(int64(h.sum / float64(h.n)))
	}
	return s
}

// ---- flags ------------------------------------------------------------------------------------

type headerFlags []string

func (h *headerFlags) String() string     { return strings.Join(*h, ", ") }
func (h *headerFlags) Set(v string) error { *h = append(*h, v); return nil }

type config struct {
	url         string
	method      string
	rate        float64
	duration    time.Duration
	warmup      time.Duration
	connections int
	bodyFile    string
	headers     headerFlags
	countHeader string
	timeout     time.Duration
	drain       time.Duration
	out         string
	quiet       bool
}

// ---- workers ----------------------------------------------------------------------------------

type job struct {
	sched    time.Time
	measured bool // scheduled inside the measurement window (after warm-up)
}

const keepSamples = 3 // non-2xx response bodies kept for the report

// workerStats is owned by one worker; merged after all workers stop.
type workerStats struct {
	latency      *hist // completion - scheduled time, measured requests that got a response
	queueDelay   *hist // actual send - scheduled time (client-side queueing), measured requests
	sent         int64
	ok           int64
	non2xx       int64
	errs         int64
	unsent       int64
	warmupSent   int64
	statuses     map[int]int64
	errMsgs      map[string]int64
	counts       map[string]int64
	non2xxBodies []string
	lastDone     time.Time
}

func newWorkerStats() *workerStats {
	return &workerStats{
		latency: newHist(), queueDelay: newHist(),
		statuses: map[int]int64{}, errMsgs: map[string]int64{}, counts: map[string]int64{},
	}
}

// simplifyErr keeps error messages groupable: drops the per-connection local port.
func simplifyErr(err error) string {
	var ne net.Error
	msg := err.Error()
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout: " + msg
	}
	if len(msg) > 200 {
		msg = msg[:200]
	}
	// "read tcp 127.0.0.1:53412->127.0.0.1:8080: ..." -> "read tcp 127.0.0.1:*->127.0.0.1:8080: ..."
	if i := strings.Index(msg, "127.0.0.1:"); i >= 0 {
		j := i + len("127.0.0.1:")
		k := j
		for k < len(msg) && msg[k] >= '0' && msg[k] <= '9' {
			k++
		}
		if k < len(msg) && msg[k] == '-' {
			msg = msg[:j] + "*" + msg[k:]
		}
	}
	return msg
}

func worker(ctx context.Context, cfg *config, client *http.Client, body []byte, hdr http.Header,
	jobs <-chan job, st *workerStats, wg *sync.WaitGroup) {
	defer wg.Done()
	for j := range jobs {
		if ctx.Err() != nil { // past the drain deadline: count, do not send
			if j.measured {
				st.unsent++
			}
			continue
		}
		start := time.Now()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequestWithContext(ctx, cfg.method, cfg.url, rd)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen: bad request:", err)
			os.Exit(2)
		}
		req.Header = hdr.Clone()
		if h := hdr.Get("Host"); h != "" {
			req.Host = h
		}
		resp, err := client.Do(req)
		var status int
		var version string
		if err == nil {
			status = resp.StatusCode
			if cfg.countHeader != "" {
				version = resp.Header.Get(cfg.countHeader)
			}
			var b []byte
			if (status < 200 || status > 299) && j.measured && len(st.non2xxBodies) < keepSamples {
				b, _ = io.ReadAll(io.LimitReader(resp.Body, 512))
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if b != nil {
				st.non2xxBodies = append(st.non2xxBodies, fmt.Sprintf("%d %s", status, strings.TrimSpace(string(b))))
			}
		}
		done := time.Now()
		if !j.measured {
			st.warmupSent++
			continue
		}
		st.sent++
		st.queueDelay.add(int64(start.Sub(j.sched)))
		if err != nil {
			st.errs++
			st.errMsgs[simplifyErr(err)]++
			continue
		}
		st.latency.add(int64(done.Sub(j.sched)))
		st.lastDone = done
		st.statuses[status]++
		if status >= 200 && status <= 299 {
			st.ok++
		} else {
			st.non2xx++
		}
		if cfg.countHeader != "" {
			if version == "" {
				version = "(none)"
			}
			st.counts[version]++
		}
	}
}

// ---- report -----------------------------------------------------------------------------------

type report struct {
	URL            string           `json:"url"`
	Method         string           `json:"method"`
	Rate           float64          `json:"rate"`
	DurationS      float64          `json:"duration_s"`
	WarmupS        float64          `json:"warmup_s"`
	Connections    int              `json:"connections"`
	Scheduled      int64            `json:"scheduled"`
	Sent           int64            `json:"sent"`
	OK             int64            `json:"ok"`
	Non2xx         int64            `json:"non2xx"`
	Errors         int64            `json:"errors"`
	Unsent         int64            `json:"unsent"`
	WarmupSent     int64            `json:"warmup_sent"`
	AchievedRate   float64          `json:"achieved_rate"`
	LatencyMs      latencySummary   `json:"latency_ms"`
	QueueDelayMs   latencySummary   `json:"queue_delay_ms"`
	StatusCodes    map[string]int64 `json:"status_codes"`
	ErrorMessages  map[string]int64 `json:"error_messages"`
	Non2xxSamples  []string         `json:"non2xx_samples"`
	CountHeader    string           `json:"count_header,omitempty"`
	Counts         map[string]int64 `json:"counts,omitempty"`
	SchedulerLagMs float64          `json:"scheduler_max_lag_ms"`
	StartedAt      string           `json:"started_at"`
}

func main() {
	var cfg config
	flag.StringVar(&cfg.url, "url", "", "target URL (required)")
	flag.StringVar(&cfg.method, "method", "", "HTTP method (default POST with -body-file, else GET)")
	flag.Float64Var(&cfg.rate, "rate", 1000, "requests per second (fixed, open loop)")
	flag.DurationVar(&cfg.duration, "duration", 10*time.Second, "measurement duration")
	flag.DurationVar(&cfg.warmup, "warmup", 2*time.Second, "warm-up at the same rate before measuring (not recorded)")
	flag.IntVar(&cfg.connections, "connections", 64, "keep-alive connections = worker goroutines")
	flag.StringVar(&cfg.bodyFile, "body-file", "", "request body file")
	flag.Var(&cfg.headers, "header", `request header "Name: value" (repeatable)`)
	flag.StringVar(&cfg.countHeader, "count-header", "", "count responses per value of this response header")
	flag.DurationVar(&cfg.timeout, "timeout", 10*time.Second, "per-request timeout")
	flag.DurationVar(&cfg.drain, "drain", 10*time.Second, "after the schedule ends, wait at most this long for queued requests")
	flag.StringVar(&cfg.out, "out", "", "write the JSON report here instead of stdout")
	flag.BoolVar(&cfg.quiet, "quiet", false, "no human-readable line on stderr")
	cpuProfile := flag.String("cpuprofile", "", "write a Go CPU profile of the load generator here")
	flag.Parse()
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		defer pprof.StopCPUProfile()
	}
	if cfg.url == "" || cfg.rate <= 0 || cfg.duration <= 0 || cfg.connections < 1 || cfg.warmup < 0 {
		fmt.Fprintln(os.Stderr, "loadgen: need -url, -rate > 0, -duration > 0, -connections >= 1, -warmup >= 0")
		flag.Usage()
		os.Exit(2)
	}

	var body []byte
	if cfg.bodyFile != "" {
		b, err := os.ReadFile(cfg.bodyFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(2)
		}
		body = b
	}
	if cfg.method == "" {
		if body != nil {
			cfg.method = http.MethodPost
		} else {
			cfg.method = http.MethodGet
		}
	}
	hdr := http.Header{}
	for _, h := range cfg.headers {
		k, v, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(k) == "" {
			fmt.Fprintf(os.Stderr, "loadgen: bad -header %q (want \"Name: value\")\n", h)
			os.Exit(2)
		}
		hdr.Add(textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(k)), strings.TrimSpace(v))
	}
	if body != nil && hdr.Get("Content-Type") == "" {
		hdr.Set("Content-Type", "application/json")
	}

	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          cfg.connections,
		MaxIdleConnsPerHost:   cfg.connections,
		MaxConnsPerHost:       cfg.connections,
		IdleConnTimeout:       90 * time.Second,
		DisableCompression:    true,
		ForceAttemptHTTP2:     false,
		ResponseHeaderTimeout: cfg.timeout,
	}
	client := &http.Client{Transport: tr, Timeout: cfg.timeout}

	interval := float64(time.Second) / cfg.rate
	warmupN := int64(math.Round(cfg.warmup.Seconds() * cfg.rate))
	measuredN := int64(math.Round(cfg.duration.Seconds() * cfg.rate))
	total := warmupN + measuredN

	// The queue between scheduler and workers holds up to 10 s of requests; if it is full the
	// scheduler blocks, which does not distort latencies (they count from the scheduled time).
	qcap := int(math.Min(math.Max(cfg.rate*10, 1024), 1<<20))
	jobs := make(chan job, qcap)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	stats := make([]*workerStats, cfg.connections)
	var wg sync.WaitGroup
	for i := range stats {
		stats[i] = newWorkerStats()
		wg.Add(1)
		go worker(ctx, &cfg, client, body, hdr, jobs, stats[i], &wg)
	}

	startedAt := time.Now()
	start := startedAt.Add(10 * time.Millisecond)
	measureStart := start.Add(time.Duration(float64(warmupN) * interval))
	scheduleEnd := start.Add(time.Duration(float64(total) * interval))

	// Scheduler: sleep until the next slot (at most 1 ms), then emit every request whose scheduled
	// time has passed, each stamped with its own scheduled time.
	var maxLag time.Duration
	go func() {
		defer close(jobs)
		sleep := preciseSleeper()
		var i int64
		for i < total {
			now := time.Now()
			due := int64(float64(now.Sub(start))/interval) + 1 // requests with sched <= now
			if due > total {
				due = total
			}
			for ; i < due; i++ {
				sched := start.Add(time.Duration(float64(i) * interval))
				if lag := now.Sub(sched); lag > maxLag {
					maxLag = lag
				}
				jobs <- job{sched: sched, measured: i >= warmupN}
				if ctx.Err() != nil {
					return
				}
			}
			if i >= total {
				break
			}
			next := start.Add(time.Duration(float64(i) * interval))
			d := time.Until(next)
			if d > time.Millisecond {
				d = time.Millisecond
			}
			if d > 0 {
				sleep(d)
			}
		}
	}()

	// Bound the run: schedule length + drain, then cancel whatever is still queued or in flight.
	deadline := time.AfterFunc(time.Until(scheduleEnd)+cfg.drain, cancel)
	wg.Wait()
	deadline.Stop()
	tr.CloseIdleConnections()

	// Merge.
	all := newWorkerStats()
	for _, s := range stats {
		all.latency.merge(s.latency)
		all.queueDelay.merge(s.queueDelay)
		all.sent += s.sent
		all.ok += s.ok
		all.non2xx += s.non2xx
		all.errs += s.errs
		all.unsent += s.unsent
		all.warmupSent += s.warmupSent
		for k, v := range s.statuses {
			all.statuses[k] += v
		}
		for k, v := range s.errMsgs {
			all.errMsgs[k] += v
		}
		for k, v := range s.counts {
			all.counts[k] += v
		}
		for _, b := range s.non2xxBodies {
			if len(all.non2xxBodies) < keepSamples {
				all.non2xxBodies = append(all.non2xxBodies, b)
			}
		}
		if s.lastDone.After(all.lastDone) {
			all.lastDone = s.lastDone
		}
	}
	// Achieved rate: responses to measured requests over the time from the first measured
	// schedule slot to the later of the schedule's end and the last response.
	end := scheduleEnd
	if all.lastDone.After(end) {
		end = all.lastDone
	}
	achieved := 0.0
	if el := end.Sub(measureStart).Seconds(); el > 0 {
		achieved = float64(all.ok+all.non2xx) / el
	}

	r := report{
		URL: cfg.url, Method: cfg.method, Rate: cfg.rate, DurationS: cfg.duration.Seconds(),
		WarmupS: cfg.warmup.Seconds(), Connections: cfg.connections,
		Scheduled: measuredN, Sent: all.sent, OK: all.ok, Non2xx: all.non2xx, Errors: all.errs,
		Unsent: measuredN - all.sent, WarmupSent: all.warmupSent,
		AchievedRate:   math.Round(achieved*10) / 10,
		LatencyMs:      all.latency.summary(),
		QueueDelayMs:   all.queueDelay.summary(),
		StatusCodes:    map[string]int64{},
		ErrorMessages:  all.errMsgs,
		Non2xxSamples:  all.non2xxBodies,
		SchedulerLagMs: ms(int64(maxLag)),
		StartedAt:      startedAt.UTC().Format(time.RFC3339),
	}
	if r.Non2xxSamples == nil {
		r.Non2xxSamples = []string{}
	}
	for k, v := range all.statuses {
		r.StatusCodes[strconv.Itoa(k)] = v
	}
	if cfg.countHeader != "" {
		r.CountHeader = cfg.countHeader
		r.Counts = all.counts
	}

	out, _ := json.MarshalIndent(r, "", "  ")
	out = append(out, '\n')
	if cfg.out != "" {
		if err := os.WriteFile(cfg.out, out, 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "loadgen:", err)
			os.Exit(1)
		}
	} else {
		os.Stdout.Write(out)
	}
	if !cfg.quiet {
		l := r.LatencyMs
		line := fmt.Sprintf("loadgen: %s %.0f/s x %s (+%s warm-up), %d conns: sent %d ok %d non-2xx %d errors %d unsent %d, achieved %.1f/s | latency ms p50 %.3f p90 %.3f p99 %.3f p99.9 %.3f max %.3f",
			r.Method, r.Rate, cfg.duration, cfg.warmup, r.Connections, r.Sent, r.OK, r.Non2xx, r.Errors, r.Unsent,
			r.AchievedRate, l.P50, l.P90, l.P99, l.P999, l.Max)
		if cfg.countHeader != "" {
			keys := make([]string, 0, len(r.Counts))
			for k := range r.Counts {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			parts := make([]string, 0, len(keys))
			for _, k := range keys {
				parts = append(parts, fmt.Sprintf("%s=%d", k, r.Counts[k]))
			}
			line += fmt.Sprintf(" | %s: %s", cfg.countHeader, strings.Join(parts, " "))
		}
		fmt.Fprintln(os.Stderr, line)
	}
	if r.Sent == 0 {
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}
