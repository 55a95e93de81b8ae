/**
 * One regent participant in a multi-region deployment: a candidate in its
 * region's election and, while regional leader, in the global election.
 * Wires the actor tree of `node-machine.ts` to real elections and reports
 * roles whose validity is capped by the tier above.
 *
 * The regional lease is one CAS register (the region's own bucket), or in
 * full mode a quorum lease over one single-replica bucket per server of the
 * region; the global lease and the scope leases are quorum leases over every
 * region's single-replica quorum bucket (docs/quorum.md), so losing one
 * region (or, in full mode, one server) leaves the others' roles alone.
 */
import { createActor, fromCallback, type Actor } from "xstate";
import { startElection, type Election } from "../election/election.js";
import type { LeaseStore } from "../lease/store.js";
import { silentLogger, type Logger } from "../observability/logger.js";
import { monotonicNowMs, type Clock } from "../util/clock.js";
import type { DeposedReason, LeaderEvent } from "../wire/events.js";
import { subjectToken } from "../wire/subjects.js";
import { nodeMachine, type NodeEvent } from "./node-machine.js";
import { NotLeaderError } from "../errors.js";
import { resolveTiming, type Timing, type TimingOptions } from "../election/timing.js";
import type { LesseeEvent, MoveResult } from "../scopes/types.js";
import { startQuorumElection, type QuorumElection } from "../election/quorum.js";
import { QuorumScopeAuthority } from "../scopes/quorum-authority.js";
import { QuorumScopeLessee } from "../scopes/quorum-lessee.js";
import { WIRE_VERSION, type ScopeEvent } from "../wire/events.js";
import { GLOBAL_KEY, REGIONAL_KEY } from "../wire/names.js";
import { listen, notifyAll } from "../util/listen.js";
import type { NodeOptions, NodeRoleEvent, Role } from "./node-options.js";

export type { NodeOptions, NodeRoleEvent, Role, ScopeOptions } from "./node-options.js";

type Listener = (e: NodeRoleEvent) => void;

const ABORTED = AbortSignal.abort(new NotLeaderError("not held"));
const NOT_HELD: Role = { held: false, token: null, validUntil: 0, signal: ABORTED };

/** A running participant. Create with {@link startNode}. */
export class RegentNode {
  readonly id: string;
  readonly region: string;
  readonly cluster: string;
  private readonly actor: Actor<typeof nodeMachine>;
  private readonly log: Logger;
  private readonly listeners = new Set<Listener>();
  private regionalElection: Election | QuorumElection | null = null;
  private globalElection: QuorumElection | null = null;
  private regionLost = false;
  private stopping = false;
  private readonly now: () => number;
  private lessee: QuorumScopeLessee | null = null;
  private authority: QuorumScopeAuthority | null = null;
  /** Highest scope term each scope was tried at, shared by this node's successive lessees: a term is never confirmed twice (docs/quorum.md). */
  private readonly triedScopeTerms = new Map<string, number>();
  private readonly random: () => number;
  /** Moves made by this node's past authority terms, so {@link scopeMoves} never goes down (a Prometheus counter). */
  private pastMoves = 0;
  private readonly scopeTiming: Timing | null;
  private readonly clock: Clock;

