/** /proc readings of another process (Linux). */
import { readFileSync } from "node:fs";
import { round } from "./stats.js";

/** utime + stime of `pid` in ms (from /proc/<pid>/stat), or null. */
export function procCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // fields 14 and 15 of stat (utime, stime) are at 11 and 12 after the comm
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // CLK_TCK is 100 on Linux
  } catch {
    return null;
  }
}

/** Resident set size of `pid` in MiB (VmRSS), or null. */
export function procRssMiB(pid: number): number | null {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? round(Number(m[1]) / 1024, 1) : null;
  } catch {
    return null;
  }
}
