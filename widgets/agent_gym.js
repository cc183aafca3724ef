// agent_gym widgets: the front-end of TrajectoryViewer, RunTable, RunBrowser, CompareView and
// GroupInspector (anywidget ES module). The same file drives the static HTML export, where a small
// in-page "backend" stands in for the kernel. Model text is only ever inserted as text nodes.

// ---------------------------------------------------------------- helpers

function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "style") el.setAttribute("style", value);
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

function fill(el, ...children) {
  el.replaceChildren();
  return add(el, ...children);
}

function add(el, ...children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

// Numbers for people (as agent_gym.widgets.export.fallback.fmt): separators, no exponents, `(none)` for missing.
const fmt = (x, digits = 3) => {
  if (x === null || x === undefined || Number.isNaN(x)) return MISSING;
  if (typeof x !== "number") return String(x);
  if (Number.isInteger(x)) return x.toLocaleString("en");
  if (Math.abs(x) >= 1000) return Math.round(x).toLocaleString("en");
  if (Math.abs(x) >= 1 || x === 0) return String(Number(x.toFixed(digits)));
  return String(Number(x.toPrecision(digits)));
};
const fmtSeconds = (s) => (s === null || s === undefined ? MISSING : s < 0.001 ? "<1 ms" : s < 1 ? `${Math.round(s * 1000)} ms` : s < 600 ? `${fmt(s, 1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
const json = (x) => JSON.stringify(x, null, 2);
const fmtEstimate = (e) => (e ? `${fmt(e.value)} [${fmt(e.low)}, ${fmt(e.high)}]` : MISSING);
const isEmpty = (obj) => !obj || Object.keys(obj).length === 0;

function badge(text, kind, title) {
  return h("span", { class: `ag-badge ag-badge-${kind || "plain"}`, title }, text);
}

function successBadge(success) {
  if (success === true) return badge("✓ success", "good");
  if (success === false) return badge("✗ failure", "bad");
  return badge("no verdict", "plain");
}

// Green and red say whether the episode succeeded (✓ / ✗), never the sign of the reward: a failed
// episode can earn shaping reward, a solved one can end below zero. No verdict: neutral.
const outcomeKind = (success) => (success === true ? "good" : success === false ? "bad" : "plain");

function rewardBadge(reward, label = "reward", success = null) {
  return badge(`${label} ${fmt(reward)}`, outcomeKind(success));
}

const MISSING = "(none)";  // any missing value, as agent_gym.widgets.plots labels a missing model and the filter names it
const MISSING_MODEL = MISSING;

const PASS_WORDS = /^(pass|passed|correct|yes|match|matches|accept|accepted|success)\b/i;
const FAIL_WORDS = /^(fail|failed|failure|incorrect|no|wrong|mismatch|reject|rejected)\b/i;

// A judge's verdict for colouring its box: "pass", "fail" or "none", and where it came from. The
// judge's own record comes first (`info.judge` or the info itself: a boolean pass/passed/correct/
// success, a verdict word, or a score in [0, 1], a pass from 0.5); then a `judge` reward component;
// then `success`, the episode's verdict (given for the last step and the whole trajectory only).
function judgeVerdict(info, components, success) {
  const j = info && typeof info.judge === "object" && info.judge !== null ? info.judge : info || {};
  for (const key of ["pass", "passed", "correct", "success", "match"]) {
    if (typeof j[key] === "boolean") return { verdict: j[key] ? "pass" : "fail", why: `the judge's ${key}: ${j[key]}` };
  }
  if (typeof j.verdict === "string" && (PASS_WORDS.test(j.verdict.trim()) || FAIL_WORDS.test(j.verdict.trim()))) {
    return { verdict: PASS_WORDS.test(j.verdict.trim()) ? "pass" : "fail", why: `the judge's verdict: ${j.verdict}` };
  }
  if (j.ok === false) return { verdict: "none", why: "the judge failed; its score is a placeholder" };
  if (typeof j.score === "number") return { verdict: j.score >= 0.5 ? "pass" : "fail", why: `the judge's score ${fmt(j.score)} (pass from 0.5)` };
  const component = (components || {}).judge;
  if (typeof component === "number") return { verdict: component >= 0.5 ? "pass" : "fail", why: `the judge component ${fmt(component)} (pass from 0.5)` };
  if (success === true || success === false) return { verdict: success ? "pass" : "fail", why: `the episode's success: ${success ? "✓" : "✗"}` };
  return { verdict: "none", why: "no verdict recorded" };
}

function judgeBox(text, verdict) {
  const mark = verdict.verdict === "pass" ? "✓ pass · " : verdict.verdict === "fail" ? "✗ fail · " : "";
  return h("div", { class: `ag-judge ag-judge-${verdict.verdict}`, "data-verdict": verdict.verdict, title: `coloured by ${verdict.why}` },
    h("b", {}, "Judge: "), mark ? h("span", { class: "ag-judge-verdict" }, mark) : null, text);
}

const FLAG_TEXT = {
  parse_error: "parse error", tool_error: "tool error", error: "error", unfinished: "unfinished",
  zero_variance: "zero variance", single_sample: "single sample", errors: "errors",
  suspicious_winner: "suspicious winner", hedging: "hedging", empty: "empty answer", long: "much longer",
};
const flagBadges = (flags) => (flags || []).map((f) => badge(FLAG_TEXT[f] || f, f === "zero_variance" || f === "single_sample" ? "warn" : "bad"));

function keyValueTable(rows) {
  return h("table", { class: "ag-kv" }, rows.filter((r) => r).map(([k, v]) =>
    h("tr", {}, h("th", {}, k), h("td", {}, v instanceof Node ? v : typeof v === "object" && v !== null ? h("pre", { class: "ag-pre" }, json(v)) : fmt(v)))));
}

function details(summary, body, open = false, cls = "") {
  const el = h("details", { class: `ag-details ${cls}` }, h("summary", {}, summary), body);
  el.open = open;
  return el;
}

// ---------------------------------------------------------------- messages

function renderSegment(seg, ctx, where) {
  const body = h("pre", { class: `ag-text ag-seg-${seg.kind}` }, seg.text);
  if (seg.truncated) {
    const more = h("div", { class: "ag-truncated" },
      `… ${fmt(seg.omitted)} characters omitted (${fmt(seg.length)} in all) `,
      h("button", { class: "ag-btn ag-expand", onclick: (e) => { e.stopPropagation(); ctx.expand(where, body, more); } }, "Show all"));
    const wrap = h("div", { class: "ag-seg-wrap" }, body, more, seg.tail ? h("pre", { class: `ag-text ag-seg-${seg.kind}` }, seg.tail) : null);
    return seg.kind === "think" ? details("thinking", wrap, ctx.openThink, "ag-think") : wrap;
  }
  if (seg.kind === "think") return details(`thinking (${fmt(seg.text.length)} chars)`, body, ctx.openThink, "ag-think");
  return body;
}

