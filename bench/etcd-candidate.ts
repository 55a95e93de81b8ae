/**
 * One etcd election candidate as its own OS process, the counterpart of
 * `regent elect --json` in the comparison benchmark. It uses the npm `etcd3`
 * client exactly as its documentation shows (`client.election(name, ttl)
 * .campaign(id)`), and prints one JSON line per event with `t` = CLOCK_MONOTONIC
 * ms (`process.hrtime.bigint()`, the clock regent's candidates print), so
 * cross-process differences are real latencies:
 *
 *   ready                       process up, campaign started
 *   elected   {token}           campaign won; token = the key's create revision (etcd's fencing token)
 *   renewed   {token}           a lease keepalive was acknowledged while leader
 *   watching                    a follower's delete-watch on its predecessor is established
 *   deposed   {token, reason}   resigned | lost (lease lost / campaign error)
 *   stopped
 *
 * stdin: `resign` (revoke the lease, then campaign again as a new follower,
 * like regent's candidate rejoining the election), `stop`. SIGTERM/SIGINT
 * resign and exit.
 *
 *   node --import tsx bench/etcd-candidate.ts --endpoints URL --name NAME --id ID --ttl SECONDS
 */
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { Etcd3, WatchBuilder, type Campaign, type Election } from "etcd3";

const { values: v } = parseArgs({
  options: { endpoints: { type: "string" }, name: { type: "string" }, id: { type: "string" }, ttl: { type: "string" } },
  strict: true,
});
if (!v.endpoints || !v.name || !v.id || !v.ttl) {
  process.stderr.write("usage: etcd-candidate --endpoints URL --name NAME --id ID --ttl SECONDS\n");
  process.exit(2);
}
const id = v.id;
const ttl = Number(v.ttl);

const now = () => Number(process.hrtime.bigint() / 1000n) / 1000;
const print = (e: Record<string, unknown>) => process.stdout.write(JSON.stringify({ ...e, id, t: now() }) + "\n");

// The campaign waits on its predecessor's key with `watch().create()`, which
// resolves once etcd has created the watch: report that moment, so the
// benchmark can wait for every follower to be watching (as it waits for
// regent followers to have seen the leader) before it acts.
const origCreate = WatchBuilder.prototype.create;
WatchBuilder.prototype.create = async function (this: WatchBuilder) {
  const w = await origCreate.call(this);
  print({ type: "watching" });
  return w;
};

const client = new Etcd3({ hosts: v.endpoints.split(",") });
const election: Election = client.election(v.name, ttl);
let campaign: Campaign | undefined;
let leading: number | null = null;
let stopping = false;

function campaignFor(): void {
  const c = election.campaign(id);
  campaign = c;
  const lease = (c as unknown as { lease: NodeJS.EventEmitter }).lease;
  lease.on("keepaliveSucceeded", () => {
    if (campaign === c && leading !== null) print({ type: "renewed", token: leading });
  });
  c.on("elected", () => {
    if (campaign !== c) return;
    leading = Number((c as unknown as { keyRevision: string | number }).keyRevision);
    print({ type: "elected", token: leading });
  });
  c.on("error", (err: Error) => {
    if (campaign !== c || stopping) return;
    if (leading !== null) print({ type: "deposed", token: leading, reason: "lost" });
    leading = null;
    print({ type: "error", error: err.message });
    // Campaign again, as the etcd3 documentation recommends.
    setTimeout(() => {
      if (campaign === c && !stopping) campaignFor();
    }, 250);
  });
}

async function resign(): Promise<void> {
  const c = campaign;
  if (!c || leading === null) return;
  // Like regent: the holder reports the end of its term before the release is written.
  print({ type: "deposed", token: leading, reason: "resigned" });
  leading = null;
  campaign = undefined;
  await c.resign().catch((err: Error) => print({ type: "error", error: `resign: ${err.message}` }));
  if (!stopping) campaignFor();
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  const c = campaign;
  if (leading !== null) print({ type: "deposed", token: leading, reason: "resigned" });
  leading = null;
  campaign = undefined;
  await c?.resign().catch(() => undefined);
  client.close();
  print({ type: "stopped" });
  process.exit(0);
}

for (const sig of ["SIGTERM", "SIGINT"] as const) process.on(sig, () => void stop());
createInterface({ input: process.stdin }).on("line", (line) => {
  const cmd = line.trim();
  if (cmd === "resign") void resign();
  else if (cmd === "stop") void stop();
});
campaignFor();
print({ type: "ready" });
