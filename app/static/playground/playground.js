// The diffapi playground: a form over the JSON API, a plot, and the request as curl / httpx.
// Plain ES module, no build step. The chart is uPlot (window.uPlot, vendored under vendor/).

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
  plotError: $("plot-error"),
  copyLink: $("copy-link"),
  status: $("status"),
  result: $("result"),
  plot: $("plot"),
  plotStatus: $("plot-status"),
  curl: $("curl-snippet"),
  httpx: $("httpx-snippet"),
};

// ---------------------------------------------------------------- the language's names

// Built-in functions (GET /v1/functions adds any this list misses), constants and module
// prefixes: none of them is a variable.
const FUNCTIONS = new Set(
  ("sin cos tan asin acos atan sinh cosh tanh asinh acosh atanh exp expm1 log log1p log2 log10 " +
    "sqrt cbrt abs sign erf erfc sigmoid softplus relu pow atan2 hypot max min where sum prod " +
    "mean dot norm trace transpose det inv").split(" "),
);
const BUILTIN_CONSTANTS = new Set(["pi", "e"]);
const MODULES = new Set(["np", "numpy", "torch", "math"]);

fetch(new URL("v1/functions", document.baseURI))
  .then((r) => (r.ok ? r.json() : null))
  .then((body) => {
    let added = false;
    for (const f of body?.functions ?? []) {
      if (!FUNCTIONS.has(f.name)) {
        FUNCTIONS.add(f.name);
        added = true;
      }
    }
    if (added) syncVariables();
  })
  .catch(() => {});

