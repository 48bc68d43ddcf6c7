// Progress without reloading: poll the job while it runs. Without JavaScript the page
// refreshes itself (meta refresh), so this is only an improvement.
(function () {
  "use strict";
  var card = document.querySelector("[data-job-url]");
  if (!card || !window.fetch) return;
  var refresh = document.querySelector('meta[http-equiv="refresh"]');
  if (refresh) refresh.parentNode.removeChild(refresh);
  var bar = card.querySelector("progress");
  var done = card.querySelector(".job-done");
  function poll() {
    fetch(card.getAttribute("data-job-url"), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (job) {
        bar.value = job.done;
        done.textContent = job.done.toLocaleString(document.documentElement.lang);
        if (job.status === "done" || job.status === "failed") {
          window.location.reload();
        } else {
          setTimeout(poll, 700);
        }
      })
      .catch(function () { setTimeout(poll, 2000); });
  }
  if (card.getAttribute("data-job-status") === "queued" || card.getAttribute("data-job-status") === "running") {
    setTimeout(poll, 500);
  }
})();
