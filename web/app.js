// cadena's web UI: sign-in, screening, agency search, batch audits, datasets and rules.
//
// Every piece of data reaches the page through textContent, createElement and attribute
// setters (the `el` helper); nothing from the server or the user is ever parsed as HTML.
// The API key lives in sessionStorage: it is gone when the tab closes.

import { LANGUAGES, language, setLanguage, t } from "./i18n.js";
import { decisionForm, initMonitoring, loadAlerts, refreshAlertCount, renderDismissed, reviewNotes, stopAlertCount } from "./monitoring.js";

const KEY_STORAGE = "cadena.key";
const LANGUAGE_STORAGE = "cadena.language";
const VIEWS = ["signin", "screen", "agencies", "audit", "datasets", "alerts"];
const BANDS = ["critical", "high", "medium", "low"];
const COUNTRIES = ["AR", "BO", "BR", "CL", "CO", "CR", "DO", "EC", "GT", "HN", "HT", "MX", "NI", "PA", "PE", "PY", "SV", "US", "UY", "VE", "CN", "IN"];

const $ = (id) => document.getElementById(id);

/// An element with attributes (`text` sets its text, `class` its classes) and children
/// (nodes, or strings that become text nodes).
function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "text") node.textContent = String(value);
    else if (name === "class") node.className = value;
    else node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child !== null && child !== undefined) node.append(child);
  }
  return node;
}

function showError(id, message) {
  const node = $(id);
  node.textContent = message;
  node.hidden = !message;
}

// ---------------------------------------------------------------------------------------
// The API

class ApiError extends Error {
  constructor(status, message) {
    super(message);
    this.status = status;
  }
}

async function api(path, { method = "GET", body, contentType, raw = false, key } = {}) {
  const headers = { Authorization: `Bearer ${key ?? sessionStorage.getItem(KEY_STORAGE) ?? ""}` };
  if (contentType) headers["Content-Type"] = contentType;
  const response = await fetch(path, { method, headers, body });
  if (!response.ok) {
    let message = response.statusText;
    try {
      message = (await response.json()).error ?? message;
    } catch {
      // The body was not JSON; the status text says enough.
    }
    if (response.status === 401 && key === undefined) signOut();
    throw new ApiError(response.status, message);
  }
  return raw ? response : response.json();
}

function errorText(error) {
  if (error instanceof ApiError && error.status === 403) return t("error_forbidden");
  return `${t("error_generic")}: ${error.message}`;
}

// ---------------------------------------------------------------------------------------
// Views, routing and language

/// Re-renders what is on screen from the last data, after a language change.
const rerenders = {};

