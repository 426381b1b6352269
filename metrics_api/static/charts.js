// flowmetrics page: small SVG and DOM helpers of our own (no third-party code).
// Everything from the API goes in through textContent or attributes, never as markup.
"use strict";

const Charts = (() => {
  const SVG = "http://www.w3.org/2000/svg";

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined) continue;
      if (key === "text") node.textContent = String(value);
      else node.setAttribute(key, String(value));
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // The axis top and its divisions: round numbers at every gridline (0.5, 1, 2, 5, 10...).
  function niceScale(value) {
    if (!(value > 0)) return { max: 1, divisions: 4 };
    const step = Math.pow(10, Math.floor(Math.log10(value)));
    for (const [m, divisions] of [[1, 5], [2, 4], [2.5, 5], [4, 4], [5, 5], [8, 4], [10, 5]]) {
      if (m * step >= value) return { max: m * step, divisions };
    }
    return { max: 10 * step, divisions: 5 };
  }

  function legend(series) {
    return el("div", { class: "legend" },
      ...series.map((s) => el("span", {}, coloured(el("i"), s.color), s.label)));
  }

  function coloured(node, color) {
    node.style.background = color;
    return node;
  }

  // Stacked bars: one <g class="bar"> per item, one <rect> per series with a value.
  // items: [{label, title, values: {key: number}, mark}], series: [{key, label, color}].
  function stackedBars(items, series, options) {
    const opts = Object.assign({ width: 900, height: 220, unit: "", labels: 6, barClass: "bar" }, options || {});
    const left = 48, right = 8, top = 10, bottom = 34;
    const plotW = opts.width - left - right, plotH = opts.height - top - bottom;
    const totals = items.map((it) => series.reduce((sum, s) => sum + (Number(it.values[s.key]) || 0), 0));
    const { max, divisions } = niceScale(Math.max(0, ...totals));
    const root = svg("svg", {
      viewBox: `0 0 ${opts.width} ${opts.height}`, role: "img", "aria-label": opts.title || "chart",
      class: opts.chartClass || "",
    });
    for (let i = 0; i <= divisions; i++) {
      const y = top + plotH - (plotH * i) / divisions;
      root.append(svg("line", { x1: left, x2: left + plotW, y1: y, y2: y, stroke: "#e3e7ee" }));
      root.append(svg("text", { x: left - 6, y: y + 4, "text-anchor": "end", text: fmtAxis(max * i / divisions) + opts.unit }));
    }
    const slot = items.length ? plotW / items.length : plotW;
    const barW = Math.max(1, Math.min(40, slot * 0.8));
    const every = Math.max(1, Math.ceil(items.length / opts.labels));
    items.forEach((item, i) => {
      const x = left + slot * i + (slot - barW) / 2;
      const group = svg("g", { class: opts.barClass, "data-label": item.label });
      group.append(svg("title", { text: item.title || item.label }));
      let y = top + plotH;
      for (const s of series) {
        const value = Number(item.values[s.key]) || 0;
        if (value <= 0) continue;
        const h = (plotH * value) / max;
        y -= h;
        group.append(svg("rect", { x: x.toFixed(2), y: y.toFixed(2), width: barW.toFixed(2), height: h.toFixed(2),
          fill: s.color, "data-series": s.key }));
      }
      if (item.mark) {
        group.append(svg("text", { x: (x + barW / 2).toFixed(2), y: (y - 3).toFixed(2), "text-anchor": "middle",
          class: "mark", fill: "#c0392b", text: item.mark }));
      }
      root.append(group);
      if (i % every === 0) {
        root.append(svg("text", { x: (x + barW / 2).toFixed(2), y: opts.height - bottom + 16, "text-anchor": "middle",
          text: item.short || item.label }));
      }
    });
    root.append(svg("line", { x1: left, x2: left + plotW, y1: top + plotH, y2: top + plotH, stroke: "#9aa3b2" }));
    return el("div", { class: "chart" }, root, legend(series));
  }

  function sparkline(values, options) {
    const opts = Object.assign({ width: 120, height: 28 }, options || {});
    const root = svg("svg", { viewBox: `0 0 ${opts.width} ${opts.height}`, class: "spark", width: opts.width,
      height: opts.height, role: "img", "aria-label": `trend over ${values.length} runs` });
    if (!values.length) return root;
    const max = Math.max(...values), min = Math.min(...values);
    const span = max - min || 1;
    const step = values.length > 1 ? (opts.width - 6) / (values.length - 1) : 0;
    const points = values.map((v, i) => [3 + i * step, opts.height - 3 - ((v - min) / span) * (opts.height - 6)]);
    root.append(svg("polyline", { points: points.map((p) => p.map((n) => n.toFixed(1)).join(",")).join(" "),
      fill: "none", stroke: "#2e86de", "stroke-width": 1.5 }));
    const last = points[points.length - 1];
    root.append(svg("circle", { cx: last[0].toFixed(1), cy: last[1].toFixed(1), r: 2.5, fill: "#2e86de" }));
    return root;
  }

  function fmtAxis(value) {
    if (value >= 1e6) return (value / 1e6).toFixed(1).replace(/\.0$/, "") + "M";
    if (value >= 1e3) return (value / 1e3).toFixed(1).replace(/\.0$/, "") + "k";
    return Number.isInteger(value) ? String(value) : value.toFixed(1);
  }

  return { el, svg, stackedBars, sparkline, legend, coloured };
})();
