// Counts as people read them, in a module of its own: `ridepred score` prints them and would otherwise
// load term.ts and, with it, chalk.

/** 1234567 -> "1,234,567", as toLocaleString("en-US") prints it, without loading ICU's locale data (slow at start-up). */
export function thousands(x: number): string {
  const s = String(Math.abs(Math.round(x)));
  let out = "";
  for (let i = 0; i < s.length; i++) out += (i > 0 && (s.length - i) % 3 === 0 ? "," : "") + s[i];
  return (x < 0 && Math.round(x) !== 0 ? "-" : "") + out;
}
