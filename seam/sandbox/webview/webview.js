// Tells the page that embeds the Seam sandbox's Connect Webview how it ended, the
// way Seam's webview does: postMessage to the parent frame when framed, otherwise a
// redirect to the customer's URL. The page's "Continue" link covers browsers
// without JavaScript.
"use strict";
(function () {
  var el = document.getElementById("seam-result");
  if (!el) {
    return;
  }
  var d = el.dataset;
  if (window.top !== window.self) {
    if (!d.targetOrigin) {
      return;
    }
    var event = { event_type: d.eventType, connect_webview_id: d.connectWebviewId };
    if (d.errorCode) {
      event.error_code = d.errorCode;
      event.error_message = d.errorMessage || "";
    }
    window.parent.postMessage({ event: event }, d.targetOrigin);
  } else if (d.redirectUrl) {
    window.location.replace(d.redirectUrl);
  }
})();
