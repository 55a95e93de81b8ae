/**
 * `regent demo` (README quick start): one local nats-server, N candidate
 * processes, then the two things an election is for — a crash failover
 * (SIGKILL of the leader) and a graceful hand-over (resign) — timed on the
 * shared monotonic clock.
 */
import { startNatsServer } from "../launcher/nats-launcher.js";
import { CandidateProcess, untilTermTrusted, waitUntil } from "../launcher/candidates.js";
import { onShutdown } from "./common.js";

const say = (s: string) => process.stdout.write(s + "\n");

export async function runDemo(opts: { leaseMs: number; candidates: number }): Promise<void> {
  say(`starting nats-server (JetStream) on a free loopback port…`);
  const server = await startNatsServer({ jetstream: true });
  const cands: CandidateProcess[] = [];
  const teardown = async () => {
    await Promise.all(cands.map((c) => c.stop()));
    await server.stop();
  };
  onShutdown(teardown);
  try {
    say(`nats-server at ${server.url}; starting ${opts.candidates} candidates, lease ${opts.leaseMs} ms`);
    for (let i = 0; i < opts.candidates; i++) {
      const c = new CandidateProcess({ id: `node-${i + 1}`, servers: [server.url], key: "demo.leader", bucket: "demo", leaseMs: opts.leaseMs });
      cands.push(c);
      c.onChange(() => {
        const e = c.events.at(-1);
        if (e && (e.type === "elected" || e.type === "deposed")) {
          say(`  ${c.id.padEnd(7)} ${e.type.toUpperCase().padEnd(8)} token=${e.token}${e.reason ? ` (${e.reason})` : ""}`);
        }
      });
    }
    const leaders = () => cands.filter((c) => c.leading);
    await waitUntil(cands, () => leaders().length === 1, 20_000, "first leader");
    const first = leaders()[0]!;
    say(`leader: ${first.id}, token ${first.token}`);
    // Let every follower see the leader first: a candidate that just started
    // must itself watch a full lease before it may take over.
    const seen = (c: CandidateProcess) => c === first || c.events.some((e) => e.type === "leader-changed" && e.leader === first.id);
    await waitUntil(cands, () => cands.every(seen), 10_000, "followers see the leader");

    say(`\n1) crash: SIGKILL ${first.id}; survivors wait one full lease of silence, then take over`);
    const killedAt = await first.signal("SIGKILL");
    const rest = cands.filter((c) => c.running);
    await waitUntil(rest, () => rest.some((c) => c.leading), opts.leaseMs * 3, "failover");
    const second = rest.find((c) => c.leading)!;
    const t1 = second.events.findLast((e) => e.type === "elected")!.t - killedAt;
    say(`   failover: ${second.id} elected ${t1.toFixed(0)} ms after the kill (lease ${opts.leaseMs} ms), token ${second.token}`);

    const others0 = rest.filter((c) => c !== second);
    if (others0.length) {
      // The survivors raced for the takeover; the loser saw the new term only
      // mid-way, and trusts its release after watching it for a full lease
      // (a forged release would otherwise be taken at once: docs/safety.md R9).
      say(`   (waiting until a follower has watched ${second.id}'s term for a full lease, so it trusts the release)`);
      await untilTermTrusted(others0, second, opts.leaseMs);
    }
    say(`\n2) hand-over: ${second.id} resigns; a watching candidate takes the released lease`);
    const from = second.events.length;
    second.send("resign");
    const dep = await second.waitForEvent((e) => e.type === "deposed", { from });
    const others = rest.filter((c) => c !== second);
    if (others.length) {
      await waitUntil(others, () => others.some((c) => c.leading), opts.leaseMs * 3, "hand-over");
      const third = others.find((c) => c.leading)!;
      const t2 = third.events.findLast((e) => e.type === "elected")!.t - dep.t;
      say(`   hand-over: ${third.id} elected ${t2.toFixed(1)} ms after the resign, token ${third.token}`);
    }
    say(`\ntokens only grow: ${cands.flatMap((c) => c.events.filter((e) => e.type === "elected").map((e) => e.token)).sort((a, b) => a! - b!).join(" < ")}`);
    say(`done; stopping candidates and nats-server`);
  } finally {
    await teardown();
  }
}
