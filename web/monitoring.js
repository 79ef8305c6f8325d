// Decisions and alerts in the web UI: the Alertas page (with the open count in the
// navigation), and, on a screening, the reviewers' decisions on its matches.
//
// Like app.js, everything reaches the page as text through the `el` helper that app.js
// passes in (createElement, textContent, attribute setters), never as HTML.

const ALERT_KINDS = ["new_match", "changed_match", "reopened", "licence_lost"];
/// How often the open count in the navigation is refreshed.
const COUNT_EVERY_MS = 60_000;

let ui = null;
let countTimer = null;
let lastAlerts = null;

const $ = (id) => document.getElementById(id);

/// Wires the page: `helpers` holds app.js's `el`, `api`, `t`, `errorText`, `language`,
/// `rerenders` and `onDecided` (called after a decision on a screening's match).
export function initMonitoring(helpers) {
  ui = helpers;
  const kinds = $("alerts-kind");
  kinds.append(ui.el("option", { value: "", "data-i18n": "alerts_kind_all", text: ui.t("alerts_kind_all") }));
  for (const kind of ALERT_KINDS) kinds.append(ui.el("option", { value: kind, "data-i18n": `alert_kind_${kind}`, text: ui.t(`alert_kind_${kind}`) }));
  $("alerts-filter").addEventListener("submit", (event) => {
    event.preventDefault();
    loadAlerts();
  });
  $("alerts-status").addEventListener("change", loadAlerts);
  $("alerts-kind").addEventListener("change", loadAlerts);
}

/// Shows the open count in the navigation (and keeps it fresh while signed in).
export async function refreshAlertCount() {
  clearTimeout(countTimer);
  try {
    const listed = await ui.api("/v1/alerts?status=open&limit=1");
    showCount(listed.open);
  } catch {
    showCount(null);
  }
  countTimer = setTimeout(refreshAlertCount, COUNT_EVERY_MS);
}

export function stopAlertCount() {
  clearTimeout(countTimer);
  showCount(null);
  lastAlerts = null;
  $("alert-list").replaceChildren();
}

function showCount(open) {
  const badge = $("alert-count");
  badge.hidden = !open;
  badge.textContent = open ? String(open) : "";
  badge.setAttribute("aria-label", open ? ui.t("alerts_open_count", { count: open }) : "");
}

/// Loads and shows the alerts the filter asks for.
export async function loadAlerts() {
  ui.showError("alerts-error", "");
  const params = new URLSearchParams({ limit: "200" });
  if ($("alerts-status").value) params.set("status", $("alerts-status").value);
  if ($("alerts-kind").value) params.set("kind", $("alerts-kind").value);
  try {
    const listed = await ui.api(`/v1/alerts?${params}`);
    lastAlerts = listed;
    showCount(listed.open);
    ui.rerenders.alerts = () => renderAlerts(lastAlerts);
    renderAlerts(listed);
  } catch (error) {
    ui.showError("alerts-error", ui.errorText(error));
  }
}

function kindLabel(kind) {
  return ui.t(`alert_kind_${kind}`);
}

function fieldList(fields) {
  return fields.map((field) => ui.t(`field_${field}`)).join(", ");
}

function when(timestamp) {
  return new Date(timestamp).toLocaleString(ui.language());
}

function renderAlerts(listed) {
  const list = $("alert-list");
  $("alerts-summary").textContent = ui.t("alerts_summary", { shown: listed.alerts.length, open: listed.open });
  if (listed.alerts.length === 0) {
    list.replaceChildren(ui.el("li", { class: "empty", text: ui.t("alerts_none") }));
    return;
  }
  list.replaceChildren(...listed.alerts.map(renderAlert));
}

function renderAlert(alert) {
  const { el, t } = ui;
  const subjectKind = alert.subject_kind === "agencies" ? t("alert_subject_agency") : t("alert_subject_supplier");
  const found = alert.match;
  const details = [];
  if (found) {
    const explanation = found.explanation;
    details.push(
      el("p", {
        class: "match-explanation",
        text: t("match_explained", {
          query: explanation.query_name,
          listed: explanation.matched_name,
          list: found.entity.list ?? found.entity.kind,
          name_score: Math.round(explanation.name_score * 100),
        }),
      }),
      el("p", { text: `${t(`match_strength_${found.strength}`)} · ${alert.source}/${alert.entity_id} · ${Math.round(found.score * 100)} %` }),
    );
    if (found.entity.reason) details.push(el("p", { text: `${t("match_reason")}: ${found.entity.reason}` }));
  }
  if (alert.changed_fields?.length) details.push(el("p", { class: "changed", text: `${t("alert_changed")}: ${fieldList(alert.changed_fields)}` }));
  if (alert.decision) {
    details.push(el("p", { class: "earlier-decision", text: t("alert_earlier_decision", { id: alert.decision.id, decision: t(`decision_${alert.decision.decision}`), note: alert.decision.note, date: when(alert.decision.created_at) }) }));
  }
  if (alert.licence) {
    const licence = alert.licence;
    details.push(
      el("p", {
        class: "licence-change",
        text: t("alert_licence", {
          agency: alert.agency_id ?? "",
          number: licence.licence_number ?? "—",
          before: licence.previous_status ? t(`licence_${licence.previous_status}`) : t("licence_first_seen"),
          now: t(`licence_${licence.licence_status}`),
        }),
      }),
    );
    if (licence.expires_on) details.push(el("p", { text: `${t("licence_expires")}: ${licence.expires_on}` }));
  }
  return el(
    "li",
    { class: `alert alert-${alert.kind} alert-${alert.status}`, "data-alert": alert.id },
    el("h2", {}, el("span", { class: "alert-kind", text: kindLabel(alert.kind) }), " ", el("span", { class: "alert-subject", text: alert.subject_name })),
    el("p", { class: "facts", text: `${subjectKind} ${alert.subject_id} · ${t("alert_raised")} ${when(alert.created_at)} · ${t("alert_dataset")} ${alert.dataset_id ?? t("alert_daily_check")} · #${alert.id}` }),
    ...details,
    alert.status === "open" ? closeForm(alert) : closedNote(alert),
  );
}

