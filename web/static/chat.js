// The chat page: a conversation with POST /ask. Questions and report text are untrusted input, so they
// reach the page only through textContent and text nodes, never as HTML.
"use strict";
(() => {
  const STORE_KEY = "inspection-qa:conversation:v1";
  const MAX_HISTORY = 20; // /ask keeps only the last 20 earlier questions
  const TIMEOUT_MS = 30000;
  const MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December"];
  // Words of a question not worth highlighting: they occur in nearly every passage.
  const QUIET = new Set(("a about after all also an and any are as at be been but by can could did do does doing " +
    "for from had has have how i if in into is it its me my no not of on or our report reports say says so tell " +
    "than that the their them then there these they this those to us was we were what when where which who why " +
    "will with would you your").split(" "));

  const $ = (id) => document.getElementById(id);
  const form = $("ask-form");
  const input = $("question");
  const askButton = $("ask-button");
  const newButton = $("new-conversation");
  const conversation = $("conversation");
  const statusLine = $("status");
  const examples = $("examples");
  const exampleList = $("example-list");
  const questionError = $("question-error");

  let turns = []; // {question, body} for an answer, {question, error} for a failure; oldest first
  let nextTurn = 1; // numbers the turns' element ids: turn-<n>, source-<n>-<rank>
  let inFlight = null; // {controller} while a question waits for its answer

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function link(href, text, className) {
    const a = el("a", className, text);
    a.href = href;
    return a;
  }

  function longDate(iso) {
    const m = /^(\d{4})-(\d{2})(?:-(\d{2}))?$/.exec(iso || "");
    if (!m) return iso || "";
    return `${m[3] ? Number(m[3]) + " " : ""}${MONTHS[Number(m[2]) - 1]} ${m[1]}`;
  }

  function pageLabel(c) {
    if (!c.page) return "";
    return c.page_end && c.page_end !== c.page ? `pages ${c.page}–${c.page_end}` : `page ${c.page}`;
  }

  // Citation URLs come from the server; only same-site paths become links.
  function localUrl(url) {
    return typeof url === "string" && url.startsWith("/") && !url.startsWith("//") ? url : "/browse";
  }

  function escapeRegExp(s) {
    return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  // The question's words as one pattern; word endings are loosened so "protection" also finds "protecting".
  function questionPattern(question) {
    const parts = [];
    for (const word of new Set(question.toLowerCase().match(/[\p{L}\p{N}]+/gu) || [])) {
      if (word.length < 2 || QUIET.has(word)) continue;
      const stem = word.replace(/(?:ations?|ions?|ings?|ments?|ed|es|ly|s)$/u, "");
      parts.push(stem.length >= 4 ? escapeRegExp(stem) + "[\\p{L}\\p{N}]*" : escapeRegExp(word) + "(?![\\p{L}\\p{N}])");
    }
    if (!parts.length) return null;
    parts.sort((a, b) => b.length - a.length);
    return new RegExp("(?<![\\p{L}\\p{N}])(?:" + parts.join("|") + ")", "giu");
  }

  // Appends text to parent as text nodes, each match of pattern wrapped in a <mark>.
  function appendHighlighted(parent, text, pattern) {
    let last = 0;
    if (pattern) {
      for (const m of text.matchAll(pattern)) {
        if (m.index > last) parent.append(text.slice(last, m.index));
        parent.append(el("mark", null, m[0]));
        last = m.index + m[0].length;
      }
    }
    if (last < text.length) parent.append(text.slice(last));
  }

  function announce(text) {
    statusLine.textContent = text;
  }

  function markConversation() {
    document.body.classList.toggle("has-turns", conversation.children.length > 0);
  }

  function setBusy(busy) {
    // aria-disabled rather than disabled: a disabled button would drop the keyboard focus it holds.
    askButton.setAttribute("aria-disabled", busy ? "true" : "false");
    conversation.setAttribute("aria-busy", busy ? "true" : "false");
  }

  function showQuestionError(text) {
    questionError.textContent = text;
    questionError.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.focus();
  }

  function hideQuestionError() {
    questionError.hidden = true;
    questionError.textContent = "";
    input.removeAttribute("aria-invalid");
  }

  function save() {
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify(turns));
    } catch (e) {
      // Storage full or disabled: the conversation just won't survive a reload.
    }
  }

  function turnElement(n, question) {
    const article = el("article", "turn");
    article.id = `turn-${n}`;
    article.setAttribute("aria-labelledby", `turn-${n}-question`);
    const heading = el("h2", "you-asked");
    heading.id = `turn-${n}-question`;
    heading.append(el("span", "you-asked-label", "You asked"), el("span", "you-asked-text", question));
    article.append(heading, el("div", "reply"));
    return article;
  }

  function showLoading(article) {
    const reply = article.querySelector(".reply");
    const loading = el("p", "loading");
    loading.append(el("span", "spinner"), "Searching the reports…");
    reply.replaceChildren(loading);
  }

  function renderReply(article, n, turn) {
    const reply = article.querySelector(".reply");
    reply.replaceChildren();
    if (turn.error) {
      reply.append(errorBox(turn));
    } else if (turn.body.found) {
      reply.append(...answerBlock(n, turn.body));
    } else {
      reply.append(...notFoundBlock(n, turn.body));
    }
  }

  function answerBlock(n, body) {
    const quoted = new Map(); // rank -> the sentence the answer quotes from that passage
    const answer = el("p", "answer");
    const ranks = new Set(body.passages.map((p) => p.rank));
    const marker = /\[(\d+)\]/g;
    let last = 0;
    for (const m of body.answer.matchAll(marker)) {
      const rank = Number(m[1]);
      const before = body.answer.slice(last, m.index);
      last = m.index + m[0].length;
      answer.append(before);
      if (!ranks.has(rank)) {
        answer.append(m[0]);
        continue;
      }
      if (!quoted.has(rank) && before.trim()) quoted.set(rank, before.trim());
      const cite = link(`#source-${n}-${rank}`, `[${rank}]`, "cite");
      cite.setAttribute("aria-label", `source ${rank}`);
      answer.append(cite);
    }
    answer.append(body.answer.slice(last));

    const heading = el("h3", "sources-title", "Sources");
    const legend = el("p", "sources-legend");
    legend.append("Best match first. Words of your question are ", el("mark", null, "highlighted"),
      "; the sentence quoted in the answer is ", el("span", "quoted", "in bold"), ".");
    return [answer, heading, legend, sourceList(n, body, quoted)];
  }

  function notFoundBlock(n, body) {
    const box = el("div", "not-found");
    box.append(el("p", "not-found-title", "Nothing in the reports answers this."));
    const hint = el("p", "not-found-hint");
    hint.append("Try other words, or name the organisation or topic you mean. ",
      link("/browse", "See which reports are indexed"), ".");
    box.append(hint);
    const blocks = [box];
    if (body.passages.length) {
      const closest = el("details", "closest");
      closest.append(el("summary", null, "Show the closest passages, which do not answer it"),
        sourceList(n, body, new Map()));
      blocks.push(closest);
    }
    return blocks;
  }

  function errorBox(turn) {
    const box = el("div", "error-box");
    box.append(el("p", "error-title", "No answer"), el("p", "error-message", turn.error));
    const retry = el("button", "button secondary retry", "Try again");
    retry.type = "button";
    retry.addEventListener("click", () => {
      if (inFlight) return;
      const i = turns.indexOf(turn);
      if (i >= 0) turns.splice(i, 1);
      box.closest(".turn").remove();
      markConversation();
      save();
      send(turn.question);
      input.focus();
    });
    box.append(retry);
    return box;
  }

  function sourceList(n, body, quoted) {
    const pattern = questionPattern(body.question || "");
    const list = el("ol", "sources");
    for (const p of body.passages) list.append(sourceCard(n, p, pattern, quoted.get(p.rank)));
    return list;
  }

  function sourceCard(n, passage, pattern, sentence) {
    const c = passage.citation || {};
    const card = el("li", "source");
    card.id = `source-${n}-${passage.rank}`;
    card.tabIndex = -1; // [n] links move focus here

    const number = el("span", "source-number", passage.rank);
    number.setAttribute("aria-hidden", "true");
    const title = el("p", "source-title");
    title.append(el("span", "visually-hidden", `Source ${passage.rank}: `), c.title || c.report_id || "Untitled report");
    const section = c.section && c.section !== c.title ? `Section: ${c.section}` : "";
    const meta = el("p", "source-meta", [c.publisher, longDate(c.published), section, pageLabel(c)]
      .filter(Boolean).join(" · "));
    const who = el("div", "source-who");
    who.append(title, meta);
    const head = el("div", "source-head");
    head.append(number, who);

    const quote = el("blockquote", "passage");
    const text = String(passage.text || "");
    const at = sentence ? text.indexOf(sentence) : -1;
    if (at >= 0) {
      appendHighlighted(quote, text.slice(0, at), pattern);
      const strong = el("span", "quoted");
      appendHighlighted(strong, sentence, pattern);
      quote.append(strong);
      appendHighlighted(quote, text.slice(at + sentence.length), pattern);
    } else {
      appendHighlighted(quote, text, pattern);
    }

    const open = link(localUrl(c.url), "Open in report", "open-report");
    open.append(el("span", "visually-hidden", ` (source ${passage.rank}: ${c.title || ""})`));
    card.append(head, quote, open);
    return card;
  }

  function describeError(status, body) {
    const message = body && body.error && typeof body.error.message === "string" ? body.error.message.trim() : "";
    const said = message ? `: ${message}${/[.!?]$/.test(message) ? "" : "."}` : ".";
    if (status >= 500) return `The service failed to answer (error ${status})${said} Try again in a moment.`;
    if (status >= 400) return `The question was not accepted (error ${status})${said}`;
    return `The service sent a reply this page cannot read (status ${status}). Try again in a moment.`;
  }

  function summary(turn) {
    if (turn.error) return turn.error;
    if (!turn.body.found) return "Nothing in the reports answers this. Try other words.";
    const k = turn.body.passages.length;
    return `Answer: ${turn.body.answer.replace(/\s*\[\d+\]/g, "")} ${k} source${k === 1 ? "" : "s"} below.`;
  }

  function reveal(article) {
    const top = article.getBoundingClientRect().top;
    if (top < 0 || top > window.innerHeight * 0.4) {
      const smooth = !window.matchMedia("(prefers-reduced-motion: reduce)").matches;
      article.scrollIntoView({ block: "start", behavior: smooth ? "smooth" : "auto" });
    }
  }

  async function send(question) {
    hideQuestionError();
    const n = nextTurn++;
    const history = turns.filter((t) => t.body).map((t) => t.question).slice(-MAX_HISTORY);
    const article = turnElement(n, question);
    showLoading(article);
    conversation.append(article);
    markConversation();
    examples.hidden = true;
    setBusy(true);
    announce("Searching the reports…");
    reveal(article);

    const controller = new AbortController();
    inFlight = { controller };
    const timer = setTimeout(() => controller.abort("timeout"), TIMEOUT_MS);
    let turn;
    try {
      const response = await fetch("/ask", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify({ question, history }),
        signal: controller.signal,
      });
      const body = await response.json().catch(() => null);
      const usable = response.ok && body && typeof body.answer === "string" && Array.isArray(body.passages);
      turn = usable ? { question, body } : { question, error: describeError(response.status, body) };
    } catch (err) {
      turn = {
        question,
        error: controller.signal.reason === "timeout"
          ? `The service took longer than ${TIMEOUT_MS / 1000} seconds to answer. Try again in a moment.`
          : "The service could not be reached. Check your connection, then try again.",
      };
    } finally {
      clearTimeout(timer);
    }
    if (!inFlight || inFlight.controller !== controller) return; // the conversation was reset meanwhile
    inFlight = null;
    turns.push(turn);
    save();
    renderReply(article, n, turn);
    setBusy(false);
    announce(summary(turn));
    reveal(article);
  }

  function newConversation() {
    if (inFlight) inFlight.controller.abort("reset");
    inFlight = null;
    turns = [];
    nextTurn = 1;
    save();
    conversation.replaceChildren();
    markConversation();
    setBusy(false);
    examples.hidden = exampleList.children.length === 0;
    input.value = "";
    fitInput();
    hideQuestionError();
    input.focus();
    announce("New conversation started.");
  }

  function fitInput() {
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight + 2, 240)}px`;
  }

  function restore() {
    let saved = [];
    try {
      saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "[]");
    } catch (e) {
      return;
    }
    if (!Array.isArray(saved)) return;
    for (const t of saved) {
      const ok = t && typeof t.question === "string" && (typeof t.error === "string" ||
        (t.body && typeof t.body.answer === "string" && Array.isArray(t.body.passages)));
      if (!ok) continue;
      const turn = t.error ? { question: t.question, error: t.error } : { question: t.question, body: t.body };
      const n = nextTurn++;
      const article = turnElement(n, turn.question);
      renderReply(article, n, turn);
      conversation.append(article);
      turns.push(turn);
    }
  }

  async function loadExamples() {
    try {
      const response = await fetch("/examples", { headers: { Accept: "application/json" } });
      const body = response.ok ? await response.json() : null;
      for (const ex of (body && body.examples) || []) {
        if (typeof ex.question !== "string") continue;
        const button = el("button", "example", ex.question);
        button.type = "button";
        button.addEventListener("click", () => {
          if (inFlight) return;
          input.focus(); // the examples hide once asked; keep focus somewhere useful
          send(ex.question);
        });
        const item = el("li");
        item.append(button);
        exampleList.append(item);
      }
    } catch (e) {
      // Examples are a convenience; the page works without them.
    }
    examples.hidden = turns.length > 0 || inFlight !== null || exampleList.children.length === 0;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (inFlight) return;
    const question = input.value.trim();
    if (!question) {
      showQuestionError("Type a question first.");
      return;
    }
    input.value = "";
    fitInput();
    send(question);
  });

  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  input.addEventListener("input", fitInput);
  newButton.addEventListener("click", newConversation);

  // [n] in an answer: bring its source card into view and give it focus, without touching the URL.
  conversation.addEventListener("click", (event) => {
    const cite = event.target.closest("a.cite");
    if (!cite) return;
    const card = document.getElementById(cite.getAttribute("href").slice(1));
    if (!card) return;
    event.preventDefault();
    card.classList.remove("flash");
    void card.offsetWidth; // restart the highlight animation
    card.classList.add("flash");
    card.scrollIntoView({ block: "center" });
    card.focus({ preventScroll: true });
  });

  restore();
  markConversation();
  setBusy(false);
  loadExamples();
})();
