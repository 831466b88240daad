// The derivative as formulas: the service's LaTeX typeset with KaTeX (window.katex, vendored
// under vendor/katex/), each with buttons that copy the LaTeX and the formula in our language.

/** More formulas than this are not typeset (KaTeX would take seconds); the page does not ask. */
export const MAX_TYPESET = 400;
/** Longer LaTeX than this is offered for copying only: nobody reads it typeset. */
const MAX_TYPESET_CHARS = 20_000;

/** How deeply `v` nests arrays (0 for a number). */
export function depth(v) {
  let d = 0;
  while (Array.isArray(v)) {
    d += 1;
    v = v[0];
  }
  return d;
}

const count = (v) => (Array.isArray(v) ? v.reduce((n, x) => n + count(x), 0) : 1);

/** One LaTeX string for an entry: a vector as a column, a matrix as a matrix. */
export function latexOf(value) {
  const d = depth(value);
  if (d === 0) return value;
  if (d === 1) return `\\begin{pmatrix} ${value.join(" \\\\ ")} \\end{pmatrix}`;
  if (d === 2) {
    return `\\begin{pmatrix} ${value.map((row) => row.join(" & ")).join(" \\\\ ")} \\end{pmatrix}`;
  }
  return null;
}

/** A formula's statements: its text split at the ';' outside brackets. */
function statements(text) {
  const parts = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (c === "(" || c === "[") depth += 1;
    else if (c === ")" || c === "]") depth -= 1;
    else if (c === ";" && depth === 0) {
      parts.push(text.slice(start, i).trim());
      start = i + 1;
    }
  }
  parts.push(text.slice(start).trim());
  return parts;
}

/**
 * The formula in our language: a vector or matrix as a (nested) list literal, which parses.
 * Entries that name shared pieces (`u1 = …; value`) each carry their own definitions: those
 * are hoisted in front of the literal, renamed per entry (`e2_u1`) so that they cannot clash.
 */
export function formulaOf(value) {
  if (!Array.isArray(value)) return value;
  const hoisted = [];
  const literal = (v) => {
    if (Array.isArray(v)) return `[${v.map(literal).join(", ")}]`;
    const parts = statements(v);
    if (parts.length === 1) return v;
    const prefix = `e${hoisted.length + 1}_`;
    const names = parts.slice(0, -1).map((d) => d.slice(0, d.indexOf("=")).trim());
    const rename = (text) => names.reduce(
      (t, name) => t.replace(new RegExp(`\\b${name}\\b`, "g"), prefix + name), text);
    hoisted.push(parts.slice(0, -1).map(rename).join("; "));
    return rename(parts[parts.length - 1]);
  };
  const body = literal(value);
  return hoisted.length ? `${hoisted.join("; ")}; ${body}` : body;
}

function typeset(latex, entries) {
  const box = document.createElement("div");
  box.className = "formula-math";
  if (latex === null || entries > MAX_TYPESET || latex.length > MAX_TYPESET_CHARS || !window.katex) {
    box.classList.add("untypeset");
    box.textContent = latex === null
      ? "A tensor of rank > 2: use the copy buttons."
      : entries > MAX_TYPESET
        ? `${entries} formulas: too many to typeset here; use the copy buttons.`
        : `${latex.length} characters of LaTeX: too long to typeset here; use the copy buttons.`;
    return box;
  }
  window.katex.render(latex, box, { displayMode: true, throwOnError: false, output: "htmlAndMathml" });
  return box;
}

function copyButton(label, text, copy) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "secondary copy";
  button.textContent = label;
  button.addEventListener("click", () => copy(button, text));
  return button;
}

function entry(dl, label, key, formula, latex, copy) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.className = "formula";
  dd.dataset.formula = key;
  const tex = latexOf(latex);
  const ours = formulaOf(formula);
  dd.dataset.latex = tex ?? JSON.stringify(latex);
  dd.dataset.source = ours;
  const buttons = document.createElement("div");
  buttons.className = "formula-copy";
  buttons.append(copyButton("Copy LaTeX", dd.dataset.latex, copy),
    copyButton("Copy formula", ours, copy));
  dd.append(typeset(tex, count(latex)), buttons);
  dl.append(dt, dd);
}

/**
 * The formulas of a `symbolic` answer as a list of typeset entries; `labels` names each entry
 * as the numbers above it are named, `copy(button, text)` copies with feedback.
 */
export function formulasNode(op, body, labels, copy) {
  const wrap = document.createElement("div");
  wrap.className = "formulas";
  const title = document.createElement("p");
  title.className = "caption";
  title.textContent = "As formulas (symbolic differentiation):";
  const dl = document.createElement("dl");
  dl.className = "result";
  if (op === "gradient") {
    for (const [name, latex] of Object.entries(body.latex)) {
      entry(dl, labels.gradient(name), `gradient.${name}`, body.formulas[name], latex, copy);
    }
  } else {
    entry(dl, labels[op], op, body.formulas, body.latex, copy);
  }
  wrap.append(title, dl);
  return wrap;
}

/** A short note in place of the formulas. */
export function formulasNote(text) {
  const p = document.createElement("p");
  p.className = "caption formulas-note";
  p.textContent = text;
  return p;
}
