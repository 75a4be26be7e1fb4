// Draw every chart of the report from its plotly JSON (script type="application/json").
(function () {
  "use strict";
  var boxes = document.querySelectorAll("div.poa-chart");
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
