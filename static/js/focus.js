// After a boosted navigation htmx swaps the page's body but leaves focus on <body>, so
// a screen reader announces nothing and a keyboard user starts over at the top. Move
// focus to the new page's main heading, as a full page load lets the reader start there.
(function () {
  "use strict";
  document.addEventListener("htmx:afterSettle", function (e) {
    if (!e.detail || !e.detail.boosted) {
      return;
    }
    var h1 = document.querySelector("main h1");
    if (!h1) {
      return;
    }
    h1.setAttribute("tabindex", "-1");
    h1.focus({ preventScroll: true });
  });
})();
