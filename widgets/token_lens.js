// The token lens (TokenLens, and the viewer's and static report's token views): one trajectory as the
// exact id sequence the trainer sees. Plain function declarations, prepended to agent_gym.js (whose
// helpers h, add, badge, fmt, details they use). The view is agent_gym.widgets.models.tokens.lens_view.
// Long sequences are cut into chunks, drawn when they scroll into view. Pieces are text nodes only.

function lensConstants() {
  return {
    chunk: 400,  // tokens per chunk
    eager: 2,  // chunks drawn at once, before any scrolling
    roles: ["p", "g", "e"],  // prompt, generated (trained), environment (masked)
    roleWords: ["prompt (not trained)", "generated (trained)", "environment (masked)"],
    modes: [["mask", "loss mask"], ["lp", "log-prob"], ["adv", "advantage"]],
  };
}

// Probability bins of a log-prob: 0 (p ≥ 0.9, sure) … 4 (p < 0.1, surprising).
function lensLogprobBin(lp) {
  if (lp === null || lp === undefined) return "na";
  const p = Math.exp(lp);
  return p >= 0.9 ? 0 : p >= 0.6 ? 1 : p >= 0.3 ? 2 : p >= 0.1 ? 3 : 4;
}

function lensAdvantageClass(a) {
  if (a === null || a === undefined) return "";
  const level = Math.abs(a) < 0.5 ? 1 : Math.abs(a) < 1.5 ? 2 : 3;
  return `ag-lens-adv-${a >= 0 ? "pos" : "neg"}-${level}`;
}

// A piece as shown: newlines as ↵ (then the line break), tabs as ⇥, an empty piece as ∅.
function lensShownPiece(piece) {
  if (piece === "") return "∅";
  return piece.replace(/\t/g, "⇥").replace(/\r/g, "␍").replace(/\n/g, "↵\n");
}

function lensDescribe(v, i) {
  const c = lensConstants();
  const role = v.roles[i];
  const parts = [`#${i}`, `id ${v.ids[i]}`, JSON.stringify(v.pieces[i]), c.roleWords[role]];
  const lp = v.logprobs[i];
  if (lp !== null && lp !== undefined) parts.push(`log-prob ${fmt(lp)} (p ${fmt(Math.exp(lp))})`);
  const span = v.spans.find((s) => s.start <= i && i < s.end);
  if (span) parts.push(span.label);
  const call = (v.calls || []).find((k) => k.start <= i && i < k.end);
  if (call) parts.push(`tool call ${call.label}`);
  if (v.drift && v.drift.drift && v.drift.mark === i) parts.push("first divergence");
  return parts.join(" · ");
}

// The token spans and chips of tokens [from, to) into `box`.
function lensFillChunk(box, v, from, to, marks) {
  const c = lensConstants();
  const frag = document.createDocumentFragment();
  for (let i = from; i < to; i++) {
    const chips = marks.get(i);
    if (chips) for (const [text, kind] of chips) {
      const chip = document.createElement("span");
      chip.className = `ag-lens-chip ag-lens-chip-${kind}`;
      chip.textContent = text;
      frag.append(chip);
    }
    const tok = document.createElement("span");
    let cls = `ag-tok ag-tok-${c.roles[v.roles[i]]} ag-lp-${lensLogprobBin(v.logprobs[i])}`;
    if (marks.calls.has(i)) cls += " ag-tok-call";
    if (marks.special.has(i)) cls += " ag-tok-special";
    if (v.drift && v.drift.drift && v.drift.mark === i) cls += " ag-tok-drift";
    tok.className = cls;
    tok.dataset.i = i;
    tok.textContent = lensShownPiece(v.pieces[i]);
    frag.append(tok);
  }
  box.replaceChildren(frag);
  box.dataset.filled = "true";
  box.style.minHeight = "";
}

// Chips before tokens (turn starts, environment replies, tool calls, the divergence) and token sets.
function lensMarks(v) {
  const marks = new Map();
  const put = (i, text, kind) => { if (!marks.has(i)) marks.set(i, []); marks.get(i).push([text, kind]); };
  for (const s of v.spans) {
    if (s.role === 1) put(s.start, s.reward !== undefined ? `${s.label} · reward ${fmt(s.reward)}` : s.label, "turn");
    else put(s.start, s.label, s.role === 2 ? "env" : "prompt");
  }
  marks.calls = new Set();
  for (const k of v.calls || []) {
    put(k.start, `tool call · ${k.label}`, "call");
    for (let i = k.start; i < k.end; i++) marks.calls.add(i);
  }
  if (v.drift && v.drift.drift) put(v.drift.mark, `⚠ first divergence (token ${v.drift.position})`, "drift");
  marks.special = new Set();
  v.pieces.forEach((p, i) => { if (/^<\|[^|]*\|>$|^<\/?s>$/.test(p)) marks.special.add(i); });
  return marks;
}