const NUMBER = /^(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

/** The free names of `text` in order of first use, with a guessed vector length per name. */
export function detectVariables(text, constantNames) {
  const found = new Map(); // name -> largest literal index + 1 (0: used as a scalar)
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
    const before = text.slice(0, i).trimEnd();
    const after = text.slice(i + word.length).trimStart();
    i += word.length;
    if (before.endsWith(".")) continue; // method / attribute sugar: .sum(), .T
    if (MODULES.has(word) && after.startsWith(".")) continue;
    if (after.startsWith("(")) continue; // a call: a function (or an unknown one)
    if (FUNCTIONS.has(word) || BUILTIN_CONSTANTS.has(word) || constantNames.has(word)) continue;
    const index = /^\[\s*(\d+)\s*[\],]/.exec(after);
    const length = index ? Number(index[1]) + 1 : 0;
    found.set(word, Math.max(found.get(word) ?? 0, length));
  }
  return found;
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

function scalarVariables() {
  const names = [];
  for (const input of els.point.querySelectorAll("input[data-var]")) {
    try {
      if (typeof JSON.parse(input.value) === "number") names.push(input.dataset.var);
    } catch {
      /* not a number (yet) */
    }
  }
  return names;
}

function fillSelect(select, names, fallbackLabel) {
  const keep = select.dataset.want || select.value;
  select.replaceChildren(
    ...names.map((n) => {
      const o = document.createElement("option");
      o.value = n;
      o.textContent = n;
      return o;
    }),
  );
  if (names.length === 0) {
    const o = document.createElement("option");
    o.value = "";
    o.textContent = fallbackLabel;
    select.append(o);
  }
  if (names.includes(keep)) {
    select.value = keep;
    delete select.dataset.want;
  }
}

function refreshPickers() {
  fillSelect(els.derivativeVariable, variableNames(), "—");
  fillSelect(els.plotVariable, scalarVariables(), "—");
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
};

function stateParams() {
  const params = new URLSearchParams();
  for (const [key, el] of Object.entries(STATE_FIELDS)) {
    const value = el.value;
    if (value !== "") params.set(key, value);
  }
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
    el.value = params.get(key);
  }
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

function depth(v) {
  let d = 0;
  while (Array.isArray(v)) {
    d += 1;
    v = v[0];
  }
  return d;
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

function renderResult(op, request, body) {
  const dl = document.createElement("dl");
  dl.className = "result";
  const at = pointLabel(request.point);
  const shape = body.shape?.length ? ` (shape [${body.shape.join(", ")}])` : "";
  addEntry(dl, `f(${at})${shape}`, body.value, { name: "f" }, "value");
  if (op === "gradient") {
    for (const [name, g] of Object.entries(body.gradient)) {
      addEntry(dl, `∂f/∂${name}`, g, { name }, `gradient.${name}`);
    }
  } else if (op === "jacobian") {
    addEntry(dl, "Jacobian  ∂f/∂(" + body.variables.join(", ") + ")", body.jacobian,
      { rowLabels: body.rows, columnLabels: body.columns }, "jacobian");
  } else if (op === "hessian") {
    addEntry(dl, "gradient", body.gradient, { columnLabels: body.columns }, "gradient");
    addEntry(dl, "Hessian", body.hessian,
      { rowLabels: body.columns, columnLabels: body.columns }, "hessian");
  } else if (op === "derivative") {
    const n = request.order;
    const v = request.variable;
    const label = n === 0 ? "f" : n === 1 ? `df/d${v}` : `d${sup(n)}f/d${v}${sup(n)}`;
    addEntry(dl, label, body.derivative, {}, "derivative");
  } else if (op === "mixed") {
    const label = `∂${request.wrt.length > 1 ? sup(request.wrt.length) : ""}f/` +
      request.wrt.map((w) => `∂${w}`).join("");
    addEntry(dl, label, body.derivative, {}, "derivative");
  }
  const nodes = [dl];
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

/** A problem document under the expression field, with a caret at the reported column. */
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
  if (Number.isInteger(column) && column >= 1) {
    pre.textContent = `${expression}\n${" ".repeat(column - 1)}^`;
    pre.hidden = false;
    pre.dataset.column = String(column);
    els.expression.setAttribute("aria-invalid", "true");
  } else {
    pre.textContent = "";
    pre.hidden = true;
    delete pre.dataset.column;
  }
  els.expressionError.hidden = false;
  return column;
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
  return { op, endpoint, body, constants, point };
}

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
  try {
    const { ok, data } = await main;
    if (controller.signal.aborted) return;
    if (ok) {
      renderResult(request.op, request.body, data);
      els.status.textContent = "Done.";
    } else {
      const column = showProblem(data, request.body.expression);
      els.result.replaceChildren(placeholder("No result: see the error under the function."));
      els.status.textContent = "Error.";
      if (column) {
        els.expression.focus();
        els.expression.setSelectionRange(column - 1, column);
      }
    }
  } catch (err) {
    if (err.name === "AbortError") return;
    showProblem({ title: "Network error", detail: String(err.message ?? err) }, "");
    els.status.textContent = "Error.";
  }
  await plot;
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

async function drawPlot(request, signal) {
  els.plotError.hidden = true;
  const variable = els.plotVariable.value;
  if (!variable) {
    clearChart();
    plotMessage("Nothing to plot: the plot needs a variable whose value is a number.");
    return;
  }
  const from = Number.parseFloat(els.plotFrom.value);
  const to = Number.parseFloat(els.plotTo.value);
  const k = Number.parseInt(els.plotK.value || "0", 10);
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
  const points = {};
  for (const [name, value] of Object.entries(request.point)) {
    points[name] = name === variable ? xs : xs.map(() => value);
  }
  const body = { expression: request.body.expression, points, variable, order: k, all_orders: true };
  if (request.body.constants) body.constants = request.body.constants;
  plotMessage("Computing the plot…");
  let answer;
  try {
    answer = await post("derivative", body, signal);
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
  renderChart(xs, series, variable, request.point[variable]);
  const gaps = series.reduce((n, s) => n + s.filter((y) => y === null).length, 0);
  plotMessage(
    `${SAMPLES} points of ${series.map((_, j) => primes(j)).join(", ")} along ${variable} ` +
      `in one request` + (gaps ? `; ${gaps} undefined value(s) left as gaps.` : "."),
  );
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

function renderChart(xs, series, variable, at) {
  clearChart();
  const [lo, hi] = robustRange(series);
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
      ...series.map((_, j) => ({
        label: primes(j),
        stroke: COLORS[j % COLORS.length],
        width: j === 0 ? 2.5 : 1.75,
        spanGaps: false,
        points: { show: false },
        // idx is null while the cursor is off the plot; a null value under it is undefined
        value: (_, v, __, idx) =>
          idx === null || idx === undefined ? "—" : v === null ? "undefined" : formatNumber(+v.toPrecision(8)),
      })),
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
  chart = new window.uPlot(opts, [xs, ...series], els.plot);
  lastPlot = { xs, series, variable, colors: series.map((_, j) => COLORS[j % COLORS.length]) };
}

new ResizeObserver(() => {
  if (chart) {
    const size = chartSize();
    if (size.width !== chart.width) chart.setSize(size);
  }
}).observe(els.plot);

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
  els.plotVariable, els.plotK, els.plotFrom, els.plotTo]) {
  el.addEventListener("change", saveState);
  el.addEventListener("input", saveState);
}
els.form.addEventListener("submit", (event) => {
  event.preventDefault();
  compute();
});
// Enter on a select (which would only open it) submits too, like in the text fields.
els.form.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && event.target.tagName === "SELECT") {
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

// For tests and the curious: the chart and the data it draws.
window.playground = {
  get chart() {
    return chart;
  },
  get plot() {
    return lastPlot;
  },
  detectVariables,
};
