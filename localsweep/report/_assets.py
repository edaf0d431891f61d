"""The report's own CSS and JavaScript, inlined into every report (no file to ship, no
network at view time). The JavaScript only ever writes user data with ``textContent``."""

from __future__ import annotations

__all__ = ["ERROR_HOOK_JS", "REPORT_CSS", "REPORT_JS"]

#: First script of the page: records every error (thrown, rejected, console.error) into
#: ``#js-errors``, so that a headless browser's DOM dump says whether the page broke.
ERROR_HOOK_JS = r"""
(function () {
  var errors = [];
  function show() {
    var el = document.getElementById("js-errors");
    if (!el) { return; }
    el.textContent = errors.join("\n");
    el.setAttribute("data-count", String(errors.length));
    if (errors.length) { el.hidden = false; }
  }
  window.__localsweepError = function (message) { errors.push(String(message)); show(); };
  window.addEventListener("error", function (e) {
    window.__localsweepError((e.message || "error") + " (" + (e.filename || "") + ":" +
      (e.lineno || 0) + ")");
  });
  window.addEventListener("unhandledrejection", function (e) {
    var r = e.reason;
    window.__localsweepError("unhandled rejection: " + (r && r.stack ? r.stack : r));
  });
  var consoleError = console.error;
  console.error = function () {
    window.__localsweepError("console.error: " + Array.prototype.join.call(arguments, " "));
    return consoleError.apply(console, arguments);
  };
  document.addEventListener("DOMContentLoaded", show);
})();
"""

