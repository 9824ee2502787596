// The studio's page: one rule file in CodeMirror, and beside it what the server says
// about the unsaved text (problems, examples, the sample, the impact, the other
// definitions) and the file's history. Every answer comes from the server's JSON
// endpoints (tierline/studio/app.py); the page decides nothing about rules.
import { EditorState } from "@codemirror/state";
import {
  EditorView, keymap, lineNumbers, highlightActiveLine, highlightActiveLineGutter,
  drawSelection, hoverTooltip,
} from "@codemirror/view";
import { defaultKeymap, history as editHistory, historyKeymap } from "@codemirror/commands";
import { syntaxHighlighting, defaultHighlightStyle, bracketMatching } from "@codemirror/language";
import { linter, lintGutter, forceLinting, setDiagnostics } from "@codemirror/lint";
import { autocompletion } from "@codemirror/autocomplete";
import { tierline } from "./tierline-lang.js";
import { t, setLanguage, language, num, pct } from "./i18n.js";

const state = {
  session: null, files: [], path: null, savedText: "", digest: null, analysis: null,
  tab: "problems", sample: null, columns: [], mapping: { map: {}, id: null },
  token: "", lastTable: null, refreshTimer: null, generation: 0,
  analysedText: null, drawnFor: null, drawing: 0,
};
// The sample, impact and comparison panels are redrawn from the text itself once typing
// stops (as long as the linter waits), beside the check, not after it: the check runs
// the solver, and the 100,000-row impact must be on screen within 500 ms.
const REFRESH_DELAY = 120;

// ------------------------------------------------------------------ helpers

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}
const $ = (id) => document.getElementById(id);

class ApiError extends Error {
  constructor(status, body) {
    super(body?.message || `HTTP ${status}`);
    this.status = status; this.body = body || {};
  }
}

async function api(path, body, extra = {}) {
  // The server words what it says (diagnostics, reasons, hovers, refusals) in the
  // page's language.
  const headers = { "X-Tierline-Studio": "1", "Accept-Language": language(), ...extra.headers };
  if (state.token) headers.Authorization = `Bearer ${state.token}`;
  const init = { method: body === undefined ? "GET" : "POST", headers };
  if (body !== undefined) {
    if (extra.raw) init.body = body;
    else { init.body = JSON.stringify(body); headers["Content-Type"] = "application/json"; }
  }
  const response = await fetch(path, init);
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

function errorText(error) {
  const body = error.body || {};
  const key = `err_${body.error}`;
  const params = { ...(body.detail || {}), message: body.message || error.message, file: state.path };
  const said = t(key, params);
  return said === key ? t("err_other", params) : said;
}

function tierName(tier) {
  if (tier === "") return t("noTier");
  if (tier === "(error)") return t("refused");
  return tier;
}

// What the notice line says is kept as a function of the language, so that switching
// the language says it again in the other one.
let said = null;
function notice(text, kind = "info") {
  said = typeof text === "function" ? { text, kind } : text ? { text: () => text, kind } : null;
  const box = $("notice");
  box.textContent = said ? said.text() : "";
  box.className = `notice ${kind}`;
  box.hidden = !said;
}

// ------------------------------------------------------------------ editor

let view = null;

function currentText() { return view ? view.state.doc.toString() : ""; }

async function analyse() {
  const text = currentText();
  const generation = ++state.generation;
  const result = await api("/api/analyze", { path: state.path, text });
  if (generation !== state.generation) return result; // a newer keystroke is on its way
  state.analysis = result; state.analysedText = text;
  renderProblems(); renderExamples(); updateSave();
  if (state.drawnFor !== `${state.path}\n${text}`) scheduleRefresh(); // not yet drawn for it (a file opened)
  return result;
}

const serverLint = linter(async () => {
  if (!state.path) return [];
  let result;
  try { result = await analyse(); } catch (error) { notice(() => errorText(error), "error"); return []; }
  return lintMarks(result);
}, { delay: 120 });

// The editor's marks of an analysis (squiggles, their tooltips and fixes).
function lintMarks(result) {
  const length = view.state.doc.length;
  return result.diagnostics.map((d) => ({
    from: Math.min(d.from, length),
    to: Math.min(Math.max(d.to, d.from), length),
    severity: d.severity === "error" ? "error" : "warning",
    message: d.message + (d.hint ? ` — ${d.hint}` : ""),
    source: d.code,
    actions: d.fix ? [{ name: fixTitle(d.fix), apply: () => applyFix(d.fix) }] : [],
  }));
}

// Another language: the server says the diagnostics again, in it (the text is the same).
async function relint() {
  if (!view || !state.path) return;
  const text = currentText();
  try {
    const result = await analyse();
    if (currentText() === text) view.dispatch(setDiagnostics(view.state, lintMarks(result)));
  } catch (error) { notice(() => errorText(error), "error"); }
}

// A fix's title in the page's language: one replacement is said from its edit; others
// keep the services' words.
function fixTitle(fix) {
  if (fix.changes.length === 1 && view) {
    const c = fix.changes[0];
    const old = view.state.sliceDoc(c.from, c.to);
    if (old && c.insert) return t("replace", { old, new: c.insert });
  }
  return t("fix", { title: fix.title });
}

function applyFix(fix) {
  view.dispatch({ changes: fix.changes.map((c) => ({ from: c.from, to: c.to, insert: c.insert })) });
}

function position(pos) {
  const line = view.state.doc.lineAt(pos);
  // the server counts characters in code points
  const character = [...line.text.slice(0, pos - line.from)].length;
  return { line: line.number - 1, character };
}

// The services' hover is Markdown: code blocks, `code` and **bold** are all it uses.
function markdown(text) {
  return text.split(/```[a-z]*\n?/).map((part, i) => i % 2
    ? h("pre", {}, part.replace(/\n$/, ""))
    : h("div", {}, part.split(/(`[^`]+`|\*\*[^*]+\*\*)/).map((bit) =>
      bit.startsWith("`") ? h("code", {}, bit.slice(1, -1))
        : bit.startsWith("**") ? h("strong", {}, bit.slice(2, -2)) : bit)));
}

