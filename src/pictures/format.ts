// How numbers and times are written on the pages and in the reports: seconds to the millisecond
// (the API's own values, without the float noise of a sum: 20.002000000000002 → 20.002), times as
// UTC — the same words in a table, a tooltip and a caption.
import { utcFormat } from 'd3-time-format';
import { utcDay, utcHour, utcMonth, utcYear } from 'd3-time';

/** A number as the pages write it: at most three decimals. */
export function num(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const r = Math.round(v * 1000) / 1000;
  return String(Object.is(r, -0) ? 0 : r);
}

const formatMinute = utcFormat('%H:%M');
const formatHour = utcFormat('%H:00');
const formatDay = utcFormat('%b %d');
const formatMonth = utcFormat('%B');
const formatYear = utcFormat('%Y');

/** A time-axis tick in UTC, 24-hour, saying only what changed at it (d3's multi-scale idea, in UTC). */
export function utcTick(d: Date): string {
  if (utcHour(d) < d) return formatMinute(d);
  if (utcDay(d) < d) return formatHour(d);
  if (utcMonth(d) < d) return formatDay(d);
  if (utcYear(d) < d) return formatMonth(d);
  return formatYear(d);
}
