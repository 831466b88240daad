// The diffapi playground: a form over the JSON API, formulas, a plot with a Taylor polynomial,
// a map of two variables, and the request as curl / httpx. Plain ES modules, no build step.
// The chart is uPlot (window.uPlot), the formulas KaTeX (window.katex), both under vendor/.

import { drawMap } from "./contour.js";
import { MAX_TYPESET, depth, formulasNode, formulasNote } from "./formulas.js";
import { detectVariables, freshName, language, loadLanguage, substitute } from "./names.js";

const $ = (id) => document.getElementById(id);

const els = {
  form: $("form"),
  expression: $("expression"),
  expressionError: $("expression-error"),
  constants: $("constants"),
  constantsError: $("constants-error"),
  variables: $("variables"),
  detect: $("detect"),
  point: $("point"),
  operation: $("operation"),
  derivativeVariable: $("derivative-variable"),
  derivativeOrder: $("derivative-order"),
  wrt: $("wrt"),
  taylorOrder: $("taylor-order"),
  plotVariable: $("plot-variable"),
  plotK: $("plot-k"),
  plotFrom: $("plot-from"),
  plotTo: $("plot-to"),
  plotDirection: $("plot-direction"),
  directionField: $("direction-field"),
  taylorShow: $("taylor-show"),
  taylorK: $("taylor-k"),
  taylorKValue: $("taylor-k-value"),
  plotError: $("plot-error"),
  mapVariable: $("map-variable"),
  mapAlong: $("map-along"),
  mapFrom: $("map-from"),
  mapTo: $("map-to"),
  mapLevel: $("map-level"),
  mapError: $("map-error"),
  map: $("map"),
  mapReadout: $("map-readout"),
  mapKey: $("map-key"),
  mapLow: $("map-low"),
  mapHigh: $("map-high"),
  mapStatus: $("map-status"),
  copyLink: $("copy-link"),
  status: $("status"),
  result: $("result"),
  plot: $("plot"),
  plotStatus: $("plot-status"),
  curl: $("curl-snippet"),
  httpx: $("httpx-snippet"),
};

// ---------------------------------------------------------------- the service's limits

const limits = new Map(); // name -> value, from GET /v1/limits

async function loadLimits() {
  const response = await fetch(new URL("v1/limits", document.baseURI));
  if (!response.ok) return;
  for (const { name, value } of (await response.json()).limits ?? []) limits.set(name, value);
}

// ---------------------------------------------------------------- state

let autoVariables = true; // the variables field follows the expression until the user edits it
const pointText = new Map(); // name -> the text typed for its value (kept while a name is gone)
const guessedLength = new Map();

function parseConstants() {
  const text = els.constants.value.trim();
  const constants = {};
  if (!text) return { constants, error: null };
  for (const part of text.split(/[;\n]/)) {
    if (!part.trim()) continue;
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(.+?)\s*$/.exec(part);
    if (!m) return { constants, error: `write "name = value", got "${part.trim()}"` };
    try {
      constants[m[1]] = JSON.parse(m[2]);
    } catch {
      return { constants, error: `${m[1]}: not a number or a (nested) list: ${m[2]}` };
    }
    if (!isTensor(constants[m[1]])) {
      return { constants, error: `${m[1]}: not a number or a (nested) list: ${m[2]}` };
    }
  }
  return { constants, error: null };
}

function isTensor(v) {
  return typeof v === "number" || (Array.isArray(v) && v.every(isTensor));
}

function variableNames() {
  return els.variables.value
    .split(/[\s,]+/)
    .map((s) => s.trim())
    .filter((s) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(s))
    .filter((s, k, all) => all.indexOf(s) === k);
}

function defaultValue(name) {
  const n = guessedLength.get(name) ?? 0;
  return n > 0 ? JSON.stringify(Array(n).fill(1)) : "1";
}

/** Re-detect the variables (in auto mode) and rebuild the point rows and variable pickers. */
function syncVariables() {
  if (autoVariables) {
    const constantNames = new Set(Object.keys(parseConstants().constants));
    const found = detectVariables(els.expression.value, constantNames);
    for (const [name, length] of found) guessedLength.set(name, length);
    els.variables.value = [...found.keys()].join(", ");
  }
  renderPointRows();
}

function renderPointRows() {
  const names = variableNames();
  const existing = new Map(
    [...els.point.querySelectorAll("input[data-var]")].map((input) => [input.dataset.var, input]),
  );
  for (const [name, input] of existing) if (!names.includes(name)) input.closest(".var-row").remove();
  let previous = null;
  for (const name of names) {
    let row = existing.get(name)?.closest(".var-row");
    if (row && !pointText.has(name)) {
      // not typed by the user: follow the guess (v[1] seen -> v is a vector of length 2)
      row.querySelector("input").value = defaultValue(name);
    }
    if (!row) {
      row = document.createElement("div");
      row.className = "var-row field";
      const id = `at-${name}`;
      row.innerHTML =
        `<label for="${id}" class="mono"></label>` +
        `<input id="${id}" class="mono" type="text" spellcheck="false" inputmode="decimal"` +
        ` aria-describedby="${id}-error">` +
        `<p id="${id}-error" class="error" role="alert" hidden></p>`;
      row.querySelector("label").textContent = `${name} =`;
      const input = row.querySelector("input");
      input.dataset.var = name;
      input.value = pointText.get(name) ?? defaultValue(name);
      input.addEventListener("input", () => {
        pointText.set(name, input.value);
        refreshPickers();
        saveState();
      });
    }
    // keep DOM order = variables order (focus order follows it)
    const want = previous ? previous.nextSibling : els.point.firstChild;
    if (row !== want) els.point.insertBefore(row, want);
    previous = row;
  }
  if (names.length === 0) {
    els.point.dataset.empty = "true";
  } else {
    delete els.point.dataset.empty;
  }
  refreshPickers();
}

