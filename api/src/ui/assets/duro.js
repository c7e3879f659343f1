// Duro dashboard: progressive enhancement only; every page works without this script.
// 1. <time datetime> elements show the browser's zone, with the server's UTC text as title.
// 2. The runs table listens to /ui/runs/live (Server-Sent Events carrying its rows,
//    server-rendered, escaped HTML from this origin) so new runs and status changes appear;
//    where that is not possible it asks for the rows every few seconds while the tab is
//    visible (304 while unchanged).
// 3. A Run page whose run has not ended listens to /ui/runs/{id}/live and, on each change,
//    fetches itself and swaps in the new content (open blocks stay open); while a form of
//    the page is being filled in it only says that the run changed, with a link to reload.
// 4. "Go back" links (data-back) on refusal pages go back in the browser's history, to the
//    form as it was filled in.
// 5. Buttons with data-copy="ID" copy the text of element ID (a webhook's URL).
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

  function showRows(body, html, tag) {
    body.innerHTML = html;
    body.dataset.etag = tag || "";
    localTimes(body);
  }

  // Server-Sent Events; false when the browser has none. A stream the server refuses or
  // cuts for good (a lost session, too many pages) closes and polling takes over.
  function streamRows(body) {
    if (!window.EventSource || !body.dataset.live) return false;
    var url = body.dataset.live + (body.dataset.live.indexOf("?") < 0 ? "?" : "&") +
      "since=" + encodeURIComponent(body.dataset.etag || "");
    var source = new EventSource(url);
    source.addEventListener("rows", function (event) {
      showRows(body, event.data, event.lastEventId);
      body.dataset.updatedBy = "stream";
    });
    source.onerror = function () {
      if (source.readyState === EventSource.CLOSED) pollRows(body);
    };
    return true;
  }

  function liveRows() {
    var body = document.getElementById("runs-rows");
    if (!body) return;
    if (!streamRows(body)) pollRows(body);
  }

  function pollRows(body) {
    if (!body.dataset.refresh) return;
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
          var tag = response.headers.get("ETag") || "";
          return response.text().then(function (html) { return [html, tag]; });
        })
        .then(function (answer) {
          if (answer === null) return;
          showRows(body, answer[0], answer[1]);
          body.dataset.updatedBy = "poll";
        })
        .catch(function () {})
        .finally(function () { busy = false; });
    }, REFRESH_MS);
  }

  // A key for each open <details>, to open it again after a swap.
  function openKeys(root) {
    var keys = [], open = root.querySelectorAll("details[open]");
    for (var i = 0; i < open.length; i++) keys.push(detailsKey(open[i]));
    return keys;
  }

  function detailsKey(details) {
    var row = details.closest("[data-step], [data-seq]");
    var where = row ? (row.dataset.step || "") + "#" + (row.dataset.seq || "") : "";
    var summary = details.querySelector("summary");
    return where + "|" + (summary ? summary.textContent : "");
  }

  function busyForm(root) {
    var fields = root.querySelectorAll("textarea, input[type=text]");
    for (var i = 0; i < fields.length; i++) {
      if (fields[i].value || fields[i] === document.activeElement) return true;
    }
    return false;
  }

  function liveRun() {
    var run = document.getElementById("run");
    if (!run || !run.dataset.live || !window.EventSource) return;
    var source = new EventSource(run.dataset.live);
    source.addEventListener("changed", function () {
      if (busyForm(run)) {
        var note = document.getElementById("run-changed");
        if (!note) {
          note = document.createElement("p");
          note.id = "run-changed";
          note.className = "notice";
          note.setAttribute("role", "status");
          var link = document.createElement("a");
          link.href = window.location.href;
          link.textContent = "This run has changed: reload to see it.";
          note.appendChild(link);
          run.parentNode.insertBefore(note, run);
        }
        return;
      }
      fetch(window.location.href, { credentials: "same-origin", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (!response.ok || response.redirected) throw new Error("no page");
          return response.text();
        })
        .then(function (html) {
          var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("run");
          if (!fresh) return;
          var keys = openKeys(run);
          run.innerHTML = fresh.innerHTML;
          var all = run.querySelectorAll("details");
          for (var i = 0; i < all.length; i++) {
            if (keys.indexOf(detailsKey(all[i])) >= 0) all[i].open = true;
          }
          localTimes(run);
          run.dataset.updatedBy = "stream";
          if (!fresh.dataset.live) source.close();
        })
        .catch(function () {});
    });
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

  function backLinks() {
    var links = document.querySelectorAll("a[data-back]");
    for (var i = 0; i < links.length; i++) {
      links[i].addEventListener("click", function (event) {
        if (window.history.length > 1) {
          event.preventDefault();
          window.history.back();
        }
      });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    backLinks();
    localTimes(document);
    liveRows();
    liveRun();
    copyButtons();
  });
})();