function currentView() {
  const match = location.hash.match(/^#\/(\w+)/);
  const view = match && VIEWS.includes(match[1]) ? match[1] : "screen";
  if (!sessionStorage.getItem(KEY_STORAGE)) return "signin";
  return view === "signin" ? "screen" : view;
}

function route() {
  const view = currentView();
  for (const name of VIEWS) $(`view-${name}`).hidden = name !== view;
  const signedIn = view !== "signin";
  $("nav").hidden = !signedIn;
  $("signout").hidden = !signedIn;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === view) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${t(view === "signin" ? "signin_title" : `nav_${view}`)} · cadena`;
  if (view === "datasets") loadDatasets();
  if (view === "alerts") loadAlerts();
  else if (signedIn) refreshAlertCount();
  if (view === "signin") $("signin-key").focus();
}

function applyLanguage(lang) {
  setLanguage(lang);
  localStorage.setItem(LANGUAGE_STORAGE, language());
  document.documentElement.lang = language();
  $("lang").value = language();
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = t(node.dataset.i18n);
  fillCountries();
  for (const rerender of Object.values(rerenders)) rerender();
  route();
}

function fillCountries() {
  const names = new Intl.DisplayNames([language()], { type: "region" });
  for (const select of document.querySelectorAll("select.country")) {
    const chosen = select.value;
    select.replaceChildren(
      el("option", { value: "", text: t("country_none") }),
      ...COUNTRIES.map((code) => ({ code, name: names.of(code) }))
        .sort((a, b) => a.name.localeCompare(b.name, language()))
        .map(({ code, name }) => el("option", { value: code, text: `${name} (${code})` })),
    );
    select.value = chosen;
  }
}

function signOut() {
  sessionStorage.removeItem(KEY_STORAGE);
  for (const rerender of Object.keys(rerenders)) delete rerenders[rerender];
  $("result").replaceChildren();
  $("agency-list").replaceChildren();
  $("agency-detail").hidden = true;
  stopAlertCount();
  location.hash = "#/signin";
  route();
}

// ---------------------------------------------------------------------------------------
// Sign-in

async function signIn(event) {
  event.preventDefault();
  const key = $("signin-key").value.trim();
  showError("signin-error", "");
  try {
    await api("/v1/ruleset", { key });
  } catch (error) {
    showError("signin-error", error.status === 401 ? t("signin_bad_key") : `${t("signin_error")}: ${error.message}`);
    return;
  }
  sessionStorage.setItem(KEY_STORAGE, key);
  $("signin-key").value = "";
  location.hash = "#/screen";
  route();
  $("s-name").focus();
}

// ---------------------------------------------------------------------------------------
// Screening

let itemCount = 0;

function addItem() {
  itemCount += 1;
  const n = itemCount;
  const field = (name, label, input) => el("div", {}, el("label", { for: `item-${n}-${name}`, "data-i18n": label, text: t(label) }), input);
  const row = el(
    "div",
    { class: "item grid", "data-item": n },
    field("description", "item_description", el("input", { id: `item-${n}-description` })),
    field("code", "item_code", el("input", { id: `item-${n}-code`, inputmode: "numeric", spellcheck: "false" })),
    field("origin", "item_origin", el("select", { id: `item-${n}-origin`, class: "country" })),
    el("div", { class: "actions" }, el("button", { type: "button", class: "secondary", "data-i18n": "remove_item", text: t("remove_item") })),
  );
  row.querySelector("button").addEventListener("click", () => row.remove());
  $("items").append(row);
  fillCountries();
}

function screeningRequest() {
  const name = $("s-name").value.trim();
  const taxId = $("s-tax").value.trim() || null;
  const country = $("s-country").value || null;
  const agencyIds = $("s-agencies").value.split(/[,;\s]+/).map((id) => id.trim()).filter(Boolean);
  const supplier = { supplier_id: taxId ?? name, name, tax_id: taxId, country, agency_ids: agencyIds };
  const lines = [...document.querySelectorAll("#items .item")].map((row, index) => {
    const n = row.dataset.item;
    return {
      procurement_id: "UI",
      line_id: String(index + 1),
      supplier_id: supplier.supplier_id,
      supplier_name: name,
      supplier_tax_id: taxId,
      item_description: $(`item-${n}-description`).value.trim() || null,
      item_code: $(`item-${n}-code`).value.trim() || null,
      origin_country: $(`item-${n}-origin`).value || null,
      agency_ids: agencyIds,
    };
  });
  return lines.length ? { supplier, lines } : { supplier };
}

async function screen(event) {
  event.preventDefault();
  showError("screen-error", "");
  const submit = $("screen-submit");
  submit.disabled = true;
  submit.textContent = t("screening");
  try {
    // The rules' texts come in the page's language; the stored screening keeps them.
    const stored = await api(`/v1/screenings?lang=${language()}`, {
      method: "POST",
      body: JSON.stringify(screeningRequest()),
      contentType: "application/json",
    });
    rerenders.screen = () => renderScreening(stored);
    renderScreening(stored);
    $("result-band").focus();
  } catch (error) {
    showError("screen-error", errorText(error));
  } finally {
    submit.disabled = false;
    submit.textContent = t("screen_submit");
  }
}

function worstBand(assessments) {
  for (const band of BANDS) if (assessments.some((line) => line.assessment.band === band)) return band;
  return "low";
}

function bandLabel(band) {
  return BANDS.includes(band) ? t(`band_${band}`) : band || t("unknown");
}

// Truncated, never rounded: 0.916 shows as 91, not as the 92 of the strong threshold.
function percent(fraction) {
  return Math.floor(fraction * 100 + 1e-9);
}

function renderScreening(stored) {
  const assessments = stored.result.assessments;
  const band = worstBand(assessments);
  const score = Math.max(...assessments.map((line) => line.assessment.score));
  const first = assessments[0].assessment;
  const supplierName = stored.input.supplier?.name ?? stored.input.lines[0]?.supplier_name ?? "";
  const result = el(
    "article",
    { class: "record", "aria-labelledby": "result-band" },
    el("p", { class: "record-title", text: t("record_title") }),
    el("h2", { class: "subject", id: "result-subject", text: supplierName }),
    el(
      "div",
      { class: `band band-${band}`, id: "result-band", tabindex: "-1" },
      el("span", { class: "band-label", text: t("band") }),
      el("strong", { class: "band-name", id: "band-name", text: bandLabel(band) }),
      el("span", { class: "band-score", text: `${t("score")}: ${Math.round(score)} / 100` }),
    ),
    el("section", { class: "action" }, el("h3", { text: t("recommended_action") }), el("p", { id: "recommended-action", text: t(`action_${band}`) })),
    ...assessments.map((line) => renderAssessment(line, assessments.length > 1)),
    renderMatches(stored.result.matches, stored),
    renderDismissed(stored.result.dismissed),
    renderGaps(assessments),
    el(
      "section",
      { class: "provenance" },
      el("h3", { text: t("record_title") }),
      el(
        "dl",
        {},
        el("dt", { text: t("record_id") }),
        el("dd", { id: "record-id", text: String(stored.id) }),
        el("dt", { text: t("record_time") }),
        el("dd", { text: new Date(stored.created_at).toLocaleString(language()) + ` (${stored.created_at})` }),
        el("dt", { text: t("record_dataset") }),
        el("dd", { text: String(stored.dataset_version) }),
        el("dt", { text: t("record_ruleset") }),
        el("dd", { class: "digest", text: `${first.ruleset_version} · ${stored.ruleset_digest}` }),
      ),
      el("button", { type: "button", id: "print", class: "no-print", text: t("record_print") }),
    ),
  );
  result.querySelector("#print").addEventListener("click", () => window.print());
  $("result").replaceChildren(result);
}

function renderAssessment(line, showLine) {
  const { assessment } = line;
  const fired = [...assessment.fired].sort((a, b) => b.contribution - a.contribution);
  return el(
    "section",
    { class: "reasons" },
    el("h3", { text: showLine ? `${t("reasons")} · ${t("line")} ${line.line} · ${bandLabel(assessment.band)} (${Math.round(assessment.score)})` : t("reasons") }),
    fired.length === 0
      ? el("p", { text: t("no_reasons") })
      : el(
          "ol",
          { class: "reason-list" },
          fired.map((rule) =>
            el(
              "li",
              { class: "reason" },
              el("p", {}, el("strong", { class: "reason-title", text: rule.title }), " ", el("span", { class: "points", text: `+${rule.contribution} ${t("points")}` })),
              el(
                "dl",
                {},
                el("dt", { text: t("legal_basis") }),
                el("dd", { class: "legal-basis", text: rule.legal_basis.join(" · ") }),
                el("dt", { text: t("evidence") }),
                el("dd", {}, el("ul", {}, rule.evidence.map(evidenceItem))),
                rule.action ? [el("dt", { text: t("rule_action") }), el("dd", { text: rule.action })] : [],
              ),
            ),
          ),
        ),
  );
}

// The evidence's sentence, written by the server in the screening's language; the
// field and value it stands for are kept as the item's title, for the curious.
function evidenceItem(evidence) {
  const field = `${evidence.field} = ${evidence.value ?? "?"}`;
  return el("li", { text: evidence.text || field, title: field });
}

function renderMatches(matches, stored) {
  return el(
    "section",
    { class: "matches" },
    el("h3", { text: t("matches") }),
    matches.length === 0
      ? el("p", { text: t("no_matches") })
      : el(
          "ul",
          { class: "match-list" },
          matches.map((match) => {
            const explanation = match.explanation;
            const entity = match.entity;
            const taxId = explanation.tax_id ?? {};
            return el(
              "li",
              { class: `match match-${match.strength}` },
              el("p", {}, el("strong", { text: t(`match_strength_${match.strength}`) }), ` · ${entity.entity_id} · ${percent(match.score)} %`),
              el("p", {
                class: "match-explanation",
                text: t("match_explained", {
                  query: explanation.query_name,
                  listed: explanation.matched_name,
                  list: entity.list ?? entity.kind,
                  name_score: percent(explanation.name_score),
                }),
              }),
              explanation.word_pairs.length
                ? el("p", { class: "words" }, `${t("match_words")}: `, explanation.word_pairs.map((pair) => `${pair.query} ↔ ${pair.listed} (${percent(pair.similarity)} %)`).join(", "))
                : null,
              taxId.status === "same" ? el("p", { text: `${t("match_tax_same")} ${taxId.tax_id ?? ""}` }) : null,
              taxId.status === "different" ? el("p", { text: t("match_tax_different") }) : null,
              explanation.signals.length ? el("p", { text: `${t("signals")}: ${explanation.signals.map((signal) => t(`signal_${signal}`)).join(", ")}` }) : null,
              entity.reason ? el("p", { text: `${t("match_reason")}: ${entity.reason}` }) : null,
              reviewNotes(match),
              decisionForm(stored, match),
            );
          }),
        ),
  );
}

function renderGaps(assessments) {
  const questions = new Map();
  for (const line of assessments) {
    for (const gap of line.assessment.data_gaps) if (!questions.has(gap.question)) questions.set(gap.question, gap);
  }
  return el(
    "section",
    { class: "gaps" },
    el("h3", { text: t("data_gaps") }),
    questions.size === 0
      ? el("p", { text: t("no_gaps") })
      : el("ol", {}, [...questions.values()].map((gap) => el("li", {}, el("span", { text: gap.question }), " ", el("small", { text: `(${gap.title})` })))),
  );
}

// ---------------------------------------------------------------------------------------
// Agencies

let searchTimer = null;
let searchSequence = 0;

function licenceLabel(status) {
  if (!status) return t("licence_unknown");
  const key = `licence_${status}`;
  return t(key) === key ? status : t(key);
}

function searchAgencies() {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runAgencySearch, 200);
}

async function runAgencySearch() {
  const query = $("agency-q").value.trim();
  const sequence = ++searchSequence;
  showError("agency-error", "");
  if (!query) {
    $("agency-list").replaceChildren();
    delete rerenders.agencies;
    return;
  }
  try {
    const found = await api(`/v1/search?kind=agencies&limit=20&q=${encodeURIComponent(query)}`);
    if (sequence !== searchSequence) return; // A newer search has been sent.
    // The watchlist findings of the first few agencies, shown in the list too.
    const findings = await Promise.all(found.slice(0, FINDINGS_IN_LIST).map((match) => agencyFindings(match.entity)));
    if (sequence !== searchSequence) return;
    rerenders.agencies = () => renderAgencyList(found, findings);
    renderAgencyList(found, findings);
  } catch (error) {
    showError("agency-error", errorText(error));
  }
}

/// How many agencies of a search get their findings looked up for the list.
const FINDINGS_IN_LIST = 5;

/// The watchlist entries that strongly match an agency (by name, tax id and country).
async function agencyFindings(entity) {
  const params = new URLSearchParams({ kind: "watchlist", limit: "5", q: entity.names[0] });
  const found = await api(`/v1/search?${params}`);
  return found.filter((match) => match.strength === "strong" || (entity.tax_id && match.entity.tax_id === entity.tax_id));
}

function renderFindings(findings, id) {
  if (findings.length === 0) return el("p", { class: "no-findings", text: t("no_findings") });
  return el(
    "ul",
    { class: "findings", id },
    findings.map((match) => el("li", {}, el("strong", { text: `${match.entity.list ?? match.entity.kind}: ` }), match.entity.reason ?? match.entity.names[0])),
  );
}

function renderAgencyList(found, findings) {
  const list = $("agency-list");
  if (found.length === 0) {
    list.replaceChildren(el("li", { class: "empty", text: t("agencies_none") }));
    return;
  }
  list.replaceChildren(
    ...found.map((match, index) => {
      const entity = match.entity;
      const button = el("button", { type: "button", class: "link", text: entity.names[0] });
      button.addEventListener("click", () => showAgency(entity));
      return el(
        "li",
        { class: "agency" },
        el("h2", {}, button),
        entity.names.length > 1 ? el("p", { class: "aliases", text: entity.names.slice(1).join(" · ") }) : null,
        el(
          "p",
          { class: "facts" },
          el("span", { class: `licence licence-${entity.licence_status ?? "unknown"}`, text: `${t("licence_status")}: ${licenceLabel(entity.licence_status)}` }),
          entity.licence_expires ? el("span", { text: `${t("licence_expires")}: ${entity.licence_expires}` }) : null,
          entity.licence_number ? el("span", { text: `${t("licence")}: ${entity.licence_number}` }) : null,
          el("span", { text: [entity.tax_id, entity.region, entity.country].filter(Boolean).join(" · ") }),
        ),
        findings[index] ? el("div", { class: "list-findings" }, el("span", { class: "findings-label", text: `${t("findings")}: ` }), renderFindings(findings[index])) : null,
      );
    }),
  );
}

async function showAgency(entity) {
  const detail = $("agency-detail");
  detail.hidden = false;
  detail.replaceChildren(el("p", { text: t("loading") }));
  try {
    const [records, suppliers, findings] = await Promise.all([
      api(`/v1/records/agencies/${encodeURIComponent(entity.entity_id)}`),
      api(`/v1/agencies/${encodeURIComponent(entity.entity_id)}/suppliers`),
      agencyFindings(entity),
    ]);
    const render = () => renderAgency(entity, records, suppliers, findings);
    rerenders.agency = render;
    render();
    detail.focus();
  } catch (error) {
    detail.replaceChildren(el("p", { class: "error", role: "alert", text: errorText(error) }));
  }
}

function yesNo(value) {
  return value === true ? t("yes") : value === false ? t("no") : t("unknown");
}

function renderAgency(entity, records, suppliers, findings) {
  const agency = records[0]?.record ?? {};
  const close = el("button", { type: "button", class: "secondary", text: t("back") });
  close.addEventListener("click", () => {
    $("agency-detail").hidden = true;
    delete rerenders.agency;
    $("agency-q").focus();
  });
  $("agency-detail").replaceChildren(
    el("h2", { id: "agency-name", text: agency.name ?? entity.names[0] }),
    el(
      "dl",
      {},
      el("dt", { text: t("tax_id") }),
      el("dd", { text: agency.tax_id ?? "—" }),
      el("dt", { text: t("region") }),
      el("dd", { text: [agency.region, agency.country].filter(Boolean).join(", ") || "—" }),
      el("dt", { text: t("licence_status") }),
      el("dd", {}, el("span", { class: `licence licence-${entity.licence_status ?? "unknown"}`, text: licenceLabel(entity.licence_status) })),
      el("dt", { text: t("licence") }),
      el("dd", { text: [entity.licence_number, entity.licence_expires && `${t("licence_expires")} ${entity.licence_expires}`].filter(Boolean).join(" · ") || "—" }),
      el("dt", { text: t("charges_fees") }),
      el("dd", { text: yesNo(agency.charges_worker_fees) }),
    ),
    el("h3", { text: t("findings") }),
    renderFindings(findings, "agency-findings"),
    el("h3", { text: t("linked_suppliers") }),
    suppliers.length === 0
      ? el("p", { text: t("no_linked_suppliers") })
      : el("ul", { id: "agency-suppliers" }, suppliers.map(({ record }) => el("li", { text: `${record.name} (${record.supplier_id}${record.tax_id ? `, ${record.tax_id}` : ""})` }))),
    close,
  );
}

// ---------------------------------------------------------------------------------------
// Batch audits

let auditDownloadUrl = null;

async function startAudit(event) {
  event.preventDefault();
  const file = $("audit-file").files[0];
  if (!file) return;
  showError("audit-error", "");
  $("audit-submit").disabled = true;
  $("audit-summary").hidden = true;
  $("audit-download").hidden = true;
  try {
    const audit = await api(`/v1/audits?name=${encodeURIComponent(file.name)}&lang=${language()}`, { method: "POST", body: file, contentType: "text/csv" });
    $("audit-status").hidden = false;
    await followAudit(audit.id);
  } catch (error) {
    showError("audit-error", errorText(error));
  } finally {
    $("audit-submit").disabled = false;
  }
}

async function followAudit(id) {
  for (;;) {
    const progress = await api(`/v1/audits/${id}`);
    const total = progress.audit.n_rows || 1;
    $("audit-progress").max = total;
    $("audit-progress").value = progress.rows_done;
    rerenders.auditRows = () => {
      $("audit-rows").textContent = t("audit_rows", { done: progress.rows_done, total: progress.audit.n_rows });
    };
    rerenders.auditRows();
    const status = progress.audit.status;
    if (status === "completed") {
      const rejected = progress.rows_rejected ? await api(`/v1/audits/${id}/report?format=json&rows=rejected`) : [];
      rerenders.auditSummary = () => renderAuditSummary(progress, rejected);
      renderAuditSummary(progress, rejected);
      await offerReport(id);
      return;
    }
    if (status !== "queued" && status !== "running" && status !== "pending") {
      showError("audit-error", `${t("audit_failed")}: ${status}${progress.audit.error ? ` (${progress.audit.error})` : ""}`);
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
}

// The rows an audit could not read: one table row per problem (line, id, field, reason).
function rejectedRowsTable(rejected) {
  const problems = rejected.flatMap((row) =>
    (row.rejected?.length ? row.rejected : [{ line: row.row, field: "", reason: row.error }]).map((problem) => ({ ...problem, id: row.input_id })),
  );
  const head = ["audit_rejected_line", "audit_rejected_id", "audit_rejected_field", "audit_rejected_reason"];
  return el(
    "table",
    { id: "audit-rejected", class: "rejected" },
    el("caption", { text: t("audit_rejected_caption") }),
    el("thead", {}, el("tr", {}, head.map((key) => el("th", { scope: "col", text: t(key) })))),
    el("tbody", {}, problems.map((problem) =>
      el("tr", {}, [problem.line, problem.id, problem.field, problem.reason].map((cell) => el("td", { text: String(cell ?? "") }))),
    )),
  );
}

function renderAuditSummary(progress, rejected = []) {
  const counts = new Map(progress.bands);
  const total = Math.max(1, ...progress.bands.map(([, count]) => count));
  const bands = [...BANDS, ...[...counts.keys()].filter((band) => !BANDS.includes(band))];
  const chart = el(
    "figure",
    { class: "chart" },
    el("figcaption", { text: `${t("audit_done")} · ${t("audit_summary")}` }),
    el(
      "table",
      { id: "audit-bands" },
      el("tbody", {}, bands.map((band) => {
        const count = counts.get(band) ?? 0;
        const bar = el("span", { class: `bar band-${band}` });
        bar.style.width = `${(count / total) * 100}%`;
        return el("tr", {}, el("th", { scope: "row", text: bandLabel(band) }), el("td", { class: "bar-cell" }, bar), el("td", { class: "count", text: String(count) }));
      })),
    ),
    progress.rows_rejected ? el("p", { text: `${t("audit_rejected")}: ${progress.rows_rejected}` }) : null,
    rejected.length ? rejectedRowsTable(rejected) : null,
  );
  $("audit-summary").replaceChildren(chart);
  $("audit-summary").hidden = false;
}

async function offerReport(id) {
  const response = await api(`/v1/audits/${id}/report`, { raw: true });
  const blob = await response.blob();
  if (auditDownloadUrl) URL.revokeObjectURL(auditDownloadUrl);
  auditDownloadUrl = URL.createObjectURL(blob);
  const link = $("audit-download");
  link.href = auditDownloadUrl;
  link.download = `audit-${id}-report.csv`;
  link.hidden = false;
}

// ---------------------------------------------------------------------------------------
// Datasets and rules

async function loadDatasets() {
  showError("datasets-error", "");
  try {
    const ruleset = await api(`/v1/ruleset?lang=${language()}`);
    let loads = null;
    try {
      loads = await api("/v1/datasets?limit=100");
    } catch (error) {
      showError("datasets-error", errorText(error));
    }
    rerenders.datasets = () => renderDatasets(loads, ruleset);
    renderDatasets(loads, ruleset);
  } catch (error) {
    showError("datasets-error", errorText(error));
  }
}

function table(id, headers, rows) {
  $(id).replaceChildren(
    el("thead", {}, el("tr", {}, headers.map((header) => el("th", { scope: "col", text: t(header) })))),
    el("tbody", {}, rows.map((cells) => el("tr", {}, cells.map((cell) => el("td", { text: cell ?? "—" }))))),
  );
}

function renderDatasets(loads, ruleset) {
  if (loads) {
    table(
      "loads",
      ["kind", "file", "status", "rows", "inserted", "updated", "rejected", "finished"],
      loads.map((load) => [load.kind, load.file_name, load.status, load.n_rows, load.n_inserted, load.n_updated, load.n_rejected, load.finished_at && new Date(load.finished_at).toLocaleString(language())].map((cell) => (cell === null ? null : String(cell)))),
    );
  }
  $("ruleset-version").textContent = t("ruleset_version", { version: ruleset.version, digest: ruleset.digest });
  table(
    "rules",
    ["rule", "family", "weight", "legal_basis", "rule_action"],
    ruleset.rules.map((rule) => [`${rule.title} (${rule.id})`, rule.family, String(rule.weight), rule.legal_basis.join(" · "), rule.action]),
  );
  table(
    "lists",
    ["lists_title", "source", "entries"],
    ruleset.lists.map((list) => [list.title, `${list.source} (${list.edition})`, String(list.n_entries)]),
  );
}

// ---------------------------------------------------------------------------------------
// Start-up

function start() {
  const languages = $("lang");
  for (const [code, name] of Object.entries(LANGUAGES)) languages.append(el("option", { value: code, lang: code, text: name }));
  languages.addEventListener("change", () => applyLanguage(languages.value));
  $("signin-form").addEventListener("submit", signIn);
  $("signout").addEventListener("click", signOut);
  $("screen-form").addEventListener("submit", screen);
  $("add-item").addEventListener("click", addItem);
  $("agency-q").addEventListener("input", searchAgencies);
  $("audit-form").addEventListener("submit", startAudit);
  initMonitoring({ el, api, t, errorText, showError, language, rerenders, onDecided: () => $("screen-form").requestSubmit() });
  $("skip").addEventListener("click", (event) => {
    event.preventDefault();
    $("main").focus();
  });
  window.addEventListener("hashchange", () => {
    if (location.hash.startsWith("#/")) route();
  });
  applyLanguage(localStorage.getItem(LANGUAGE_STORAGE) ?? "es");
  document.body.dataset.ready = "true";
}

start();
