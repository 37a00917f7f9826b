// Package metrics holds the rendezvous's Prometheus series, all prefixed kith_, on a
// registry of its own (no global state). A nil *Metrics records nothing.
package metrics

import (
	"net/http"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is one instance's set of series.
type Metrics struct {
	reg           *prometheus.Registry
	registrations prometheus.Counter
	lookups       *prometheus.CounterVec
	offers        *prometheus.CounterVec
	refusals      *prometheus.CounterVec
	allocations   prometheus.Counter
	allocActive   prometheus.Gauge
	storeLatency  *prometheus.HistogramVec
	listens       prometheus.Gauge
}

// New makes the series on a fresh registry, with Go and process collectors.
func New() *Metrics {
	m := &Metrics{
		reg: prometheus.NewRegistry(),
		registrations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kith_rendezvous_registrations_total", Help: "Registrations accepted.",
		}),
		lookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kith_rendezvous_lookups_total", Help: "Lookups answered, by result (found, not_found).",
		}, []string{"result"}),
		offers: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kith_rendezvous_offers_total", Help: "Offers delivered to a listener, by kind.",
		}, []string{"kind"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kith_rendezvous_refusals_total", Help: "Requests refused, by reason.",
		}, []string{"reason"}),
		allocations: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kith_rendezvous_turn_allocations_total", Help: "TURN allocations created.",
		}),
		allocActive: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kith_rendezvous_turn_allocations_active", Help: "TURN allocations alive now.",
		}),
		storeLatency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "kith_rendezvous_store_latency_seconds", Help: "Store operation latency, by operation.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 9),
		}, []string{"op"}),
		listens: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "kith_rendezvous_listen_streams", Help: "Listen streams open now.",
		}),
	}
	m.reg.MustRegister(m.registrations, m.lookups, m.offers, m.refusals, m.allocations, m.allocActive,
		m.storeLatency, m.listens, collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(memoryWhere)),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// memoryWhere adds to the Go collector's defaults the runtime/metrics that say where an
// instance's memory goes (issue 14): the heap live after the last GC
// (go_gc_heap_live_bytes; RSS is up to about twice it, by GOGC and the memory limit)
// and the goroutine stacks (go_memory_classes_heap_stacks_bytes), a goroutine or more
// per held Listen stream.
var memoryWhere = collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$|^/memory/classes/heap/stacks:bytes$`)}

// Handler serves the series in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

// Registered counts an accepted registration.
func (m *Metrics) Registered() {
	if m != nil {
		m.registrations.Inc()
	}
}

// Lookup counts a lookup by result.
func (m *Metrics) Lookup(result string) {
	if m != nil {
		m.lookups.WithLabelValues(result).Inc()
	}
}

// Offer counts a delivered offer by kind.
func (m *Metrics) Offer(kind string) {
	if m != nil {
		m.offers.WithLabelValues(kind).Inc()
	}
}

// Refused counts a refusal by reason.
func (m *Metrics) Refused(reason string) {
	if m != nil {
		m.refusals.WithLabelValues(reason).Inc()
	}
}

// Allocated counts a new TURN allocation.
func (m *Metrics) Allocated() {
	if m != nil {
		m.allocations.Inc()
		m.allocActive.Inc()
	}
}

// Released counts the end of a TURN allocation.
func (m *Metrics) Released() {
	if m != nil {
		m.allocActive.Dec()
	}
}

// StoreOp records how long one store operation took.
func (m *Metrics) StoreOp(op string, d time.Duration) {
	if m != nil {
		m.storeLatency.WithLabelValues(op).Observe(d.Seconds())
	}
}

// ListenStreams moves the count of open Listen streams by delta.
func (m *Metrics) ListenStreams(delta int) {
	if m != nil {
		m.listens.Add(float64(delta))
	}
}

// ObserveDropped exports dropped, the count of offers refused because a Listen
// stream's queue was full (a slow or stuck client), as a counter.
func (m *Metrics) ObserveDropped(dropped func() uint64) {
	if m != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kith_rendezvous_offers_dropped_total",
			Help: "Offers dropped because the Listen stream's queue was full (slow or stuck client).",
		}, func() float64 { return float64(dropped()) }))
	}
}