function renderSegments(msg, ctx) {
  return msg.segments.map((seg, j) => renderSegment(seg, ctx, { message: msg.index, segment: j }));
}

function roleLabel(msg) {
  if (msg.role === "tool") return `tool${msg.name ? " · " + msg.name : ""}`;
  if (msg.role === "user" && msg.name) return `user · ${msg.name}`;
  return msg.role;
}

function renderToolCall(call, view, ctx) {
  const response = call.response !== undefined ? view.messages[call.response] : null;
  return h("div", { class: `ag-call${response && response.tool_error ? " ag-call-error" : ""}` },
    h("div", { class: "ag-call-head" }, "▸ ", h("b", {}, call.name), call.id ? h("span", { class: "ag-dim" }, ` ${call.id}`) : null),
    h("pre", { class: "ag-pre ag-json" }, call.arguments),
    response ? h("div", { class: "ag-call-response" },
      h("div", { class: "ag-role-label" }, response.tool_error ? "response · error" : "response"),
      renderSegments(response, ctx)) : h("div", { class: "ag-dim ag-small" }, "no response recorded"));
}

function renderMessage(msg, view, ctx, opts = {}) {
  if (msg.reply_to && !opts.standalone) return null; // shown under its tool call
  const cls = `ag-msg ag-role-${msg.role}${msg.error || msg.tool_error ? " ag-msg-error" : ""}`;
  const content = [h("div", { class: "ag-role-label" }, roleLabel(msg), h("span", { class: "ag-dim" }, ` #${msg.index}`))];
  const body = renderSegments(msg, ctx);
  if (msg.role === "system" && !opts.openSystem) {
    const chars = msg.segments.reduce((n, s) => n + (s.length || s.text.length), 0);
    content.push(details(`system prompt (${fmt(chars)} chars)`, body));
  } else content.push(body);
  if (msg.error) content.push(h("div", { class: "ag-error-note" }, "⚠ could not parse: ", msg.error));
  content.push(msg.tool_calls.map((call) => renderToolCall(call, view, ctx)));
  return h("div", { class: cls, "data-index": msg.index }, content);
}

function renderTurn(view, turn, ctx, opts = {}) {
  const flags = turn.flags || [];
  const head = h("div", { class: "ag-turn-head" },
    h("b", {}, turn.partial ? "After the last step" : `Turn ${turn.index + 1}`),
    turn.partial ? null : rewardBadge(turn.reward, "step reward"),
    turn.partial ? null : badge(`cumulative ${fmt(turn.cumulative)}`, "plain"),
    Object.entries(turn.components || {}).map(([k, v]) => badge(`${k} ${fmt(v)}`, "comp")),
    turn.terminated ? badge("terminated", "plain") : null,
    turn.truncated ? badge("truncated", "warn") : null,
    flagBadges(flags.filter((f) => f !== "unfinished")),
    turn.usage && turn.usage.completion_tokens ? h("span", { class: "ag-dim ag-small" }, ` ${fmt(turn.usage.completion_tokens)} tokens`) : null,
    turn.policy_seconds ? h("span", { class: "ag-dim ag-small" }, ` policy ${fmtSeconds(turn.policy_seconds)}${turn.queue_seconds ? ` (+${fmtSeconds(turn.queue_seconds)} queued)` : ""} · env ${fmtSeconds(turn.env_seconds)}`) : null);
  const msgs = [];
  if (turn.action >= 0) msgs.push(renderMessage(view.messages[turn.action], view, ctx));
  for (const i of turn.observations) msgs.push(renderMessage(view.messages[i], view, ctx));
  if (turn.partial && view.error) msgs.push(renderErrorBox(view.error, true));
  const extras = [];
  if (turn.judge) {
    const last = view.turns.filter((t) => !t.partial).pop();
    const final = last && last.index === turn.index;  // the episode's success is the last step's verdict
    extras.push(judgeBox(turn.judge, judgeVerdict(turn.info, turn.components, final ? view.success : null)));
  }
  if (!isEmpty(turn.info)) extras.push(details("step info", h("pre", { class: "ag-pre" }, json(turn.info))));
  const error = flags.some((f) => f !== "unfinished");
  return h("div", { class: `ag-turn${error ? " ag-turn-error" : ""}${opts.current ? " ag-turn-current" : ""}`, "data-turn": turn.index },
    head, msgs, extras);
}

function renderErrorBox(error, compact) {
  return h("div", { class: "ag-error-box" },
    h("div", {}, h("b", {}, `⚠ ${error.kind}: `), error.message),
    error.traceback ? details("traceback", h("pre", { class: "ag-pre" }, error.traceback), !compact) : null);
}

// ---------------------------------------------------------------- viewer

function timeline(view, current, go) {
  const cells = view.turns.map((t) => {
    const cls = ["ag-tl-cell"];
    if ((t.flags || []).some((f) => f !== "unfinished")) cls.push("ag-tl-error");
    else if (t.reward > 0) cls.push("ag-tl-pos");
    else if (t.reward < 0) cls.push("ag-tl-neg");
    if (t.index === current) cls.push("ag-tl-current");
    return h("span", { class: cls.join(" "), title: `turn ${t.index + 1}: reward ${fmt(t.reward)}${(t.flags || []).length ? " · " + t.flags.join(", ") : ""}`, onclick: () => go(t.index) });
  });
  return h("div", { class: "ag-timeline" }, cells);
}

