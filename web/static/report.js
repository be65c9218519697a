// The report viewer: /reports/<id>#<chunk_id> highlights that passage, brings it into view and moves
// focus to it, so keyboard and screen-reader users start reading where the citation points.
"use strict";
(() => {
  const note = document.getElementById("cited-note");
  const noteLink = document.getElementById("cited-link");
  let current = null;

  function targetFromHash() {
    try {
      const id = decodeURIComponent(location.hash.slice(1));
      const target = id ? document.getElementById(id) : null;
      return target && target.classList.contains("chunk") ? target : null;
    } catch (e) {
      return null; // a malformed %-escape in the fragment
    }
  }

  function show() {
    if (current) {
      current.classList.remove("target");
      current.removeAttribute("tabindex");
    }
    current = targetFromHash();
    if (note) note.hidden = !current;
    if (!current) return;
    if (noteLink) noteLink.href = `#${current.id}`;
    current.classList.add("target");
    current.tabIndex = -1;
    current.focus({ preventScroll: true });
    current.scrollIntoView({ block: "start" }); // scroll-margin keeps some context above
  }

  // Once the title has scrolled away, a slim bar keeps saying which report this is.
  const bar = document.getElementById("report-bar");
  const title = document.getElementById("report-title");
  if (bar && title && "IntersectionObserver" in window) {
    new IntersectionObserver(([entry]) => {
      bar.hidden = entry.isIntersecting;
    }).observe(title);
  }

  // Following "Go to the passage" to the hash already shown fires no hashchange: show it again.
  if (noteLink) {
    noteLink.addEventListener("click", (event) => {
      if (current && noteLink.getAttribute("href") === location.hash) {
        event.preventDefault();
        show();
      }
    });
  }

  window.addEventListener("hashchange", show);
  show();
})();
