// Duro dashboard: progressive enhancement only; every page works without this script.
// 1. <time datetime> elements show the browser's zone, with the server's UTC text as title.
// 2. The runs table re-fetches its rows (server-rendered, escaped HTML from this origin)
//    every few seconds while the tab is visible, so new runs and status changes appear.
// 3. Buttons with data-copy="ID" copy the text of element ID (a webhook's URL).
(function () {
  "use strict";
  var REFRESH_MS = 3000;

  function localTimes(root) {
    var times = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var el = times[i];
      if (el.dataset.local) continue;
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime())) continue;
      el.title = el.textContent;
      el.textContent = when.toLocaleString();
      el.dataset.local = "1";
    }
  }

  function liveRows() {
    var body = document.getElementById("runs-rows");
    if (!body || !body.dataset.refresh) return;
    var busy = false, stopped = false;
    setInterval(function () {
      if (busy || stopped || document.hidden) return;
      busy = true;
      // The server answers 304 while the rows are those shown (their entity tag).
      fetch(body.dataset.refresh, {
        credentials: "same-origin",
        headers: { Accept: "text/html", "If-None-Match": body.dataset.etag || "" }
      })
        .then(function (response) {
          if (response.status === 304) return null;
          // A lost session answers with the sign-in page: stop quietly, the next click signs in.
          if (!response.ok || response.redirected) {
            stopped = true;
            throw new Error("refresh stopped");
          }
          body.dataset.etag = response.headers.get("ETag") || "";
          return response.text();
        })
        .then(function (html) {
          if (html === null) return;
          body.innerHTML = html;
          localTimes(body);
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, REFRESH_MS);
  }

  function copyButtons() {
    var buttons = document.querySelectorAll("button[data-copy]");
    for (var i = 0; i < buttons.length; i++) {
      buttons[i].addEventListener("click", function (event) {
        var button = event.currentTarget;
        var source = document.getElementById(button.dataset.copy);
        var said = button.parentNode.querySelector(".copied");
        if (!source) return;
        var text = source.textContent;
        var done = function () { if (said) said.textContent = "Copied"; };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () {
            if (said) said.textContent = "Select the URL and copy it";
          });
        } else {
          var range = document.createRange();
          range.selectNodeContents(source);
          var selection = window.getSelection();
          selection.removeAllRanges();
          selection.addRange(range);
          if (said) said.textContent = "Selected: press Ctrl+C";
        }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    localTimes(document);
    liveRows();
    copyButtons();
  });
})();