function mountViewer(model, root, options = {}) {
  const state = { tab: "messages", all: false, openThink: false };
  const el = h("div", { class: "ag-viewer", tabindex: 0, "data-lm-suppress-shortcuts": "true" });
  add(root, el);
  const view = () => model.get(options.traitName || "trajectory") || {};
  const turnCount = () => (view().turns || []).length;
  const setTurn = (k) => {
    const n = turnCount();
    if (!n) return;
    const target = Math.max(0, Math.min(n - 1, k));
    if (target === model.get("turn")) return;
    model.set("turn", target);
    model.save_changes();
  };
  const jump = (where) => {
    const v = view();
    const cur = model.get("turn");
    if (where === "error" && v.first_error_turn !== null && v.first_error_turn !== undefined) setTurn(v.first_error_turn);
    if (where === "change") {
      const changes = v.reward_change_turns || [];
      const after = changes.filter((k) => k > cur);
      if (after.length) setTurn(after[0]); else if (changes.length) setTurn(changes[0]);
    }
  };
  const ctx = {
    get openThink() { return state.openThink; },
    expand(where, pre, more) {
      more.textContent = "loading the full text…";
      pending.set(`${view().id}:${where.message}:${where.segment}`, { pre, more });
      model.send({ type: "expand", trajectory: view().id, message: where.message, segment: where.segment });
    },
  };
  const pending = new Map();
  const onMsg = (msg) => {
    if (!msg || msg.type !== "expanded") return;
    const key = `${msg.trajectory}:${msg.message}:${msg.segment}`;
    const slot = pending.get(key);
    if (!slot) return;
    pending.delete(key);
    if (msg.text === null || msg.text === undefined) { slot.more.textContent = msg.error || "the full text is not available here"; return; }
    slot.pre.textContent = msg.text;
    slot.pre.classList.add("ag-expanded");
    const tail = slot.more.nextSibling;
    if (tail) tail.remove();
    slot.more.remove();
  };

  function nav(v, cur) {
    const n = v.turns.length;
    const slider = h("input", { type: "range", min: 0, max: Math.max(0, n - 1), value: cur, class: "ag-slider", "aria-label": "turn",
      oninput: (e) => setTurn(Number(e.target.value)) });
    const hasError = v.first_error_turn !== null && v.first_error_turn !== undefined;
    return h("div", { class: "ag-nav" },
      h("button", { class: "ag-btn", title: "first turn (Home)", onclick: () => setTurn(0), disabled: cur === 0 }, "|◀"),
      h("button", { class: "ag-btn ag-prev", title: "previous turn (←)", onclick: () => setTurn(cur - 1), disabled: cur === 0 }, "◀ prev"),
      slider,
      h("button", { class: "ag-btn ag-next", title: "next turn (→)", onclick: () => setTurn(cur + 1), disabled: cur >= n - 1 }, "next ▶"),
      h("button", { class: "ag-btn", title: "last turn (End)", onclick: () => setTurn(n - 1), disabled: cur >= n - 1 }, "▶|"),
      h("span", { class: "ag-turn-count" }, n ? `turn ${cur + 1} / ${n}` : "no turns"),
      h("button", { class: "ag-btn ag-jump-error", title: "first error (e)", disabled: !hasError, onclick: () => jump("error") }, "⚠ first error"),
      h("button", { class: "ag-btn ag-jump-change", title: "next reward change (r)", disabled: !(v.reward_change_turns || []).length, onclick: () => jump("change") }, "Δ reward"),
      h("label", { class: "ag-toggle", title: "show every turn (a)" },
        h("input", { type: "checkbox", checked: state.all, onchange: (e) => { state.all = e.target.checked; draw(); } }), " all turns"),
      h("label", { class: "ag-toggle", title: "open <think> blocks (t)" },
        h("input", { type: "checkbox", checked: state.openThink, onchange: (e) => { state.openThink = e.target.checked; draw(); } }), " open thinking"));
  }

  function answerBox(v) {  // the final answer beside the expected one, with the reward's verdict
    if (v.final_answer === undefined && v.expected_answer == null) return null;
    const verdict = v.success === true ? "pass" : v.success === false ? "fail" : "unknown";
    return h("div", { class: `ag-answer-box ag-answer-${verdict}`, "data-verdict": verdict },
      h("div", {}, h("b", {}, "Final answer "), h("code", {}, v.final_answer || "(empty)")),
      h("div", {}, h("b", {}, "Expected "), h("code", {}, v.expected_answer != null ? v.expected_answer : MISSING)),
      h("div", {}, successBadge(v.success), " ", rewardBadge(v.reward, "reward", v.success),
        Object.entries(v.reward_components || {}).map(([k, x]) => badge(`${k} ${fmt(x)}`, "plain"))),
      v.judge ? judgeBox(v.judge, judgeVerdict(v.metadata, v.reward_components, v.success)) : null);
  }

  function messagesTab(v, cur) {
    const out = [nav(v, cur), timeline(v, cur, setTurn)];
    if ((v.warnings || []).length) out.push(h("div", { class: "ag-warning" }, "This record was repaired to be shown: ", v.warnings.join("; ")));
    out.push(h("div", { class: "ag-preamble" }, v.preamble.map((i) => renderMessage(v.messages[i], v, ctx, { standalone: true }))));
    if (!v.turns.length) {
      out.push(h("div", { class: "ag-dim" }, "This trajectory has no turns."));
      if (v.error) out.push(renderErrorBox(v.error));
    } else if (state.all) {
      out.push(h("div", { class: "ag-turns" }, v.turns.map((t) => {
        const node = renderTurn(v, t, ctx, { current: t.index === cur });
        node.addEventListener("click", () => setTurn(t.index));
        return node;
      })));
    } else {
      out.push(renderTurn(v, v.turns[Math.min(cur, v.turns.length - 1)], ctx, { current: true }));
    }
    if (state.all || cur >= v.turns.length - 1) out.push(answerBox(v));
    return out;
  }

  function scoringTab(v) {
    const comps = Object.entries(v.reward_components || {});
    return [
      h("div", { class: "ag-score-head" }, h("span", { class: "ag-big" }, fmt(v.reward)), " final reward ", successBadge(v.success),
        v.terminated ? badge("terminated", "plain") : null, v.truncated ? badge("truncated", "warn") : null),
      comps.length ? keyValueTable(comps.map(([k, x]) => [k, x])) : h("div", { class: "ag-dim" }, "no reward components"),
      v.judge ? judgeBox(v.judge, judgeVerdict(v.metadata, v.reward_components, v.success)) : null,
      h("h4", {}, "Reward per turn"),
      h("table", { class: "ag-grid" },
        h("tr", {}, h("th", {}, "turn"), h("th", {}, "reward"), h("th", {}, "cumulative"), h("th", {}, "components"), h("th", {}, "flags")),
        v.turns.map((t) => h("tr", { class: "ag-click", onclick: () => { setTurn(t.index); state.tab = "messages"; draw(); } },
          h("td", {}, t.partial ? "end" : t.index + 1), h("td", {}, fmt(t.reward)), h("td", {}, fmt(t.cumulative)),
          h("td", {}, Object.entries(t.components || {}).map(([k, x]) => `${k}=${fmt(x)}`).join(", ")),
          h("td", {}, flagBadges(t.flags))))),
      v.expected_answer != null ? h("div", { class: "ag-expected" }, h("h4", {}, "Expected answer"), h("pre", { class: "ag-text" }, v.expected_answer)) : null,
      v.final_answer !== undefined ? h("div", {}, h("h4", {}, "Final answer"), h("pre", { class: "ag-text" }, v.final_answer || "(empty)")) : null,
    ];
  }

  function taskTab(v) {
    const tools = v.tools_offered || [], env = v.environment || {}, pol = v.policy_info || {};
    return [
      v.task ? h("div", {}, h("h4", {}, "Prompt"), h("pre", { class: "ag-text" }, v.task.prompt.text)) : h("div", { class: "ag-dim" }, "This record predates task records (schema 1)."),
      h("div", { class: "ag-expected" }, h("h4", {}, "Expected answer"), h("pre", { class: "ag-text" }, v.expected_answer != null ? v.expected_answer : "(none given)")),
      h("h4", {}, `Tools offered (${tools.length})`),
      tools.length ? h("div", { class: "ag-tools-offered" }, tools.map((t) => details(
        h("span", {}, h("b", {}, t.name), t.description ? h("span", { class: "ag-dim" }, ` — ${t.description}`) : null),
        h("pre", { class: "ag-text" }, t.parameters)))) : h("div", { class: "ag-dim" }, "no tools"),
      h("h4", {}, "Environment"),
      keyValueTable([["name", env.name || v.env], ["class", env.class || MISSING], ["version", env.version || MISSING],
        ["config", env.config || {}], ["reward", env.reward || []]]),
      h("h4", {}, "Policy"),
      keyValueTable([["class", pol.class || v.policy], ["model", v.model || MISSING_MODEL], ["sampling", v.sampling],
        ["tokens", v.tokens_recorded ? "recorded (token-exact)" : "not recorded (text-only policy)"]]),
      v.task && Object.keys(v.task.metadata || {}).length ? h("div", {}, h("h4", {}, "Task metadata"), keyValueTable(Object.entries(v.task.metadata))) : null,
    ];
  }

  function metadataTab(v) {
    const iso = v.started_at ? new Date(v.started_at * 1000).toISOString() : MISSING;
    return keyValueTable([
      ["id", v.id], ["job key", v.job_key || MISSING], ["task", v.task_id], ["environment", v.env], ["policy", v.policy],
      ["model", v.model || MISSING_MODEL], ["sample", v.sample_index], ["started", iso], ["wall time", fmtSeconds(v.seconds)],
      ["tokens", `${fmt(v.usage.prompt_tokens)} prompt + ${fmt(v.usage.completion_tokens)} completion (${fmt(v.usage.calls)} calls)`],
      ["metrics", v.metrics], ["sampling", v.sampling], ["metadata", v.metadata],
      (v.warnings || []).length ? ["repairs", v.warnings.join("; ")] : null,
    ]);
  }

  let lensCleanup = null;
  function lensTab(lens) {  // widgets/token_lens.js
    const host = h("div", { class: "ag-lens-host" });
    lensCleanup = renderLensInto(host, lens);
    return host;
  }

  function draw() {
    if (lensCleanup) { lensCleanup(); lensCleanup = null; }
    const v = view();
    const focused = el.contains(document.activeElement) || document.activeElement === el;
    el.replaceChildren();
    if (!v || !v.id) { add(el, h("div", { class: "ag-empty" }, options.emptyText || "No trajectory selected.")); return; }
    const cur = Math.min(model.get("turn") || 0, Math.max(0, v.turns.length - 1));
    const tabs = [["messages", "Messages"], ["task", "Task"], ["scoring", "Scoring"], ["metadata", "Metadata"]];
    const lens = model.get("lens");
    if (lens && lens.ids) tabs.splice(1, 0, ["tokens", "Tokens"]);
    if (v.error) tabs.push(["error", "Error"]);
    if (!tabs.some(([k]) => k === state.tab)) state.tab = "messages";
    add(el, 
      h("div", { class: "ag-header" },
        h("span", { class: "ag-title" }, v.task_id), h("span", { class: "ag-dim" }, ` ${v.env} · ${v.model || v.policy} · sample ${v.sample_index}`),
        rewardBadge(v.reward, "reward", v.success), successBadge(v.success), v.error ? badge(`⚠ ${v.error.kind}`, "bad") : null,
        h("span", { class: "ag-dim ag-small" }, ` ${fmt(v.usage.total_tokens)} tokens · ${fmtSeconds(v.seconds)} · ${v.id}`),
        h("div", { class: "ag-dim ag-small ag-run-line", title: "environment · policy (model) · sampling · when the episode started" },
          `${(v.environment || {}).name || v.env} · ${v.policy}${v.model ? ` (${v.model})` : ""} · `,
          isEmpty(v.sampling) ? "default sampling" : Object.entries(v.sampling).map(([k, x]) => `${k}=${typeof x === "object" ? JSON.stringify(x) : fmt(x)}`).join(", "),
          v.started_at ? ` · ${new Date(v.started_at * 1000).toISOString().slice(0, 16).replace("T", " ")} UTC` : "")),
      h("div", { class: "ag-tabs" }, tabs.map(([k, label]) =>
        h("button", { class: `ag-tab${state.tab === k ? " ag-tab-active" : ""}${k === "error" ? " ag-tab-error" : ""}`, "data-tab": k, onclick: () => { state.tab = k; draw(); } }, label))),
      h("div", { class: "ag-tab-body" },
        state.tab === "messages" ? messagesTab(v, cur) : state.tab === "tokens" ? lensTab(lens) : state.tab === "task" ? taskTab(v) : state.tab === "scoring" ? scoringTab(v) : state.tab === "metadata" ? metadataTab(v) : renderErrorBox(v.error)));
    if (state.all && state.tab === "messages") {
      const node = el.querySelector(".ag-turn-current");
      if (node && node.scrollIntoView && options.scroll !== false) node.scrollIntoView({ block: "nearest" });
    }
    if (focused) el.focus({ preventScroll: true });
  }

  const onKey = (e) => {
    if (e.target && (e.target.tagName === "INPUT" && e.target.type !== "range" && e.target.type !== "checkbox" || e.target.tagName === "TEXTAREA" || e.target.tagName === "SELECT")) return;
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const cur = model.get("turn") || 0;
    const keys = {
      ArrowRight: () => setTurn(cur + 1), ArrowLeft: () => setTurn(cur - 1), Home: () => setTurn(0), End: () => setTurn(turnCount() - 1),
      e: () => jump("error"), r: () => jump("change"), a: () => { state.all = !state.all; draw(); }, t: () => { state.openThink = !state.openThink; draw(); },
    };
    if (keys[e.key]) { keys[e.key](); e.preventDefault(); e.stopPropagation(); }
  };
  el.addEventListener("keydown", onKey);
  const redraw = () => draw();
  const traitName = options.traitName || "trajectory";
  model.on(`change:${traitName}`, redraw);
  model.on("change:turn", redraw);
  model.on("change:lens", redraw);
  model.on("msg:custom", onMsg);
  draw();
  return () => { if (lensCleanup) lensCleanup(); model.off(`change:${traitName}`, redraw); model.off("change:turn", redraw); model.off("change:lens", redraw); model.off("msg:custom", onMsg); };
}