const serverHover = hoverTooltip(async (v, pos) => {
  try {
    const found = await api("/api/hover", { path: state.path, text: currentText(), position: position(pos) });
    if (!found.contents) return null;
    return {
      pos, above: true,
      create: () => ({ dom: h("div", { class: "hover", "data-testid": "hover" }, markdown(found.contents)) }),
    };
  } catch { return null; }
});

async function serverComplete(context) {
  const word = context.matchBefore(/[A-Za-z_][A-Za-z0-9_]*/);
  if (!word && !context.explicit) return null;
  try {
    const found = await api("/api/complete", { path: state.path, text: currentText(), position: position(context.pos) });
    if (!found.items || !found.items.length) return null;
    return {
      from: word ? word.from : context.pos,
      options: found.items.map((i) => ({
        label: i.label, detail: i.detail || undefined, apply: i.insert,
        type: { input: "variable", let: "variable", level: "constant", band: "enum", tier: "class", label: "property", type: "type", operator: "keyword" }[i.kind] || i.kind,
      })),
    };
  } catch { return null; }
}

function makeEditor(text) {
  const extensions = [
    lineNumbers(), highlightActiveLineGutter(), editHistory(), drawSelection(), bracketMatching(),
    highlightActiveLine(), syntaxHighlighting(defaultHighlightStyle), tierline,
    keymap.of([...defaultKeymap, ...historyKeymap]),
    serverLint, lintGutter(), serverHover, autocompletion({ override: [serverComplete] }),
    EditorView.updateListener.of((u) => { if (u.docChanged) { updateSave(); scheduleRefresh(REFRESH_DELAY); } }),
    EditorState.readOnly.of(!canEdit()), EditorView.lineWrapping,
  ];
  if (view) view.destroy();
  view = new EditorView({ state: EditorState.create({ doc: text, extensions }), parent: $("editor") });
}

// ------------------------------------------------------------------ files

function canEdit() { return !!state.session && state.session.roles.includes("edit"); }

async function loadFiles() {
  state.files = (await api("/api/files")).files;
  renderFiles();
}

function renderFiles() {
  const list = $("files");
  list.replaceChildren(...state.files.map((f) => h("li", {},
    h("button", {
      class: f.path === state.path ? "file current" : "file",
      "data-file": f.path, title: f.title || f.error || "",
      onclick: () => {
        if (view && currentText() !== state.savedText && !window.confirm(t("discard", { file: state.path }))) return;
        openFile(f.path);
      },
    }, f.path, f.ok === false ? " ⚠" : ""))));
}

