// Keeps the peer table's handshake ages and transfer counters live: the
// server renders the rows, this only swaps them in every few seconds.
(function () {
  "use strict";
  var body = document.getElementById("peer-rows");
  if (!body) return;
  function refresh() {
    fetch("/peers", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { if (r.ok && !r.redirected) return r.text(); throw new Error(r.status); })
      .then(function (html) { body.innerHTML = html; })
      .catch(function () {});
  }
  setInterval(refresh, 3000);
})();
