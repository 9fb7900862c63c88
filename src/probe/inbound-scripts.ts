// The two POSIX-shell scripts of the signal method (inbound probes as options, issue 13):
//  - the waiter runs on a probe session: prints its PID, then stays silent until SIGUSR1, on which
//    it prints one line and waits again. `wait` on a background `sleep` is used because a trapped
//    signal interrupts `wait` at once, while a foreground `sleep` would delay the trap until it ends.
//  - the signaller runs on the control session (its own TCP connection): reads "SIG PID" lines and
//    sends the signal, answering "ok PID" or "gone PID", so the moment a probe session's server
//    speaks is chosen late, without a byte on the probe session itself. "END PID" ends the server's
//    process of a probe connection the path forgot (sshd's session process, as the waiter reported
//    it): TERM, but only if that PID still is an sshd or dropbear process, and again while it is
//    (END_SERVER_PROCESS).
// Both end on their own: the waiter when its stdin closes (the session ended: a background `cat`
// sees EOF) or on SIGTERM from the signaller, and after `maxLifetimeSeconds` of undisturbed sleeping
// at the latest; the signaller when its stdin closes. They run in the account's login shell, so
// they use only what POSIX sh, bash and dash share (tested against OpenSSH and Dropbear).

/**
 * First line the waiter prints: `idleprobe-waiter <pid> <ppid>` — its own PID (for the signals) and
 * its parent's, the server's process for this SSH connection (sshd's session process, Dropbear's
 * child): ending that one ends the connection on the server when the path has forgotten it.
 */
export const WAITER_READY = 'idleprobe-waiter';
/** The line the waiter prints on each signal. */
export const WAITER_SPEAKS = 'idleprobe';
/** First line the signaller prints. */
export const SIGNALLER_READY = 'idleprobe-signaller';

/** Sleep slice of the waiter's loop: only bounds its lifetime's granularity (signals interrupt it). */
const SLICE_SECONDS = 60;

export function waiterScript(maxLifetimeSeconds: number): string {
  const slices = Math.max(1, Math.ceil(maxLifetimeSeconds / SLICE_SECONDS));
  return [
    'exec 3<&0',
    // Background jobs get /dev/null as stdin: the watcher reads the session's stdin through fd 3.
    `(trap 'kill $c 2>/dev/null; exit 0' TERM; cat <&3 >/dev/null 2>&1 & c=$!; wait $c; kill -TERM $$ 2>/dev/null) >/dev/null 2>&1 &`,
    'w=$!',
    'exec 3<&-',
    's=',
    `trap 'kill $s 2>/dev/null; echo ${WAITER_SPEAKS}' USR1`,
    `trap 'kill $s $w 2>/dev/null; exit 0' TERM HUP INT PIPE`,
    `echo ${WAITER_READY} $$ $PPID`,
    'n=0',
    `while [ $n -lt ${slices} ]; do sleep ${SLICE_SECONDS} >/dev/null 2>&1 & s=$!; if wait $s; then n=$((n+1)); fi; done`,
    'kill $w 2>/dev/null',
  ].join('\n');
}

/**
 * POSIX sh: "is $1 (a PID) an SSH server's process?" — its command name read from /proc (Linux)
 * or ps. Guards every TERM to a connection's server process against a PID reused meanwhile.
 */
export const IS_SSH_SERVER_PROCESS = `c=$(cat /proc/$1/comm 2>/dev/null || ps -o comm= -p $1 2>/dev/null); case "$c" in sshd*|dropbear*) return 0 ;; esac; return 1`;

/** Retries of END_SERVER_PROCESS's TERM, one a second, while the process is still there. */
const END_SERVER_RETRIES = 3;

/**
 * POSIX sh (needs is_server): "end SSH server process $1": TERM if it is one, then again once a
 * second while it still is, at most END_SERVER_RETRIES times, in the background. Why again: sshd's
 * session process can miss a TERM. Its handler only sets a flag, checked before ppoll(), and TERM
 * is not blocked around that check; a TERM landing between the check and ppoll() (likely when we
 * just ended its command, whose SIGCHLD woke it) leaves it asleep on a connection the path forgot
 * (lab: 2 of 156 runs, `sshd: root@notty` asleep in ppoll with TERM caught, not pending). A second
 * TERM interrupts ppoll(). Guarded by is_server each time: a PID reused meanwhile is left alone.
 */
export const END_SERVER_PROCESS = `is_server "$1" && kill -TERM "$1" 2>/dev/null || return 1; ( i=0; while [ $i -lt ${END_SERVER_RETRIES} ]; do sleep 1; is_server "$1" || exit 0; kill -TERM "$1" 2>/dev/null; i=$((i+1)); done ) </dev/null >/dev/null 2>&1 & return 0`;

export function signallerScript(): string {
  return [
    `echo ${SIGNALLER_READY}`,
    `is_server() { ${IS_SSH_SERVER_PROCESS}; }`,
    `end_server() { ${END_SERVER_PROCESS}; }`,
    'while read -r sig pid; do',
    '  case "$sig:$pid" in',
    `    USR1:*[!0-9]*|TERM:*[!0-9]*|END:*[!0-9]*) echo "bad $pid" ;;`,
    '    USR1:?*|TERM:?*) if kill -"$sig" "$pid" 2>/dev/null; then echo "ok $pid"; else echo "gone $pid"; fi ;;',
    '    END:?*) if end_server "$pid"; then echo "ok $pid"; else echo "gone $pid"; fi ;;',
    '    *) echo "bad $pid" ;;',
    '  esac',
    'done',
  ].join('\n');
}

/** Prints this after an orphan script ran: `idleprobe-ended <n>` (n = processes ended). */
export const ORPHANS_ENDED = 'idleprobe-ended';

/**
 * One command for a fresh session: end the server's processes of connections the path forgot
 * (PIDs the waiters reported), each only if it still is an SSH server's process, then say how many.
 */
export function endOrphansScript(pids: readonly number[]): string {
  const list = pids.filter((p) => Number.isInteger(p) && p > 1).join(' ');
  return [
    `is_server() { ${IS_SSH_SERVER_PROCESS}; }`,
    `end_server() { ${END_SERVER_PROCESS}; }`,
    'n=0',
    `for p in ${list}; do if end_server "$p"; then n=$((n+1)); fi; done`,
    `echo ${ORPHANS_ENDED} $n`,
  ].join('\n');
}

/**
 * Parses the waiter's first line; null until a full line is there. `serverPid` (the connection's
 * process on the server) is null when the shell has no $PPID (csh) or it is not a usable PID.
 */
export function parseWaiterReady(output: string): { pid: number; serverPid: number | null } | 'not_a_waiter' | null {
  const nl = output.indexOf('\n');
  if (nl < 0) return output.length > 256 ? 'not_a_waiter' : null;
  const m = new RegExp(`^${WAITER_READY} (\\d+)(?: (\\S*))?$`).exec(output.slice(0, nl).trim());
  if (!m) return 'not_a_waiter';
  const ppid = m[2] !== undefined && /^\d+$/.test(m[2]) ? Number(m[2]) : null;
  // PID 1 (the waiter was re-parented) or 0 is no connection process of ours to end.
  return { pid: Number(m[1]), serverPid: ppid !== null && ppid > 1 ? ppid : null };
}