function closedNote(alert) {
  const closed = alert.closed ?? {};
  const decided = closed.decision_id ? ` · ${ui.t("alert_closed_with_decision", { id: closed.decision_id })}` : "";
  return ui.el("p", { class: "closed-note", text: `${ui.t("alert_closed_on", { date: closed.closed_at ? when(closed.closed_at) : "—" })}: ${closed.note ?? ""}${decided}` });
}

function closeForm(alert) {
  const { el, t } = ui;
  const noteId = `alert-${alert.id}-note`;
  const note = el("textarea", { id: noteId, rows: "2", required: true });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const decidable = alert.subject_kind === "suppliers" && alert.match;
  const button = (label, decision) => {
    const node = el("button", { type: "button", class: decision ? "secondary" : "", text: t(label) });
    node.addEventListener("click", () => closeAlert(alert.id, note, decision, error));
    return node;
  };
  return el(
    "div",
    { class: "close-alert no-print" },
    el("label", { for: noteId, text: t("alert_note") }),
    note,
    error,
    el(
      "div",
      { class: "actions" },
      button("alert_close", null),
      decidable ? button("alert_close_false_positive", "false_positive") : null,
      decidable ? button("alert_close_confirmed", "confirmed") : null,
    ),
  );
}

async function closeAlert(id, note, decision, error) {
  error.hidden = true;
  if (!note.value.trim()) {
    error.textContent = ui.t("note_required");
    error.hidden = false;
    note.focus();
    return;
  }
  const body = decision ? { note: note.value, decision } : { note: note.value };
  try {
    await ui.api(`/v1/alerts/${id}`, { method: "POST", body: JSON.stringify(body), contentType: "application/json" });
    await loadAlerts();
  } catch (error_) {
    error.textContent = ui.errorText(error_);
    error.hidden = false;
  }
}

// ---------------------------------------------------------------------------------------
// Decisions on a screening's matches

/// What reviewers decided about a match of a screening: confirmed, or a false positive
/// that reopened because the listed entity changed.
export function reviewNotes(match) {
  const { el, t } = ui;
  const notes = [];
  if (match.decision) {
    notes.push(el("p", { class: "decision-note", text: t("match_confirmed_by", { id: match.decision.id, note: match.decision.note, date: when(match.decision.created_at) }) }));
  }
  if (match.reopened) {
    const reopened = match.reopened;
    notes.push(el("p", { class: "reopened-note", text: t("match_reopened", { id: reopened.decision.id, note: reopened.decision.note, fields: fieldList(reopened.changed_fields) }) }));
  }
  return notes;
}

/// The matches a false-positive decision dismissed (the rules did not count them).
export function renderDismissed(dismissed) {
  const { el, t } = ui;
  if (!dismissed?.length) return null;
  return el(
    "section",
    { class: "dismissed" },
    el("h3", { text: t("dismissed_title") }),
    el(
      "ul",
      { id: "dismissed-list" },
      dismissed.map((found) =>
        el("li", { text: t("dismissed_item", { entity: `${found.entity.source}/${found.entity.entity_id}`, name: found.explanation.matched_name, id: found.decision.id, note: found.decision.note, date: when(found.decision.created_at) }) }),
      ),
    ),
  );
}

/// A small form to record a decision on one match of a stored screening.
export function decisionForm(stored, match) {
  const { el, t } = ui;
  const noteId = `decide-${stored.id}-${match.entity.source}-${match.entity.entity_id}`.replace(/[^\w-]/g, "_");
  const note = el("input", { id: noteId, type: "text" });
  const error = el("p", { class: "error", role: "alert", hidden: true });
  const button = (label, decision) => {
    const node = el("button", { type: "button", class: "secondary", text: t(label) });
    node.addEventListener("click", async () => {
      error.hidden = true;
      if (!note.value.trim()) {
        error.textContent = t("note_required");
        error.hidden = false;
        note.focus();
        return;
      }
      const body = { screening_id: stored.id, source: match.entity.source, entity_id: match.entity.entity_id, decision, note: note.value };
      try {
        await ui.api("/v1/decisions", { method: "POST", body: JSON.stringify(body), contentType: "application/json" });
        ui.onDecided();
      } catch (error_) {
        error.textContent = ui.errorText(error_);
        error.hidden = false;
      }
    });
    return node;
  };
  return el(
    "div",
    { class: "decide no-print" },
    el("label", { for: noteId, text: t("decision_note") }),
    note,
    error,
    el("div", { class: "actions" }, button("decide_false_positive", "false_positive"), button("decide_confirmed", "confirmed")),
  );
}