async function openFile(path) {
  const query = new URLSearchParams({ path });
  if (state.sample) query.set("sample", state.sample);
  const found = await api(`/api/file?${query}`);
  // the editor reads every line break as "\n": a file written with "\r\n" (Windows) is
  // compared as the editor holds it, or it would be "unsaved" (and ask before leaving) as
  // soon as it is opened
  state.path = found.path; state.savedText = found.text.replace(/\r\n?/g, "\n"); state.digest = found.digest;
  state.analysis = null;
  if (found.mapping) state.mapping = { map: found.mapping.map || {}, id: found.mapping.id || null };
  makeEditor(found.text);
  renderFiles();
  document.title = `${path} — ${t("title")}`;
  forceLinting(view);
  notice("");
  if (state.tab === "history") renderHistory();
}

// ------------------------------------------------------------------ save

function updateSave() {
  const button = $("save");
  const dirty = currentText() !== state.savedText;
  $("dirty").textContent = dirty ? t("unsaved") : t("clean");
  $("dirty").className = dirty ? "dirty" : "dirty clean";
  const a = state.analysis;
  let why = "";
  if (!canEdit()) why = t("viewOnly");
  else if (!a || !a.ok) why = t("saveBlockedErrors");
  else if (a.examples && a.examples.results.some((r) => !r.passed)) why = t("saveBlockedExamples");
  const upToDate = a && a === state.analysis;
  button.disabled = !dirty || !!why || !upToDate;
  button.title = why;
}

async function save() {
  const button = $("save");
  button.disabled = true; button.textContent = t("saving");
  try {
    const text = currentText();
    const record = await api("/api/save", {
      path: state.path, text, digest: state.digest, author: $("author").value || undefined,
    });
    state.savedText = text; state.digest = record.new_digest;
    notice(() => t("saved", { file: record.file, digest: record.new_digest.slice(0, 12), author: record.author }), "ok");
    if (state.tab === "history") renderHistory();
    if (state.tab === "impact") refreshTab();
  } catch (error) {
    notice(() => errorText(error) + (error.body?.error === "gate" ? `\n${error.body.message}` : ""), "error");
  } finally {
    button.textContent = t("save"); updateSave();
  }
}

// ------------------------------------------------------------------ panels

function renderProblems() {
  const a = state.analysis;
  const box = $("panel-problems");
  if (!a) { box.replaceChildren(t("checking")); return; }
  if (!a.diagnostics.length) { box.replaceChildren(h("p", { class: "good" }, t("noProblems"))); return; }
  box.replaceChildren(h("ul", { class: "problems" }, a.diagnostics.map((d) => h("li", { class: d.severity },
    h("button", { class: "where", onclick: () => jump(d.from) }, `${d.line}:${d.column}`), " ",
    h("span", { class: "code" }, d.code), " ", d.message,
    d.hint ? h("div", { class: "hint" }, d.hint) : null,
    d.witness ? h("div", { class: "hint" }, JSON.stringify(d.witness)) : null,
    d.fix ? h("button", { class: "fix", "data-testid": "fix", title: d.fix.title, onclick: () => applyFix(d.fix) }, fixTitle(d.fix)) : null,
  ))));
}

function jump(pos) {
  view.dispatch({ selection: { anchor: Math.min(pos, view.state.doc.length) }, scrollIntoView: true });
  view.focus();
}

function renderExamples() {
  const a = state.analysis;
  const box = $("panel-examples");
  if (!a) return;
  if (!a.ok) { box.replaceChildren(h("p", {}, t("needRules"))); return; }
  const results = a.examples.results;
  const passed = results.filter((r) => r.passed).length;
  const unreached = [...a.examples.unreached.tiers, ...a.examples.unreached.labels];
  box.replaceChildren(
    h("p", { class: passed === results.length ? "good" : "bad", "data-testid": "examples-summary" },
      results.length ? t("examplesSummary", { passed, total: results.length }) : t("noExamples")),
    unreached.length ? h("p", { class: "hint" }, t("unreached", { what: unreached.join(", ") })) : null,
    h("ul", { class: "examples" }, results.map((r) => h("li", { class: r.passed ? "pass" : "fail" },
      h("button", { class: "where", onclick: () => jump(view.state.doc.line(Math.min(r.line, view.state.doc.lines)).from) }, String(r.line)), " ",
      h("strong", {}, r.passed ? t("passed") : t("failed")), " ", r.description,
      r.passed ? null : h("div", { class: "detail" },
        h("div", {}, `${t("expected")}: ${r.expected}`), h("div", {}, `${t("got")}: ${r.got}`),
        r.explanation ? h("pre", {}, r.explanation) : null),
    ))),
  );
}

