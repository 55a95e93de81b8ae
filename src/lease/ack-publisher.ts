/**
 * JetStream publish-with-ack on one reply subscription per connection.
 *
 * Why not `js.publish`: each call is a core request (a deferred, a timer,
 * a mux entry) and nats.js builds a `RequestError` with a stack trace when
 * it tidies up even a *successful* request. At 10,000 elections per process
 * (3,000 renewals/s) that tidy-up alone was ~5 % of the CPU (profiled, see
 * BENCHMARKS.md). Here a write is one `nc.publish` with a reply subject under
 * a private inbox, and acks are matched by their reply token. Deadlines are
 * the caller's (`guard` in nats-call.ts); entries nobody waits for any more
 * are swept.
 *
 * Replies: a PubAck `{"stream":…,"seq":…}`, a JetStream API error
 * `{"error":{"err_code":10071,…}}`, or an empty 503 status when nothing
 * listens on the subject (no stream, or its leader is being elected).
 */
import { createInbox, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/transport-node";

/** A JetStream API error in a publish ack; `code` is the API `err_code` (e.g. 10071). */
export class JsPublishError extends Error {
  constructor(
    readonly code: number,
    description: string,
  ) {
    super(description);
    this.name = "JsPublishError";
  }
}

interface Pending {
  resolve: (seq: number) => void;
  reject: (err: unknown) => void;
  at: number;
}

const decoder = new TextDecoder();

/** Publishes to JetStream and resolves with the stored sequence. */
export class AckPublisher {
  private readonly prefix: string;
  private readonly sub: Subscription;
  private readonly pending = new Map<string, Pending>();
  private next = 0;
  private sweeper: NodeJS.Timeout | null = null;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly abandonAfterMs: number,
  ) {
    // Honour a custom inbox prefix (accounts often only allow replies there).
    this.prefix = createInbox((nc as { options?: { inboxPrefix?: string } }).options?.inboxPrefix);
    this.sub = nc.subscribe(`${this.prefix}.*`, { callback: (err, msg) => (err ? this.failAll(err) : this.onReply(msg)) });
  }

  private static readonly byConnection = new WeakMap<NatsConnection, AckPublisher>();

  /** The connection's publisher (one reply subscription per connection). */
  static for(nc: NatsConnection, abandonAfterMs: number): AckPublisher {
    let p = AckPublisher.byConnection.get(nc);
    if (!p || p.sub.isClosed()) AckPublisher.byConnection.set(nc, (p = new AckPublisher(nc, abandonAfterMs)));
    return p;
  }

  /** Publishes `data` to `subject` with `headers`; resolves with the stream sequence, or rejects with the server's error. */
  publish(subject: string, data: Uint8Array, headers: MsgHdrs): Promise<number> {
    const token = (this.next++).toString(36);
    return new Promise<number>((resolve, reject) => {
      this.pending.set(token, { resolve, reject, at: performance.now() });
      this.outbox.push({ token, subject, data, headers });
      // Send at the end of this event-loop turn: renewals whose timers fire
      // in the same turn then leave in one socket write, not one each
      // (a write syscall per renewal was ~10 % of the CPU at scale).
      if (this.outbox.length === 1) setImmediate(this.flush);
      this.sweeper ??= setInterval(() => this.sweep(), this.abandonAfterMs).unref();
    });
  }

  private outbox: { token: string; subject: string; data: Uint8Array; headers: MsgHdrs }[] = [];

  private readonly flush = () => {
    const batch = this.outbox;
    this.outbox = [];
    for (const m of batch) {
      try {
        this.nc.publish(m.subject, m.data, { reply: `${this.prefix}.${m.token}`, headers: m.headers });
      } catch (err) {
        const p = this.pending.get(m.token);
        this.pending.delete(m.token);
        p?.reject(err);
      }
    }
  };

  private onReply(msg: Msg): void {
    const token = msg.subject.slice(this.prefix.length + 1);
    const p = this.pending.get(token);
    if (!p) return; // abandoned
    this.pending.delete(token);
    try {
      if (msg.data.length === 0) {
        const code = msg.headers?.code ?? 0;
        throw new Error(code === 503 ? "no responders" : `empty publish ack (status ${code})`);
      }
      const ack = JSON.parse(decoder.decode(msg.data)) as { seq?: number; error?: { err_code?: number; code?: number; description?: string } };
      if (ack.error) throw new JsPublishError(ack.error.err_code ?? ack.error.code ?? 0, ack.error.description ?? "JetStream error");
      if (typeof ack.seq !== "number") throw new Error("invalid publish ack");
      p.resolve(ack.seq);
    } catch (err) {
      p.reject(err);
    }
  }

  private failAll(err: unknown): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }

  /** Drops entries whose caller gave up long ago (its deadline is shorter). */
  private sweep(): void {
    const cutoff = performance.now() - this.abandonAfterMs;
    for (const [token, p] of this.pending) {
      if (p.at > cutoff) break; // insertion order is time order
      this.pending.delete(token);
      p.reject(new Error("publish ack timed out"));
    }
    if (this.pending.size === 0 && this.sweeper) {
      clearInterval(this.sweeper);
      this.sweeper = null;
    }
  }
}
