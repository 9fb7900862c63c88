// Connection events as they happen (the live side of the analysis): what `watch --json` prints one
// per line, and what a passive-monitoring job counts. Types and the policy of when a death is
// certain enough to report; pure.
import type { FlowEnd, FlowReport } from './report.ts';
import type { RecognisedBy } from './connection-scope.ts';

interface Base {
  /** When it happened on the wire (capture time, ISO 8601). */
  at: string;
  /** Connection number in this run (a reused 4-tuple gets a new one). */
  id: number;
  client: string;
  server: string;
}

export type ConnectionEvent =
  | (Base & { event: 'opened'; recognisedBy: RecognisedBy | 'filter' })
  | (Base & { event: 'heartbeat'; sender: 'client' | 'server'; idleSeconds: number })
  | (Base & {
      event: 'heartbeat_unanswered';
      sender: 'client' | 'server';
      /** heartbeat: one small SSH message (no more data after it); keepalive: TCP keepalive; data: anything else after a pause. */
      kind: 'heartbeat' | 'keepalive' | 'data';
      idleSeconds: number;
      unanswered: number;
    })
  | (Base & {
      event: 'died';
      /** When the death became certain enough to report (the peer stayed silent, or a reset). */
      reportedAt: string;
      afterIdleSeconds: number;
      how: Exclude<FlowEnd, 'fin' | 'open'>;
      heartbeats: number;
      heartbeatsAnswered: number;
      heartbeatSender: 'client' | 'server' | null;
      heartbeatIntervalSeconds: number | null;
      connection: FlowReport;
    })
  | (Base & { event: 'recovered' })
  | (Base & { event: 'closed'; end: FlowEnd; connection: FlowReport })
  | (Base & { event: 'still_open'; idleSeconds: number; connection: FlowReport })
  | (Base & { event: 'forgotten'; reason: 'idle' | 'cap'; idleSeconds: number; connection: FlowReport });

export type ConnectionEventName = ConnectionEvent['event'];

/** Longest a death waits for the peer before it is reported. */
const MAX_DEATH_CONFIRM_SECONDS = 30;

/**
 * How long the peer must stay silent after the first unanswered probe before the connection is
 * reported dead: one heartbeat interval (the next heartbeat would have been due and gone unanswered
 * too) — the interval seen, else the idle gap before the probe — at least two answer windows, at
 * most 30 s. So a session with a heartbeat every h s is reported within 2 h of its first
 * unanswered heartbeat; a reset is reported at once.
 */
export function deathConfirmSeconds(intervalSeconds: number | null, idleBeforeProbe: number, answerWindow: number): number {
  const h = intervalSeconds ?? idleBeforeProbe;
  return Math.min(MAX_DEATH_CONFIRM_SECONDS, Math.max(2 * answerWindow, h));
}

/** Capture time that later packets can no longer precede: the watermark lags the newest packet. */
export const REORDER_SLACK_SECONDS = 1;
/** A live capture's packets reach us this late at most (kernel → tcpdump → pipe → parser). */
export const LIVE_DELIVERY_SLACK_SECONDS = 2;
/** A live connection silent this long is forgotten (its report is emitted): bounds state over days. */
export const LIVE_FORGET_IDLE_SECONDS = 7200;