function readPoint() {
  const point = {};
  let ok = true;
  for (const input of els.point.querySelectorAll("input[data-var]")) {
    const error = $(`${input.id}-error`);
    let value;
    try {
      value = JSON.parse(input.value);
    } catch {
      value = undefined;
    }
    if (!isTensor(value)) {
      ok = false;
      showFieldError(input, error, "a number like 2.5 or a list like [1, 2]");
    } else {
      clearFieldError(input, error);
      point[input.dataset.var] = value;
    }
  }
  return ok ? point : null;
}

/** The variables whose value (as typed) is a number, and the vectors: name -> length. */
function variableKinds() {
  const scalars = [];
  const vectors = new Map();
  for (const input of els.point.querySelectorAll("input[data-var]")) {
    let value;
    try {
      value = JSON.parse(input.value);
    } catch {
      continue; // not a value (yet)
    }
    if (typeof value === "number") scalars.push(input.dataset.var);
    if (Array.isArray(value) && value.length && value.every((x) => typeof x === "number")) {
      vectors.set(input.dataset.var, value.length);
    }
  }
  return { scalars, vectors };
}

/** Entries of a vector offered in the plot's picker; a direction covers any of the others. */
const MAX_ENTRIES = 24;

/** What the plot can follow: a scalar variable, one entry of a vector, or a direction. */
function plotChoices() {
  const { scalars, vectors } = variableKinds();
  const choices = scalars.map((n) => [n, n]);
  for (const [name, length] of vectors) {
    for (let i = 0; i < Math.min(length, MAX_ENTRIES); i++) choices.push([`${name}[${i}]`, `${name}[${i}]`]);
    choices.push([`${name}·d`, `${name} along a direction d`]);
  }
  return choices;
}

function fillSelect(select, choices, fallbackLabel) {
  const keep = select.dataset.want || select.value;
  select.replaceChildren(
    ...choices.map(([value, label]) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = label;
      return o;
    }),
  );
  if (choices.length === 0) {
    const o = document.createElement("option");
    o.value = "";
    o.textContent = fallbackLabel;
    select.append(o);
  }
  if (choices.some(([value]) => value === keep)) {
    select.value = keep;
    delete select.dataset.want;
  }
}

function refreshPickers() {
  fillSelect(els.derivativeVariable, variableNames().map((n) => [n, n]), "—");
  fillSelect(els.plotVariable, plotChoices(), "—");
  const { scalars, vectors } = variableKinds();
  const along = els.plotVariable.value;
  const others = scalars.includes(along) ? scalars.filter((n) => n !== along) : [];
  const mapChoices = others.map((n) => [n, n]);
  mapChoices.push(["none", others.length ? "— (no map)" : "—"]);
  // until the user (or the link) picks one, the map is across the first other variable
  if (!els.mapVariable.dataset.chosen && !els.mapVariable.dataset.want) els.mapVariable.value = "";
  fillSelect(els.mapVariable, mapChoices, "—");
  els.mapAlong.textContent = scalars.includes(along) ? along : "—";
  const direction = /^(.+)·d$/.exec(along);
  els.directionField.hidden = !direction;
  if (direction && !els.plotDirection.value.trim()) {
    els.plotDirection.value = JSON.stringify(Array(vectors.get(direction[1]) ?? 1).fill(1));
  }
}

function showOperationFields() {
  const op = els.operation.value;
  for (const el of document.querySelectorAll("[data-op]")) el.hidden = el.dataset.op !== op;
}

// ---------------------------------------------------------------- URL state

const STATE_FIELDS = {
  f: els.expression,
  c: els.constants,
  op: els.operation,
  var: els.derivativeVariable,
  n: els.derivativeOrder,
  wrt: els.wrt,
  k: els.taylorOrder,
  along: els.plotVariable,
  pk: els.plotK,
  from: els.plotFrom,
  to: els.plotTo,
  dir: els.plotDirection,
  tk: els.taylorK,
  map: els.mapVariable,
  mfrom: els.mapFrom,
  mto: els.mapTo,
};
const STATE_CHECKS = { taylor: els.taylorShow, level: els.mapLevel };

function stateParams() {
  const params = new URLSearchParams();
  for (const [key, el] of Object.entries(STATE_FIELDS)) {
    const value = el.value;
    if (value !== "") params.set(key, value);
  }
  for (const [key, el] of Object.entries(STATE_CHECKS)) params.set(key, el.checked ? "1" : "0");
  if (!autoVariables) params.set("vars", els.variables.value);
  for (const input of els.point.querySelectorAll("input[data-var]")) {
    params.set(`at.${input.dataset.var}`, input.value);
  }
  return params;
}

function saveState() {
  const query = stateParams().toString();
  const url = `${location.pathname}${query ? `?${query}` : ""}`;
  if (url !== `${location.pathname}${location.search}`) history.replaceState(null, "", url);
}

function loadState() {
  const params = new URLSearchParams(location.search);
  for (const [key, el] of Object.entries(STATE_FIELDS)) {
    if (!params.has(key)) continue;
    if (el.tagName === "SELECT") el.dataset.want = params.get(key);
    if (el === els.mapVariable) el.dataset.chosen = "true";
    el.value = params.get(key);
  }
  for (const [key, el] of Object.entries(STATE_CHECKS)) {
    if (params.has(key)) el.checked = params.get(key) === "1";
  }
  els.taylorKValue.textContent = els.taylorK.value;
  for (const [key, value] of params) if (key.startsWith("at.")) pointText.set(key.slice(3), value);
  if (params.has("vars")) {
    autoVariables = false;
    els.variables.value = params.get("vars");
  }
  if (![...els.operation.options].some((o) => o.value === els.operation.value)) {
    els.operation.value = "evaluate";
  }
  return params.has("f") && params.get("f").trim() !== "";
}

// ---------------------------------------------------------------- formatting

