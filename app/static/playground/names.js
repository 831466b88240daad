// The expression language's names as the service states them (GET /v1/functions), and the
// page's reading of an expression: which names are variables, and where they stand.

/** Functions, built-in constants and module prefixes; filled once by `loadLanguage`. */
export const language = { functions: new Set(), constants: new Set(), modules: new Set() };

/** Fetch the names from the service (the page keeps no copy of them). */
export async function loadLanguage(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
  const body = await response.json();
  language.functions = new Set((body.functions ?? []).map((f) => f.name));
  language.constants = new Set(Object.keys(body.constants ?? {}));
  language.modules = new Set(body.modules ?? []);
}

const NUMBER = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;
const ENDS_OPERAND = /[A-Za-z0-9_.)\]]$/;
const STARTS_OPERAND = /^[A-Za-z0-9_.([]/;
const DEFINITION = /^(\s*)([A-Za-z_][A-Za-z0-9_]*)\s*(?:\(([^()]*)\))?\s*=(?!=)/;

/**
 * The statements of `text` as [start, end) offsets, split as the service splits them: at `;`,
 * and at a newline outside brackets between the end of an operand and the start of one (a line
 * starting with an operator continues the one before). Comments (`#` to the end of the line)
 * are left inside; the scan skips them.
 */
export function statements(text) {
  const spans = [];
  let start = 0;
  let depth = 0;
  let last = ""; // the last character of the last token
  let newline = -1; // a newline that may end the statement
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === "#") {
      while (i + 1 < text.length && text[i + 1] !== "\n") i += 1;
      continue;
    }
    if (c === "\n") {
      if (depth === 0 && ENDS_OPERAND.test(last)) newline = i;
      continue;
    }
    if (c === " " || c === "\t" || c === "\r") continue;
    if (newline >= 0 && STARTS_OPERAND.test(c)) {
      spans.push([start, newline]);
      start = newline + 1;
    }
    newline = -1;
    if (c === ";") {
      spans.push([start, i]);
      start = i + 1;
      last = "";
      continue;
    }
    if (c === "(" || c === "[") depth += 1;
    if ((c === ")" || c === "]") && depth > 0) depth -= 1;
    last = c;
  }
  spans.push([start, text.length]);
  return spans;
}

/** Each statement's definition (`name = …`, `name(a, b) = …`), if it is one. */
function definitions(text) {
  return statements(text).map(([start, end]) => {
    const head = DEFINITION.exec(text.slice(start, end));
    if (!head) return { start, end, body: start, name: null, params: new Set() };
    const params = (head[3] ?? "").split(",").map((p) => p.trim()).filter(Boolean);
    return { start, end, body: start + head[0].length, name: head[2], params: new Set(params) };
  });
}

/**
 * The names of `text` that are variables: not a call, a module prefix, an attribute (`.sum`,
 * `.T`), a built-in, one of `constantNames`, a name the text defines (`r = …`, `g(u) = …`) or,
 * inside a function's definition, its parameters; comments are skipped. Each comes with its
 * position and the text after.
 */
export function* freeNames(text, constantNames) {
  const statementsOf = definitions(text);
  const defined = new Set(statementsOf.map((s) => s.name).filter(Boolean));
  for (const { body, end, params } of statementsOf) {
    yield* namesIn(text, body, end, (word) => defined.has(word) || params.has(word) ||
      language.functions.has(word) || language.constants.has(word) || constantNames.has(word));
  }
}

function* namesIn(text, from, to, known) {
  let i = from;
  while (i < to) {
    const rest = text.slice(i, to);
    if (rest[0] === "#") {
      const eol = rest.indexOf("\n");
      i = eol < 0 ? to : i + eol;
      continue;
    }
    const number = NUMBER.exec(rest);
    if (number) {
      i += number[0].length;
      continue;
    }
    const name = NAME.exec(rest);
    if (!name) {
      i += 1;
      continue;
    }
    const word = name[0];
    const start = i;
    const before = text.slice(0, i).trimEnd();
    const after = text.slice(i + word.length, to).trimStart();
    i += word.length;
    if (before.endsWith(".")) continue; // method / attribute sugar, or np.<name>
    if (language.modules.has(word) && after.startsWith(".")) continue;
    if (after.startsWith("(")) continue; // a call: a function (or an unknown one)
    if (known(word)) continue;
    yield { word, start, end: i, after };
  }
}

/** The free names of `text` in order of first use, with a guessed vector length per name. */
export function detectVariables(text, constantNames) {
  const found = new Map(); // name -> largest literal index + 1 (0: used as a scalar)
  for (const { word, after } of freeNames(text, constantNames)) {
    const index = /^\[\s*(\d+)\s*[\],]/.exec(after);
    const length = index ? Number(index[1]) + 1 : 0;
    found.set(word, Math.max(found.get(word) ?? 0, length));
  }
  return found;
}

/** `text` with every use of the variable `name` replaced by `(replacement)`. */
export function substitute(text, name, replacement, constantNames) {
  let out = "";
  let last = 0;
  for (const { word, start, end } of freeNames(text, constantNames)) {
    if (word !== name) continue;
    out += `${text.slice(last, start)}(${replacement})`;
    last = end;
  }
  return out + text.slice(last);
}

/** A name like `stem` that `text` does not use. */
export function freshName(text, stem) {
  let name = stem;
  while (new RegExp(`\\b${name}\\b`).test(text)) name += "_";
  return name;
}