  constructor(private readonly opts: NodeOptions) {
    this.cluster = subjectToken("cluster", opts.cluster);
    this.region = subjectToken("region", opts.region);
    this.id = opts.id;
    this.now = opts.simulation?.now ?? monotonicNowMs;
    this.log = (opts.logger ?? silentLogger()).child({ region: this.region, node: this.id });
    this.scopeTiming = opts.scopes ? resolveTiming(opts.scopes.timing, "scopes.") : null;
    const sim = opts.simulation;
    this.random = sim?.random ?? Math.random;
    this.clock = sim
      ? { now: sim.now, setTimeout: (fn, ms) => sim.clock.setTimeout(fn, ms), clearTimeout: (t) => sim.clock.clearTimeout(t) }
      : { now: monotonicNowMs, setTimeout: (fn, ms) => setTimeout(fn, ms), clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout) };
    const machine = nodeMachine.provide({
      actors: {
        scopeLessee: fromCallback<NodeEvent, { tier: string }>(() => {
          const sc = opts.scopes;
          if (!sc || !this.scopeTiming) return () => {};
          const l = new QuorumScopeLessee({
            stores: this.quorumStores(),
            scopes: sc.regions.map((r) => r.name),
            region: this.region,
            node: this.id,
            cluster: this.cluster,
            timing: this.scopeTiming,
            clock: this.clock,
            random: this.random,
            regionalDeadline: () => this.regional().validUntil,
            log: this.log.child({ role: "lessee" }),
            emit: (e) => this.emit(e),
            tried: this.triedScopeTerms,
            ...(sc.publish ? { publish: sc.publish } : {}),
          });
          this.lessee = l;
          l.start();
          return () => {
            // Same step as the regional loss: every scope term ends before anything else runs.
            this.lessee = null;
            void l.stop(this.stopping ? "stopped" : "region-lost");
          };
        }),
        scopeAuthority: fromCallback<NodeEvent, { tier: string }>(() => {
          const sc = opts.scopes;
          if (!sc || !this.scopeTiming) return () => {};
          const a = new QuorumScopeAuthority({
            stores: this.quorumStores(),
            regionStore: sc.regionStore,
            ...(sc.storesPerRegion ? { storesPerRegion: sc.storesPerRegion } : {}),
            regionalKey: REGIONAL_KEY,
            regions: sc.regions,
            timing: this.scopeTiming,
            failbackAfterMs: sc.failbackAfterMs,
            cluster: this.cluster,
            node: this.id,
            globalToken: () => this.global().token,
            clock: this.clock,
            random: this.random,
            log: this.log.child({ role: "authority" }),
            ...(sc.publish ? { publish: sc.publish } : {}),
          });
          this.authority = a;
          a.start();
          // A node that is global leader already (simulations restart actors) writes at once.
          if (this.global().held) a.empower();
          return () => {
            this.authority = null;
            this.pastMoves += a.moves;
            a.stop();
          };
        }),
        regionalElector: this.elector("region", () => this.startRegional(), (e) => (this.regionalElection = e)),
        globalElector: this.elector("global", () => this.startGlobal(), (e) => (this.globalElection = e)),
      },
      actions: {
        offerGlobal: () => {
          this.regionLost = false;
          this.globalElection?.setCandidate(true);
        },
        // Runs in the same step as the regional loss: the global term's
        // signal aborts before anything else can happen.
        withdrawGlobal: () => this.globalElection?.setCandidate(false),
        empowerAuthority: () => this.authority?.empower(),
        disempowerAuthority: () => this.authority?.disempower(),
      },
    });
    this.actor = createActor(machine, opts.simulation ? { clock: opts.simulation.clock as never } : {});
    this.actor.subscribe({ error: (err) => this.log.error({ err }, "node actor failed") });
    this.actor.start();
  }

  /** The regional role. */
  regional(): Role {
    const l = this.regionalElection?.leadership();
    return l ? { held: true, token: l.token, validUntil: l.validUntil, signal: l.signal } : NOT_HELD;
  }

  /** The global role; its validity never outlasts the regional one. */
  global(): Role {
    const r = this.regionalElection?.leadership();
    const g = this.globalElection?.leadership();
    if (!r || !g) return NOT_HELD;
    return {
      held: true,
      token: g.token,
      validUntil: Math.min(r.validUntil, g.validUntil),
      signal: AbortSignal.any([r.signal, g.signal]),
    };
  }

  /** Node machine state path, e.g. `running.regionalLeader.globalLeader`. */
  state(): string {
    const flat = (v: unknown): string[] =>
      typeof v === "string" ? [v] : Object.entries(v as object).flatMap(([k, sub]) => [k, ...flat(sub)]);
    return flat(this.actor.getSnapshot().value).join(".");
  }

  /** Subscribes to role changes; returns the unsubscribe function. */
  on(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** This node's lease on `scope`, capped by its regional validity. */
  scope(name: string): Role {
    const t = this.lessee?.term(name);
    return t ? { held: true, token: t.token, validUntil: t.validUntil, signal: t.signal } : NOT_HELD;
  }

  /** Scopes this node holds now. */
  heldScopes(): string[] {
    return this.lessee?.held() ?? [];
  }

  /** Async iterator of this node's changes on `scope` (held, renewed, ended), until `signal`. */
  scopeChanges(scope: string, opts: { signal?: AbortSignal } = {}): AsyncGenerator<LesseeEvent> {
    return listen<LesseeEvent>((push) => this.on((e) => "scope" in e && e.scope === scope && push(e as LesseeEvent)), { signal: opts.signal });
  }

  /** Moves `scope` to `region` (recall, release, grant). Only on the global leader. `signal` ends the wait (AbortedError). */
  moveScope(scope: string, region: string, reason: "manual" | "failback" = "manual", opts: { signal?: AbortSignal } = {}): Promise<MoveResult> {
    if (!this.authority || !this.global().held) return Promise.reject(new NotLeaderError("only the global leader moves scopes"));
    return this.authority.move(scope, region, reason, opts.signal);
  }

  /** Scope moves made while this node was the lease authority, over all its terms (never decreases). */
  scopeMoves(): number {
    return this.pastMoves + (this.authority?.moves ?? 0);
  }

  /** Hands over the given tier (a regional resign ends the global role too). */
  async resign(tier: "region" | "global", opts: { signal?: AbortSignal } = {}): Promise<void> {
    const e = tier === "region" ? this.regionalElection : this.globalElection;
    await e?.resign(opts);
  }

  /** Stops: resigns the global role, then the regional one. Idempotent. */
  async stop(opts: { signal?: AbortSignal } = {}): Promise<void> {
    this.stopping = true;
    const g = this.globalElection;
    const r = this.regionalElection;
    // Give scopes back first, while still regional leader, so the authority can re-grant at once.
    await this.lessee?.stop("stopped");
    await g?.stop(opts).catch(() => undefined);
    await r?.stop(opts).catch(() => undefined);
    this.actor.send({ type: "STOP" });
    this.actor.stop();
  }

  /** The underlying elections (for diagnostics and tests). */
  elections(): { regional: Election | QuorumElection | null; global: QuorumElection | null } {
    return { regional: this.regionalElection, global: this.globalElection };
  }

  /** Runs the `tier` election while the node machine is in that tier's state; `hold` keeps it for the role getters. */
  private elector<E extends Election | QuorumElection>(tier: "region" | "global", start: () => E, hold: (e: E | null) => void) {
    return fromCallback<NodeEvent, { tier: string }>(({ sendBack }) => {
      const e = this.elect(tier, start(), sendBack);
      hold(e);
      return () => {
        hold(null);
        void e.stop().catch((err) => this.log.warn({ err }, `${tier === "region" ? "regional" : "global"} stop failed`));
      };
    });
  }

  /** Fresh quorum store objects for one participant (see {@link NodeOptions.quorumStores}). */
  private quorumStores(): LeaseStore[] {
    const q = this.opts.quorumStores;
    return typeof q === "function" ? q() : q;
  }

  /** One store: a single-register election; several (full mode): a quorum lease over the region's servers' buckets. */
  private startRegional(): Election | QuorumElection {
    const r = this.opts.regionalStore;
    if (!Array.isArray(r) && typeof r !== "function") {
      return startElection({
        ...this.opts.regionalTiming,
        store: r,
        key: REGIONAL_KEY,
        id: this.id,
        logger: this.log.child({ tier: "region" }),
        meta: this.meta(),
        ...(this.opts.simulation ? { simulation: this.opts.simulation } : {}),
      });
    }
    return this.startQuorum("region", REGIONAL_KEY, typeof r === "function" ? r() : r, this.opts.regionalTiming);
  }

  private startGlobal(): QuorumElection {
    // An observer until this node leads its region (node-machine.ts).
    return this.startQuorum("global", GLOBAL_KEY, this.quorumStores(), this.opts.globalTiming, false);
  }

  private startQuorum(tier: "region" | "global", key: string, stores: LeaseStore[], timing: TimingOptions | undefined, candidate = true): QuorumElection {
    const sim = this.opts.simulation;
    return startQuorumElection({
      ...timing,
      candidate,
      stores,
      key,
      id: this.id,
      logger: this.log.child({ tier }),
      meta: this.meta(),
      // The election's mutations (election/mutations.ts) replace parts of the single-store machine: not carried over.
      ...(sim ? { simulation: { now: sim.now, clock: sim.clock, random: sim.random, ...(sim.wallNow ? { wallNow: sim.wallNow } : {}) } } : {}),
    });
  }

  private meta(): Record<string, string> {
    return { region: this.region, node: this.id, ...this.opts.meta };
  }

  private elect<E extends Election | QuorumElection>(tier: "region" | "global", e: E, sendBack: (e: NodeEvent) => void): E {
    const leaseMs = e.timing.leaseMs;
    let previous: { node: string; token: number } | null = null;
    e.on((ev) => {
      switch (ev.type) {
        case "elected":
          this.publish({ kind: "elected", tier, token: ev.token, leaseMs, previous });
          this.emit({
            type: "elected",
            tier,
            token: ev.token,
            validUntil: tier === "global" ? Math.min(ev.validUntil, this.regional().validUntil) : ev.validUntil,
          });
          sendBack(tier === "region" ? { type: "REGIONAL.ELECTED", token: ev.token } : { type: "GLOBAL.ELECTED", token: ev.token });
          return;
        case "deposed": {
          if (tier === "region") this.regionLost = true;
          const reason: DeposedReason = tier === "global" && this.regionLost ? "region-lost" : ev.reason;
          this.publish({ kind: "deposed", tier, token: ev.token, leaseMs, reason });
          this.emit({ type: "deposed", tier, token: ev.token, reason });
          sendBack(
            tier === "region"
              ? { type: "REGIONAL.DEPOSED", token: ev.token, reason }
              : { type: "GLOBAL.DEPOSED", token: ev.token, reason },
          );
          return;
        }
        case "renewed": {
          const validUntil = tier === "global" ? Math.min(ev.validUntil, this.regional().validUntil) : ev.validUntil;
          this.emit({ type: "renewed", tier, token: ev.token, validUntil });
          // A regional renewal can lift the cap on the global validity.
          const g = this.global();
          if (tier === "region" && g.held) this.emit({ type: "renewed", tier: "global", token: g.token!, validUntil: g.validUntil });
          if (tier === "region") {
            for (const scope of this.heldScopes()) {
              const r = this.scope(scope);
              if (r.held) this.emit({ type: "scope-renewed", scope, token: r.token!, validUntil: r.validUntil });
            }
          }
          return;
        }
        case "leader-changed":
          if (ev.leader && ev.leader !== this.id && ev.token !== null) previous = { node: ev.leader, token: ev.token };
          this.emit({ type: "leader-changed", tier, leader: ev.leader, token: ev.token });
          return;
        default:
          return;
      }
    });
    return e;
  }

  private publish(e: Omit<LeaderEvent, "v" | "cluster" | "region" | "node" | "at">): void {
    if (!this.opts.publish) return;
    try {
      this.opts.publish({ v: WIRE_VERSION, cluster: this.cluster, region: this.region, node: this.id, at: Date.now(), ...e });
    } catch (err) {
      this.log.warn({ err }, "publishing a leader event failed");
    }
  }

  private emit(e: NodeRoleEvent): void {
    notifyAll(this.listeners, e, (err) => this.log.error({ err }, "node listener threw"));
  }

  /** Monotonic now, as used for `validUntil`. */
  monotonicNow(): number {
    return this.now();
  }
}

/** Starts a participant. */
export function startNode(opts: NodeOptions): RegentNode {
  return new RegentNode(opts);
}