function scheduleRefresh(delay = 0) {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(refreshTab, delay);
}

// Whether the text is known to have errors: the panels then say so without asking. A
// text not yet checked is asked about (the server refuses it if it has errors).
function knownBroken(text) {
  return state.analysedText === text && state.analysis && !state.analysis.ok;
}

// Each redraw of a panel takes a ticket; an answer for an older ticket (a keystroke or a
// tab since) is dropped, so a slow answer never replaces a newer one.
function ticket() { return ++state.drawing; }
function current(drawn) { return drawn === state.drawing; }
function needRules(error) { return error?.body?.error === "rules-have-errors"; }

function refreshTab() {
  clearTimeout(state.refreshTimer);
  if (state.path) state.drawnFor = `${state.path}\n${currentText()}`; // what the panel is drawn for
  if (state.tab === "sample") renderSample();
  else if (state.tab === "impact") renderImpact();
  else if (state.tab === "compare") renderCompare();
}

function sampleControls() {
  const samples = state.session.samples;
  const select = h("select", { id: "sample-select", onchange: async (e) => { await chooseSample(e.target.value); } },
    samples.map((s) => h("option", { value: s.id, selected: s.id === state.sample }, s.name)));
  const input = h("input", { type: "file", accept: ".csv,.tsv,.parquet,.pq,.jsonl,.ndjson,.json", id: "upload",
    onchange: (e) => e.target.files[0] && upload(e.target.files[0]) });
  return h("div", { class: "controls" },
    h("label", {}, t("chooseSample"), " ", samples.length ? select : h("em", {}, t("noSample"))),
    h("div", { class: "drop", id: "drop" }, t("dropHere"), " ", input));
}

function mappingControls() {
  const inputs = state.analysis?.ruleset?.inputs || [];
  if (!state.sample || !inputs.length) return null;
  const choose = (value, onchange, blank) => h("select", { onchange },
    h("option", { value: "" }, blank),
    state.columns.map((c) => h("option", { value: c, selected: c === value }, c)));
  const rows = inputs.map((i) => h("tr", {}, h("td", {}, i.name, h("span", { class: "type" }, ` ${i.type}`)),
    h("td", {}, choose(state.mapping.map[i.name] || "", (e) => {
      if (e.target.value) state.mapping.map[i.name] = e.target.value; else delete state.mapping.map[i.name];
      refreshTab();
    }, t("sameName")))));
  rows.push(h("tr", {}, h("td", {}, t("idColumn")), h("td", {}, choose(state.mapping.id || "", (e) => {
    state.mapping.id = e.target.value || null; refreshTab();
  }, t("rowNumber")))));
  return h("details", { class: "mapping" }, h("summary", {}, t("mapping")), h("table", {}, rows),
    canEdit() ? h("button", { onclick: remember }, t("remember")) : null);
}

async function remember() {
  try {
    const found = await api("/api/mapping", { path: state.path, sample: state.sample, mapping: state.mapping });
    notice(() => t("remembered", { file: found.remembered }), "ok");
  } catch (error) { notice(() => errorText(error), "error"); }
}

async function chooseSample(id) {
  state.sample = id;
  state.columns = (await api(`/api/columns?${new URLSearchParams({ sample: id })}`)).columns;
  const found = await api(`/api/file?${new URLSearchParams({ path: state.path, sample: id })}`);
  state.mapping = found.mapping ? { map: found.mapping.map || {}, id: found.mapping.id || null } : { map: {}, id: null };
  refreshTab();
}

async function upload(file) {
  try {
    if (file.size > state.session.max_upload) {
      throw new ApiError(413, { error: "upload-too-large", detail: { name: file.name, limit: state.session.max_upload } });
    }
    const found = await api("/api/samples", file, { raw: true, headers: { "X-Filename": file.name, "Content-Type": "application/octet-stream" } });
    state.session.samples.push({ id: found.id, name: found.name, uploaded: true });
    state.sample = found.id; state.columns = found.columns; state.mapping = { map: {}, id: null };
    notice("");
    if (state.tab !== "sample") showTab("sample"); else renderSample();
  } catch (error) { notice(() => errorText(error), "error"); }
}

