// Moves the Connect Webview page on when Seam's webview, framed in it, says the sign-in
// ended. Only messages from the webview's own origin and frame, about this page's
// webview, are believed; the server confirms the outcome with Seam anyway. The page's
// status poll and links cover browsers without JavaScript or without the message.
"use strict";
(function () {
  var box = document.getElementById("connect-webview");
  var frame = document.getElementById("connect-frame");
  if (!box || !frame) {
    return;
  }
  var seamOrigin = box.dataset.seamOrigin;
  var returnUrl = box.dataset.returnUrl;
  var webviewId = box.dataset.webviewId;
  if (!seamOrigin || !returnUrl || !webviewId) {
    return;
  }
  var done = false;

  function target(ev) {
    var u = new URL(returnUrl, window.location.href);
    if (u.origin !== window.location.origin) {
      return null;
    }
    if (ev.event_type === "webview.login_failed") {
      // The code only picks the explanation once Seam confirms the failure; until then
      // the return page keeps waiting. The message is never shown.
      u.searchParams.set("error_code", String(ev.error_code || "login_failed").slice(0, 64));
    } else if (ev.event_type !== "webview.login_successful") {
      return null;
    }
    return u.href;
  }

  window.addEventListener("message", function (e) {
    if (done || e.origin !== seamOrigin || e.source !== frame.contentWindow) {
      return;
    }
    var data = e.data;
    if (typeof data === "string") {
      try {
        data = JSON.parse(data);
      } catch (_) {
        return;
      }
    }
    var ev = data && typeof data === "object" ? data.event : null;
    if (!ev || typeof ev !== "object" || ev.connect_webview_id !== webviewId) {
      return;
    }
    var next = target(ev);
    if (next) {
      done = true;
      window.location.assign(next);
    }
  });
})();