const SUPERSCRIPT = { 0: "⁰", 1: "¹", 2: "²", 3: "³", 4: "⁴", 5: "⁵", 6: "⁶", 7: "⁷", 8: "⁸", 9: "⁹" };
const sup = (n) => String(n).replace(/\d/g, (d) => SUPERSCRIPT[d]);
const primes = (k) => (k === 0 ? "f" : k <= 3 ? `f${"′".repeat(k)}` : `f⁽${sup(k)}⁾`);

function formatNumber(x) {
  if (x === null || x === undefined) return "undefined";
  if (Object.is(x, -0)) return "0";
  return String(x);
}

function numberNode(x) {
  const span = document.createElement("span");
  span.className = x === null ? "num undefined" : "num";
  span.textContent = formatNumber(x);
  if (x === null) span.title = "not finite (NaN or ±Infinity): see the warnings";
  return span;
}

/** A number, vector or matrix as an element; labels name the vector entries / matrix axes. */
function tensorNode(value, { rowLabels, columnLabels, name = "" } = {}) {
  const d = depth(value);
  if (d === 0) return numberNode(value);
  if (d > 2) {
    const pre = document.createElement("pre");
    pre.className = "mono tensor-text";
    pre.textContent = JSON.stringify(value, (_, v) => (v === null ? "undefined" : v))
      .replaceAll('"undefined"', "undefined")
      .replaceAll("],[", "],\n [");
    return pre;
  }
  const matrix = d === 2 ? value : [value];
  const table = document.createElement("table");
  table.className = d === 2 ? "tensor matrix" : "tensor vector";
  const columns = columnLabels ?? (matrix[0] ?? []).map((_, j) => (d === 2 ? `[:, ${j}]` : `${name}[${j}]`));
  const head = table.createTHead().insertRow();
  if (d === 2) head.append(document.createElement("th"));
  for (const label of columns) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = label;
    head.append(th);
  }
  const body = table.createTBody();
  matrix.forEach((row, i) => {
    const tr = body.insertRow();
    if (d === 2) {
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = rowLabels?.[i] ?? `${name}[${i}, :]`;
      tr.append(th);
    }
    for (const x of row) tr.insertCell().append(numberNode(x));
  });
  const wrap = document.createElement("div");
  wrap.className = "tensor-wrap";
  wrap.append(table);
  return wrap;
}

function addEntry(dl, label, value, options = {}, key = label) {
  const dt = document.createElement("dt");
  dt.textContent = label;
  const dd = document.createElement("dd");
  dd.dataset.result = key;
  dd.dataset.value = JSON.stringify(value);
  dd.append(tensorNode(value, options));
  dl.append(dt, dd);
}

function pointLabel(point) {
  return Object.entries(point)
    .map(([k, v]) => `${k} = ${JSON.stringify(v).replaceAll(",", ", ")}`)
    .join(", ");
}

function monomial(powers, point) {
  const parts = [];
  for (const [name, p] of Object.entries(powers)) {
    if (p === 0) continue;
    const m = /^([A-Za-z_]\w*)(?:\[(\d+)\])?$/.exec(name);
    let at = m ? point[m[1]] : undefined;
    if (m?.[2] !== undefined && Array.isArray(at)) at = at[Number(m[2])];
    let base = name;
    if (typeof at === "number" && at !== 0) {
      base = `(${name} ${at < 0 ? "+" : "−"} ${formatNumber(Math.abs(at))})`;
    }
    parts.push(p === 1 ? base : `${base}${sup(p)}`);
  }
  return parts.length ? parts.join(" ") : "1";
}

/** How each result is named, for the numbers and for their formulas alike. */
function resultLabels(request) {
  const n = request.order;
  const v = request.variable;
  const derivative = request.wrt
    ? `∂${request.wrt.length > 1 ? sup(request.wrt.length) : ""}f/${request.wrt.map((w) => `∂${w}`).join("")}`
    : n === 0 ? "f" : n === 1 ? `df/d${v}` : `d${sup(n)}f/d${v}${sup(n)}`;
  return {
    gradient: (name) => `∂f/∂${name}`,
    jacobian: `Jacobian  ∂f/∂(${(request.variables ?? Object.keys(request.point)).join(", ")})`,
    hessian: "Hessian",
    derivative,
  };
}

function renderResult(op, request, body, formulaProblem) {
  const labels = resultLabels(request);
  const dl = document.createElement("dl");
  dl.className = "result";
  const at = pointLabel(request.point);
  const shape = body.shape?.length ? ` (shape [${body.shape.join(", ")}])` : "";
  addEntry(dl, `f(${at})${shape}`, body.value, { name: "f" }, "value");
  if (op === "gradient") {
    for (const [name, g] of Object.entries(body.gradient)) {
      addEntry(dl, labels.gradient(name), g, { name }, `gradient.${name}`);
    }
  } else if (op === "jacobian") {
    addEntry(dl, labels.jacobian, body.jacobian,
      { rowLabels: body.rows, columnLabels: body.columns }, "jacobian");
  } else if (op === "hessian") {
    addEntry(dl, "gradient", body.gradient, { columnLabels: body.columns }, "gradient");
    addEntry(dl, "Hessian", body.hessian,
      { rowLabels: body.columns, columnLabels: body.columns }, "hessian");
  } else if (op === "derivative" || op === "mixed") {
    addEntry(dl, labels.derivative, body.derivative, {}, "derivative");
  }
  const nodes = [dl];
  if (body.latex !== undefined && body.latex !== null) {
    nodes.push(formulasNode(op === "mixed" ? "derivative" : op, body, labels, copyWithFeedback));
  } else if (formulaProblem) {
    nodes.push(formulasNote(formulaProblem));
  }
  if (op === "taylor") nodes.push(taylorTable(body.coefficients, request.point));
  if (body.warnings?.length) {
    const box = document.createElement("div");
    box.className = "warnings";
    box.setAttribute("role", "note");
    const title = document.createElement("p");
    title.textContent = "Warnings (undefined = not a finite number):";
    const ul = document.createElement("ul");
    for (const w of body.warnings) {
      const li = document.createElement("li");
      li.textContent = w;
      ul.append(li);
    }
    box.append(title, ul);
    nodes.push(box);
  }
  els.result.replaceChildren(...nodes);
}

