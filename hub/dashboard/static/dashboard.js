// The overview's live part: poll the newest status sample, update the numbers in place and
// redraw the last hour as an inline SVG chart. No library, no build step.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const W = 720, H = 220, PAD = { left: 48, right: 48, top: 12, bottom: 24 };

function svg(name, attrs, text) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text !== undefined) el.textContent = text;
  return el;
}

function setStat(key, value) {
  for (const el of document.querySelectorAll("[data-stat]")) {
    if (el.dataset.stat === key) el.textContent = String(value);
  }
}

function niceMax(value) {
  if (value <= 0) return 1;
  const step = Math.pow(10, Math.floor(Math.log10(value)));
  for (const m of [1, 2, 5, 10]) if (value <= m * step) return m * step;
  return 10 * step;
}

function line(points, x, y, cls) {
  if (points.length === 0) return null;
  const d = points.map((p, i) => `${i ? "L" : "M"}${x(p.at).toFixed(1)},${y(p.v).toFixed(1)}`).join("");
  return svg("path", { d, class: cls, fill: "none" });
}

function drawChart(chart, series) {
  chart.replaceChildren();
  const now = series.length ? series[series.length - 1].at : Date.now() / 1000;
  const start = now - 3600;
  const shown = series.filter((p) => p.at >= start);
  const depthMax = niceMax(Math.max(0, ...shown.map((p) => p.depth)));
  const rateMax = niceMax(Math.max(0, ...shown.map((p) => p.received_rate)));
  const x = (t) => PAD.left + ((t - start) / 3600) * (W - PAD.left - PAD.right);
  const yOf = (max) => (v) => H - PAD.bottom - (v / max) * (H - PAD.top - PAD.bottom);
  chart.append(svg("rect", { x: PAD.left, y: PAD.top, width: W - PAD.left - PAD.right,
                             height: H - PAD.top - PAD.bottom, class: "frame" }));
  for (const m of [0, 15, 30, 45, 60]) {
    const t = start + m * 60;
    chart.append(svg("line", { x1: x(t), x2: x(t), y1: PAD.top, y2: H - PAD.bottom, class: "grid" }));
    chart.append(svg("text", { x: x(t), y: H - 6, class: "tick", "text-anchor": "middle" },
                     m === 60 ? "now" : `-${60 - m} min`));
  }
  chart.append(svg("text", { x: PAD.left - 6, y: PAD.top + 10, class: "tick depth", "text-anchor": "end" }, depthMax));
  chart.append(svg("text", { x: W - PAD.right + 6, y: PAD.top + 10, class: "tick rate" }, rateMax + "/s"));
  chart.append(svg("text", { x: PAD.left - 6, y: H - PAD.bottom, class: "tick", "text-anchor": "end" }, "0"));
  const depth = line(shown.map((p) => ({ at: p.at, v: p.depth })), x, yOf(depthMax), "depth");
  const rate = line(shown.map((p) => ({ at: p.at, v: p.received_rate })), x, yOf(rateMax), "rate");
  if (depth) chart.append(depth);
  if (rate) chart.append(rate);
  chart.dataset.points = String(shown.length);
}

function render(doc) {
  const status = doc.status;
  for (const section of ["messages", "deliveries"]) {
    for (const [name, n] of Object.entries(status[section])) setStat(`${section}.${name}`, n);
  }
  for (const [name, q] of Object.entries(status.queues)) {
    setStat(`queues.${name}.depth`, q.depth);
    setStat(`queues.${name}.consumers`, q.consumers);
  }
  const rates = status.rates || {};
  for (const name of ["received_per_s", "filed_per_s", "delivered_per_s"]) {
    for (const [window, value] of Object.entries(rates[name] || {})) setStat(`rates.${name}.${window}`, value);
  }
  const health = document.getElementById("health");
  if (health && status.health) {
    health.textContent = status.health.summary;
    health.className = status.health.healthy ? "ok" : "warn";
  }
  const broker = document.getElementById("broker-error");
  broker.hidden = !status.broker_error;
  broker.textContent = status.broker_error ? `broker: ${status.broker_error}` : "";
  drawChart(document.getElementById("chart"), doc.series);
  const updated = document.getElementById("updated");
  updated.textContent = new Date(doc.at * 1000).toLocaleTimeString();
  updated.dateTime = new Date(doc.at * 1000).toISOString();
  document.body.dataset.polled = String(Number(document.body.dataset.polled || 0) + 1);
}

async function poll() {
  try {
    const response = await fetch("/dashboard/api/overview", { credentials: "same-origin", cache: "no-store" });
    if (response.ok) render(await response.json());
    document.body.classList.toggle("stale", !response.ok);
  } catch (err) {
    document.body.classList.add("stale");
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const chart = document.getElementById("chart");
  if (!chart) return;
  drawChart(chart, JSON.parse(chart.dataset.series || "[]"));
  const every = Math.max(1, Math.min(10, Number(chart.dataset.interval) || 5)) * 1000;
  poll();
  setInterval(poll, every);
});
