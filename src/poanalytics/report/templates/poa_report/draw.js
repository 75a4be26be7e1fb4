// Draw every chart of the report from its plotly JSON (script type="application/json"). Only the
// exporter writes data-spec (the sanitizer keeps no data-* attribute), so markup from an output
// that merely looks like a chart box is left alone.
(function () {
  "use strict";
  var boxes = document.querySelectorAll("div.poa-chart[data-spec]");
  for (var i = 0; i < boxes.length; i++) {
    var box = boxes[i];
    var holder = document.getElementById(box.getAttribute("data-spec"));
    try {
      var spec = JSON.parse(holder.textContent);
      Plotly.newPlot(box, spec.data || [], spec.layout || {}, spec.config || {});
    } catch (err) {
      box.className += " poa-error";
      box.textContent = "This chart could not be drawn: " + err;
      if (window.console) { console.error(err); }
    }
  }
})();
