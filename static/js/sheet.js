// Live preview: when a setting changes, show the new first page without a full reload.
// Without JavaScript the "Update the preview" button does the same.
(function () {
  "use strict";
  var form = document.getElementById("sheet-form");
  var img = document.getElementById("sheet-preview");
  if (!form || !img) return;
  var base = img.getAttribute("src").split("?")[0];
  var timer = null;
  function update() {
    var query = new URLSearchParams(new FormData(form)).toString();
    img.setAttribute("src", base + "?" + query);
    var link = form.querySelector("a[download]");
    if (link) link.setAttribute("href", link.getAttribute("href").split("?")[0] + "?" + query);
    window.history.replaceState(null, "", window.location.pathname + "?" + query);
  }
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(update, 400);
  });
})();
