// Sextant dashboard: live numbers, charts (uPlot, vendored) and the close action.
// No build step, no framework. The token lives in this tab's sessionStorage and is sent only
// in the Authorization header; the dashboard never sets or reads a cookie.
(function () {
  "use strict";
  var TOKEN_KEY = "sextant-dashboard-token";
  var FLASH_KEY = "sextant-dashboard-flash";
  var body = document.body;
  var refreshS = Number(body.dataset.refreshS || 15);
  var charts = {};

  // -- number formats: the same as the server's (dashboard/formatting.py) -------------------
  function grouped(v, digits) {
    return v.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits });
  }
  var formats = {
    "money": function (v) { return grouped(v, 2); },
    "signed-money": function (v) { return (v >= 0 && !Object.is(v, -0) ? "+" : "") + grouped(v, 2); },
    "pct": function (v) { return (v >= 0 ? "+" : "") + v.toFixed(2) + " %"; },
    "signed-2": function (v) { return (v >= 0 ? "+" : "") + v.toFixed(2); },
    "price": function (v) { var t = v.toFixed(10).replace(/0+$/, "").replace(/\.$/, ""); return t || "0"; }
  };
  function show(el, value) {
    if (value === null || value === undefined) { el.textContent = "\u2013"; el.dataset.value = ""; return; }
    var f = formats[el.dataset.format || "price"];
    el.textContent = f ? f(value) : String(value);
    el.dataset.value = String(value);
    if (el.dataset.format && el.dataset.format !== "money" && el.dataset.format !== "price") {
      el.classList.remove("up", "down", "flat");
      el.classList.add(value > 0 ? "up" : value < 0 ? "down" : "flat");
    }
  }

  function flash(text, isError) {
    var box = document.getElementById("flash");
    if (!box) { return; }
    box.textContent = text;
    box.hidden = false;
    box.classList.toggle("error", !!isError);
  }

  function getJSON(url) {
    return fetch(url, { headers: { "Accept": "application/json" }, credentials: "omit" })
      .then(function (r) { if (!r.ok) { throw new Error(url + ": HTTP " + r.status); } return r.json(); });
  }

  // -- charts ---------------------------------------------------------------------------
  function width(el) { return Math.max(300, el.clientWidth - 10); }

  function equityChart() {
    var el = document.getElementById("equity-chart");
    if (!el || !window.uPlot) { return Promise.resolve(); }
    return getJSON("/api/equity").then(function (doc) {
      var src = document.getElementById("equity-source");
      if (src) { src.textContent = "Source: " + doc.source + "."; }
      var xs = doc.points.map(function (p) { return Date.parse(p[0]) / 1000; });
      var ys = doc.points.map(function (p) { return p[1]; });
      var start = xs.map(function () { return doc.starting_equity; });
      if (!xs.length) { el.textContent = "No equity observed yet: the curve starts with the first monitor pass."; return; }
      var data = [xs, ys, start];
      if (charts.equity) { charts.equity.setData(data); return; }
      el.textContent = "";
      charts.equity = new uPlot({
        width: width(el), height: 250,
        series: [
          {},
          { label: "equity", stroke: "#2556c4", width: 2, fill: "rgba(37,86,196,0.08)",
            value: function (u, v) { return v === null ? "\u2013" : grouped(v, 2); } },
          { label: "start", stroke: "#9aa5b1", dash: [4, 4], width: 1, points: { show: false } }
        ],
        axes: [{}, { size: 70, values: function (u, vals) { return vals.map(function (v) { return grouped(v, 0); }); } }],
        scales: { x: { time: true } }
      }, data, el);
    });
  }

  function llmChart() {
    var el = document.getElementById("llm-chart");
    if (!el || !window.uPlot) { return Promise.resolve(); }
    return getJSON("/api/llm").then(function (doc) {
      // the last 14 UTC days up to the budget's day, zero where nothing was spent
      var spent = {};
      doc.days.forEach(function (d) { spent[d.day] = d.cost_usd; });
      var end = Date.parse(doc.day + "T00:00:00Z") / 1000;
      var xs = [];
      for (var i = 13; i >= 0; i--) { xs.push(end - i * 86400); }
      var cost = xs.map(function (x) { return spent[new Date(x * 1000).toISOString().slice(0, 10)] || 0; });
      var budget = xs.map(function () { return doc.budget_usd; });
      var data = [xs, cost, budget];
      if (charts.llm) { charts.llm.setData(data); return; }
      el.textContent = "";
      charts.llm = new uPlot({
        width: width(el), height: 170,
        series: [
          {},
          { label: "spent $", stroke: "#b7791f", fill: "rgba(183,121,31,0.35)", width: 1,
            paths: uPlot.paths.bars({ size: [0.6, 40] }), points: { show: false } },
          { label: "budget $", stroke: "#c0322b", dash: [4, 4], width: 1, points: { show: false } }
        ],
        scales: { x: { time: true }, y: { range: function (u, lo, hi) { return [0, Math.max(hi, doc.budget_usd) * 1.1]; } } },
        axes: [{}, { size: 50 }]
      }, data, el);
    });
  }

  // -- live numbers ---------------------------------------------------------------------
  function refreshStatus() {
    var fields = document.querySelectorAll("[data-status-field][data-value]");
    if (!fields.length) { return Promise.resolve(); }
    return getJSON("/api/status").then(function (s) {
      fields.forEach(function (el) {
        var name = el.dataset.statusField;
        if (name === "open_positions") { el.textContent = String(s.positions.length); el.dataset.value = String(s.positions.length); }
        else if (name in s) { show(el, s[name]); }
      });
    });
  }

  function refreshPositions() {
    var table = document.getElementById("positions");
    var empty = document.getElementById("positions-empty");
    if (!table && !empty) { return Promise.resolve(); }
    return getJSON("/api/positions").then(function (doc) {
      var rows = table ? Array.prototype.slice.call(table.querySelectorAll("tbody tr")) : [];
      var shown = rows.map(function (r) { return r.dataset.positionId; }).sort().join(",");
      var now = doc.positions.map(function (p) { return p.position_id; }).sort().join(",");
      if (shown !== now) { window.location.reload(); return; }
      var byId = {};
      doc.positions.forEach(function (p) { byId[p.position_id] = p; });
      rows.forEach(function (r) {
        var p = byId[r.dataset.positionId];
        r.querySelectorAll("[data-field]").forEach(function (cell) {
          var name = cell.dataset.field;
          if (name === "leverage") { return; }
          if (name in p) { show(cell, p[name]); if (name === "mark" && p.mark_at) { cell.title = "at " + p.mark_at; } }
        });
      });
    });
  }

  function refresh() {
    return Promise.all([refreshStatus(), refreshPositions(), equityChart(), llmChart()])
      .catch(function (e) { flash("refresh failed: " + e.message, true); });
  }
  window.sextantRefresh = refresh;  // what the timer calls; handy from the console too

  // -- the token and the close action ---------------------------------------------------
  function token() { return sessionStorage.getItem(TOKEN_KEY); }

  function showTokenState() {
    var st = document.getElementById("token-state");
    if (st) { st.textContent = token() ? "token set (this tab)" : "no token: actions need it"; }
  }

  function closePosition(button) {
    var symbol = button.dataset.symbol;
    if (!token()) { flash("Enter the dashboard token first (SEXTANT_DASHBOARD__TOKEN).", true); return; }
    if (!window.confirm("Close the " + button.dataset.side + " " + symbol + " at market (reason: manual)?")) { return; }
    button.disabled = true;
    fetch("/api/positions/close", {
      method: "POST",
      credentials: "omit",
      headers: { "Authorization": "Bearer " + token(), "Content-Type": "application/json", "Accept": "application/json" },
      body: JSON.stringify({ symbol: symbol })
    }).then(function (r) {
      return r.json().then(function (doc) { return { status: r.status, doc: doc }; });
    }).then(function (res) {
      if (res.status !== 200) {
        if (res.status === 401) { sessionStorage.removeItem(TOKEN_KEY); showTokenState(); }
        flash("Close refused (" + res.status + "): " + (res.doc.error || "unknown error"), true);
        button.disabled = false;
        return;
      }
      var text = res.doc.closed.map(function (c) {
        return "closed " + c.side + " " + c.symbol + " " + c.quantity + " @ " + c.price + ", PnL " + formats["signed-money"](c.pnl);
      }).join("; ") || "nothing was closed";
      if (res.doc.posting_error) { text += " (posting failed: " + res.doc.posting_error + ")"; }
      sessionStorage.setItem(FLASH_KEY, text);
      window.location.reload();
    }).catch(function (e) { flash("Close failed: " + e.message, true); button.disabled = false; });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var pending = sessionStorage.getItem(FLASH_KEY);
    if (pending) { sessionStorage.removeItem(FLASH_KEY); flash(pending, false); }
    var form = document.getElementById("token-form");
    if (form) {
      form.addEventListener("submit", function (ev) {
        ev.preventDefault();
        var input = document.getElementById("token");
        if (input.value.trim()) { sessionStorage.setItem(TOKEN_KEY, input.value.trim()); }
        input.value = "";
        showTokenState();
      });
      showTokenState();
    }
    document.querySelectorAll("button.close-position").forEach(function (b) {
      b.addEventListener("click", function () { closePosition(b); });
    });
    Promise.all([equityChart(), llmChart()]).catch(function (e) { flash("charts: " + e.message, true); });
    if (refreshS > 0) { window.setInterval(refresh, refreshS * 1000); }
  });
})();
