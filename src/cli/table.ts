/**
 * Borderless text tables whose columns fit their content (cli-table3 measures
 * display width), two spaces between columns, no trailing spaces.
 */
import Table from "cli-table3";

const NO_BORDER = {
  top: "", "top-mid": "", "top-left": "", "top-right": "",
  bottom: "", "bottom-mid": "", "bottom-left": "", "bottom-right": "",
  left: "", "left-mid": "", mid: "", "mid-mid": "", right: "", "right-mid": "",
  middle: "  ",
};

/** Renders `rows` under `head`, one line per row. */
export function textTable(head: string[], rows: string[][]): string {
  // No colours: a table goes to pipes and logs as often as to a terminal.
  const t = new Table({ head, chars: NO_BORDER, style: { head: [], border: [], "padding-left": 0, "padding-right": 0 } });
  t.push(...rows);
  return t
    .toString()
    .split("\n")
    .map((l) => l.trimEnd())
    .join("\n");
}
