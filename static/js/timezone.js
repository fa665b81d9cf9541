// Reports the browser's time zone once, so pages show times in it. The page says the
// zone it knows on <body data-time-zone>; when that is unset, or differs from the
// browser's and this browser has not reported its zone before (a choice made on
// /settings is kept), the zone is POSTed and the page reloaded to show local times
// (unless they were UTC already).
(function () {
  "use strict";
  var body = document.body;
  var url = body && body.getAttribute("data-time-zone-report");
  if (!url || !window.fetch || !window.Intl) return;
  var zone;
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  } catch (e) {
    return;
  }
  if (!zone) return;
  var known = body.getAttribute("data-time-zone") || "";
  if (known === zone) return;
  var key = "latchkey.time-zone-reported";
  var reported = null;
  try {
    reported = window.localStorage.getItem(key);
  } catch (e) {}
  if (known !== "" && reported === zone) return;
  var form = new URLSearchParams();
  form.set("time_zone", zone);
  form.set("source", "browser");
  fetch(url, {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: form.toString(),
  }).then(function (res) {
    if (!res.ok) return;
    try {
      window.localStorage.setItem(key, zone);
    } catch (e) {}
    // The page's times were in UTC: a UTC browser has nothing to redraw.
    if (known === "" && /^(Etc\/)?(UTC|UCT|GMT|Universal|Zulu)$/.test(zone)) return;
    window.location.reload();
  });
})();
