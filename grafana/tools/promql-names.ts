// Finds the metric names a PromQL expression reads, without a full PromQL parser: good enough for the
// expressions we ship (dashboards and rules), and strict in the direction that matters — an unknown word is
// reported as a metric name, so a typo cannot hide.

// PromQL functions, aggregation operators, keywords and modifiers (Prometheus 2.x).
const PROMQL_WORDS = new Set([
  // aggregations and their modifiers
  'sum', 'min', 'max', 'avg', 'group', 'stddev', 'stdvar', 'count', 'count_values', 'bottomk', 'topk', 'quantile',
  'by', 'without', 'on', 'ignoring', 'group_left', 'group_right', 'bool', 'and', 'or', 'unless', 'offset', 'atan2',
  // functions
  'abs', 'absent', 'absent_over_time', 'ceil', 'changes', 'clamp', 'clamp_max', 'clamp_min', 'day_of_month',
  'day_of_week', 'day_of_year', 'days_in_month', 'delta', 'deriv', 'exp', 'floor', 'histogram_quantile',
  'holt_winters', 'hour', 'idelta', 'increase', 'irate', 'label_join', 'label_replace', 'ln', 'log2', 'log10',
  'minute', 'month', 'predict_linear', 'rate', 'resets', 'round', 'scalar', 'sgn', 'sort', 'sort_desc', 'sqrt',
  'time', 'timestamp', 'vector', 'year', 'avg_over_time', 'min_over_time', 'max_over_time', 'sum_over_time',
  'count_over_time', 'quantile_over_time', 'stddev_over_time', 'stdvar_over_time', 'last_over_time',
  'present_over_time', 'acos', 'acosh', 'asin', 'asinh', 'atan', 'atanh', 'cos', 'cosh', 'sin', 'sinh', 'tan',
  'tanh', 'deg', 'rad', 'pi',
  // Grafana's label_values()/query_result() in variable queries
  'label_values', 'query_result', 'metrics', 'label_names',
  'inf', 'nan',
]);

/**
 * Metric names referenced by `expr`. Strips string literals, label matchers `{…}`, range/subquery
 * selectors `[…]`, grouping label lists `by (…)`, Grafana variables (`$x`, `${x}`, `[[x]]`) and numbers.
 */
export function metricNamesIn(expr: string): string[] {
  let s = expr;
  s = s.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, ' '); // string literals
  s = s.replace(/\{[^{}]*\}/g, ' '); // label matchers (and Grafana's ${var} after $ is stripped below)
  s = s.replace(/\$\{[^}]*\}|\$\w+|\[\[[^\]]*\]\]/g, ' '); // Grafana variables
  s = s.replace(/\[[^\]]*\]/g, ' '); // ranges and subqueries
  s = s.replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' '); // label lists
  s = s.replace(/#.*$/gm, ' '); // comments
  const names = new Set<string>();
  for (const m of s.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const word = m[0];
    const before = s[m.index - 1];
    // "1e3" / "0x1f" / "5m" style numbers and durations start with a digit right before the word.
    if (before !== undefined && /[0-9.]/.test(before)) continue;
    if (PROMQL_WORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names].sort();
}

/** The metric in `label_values(metric, label)` (Grafana variable query), or null for the one-argument form. */
export function labelValuesMetric(query: string): { metric: string | null; label: string } | null {
  const m = /^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$/.exec(query);
  if (!m) return null;
  const selector = m[1]?.trim() ?? null;
  return { metric: selector === null ? null : (metricNamesIn(selector)[0] ?? null), label: m[2] };
}
