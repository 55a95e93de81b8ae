/** docs/metrics.md's series tables, for the tests that hold the page, the dashboard and the alerts to what a node exposes. */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const DOC = fileURLToPath(new URL("../../docs/metrics.md", import.meta.url));

/** Rows of the series tables: name → { type, labels }. */
export function documentedSeries(): Map<string, { type: string; labels: string[] }> {
  const out = new Map<string, { type: string; labels: string[] }>();
  for (const line of readFileSync(DOC, "utf8").split("\n")) {
    const m = /^\| `([a-z0-9_:]+)` \| (counter|gauge|histogram|summary) \|([^|]*)\|/.exec(line);
    if (m) out.set(m[1]!, { type: m[2]!, labels: [...m[3]!.matchAll(/`([a-z_]+)`/g)].map((x) => x[1]!) });
  }
  return out;
}

/** Every name a PromQL expression may use for a documented series (histograms add _bucket, _sum, _count). */
export function documentedNames(): Set<string> {
  const names = new Set<string>();
  for (const [name, { type }] of documentedSeries()) {
    names.add(name);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) names.add(name + s);
  }
  return names;
}
