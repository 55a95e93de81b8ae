/**
 * NATS subjects regent publishes and serves. Everything is under
 * `regent.<cluster>.`, and everything a region writes is under
 * `regent.<cluster>.region.<region>.`, so NATS permissions can confine each
 * region's nodes to their own subtree (plus the global tier for leaders).
 * docs/wire.md is the reference for other languages.
 */
import { ConfigError } from "../errors.js";
import type { LeaderEvent, ScopeEvent } from "./events.js";

const TOKEN = /^[A-Za-z0-9_-]+$/;

/** Validates one subject token (cluster, region, scope or node names). */
export function subjectToken(field: string, value: string): string {
  if (!TOKEN.test(value)) throw new ConfigError(field, `must match [A-Za-z0-9_-]+ (a NATS subject token), got ${JSON.stringify(value)}`);
  return value;
}

/** Subject builders for one deployment (`cluster`). */
export function subjects(cluster: string) {
  const root = `regent.${subjectToken("cluster", cluster)}`;
  const logRoot = `regent-log.${cluster}`;
  const underRoot = (live: string) => {
    if (!live.startsWith(`${root}.`)) throw new ConfigError("subject", `not under ${root}: ${live}`);
    return live.slice(root.length + 1);
  };
  const regionLeader = (region: string) => `${root}.region.${subjectToken("region", region)}.leader`;
  const globalLeader = `${root}.global.leader`;
  const scope = (scope: string) => `${root}.scope.${subjectToken("scope", scope)}`;
  return {
    root,
    /** Everything of this deployment, for `regent watch`. */
    all: `${root}.>`,
    /** Regional leader changes of `region`. */
    regionLeader,
    /** Request: ask the current leader of `region` to resign (only it subscribes). */
    regionResign: (region: string) => `${root}.region.${subjectToken("region", region)}.resign`,
    /** Global leader changes. */
    globalLeader,
    /** Request: ask the global leader to resign its global role. */
    globalResign: `${root}.global.resign`,
    /** Scope lease changes. */
    scope,
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
      all: `${logRoot}.>`,
      /** What `region`'s nodes append to: its own events stream captures only this (issue 11). */
      region: (region: string) => `${logRoot}.${subjectToken("region", region)}.>`,
      /** The capture subject of a live event subject under `root`. */
      of: (live: string) => `${logRoot}.${underRoot(live)}`,
      /** The live subject a capture subject is republished on. */
      live: (captured: string) => (captured.startsWith(`${logRoot}.`) ? `${root}.${captured.slice(logRoot.length + 1)}` : captured),
      /**
       * The capture subject `region`'s nodes append a live event subject to:
       * `regent.<cluster>.<rest>` → `regent-log.<cluster>.<region>.<rest>`,
       * which the region's stream republishes back onto the live subject.
       */
      inRegion: (region: string, live: string) => `${logRoot}.${subjectToken("region", region)}.${underRoot(live)}`,
      /** The live subject of a message captured in `region`'s subtree (anything else is returned as is). */
      liveOfRegion: (region: string, captured: string) => {
        const prefix = `${logRoot}.${subjectToken("region", region)}.`;
        return captured.startsWith(prefix) ? `${root}.${captured.slice(prefix.length)}` : captured;
      },
    },
    /** The live subject an event is published on. */
    event: (e: LeaderEvent | ScopeEvent) => ("tier" in e ? (e.tier === "region" ? regionLeader(e.region) : globalLeader) : scope(e.scope)),
  };
}

export type Subjects = ReturnType<typeof subjects>;