// ---------------------------------------------------------------- run table

const TABLE_COLUMNS = [
  ["run", "run"], ["task_id", "task"], ["env", "env"], ["model", "model"], ["sample_index", "#"], ["reward", "reward"], ["success", "success"],
  ["turns", "turns"], ["total_tokens", "tokens"], ["seconds", "time"], ["queue_seconds", "queued"], ["error", "error"], ["final_answer", "answer"],
];

function mountTable(model, root) {
  const el = h("div", { class: "ag-table-widget" });
  add(root, el);
  let debounce = null;
  const setQuery = (patch, now) => {
    const q = { ...(model.get("query") || {}), ...patch };
    if (!("page" in patch)) q.page = 0;
    clearTimeout(debounce);
    const apply = () => { model.set("query", q); model.save_changes(); };
    if (now) apply(); else debounce = setTimeout(apply, 250);
  };
  const search = h("input", { type: "search", class: "ag-search", placeholder: "filter: words, or =reward > 0.5 and turns < 3", value: (model.get("query") || {}).text || "",
    oninput: (e) => setQuery({ text: e.target.value }) });
  const select = (name, label, values) => h("select", { class: `ag-select ag-select-${name}`, title: label, onchange: (e) => setQuery({ [name]: e.target.value }, true) },
    h("option", { value: "" }, `all ${label}`), values.map((v) => h("option", { value: v }, v)));
  const toolbar = h("div", { class: "ag-toolbar" });
  const statsLine = h("div", { class: "ag-run-stats", "data-role": "run-stats" });
  const body = h("div", { class: "ag-table-body", tabindex: 0, "data-lm-suppress-shortcuts": "true", title: "↑/↓ move through the rows" });
  body.addEventListener("keydown", (e) => {  // ↑/↓ select the previous/next row, across pages
    if (!["ArrowDown", "ArrowUp"].includes(e.key) || e.ctrlKey || e.metaKey || e.altKey) return;
    e.preventDefault(); e.stopPropagation();
    const rows = model.get("rows") || [];
    if (!rows.length) return;
    const at = rows.findIndex((r) => r.key === model.get("selected"));
    const step = e.key === "ArrowDown" ? 1 : -1;
    const q = model.get("query") || {};
    const pages = Math.max(1, Math.ceil((model.get("total") || 0) / (q.page_size || 25)));
    if (at + step >= rows.length && (q.page || 0) < pages - 1) { pendingEdge = "first"; setQuery({ page: (q.page || 0) + 1 }, true); return; }
    if (at + step < 0 && at !== -1 && (q.page || 0) > 0) { pendingEdge = "last"; setQuery({ page: (q.page || 0) - 1 }, true); return; }
    const next = at === -1 ? 0 : Math.max(0, Math.min(rows.length - 1, at + step));
    model.set("selected", rows[next].key); model.save_changes();
  });
  let pendingEdge = null;  // after ↑/↓ crossed a page: select its last/first row once the rows arrive
  const pager = h("div", { class: "ag-pager" });
  add(el, toolbar, statsLine, body, pager);

  function drawStats() {  // per run, over the rows the filters match: counts, rates with 95% intervals
    const runs = model.get("stats") || [];
    fill(statsLine, runs.map((s) => {
      const passes = Object.values(s.pass_at || {}).filter((p) => p.k > 1).map((p) => `pass@${p.k} ${fmt(p.value)}`);
      return h("div", { class: "ag-run-stats-line" },
        runs.length > 1 || s.run ? h("b", {}, `${s.run} `) : null,
        `${fmt(s.episodes)} episodes · ${fmt(s.tasks)} tasks · `,
        h("span", { class: s.errors ? "ag-bad" : "" }, `${fmt(s.errors)} errors`),
        ` · success ${fmtEstimate(s.success)} · reward ${fmtEstimate(s.reward)}`,
        passes.length ? ` · ${passes.join(" · ")}` : "");
    }));
  }

  function drawToolbar() {
    const q = model.get("query") || {};
    const ch = model.get("choices") || {};
    const sel = [select("env", "envs", ch.env || []), select("model", "models", ch.model || [])];
    if ((ch.run || []).length > 1) sel.push(select("run", "runs", ch.run));
    const status = h("select", { class: "ag-select ag-select-status", onchange: (e) => setQuery({ status: e.target.value }, true) },
      ["all", "success", "failure", "error", "ok"].map((s) => h("option", { value: s }, s === "all" ? "any outcome" : s === "ok" ? "no error" : s)));
    fill(toolbar, search, sel, status,
      h("span", { class: "ag-count" }),
      model.get("live") ? h("span", { class: "ag-live", title: "updates as the store grows" }, "● live") : null);
  }
  function syncToolbar() {  // the query may change from Python (table.filter(...))
    const q = model.get("query") || {};
    if (document.activeElement !== search && search.value !== (q.text || "")) search.value = q.text || "";
    for (const s of toolbar.querySelectorAll("select")) {
      const name = s.className.replace(/.*ag-select-/, "");
      s.value = q[name] || (name === "status" ? "all" : "");
    }
  }
  function drawRows() {
    const q = model.get("query") || {};
    const rows = model.get("rows") || [];
    if (pendingEdge && rows.length) {
      const key = rows[pendingEdge === "first" ? 0 : rows.length - 1].key;
      pendingEdge = null;
      if (key !== model.get("selected")) { model.set("selected", key); model.save_changes(); return; }
    }
    const queued = rows.some((r) => r.queue_seconds > 0);
    const columns = TABLE_COLUMNS.filter(([key]) => (key !== "run" || ((model.get("choices") || {}).run || []).length > 1) && (key !== "queue_seconds" || queued));
    const total = model.get("total") || 0;
    const count = model.get("count") || 0;
    const selected = model.get("selected");
    toolbar.querySelector(".ag-count").textContent = `${fmt(total)} of ${fmt(count)} trajectories`;
    const head = h("tr", {}, columns.map(([key, label]) => {
      const arrow = q.sort_by === key ? (q.descending ? " ▼" : " ▲") : "";
      return h("th", { class: "ag-click", "data-col": key, onclick: () => setQuery({ sort_by: key, descending: q.sort_by === key ? !q.descending : key === "reward" }, true) }, label + arrow);
    }));
    const lines = rows.map((r) => h("tr", {
      class: `ag-row${r.key === selected ? " ag-row-selected" : ""}${r.error ? " ag-row-error" : ""}`, "data-key": r.key,
      onclick: () => { model.set("selected", r.key); model.save_changes(); },
    }, columns.map(([key]) => {
      const v = r[key];
      if (key === "reward") return h("td", { class: "ag-num" }, h("span", { class: `ag-reward ${r.success === true ? "ag-pos" : r.success === false ? "ag-neg" : ""}` }, fmt(v)));
      if (key === "success") return h("td", { class: v === true ? "ag-pos" : v === false ? "ag-neg" : "ag-dim" }, v === true ? "✓" : v === false ? "✗" : MISSING);
      if (key === "model") return h("td", {}, v === null || v === undefined || v === "" ? MISSING_MODEL : v);
      if (key === "seconds") {  // the policy's and environment's time: waiting for a busy model server is in "queued"
        const wait = r.queue_seconds || 0;
        return h("td", { class: "ag-num", title: wait ? `wall ${fmtSeconds(v)}, of which ${fmtSeconds(wait)} queued for the model` : "" }, fmtSeconds(v === null || v === undefined ? v : Math.max(0, v - wait)));
      }
      if (key === "queue_seconds") return h("td", { class: "ag-num ag-dim" }, v ? fmtSeconds(v) : "");
      if (key === "error") return h("td", { class: v ? "ag-bad" : "" }, v || "");
      if (key === "final_answer") return h("td", { class: "ag-answer", title: v || "" }, (v || "").slice(0, 60));
      return h("td", { class: typeof v === "number" ? "ag-num" : "" }, v === null || v === undefined ? MISSING : fmt(v));
    })));
    fill(body, h("table", { class: "ag-grid ag-runs" }, h("thead", {}, head), h("tbody", {}, lines)),
      model.get("query_error") ? h("div", { class: "ag-error-note" }, model.get("query_error")) : null,
      rows.length ? null : h("div", { class: "ag-empty" }, count ? "No trajectory matches." : "No trajectories yet."));
    const size = q.page_size || 25;
    const pages = Math.max(1, Math.ceil(total / size));
    const page = Math.min(q.page || 0, pages - 1);
    fill(pager, 
      h("button", { class: "ag-btn", disabled: page === 0, onclick: () => setQuery({ page: page - 1 }, true) }, "◀"),
      h("span", {}, ` page ${page + 1} / ${pages} `),
      h("button", { class: "ag-btn", disabled: page >= pages - 1, onclick: () => setQuery({ page: page + 1 }, true) }, "▶"));
  }
  const redraw = () => { drawToolbar(); syncToolbar(); drawStats(); drawRows(); };
  redraw();
  model.on("change:stats", drawStats);
  const events = ["change:rows", "change:total", "change:selected", "change:query_error", "change:count"];
  const toolbarEvents = ["change:choices", "change:live"];
  events.forEach((e) => model.on(e, drawRows));
  toolbarEvents.forEach((e) => model.on(e, redraw));
  model.on("change:query", syncToolbar);
  return () => { events.forEach((e) => model.off(e, drawRows)); toolbarEvents.forEach((e) => model.off(e, redraw)); model.off("change:query", syncToolbar); model.off("change:stats", drawStats); };
}

