// Layout glue between d3-scale and the figure description: the plot area of a figure, and ticks
// of d3's continuous, time and band scales as positioned labels. d3 chooses the tick values and
// their format; nothing here decides where a tick goes.
import type { ScaleBand, ScaleLinear, ScalePoint, ScaleTime } from 'd3-scale';
import type { Tick } from './figure.ts';
import { utcTick } from './format.ts';

export interface Frame {
  width: number;
  height: number;
  left: number;
  right: number;
  top: number;
  bottom: number;
}

/** The drawing area of a figure of `width` × `height` with room for the axes. */
export function frame(width: number, height: number, margin: Partial<{ left: number; right: number; top: number; bottom: number }> = {}): Frame {
  const m = { left: 56, right: 16, top: 12, bottom: 44, ...margin };
  return { width, height, left: m.left, right: width - m.right, top: m.top, bottom: height - m.bottom };
}

/** Seconds as axis and tooltip text: "8.4 s", "95 s", "12 min", "2.5 h". */
export function secondsLabel(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 7200) return `${trim(v / 3600)} h`;
  if (Math.abs(v) >= 600) return `${trim(v / 60)} min`;
  return `${trim(v)} s`;
}

function trim(v: number): string {
  const r = Math.abs(v) >= 100 ? Math.round(v) : Math.abs(v) >= 10 ? Math.round(v * 10) / 10 : Math.round(v * 100) / 100;
  return String(r);
}

export function linearTicks(scale: ScaleLinear<number, number>, count: number): Tick[] {
  const format = scale.tickFormat(count);
  return scale.ticks(count).map((v) => ({ pos: scale(v), label: format(v) }));
}

export function timeTicks(scale: ScaleTime<number, number>, count: number): Tick[] {
  return scale.ticks(count).map((d) => ({ pos: scale(d), label: utcTick(d) }));
}

export function bandTicks<D extends string>(scale: ScaleBand<D> | ScalePoint<D>, label: (d: D) => string = (d) => d): Tick[] {
  const half = scale.bandwidth() / 2;
  return scale.domain().map((d) => ({ pos: (scale(d) ?? 0) + half, label: label(d) }));
}

/** Seconds in a few characters, for crowded axes: "45s", "2m", "1.5h". */
export function shortSeconds(v: number): string {
  if (v >= 3600) return `${Math.round((v / 3600) * 10) / 10}h`;
  if (v >= 120) return `${Math.round((v / 60) * 10) / 10}m`;
  return `${Math.round(v * 10) / 10}s`;
}
