// commbase dashboard: draws the page's charts (uPlot), shows the custom range's
// dates only when chosen, and reloads the figures when the server says facts changed.
(function () {
  "use strict";
  var plots = [];
  var palette = ["#2563eb", "#16a34a", "#dc2626", "#9333ea", "#ea580c"];

  function draw() {
    plots.forEach(function (p) { p.destroy(); });
    plots = [];
    var data = document.getElementById("chart-data");
    if (!data || typeof uPlot === "undefined") return;
    var shown = JSON.parse(data.textContent);
    var charts = shown.charts;
    document.querySelectorAll(".plot[data-chart]").forEach(function (el) {
      var chart = charts[Number(el.dataset.chart)];
      if (!chart) return;
      var series = [{}].concat(chart.lines.map(function (line, i) {
        var money = line.unit === "minor";
        var name = line.label + (money ? " (" + shown.currency + ")" : "");
        return { label: name, stroke: palette[i % palette.length], width: 2 };
      }));
      var values = [chart.x].concat(chart.lines.map(function (line) {
        var scale = line.unit === "minor" ? 100 : 1;  // money arrives in minor units
        return line.values.map(function (v) { return v === null ? null : Number(v) / scale; });
      }));
      var width = Math.max(260, el.clientWidth || 300);
      plots.push(new uPlot({ width: width, height: 220, series: series, legend: { live: false } }, values, el));
    });
  }

  function customDates() {
    var range = document.getElementById("range");
    if (!range) return;
    var show = range.value === "custom";
    document.querySelectorAll(".filters .custom").forEach(function (el) { el.hidden = !show; });
  }

  var status = document.getElementById("live-status");
  var pending = false;
  var lastLoad = 0;

  function reload() {
    if (pending) return;
    pending = true;
    var wait = Math.max(0, 1000 - (Date.now() - lastLoad));
    setTimeout(function () {
      var url = location.pathname + location.search + (location.search ? "&" : "?") + "partial=1";
      fetch(url, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (r) { return r.ok ? r.text() : Promise.reject(r.status); })
        .then(function (html) {
          document.getElementById("figures").innerHTML = html;
          draw();
          lastLoad = Date.now();
          if (status) status.textContent = "Updated " + new Date().toLocaleTimeString();
        })
        .catch(function () { if (status) status.textContent = "Could not refresh the figures"; })
        .finally(function () { pending = false; });
    }, wait);
  }

  function live() {
    if (!window.EventSource) return;
    var source = new EventSource("/dashboard/events");
    source.onopen = function () { if (status) status.textContent = "Live"; };
    source.addEventListener("change", reload);
    source.onerror = function () { if (status) status.textContent = "Live updates reconnecting…"; };
  }

  var range = document.getElementById("range");
  if (range) range.addEventListener("change", customDates);
  customDates();
  draw();
  var resized;
  window.addEventListener("resize", function () { clearTimeout(resized); resized = setTimeout(draw, 200); });
  live();
})();
