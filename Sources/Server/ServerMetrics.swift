import Foundation
import Prometheus
import Synchronization

/// The server's Prometheus metrics (one registry per server instance, so tests can run several).
public final class ServerMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()
    let imagesClassified: Counter
    let adaptationSteps: Counter
    let resets: Counter
    let evictions: Counter
    let fencedWrites: Counter
    let snapshotDuration: DurationHistogram
    let snapshotFailures: Counter
    let requestBodyBytes: Gauge
    let liveStreams: Gauge
    let quarantinedStreams: Gauge
    let queueDepth: Gauge
    let backboneBatchImages: ValueHistogram
    let openConnections: Gauge
    let clientRequestsInFlight: Gauge

    static let latencyBuckets: [Duration] = [1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000].map { .milliseconds($0) }

    /// One request series: its counter and latency histogram.
    private struct RequestSeries: Hashable {
        let route: String, method: String, status: Int
    }
    /// The series requests have used, so that a request costs a dictionary lookup rather than
    /// two registry lookups that rebuild and validate names (about 3 % of a small request's CPU
    /// time). Bounded: routes are the router's, methods are folded to `requestMethods`, statuses
    /// are three digits.
    private let requestSeries = Mutex<[RequestSeries: (Counter, DurationHistogram)]>([:])
    /// Methods counted under their own name; any other (a client may send any token) is "other",
    /// so that clients cannot grow the metrics without bound.
    static let requestMethods: Set<String> = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]

    public init() {
        func describe(_ name: String, _ unit: String, _ help: String) -> MetricNameDescriptor {
            MetricNameDescriptor(namespace: "rada", metricName: name, unitName: unit, helpText: help)
        }
        imagesClassified = registry.makeCounter(descriptor: describe("images_classified", "total", "Images classified (stream and stateless)"))
        adaptationSteps = registry.makeCounter(descriptor: describe("adaptation_steps", "total", "Optimiser steps taken by streams"))
        resets = registry.makeCounter(descriptor: describe("stream_resets", "total", "Stream resets requested by clients"))
        evictions = registry.makeCounter(descriptor: describe("streams_evicted", "total", "Streams written to disk and dropped from memory"))
        fencedWrites = registry.makeCounter(descriptor: describe(
            "store_fenced_writes", "total", "Writes the stream store refused because another server had taken the stream over (fencing epoch moved on); nothing was written"))
        snapshotDuration = registry.makeDurationHistogram(
            descriptor: describe("snapshot_duration", "seconds", "Periodic stream snapshots written off the stream's lock (encoding and store write), by duration"),
            buckets: Self.latencyBuckets)
        snapshotFailures = registry.makeCounter(descriptor: describe(
            "snapshot_failures", "total", "Periodic stream snapshots that failed (the journal keeps the requests; retried after --snapshot-every more records)"))
        liveStreams = registry.makeGauge(descriptor: describe("streams_live", "count", "Streams held in memory"))
        requestBodyBytes = registry.makeGauge(descriptor: describe(
            "request_body_memory", "bytes", "Request-body memory reserved by requests being read or handled (--body-memory-mb)"))
        quarantinedStreams = registry.makeGauge(
            descriptor: describe("streams_quarantined", "count", "Streams whose stored state could not be loaded (served 503 until deleted)"))
        queueDepth = registry.makeGauge(descriptor: describe("backbone_queue", "images", "Images waiting for the backbone"))
        openConnections = registry.makeGauge(descriptor: describe("http_open_connections", "count", "HTTP connections open"))
        clientRequestsInFlight = registry.makeGauge(descriptor: describe(
            "client_requests_in_flight", "count", "Authenticated requests admitted and not yet answered (the per-client cap counts these)"))
        backboneBatchImages = registry.makeValueHistogram(
            descriptor: describe("backbone_batch", "images", "Images per backbone call"), buckets: [1, 2, 4, 8, 16, 32, 64, 128])
    }

    func recordRequest(route: String, method: String, status: Int, duration: Duration) {
        let key = RequestSeries(route: route, method: Self.requestMethods.contains(method) ? method : "other", status: status)
        let (counter, histogram) = requestSeries.withLock { series in
            if let known = series[key] { return known }
            let labels = [("route", key.route), ("method", key.method), ("status", String(key.status))]
            let made = (
                registry.makeCounter(
                    descriptor: MetricNameDescriptor(namespace: "rada", metricName: "http_requests", unitName: "total", helpText: "HTTP requests by route and status"),
                    labels: labels),
                registry.makeDurationHistogram(
                    descriptor: MetricNameDescriptor(
                        namespace: "rada", metricName: "http_request_duration", unitName: "seconds", helpText: "HTTP request latency by route and status"),
                    labels: labels, buckets: Self.latencyBuckets)
            )
            series[key] = made
            return made
        }
        counter.increment()
        histogram.record(duration)
    }

    /// A request or connection the HTTP edge answered and closed itself (`reason`: the error
    /// code, or `body_timeout`), never reaching a route.
    func recordRejected(reason: String) {
        registry.makeCounter(
            descriptor: MetricNameDescriptor(namespace: "rada", metricName: "http_rejected", unitName: "total", helpText: "Requests and connections refused at the HTTP edge, by reason"),
            labels: [("reason", reason)]
        ).increment()
    }

    /// The Prometheus text exposition.
    public func exposition() -> String { registry.emitToString() }
}
