// The list of metric names lives in src/read-model/metric-names.ts (the job kinds that define the
// families and the exporter that renders them both read it); re-exported here for existing imports.
export { METRIC, type MetricName } from '../read-model/metric-names.ts';
