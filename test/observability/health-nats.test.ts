/**
 * /readyz follows a real NATS connection: ready while connected, 503
 * "NATS disconnected" once the server is gone, ready again after it returns.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server } from "node:http";
import type { NatsConnection } from "@nats-io/transport-node";
import { connectNats } from "../../src/util/nats-connect.js";
import { startNatsServer, type NatsServerHandle } from "../../src/launcher/nats-launcher.js";
import { NodeHealth } from "../../src/observability/health.js";
import { RegentMetrics, serveMetrics } from "../../src/hierarchy/metrics.js";

let server: NatsServerHandle;
let nc: NatsConnection;
let http: Server;
const health = new NodeHealth({ subscribeStalls: () => () => undefined });

beforeAll(async () => {
  server = await startNatsServer();
  nc = await connectNats([server.url], "health-test");
  http = await serveMetrics(new RegentMetrics(), 0, "127.0.0.1", health);
});
afterAll(async () => {
  health.close();
  await nc?.close().catch(() => undefined);
  await new Promise((r) => http?.close(r));
  await server?.stop();
});

const readyz = async () => {
  const r = await fetch(`http://127.0.0.1:${(http.address() as { port: number }).port}/readyz`);
  return { status: r.status, body: (await r.json()) as { reasons?: string[] } };
};
const connection = (want: boolean) => new Promise<void>((r) => health.onChange((w) => w === "connection" && (health.readiness().reasons as string[] | undefined)?.includes("NATS disconnected") !== want && r()));

describe("/readyz on a real NATS connection", () => {
  it("is 503 while the server is down and 200 once it is back", async () => {
    health.followConnection(nc);
    health.setNode({ id: "n1", region: "r", state: () => "running.regionalFollower", regional: () => ({ held: false }), global: () => ({ held: false }) });
    expect((await readyz()).status).toBe(200);

    const lost = connection(false);
    await server.kill(0, "SIGKILL");
    await lost;
    expect(await readyz()).toMatchObject({ status: 503, body: { reasons: ["NATS disconnected"] } });

    const back = connection(true);
    await server.restart(0);
    await back;
    expect((await readyz()).status).toBe(200);
  });
});
