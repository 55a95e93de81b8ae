/**
 * Split-brain oracle.
 *
 * Every participant appends its leadership history to its own JSON-lines file
 * through an {@link IntervalRecorder}; afterwards {@link readIntervals} turns the
 * files into {@link LeadershipInterval}s and {@link checkIntervals} verifies the
 * two safety properties of the election, per lease:
 *
 * 1. at most one (holder, token) acts as leader at any instant, and
 * 2. fencing tokens strictly increase in the order leaderships begin.
 *
 * All participants run on one machine, so timestamps come from the shared
 * CLOCK_MONOTONIC ({@link monotonicNowMs}) and are directly comparable across
 * processes; wall-clock time could jump and produce false verdicts.
 */
import { closeSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import { dirname } from "node:path";

import { MalformedError, StoppedError } from "../errors.js";
import { monotonicNowMs } from "../util/clock.js";

/** One uninterrupted period during which `holder` acted as leader of `lease`. */
export interface LeadershipInterval {
  /** Lease key, e.g. `"region/eu"`. */
  lease: string;
  /** Identity of the participant that held the lease. */
  holder: string;
  /** Fencing token of this leadership. */
  token: number;
  /**
   * Monotonic ms at which the holder started acting as leader. This is the
   * moment it learned it won, not the send time of the acquiring write: only
   * acting matters for split brain.
   */
  start: number;
  /**
   * Monotonic ms at which it stopped acting: when it stepped down or was
   * deposed, or, when it crashed or was killed, its last recorded validity
   * deadline (the election guarantees nobody acts past that).
   */
  end: number;
  /** Where the interval was read from (file path), for messages. */
  source?: string;
}

/** One broken safety property, with the intervals that break it. */
export interface Violation {
  kind: "overlap" | "token-regression" | "duplicate-token" | "negative-interval";
  lease: string;
  /** Human-readable explanation naming holders, tokens and times. */
  message: string;
  /** The offending intervals: the earlier one first. One for `negative-interval`. */
  intervals: LeadershipInterval[];
}

/** Result of {@link checkIntervals}. */
export interface CheckResult {
  ok: boolean;
  violations: Violation[];
}

/** A line of a recorder file. `t` is the monotonic time the line was written. */
type RecordLine =
  | { ev: "started"; lease: string; holder: string; token: number; at: number; deadline: number; t: number }
  | { ev: "extended"; lease: string; holder: string; token: number; deadline: number; t: number }
  | { ev: "ended"; lease: string; holder: string; token: number; at: number; t: number };

/**
 * Appends a participant's leadership events to a JSON-lines file.
 *
 * Each event is one synchronous `write(2)` on a file opened with O_APPEND, so
 * once a method returns the line is in the kernel: a SIGKILL afterwards loses
 * nothing, and one during the write loses at most that line (the reader
 * ignores a torn last line).
 */
export class IntervalRecorder {
  readonly file: string;
  private fd: number | undefined;
  private readonly now: () => number;

  /**
   * @param file path of the file to append to; parent directories are created.
   * @param opts.now clock, {@link monotonicNowMs} by default (tests inject one).
   */
  constructor(file: string, opts: { now?: () => number } = {}) {
    this.file = file;
    this.now = opts.now ?? monotonicNowMs;
    mkdirSync(dirname(file), { recursive: true });
    this.fd = openSync(file, "a");
  }

  /**
   * The participant started acting as leader of `lease` with `token`, valid
   * until `deadline` (monotonic ms). `at` defaults to now: call this at the
   * moment leadership begins to be used.
   */
  started(lease: string, holder: string, token: number, deadline: number, at: number = this.now()): void {
    this.write({ ev: "started", lease, holder, token, at, deadline, t: this.now() });
  }

  /** A renewal moved the validity deadline of the current leadership. */
  extended(lease: string, holder: string, token: number, deadline: number): void {
    this.write({ ev: "extended", lease, holder, token, deadline, t: this.now() });
  }

  /** The participant stopped acting as leader (stepped down, deposed, expired) at `at`. */
  ended(lease: string, holder: string, token: number, at: number = this.now()): void {
    this.write({ ev: "ended", lease, holder, token, at, t: this.now() });
  }

  /** Closes the file. Later calls to the recording methods throw. */
  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }

  private write(line: RecordLine): void {
    if (this.fd === undefined) throw new StoppedError(`IntervalRecorder(${this.file}) is closed`);
    writeSync(this.fd, JSON.stringify(line) + "\n");
  }
}

/**
 * Reads recorder files and reconstructs their leadership intervals.
 *
 * An interval ends at its `ended` time when one was recorded, otherwise at the
 * last deadline recorded for it (the process was killed or never stepped down
 * cleanly, and cannot have acted past its deadline). A torn final line (no
 * trailing newline, unparseable) is ignored; any other bad line throws
 * {@link MalformedError}, since silently skipping data could hide a violation.
 * A missing file throws too: a wrong path must not make the check pass.
 */
export function readIntervals(files: string[]): LeadershipInterval[] {
  const out: LeadershipInterval[] = [];
  for (const file of files) out.push(...readFile(file));
  return out;
}

