// The one list of exported metric names. The job kinds declare their families with them (src/daemon/jobs/*), the exporter renders them (src/exporter/metrics.ts), the
// Grafana dashboards and Prometheus rules refer to them, and a test checks both against a real scrape.
// Labels: target, direction, mode, interval, hop (a number), reason (a fixed set) only (no free-form strings).
export const METRIC = {
  timeoutEstimate: 'idleprobe_idle_timeout_seconds', // gauge {target,direction}
  timeoutLower: 'idleprobe_idle_timeout_lower_bound_seconds', // gauge {target,direction}
  timeoutUpper: 'idleprobe_idle_timeout_upper_bound_seconds', // gauge {target,direction}
  failureMode: 'idleprobe_failure_mode', // gauge 0/1 {target,direction,mode=silent|reset|closed|none}
  verdict: 'idleprobe_verdict', // gauge 0/1 {target,direction,verdict}
  lastMeasurementTimestamp: 'idleprobe_last_measurement_timestamp_seconds', // gauge {target}
  lastMeasurementDuration: 'idleprobe_last_measurement_duration_seconds', // gauge {target}
  measurements: 'idleprobe_measurements_total', // counter {target}
  measurementFailures: 'idleprobe_measurement_failures_total', // counter {target}
  measurementsSkipped: 'idleprobe_measurements_skipped_total', // counter {target}
  sessionsOpen: 'idleprobe_sessions_open', // gauge {target}
  maskedByServerHeartbeat: 'idleprobe_masked_by_server_heartbeat', // gauge 0/1 {target}
  serverHeartbeat: 'idleprobe_server_heartbeat_seconds', // gauge {target}
  sentinelDeaths: 'idleprobe_sentinel_deaths_total', // counter {target}
  recommendedHeartbeat: 'idleprobe_recommended_heartbeat_seconds', // gauge {target}
  targetUp: 'idleprobe_target_up', // gauge 0/1 {target}: last connect+auth worked
  configReloadSuccess: 'idleprobe_config_last_reload_successful', // gauge
  configReloadTimestamp: 'idleprobe_config_last_reload_success_timestamp_seconds', // gauge
  heartbeatSurvived: 'idleprobe_heartbeat_survived', // gauge 0/1 {target,interval="15"|"tcp:5"|"none"}
  heartbeatSurvivedSeconds: 'idleprobe_heartbeat_survived_seconds', // gauge {target,interval}
  heartbeatUnanswered: 'idleprobe_heartbeat_unanswered', // gauge {target,interval}
  tcpKeepaliveRefreshesPath: 'idleprobe_tcp_keepalive_refreshes_path', // gauge 0/1 {target}: from the matrix's tcp: rows; absent until known
  middleboxTimeout: 'idleprobe_middlebox_timeout_seconds', // gauge {target,hop}: a located box's idle timeout
  middleboxTimeoutLower: 'idleprobe_middlebox_timeout_lower_bound_seconds', // gauge {target,hop}
  middleboxTimeoutUpper: 'idleprobe_middlebox_timeout_upper_bound_seconds', // gauge {target,hop}
  middleboxHop: 'idleprobe_middlebox_hop', // gauge {target}: the hop enforcing the path timeout
  middleboxUnlocatableTimeout: 'idleprobe_middlebox_unlocatable_timeout_seconds', // gauge {target,kind=proxy|unknown}: what no TTL locates (locate)
  captureAnalysesInFlight: 'idleprobe_capture_analyses_in_flight', // gauge: POST /api/analyze running now
  captureAnalysesRejected: 'idleprobe_capture_analyses_rejected_total', // counter: 429s at the concurrency limit
  captureFlowsEvicted: 'idleprobe_capture_flows_evicted_total', // counter: connections evicted at the live-flow cap
  historyWriteFailures: 'idleprobe_history_write_failures_total', // counter: failed history writes (each retry counts)
  httpConnectionsEvicted: 'idleprobe_http_connections_evicted_total', // counter: opening/idle connections closed to admit a new one
  httpConnectionsRefused: 'idleprobe_http_connections_refused_total', // counter {reason=all_busy|connection_rate}
  httpRequestsRefused: 'idleprobe_http_requests_refused_total', // counter {reason=busy|rate_limit|auth_queue}
  // Passive monitoring (`passive:`): labels server (a configured endpoint or "other"), end, answered.
  passiveConnections: 'idleprobe_passive_connections_total', // counter {server,end}: SSH connections seen ending, by how
  passiveHeartbeats: 'idleprobe_passive_heartbeats_total', // counter {server,answered=true|false}
  passiveWithoutHeartbeat: 'idleprobe_passive_sessions_without_heartbeat_total', // counter {server}
  passiveDeathAge: 'idleprobe_passive_idle_death_age_seconds', // histogram {server}: idle age at which sessions died
  passiveTimeoutLower: 'idleprobe_passive_idle_timeout_lower_bound_seconds', // gauge {server}: longest idle survived
  passiveTimeoutUpper: 'idleprobe_passive_idle_timeout_upper_bound_seconds', // gauge {server}: shortest idle at death
  passiveCaptureRestarts: 'idleprobe_passive_capture_restarts_total', // counter: tcpdump died or failed to start again
  passiveCaptureUp: 'idleprobe_passive_capture_up', // gauge 0/1: tcpdump is listening now
} as const;
export type MetricName = (typeof METRIC)[keyof typeof METRIC];
