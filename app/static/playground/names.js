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

/**
 * The names of `text` that are variables: not a call, a module prefix, an attribute (`.sum`,
 * `.T`), a built-in or one of `constantNames`. Each comes with its position and the text after.
 */
export function* freeNames(text, constantNames) {
  let i = 0;
  while (i < text.length) {
    const rest = text.slice(i);
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
    const after = text.slice(i + word.length).trimStart();
    i += word.length;
    if (before.endsWith(".")) continue; // method / attribute sugar, or np.<name>
    if (language.modules.has(word) && after.startsWith(".")) continue;
    if (after.startsWith("(")) continue; // a call: a function (or an unknown one)
    if (language.functions.has(word) || language.constants.has(word) || constantNames.has(word)) {
      continue;
    }
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