// ---------------------------------------------------------------- compare

function renderTurnCell(v, k, ctx) {
  const turn = v.turns.find((t) => t.index === k && !t.partial);
  if (!turn) return h("div", { class: "ag-missing" }, "— no such turn —");
  return renderTurn(v, turn, ctx);
}

function renderWordDiff(ops) {
  if (!ops) return h("span", { class: "ag-dim" }, "(too long to diff)");
  return h("pre", { class: "ag-text ag-diff" }, ops.map(([op, text]) =>
    op === "=" ? text : h(op === "-" ? "del" : "ins", {}, text)));
}

const signed = (e) => (e && e.value !== null ? `${e.value > 0 ? "+" : ""}${fmt(e.value)} [${fmt(e.low)}, ${fmt(e.high)}]` : MISSING);

function renderPairedStats(s, labels) {
  if (isEmpty(s)) return null;
  const only = [s.only_in_a.length ? `${s.only_in_a.length} only in ${labels[0]}` : null,
    s.only_in_b.length ? `${s.only_in_b.length} only in ${labels[1]}` : null].filter((x) => x);
  return h("div", { class: "ag-paired", "data-role": "paired-stats" },
    h("div", { class: "ag-header" }, h("span", { class: "ag-title" }, `${labels[0]} → ${labels[1]}`),
      badge(`▲ ${s.gained.length} gained`, s.gained.length ? "good" : "plain", s.gained.join(", ")),
      badge(`▼ ${s.lost.length} lost`, s.lost.length ? "bad" : "plain", s.lost.join(", ")),
      badge(`${s.same} same`, "plain"), badge(`${s.tasks} paired tasks`, "plain"),
      badge(`sign test p = ${fmt(s.p_value)}`, s.p_value < 0.05 ? "warn" : "plain",
        "exact two-sided sign test of gained against lost tasks (McNemar with one sample per task)"),
      only.length ? badge(only.join(", "), "warn", [...s.only_in_a, ...s.only_in_b].join(", ")) : null),
    h("div", { class: "ag-dim" },
      `success ${fmtEstimate(s.success_a)} → ${fmtEstimate(s.success_b)} · difference ${signed(s.success_difference)}`,
      ` · reward ${fmtEstimate(s.reward_a)} → ${fmtEstimate(s.reward_b)} · difference ${signed(s.reward_difference)}`),
    details("the comparison as text", h("pre", { class: "ag-pre" }, s.text || "")));
}

