// A search's page: draws its step metrics, follows it live over server-sent events while it
// runs (reloading once it ends, for the result), and shows the Pareto tooltip.
(function () {
  "use strict";
  var script = document.currentScript;
  var searchId = script.dataset.search;
  var steps = JSON.parse(document.getElementById("initial-steps").textContent);
  var SERIES = ["expected_latency_ms", "weight_loss", "entropy", "measurements_used"];
  var NS = "http://www.w3.org/2000/svg";

  function draw(name) {
    var svg = document.getElementById("chart-" + name);
    if (!svg) return;
    var points = steps.filter(function (s) { return typeof s[name] === "number"; });
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var w = 340, h = 160, left = 44, bottom = 20, top = 8;
    var axis = document.createElementNS(NS, "path");
    axis.setAttribute("class", "axis");
    axis.setAttribute("d", "M" + left + " " + top + "V" + (h - bottom) + "H" + w);
    svg.appendChild(axis);
    if (!points.length) return;
    var xs = points.map(function (p) { return p.step; });
    var ys = points.map(function (p) { return p[name]; });
    var x0 = Math.min.apply(null, xs), x1 = Math.max.apply(null, xs) || 1;
    var y0 = Math.min.apply(null, ys), y1 = Math.max.apply(null, ys);
    if (y1 === y0) { y1 += 1; y0 -= 1; }
    if (x1 === x0) { x1 += 1; }
    var path = points.map(function (p, i) {
      var x = left + (p.step - x0) / (x1 - x0) * (w - left - 4);
      var y = top + (y1 - p[name]) / (y1 - y0) * (h - top - bottom);
      return (i ? "L" : "M") + x.toFixed(1) + " " + y.toFixed(1);
    }).join("");
    var line = document.createElementNS(NS, "path");
    line.setAttribute("class", "series");
    line.setAttribute("d", path);
    svg.appendChild(line);
    [[y1, top + 8], [y0, h - bottom]].forEach(function (t) {
      var label = document.createElementNS(NS, "text");
      label.setAttribute("x", left - 4);
      label.setAttribute("y", t[1]);
      label.setAttribute("text-anchor", "end");
      label.textContent = Number(t[0].toPrecision(3));
      svg.appendChild(label);
    });
    var last = document.createElementNS(NS, "text");
    last.setAttribute("x", w - 4);
    last.setAttribute("y", h - 4);
    last.setAttribute("text-anchor", "end");
    last.textContent = "step " + x1;
    svg.appendChild(last);
  }

  function redraw() {
    SERIES.forEach(draw);
    document.getElementById("events-count").textContent = steps.length;
  }

  function follow() {
    var source = new EventSource("/ui/searches/" + searchId + "/stream?after=" + script.dataset.after);
    source.addEventListener("step", function (e) {
      steps.push(JSON.parse(e.data));
      redraw();
    });
    source.addEventListener("state", function (e) {
      var s = JSON.parse(e.data);
      var state = document.getElementById("search-state");
      state.textContent = s.state;
      state.className = "state state-" + s.state;
      document.getElementById("search-step").textContent = s.progress.step || 0;
      ["measurements_used", "measurements_pending"].forEach(function (key) {
        if (typeof s.progress[key] === "number") {
          document.getElementById(key.replace("_", "-")).textContent = s.progress[key];
        }
      });
      if (s.progress.oracle) {
        document.getElementById("measurement-requests").textContent = s.progress.oracle.requests;
      }
    });
    source.addEventListener("end", function () {
      source.close();
      document.getElementById("live").textContent = "(ended)";
      window.location.reload();
    });
  }

  function tooltips() {
    var tip = document.getElementById("tooltip");
    if (!tip) return;
    function show(e) {
      var d = e.target.dataset;
      tip.textContent = d.arch + " · predicted " + d.predicted + " · measured " + d.measured +
        " · supernet accuracy " + d.accuracy;
      var box = e.target.getBoundingClientRect();
      tip.style.left = (box.right + window.scrollX + 8) + "px";
      tip.style.top = (box.top + window.scrollY - 8) + "px";
      tip.hidden = false;
    }
    function hide() { tip.hidden = true; }
    document.querySelectorAll("svg.pareto .point").forEach(function (p) {
      p.addEventListener("mouseenter", show);
      p.addEventListener("focus", show);
      p.addEventListener("mouseleave", hide);
      p.addEventListener("blur", hide);
    });
  }

  redraw();
  tooltips();
  if (script.dataset.ended !== "true") follow();
})();