function readFile(file: string): LeadershipInterval[] {
  const text = readFileSync(file, "utf8");
  const lines = text.split("\n");
  const complete = text.endsWith("\n");
  // The element after the final "\n" is "" (complete) or a torn line.
  const last = lines.pop() ?? "";

  interface Open {
    interval: LeadershipInterval;
  }
  const open = new Map<string, Open>();
  const out: LeadershipInterval[] = [];
  const keyOf = (l: { lease: string; holder: string; token: number }): string =>
    JSON.stringify([l.lease, l.holder, l.token]);

  const handle = (rec: RecordLine): void => {
    const key = keyOf(rec);
    const cur = open.get(key);
    switch (rec.ev) {
      case "started": {
        // A second start without an end: close the first at its deadline and
        // keep both, so the checker reports the duplicated token.
        if (cur) out.push(cur.interval);
        open.set(key, {
          interval: { lease: rec.lease, holder: rec.holder, token: rec.token, start: rec.at, end: rec.deadline, source: file },
        });
        break;
      }
      case "extended":
        if (cur) cur.interval.end = rec.deadline;
        break;
      case "ended":
        if (cur) {
          cur.interval.end = rec.at;
          out.push(cur.interval);
          open.delete(key);
        }
        break;
    }
  };

  lines.forEach((line, i) => {
    if (line.trim() === "") return;
    handle(parseLine(line, `${file}:${i + 1}`));
  });
  if (!complete && last.trim() !== "") {
    let rec: RecordLine | undefined;
    try {
      rec = parseLine(last, `${file}:${lines.length + 1}`);
    } catch {
      rec = undefined; // torn by a kill mid-write: the process was gone right after
    }
    if (rec) handle(rec);
  }
  for (const { interval } of open.values()) out.push(interval);
  return out;
}

function parseLine(line: string, where: string): RecordLine {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch (err) {
    throw new MalformedError(`${where}: not JSON`, { cause: err });
  }
  const r = v as Record<string, unknown>;
  const isNum = (x: unknown): x is number => typeof x === "number" && Number.isFinite(x);
  const base =
    typeof r === "object" && r !== null && typeof r.lease === "string" && typeof r.holder === "string" && isNum(r.token);
  const ok =
    base &&
    ((r.ev === "started" && isNum(r.at) && isNum(r.deadline)) ||
      (r.ev === "extended" && isNum(r.deadline)) ||
      (r.ev === "ended" && isNum(r.at)));
  if (!ok) throw new MalformedError(`${where}: not an interval record: ${line}`);
  return v as RecordLine;
}

/**
 * Checks the election's safety properties, independently per lease:
 *
 * - no two intervals of different (holder, token) overlap; touching is fine
 *   (`a.end <= b.start`), since the old leader stops exactly when the new one starts;
 * - in start order, every interval's token is strictly greater than the token
 *   of every earlier interval, so a (holder, token) also cannot appear twice;
 * - no interval ends before it starts (a leader that began acting past its
 *   own deadline).
 */
export function checkIntervals(intervals: readonly LeadershipInterval[]): CheckResult {
  const violations: Violation[] = [];
  const byLease = new Map<string, LeadershipInterval[]>();
  for (const iv of intervals) {
    const list = byLease.get(iv.lease);
    if (list) list.push(iv);
    else byLease.set(iv.lease, [iv]);
  }

  for (const [lease, list] of byLease) {
    // Equal starts are ordered by token so that a legitimate zero-length
    // handover is not misread as a regression.
    const sorted = [...list].sort((a, b) => a.start - b.start || a.token - b.token);

    for (const iv of sorted) {
      if (iv.end < iv.start) {
        violations.push({
          kind: "negative-interval",
          lease,
          message: `${lease}: ${describe(iv)} ends before it starts`,
          intervals: [iv],
        });
      }
    }

    // Overlaps: sorted by start, so once b starts at or after a's end no later
    // interval can overlap a either; the inner loop stops there.
    for (let i = 0; i < sorted.length; i++) {
      const a = sorted[i]!;
      for (let j = i + 1; j < sorted.length; j++) {
        const b = sorted[j]!;
        if (b.start >= a.end) break;
        if (a.holder === b.holder && a.token === b.token) continue; // reported as duplicate-token
        if (b.end <= b.start) continue; // empty interval: nobody acted during it
        const overlapMs = Math.min(a.end, b.end) - b.start;
        violations.push({
          kind: "overlap",
          lease,
          message:
            `${lease}: split brain: ${describe(a)} and ${describe(b)} overlap ` +
            `for ${fmt(overlapMs)} ms`,
          intervals: [a, b],
        });
      }
    }

    // Tokens: compare with the highest token seen so far in start order.
    let best: LeadershipInterval | undefined;
    for (const iv of sorted) {
      if (best && iv.token <= best.token) {
        const dup = iv.token === best.token && iv.holder === best.holder;
        violations.push({
          kind: dup ? "duplicate-token" : "token-regression",
          lease,
          message: dup
            ? `${lease}: ${iv.holder} used token ${iv.token} for two leaderships ` +
              `(${describe(best)} and ${describe(iv)})`
            : `${lease}: token did not increase: ${describe(iv)} started after ` +
              `${describe(best)} with token ${iv.token} <= ${best.token}`,
          intervals: [best, iv],
        });
      }
      if (!best || iv.token > best.token) best = iv;
    }
  }
  return { ok: violations.length === 0, violations };
}

function describe(iv: LeadershipInterval): string {
  const src = iv.source ? ` from ${iv.source}` : "";
  return `${iv.holder}#${iv.token} [${fmt(iv.start)}, ${fmt(iv.end)}]${src}`;
}

function fmt(ms: number): string {
  return ms.toFixed(3);
}