function bars(entries, testid) {
  const max = Math.max(1, ...entries.map(([, v]) => v));
  return h("div", { class: "bars", "data-testid": testid }, entries.map(([name, value]) => h("div", { class: "bar", "data-tier": name },
    h("span", { class: "name" }, name),
    h("span", { class: "track" }, h("span", { class: "fill", style: `width:${(100 * value / max).toFixed(1)}%` })),
    h("span", { class: "value" }, num(value)))));
}

async function renderSample() {
  const box = $("panel-sample");
  const drawn = ticket();
  const text = currentText();
  if (!state.session.samples.length || !state.sample) { box.replaceChildren(sampleControls()); return; }
  if (knownBroken(text)) { box.replaceChildren(sampleControls(), h("p", {}, t("needRules"))); return; }
  let found;
  try {
    found = await api("/api/table", { path: state.path, text, sample: state.sample, mapping: state.mapping });
  } catch (error) {
    if (!current(drawn)) return;
    if (needRules(error)) { box.replaceChildren(sampleControls(), h("p", {}, t("needRules"))); return; }
    box.replaceChildren(sampleControls(), mappingControls() || "", h("p", { class: "bad" }, errorText(error)));
    return;
  }
  if (!current(drawn)) return;
  state.lastTable = found;
  const tiers = Object.entries(found.tiers).map(([k, v]) => [tierName(k), v]);
  box.replaceChildren(
    sampleControls(), mappingControls() || "",
    h("p", { "data-testid": "sample-rows" }, t("rows", { rows: found.rows })),
    h("h3", {}, t("tierCounts")), bars(tiers, "tier-counts"),
    Object.keys(found.labels).length ? h("h3", {}, t("labelCounts")) : null,
    Object.keys(found.labels).length ? bars(Object.entries(found.labels), "label-counts") : null,
    h("p", { class: "hint" }, t("showing", { shown: found.shown.length, rows: found.rows })),
    h("table", { class: "rows", "data-testid": "rows" },
      h("tr", {}, h("th", {}, found.id_name), h("th", {}, t("colTier")), h("th", {}, t("colLabels")), h("th", {}, t("colReason"))),
      found.shown.map((r) => h("tr", { class: r.error ? "error" : "", onclick: () => explainRow(r) },
        h("td", {}, String(r.id)), h("td", {}, tierName(r.tier)), h("td", {}, r.labels.join(", ")), h("td", { class: "reason" }, r.reason)))),
  );
}

async function explainRow(row) {
  let found;
  try { found = await api("/api/explain", { path: state.path, text: currentText(), account: row.account }); }
  catch (error) { notice(() => errorText(error), "error"); return; }
  const dialog = $("dialog");
  dialog.replaceChildren(
    h("h3", {}, `${String(row.id)}: ${tierName(found.tier ?? "")}`),
    h("pre", { "data-testid": "explanation" }, found.explanation || found.error),
    h("div", { class: "buttons" },
      canEdit() ? h("button", { "data-testid": "make-example", onclick: () => makeExample(row) }, t("makeExample")) : null,
      h("button", { onclick: () => dialog.close() }, t("close"))),
  );
  dialog.showModal();
}

async function makeExample(row) {
  try {
    const found = await api("/api/example", { path: state.path, text: currentText(), account: row.account, description: `${row.id}` });
    const text = currentText();
    const at = view.state.doc.length;
    const lead = text.endsWith("\n\n") ? "" : text.endsWith("\n") ? "\n" : "\n\n";
    view.dispatch({ changes: { from: at, insert: lead + found.block } });
    $("dialog").close();
    notice(() => t("exampleAdded"), "ok");
  } catch (error) { notice(() => errorText(error), "error"); }
}

// The matrix on the sample first, then (its own request: the solver may take longer)
// whether any account can move, from the rules alone.
async function renderImpact() {
  const box = $("panel-impact");
  const drawn = ticket();
  const text = currentText();
  if (knownBroken(text)) { box.replaceChildren(h("p", {}, t("needRules"))); return; }
  const parts = [h("h3", {}, t("impactTitle"))];
  if (state.sample) {
    try {
      const found = await api("/api/impact", { path: state.path, text, sample: state.sample, mapping: state.mapping });
      if (!current(drawn)) return;
      parts.push(...impactOnSample(found));
    } catch (error) {
      if (!current(drawn)) return;
      if (needRules(error)) { box.replaceChildren(h("p", {}, t("needRules"))); return; }
      parts.push(h("p", { class: "bad" }, errorText(error)));
    }
  } else parts.push(h("p", {}, t("noSample")));
  const rules = h("div", { class: "from-rules", "data-testid": "from-rules" }, h("h4", {}, t("fromRules")), t("checking"));
  // after the matrix, before the accounts that move (a long list): in sight without scrolling
  parts.splice(Math.min(parts.length, 2), 0, rules);
  box.replaceChildren(...parts);
  try {
    const found = await api("/api/impact/rules", { path: state.path, text });
    if (current(drawn)) rules.replaceChildren(h("h4", {}, t("fromRules")), ...fromRules(found));
  } catch (error) {
    if (current(drawn)) rules.replaceChildren(h("h4", {}, t("fromRules")), h("p", { class: "bad" }, errorText(error)));
  }
}

