// What the HTTP bounds turned away, for /metrics: an attack shows up as counters, not only as
// (rate-limited) log lines. Filled by the connection guard and the request hooks (app.ts,
// plugins/bounds.ts, plugins/auth.ts), read at scrape time (metrics.ts).
export const REFUSED_CONNECTION_REASONS = ['all_busy', 'connection_rate'] as const;
export const REFUSED_REQUEST_REASONS = ['busy', 'rate_limit', 'auth_queue'] as const;

export class HttpCounters {
  connectionsEvicted = 0;
  readonly connectionsRefused: Record<(typeof REFUSED_CONNECTION_REASONS)[number], number> = { all_busy: 0, connection_rate: 0 };
  readonly requestsRefused: Record<(typeof REFUSED_REQUEST_REASONS)[number], number> = { busy: 0, rate_limit: 0, auth_queue: 0 };
}
