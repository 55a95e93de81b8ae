/**
 * The dashboard in a real browser (Debian's chromium through playwright-core,
 * no downloaded browser) on a real `regent up`: kill the global leader's
 * region with the page's own button, and the page shows the new global
 * leader and the moved scope; restart the region from another terminal
 * (`regent region restart`) and the page shows the scope back home.
 * Screenshots go to the test's output directory (path printed).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { chromium, type BrowserContext, type Page } from "playwright-core";
import { selfCommand } from "../../src/launcher/self.js";
import { connectNats } from "../../src/util/nats-connect.js";
import { requestState } from "../../src/wire/requests.js";
import { testRegions } from "../harness/harness.js";

// The functions given to page.waitForFunction run in the browser; this
// project compiles without DOM types, so the little they use is declared here.
type El = { dataset: Record<string, string | undefined>; textContent: string | null; querySelector(s: string): El | null };
declare const document: { querySelector(s: string): El | null; querySelectorAll(s: string): Iterable<El> & { length: number } };

const CHROMIUM = "/usr/bin/chromium";
const out = mkdtempSync(join(tmpdir(), "regent-dashboard-test-"));
const control = join(out, "control.json");
let up: ChildProcess | undefined;
let upOut = "";
let ctx: BrowserContext | undefined;
let page: Page;
let url = "";

/** Resolves once `up`'s stdout matches `re` (it prints as it goes). */
function upPrints(re: RegExp, timeoutMs: number): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    const check = () => {
      const m = upOut.match(re);
      if (m) return done(() => resolve(m));
      if (up?.exitCode !== null) done(() => reject(new Error(`regent up exited (${up?.exitCode}):\n${upOut.slice(-3000)}`)));
    };
    const timer = setTimeout(() => done(() => reject(new Error(`regent up did not print ${re} within ${timeoutMs} ms:\n${upOut.slice(-3000)}`))), timeoutMs);
    const done = (fn: () => void) => {
      clearTimeout(timer);
      up?.stdout?.off("data", check);
      up?.off("exit", check);
      fn();
    };
    up?.stdout?.on("data", check);
    up?.on("exit", check);
    check();
  });
}

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) return;
  const regions = testRegions({ regionLeaseMs: 2000, globalLeaseMs: 3000, scopeLeaseMs: 3000, failbackAfterMs: 3000, candidates: 2 });
  const self = selfCommand();
  up = spawn(self.command, [...self.args, "up", "--regions", regions, "--dashboard-port", "0", "--control", control, "--refresh-ms", "2000"], { stdio: ["ignore", "pipe", "pipe"] });
  up.stdout!.on("data", (d: Buffer) => (upOut += d.toString()));
  up.stderr!.on("data", (d: Buffer) => (upOut += d.toString()));
  url = (await upPrints(/^dashboard: (http:\/\/127\.0\.0\.1:\d+\/#token=\S+)$/m, 120_000))[1]!;
  await upPrints(/every region's scope held/, 120_000);
  ctx = await chromium.launchPersistentContext(mkdtempSync(join(tmpdir(), "regent-chromium-")), {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1400, height: 900 },
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  page = ctx.pages()[0] ?? (await ctx.newPage());
}, 180_000);

afterAll(async () => {
  await ctx?.close();
  if (up && up.exitCode === null) {
    const exited = new Promise((r) => up!.once("exit", r));
    up.kill("SIGTERM");
    const t = setTimeout(() => up?.kill("SIGKILL"), 30_000);
    await exited;
    clearTimeout(t);
  }
}, 60_000);

const scopeRow = (scope: string) => `tr[data-scope="${scope}"]`;

interface Stats {
  deliveries: number;
  duplicates: number;
  gapFilled: number;
}
const stats = async (): Promise<Stats> => ((await (await fetch(new URL("/api/state", url))).json()) as { stats: Stats }).stats;
/** Stored events on the page: `[region of the events stream, sequence in it]` (each region has its own stream). */
const seqs = () =>
  page.$$eval("[data-seq]", (els) =>
    els.map((e) => [(e as unknown as El).dataset.streamRegion ?? "", Number((e as unknown as El).dataset.seq)] as [string, number]).filter(([, n]) => n > 0),
  );
const highest = (xs: [string, number][]) => {
  const m = new Map<string, number>();
  for (const [r, n] of xs) m.set(r, Math.max(m.get(r) ?? 0, n));
  return m;
};

describe.skipIf(!existsSync(CHROMIUM) && !process.env.CI)("dashboard in chromium on regent up", () => {
  let victim = "";
  let before = new Map<string, number>();
  let stats0: Stats;

  it("shows every region's leader, the global leader and every scope at home", async () => {
    await page.goto(url);
    await page.waitForFunction(() => {
      const rows = [...document.querySelectorAll("tr[data-scope]")];
      return rows.length === 3 && rows.every((r) => r.dataset.holderRegion === r.dataset.scope) && !!document.querySelector("[data-testid=global-leader]")?.dataset.node;
    }, undefined, { timeout: 30_000 });
    victim = (await page.getAttribute("[data-testid=global-leader]", "data-region"))!;
    expect(victim).toBeTruthy();
    // Tokens and lease age are on the page, and the buttons are live (token in the URL fragment).
    await expect(page.locator(`${scopeRow(victim)} td.tok`).innerText()).resolves.toMatch(/^\d+$/);
    await expect(page.locator("[data-age=global]").innerText()).resolves.toMatch(/ago · ~[\d.]+ m?s left of 3\.0 s/);
    expect(await page.isEnabled(`[data-action="region-kill-${victim}"]`)).toBe(true);
    expect(page.url()).not.toMatch(/token=/); // the token left the address bar
  });

  it("kill region (the page's button): the page shows the new global leader and the moved scope", async () => {
    const oldGlobal = (await page.getAttribute("[data-testid=global-leader]", "data-node"))!;
    before = highest(await seqs());
    stats0 = await stats();

    const t0 = performance.now();
    await page.click(`[data-action="region-kill-${victim}"]`);
    await page.waitForFunction(
      ({ victim, oldGlobal }) => {
        const g = document.querySelector("[data-testid=global-leader]");
        const s = document.querySelector(`tr[data-scope="${victim}"]`);
        return !!g?.dataset.node && g.dataset.node !== oldGlobal && g.dataset.region !== victim && !!s?.dataset.holderRegion && s.dataset.holderRegion !== victim && s.querySelector("td:nth-child(6)")?.textContent === "held";
      },
      { victim, oldGlobal },
      { timeout: 60_000, polling: 50 },
    );
    const ms = performance.now() - t0;
    const shot = join(out, "dashboard-after-region-kill.png");
    await page.screenshot({ path: shot, fullPage: true });
    const newGlobal = await page.getAttribute("[data-testid=global-leader]", "data-node");
    const movedTo = await page.getAttribute(scopeRow(victim), "data-holder-region");
    console.log(`dashboard: region ${victim} killed → page shows global ${newGlobal} and scope ${victim} in ${movedTo} after ${(ms / 1000).toFixed(2)} s; screenshot ${shot}`);
    await expect(page.locator(`[data-testid="region-status-${victim}"]`).innerText()).resolves.toBe("down");

    // `regent status` latency with the region down, through the NATS_URL `up` prints (dead servers included).
    // …with the operator identity and CA it prints too (up is secure by default).
    const nc = await connectNats(upOut.match(/NATS_URL=(\S+)/)![1]!.split(","), "browser-test", {
      auth: { tlsCa: upOut.match(/NATS_CA=(\S+)/)![1]!, nkey: upOut.match(/NATS_NKEY=(\S+)/)![1]! },
    });
    const lat: number[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const t = performance.now();
        const s = await requestState(nc, "demo", 3_000);
        lat.push(performance.now() - t);
        expect(s.regions[victim]!.state).toBe("unreachable");
      }
    } finally {
      await nc.close();
    }
    lat.sort((a, b) => a - b);
    console.log(`status with ${victim} down: median ${lat[5]!.toFixed(0)} ms, max ${lat[9]!.toFixed(0)} ms (10 requests)`);
    expect(lat[9]!).toBeLessThan(2_000);
    await expect(page.locator("#timeline").innerText()).resolves.toMatch(new RegExp(`region kill ${victim} — killed region ${victim}: SIGKILL to 2 node`));

  });

  it("regent region restart (another terminal): prints what it did, and the page shows the scope back home", async () => {
    const self = selfCommand();
    const t0 = performance.now();
    const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      const c = spawn(self.command, [...self.args, "region", "restart", victim, "--control", control], { stdio: ["ignore", "pipe", "pipe"] });
      let stdout = "";
      let stderr = "";
      c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
      c.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      c.on("close", (code) => resolve({ code, stdout, stderr }));
    });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^restarted region ${victim} in [\\d.]+ s: nats-servers .* nodes ${victim}-1, ${victim}-2 started`));
    await page.waitForFunction(
      (victim) => document.querySelector(`tr[data-scope="${victim}"]`)?.dataset.holderRegion === victim && document.querySelector(`[data-testid="region-status-${victim}"]`)?.textContent === "healthy",
      victim,
      { timeout: 60_000, polling: 100 },
    );
    console.log(`dashboard: scope ${victim} back home ${((performance.now() - t0) / 1000).toFixed(1)} s after the restart command`);
    await page.screenshot({ path: join(out, "dashboard-after-failback.png"), fullPage: true });

    // Every event stored during the loss and the return is on the page exactly once (the stream's sequences are contiguous).
    const after = (await seqs()).filter(([r, n]) => n > (before.get(r) ?? 0));
    const stats1 = await stats();
    // Per region's stream: every sequence after the one last seen before the kill.
    const published = [...highest(after)].reduce((sum, [r, max]) => sum + max - (before.get(r) ?? 0), 0);
    expect(new Set(after.map(([r, n]) => `${r}#${n}`)).size).toBe(after.length);
    expect(after.length).toBe(published);
    expect(stats1.duplicates - stats0.duplicates).toBe(0);
    console.log(`events during the loss and the return: ${published} published, ${stats1.deliveries - stats0.deliveries} live deliveries, ${stats1.gapFilled - stats0.gapFilled} filled from the stream after a reconnect, ${after.length} shown once each`);
  });
});