function impactOnSample(found) {
  const olds = [...new Set(found.matrix.map((m) => m.from))];
  const news = [...new Set(found.matrix.map((m) => m.to))];
  const cell = (a, b) => found.matrix.find((m) => m.from === a && m.to === b)?.count || 0;
  // Σ: each tier's accounts under the saved file (last column) and the edit (last row)
  const total = Object.fromEntries((found.tier_counts || []).map((c) => [c.tier, c]));
  const table = h("table", { class: "matrix", "data-testid": "matrix", "data-digest": found.digests?.new },
    h("tr", {}, h("th", {}, "↓ / →"), news.map((b) => h("th", {}, tierName(b))), h("th", { class: "total" }, "Σ")),
    olds.map((a) => h("tr", {}, h("th", {}, tierName(a)), news.map((b) => {
      const n = cell(a, b);
      return h("td", { class: a === b ? "same" : n ? "moved" : "", "data-from": a, "data-to": b }, n ? num(n) : "");
    }), h("td", { class: "total", "data-before": a }, num(total[a]?.before ?? 0)))),
    h("tr", {}, h("th", { class: "total" }, "Σ"),
      news.map((b) => h("td", { class: "total", "data-after": b }, num(total[b]?.after ?? 0))),
      h("td", { class: "total" }, num(found.rows))));
  // accounts that change tier first, then those whose labels alone change
  const moved = [...found.examples].sort((a, b) => (a.from === a.to) - (b.from === b.to)).slice(0, 15);
  const labels = Object.entries(found.labels);
  const change = (e) => {
    const gained = e.new.labels.filter((x) => !e.old.labels.includes(x)).map((x) => `+${x}`);
    const lost = e.old.labels.filter((x) => !e.new.labels.includes(x)).map((x) => `−${x}`);
    return [e.from === e.to ? tierName(e.from) : `${tierName(e.from)} → ${tierName(e.to)}`, ...gained, ...lost].join(" ");
  };
  return [h("div", {},
    h("p", { "data-testid": "impact-summary" }, found.changed || found.relabelled
      ? t("changedRows", { changed: found.changed, rows: found.rows, relabelled: found.relabelled })
      : t("unchanged")),
    h("h4", {}, t("matrix")), table,
    labels.length ? h("ul", { "data-testid": "label-changes" }, labels.map(([name, c]) => h("li", {},
      c.gained ? `${t("labelGained", { label: name })}: ${num(c.gained)}` : null,
      c.gained && c.lost ? " · " : null,
      c.lost ? `${t("labelLost", { label: name })}: ${num(c.lost)}` : null))) : null),
  h("div", {},
    moved.length ? h("h4", {}, t("movedExamples")) : null,
    moved.length ? h("table", { class: "rows", "data-testid": "moved" }, moved.map((e) => h("tr", {},
      h("td", {}, String(e[found.id_name])),
      h("td", {}, change(e)),
      h("td", { class: "reason" }, h("div", { class: "old" }, e.old.why), h("div", { class: "new" }, e.new.why))))) : null)];
}

function shown(value, type) {
  if (typeof value === "number") return type === "percent" ? pct(value, 6) : num(value);
  if (Array.isArray(value)) return `{${value.map((v) => JSON.stringify(v)).join(", ")}}`;
  return JSON.stringify(value);
}

