/**
 * timeline.svg: one row per participant, a bar per leadership interval
 * (colored per lease, labelled with the token), fault and recovery marks as
 * vertical lines. Hand-written SVG, no dependencies.
 */
import type { DrillReport } from "./types.js";

const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#b07aa1", "#76b7b2", "#edc948", "#9c755f", "#e15759", "#bab0ac", "#ff9da7"];
const MARK_COLORS: Record<string, string> = { fault: "#d62728", heal: "#2ca02c", recovered: "#1f77b4", note: "#7f7f7f" };

function esc(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

export function timelineSvg(r: DrillReport): string {
  const ivs = r.intervals.filter((i) => Number.isFinite(i.start) && Number.isFinite(i.end));
  const ids = r.participants.map((p) => p.id);
  for (const i of ivs) if (!ids.includes(i.holder)) ids.push(i.holder);
  const leases = [...new Set(ivs.map((i) => i.lease))].sort();
  const color = (lease: string) => PALETTE[leases.indexOf(lease) % PALETTE.length]!;
  // Each participant's row holds one lane per lease it ever held, so simultaneous roles (region + global + scopes) stay visible.
  const lanes = ids.map((id) => [...new Set(ivs.filter((i) => i.holder === id).map((i) => i.lease))].sort());
  const times = [...ivs.flatMap((i) => [i.start, i.end]), ...r.marks.map((m) => m.t)];
  const t0 = r.faultAt ?? (times.length ? Math.min(...times) : 0);
  const tMin = times.length ? Math.min(...times) : 0;
  const tMax = times.length ? Math.max(...times) : 1;
  const left = 150;
  const width = 1100;
  const plotW = width - left - 20;
  const laneH = 9;
  const top = 40;
  const x = (t: number) => left + ((t - tMin) / Math.max(1, tMax - tMin)) * plotW;
  const rowY: number[] = [];
  let y = top;
  for (const l of lanes) {
    rowY.push(y);
    y += Math.max(1, l.length) * laneH + 10;
  }
  const legendY = y + 28;
  const height = legendY + Math.ceil(leases.length / 4) * 16 + 20;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`);
  out.push(`<rect width="100%" height="100%" fill="#fff"/>`);
  out.push(`<text x="10" y="18" font-size="14" font-weight="bold">${esc(`regent drill ${r.scenario}`)} — ${r.passed ? "passed" : r.skipped ? "skipped" : "FAILED"}</text>`);
  // time axis: ticks every second (or every 5 s for long runs), labelled relative to the fault
  const span = tMax - tMin;
  const step = span > 60_000 ? 10_000 : span > 20_000 ? 5_000 : 1_000;
  for (let t = Math.ceil((tMin - t0) / step) * step; t0 + t <= tMax; t += step) {
    const xx = x(t0 + t).toFixed(1);
    out.push(`<line x1="${xx}" y1="${top - 6}" x2="${xx}" y2="${y}" stroke="#eee"/>`);
    out.push(`<text x="${xx}" y="${y + 14}" text-anchor="middle" fill="#555">${(t / 1000).toFixed(0)}s</text>`);
  }
  ids.forEach((id, row) => {
    const y0 = rowY[row]!;
    const h = Math.max(1, lanes[row]!.length) * laneH;
    out.push(`<rect x="${left}" y="${y0 - 2}" width="${plotW}" height="${h + 4}" fill="${row % 2 ? "#fafafa" : "#f3f3f3"}"/>`);
    const p = r.participants.find((q) => q.id === id);
    const tag = p?.wrapper.length && p.wrapper[0] === "faketime" ? ` [${p.wrapper[1]}]` : "";
    out.push(`<text x="${left - 6}" y="${y0 + h / 2 + 4}" text-anchor="end">${esc(id + tag)}</text>`);
    for (const i of ivs.filter((q) => q.holder === id)) {
      const lane = lanes[row]!.indexOf(i.lease);
      const x1 = x(i.start);
      const w = Math.max(1, x(i.end) - x1);
      const title = `${i.lease} token ${i.token}: ${((i.start - t0) / 1000).toFixed(3)}s → ${((i.end - t0) / 1000).toFixed(3)}s`;
      out.push(`<rect x="${x1.toFixed(1)}" y="${y0 + lane * laneH}" width="${w.toFixed(1)}" height="${laneH - 2}" fill="${color(i.lease)}"><title>${esc(title)}</title></rect>`);
      if (w > 40) out.push(`<text x="${(x1 + 3).toFixed(1)}" y="${y0 + lane * laneH + laneH - 3}" font-size="7" fill="#fff">${i.token}</text>`);
    }
  });
  for (const m of r.marks) {
    const xx = x(m.t).toFixed(1);
    const c = MARK_COLORS[m.kind] ?? "#000";
    out.push(`<line x1="${xx}" y1="${top - 10}" x2="${xx}" y2="${y}" stroke="${c}" stroke-width="${m.kind === "fault" ? 2 : 1}" stroke-dasharray="${m.kind === "fault" ? "" : "4 3"}"><title>${esc(m.label)}</title></line>`);
  }
  const faults = r.marks.filter((m) => m.kind === "fault");
  if (faults[0]) out.push(`<text x="${x(faults[0].t) + 3}" y="${top - 12}" fill="${MARK_COLORS.fault}">${esc(faults[0].label.slice(0, 80))}</text>`);
  leases.forEach((l, i) => {
    const lx = left + (i % 4) * 230;
    const ly = legendY + Math.floor(i / 4) * 16;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="12" height="10" fill="${color(l)}"/><text x="${lx + 16}" y="${ly}">${esc(l)}</text>`);
  });
  const kinds = ["fault", "heal", "recovered"];
  kinds.forEach((k, i) => out.push(`<line x1="${10}" y1="${legendY - 4 + i * 14}" x2="${30}" y2="${legendY - 4 + i * 14}" stroke="${MARK_COLORS[k]}" stroke-width="2"/><text x="34" y="${legendY + i * 14}">${k}</text>`));
  out.push("</svg>");
  return out.join("\n") + "\n";
}