REPORT_JS = r"""
(function () {
  var data = JSON.parse(document.getElementById("sweep-data").textContent);
  var body = document.body;
  var config = {responsive: true, displaylogo: false};
  var specs = {};
  // plotly's script is inlined before this one in a report; a live page loads it after its
  // first paint and calls window.__localsweepPlotlyLoaded when it has.
  var plotlyReady = window.Plotly ? Promise.resolve() : new Promise(function (resolve) {
    window.__localsweepPlotlyLoaded = resolve;
  });

  function fmt(v) {
    if (v === null || v === undefined) { return ""; }
    if (typeof v === "number") {
      if (Number.isInteger(v)) { return String(v); }
      return String(parseFloat(v.toPrecision(6)));
    }
    if (typeof v === "object") { return JSON.stringify(v); }
    return String(v);
  }

  // Plots: every figure is drawn from JSON data, with the shared template. Plotly.react
  // draws a new figure on an empty div and updates one in place on a drawn div.
  // Plots are drawn one at a time, each after the page has painted (a large plot can take
  // the browser a second): what changed in the text and the table shows first, and the
  // page answers clicks between two plots.
  var queue = Promise.resolve();
  function afterPaint() {
    return new Promise(function (resolve) {
      var done = false;
      function go() { if (!done) { done = true; resolve(); } }
      requestAnimationFrame(function () { setTimeout(go, 0); });
      setTimeout(go, 200);  // a hidden tab has no animation frames
    });
  }
  function later(work) {
    queue = queue.then(function () { return plotlyReady; }).then(afterPaint).then(work)
      .catch(function (err) {
        window.__localsweepError("plot: " + (err && err.stack ? err.stack : err));
      });
    return queue;
  }
  function react(plot) {
    var div = document.getElementById(plot.id);
    if (!div || specs[plot.id] !== plot) { return null; }
    var layout = plot.layout || {};
    if (data.template) { layout.template = data.template; }
    return Plotly.react(div, plot.data, layout, config);
  }
  function draw(plot) {
    specs[plot.id] = plot;
    return later(function () { return react(plot); });
  }

  // Points appended to some traces of a drawn plot (a running run's curve grew): groups
  // of {update: {path: [points per trace]}, traces: [indices]}.
  function extend(change) {
    var spec = specs[change.id];
    if (!spec) {
      window.__localsweepError("no plot " + change.id + " to extend");
      return null;
    }
    return later(function () {
      var div = document.getElementById(change.id);
      if (div && div.data && specs[change.id] === spec && !change.redraw) {
        return change.extend.reduce(function (done, group) {
          return done.then(function () {
            return Plotly.extendTraces(div, group.update, group.traces);
          });
        }, Promise.resolve()).then(function () {
          spec.data = div.data;
          body.setAttribute("data-extended",
            String(Number(body.getAttribute("data-extended") || "0") + 1));
        });
      }
      // Not drawn (yet), or not extendable: add the points to its spec, draw it anew.
      spec = {id: spec.id, layout: spec.layout, data: spec.data.map(function (t) {
        return JSON.parse(JSON.stringify(t));
      })};
      change.extend.forEach(function (group) {
        Object.keys(group.update).forEach(function (path) {
          group.traces.forEach(function (t, j) {
            var node = spec.data[t], keys = path.split(".");
            keys.slice(0, -1).forEach(function (k) { node = node[k] = node[k] || {}; });
            var last = keys[keys.length - 1];
            node[last] = (node[last] || []).concat(group.update[path][j]);
          });
        });
      });
      specs[change.id] = spec;
      return react(spec);
    });
  }

  var pending = [];
  data.plots.forEach(function (plot) {
    if (!document.getElementById(plot.id)) {
      window.__localsweepError("no element for plot " + plot.id);
      return;
    }
    pending.push(draw(plot));
  });
  Promise.all(pending).then(function () {
    body.setAttribute("data-plots-rendered",
      String(document.querySelectorAll(".js-plotly-plot").length));
  }, function (err) {
    window.__localsweepError("plot failed: " + (err && err.stack ? err.stack : err));
  });

  // Runs table, sortable by any column.
  var table = data.table;
  var tbody = document.querySelector("#runs-table tbody");
  var headRow = document.querySelector("#runs-table thead tr");
  var rows = table.rows.slice();
  var sortCol = -1, sortDir = 1;
  // The first rows are shown at once, the rest on asking (thousands of rows take a browser
  // a while to lay out).
  var PAGE = 200, shown = PAGE;
  var more = document.createElement("button");
  more.type = "button";
  more.id = "runs-more";
  more.hidden = true;
  more.addEventListener("click", function () { shown = Infinity; render(); });
  document.querySelector(".table-wrap").insertAdjacentElement("afterend", more);

  function render() {
    var frag = document.createDocumentFragment();
    rows.slice(0, shown).forEach(function (row) {
      var tr = document.createElement("tr");
      // The best run, or a multi-objective sweep's Pareto set (its mark column).
      if (row[table.id_column] === data.best_run_id ||
          (table.mark_column !== undefined && row[table.mark_column])) { tr.className = "best"; }
      tr.setAttribute("data-state", String(row[table.state_column]));
      tr.setAttribute("data-run", String(row[table.id_column]));
      row.forEach(function (value, i) {
        var td = document.createElement("td");
        td.textContent = fmt(value);
        if (typeof value === "number") { td.className = "num"; }
        if (i === table.state_column) { td.className = "state state-" + String(value); }
        if (i === table.id_column && data.run_link) {
          td.textContent = "";
          var a = document.createElement("a");
          a.href = data.run_link + encodeURIComponent(String(value));
          a.textContent = String(value);
          td.appendChild(a);
        }
        tr.appendChild(td);
      });
      frag.appendChild(tr);
    });
    tbody.textContent = "";
    tbody.appendChild(frag);
    body.setAttribute("data-table-rows", String(rows.length));
    more.hidden = rows.length <= shown;
    more.textContent = "show all " + rows.length + " runs";
  }

  function compare(a, b) {
    var empty_a = a === null || a === undefined || a === "";
    var empty_b = b === null || b === undefined || b === "";
    if (empty_a || empty_b) { return empty_a === empty_b ? 0 : (empty_a ? 1 : -1) * sortDir; }
    if (typeof a === "number" && typeof b === "number") { return a - b; }
    return fmt(a).localeCompare(fmt(b), undefined, {numeric: true});
  }

  function sortRows() {
    if (sortCol < 0) { return; }
    rows.sort(function (ra, rb) { return compare(ra[sortCol], rb[sortCol]) * sortDir; });
  }

  function sortBy(col, dir) {
    sortCol = col;
    sortDir = dir;
    sortRows();
    Array.prototype.forEach.call(headRow.children, function (h, i) {
      if (i === col) { h.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending"); }
      else { h.removeAttribute("aria-sort"); }
    });
    render();
  }

  function header() {
    headRow.textContent = "";
    table.columns.forEach(function (name, i) {
      var th = document.createElement("th");
      th.textContent = name;
      th.setAttribute("data-col", String(i));
      th.setAttribute("title", "sort by " + name);
      if (i === sortCol) { th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending"); }
      th.addEventListener("click", function () {
        sortBy(i, sortCol === i ? -sortDir : 1);
      });
      headRow.appendChild(th);
    });
  }
  header();
  render();

  // A live page (localsweep ui) hands the server's updates to apply(): only the parts,
  // plots and table rows that changed. Parts are HTML the server escaped.
  function apply(update) {
    data.best_run_id = update.best_run_id;
    data.version = update.version;
    var toDraw = {};
    Object.keys(update.parts).forEach(function (name) {
      var el = document.querySelector('[data-part="' + name + '"]');
      if (!el) { return; }
      var drawnDivs = {};
      Array.prototype.forEach.call(el.querySelectorAll(".ls-plot"), function (div) {
        if (div.data) { drawnDivs[div.id] = div; }
      });
      el.innerHTML = update.parts[name];
      // A plot already drawn keeps its element (no redraw); the others are drawn.
      Array.prototype.forEach.call(el.querySelectorAll(".ls-plot"), function (div) {
        if (drawnDivs[div.id]) { div.replaceWith(drawnDivs[div.id]); }
        else if (specs[div.id]) { toDraw[div.id] = specs[div.id]; }
      });
    });
    var extended = [];
    update.plots.forEach(function (plot) {
      if (plot.extend) { extended.push(plot); } else { toDraw[plot.id] = plot; }
    });
    var drawn = Object.keys(toDraw).map(function (id) { return draw(toDraw[id]); });
    extended.forEach(function (change) { drawn.push(extend(change)); });
    var tableChanged = Boolean(update.table) || Boolean(update.rows && (
      update.rows.changed.length || update.rows.removed.length));
    if (update.table) {
      var sameColumns = JSON.stringify(update.table.columns) === JSON.stringify(table.columns);
      table = update.table;
      rows = table.rows.slice();
      if (!sameColumns) { sortCol = -1; header(); }
    } else if (update.rows) {
      var gone = {};
      update.rows.removed.forEach(function (id) { gone[id] = true; });
      var byId = {};
      update.rows.changed.forEach(function (row) { byId[String(row[table.id_column])] = row; });
      rows = rows.filter(function (row) { return !gone[String(row[table.id_column])]; })
        .map(function (row) {
          var id = String(row[table.id_column]);
          var fresh = byId[id];
          if (fresh) { delete byId[id]; return fresh; }
          return row;
        });
      Object.keys(byId).forEach(function (id) { rows.push(byId[id]); });
    }
    if (tableChanged) {  // an update of plots alone leaves the rows (and a selection) be
      sortRows();
      render();
    }
    document.title = update.title;
    return Promise.all(drawn);
  }

  window.localsweepPage = {
    apply: apply,
    version: function () { return data.version; },
    sortBy: sortBy,
    setRunLink: function (prefix) { data.run_link = prefix; render(); }
  };
})();
"""