function taylorTable(coefficients, point) {
  const wrap = document.createElement("div");
  wrap.className = "tensor-wrap";
  const title = document.createElement("p");
  title.className = "caption";
  title.id = "taylor-caption";
  title.textContent = "Taylor coefficients ∂ᵅf / α! at the point: f ≈ Σ coefficient × term";
  const table = document.createElement("table");
  table.className = "tensor taylor";
  table.dataset.result = "taylor";
  table.setAttribute("aria-labelledby", title.id);
  const head = table.createTHead().insertRow();
  for (const label of ["term", "coefficient"]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = label;
    head.append(th);
  }
  const body = table.createTBody();
  for (const { powers, coefficient } of coefficients) {
    const tr = body.insertRow();
    const th = document.createElement("th");
    th.scope = "row";
    th.className = "mono";
    th.textContent = monomial(powers, point);
    tr.append(th);
    tr.insertCell().append(tensorNode(coefficient));
  }
  wrap.append(title, table);
  return wrap;
}

// ---------------------------------------------------------------- errors

function showFieldError(input, box, message) {
  input.setAttribute("aria-invalid", "true");
  box.textContent = message;
  box.hidden = false;
}

function clearFieldError(input, box) {
  input.removeAttribute("aria-invalid");
  box.hidden = true;
  box.textContent = "";
}

function clearExpressionError() {
  els.expression.removeAttribute("aria-invalid");
  els.expressionError.hidden = true;
}

/**
 * A problem document under the expression field, with a caret at the reported line and column;
 * returns the 1-based offset of that place in the expression (null when none is reported).
 */
function showProblem(problem, expression) {
  const first = problem.errors?.[0] ?? {};
  const message = (first.msg ?? problem.detail ?? problem.title ?? "error").split("\n")[0]
    .replace(/:\s*$/, "");
  const column = first.column ?? problem.column ?? null;
  const where = (first.loc ?? []).filter((p) => p !== "body").join(".");
  const prefix = where && where !== "expression" ? `${where}: ` : "";
  els.expressionError.querySelector(".error-msg").textContent =
    `${problem.title ?? "Error"}: ${prefix}${message}`;
  const pre = els.expressionError.querySelector(".caret-view");
  els.expressionError.hidden = false;
  // a multi-line expression's error names its line; the column counts from that line's start
  const line = Number.isInteger(first.line) ? first.line : 1;
  const lines = expression.split("\n");
  if (Number.isInteger(column) && column >= 1 && line <= lines.length) {
    pre.textContent = `${lines[line - 1]}\n${" ".repeat(column - 1)}^`;
    pre.hidden = false;
    pre.dataset.column = String(column);
    pre.dataset.line = String(line);
    els.expression.setAttribute("aria-invalid", "true");
    return lines.slice(0, line - 1).reduce((offset, text) => offset + text.length + 1, column);
  }
  pre.textContent = "";
  pre.hidden = true;
  delete pre.dataset.column;
  delete pre.dataset.line;
  return null;
}

// ---------------------------------------------------------------- snippets

