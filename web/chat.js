// Minimal question box: sends the question to /ask and shows the answer and its sources as text.
(function () {
  var form = document.getElementById("ask-form");
  var reply = document.getElementById("reply");
  function el(tag, text, cls) { var e = document.createElement(tag); if (text) e.textContent = text; if (cls) e.className = cls; return e; }
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var q = document.getElementById("question").value;
    reply.textContent = "Searching…";
    fetch("/ask", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ question: q }) })
      .then(function (r) { return r.json().then(function (b) { return { ok: r.ok, body: b }; }); })
      .then(function (res) {
        reply.textContent = "";
        if (!res.ok) { reply.appendChild(el("p", res.body.error ? res.body.error.message : "Request failed", "error")); return; }
        reply.appendChild(el("p", res.body.answer, "answer"));
        var list = el("ol");
        res.body.passages.forEach(function (p) {
          var li = el("li"); var c = p.citation;
          li.appendChild(el("blockquote", p.text));
          var a = el("a", c.title + (c.published ? " (" + c.published + ")" : "") + (c.page ? ", page " + c.page : ""));
          a.href = c.url; li.appendChild(a); list.appendChild(li);
        });
        reply.appendChild(list);
      })
      .catch(function () { reply.textContent = "The service could not be reached."; });
  });
})();
