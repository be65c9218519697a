// Highlight the passage named in the URL fragment (/reports/<id>#<chunk_id>) and scroll to it.
(function () {
  function highlight() {
    document.querySelectorAll(".chunk.target").forEach(function (el) { el.classList.remove("target"); });
    var id = decodeURIComponent(location.hash.slice(1));
    if (!id) return;
    var el = document.getElementById(id);
    if (!el) return;
    el.classList.add("target");
    el.scrollIntoView({ block: "center" });
  }
  window.addEventListener("hashchange", highlight);
  highlight();
})();