function mountCompare(model, root) {
  const el = h("div", { class: "ag-compare", tabindex: 0 });
  add(root, el);
  const ctx = { openThink: false, expand: (where, pre, more) => { more.textContent = "the full text is shown in TrajectoryViewer"; } };
  function draw() {
    const p = model.get("pair") || {};
    const options = model.get("choices") || [];
    el.replaceChildren();
    add(el, renderPairedStats(model.get("stats"), p.labels || ["A", "B"]));
    if (options.length > 1) {
      const mark = { gained: "▲ ", lost: "▼ " };
      const sel = h("select", { class: "ag-select ag-pair-select", onchange: (e) => { model.set("choice", e.target.value); model.save_changes(); } },
        options.map((o) => h("option", { value: o.key }, `${mark[o.flip] || ""}${o.key}  (${fmt(o.reward[0])} vs ${fmt(o.reward[1])})`)));
      sel.value = model.get("choice");
      add(el, h("div", { class: "ag-toolbar" }, "task ", sel, h("span", { class: "ag-dim" }, ` ${options.length} pairs`)));
    }
    if (!p.a) { add(el, h("div", { class: "ag-empty" }, "Nothing to compare.")); return; }
    const o = p.outcome;
    const side = (v, i) => h("div", { class: "ag-compare-side" },
      h("div", { class: "ag-title" }, p.labels[i]), h("div", { class: "ag-dim" }, `${v.model || v.policy} · ${v.id}`),
      rewardBadge(v.reward, "reward", v.success), successBadge(v.success), badge(`${v.turns.filter((t) => !t.partial).length} turns`, "plain"),
      badge(`${fmt(v.usage.total_tokens)} tokens`, "plain"), v.error ? badge(`⚠ ${v.error.kind}`, "bad") : null);
    add(el, 
      h("div", { class: "ag-header" }, h("span", { class: "ag-title" }, `Compare · ${p.task_id}`),
        p.differing_turns ? badge(`${p.differing_turns} turn(s) differ`, "warn") : badge("same turns", "good"),
        o.first_divergence !== null ? badge(`first divergence: turn ${o.first_divergence + 1}`, "warn") : null,
        o.same_answer ? badge("same final answer", "good") : badge("final answers differ", "bad")),
      h("div", { class: "ag-compare-grid" }, side(p.a, 0), h("div", { class: "ag-compare-mid" }), side(p.b, 1)),
      o.same_answer ? null : h("div", { class: "ag-answer-diff" }, h("b", {}, "Final answer, word diff: "), renderWordDiff(o.answer_diff)),
      details("opening messages", h("div", {}, p.a.preamble.map((i) => renderMessage(p.a.messages[i], p.a, ctx, { standalone: true })))),
      p.rows.map((r) => h("div", { class: `ag-compare-row${r.same ? "" : " ag-compare-diff"}`, "data-turn": r.turn },
        h("div", { class: "ag-compare-rowhead" }, `Turn ${r.turn + 1} `, r.same ? badge("same", "good") : r.diff.map((d) => badge(d.replace("_", " "), "warn"))),
        r.content_diff ? h("div", { class: "ag-answer-diff" }, renderWordDiff(r.content_diff)) : null,
        h("div", { class: "ag-compare-grid" }, renderTurnCell(p.a, r.turn, ctx), h("div", { class: "ag-compare-mid" }), renderTurnCell(p.b, r.turn, ctx)))));
    const tails = [p.a, p.b].map((v) => v.turns.find((t) => t.partial));
    if (tails[0] || tails[1]) add(el, h("div", { class: "ag-compare-grid" },
      tails[0] ? renderTurn(p.a, tails[0], ctx) : h("div"), h("div", { class: "ag-compare-mid" }), tails[1] ? renderTurn(p.b, tails[1], ctx) : h("div")));
  }
  draw();
  model.on("change:pair", draw);
  model.on("change:choices", draw);
  model.on("change:stats", draw);
  return () => { model.off("change:pair", draw); model.off("change:choices", draw); model.off("change:stats", draw); };
}

