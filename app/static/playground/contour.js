// A map of f(x, y) on a grid: heat colours, contour lines, the point, the gradient arrow there,
// optionally the level curve through the point, and a readout of f under the pointer.
// Drawn on two canvases (the map, and an overlay for the pointer) with no chart library.

const MARGIN = { left: 52, right: 12, top: 12, bottom: 40 };
const LEVELS = 12;
const MAX_HEIGHT = 440;
const VIRIDIS = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];

function colour(t) {
  const x = Math.min(1, Math.max(0, t)) * (VIRIDIS.length - 1);
  const i = Math.min(VIRIDIS.length - 2, Math.floor(x));
  const f = x - i;
  return VIRIDIS[i].map((c, k) => Math.round(c + (VIRIDIS[i + 1][k] - c) * f));
}

/** The colour range: all finite values, or the 1–99 % quantiles when a few blow up (poles). */
function valueRange(z) {
  const values = z.flat().filter((v) => v !== null && Number.isFinite(v)).sort((a, b) => a - b);
  if (!values.length) return [0, 1];
  const q = (p) => values[Math.round(p * (values.length - 1))];
  let [lo, hi] = [values[0], values[values.length - 1]];
  if (hi - lo > 4 * (q(0.99) - q(0.01)) && q(0.99) > q(0.01)) [lo, hi] = [q(0.01), q(0.99)];
  return lo === hi ? [lo - 1, hi + 1] : [lo, hi];
}

function niceTicks(lo, hi, target = 6) {
  const raw = (hi - lo) / target;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : +t.toPrecision(12));
  }
  return ticks;
}

/** Segments [[x0, y0, x1, y1], …] (data units) where the grid's f crosses `level`. */
export function contourSegments(xs, ys, z, level) {
  const segments = [];
  const cross = (a, b, pa, pb) => {
    const t = (level - a) / (b - a);
    return [pa[0] + t * (pb[0] - pa[0]), pa[1] + t * (pb[1] - pa[1])];
  };
  for (let j = 0; j + 1 < ys.length; j++) {
    for (let i = 0; i + 1 < xs.length; i++) {
      const c = [z[j][i], z[j][i + 1], z[j + 1][i + 1], z[j + 1][i]]; // counter-clockwise
      if (c.some((v) => v === null || !Number.isFinite(v))) continue;
      const p = [[xs[i], ys[j]], [xs[i + 1], ys[j]], [xs[i + 1], ys[j + 1]], [xs[i], ys[j + 1]]];
      const hits = [];
      for (let e = 0; e < 4; e++) {
        const a = c[e];
        const b = c[(e + 1) % 4];
        if ((a > level) !== (b > level)) hits.push(cross(a, b, p[e], p[(e + 1) % 4]));
      }
      if (hits.length === 2) segments.push([...hits[0], ...hits[1]]);
      if (hits.length === 4) {
        // a saddle cell: pair the crossings the way the cell's mean value says
        const centreAbove = (c[0] + c[1] + c[2] + c[3]) / 4 > level;
        const firstAbove = c[0] > level;
        const [a, b] = centreAbove === firstAbove ? [[0, 1], [2, 3]] : [[0, 3], [1, 2]];
        segments.push([...hits[a[0]], ...hits[a[1]]], [...hits[b[0]], ...hits[b[1]]]);
      }
    }
  }
  return segments;
}

function nearest(values, v) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (Math.abs(values[i] - v) < Math.abs(values[best] - v)) best = i;
  return best;
}

/**
 * Draw the map into `container` and its pointer readout into `readout`. `z[j][i]` is
 * f(xs[i], ys[j]); `point` is [x, y] with its `value` and `gradient` [∂f/∂x, ∂f/∂y].
 * Answers what was drawn (data units), for tests.
 */