function lensLegend(mode, v) {
  const sw = (cls, text) => h("span", { class: "ag-lens-key" }, h("span", { class: `ag-lens-swatch ${cls}` }, "ab"), ` ${text}`);
  if (mode === "lp") return [sw("ag-lp-0", "p ≥ 0.9"), sw("ag-lp-1", "≥ 0.6"), sw("ag-lp-2", "≥ 0.3"), sw("ag-lp-3", "≥ 0.1"),
    sw("ag-lp-4", "< 0.1"), sw("ag-lp-na", "not generated")];
  if (mode === "adv") return [sw("ag-tok-g", v.advantage === null || v.advantage === undefined ? "no advantage recorded"
    : `trained ids, advantage ${fmt(v.advantage, 2)} (${v.advantage >= 0 ? "above" : "below"} the group's mean)`), sw("ag-tok-e", "masked")];
  return [sw("ag-tok-p", "prompt (not trained)"), sw("ag-tok-g", "generated (in the loss)"), sw("ag-tok-e", "environment (masked out)")];
}

function lensDriftPanel(d) {
  if (!d) return null;
  if (!d.drift) return h("div", { class: "ag-lens-nodrift" }, "✓ no drift: the re-rendered conversation gives these ids, id for id");
  const side = (title, before, text, ids) => h("div", { class: "ag-lens-drift-side" },
    h("div", { class: "ag-role-label" }, title),
    h("pre", { class: "ag-lens-drift-text" }, h("span", { class: "ag-lens-drift-before" }, lensShownPiece(before || "")),
      h("span", { class: "ag-lens-drift-diff" }, lensShownPiece(text || ""))),
    h("div", { class: "ag-dim ag-small" }, `ids ${(ids || []).join(" ")}`));
  return h("div", { class: "ag-lens-drift", "data-role": "drift" },
    h("div", {}, h("b", {}, `⚠ first divergence at token ${d.position}`), ` · ${d.region}${d.turn !== null && d.turn !== undefined ? ` (turn ${d.turn + 1})` : ""}`),
    h("div", { class: "ag-lens-reason" }, d.reason),
    h("div", { class: "ag-lens-drift-grid" }, side("recorded (what the trainer sees)", d.before, d.recorded_text, d.recorded_ids),
      side("re-rendered with the chat template", d.before, d.rendered_text, d.rendered_ids)));
}