// ---------------------------------------------------------------- groups

function mountGroups(model, root) {
  const el = h("div", { class: "ag-groups" });
  const list = h("div", { class: "ag-group-list" });
  const detail = h("div", { class: "ag-group-detail" });
  const viewerSlot = h("div", { class: "ag-group-viewer" });
  const state = { filter: "all" };
  add(root, el);
  add(el, h("div", { class: "ag-summary" }), h("div", { class: "ag-group-layout" }, list, detail), viewerSlot);
  const choose = (key) => { model.set("selected_group", key); model.save_changes(); };
  function drawSummary() {
    const s = model.get("summary") || {};
    const filters = [["all", "all groups"], ["zero_variance", "zero variance"], ["suspicious_winner", "suspicious winners"], ["errors", "with errors"]];
    fill(el.firstChild, 
      h("span", { class: "ag-title" }, "GRPO groups "),
      badge(`${fmt(s.groups)} groups`, "plain"), badge(`${fmt(s.multi_sample_groups)} with n>1`, "plain"),
      badge(`${fmt(s.zero_variance)} zero variance`, s.zero_variance ? "warn" : "good"),
      badge(`${fmt(100 * (s.signal_fraction || 0), 1)}% give a signal`, "plain"),
      badge(`${fmt(s.suspicious)} suspicious`, s.suspicious ? "bad" : "good"),
      h("span", { class: "ag-filters" }, filters.map(([k, label]) => h("button", { class: `ag-btn${state.filter === k ? " ag-btn-on" : ""}`, "data-filter": k, onclick: () => { state.filter = k; drawSummary(); drawList(); } }, label))));
  }
  function drawList() {
    const groups = (model.get("groups") || []).filter((g) => state.filter === "all" || g.flags.includes(state.filter));
    const current = model.get("selected_group");
    fill(list, ...groups.map((g) => h("div", { class: `ag-group-item${g.key === current ? " ag-row-selected" : ""}`, "data-key": g.key, onclick: () => choose(g.key) },
      h("div", {}, h("b", {}, g.task_id), h("span", { class: "ag-dim" }, ` ${g.env} · ${g.model || MISSING_MODEL} · n=${g.n}`)),
      h("div", { class: "ag-small" }, `mean ${fmt(g.mean)} ± ${fmt(g.std)} `, flagBadges(g.flags)))));
    if (!groups.length) add(list, h("div", { class: "ag-empty" }, "No group matches."));
  }
  function drawDetail() {
    const g = model.get("group") || {};
    if (!g.samples) { fill(detail, h("div", { class: "ag-empty" }, "Choose a group.")); return; }
    const maxAdv = Math.max(1e-9, ...g.samples.map((s) => Math.abs(s.advantage)));
    const selected = model.get("selected");
    fill(detail, 
      h("div", { class: "ag-header" }, h("span", { class: "ag-title" }, g.task_id), h("span", { class: "ag-dim" }, ` ${g.env} · ${g.model || g.policy}`),
        badge(`mean ${fmt(g.mean)}`, "plain"), badge(`std ${fmt(g.std)}`, g.std ? "plain" : "warn"), flagBadges(g.flags)),
      g.flags.includes("zero_variance") ? h("div", { class: "ag-warning" }, "Every sample got the same reward: all advantages are 0 and GRPO learns nothing from this group.") : null,
      h("div", { class: "ag-cards" }, g.samples.map((s) => {
        const width = (50 * Math.abs(s.advantage)) / maxAdv;
        const bar = h("div", { class: "ag-adv" }, h("div", { class: `ag-adv-bar ${s.advantage >= 0 ? "ag-adv-pos" : "ag-adv-neg"}`,
          style: s.advantage >= 0 ? `left:50%;width:${width}%` : `left:${50 - width}%;width:${width}%` }));
        return h("div", { class: `ag-card${s.flags.length ? " ag-card-flagged" : ""}${s.id === selected ? " ag-row-selected" : ""}`, "data-id": s.id,
          onclick: () => { model.set("selected", s.id); model.save_changes(); } },
          h("div", {}, h("b", {}, `sample ${s.sample_index}`), " ", rewardBadge(s.reward, "reward", s.success), s.error ? badge(`⚠ ${s.error}`, "bad") : null),
          h("div", { class: "ag-small" }, `advantage ${fmt(s.advantage, 2)} · ${s.turns} turns · length ${fmt(s.length)}`), bar,
          h("div", {}, flagBadges(s.flags)), h("pre", { class: "ag-text ag-card-answer" }, s.answer || "(empty answer)"));
      })));
  }
  drawSummary(); drawList(); drawDetail();
  const cleanupViewer = mountViewer(model, viewerSlot, { emptyText: "Click a sample to read it.", scroll: false });
  const onGroups = () => { drawSummary(); drawList(); };
  const onGroup = () => { drawList(); drawDetail(); };
  model.on("change:groups", onGroups); model.on("change:summary", onGroups);
  model.on("change:group", onGroup); model.on("change:selected_group", onGroup); model.on("change:selected", drawDetail);
  return () => { cleanupViewer(); model.off("change:groups", onGroups); model.off("change:summary", onGroups); model.off("change:group", onGroup); model.off("change:selected_group", onGroup); model.off("change:selected", drawDetail); };
}

