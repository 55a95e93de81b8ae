/**
 * NATS subjects regent publishes and serves. Everything is under
 * `regent.<cluster>.`, and everything a region writes is under
 * `regent.<cluster>.region.<region>.`, so NATS permissions can confine each
 * region's nodes to their own subtree (plus the global tier for leaders).
 * docs/wire.md is the reference for other languages.
 */
import { ConfigError } from "../errors.js";

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Validates one subject token (cluster, region, scope or node names). */
export function subjectToken(field: string, value: string): string {
  if (!TOKEN.test(value)) throw new ConfigError(field, `must match [A-Za-z0-9_-]+ (a NATS subject token), got ${JSON.stringify(value)}`);
  return value;
}

/** Subject builders for one deployment (`cluster`). */
export function subjects(cluster: string) {
  const root = `regent.${subjectToken("cluster", cluster)}`;
  return {
    root,
    /** Everything of this deployment, for `regent watch`. */
    all: `${root}.>`,
    /** Regional leader changes of `region`. */
    regionLeader: (region: string) => `${root}.region.${subjectToken("region", region)}.leader`,
    /** Request: ask the current leader of `region` to resign (only it subscribes). */
    regionResign: (region: string) => `${root}.region.${subjectToken("region", region)}.resign`,
    /** Global leader changes. */
    globalLeader: `${root}.global.leader`,
    /** Request: ask the global leader to resign its global role. */
    globalResign: `${root}.global.resign`,
    /** Scope lease changes. */
    scope: (scope: string) => `${root}.scope.${subjectToken("scope", scope)}`,
    /** Request: ask the global leader (lease authority) to move a scope. */
    scopeMove: `${root}.scope-authority.move`,
    /** Request/reply: current state for late joiners (answered by one node of a queue group). */
    state: `${root}.state`,
    /**
     * Where publishers append events: the events stream captures this
     * subtree and republishes each *stored* message once onto the same
     * subject under `root`. Publish retries (an ack lost in an outage) land
     * here, are de-duplicated by message id, and never reach live
     * subscribers twice. Outside `root`, so `all` never sees a retry.
     */
    capture: {
      all: `regent-log.${cluster}.>`,
      /** What `region`'s nodes append to: its own events stream captures only this (issue 11). */
      region: (region: string) => `regent-log.${cluster}.${subjectToken("region", region)}.>`,
      /** The capture subject of a live event subject under `root`. */
      of: (live: string) => {
        if (!live.startsWith(`${root}.`)) throw new ConfigError("subject", `not under ${root}: ${live}`);
        return `regent-log.${cluster}.${live.slice(root.length + 1)}`;
      },
      /** The live subject a capture subject is republished on. */
      live: (captured: string) => (captured.startsWith(`regent-log.${cluster}.`) ? `${root}.${captured.slice(`regent-log.${cluster}.`.length)}` : captured),
    },
  };
}

export type Subjects = ReturnType<typeof subjects>;
