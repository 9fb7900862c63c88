// Thresholds the shipped alert rules and dashboards share. Each is written here once; both files are
// generated from it (`npm run generate:deploy`: grafana/tools/build-dashboards.ts writes the
// dashboards, deploy/prometheus/generate-rules.ts the rules), and tests fail when a generated file is stale.

/**
 * Age of a target's latest finished measurement after which IdleprobeMeasurementStale fires and the
 * dashboards turn red: two missed runs of the default schedule (every 6 h,
 * src/daemon/config-schema.ts) plus time for one slow measurement.
 */
export const MEASUREMENT_STALE_HOURS = 13;
