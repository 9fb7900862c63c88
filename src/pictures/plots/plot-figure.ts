// How every plot of plots/ turns its frame and parts into a Figure: with nothing to draw (the message
// instead, the table still there), or drawn with one axis along the frame's bottom and one along its
// left edge.
import type { Axis, Figure, LegendItem, Mark, Table } from '../figure.ts';
import type { Frame } from '../scales.ts';

export interface FigureHead {
  id: string;
  title: string;
  description: string;
}

/** An axis as a plot gives it: where it sits comes from the frame. */
export type AxisSpec = Pick<Axis, 'ticks' | 'label' | 'gridTo' | 'labelOffset'>;

/** The figure of a plot with no data: `message` instead of an empty plot. */
export function emptyFigure(head: FigureHead, f: Frame, notes: string[], table: Table, message: string): Figure {
  return { ...head, width: f.width, height: f.height, axes: [], marks: [], legend: [], notes, table, empty: message };
}

/** The figure of a drawn plot in frame `f`. */
export function drawnFigure(
  head: FigureHead,
  f: Frame,
  parts: { bottom: AxisSpec; left: AxisSpec; marks: Mark[]; legend: LegendItem[]; notes: string[]; table: Table },
): Figure {
  const { ticks: bottomTicks, label: bottomLabel, ...bottomRest } = parts.bottom;
  const { ticks: leftTicks, label: leftLabel, ...leftRest } = parts.left;
  return {
    ...head,
    width: f.width,
    height: f.height,
    axes: [
      { orient: 'bottom', ticks: bottomTicks, label: bottomLabel, range: [f.left, f.right], at: f.bottom, ...bottomRest },
      { orient: 'left', ticks: leftTicks, label: leftLabel, range: [f.bottom, f.top], at: f.left, ...leftRest },
    ],
    marks: parts.marks,
    legend: parts.legend,
    notes: parts.notes,
    table: parts.table,
    empty: null,
  };
}
