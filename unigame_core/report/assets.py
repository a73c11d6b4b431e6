"""The style sheet and the small script inlined into report.html (the page loads nothing from anywhere).

The script adds, under each chart, a readout of the values at the step under the pointer (the last step
when the pointer is elsewhere) and a cursor line; everything else on the page is plain HTML and SVG.
"""

CSS = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 24px auto; max-width: 1180px;
       padding: 0 16px; color: #1b1f24; background: #fff; overflow-wrap: anywhere; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.status { color: #444; margin: 0 0 12px; } .status b { color: #1b1f24; }
.interrupted { color: #b35900; } .finished { color: #1a7f37; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { border: 1px solid #d0d7de; padding: 3px 9px; text-align: right; overflow-wrap: normal; }
th { background: #f6f8fa; white-space: nowrap; } td:not(.text) { white-space: nowrap; }
td.text, th.text { text-align: left; }
.up { color: #1a7f37; } .down { color: #cf222e; }
h3 { font-size: 14px; margin: 16px 0 6px; }
.scroll { overflow-x: auto; max-width: 100%; } .scroll table { width: max-content; }
td.text { max-width: 24em; }
.lead { font-size: 14px; margin: 0 0 6px; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(370px, 100%), 1fr)); gap: 10px 18px; }
.charts.wide { grid-template-columns: 1fr; max-width: 820px; }
figure { margin: 0; } figure.chart svg { width: 100%; height: auto; display: block; }
svg .frame { fill: #fbfcfd; stroke: #d0d7de; } svg .grid { stroke: #eaeef2; }
svg .curve { fill: none; stroke-width: 1.8; } svg .cursor { stroke: #888; stroke-dasharray: 3 3; }
svg text { font-size: 11px; fill: #57606a; } svg .title { font-size: 13px; font-weight: 600; fill: #1b1f24; }
svg .legend { font-size: 11px; } svg .empty { font-size: 13px; }
.readout { font-size: 12px; color: #444; min-height: 1.4em; font-variant-numeric: tabular-nums; }
.sample-row { display: flex; flex-wrap: wrap; gap: 6px 16px; align-items: flex-start; margin: 0 0 12px; }
.panels { display: flex; gap: 6px; }
.panels img { width: 128px; height: auto; image-rendering: pixelated; border: 1px solid #d0d7de; display: block; }
.panels figcaption, figure.legacy figcaption { font-size: 11px; color: #444; max-width: 128px; }
.qa { flex: 1 1 220px; min-width: 0; } .qa p { margin: 0 0 3px; } .right { color: #1a7f37; }
figure.legacy img { max-width: 100%; height: auto; image-rendering: pixelated; border: 1px solid #d0d7de; }
pre { background: #f6f8fa; padding: 10px; overflow: auto; font-size: 12px; max-height: 520px; }
.note { color: #57606a; font-size: 12px; } .note.warn { color: #b35900; }
"""

JS = """
(function () {
  function fmt(v) {  // as the page's numbers (numbers.py): 3 significant digits, whole from 100 on
    if (Number.isInteger(v) || Math.abs(v) >= 100) { return String(Math.round(v)); }
    return Math.abs(v) < 1e-3 ? v.toExponential(2) : String(+v.toPrecision(3));
  }
  function nearest(points, step) {
    var best = null;
    points.forEach(function (p) { if (p[0] <= step && (!best || p[0] > best[0])) { best = p; } });
    return best || points[0];
  }
  var charts = document.querySelectorAll('figure.chart');
  charts.forEach(function (fig) {
    var series = JSON.parse(fig.getAttribute('data-series') || '{}');
    var names = Object.keys(series);
    var readout = document.createElement('div');
    readout.className = 'readout';
    fig.appendChild(readout);
    if (!names.length) { readout.textContent = 'no data'; return; }
    var last = Math.max.apply(null, names.map(function (n) { return series[n][series[n].length - 1][0]; }));
    function show(step) {
      readout.textContent = 'step ' + Math.round(step) + ': ' + names.map(function (n) {
        var p = nearest(series[n], step); return n + ' ' + fmt(p[1]) + (p[0] !== step ? ' (step ' + p[0] + ')' : '');
      }).join(' \\u00b7 ');
    }
    show(last);
    var svg = fig.querySelector('svg'), plot = fig.querySelector('g.plot');
    if (!plot) { return; }
    var x0 = +plot.dataset.x0, x1 = +plot.dataset.x1, left = +plot.dataset.left, width = +plot.dataset.width;
    var cursor = document.createElementNS('http://www.w3.org/2000/svg', 'line');
    cursor.setAttribute('class', 'cursor');
    cursor.setAttribute('y1', 26); cursor.setAttribute('y2', svg.viewBox.baseVal.height - 30);
    cursor.style.display = 'none';
    plot.appendChild(cursor);
    svg.addEventListener('mousemove', function (ev) {
      var box = svg.getBoundingClientRect(), scale = svg.viewBox.baseVal.width / box.width;
      var x = (ev.clientX - box.left) * scale, step = x0 + (x - left) / width * (x1 - x0);
      step = Math.min(Math.max(step, x0), x1);
      cursor.setAttribute('x1', x); cursor.setAttribute('x2', x); cursor.style.display = '';
      show(step);
    });
    svg.addEventListener('mouseleave', function () { cursor.style.display = 'none'; show(last); });
  });
  document.documentElement.setAttribute('data-charts-ready', String(charts.length));
})();
"""