function fromRules(found) {
  const types = Object.fromEntries((state.analysis?.ruleset?.inputs || []).map((i) => [i.name, i.type]));
  if (found.equivalent) return [h("p", { class: "good", "data-testid": "equivalent" }, t("equivalent"))];
  const out = [h("p", {}, t("canMove"))];
  out.push(h("ul", { "data-testid": "witnesses" }, (found.changes || []).map((c) => h("li", {},
    c.label ? `${t(c.gained ? "labelGained" : "labelLost", { label: c.label })} (${tierName(c.from)} → ${tierName(c.to)})`
      : `${tierName(c.from)} → ${tierName(c.to)}`,
    ": ", h("code", {}, c.witness ? Object.entries(c.witness).map(([k, v]) => `${k} ${shown(v, types[k])}`).join(", ") : "—")))));
  for (const what of found.undecided || []) out.push(h("p", { class: "hint" }, t("undecided", { what })));
  return out;
}

async function renderCompare() {
  const box = $("panel-compare");
  const drawn = ticket();
  const text = currentText();
  if (knownBroken(text)) { box.replaceChildren(h("p", {}, t("needRules"))); return; }
  if (!state.sample) { box.replaceChildren(h("p", {}, t("noSample"))); return; }
  let found;
  try { found = await api("/api/compare", { path: state.path, text, sample: state.sample, mapping: state.mapping }); }
  catch (error) {
    if (!current(drawn)) return;
    box.replaceChildren(h("p", needRules(error) ? {} : { class: "bad" }, needRules(error) ? t("needRules") : errorText(error)));
    return;
  }
  if (!current(drawn)) return;
  const names = found.rulesets.map((r) => r.name);
  const tiers = [...new Set(names.flatMap((n) => Object.keys(found.counts[n])))];
  const focus = found.agreement.focus;
  box.replaceChildren(
    h("h3", {}, t("compareTitle")), h("p", {}, t("rows", { rows: found.rows })),
    h("table", { class: "matrix", "data-testid": "compare" },
      h("tr", {}, h("th", {}, ""), names.map((n) => h("th", { title: found.files[n] }, n))),
      tiers.map((tier) => h("tr", {}, h("th", {}, tierName(tier)), names.map((n) => h("td", {}, found.counts[n][tier] !== undefined ? num(found.counts[n][tier]) : ""))))),
    focus ? h("h4", {}, t("agreement", { tier: focus.tier })) : null,
    h("ul", {}, found.agreement.pairs.filter((p) => p.a === names[0]).map((p) => h("li", {},
      `${p.a} ↔ ${p.b}: ${t("same", { share: p.share === null ? "—" : pct(p.share) })}`,
      p.focus_overlap !== null && focus ? ` · ${focus.tier}: ${pct(p.focus_overlap)}` : ""))),
  );
}

async function renderHistory() {
  const box = $("panel-history");
  if (!state.path) return;
  let found;
  try { found = await api(`/api/history?${new URLSearchParams({ path: state.path })}`); }
  catch (error) { box.replaceChildren(h("p", { class: "bad" }, errorText(error))); return; }
  if (!found.saves.length) { box.replaceChildren(h("p", {}, t("noHistory"))); return; }
  const when = (s) => new Date(s).toLocaleString(language() === "de" ? "de-DE" : "en-US");
  box.replaceChildren(h("ul", { class: "history", "data-testid": "history" }, found.saves.map((s) => h("li", {},
    h("details", {}, h("summary", {}, `${when(s.time)} ${t("by")} ${s.author}`,
      s.commit ? h("code", {}, ` ${s.commit.slice(0, 10)}`) : h("code", {}, ` ${(s.new_digest || "").slice(0, 12)}`)),
      h("pre", { class: "diff" }, (s.diff || "").split("\n").map((line) => h("span", {
        class: line.startsWith("+") ? "add" : line.startsWith("-") ? "del" : "",
      }, line + "\n"))))))));
}

// ------------------------------------------------------------------ layout

const TABS = ["problems", "examples", "sample", "impact", "compare", "history"];

function showTab(name) {
  state.tab = name;
  for (const tab of TABS) {
    $(`tab-${tab}`).classList.toggle("active", tab === name);
    $(`panel-${tab}`).hidden = tab !== name;
  }
  if (name === "history") renderHistory(); else refreshTab();
}

function labelPage() {
  document.documentElement.lang = language();
  $("heading").textContent = t("title");
  $("files-heading").textContent = t("files");
  $("save").textContent = t("save");
  $("help").textContent = t("help");
  $("help").href = language() === "de" ? "/help/de" : "/help/en";
  $("author").placeholder = t("author");
  for (const tab of TABS) $(`tab-${tab}`).textContent = t(tab);
  $("lang").value = language();
  if (said) notice(said.text, said.kind);
  if (state.analysis) { renderProblems(); renderExamples(); updateSave(); }
  if (state.path) showTab(state.tab);
}