// Draws the lens of view `v` into `el`; returns a cleanup function.
function renderLensInto(el, v) {
  el.replaceChildren();
  if (!v || !v.ids) {
    add(el, h("div", { class: "ag-empty" }, "No token record: this trajectory was played by a text-only policy."));
    return () => {};
  }
  const t0 = performance.now();
  const c = lensConstants();
  const state = { mode: "mask", pinned: null };
  const marks = lensMarks(v);
  const s = v.stats || {};
  const root = h("div", { class: "ag-lens ag-lens-mode-mask", tabindex: 0, "data-lm-suppress-shortcuts": "true" });
  const adv = lensAdvantageClass(v.advantage);
  if (adv) root.classList.add(adv);
  const inspect = h("div", { class: "ag-lens-inspect", "aria-live": "polite" }, "Hover a token for its id, piece and log-prob; click to pin it.");
  const legend = h("div", { class: "ag-lens-legend" });
  const seq = h("div", { class: "ag-lens-seq", "data-role": "sequence" });
  const chunks = [];
  for (let from = 0; from < v.n; from += c.chunk) {
    const box = h("div", { class: "ag-lens-chunk", "data-from": from });
    box.style.minHeight = `${Math.ceil(Math.min(c.chunk, v.n - from) / 12) * 21}px`;  // about 12 tokens a line
    chunks.push(box);
  }
  const fillChunk = (k) => {
    const box = chunks[k];
    if (box && box.dataset.filled !== "true") lensFillChunk(box, v, k * c.chunk, Math.min(v.n, (k + 1) * c.chunk), marks);
  };
  const fillAll = () => chunks.forEach((_, k) => fillChunk(k));
  const tokenEl = (i) => { fillChunk(Math.floor(i / c.chunk)); return seq.querySelector(`.ag-tok[data-i="${i}"]`); };
  const pin = (i) => {
    if (state.pinned !== null) { const old = tokenEl(state.pinned); if (old) old.classList.remove("ag-tok-pinned"); }
    state.pinned = i;
    const t = tokenEl(i);
    if (t) { t.classList.add("ag-tok-pinned"); inspect.textContent = lensDescribe(v, i); }
    return t;
  };
  const go = (i) => {
    const t = pin(i);
    if (t) t.scrollIntoView({ block: "center", inline: "nearest" });
  };
  const setMode = (mode) => {
    state.mode = mode;
    for (const [m] of c.modes) root.classList.toggle(`ag-lens-mode-${m}`, m === mode);
    buttons.forEach((b) => b.classList.toggle("ag-btn-on", b.dataset.mode === mode));
    fill(legend, lensLegend(mode, v));
  };
  const buttons = c.modes.map(([m, label]) => h("button", { class: "ag-btn", "data-mode": m, onclick: () => setMode(m),
    disabled: m === "adv" && (v.advantage === null || v.advantage === undefined),
    title: m === "adv" ? "the episode's GRPO group-relative advantage, on the ids it trains" : null }, label));
  const turns = v.spans.filter((x) => x.role === 1);
  const drift = v.drift;
  add(root,
    h("div", { class: "ag-header" }, h("span", { class: "ag-title" }, `Tokens · ${v.id}`),
      h("span", { class: "ag-dim" }, ` ${v.task_id} · ${v.model || v.policy}`),
      badge(`${fmt(v.n)} tokens`, "plain"), badge(`${fmt(s.prompt)} prompt`, "plain"),
      badge(`${fmt(s.generated)} trained`, "comp"), badge(`${fmt(s.environment)} masked`, "plain"),
      s.mean_logprob !== null && s.mean_logprob !== undefined ? badge(`mean log-prob ${fmt(s.mean_logprob)}`, "plain") : null,
      v.advantage !== null && v.advantage !== undefined ? badge(`advantage ${fmt(v.advantage, 2)}`, "plain") : null,
      drift ? (drift.drift ? badge(`drift at token ${drift.position}`, "bad") : badge("no drift", "good")) : null),
    h("div", { class: "ag-toolbar" }, "colour by ", buttons,
      h("span", { class: "ag-lens-jumps" }, turns.map((x) => h("button", { class: "ag-btn ag-lens-jump", "data-turn": x.turn, onclick: () => go(x.start) }, x.label))),
      drift && drift.drift ? h("button", { class: "ag-btn ag-lens-jump-drift", onclick: () => go(drift.mark) }, "⚠ first divergence") : null),
    legend, lensDriftPanel(drift), inspect, seq);
  add(seq, chunks);
  setMode("mask");
  el.append(root);
  seq.addEventListener("mouseover", (e) => {
    const t = e.target.closest && e.target.closest(".ag-tok");
    if (!t) return;
    const i = Number(t.dataset.i);
    if (!t.title) t.title = `id ${v.ids[i]}`;
    inspect.textContent = lensDescribe(v, i);
  });
  seq.addEventListener("mouseleave", () => { if (state.pinned !== null) inspect.textContent = lensDescribe(v, state.pinned); });
  seq.addEventListener("click", (e) => { const t = e.target.closest && e.target.closest(".ag-tok"); if (t) pin(Number(t.dataset.i)); });
  for (let k = 0; k < Math.min(c.eager, chunks.length); k++) fillChunk(k);
  let observer = null;
  if (typeof IntersectionObserver === "function") {
    observer = new IntersectionObserver((entries) => entries.forEach((en) => {
      if (en.isIntersecting) { fillChunk(chunks.indexOf(en.target)); observer.unobserve(en.target); }
    }), { root: seq, rootMargin: "600px 0px" });
    chunks.forEach((box) => { if (box.dataset.filled !== "true") observer.observe(box); });
  } else fillAll();
  root.agLens = { fillAll, go, pin, setMode };  // for tests and benchmarks
  void root.offsetHeight;  // the figure includes layout
  root.dataset.renderMs = (performance.now() - t0).toFixed(1);
  return () => { if (observer) observer.disconnect(); };
}

function mountLens(model, root) {
  const el = h("div", { class: "ag-lens-host" });
  add(root, el);
  let cleanup = renderLensInto(el, model.get("lens"));
  const redraw = () => { cleanup(); cleanup = renderLensInto(el, model.get("lens")); };
  model.on("change:lens", redraw);
  return () => { cleanup(); model.off("change:lens", redraw); };
}
