/* Charts of reports and dashboard widgets.
 *
 * Any <canvas data-chart='{…}'> on the page is drawn with Chart.js, also inside content
 * that htmx swaps in later; a canvas that is swapped out is destroyed first, and a canvas
 * whose data-chart changed is drawn again. The JSON is ChartData.as_chartjs():
 *   {type, data: {labels, datasets}, options, pulse: {format: number|money|percent, currency}}
 * pulse.format / pulse.currency decide how ticks and tooltips show numbers.
 *
 * Chart.js is loaded by the page (vendor/chart.js/chart.umd.min.js); when it is not, the
 * <script src=report_chart.js data-chartjs="…chart.umd.min.js"> attribute names it and it
 * is loaded on first need. window.PulseCharts.draw(root) / .destroy(root) are public.
 */
(function () {
  "use strict";
  if (window.PulseCharts) return;

  var PALETTE = ["#0d6efd", "#198754", "#fd7e14", "#6f42c1", "#20c997", "#dc3545",
    "#ffc107", "#0dcaf0", "#d63384", "#6c757d", "#6610f2", "#adb5bd"];
  var script = document.currentScript;
  var chartjsSrc = script && script.dataset.chartjs;
  var waiting = [];

  function withChart(callback) {
    if (window.Chart) { callback(); return; }
    waiting.push(callback);
    if (waiting.length > 1 || !chartjsSrc) return;
    var tag = document.createElement("script");
    tag.src = chartjsSrc;
    tag.onload = function () { var queue = waiting; waiting = []; queue.forEach(function (f) { f(); }); };
    document.head.appendChild(tag);
  }

  function locale() { return document.documentElement.lang || undefined; }

  function formatter(meta, compact) {
    var format = (meta && meta.format) || "number";
    var currency = meta && meta.currency;
    var nf;
    try {
      if (format === "money" && currency) {
        nf = new Intl.NumberFormat(locale(), {style: "currency", currency: currency,
          notation: compact ? "compact" : "standard", maximumFractionDigits: compact ? 1 : 2});
      } else {
        nf = new Intl.NumberFormat(locale(), {notation: compact ? "compact" : "standard",
          maximumFractionDigits: compact ? 1 : 2});
      }
    } catch (e) {
      nf = new Intl.NumberFormat(undefined, {maximumFractionDigits: 2});
    }
    return function (value) {
      if (value === null || value === undefined || value === "") return "";
      var n = Number(value);
      if (isNaN(n)) return String(value);
      // Percent values arrive as percent points (34.5 means 34.5 %).
      return format === "percent" ? nf.format(n) + " %" : nf.format(n);
    };
  }

  function colour(config) {
    var round = config.type === "doughnut" || config.type === "pie";
    (config.data.datasets || []).forEach(function (ds, i) {
      if (ds.backgroundColor) return;
      if (round || (config.data.datasets.length === 1 && config.pulse && config.pulse.funnel)) {
        ds.backgroundColor = config.data.labels.map(function (_, j) { return PALETTE[j % PALETTE.length]; });
      } else {
        ds.backgroundColor = PALETTE[i % PALETTE.length];
        ds.borderColor = PALETTE[i % PALETTE.length];
      }
    });
  }

  function configure(config) {
    var meta = config.pulse || {};
    var full = formatter(meta, false);
    var compact = formatter(meta, true);
    var options = config.options = config.options || {};
    var plugins = options.plugins = options.plugins || {};
    var round = config.type === "doughnut" || config.type === "pie";
    if (!round && (options.indexAxis === "y")) meta.funnel = true;
    config.pulse = meta;
    colour(config);
    plugins.legend = plugins.legend || {};
    if (plugins.legend.display === undefined) {
      plugins.legend.display = round || (config.data.datasets || []).length > 1;
    }
    if (round) plugins.legend.position = plugins.legend.position || "bottom";
    plugins.tooltip = plugins.tooltip || {};
    plugins.tooltip.callbacks = plugins.tooltip.callbacks || {};
    plugins.tooltip.callbacks.label = function (ctx) {
      var value = round ? ctx.parsed : (options.indexAxis === "y" ? ctx.parsed.x : ctx.parsed.y);
      var label = round ? ctx.label : ctx.dataset.label;
      return (label ? label + ": " : "") + full(value);
    };
    if (!round) {
      var valueAxis = options.indexAxis === "y" ? "x" : "y";
      options.scales = options.scales || {};
      var axis = options.scales[valueAxis] = options.scales[valueAxis] || {};
      axis.beginAtZero = true;
      axis.ticks = axis.ticks || {};
      axis.ticks.callback = function (value) { return compact(value); };
      // Counts have no halves: whole-number ticks when every value is whole.
      var whole = (config.data.datasets || []).every(function (ds) {
        return (ds.data || []).every(function (v) { return v === null || Number.isInteger(Number(v)); });
      });
      if (whole && axis.ticks.precision === undefined) axis.ticks.precision = 0;
    }
    return config;
  }

  function drawCanvas(canvas) {
    var raw = canvas.getAttribute("data-chart");
    if (!raw) return;
    var existing = window.Chart.getChart(canvas);
    if (existing) {
      if (canvas.dataset.chartDrawn === raw) return;
      existing.destroy();
    }
    var config;
    try { config = JSON.parse(raw); } catch (e) { return; }
    canvas.dataset.chartDrawn = raw;
    new window.Chart(canvas, configure(config));
  }

  function draw(root) {
    root = root || document;
    var canvases = [];
    if (root.matches && root.matches("canvas[data-chart]")) canvases.push(root);
    if (root.querySelectorAll) {
      root.querySelectorAll("canvas[data-chart]").forEach(function (c) { canvases.push(c); });
    }
    if (!canvases.length) return;
    withChart(function () { canvases.forEach(drawCanvas); });
  }

  function destroy(root) {
    if (!window.Chart || !root) return;
    var canvases = [];
    if (root.matches && root.matches("canvas")) canvases.push(root);
    if (root.querySelectorAll) root.querySelectorAll("canvas").forEach(function (c) { canvases.push(c); });
    canvases.forEach(function (canvas) {
      var chart = window.Chart.getChart(canvas);
      if (chart) chart.destroy();
      delete canvas.dataset.chartDrawn;
    });
  }

  window.PulseCharts = {draw: draw, destroy: destroy, format: formatter};

  // Swapped-out content gives its charts back before it goes (no resize observers left
  // behind); swapped-in content is drawn once htmx has settled it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail && event.detail.target;
    if (target && event.detail.shouldSwap !== false) destroy(target);
  });
  // After an outerHTML swap the event's element is the detached old one, so look over the
  // whole document: canvases already drawn with the same data are skipped.
  document.addEventListener("htmx:afterSettle", function () { draw(document); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { draw(document); });
  } else {
    draw(document);
  }
})();