/** A Python literal of a JSON value; with `indent`, one key per line at the top level. */
function pyLiteral(v, indent = null) {
  if (v === null) return "None";
  if (v === true) return "True";
  if (v === false) return "False";
  if (typeof v === "number" || typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map((x) => pyLiteral(x)).join(", ")}]`;
  const items = Object.entries(v).map(([k, x]) => `${JSON.stringify(k)}: ${pyLiteral(x)}`);
  if (indent === null) return `{${items.join(", ")}}`;
  return items.length ? `{\n${items.map((i) => `${indent}    ${i},`).join("\n")}\n${indent}}` : "{}";
}

const shellQuote = (s) => `'${s.replaceAll("'", "'\\''")}'`;

function renderSnippets(endpoint, body) {
  const url = new URL(`v1/${endpoint}`, document.baseURI).href;
  const json = JSON.stringify(body);
  els.curl.textContent =
    `curl -sS -X POST ${shellQuote(url)} \\\n` +
    `  -H 'Content-Type: application/json' \\\n` +
    `  -d ${shellQuote(json)}`;
  els.httpx.textContent =
    "import httpx\n\n" +
    `response = httpx.post(\n    ${JSON.stringify(url)},\n` +
    `    json=${pyLiteral(body, "    ")},\n)\n` +
    "print(response.json())";
}

async function copyText(text) {
  if (navigator.clipboard && window.isSecureContext) {
    await navigator.clipboard.writeText(text);
    return;
  }
  const area = document.createElement("textarea");
  area.value = text;
  area.setAttribute("readonly", "");
  area.style.position = "fixed";
  area.style.opacity = "0";
  document.body.append(area);
  area.select();
  const ok = document.execCommand("copy");
  area.remove();
  if (!ok) throw new Error("copy refused");
}

async function copyWithFeedback(button, text) {
  const label = button.textContent;
  try {
    await copyText(text);
    button.textContent = "Copied";
    els.status.textContent = "Copied to the clipboard.";
  } catch {
    button.textContent = "Select and copy by hand";
    els.status.textContent = "The browser refused to copy.";
  }
  setTimeout(() => {
    button.textContent = label;
  }, 1500);
}

// ---------------------------------------------------------------- requests

let inFlight = null;

function buildRequest() {
  const expression = els.expression.value;
  const { constants, error } = parseConstants();
  if (error) {
    showFieldError(els.constants, els.constantsError, error);
    return null;
  }
  clearFieldError(els.constants, els.constantsError);
  const point = readPoint();
  if (!point) return null;
  const op = els.operation.value;
  const body = { expression, point };
  if (Object.keys(constants).length) body.constants = constants;
  let endpoint = op;
  if (op === "derivative") {
    body.variable = els.derivativeVariable.value;
    body.order = Number.parseInt(els.derivativeOrder.value || "0", 10);
  } else if (op === "mixed") {
    endpoint = "derivative";
    body.wrt = els.wrt.value.split(",").map((s) => s.trim()).filter(Boolean);
  } else if (op === "taylor") {
    body.order = Number.parseInt(els.taylorOrder.value || "0", 10);
  }
  let formulaProblem = null;
  if (SYMBOLIC_ORDER[op]) {
    const order = SYMBOLIC_ORDER[op](body);
    const most = limits.get("max_symbolic_order") ?? Infinity;
    const entries = Object.values(point).reduce((n, v) => n + [v].flat(Infinity).length, 0);
    const formulas = op === "hessian" ? entries * entries : op === "derivative" || op === "mixed" ? 1 : entries;
    if (order > most) {
      formulaProblem = `No formulas: order ${order} is over the limit max_symbolic_order = ${most}.`;
    } else if (formulas > MAX_TYPESET) {
      formulaProblem = `No formulas: ${formulas} of them are too many to show here.`;
    } else {
      body.symbolic = true;
    }
  }
  return { op, endpoint, body, constants, point, formulaProblem };
}

/** The limits only a `symbolic` request can exceed: without formulas, the numbers still come. */
const FORMULA_LIMITS = new Set(["max_symbolic_order", "max_formula_nodes", "max_symbolic_elements"]);

/** The operations that can answer formulas too, and the order of the derivative each asks. */
const SYMBOLIC_ORDER = {
  gradient: () => 1,
  jacobian: () => 1,
  hessian: () => 2,
  derivative: (body) => body.order,
  mixed: (body) => body.wrt.length,
};

async function post(endpoint, body, signal) {
  const response = await fetch(new URL(`v1/${endpoint}`, document.baseURI), {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json" },
    body: JSON.stringify(body),
    signal,
  });
  let data;
  try {
    data = await response.json();
  } catch {
    data = { title: `HTTP ${response.status}`, detail: "the answer is not JSON" };
  }
  return { ok: response.ok, data };
}

async function compute() {
  saveState();
  const request = buildRequest();
  if (!request) {
    els.status.textContent = "Fix the marked fields.";
    return;
  }
  inFlight?.abort();
  const controller = new AbortController();
  inFlight = controller;
  renderSnippets(request.endpoint, request.body);
  clearExpressionError();
  els.status.textContent = "Computing…";
  document.body.dataset.state = "busy";
  const main = post(request.endpoint, request.body, controller.signal);
  const plot = drawPlot(request, controller.signal);
  const map = drawMapOf(request, controller.signal);
  try {
    let { ok, data } = await main;
    if (controller.signal.aborted) return;
    if (!ok && request.body.symbolic && FORMULA_LIMITS.has(data.limit)) {
      // the formulas would be too big: answer the numbers alone, and say why
      request.formulaProblem = `No formulas: ${data.detail}`;
      delete request.body.symbolic;
      renderSnippets(request.endpoint, request.body);
      ({ ok, data } = await post(request.endpoint, request.body, controller.signal));
      if (controller.signal.aborted) return;
    }
    if (ok) {
      renderResult(request.op, request.body, data, request.formulaProblem);
      els.status.textContent = "Done.";
    } else {
      const offset = showProblem(data, request.body.expression);
      els.result.replaceChildren(placeholder("No result: see the error under the function."));
      els.status.textContent = "Error.";
      if (offset) {
        els.expression.focus();
        els.expression.setSelectionRange(offset - 1, offset);
      }
    }
  } catch (err) {
    if (err.name === "AbortError") return;
    showProblem({ title: "Network error", detail: String(err.message ?? err) }, "");
    els.status.textContent = "Error.";
  }
  await Promise.all([plot, map]);
  if (inFlight === controller) {
    document.body.dataset.state = "done";
    document.body.dataset.runs = String(Number(document.body.dataset.runs ?? 0) + 1);
    inFlight = null;
  }
}

function placeholder(text) {
  const p = document.createElement("p");
  p.className = "placeholder";
  p.textContent = text;
  return p;
}

// ---------------------------------------------------------------- plot

const SAMPLES = 401;
const COLORS = ["#1f5fbf", "#d9480f", "#2b8a3e", "#862e9c", "#c2255c", "#0b7285", "#e67700",
  "#5c940d", "#364fc7", "#a61e4d", "#087f5b", "#495057", "#5f3dc4"];
const TAYLOR_COLOR = "#111111";
let chart = null;
let lastPlot = null;

function plotMessage(text) {
  els.plotStatus.textContent = text;
}

function robustRange(series) {
  const values = [];
  for (const s of series) for (const y of s) if (y !== null && Number.isFinite(y)) values.push(y);
  if (!values.length) return [-1, 1];
  values.sort((a, b) => a - b);
  const q = (p) => values[Math.min(values.length - 1, Math.max(0, Math.round(p * (values.length - 1))))];
  let lo = q(0.01);
  let hi = q(0.99);
  const full = values[values.length - 1] - values[0];
  // Only clip when a few points blow up (poles); otherwise show everything.
  if (full <= 4 * (hi - lo) || hi === lo) {
    lo = values[0];
    hi = values[values.length - 1];
  }
  if (hi === lo) {
    const pad = Math.abs(hi) || 1;
    return [lo - pad, hi + pad];
  }
  const pad = (hi - lo) * 0.06;
  return [lo - pad, hi + pad];
}

/** The highest order on the Taylor slider: every order up to it comes from one request. */
const TAYLOR_MAX = 20;

const SUBSCRIPT = "₀₁₂₃₄₅₆₇₈₉";
const sub = (n) => String(n).replace(/\d/g, (d) => SUBSCRIPT[d]);

const withoutKey = (object, key) => Object.fromEntries(Object.entries(object).filter(([k]) => k !== key));

/**
 * The line the plot follows, as a request in one variable: a scalar variable itself, or a
 * vector v written as base + t·dir (for one entry: the point without it, and that unit vector).
 */
function plotLine(request) {
  const along = els.plotVariable.value;
  const { expression, constants = {} } = request.body;
  const point = request.point;
  if (typeof point[along] === "number") {
    return { variable: along, label: along, expression, constants, others: withoutKey(point, along),
      at: point[along] };
  }
  const entry = /^(.+)\[(\d+)\]$/.exec(along);
  const direction = /^(.+)·d$/.exec(along);
  const name = entry?.[1] ?? direction?.[1];
  const v0 = point[name];
  if (!name || !Array.isArray(v0) || !v0.every((x) => typeof x === "number")) {
    return { error: "Nothing to plot: the plot needs a variable whose value is a number or a vector." };
  }
  let base;
  let dir;
  let at;
  let label;
  if (entry) {
    const i = Number(entry[2]);
    base = v0.map((x, j) => (j === i ? 0 : x));
    dir = v0.map((_, j) => (j === i ? 1 : 0));
    at = v0[i];
    label = along;
  } else {
    let d;
    try {
      d = JSON.parse(els.plotDirection.value);
    } catch {
      d = undefined;
    }
    if (!Array.isArray(d) || d.length !== v0.length || !d.every((x) => typeof x === "number")) {
      return { error: `The direction d needs ${v0.length} numbers, like ${JSON.stringify(v0.map(() => 1))}.`,
        field: els.plotDirection };
    }
    base = v0;
    dir = d;
    at = 0;
    label = `t  (${name} = ${name}₀ + t·d)`;
  }
  const taken = [expression, ...Object.keys(point), ...Object.keys(constants)].join(" ");
  const t = freshName(taken, "t");
  const b = freshName(`${taken} ${t}`, `${name}_point`);
  const d = freshName(`${taken} ${t} ${b}`, `${name}_direction`);
  return {
    variable: t,
    label,
    expression: substitute(expression, name, `${b} + ${t}*${d}`, new Set(Object.keys(constants))),
    constants: { ...constants, [b]: base, [d]: dir },
    others: withoutKey(point, name),
    at,
  };
}

function lineBody(line, fields) {
  const body = { expression: line.expression, ...fields };
  if (Object.keys(line.constants).length) body.constants = line.constants;
  return body;
}

/** The Taylor coefficients c₀ … c₂₀ of f along the line at the point, from one request. */
async function taylorAlong(line, signal) {
  const order = Math.min(TAYLOR_MAX, limits.get("max_order") ?? TAYLOR_MAX);
  const body = lineBody(line, { point: { ...line.others, [line.variable]: line.at },
    variables: [line.variable], order });
  const answer = await post("taylor", body, signal);
  if (!answer.ok) return { error: answer.data.detail ?? answer.data.title ?? "refused" };
  const coefficients = Array(order + 1).fill(null);
  for (const { powers, coefficient } of answer.data.coefficients) {
    coefficients[powers[line.variable] ?? 0] = coefficient;
  }
  return { coefficients, at: line.at };
}

/** T_k(x) = Σ_{j ≤ k} c_j (x − at)^j at each x (null where a coefficient is undefined). */
function taylorPolynomial({ coefficients, at }, k, xs) {
  const c = coefficients.slice(0, k + 1);
  if (c.some((x) => x === null)) return xs.map(() => null);
  return xs.map((x) => {
    const h = x - at;
    let y = 0;
    for (let j = c.length - 1; j >= 0; j--) y = y * h + c[j];
    return y;
  });
}

async function drawPlot(request, signal) {
  els.plotError.hidden = true;
  const from = Number.parseFloat(els.plotFrom.value);
  const to = Number.parseFloat(els.plotTo.value);
  const k = Number.parseInt(els.plotK.value || "0", 10);
  const line = plotLine(request);
  if (line.error) {
    clearChart();
    if (line.field) showFieldError(line.field, els.plotError, line.error);
    plotMessage(line.error);
    return;
  }
  clearFieldError(els.plotDirection, els.plotError);
  if (!Number.isFinite(from) || !Number.isFinite(to) || !(from < to)) {
    showFieldError(els.plotFrom, els.plotError, "The range needs from < to.");
    clearChart();
    return;
  }
  clearFieldError(els.plotFrom, els.plotError);
  if (!(k >= 0 && k <= 12)) {
    showFieldError(els.plotK, els.plotError, "k must be between 0 and 12.");
    clearChart();
    return;
  }
  clearFieldError(els.plotK, els.plotError);
  const xs = Array.from({ length: SAMPLES }, (_, i) => from + ((to - from) * i) / (SAMPLES - 1));
  const points = { [line.variable]: xs };
  for (const [name, value] of Object.entries(line.others)) points[name] = xs.map(() => value);
  const body = lineBody(line, { points, variable: line.variable, order: k, all_orders: true });
  plotMessage("Computing the plot…");
  let answer;
  let taylor = null;
  try {
    [answer, taylor] = await Promise.all([post("derivative", body, signal),
      els.taylorShow.checked ? taylorAlong(line, signal) : null]);
  } catch (err) {
    if (err.name !== "AbortError") plotMessage(`The plot request failed: ${err.message ?? err}`);
    return;
  }
  if (signal.aborted) return;
  if (!answer.ok) {
    clearChart();
    plotMessage("No plot: the request was refused (see the error under the function).");
    return;
  }
  const shape = (answer.data.shape ?? []).slice(1); // without the batch axis
  if (shape.length) {
    clearChart();
    plotMessage(`No plot: f is not scalar-valued (shape [${shape.join(", ")}]).`);
    return;
  }
  const rows = answer.data.derivatives; // [N][k + 1]
  const series = Array.from({ length: k + 1 }, (_, j) => rows.map((row) => row[j]));
  lastPlot = { xs, series, variable: line.label, at: line.at, line,
    taylor: taylor?.coefficients ? taylor : null };
  renderChart();
  const gaps = series.reduce((n, s) => n + s.filter((y) => y === null).length, 0);
  plotMessage(
    `${SAMPLES} points of ${series.map((_, j) => primes(j)).join(", ")} along ${line.label} ` +
      `in one request` + (gaps ? `; ${gaps} undefined value(s) left as gaps.` : ".") +
      (taylor?.error ? ` No Taylor polynomial: ${taylor.error}` : ""),
  );
}

/** Fetch the Taylor coefficients for the plot on the page when they are asked for later. */
async function showTaylor() {
  saveState();
  if (!lastPlot) return;
  if (els.taylorShow.checked && !lastPlot.taylor) {
    const plot = lastPlot;
    const taylor = await taylorAlong(plot.line, new AbortController().signal);
    if (lastPlot !== plot) return;
    if (taylor.error) {
      plotMessage(`No Taylor polynomial: ${taylor.error}`);
      return;
    }
    plot.taylor = taylor;
  }
  renderChart();
}

function clearChart() {
  chart?.destroy();
  chart = null;
  lastPlot = null;
  els.plot.replaceChildren();
}

function chartSize() {
  const width = Math.max(240, Math.floor(els.plot.clientWidth || 600));
  return { width, height: Math.round(Math.min(360, Math.max(220, width * 0.55))) };
}

/** Draw `lastPlot`: f and its derivatives, and the Taylor polynomial of the slider's order. */
function renderChart() {
  chart?.destroy();
  const { xs, series, variable, at, taylor } = lastPlot;
  // the scale follows f and its derivatives; a diverging Taylor polynomial leaves the frame
  const [lo, hi] = robustRange(series);
  const k = Number.parseInt(els.taylorK.value, 10);
  const drawTaylor = els.taylorShow.checked && taylor;
  const data = [xs, ...series];
  const value = (_, v, __, idx) =>
    // idx is null while the cursor is off the plot; a null value under it is undefined
    idx === null || idx === undefined ? "—" : v === null ? "undefined" : formatNumber(+v.toPrecision(8));
  const lines = series.map((_, j) => ({
    label: primes(j),
    stroke: COLORS[j % COLORS.length],
    width: j === 0 ? 2.5 : 1.75,
    spanGaps: false,
    points: { show: false },
    value,
  }));
  if (drawTaylor) {
    data.push(taylorPolynomial(taylor, k, xs));
    lines.push({ label: `T${sub(k)} (Taylor)`, stroke: TAYLOR_COLOR, width: 2, dash: [7, 5],
      spanGaps: false, points: { show: false }, value });
  }
  const opts = {
    ...chartSize(),
    scales: { x: { time: false }, y: { range: () => [lo, hi] } },
    axes: [
      { label: variable, stroke: "#333", grid: { stroke: "#e6e6e6" }, ticks: { stroke: "#ccc" } },
      { stroke: "#333", grid: { stroke: "#e6e6e6" }, ticks: { stroke: "#ccc" }, size: 60 },
    ],
    legend: { live: true },
    cursor: { focus: { prox: 16 } },
    series: [
      { label: variable, value: (_, v) => (v === null || v === undefined ? "—" : formatNumber(+v.toPrecision(6))) },
      ...lines,
    ],
    hooks: {
      draw: [
        (u) => {
          if (typeof at !== "number" || at < xs[0] || at > xs[xs.length - 1]) return;
          const x = Math.round(u.valToPos(at, "x", true));
          const { ctx } = u;
          ctx.save();
          ctx.strokeStyle = "#888";
          ctx.setLineDash([4, 4]);
          ctx.lineWidth = 1;
          ctx.beginPath();
          ctx.moveTo(x, u.bbox.top);
          ctx.lineTo(x, u.bbox.top + u.bbox.height);
          ctx.stroke();
          ctx.restore();
        },
      ],
    },
  };
  els.plot.replaceChildren();
  chart = new window.uPlot(opts, data, els.plot);
  lastPlot.colors = lines.map((l) => l.stroke);
  lastPlot.taylorOrder = drawTaylor ? k : null;
}

new ResizeObserver(() => {
  if (chart) {
    const size = chartSize();
    if (size.width !== chart.width) chart.setSize(size);
  }
  if (lastMap && Math.floor(els.map.clientWidth) !== mapState?.width) renderMap();
}).observe(document.querySelector(".output"));

// ---------------------------------------------------------------- map of two variables

/** Grid nodes per axis: GRID² points (and the point itself) in one batch request. */
const GRID = 81;

let lastMap = null; // what the map was drawn from
let mapState = null; // what it drew

function clearMap(message) {
  lastMap = null;
  mapState = null;
  els.map.replaceChildren();
  els.mapReadout.textContent = "";
  els.mapKey.hidden = true;
  els.mapStatus.textContent = message;
}

const linspace = (a, b, n) => Array.from({ length: n }, (_, i) => a + ((b - a) * i) / (n - 1));

async function drawMapOf(request, signal) {
  els.mapError.hidden = true;
  const xName = els.plotVariable.value;
  const yName = els.mapVariable.value;
  const { point } = request;
  if (yName === "none" || typeof point[xName] !== "number" || typeof point[yName] !== "number") {
    clearMap(yName === "none" && typeof point[xName] === "number" && variableKinds().scalars.length > 1
      ? "No map: none chosen."
      : "No map: it needs two variables whose values are numbers (the plot's and one more).");
    return;
  }
  const ranges = [[els.plotFrom, els.plotTo], [els.mapFrom, els.mapTo]].map(([a, b]) =>
    [Number.parseFloat(a.value), Number.parseFloat(b.value)]);
  if (ranges.some(([a, b]) => !Number.isFinite(a) || !Number.isFinite(b) || !(a < b))) {
    showFieldError(els.mapFrom, els.mapError, "The ranges need from < to.");
    clearMap("No map: see the range.");
    return;
  }
  clearFieldError(els.mapFrom, els.mapError);
  const xs = linspace(...ranges[0], GRID);
  const ys = linspace(...ranges[1], GRID);
  const points = { [xName]: [], [yName]: [] };
  for (const y of ys) {
    for (const x of xs) {
      points[xName].push(x);
      points[yName].push(y);
    }
  }
  points[xName].push(point[xName]);
  points[yName].push(point[yName]);
  const n = points[xName].length;
  for (const [name, value] of Object.entries(point)) {
    if (name !== xName && name !== yName) points[name] = Array(n).fill(value);
  }
  const body = { expression: request.body.expression, points, variables: [xName, yName] };
  if (request.body.constants) body.constants = request.body.constants;
  els.mapStatus.textContent = "Computing the map…";
  let answer;
  try {
    answer = await post("gradient", body, signal);
  } catch (err) {
    if (err.name !== "AbortError") clearMap(`The map request failed: ${err.message ?? err}`);
    return;
  }
  if (signal.aborted) return;
  if (!answer.ok) {
    const detail = String(answer.data.detail ?? answer.data.title ?? "refused").split("\n")[0];
    clearMap(`No map: ${detail}`);
    return;
  }
  const { value, gradient } = answer.data;
  const z = ys.map((_, j) => value.slice(j * GRID, (j + 1) * GRID));
  lastMap = { xs, ys, z, names: [xName, yName], point: [point[xName], point[yName]],
    value: value[n - 1], gradient: [gradient[xName][n - 1], gradient[yName][n - 1]] };
  renderMap();
  const [gx, gy] = lastMap.gradient;
  els.mapStatus.textContent =
    `f on a ${GRID} × ${GRID} grid (and at the point) in one batch request; ` +
    `the arrow is ∇f at the point = (${formatNumber(gx)}, ${formatNumber(gy)}), drawn to scale in ` +
    "direction only" + (els.mapLevel.checked ? "; the orange line is the level curve through the point." : ".");
}

function renderMap() {
  const short = (v) => formatNumber(v === null ? null : +v.toPrecision(6));
  mapState = drawMap(els.map, els.mapReadout, { ...lastMap, showLevel: els.mapLevel.checked,
    format: formatNumber, formatCoordinate: short });
  els.mapLow.textContent = short(mapState.range[0]);
  els.mapHigh.textContent = short(mapState.range[1]);
  els.mapKey.hidden = false;
}

// ---------------------------------------------------------------- wiring

els.expression.addEventListener("input", () => {
  syncVariables();
  saveState();
});
els.constants.addEventListener("input", () => {
  syncVariables();
  saveState();
});
els.variables.addEventListener("input", () => {
  autoVariables = false;
  renderPointRows();
  saveState();
});
els.detect.addEventListener("click", () => {
  autoVariables = true;
  syncVariables();
  saveState();
});
els.operation.addEventListener("change", () => {
  showOperationFields();
  saveState();
});
for (const el of [els.derivativeVariable, els.derivativeOrder, els.wrt, els.taylorOrder,
  els.plotK, els.plotFrom, els.plotTo, els.plotDirection, els.mapVariable, els.mapFrom, els.mapTo]) {
  el.addEventListener("change", saveState);
  el.addEventListener("input", saveState);
}
els.plotVariable.addEventListener("change", () => {
  refreshPickers(); // the map's second variable and the direction field follow the choice
  saveState();
});
els.mapVariable.addEventListener("change", () => {
  els.mapVariable.dataset.chosen = "true";
});
els.taylorShow.addEventListener("change", showTaylor);
els.taylorK.addEventListener("input", () => {
  els.taylorKValue.textContent = els.taylorK.value;
  saveState();
  if (lastPlot && els.taylorShow.checked) renderChart();
});
els.mapLevel.addEventListener("change", () => {
  saveState();
  if (lastMap) renderMap();
});
els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  compute();
});
// Enter on a select (which would only open it) submits too, like in the text fields; in the
// function's box Enter computes as well and Shift+Enter starts a new line (for definitions).
els.form.addEventListener("keydown", (event) => {
  const multiLine = event.target === els.expression && event.shiftKey;
  if (event.key === "Enter" && !multiLine &&
      (event.target.tagName === "SELECT" || event.target === els.expression)) {
    event.preventDefault();
    els.form.requestSubmit();
  }
});
for (const button of document.querySelectorAll("button[data-copy]")) {
  button.addEventListener("click", () => copyWithFeedback(button, $(button.dataset.copy).textContent));
}
els.copyLink.addEventListener("click", () => {
  saveState();
  copyWithFeedback(els.copyLink, location.href);
});

const restored = loadState();
const [names] = await Promise.allSettled([
  loadLanguage(new URL("v1/functions", document.baseURI)),
  loadLimits(),
]);
if (names.status === "rejected") {
  els.status.textContent = `The language's names did not load (${names.reason.message}): ` +
    "check the detected variables by hand.";
}
syncVariables();
showOperationFields();
// Selects fill after the variables are known; re-apply the values the URL asked for.
refreshPickers();
if (restored) {
  compute();
} else {
  els.curl.textContent = "# Compute something to see its request here.";
  els.httpx.textContent = "# Compute something to see its request here.";
  document.body.dataset.state = "idle";
}

// For tests and the curious: the chart, the map and the data they draw.
window.playground = {
  get chart() {
    return chart;
  },
  get plot() {
    return lastPlot;
  },
  get map() {
    return mapState;
  },
  language,
  detectVariables,
};