export function drawMap(container, readout, data) {
  const { xs, ys, z, names, point, value, gradient, showLevel, format, formatCoordinate } = data;
  const width = Math.max(240, Math.floor(container.clientWidth || 600));
  const aspect = Math.min(2, Math.max(0.5, (ys[ys.length - 1] - ys[0]) / (xs[xs.length - 1] - xs[0])));
  // equal scales on both axes when that fits, so the gradient is seen at right angles to the
  // level curves; never taller than MAX_HEIGHT (the map then gets narrower, not distorted)
  let plotWidth = width - MARGIN.left - MARGIN.right;
  if (plotWidth * aspect > MAX_HEIGHT) plotWidth = Math.round(MAX_HEIGHT / aspect);
  const plotHeight = Math.round(plotWidth * aspect);
  const height = plotHeight + MARGIN.top + MARGIN.bottom;
  const ratio = window.devicePixelRatio || 1;
  const canvases = [document.createElement("canvas"), document.createElement("canvas")];
  for (const c of canvases) {
    c.width = Math.round(width * ratio);
    c.height = Math.round(height * ratio);
    c.style.width = `${width}px`;
    c.style.height = `${height}px`;
  }
  canvases[1].className = "map-overlay";
  const [base, overlay] = canvases;
  const wrap = document.createElement("div");
  wrap.className = "map-canvas";
  wrap.style.height = `${height}px`;
  wrap.append(base, overlay);
  container.replaceChildren(wrap);

  const x0 = xs[0];
  const x1 = xs[xs.length - 1];
  const y0 = ys[0];
  const y1 = ys[ys.length - 1];
  const px = (x) => MARGIN.left + ((x - x0) / (x1 - x0)) * plotWidth;
  const py = (y) => MARGIN.top + (1 - (y - y0) / (y1 - y0)) * plotHeight;
  const ctx = base.getContext("2d");
  ctx.scale(ratio, ratio);

  // heat colours: one pixel per grid node, stretched so node centres land on their coordinates
  const [lo, hi] = valueRange(z);
  const image = new ImageData(xs.length, ys.length);
  for (let j = 0; j < ys.length; j++) {
    for (let i = 0; i < xs.length; i++) {
      const v = z[j][i];
      const k = ((ys.length - 1 - j) * xs.length + i) * 4;
      if (v === null || !Number.isFinite(v)) continue; // transparent: undefined there
      const [r, g, b] = colour((v - lo) / (hi - lo));
      image.data.set([r, g, b, 255], k);
    }
  }
  const cells = document.createElement("canvas");
  cells.width = xs.length;
  cells.height = ys.length;
  cells.getContext("2d").putImageData(image, 0, 0);
  const dx = plotWidth / (xs.length - 1);
  const dy = plotHeight / (ys.length - 1);
  ctx.save();
  ctx.beginPath();
  ctx.rect(MARGIN.left, MARGIN.top, plotWidth, plotHeight);
  ctx.clip();
  ctx.fillStyle = "#eceff3";
  ctx.fillRect(MARGIN.left, MARGIN.top, plotWidth, plotHeight);
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(cells, MARGIN.left - dx / 2, MARGIN.top - dy / 2, plotWidth + dx, plotHeight + dy);

  const stroke = (segments) => {
    ctx.beginPath();
    for (const [a, b, c, d] of segments) {
      ctx.moveTo(px(a), py(b));
      ctx.lineTo(px(c), py(d));
    }
    ctx.stroke();
  };
  ctx.strokeStyle = "rgba(255, 255, 255, 0.6)";
  ctx.lineWidth = 1;
  const levels = Array.from({ length: LEVELS }, (_, k) => lo + ((k + 0.5) * (hi - lo)) / LEVELS);
  for (const level of levels) stroke(contourSegments(xs, ys, z, level));

  let levelSegments = [];
  if (showLevel && value !== null && Number.isFinite(value)) {
    levelSegments = contourSegments(xs, ys, z, value);
    ctx.strokeStyle = "#ff6b1a";
    ctx.lineWidth = 2.5;
    stroke(levelSegments);
  }

  // the gradient arrow, scaled to a readable length; its direction is the gradient's
  let arrow = null;
  const [gx, gy] = gradient ?? [null, null];
  if (gx !== null && gy !== null && Number.isFinite(gx) && Number.isFinite(gy) && (gx || gy)) {
    const sx = plotWidth / (x1 - x0);
    const sy = plotHeight / (y1 - y0);
    const scale = (0.18 * Math.min(plotWidth, plotHeight)) / Math.hypot(gx * sx, gy * sy);
    arrow = { from: point, to: [point[0] + scale * gx, point[1] + scale * gy] };
    const [ax, ay] = [px(arrow.from[0]), py(arrow.from[1])];
    const [bx, by] = [px(arrow.to[0]), py(arrow.to[1])];
    const angle = Math.atan2(by - ay, bx - ax);
    for (const [w, colourName] of [[5, "#1d2126"], [2.5, "#ffffff"]]) { // a dark rim, then white
      ctx.strokeStyle = colourName;
      ctx.fillStyle = colourName;
      ctx.lineWidth = w;
      ctx.beginPath();
      ctx.moveTo(ax, ay);
      ctx.lineTo(bx - 6 * Math.cos(angle), by - 6 * Math.sin(angle));
      ctx.stroke();
      const head = 9 + w;
      ctx.beginPath();
      ctx.moveTo(bx + (w - 2.5) * Math.cos(angle), by + (w - 2.5) * Math.sin(angle));
      ctx.lineTo(bx - head * Math.cos(angle - 0.45), by - head * Math.sin(angle - 0.45));
      ctx.lineTo(bx - head * Math.cos(angle + 0.45), by - head * Math.sin(angle + 0.45));
      ctx.closePath();
      ctx.fill();
    }
  }
  // the point
  ctx.beginPath();
  ctx.arc(px(point[0]), py(point[1]), 5, 0, 2 * Math.PI);
  ctx.fillStyle = "#ff6b1a";
  ctx.fill();
  ctx.lineWidth = 2;
  ctx.strokeStyle = "#1d2126";
  ctx.stroke();
  ctx.restore();

  // axes
  ctx.strokeStyle = "#333";
  ctx.lineWidth = 1;
  ctx.strokeRect(MARGIN.left, MARGIN.top, plotWidth, plotHeight);
  ctx.fillStyle = "#333";
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of niceTicks(x0, x1, plotWidth < 300 ? 4 : 6)) {
    ctx.fillRect(Math.round(px(t)), MARGIN.top + plotHeight, 1, 5);
    ctx.fillText(String(t), px(t), MARGIN.top + plotHeight + 7);
  }
  ctx.font = "bold 12px system-ui, sans-serif";
  ctx.fillText(names[0], MARGIN.left + plotWidth / 2, MARGIN.top + plotHeight + 23);
  ctx.font = "12px system-ui, sans-serif";
  ctx.textAlign = "right";
  ctx.textBaseline = "middle";
  for (const t of niceTicks(y0, y1, 5)) {
    ctx.fillRect(MARGIN.left - 5, Math.round(py(t)), 5, 1);
    ctx.fillText(String(t), MARGIN.left - 8, py(t));
  }
  ctx.save();
  ctx.translate(12, MARGIN.top + plotHeight / 2);
  ctx.rotate(-Math.PI / 2);
  ctx.textAlign = "center";
  ctx.font = "bold 12px system-ui, sans-serif";
  ctx.fillText(names[1], 0, 0);
  ctx.restore();

  // the pointer: the grid node under it, and f there
  const octx = overlay.getContext("2d");
  octx.scale(ratio, ratio);
  const idle = `Point at the map to read f. At the point: f = ${format(value)}.`;
  readout.textContent = idle;
  const hover = { node: null };
  const read = (event) => {
    const box = overlay.getBoundingClientRect();
    const mx = event.clientX - box.left;
    const my = event.clientY - box.top;
    octx.clearRect(0, 0, width, height);
    if (mx < MARGIN.left || mx > MARGIN.left + plotWidth || my < MARGIN.top || my > MARGIN.top + plotHeight) {
      hover.node = null;
      readout.textContent = idle;
      return;
    }
    const i = nearest(xs, x0 + ((mx - MARGIN.left) / plotWidth) * (x1 - x0));
    const j = nearest(ys, y1 - ((my - MARGIN.top) / plotHeight) * (y1 - y0));
    hover.node = [i, j];
    readout.textContent =
      `${names[0]} = ${formatCoordinate(xs[i])}, ${names[1]} = ${formatCoordinate(ys[j])}: f = ${format(z[j][i])}`;
    octx.strokeStyle = "#1d2126";
    octx.lineWidth = 1.5;
    octx.beginPath();
    octx.arc(px(xs[i]), py(ys[j]), 4, 0, 2 * Math.PI);
    octx.stroke();
  };
  overlay.addEventListener("pointermove", read);
  overlay.addEventListener("pointerdown", read); // a tap on a touch screen
  overlay.addEventListener("pointerleave", () => {
    octx.clearRect(0, 0, width, height);
    hover.node = null;
    readout.textContent = idle;
  });
  return {
    xs, ys, z, names, point, value, gradient, arrow, range: [lo, hi], hover,
    levelSegments: levelSegments.length, width, height,
    toPixel: (x, y) => [px(x), py(y)],
  };
}
