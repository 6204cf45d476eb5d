// The YAML subset MLflow writes (PyYAML safe_dump, block style): nested mappings, block lists (also
// "- key: value" items), plain and quoted scalars, quoted scalars folded over several lines.
// Scalars stay strings (a version "3.10" must not become 3.1); only null/~ become null.
// Anchors, tags, flow collections beyond [] / {} and block scalars (| >) are refused with a line number.

export type Yaml = string | null | Yaml[] | { [key: string]: Yaml };

interface Line {
  indent: number;
  text: string;
  no: number;
}

export function parseYaml(text: string, where: string): Yaml {
  const lines: Line[] = [];
  text.split(/\r?\n/).forEach((raw, i) => {
    if (/^\s*(#.*)?$/.test(raw) || raw === "---") return;
    if (raw.includes("\t") && /^\s*\t/.test(raw)) throw new Error(`${where}:${i + 1}: tab indentation is not YAML`);
    const indent = raw.length - raw.trimStart().length;
    lines.push({ indent, text: raw.trimStart(), no: i + 1 });
  });
  let i = 0;
  const err = (l: Line | undefined, m: string): never => {
    throw new Error(`${where}:${l?.no ?? "end"}: ${m}`);
  };

  /** A scalar starting on line l at `rest`; quoted scalars may continue on deeper-indented lines. */
  function scalar(rest: string, l: Line): Yaml {
    const q = rest[0];
    if (q === "'" || q === '"') {
      let s = rest;
      while (!closed(s, q) && i < lines.length && lines[i]!.indent > l.indent) s += " " + lines[i++]!.text;
      if (!closed(s, q)) err(l, "unterminated quoted string");
      const body = s.slice(1, s.lastIndexOf(q));
      if (q === "'") return body.replace(/''/g, "'");
      try {
        return JSON.parse(`"${body}"`) as string;
      } catch {
        return err(l, "unsupported escape in a double-quoted string");
      }
    }
    const plain = rest.replace(/\s+#.*$/, "").trim();
    if (plain === "null" || plain === "~" || plain === "") return null;
    if (plain === "[]") return [];
    if (plain === "{}") return {};
    if (/^[|>&*![{]/.test(plain)) err(l, `unsupported YAML construct ${JSON.stringify(plain.slice(0, 20))}`);
    // A plain scalar may continue on deeper lines (folded with spaces).
    let s = plain;
    while (i < lines.length && lines[i]!.indent > l.indent && !/^- |^[^\s:]+:( |$)/.test(lines[i]!.text)) s += " " + lines[i++]!.text;
    return s;
  }

  function node(indent: number): Yaml {
    const l = lines[i];
    if (!l || l.indent < indent) return null;
    return l.text === "-" || l.text.startsWith("- ") ? list(l.indent) : mapping(l.indent);
  }

  function list(indent: number): Yaml[] {
    const out: Yaml[] = [];
    while (i < lines.length && lines[i]!.indent === indent && (lines[i]!.text === "-" || lines[i]!.text.startsWith("- "))) {
      const l = lines[i]!;
      const rest = l.text.slice(1).trimStart();
      if (!rest) {
        i++;
        out.push(node(indent + 1));
      } else if (/^[^'"\s][^:]*:( |$)/.test(rest)) {
        // "- key: value" starts a mapping whose keys sit where "key" does.
        lines[i] = { indent: indent + (l.text.length - rest.length), text: rest, no: l.no };
        out.push(mapping(lines[i]!.indent));
      } else {
        i++;
        out.push(scalar(rest, l));
      }
    }
    return out;
  }

  function mapping(indent: number): { [key: string]: Yaml } {
    const out: { [key: string]: Yaml } = {};
    while (i < lines.length && lines[i]!.indent === indent && !lines[i]!.text.startsWith("- ")) {
      const l = lines[i++]!;
      const m = /^("[^"]*"|'[^']*'|[^:]+?):(?: (.*))?$/.exec(l.text);
      if (!m) err(l, `expected "key: value", got ${JSON.stringify(l.text.slice(0, 40))}`);
      const key = m![1]!.replace(/^['"]|['"]$/g, "");
      if (Object.hasOwn(out, key)) err(l, `duplicate key ${key}`);
      const rest = (m![2] ?? "").trim();
      if (rest && !rest.startsWith("#")) out[key] = scalar(rest, l);
      else {
        const next = lines[i];
        // Block content is deeper, or a list at the same indentation (PyYAML's default for lists).
        if (next && (next.indent > indent || (next.indent === indent && (next.text === "-" || next.text.startsWith("- "))))) out[key] = node(next.indent);
        else out[key] = null;
      }
    }
    return out;
  }

  const doc = node(0);
  if (i < lines.length) err(lines[i], "unexpected indentation");
  return doc;
}

function closed(s: string, q: string): boolean {
  if (s.length < 2 || s[s.length - 1] !== q) return false;
  if (q === "'") {
    // '' is an escaped quote: the closing quote is the last one of an odd run.
    let run = 0;
    for (let k = s.length - 1; k > 0 && s[k] === "'"; k--) run++;
    return run % 2 === 1;
  }
  let bs = 0;
  for (let k = s.length - 2; k > 0 && s[k] === "\\"; k--) bs++;
  return bs % 2 === 0;
}