// ---------------------------------------------------------------- entry points

function render({ model, el }) {
  el.classList.add("ag-root");
  const kind = model.get("kind");
  const cleanups = [];
  if (kind === "viewer") cleanups.push(mountViewer(model, el));
  else if (kind === "table") cleanups.push(mountTable(model, el));
  else if (kind === "browser") {
    const top = h("div", { class: "ag-browser-table" });
    const bottom = h("div", { class: "ag-browser-viewer" });
    add(el, top, bottom);
    cleanups.push(mountTable(model, top), mountViewer(model, bottom, { emptyText: "Click a row to open its trajectory." }));
  } else if (kind === "compare") cleanups.push(mountCompare(model, el));
  else if (kind === "groups") cleanups.push(mountGroups(model, el));
  else if (kind === "lens") cleanups.push(mountLens(model, el));  // widgets/token_lens.js
  else add(el, h("div", { class: "ag-error-box" }, `unknown widget kind ${kind}`));
  return () => cleanups.forEach((c) => c && c());
}

// ---------------------------------------------------------------- static pages (no kernel)

// Mirrors agent_gym.widgets.table.apply_query for the static export (pandas expressions need a kernel).
function staticQuery(all, q) {
  const words = (q.text || "").toLowerCase().split(/\s+/).filter((w) => w);
  const fields = ["id", "task_id", "env", "model", "policy", "error", "error_message", "final_answer", "run"];
  let error = null;
  let rows = all.filter((r) => {
    if (q.env && r.env !== q.env) return false;
    if (q.run && r.run !== q.run) return false;
    if (q.model && (q.model === "(none)" ? r.model !== null : r.model !== q.model)) return false;
    if (q.status === "success" && r.success !== true) return false;
    if (q.status === "failure" && r.success !== false) return false;
    if (q.status === "error" && !r.error) return false;
    if (q.status === "ok" && r.error) return false;
    return true;
  });
  if ((q.text || "").trim().startsWith("=")) error = "Expressions need a running kernel; this static page filters by words only.";
  else if (words.length) {
    rows = rows.filter((r) => {
      const hay = fields.map((f) => (r[f] === null || r[f] === undefined ? "None" : String(r[f]))).join(" ").toLowerCase();
      return words.every((w) => hay.includes(w));
    });
  }
  if (q.sort_by) {
    const dir = q.descending ? -1 : 1;
    rows = rows.map((r, i) => [r, i]).sort(([a, i], [b, j]) => {
      const x = a[q.sort_by], y = b[q.sort_by];
      if (x === y) return i - j;
      if (x === null || x === undefined) return 1;
      if (y === null || y === undefined) return -1;
      return (x < y ? -1 : 1) * dir;
    }).map(([r]) => r);
  }
  const size = q.page_size || 25;
  const pages = Math.max(1, Math.ceil(rows.length / size));
  const page = Math.min(Math.max(q.page || 0, 0), pages - 1);
  return { rows: rows.slice(page * size, page * size + size), total: rows.length, error, keys: new Set(rows.map((r) => r.key)) };
}

function staticModel(state) {
  const listeners = {};
  let dirty = new Set();
  const emit = (name, payload) => (listeners[name] || []).slice().forEach((cb) => cb(payload));
  const model = {
    get: (k) => state[k],
    set: (k, v) => { state[k] = v; dirty.add(k); },
    save_changes() {
      const keys = [...dirty];
      dirty = new Set();
      keys.forEach((k) => backend(k));
      keys.forEach((k) => emit(`change:${k}`));
    },
    on(name, cb) { (listeners[name] = listeners[name] || []).push(cb); },
    off(name, cb) { if (!cb) delete listeners[name]; else listeners[name] = (listeners[name] || []).filter((x) => x !== cb); },
    send(msg) {
      if (msg.type === "expand") setTimeout(() => emit("msg:custom", { ...msg, type: "expanded", text: null, error: "This static page holds the truncated text only; open the run in a notebook to see all of it." }), 0);
    },
  };
  const changed = (k, v) => { state[k] = v; setTimeout(() => emit(`change:${k}`), 0); };
  function backend(key) {
    if (key === "query" && state._all_rows) {
      const out = staticQuery(state._all_rows, state.query);
      changed("rows", out.rows); changed("total", out.total); changed("query_error", out.error || "");
      if ((state.selected && !out.keys.has(state.selected)) || (!state.selected && state._trajectories)) {  // as RunTable._follow_filter
        state.selected = out.rows.length ? out.rows[0].key : "";
        backend("selected");
        changed("selected", state.selected);
      }
    }
    if (key === "selected" && state._trajectories) { changed("trajectory", state._trajectories[state.selected] || {}); changed("turn", 0); }
    if (key === "choice" && state._pairs) changed("pair", state._pairs[state.choice] || {});
    if (key === "selected_group" && state._groups) changed("group", state._groups[state.selected_group] || {});
  }
  return model;
}

// Puts back the strings agent_gym.widgets.export.page.intern_strings stored once ({"$ag-string": i}).
function unintern(value, strings) {
  if (!strings || !strings.length || value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map((v) => unintern(v, strings));
  const keys = Object.keys(value);
  if (keys.length === 1 && keys[0] === "$ag-string") return strings[value["$ag-string"]];
  const out = {};
  for (const k of keys) out[k] = unintern(value[k], strings);
  return out;
}

function renderStatic(el, state, strings = null) {
  return render({ model: staticModel(unintern(state, strings)), el });
}

const widget = { render, renderStatic };
export default widget;