REPORT_CSS = r"""
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg2: #f6f8fa;
        --accent: #7c3aed; --good: #1a7f37; --bad: #cf222e; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       color: var(--fg); margin: 0; padding: 24px 32px 64px; max-width: 1500px; }
h1 { font-size: 22px; margin: 0 0 4px; }
h2 { font-size: 17px; margin: 36px 0 8px; padding-bottom: 4px;
     border-bottom: 1px solid var(--line); }
h3 { font-size: 14px; margin: 0 0 6px; }
.muted, .hint { color: var(--muted); }
.hint { font-size: 12.5px; margin: 0 0 8px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; background: #fff; }
.card .label { color: var(--muted); font-size: 12px; text-transform: uppercase;
               letter-spacing: .04em; }
.card .value { font-size: 20px; font-weight: 600; overflow-wrap: anywhere; }
.two { display: grid; grid-template-columns: 1fr 1fr; gap: 16px; margin-top: 12px; }
@media (max-width: 900px) { .two { grid-template-columns: 1fr; } }
pre { background: var(--bg2); border: 1px solid var(--line); border-radius: 6px; padding: 10px 12px;
      overflow: auto; max-height: 420px; margin: 0; font-size: 12.5px; white-space: pre-wrap; }
.chips span { display: inline-block; border-radius: 12px; padding: 1px 10px; margin: 2px 4px 2px 0;
              background: var(--bg2); border: 1px solid var(--line); font-size: 12.5px; }
.ls-plot { width: 100%; min-height: 420px; }
.slices { display: grid; grid-template-columns: repeat(auto-fill, minmax(420px, 1fr)); gap: 8px; }
.slices .ls-plot { min-height: 360px; }
table { border-collapse: collapse; width: 100%; font-size: 12.5px; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
         vertical-align: top; }
th { background: var(--bg2); position: sticky; top: 0; cursor: pointer; user-select: none;
     white-space: nowrap; }
th[aria-sort="ascending"]::after { content: " \25B2"; }
th[aria-sort="descending"]::after { content: " \25BC"; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.best td { background: #f3e8ff; }
#runs-more { margin-top: 6px; }
.table-wrap { max-height: 640px; overflow: auto; border: 1px solid var(--line);
              border-radius: 6px; }
.state-finished { color: var(--good); }
.state-failed, .state-crashed, .state-killed { color: var(--bad); }
.state-early_terminated { color: #bc4c00; }
.imp td.bar { width: 32%; }
.bar-box { position: relative; height: 14px; background: var(--bg2); border-radius: 3px; }
.bar-fill { position: absolute; top: 0; bottom: 0; border-radius: 3px; }
.bar-fill.imp { left: 0; background: var(--accent); }
.bar-fill.pos { left: 50%; background: var(--good); }
.bar-fill.neg { right: 50%; background: var(--bad); }
.bar-box.signed::before { content: ""; position: absolute; left: 50%; top: -2px; bottom: -2px;
                          border-left: 1px solid var(--muted); }
#js-errors { color: var(--bad); }
.empty { padding: 24px; color: var(--muted); border: 1px dashed var(--line); border-radius: 6px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""