function shell() {
  document.body.replaceChildren(
    h("header", {},
      h("h1", { id: "heading" }),
      h("span", { id: "dirty", class: "dirty" }),
      h("span", { class: "spacer" }),
      h("input", { id: "author", size: 14, hidden: state.session.auth }),
      h("button", { id: "save", class: "primary", onclick: save, disabled: true }),
      h("select", { id: "lang", "aria-label": "Language / Sprache", onchange: (e) => { setLanguage(e.target.value); localStorage.setItem("tierline.lang", e.target.value); labelPage(); relint(); } },
        h("option", { value: "en" }, "English"), h("option", { value: "de" }, "Deutsch")),
      h("a", { id: "help", href: "#", target: "_blank", rel: "noopener" })),
    h("div", { id: "notice", class: "notice", hidden: true, role: "status" }),
    h("main", {},
      h("nav", {}, h("h2", { id: "files-heading" }), h("ul", { id: "files" })),
      h("section", { id: "editor" }),
      h("aside", {},
        h("div", { class: "tabs", role: "tablist" }, TABS.map((tab) => h("button", { id: `tab-${tab}`, role: "tab", onclick: () => showTab(tab) }))),
        TABS.map((tab) => h("div", { id: `panel-${tab}`, class: "panel", hidden: tab !== "problems" })))),
    h("dialog", { id: "dialog" }),
  );
  const author = localStorage.getItem("tierline.author");
  if (author) $("author").value = author;
  $("author").addEventListener("change", (e) => localStorage.setItem("tierline.author", e.target.value));
  document.addEventListener("dragover", (e) => { e.preventDefault(); document.body.classList.add("dragging"); });
  document.addEventListener("dragleave", () => document.body.classList.remove("dragging"));
  document.addEventListener("drop", (e) => {
    e.preventDefault(); document.body.classList.remove("dragging");
    const file = e.dataTransfer?.files?.[0];
    if (file) upload(file);
  });
}

function signIn(message) {
  document.body.replaceChildren(h("form", { class: "signin", onsubmit: (e) => {
    e.preventDefault();
    state.token = $("token").value.trim();
    sessionStorage.setItem("tierline.token", state.token);
    start();
  } }, h("h1", {}, t("title")), message ? h("p", { class: "bad" }, message) : null,
  h("label", {}, t("token"), " ", h("input", { id: "token", type: "password", autocomplete: "off" })),
  h("button", { type: "submit" }, t("signIn"))));
}

async function start() {
  try { state.session = await api("/api/session"); }
  catch (error) {
    if (error.status === 401 || error.status === 403) { signIn(state.token ? errorText(error) : ""); return; }
    document.body.textContent = errorText(error); return;
  }
  shell();
  state.sample = state.session.samples[0]?.id || null;
  labelPage();
  await loadFiles();
  const wanted = new URLSearchParams(location.search).get("file");
  const first = state.files.find((f) => f.path === wanted) || state.files[0];
  if (state.sample) {
    try { state.columns = (await api(`/api/columns?${new URLSearchParams({ sample: state.sample })}`)).columns; } catch { state.columns = []; }
  }
  if (first) await openFile(first.path);
  showTab(new URLSearchParams(location.search).get("tab") || "problems");
}

// A request that fails where nobody awaits it (a click, a tab being drawn while the
// studio stops) is said on the page, not lost in the console.
window.addEventListener("unhandledrejection", (event) => {
  event.preventDefault();
  const error = event.reason;
  const text = () => (error instanceof ApiError ? errorText(error) : t("unreachable"));
  if ($("notice")) notice(text, "error"); else document.body.textContent = text();
});

// Leaving the page with unsaved changes asks first (the browser words the question).
window.addEventListener("beforeunload", (event) => {
  if (view && currentText() !== state.savedText) event.preventDefault();
});

const hash = new URLSearchParams(location.hash.slice(1));
state.token = hash.get("token") || sessionStorage.getItem("tierline.token") || "";
if (hash.get("token")) { sessionStorage.setItem("tierline.token", state.token); window.history.replaceState(null, "", location.pathname + location.search); }
const params = new URLSearchParams(location.search);
setLanguage(params.get("lang") || localStorage.getItem("tierline.lang") || (navigator.language.startsWith("de") ? "de" : "en"));
start();
